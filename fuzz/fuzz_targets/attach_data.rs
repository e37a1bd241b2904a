//! The two `attach_data` layouts: anything that decodes re-encodes to bytes that decode to the
//! same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtalk_proto::{DbAttachData, PduAttachData};

fuzz_target!(|data: &[u8]| {
    if let Ok(attach) = DbAttachData::decode(data) {
        assert_eq!(DbAttachData::decode(&attach.encode()).ok(), Some(attach));
    }
    if let Ok(attach) = PduAttachData::decode(data) {
        let encoded = attach.encode();
        assert!(encoded.len() <= data.len());
        assert_eq!(PduAttachData::decode(&encoded).ok(), Some(attach));
    }
});
