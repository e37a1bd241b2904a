//! PDU framing and body decoding: splits arbitrary bytes into PDUs with the default length cap,
//! as every server's connection does, and decodes each body as the message its command
//! carries on a client port.

#![no_main]

use libfuzzer_sys::fuzz_target;
use teamtalk_fuzz::commands::parse_client_body;
use teamtalk_proto::{DEFAULT_MAX_PDU_LEN, HEADER_LEN, Pdu};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((pdu, used))) = Pdu::decode(rest, DEFAULT_MAX_PDU_LEN) {
        assert!((HEADER_LEN..=rest.len()).contains(&used));
        assert_eq!(pdu.len(), used);
        // Re-encoding a decoded PDU gives back its bytes: a forward keeps what was received.
        assert_eq!(pdu.encode(), rest[..used]);
        let _ = pdu.service();
        if let Some(Ok(reencoded)) = parse_client_body(&pdu) {
            // What parsed once parses again after a round trip through the encoder.
            let again = Pdu::from_body(pdu.command().expect("known"), 0, reencoded);
            assert!(matches!(parse_client_body(&again), Some(Ok(_))));
        }
        rest = &rest[used..];
    }
});
