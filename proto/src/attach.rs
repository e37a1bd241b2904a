//! The `attach_data` layouts that msg_server and http_msg_server put in field 20 of back-end
//! requests so the answer can be routed back to the right client (PROTOCOL §5).
//!
//! Back ends copy the bytes unchanged; only the side that built them decodes them. Both layouts
//! are big-endian and byte-identical to the original's `CDbAttachData` (12 bytes) and
//! `CPduAttachData` (16 bytes + an embedded protobuf body).

/// Attach type values (PROTOCOL §5.3, msg_server numbering).
pub mod attach_type {
    /// The reply goes to connection `handle`.
    pub const HANDLE: u32 = 1;
    /// Unused by msg_server.
    pub const PDU: u32 = 2;
    /// Group-message fan-out: `pdu` is the stored IMMsgData body.
    pub const HANDLE_AND_PDU: u32 = 3;
    /// `pdu` is an IMPushToUserReq body awaiting a presence answer.
    pub const PDU_FOR_PUSH: u32 = 4;
    /// `pdu` is an IMFileTransferReq body awaiting a presence answer.
    pub const HANDLE_AND_PDU_FOR_FILE: u32 = 5;
}

/// Length of [`DbAttachData`] on the wire.
pub const DB_ATTACH_LEN: usize = 12;
/// Length of the fixed part of [`PduAttachData`].
pub const PDU_ATTACH_HEADER_LEN: usize = 16;

/// Why attach bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttachError {
    /// Fewer bytes than the fixed layout needs.
    #[error("attach data is {len} bytes, the layout needs at least {need}")]
    Short {
        /// Bytes present.
        len: usize,
        /// Bytes required.
        need: usize,
    },
    /// The embedded `pdu_len` runs past the end of the bytes.
    #[error("attach data announces a {pdu_len}-byte pdu but only {available} bytes follow")]
    PduLen {
        /// Announced embedded length.
        pdu_len: u32,
        /// Bytes actually present after the fixed part.
        available: usize,
    },
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `CDbAttachData`: type, handle, service type (always 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbAttachData {
    /// Attach type ([`attach_type`]).
    pub attach_type: u32,
    /// Connection handle on the requesting server.
    pub handle: u32,
    /// Always 0 in practice.
    pub service_type: u32,
}

impl DbAttachData {
    /// The common case: type HANDLE for connection `handle`.
    pub fn handle(handle: u32) -> Self {
        Self {
            attach_type: attach_type::HANDLE,
            handle,
            service_type: 0,
        }
    }

    /// The 12 wire bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DB_ATTACH_LEN);
        for v in [self.attach_type, self.handle, self.service_type] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out
    }

    /// Decodes the first 12 bytes (a `CPduAttachData` also decodes this way).
    pub fn decode(bytes: &[u8]) -> Result<Self, AttachError> {
        if bytes.len() < DB_ATTACH_LEN {
            return Err(AttachError::Short {
                len: bytes.len(),
                need: DB_ATTACH_LEN,
            });
        }
        Ok(Self {
            attach_type: be_u32(bytes, 0),
            handle: be_u32(bytes, 4),
            service_type: be_u32(bytes, 8),
        })
    }
}

/// `CPduAttachData`: type, handle, service type, then a length-prefixed protobuf body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PduAttachData {
    /// Attach type ([`attach_type`]).
    pub attach_type: u32,
    /// Connection handle on the requesting server (0 when none).
    pub handle: u32,
    /// Always 0 in practice.
    pub service_type: u32,
    /// Body of another message (no PDU header); may be empty.
    pub pdu: Vec<u8>,
}

impl PduAttachData {
    /// An attach of `attach_type` for `handle` carrying `pdu`.
    pub fn new(attach_type: u32, handle: u32, pdu: Vec<u8>) -> Self {
        Self {
            attach_type,
            handle,
            service_type: 0,
            pdu,
        }
    }

    /// The wire bytes: 16 + `pdu.len()`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PDU_ATTACH_HEADER_LEN + self.pdu.len());
        let pdu_len = u32::try_from(self.pdu.len()).unwrap_or(u32::MAX);
        for v in [self.attach_type, self.handle, self.service_type, pdu_len] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend_from_slice(&self.pdu);
        out
    }

    /// Decodes the layout; a 12-byte `CDbAttachData` is an error here, as in the original.
    pub fn decode(bytes: &[u8]) -> Result<Self, AttachError> {
        if bytes.len() < PDU_ATTACH_HEADER_LEN {
            return Err(AttachError::Short {
                len: bytes.len(),
                need: PDU_ATTACH_HEADER_LEN,
            });
        }
        let pdu_len = be_u32(bytes, 12);
        let rest = &bytes[PDU_ATTACH_HEADER_LEN..];
        let pdu = rest
            .get(..pdu_len as usize)
            .ok_or(AttachError::PduLen {
                pdu_len,
                available: rest.len(),
            })?
            .to_vec();
        Ok(Self {
            attach_type: be_u32(bytes, 0),
            handle: be_u32(bytes, 4),
            service_type: be_u32(bytes, 8),
            pdu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_attach_matches_the_documented_bytes() {
        let bytes = DbAttachData::handle(12).encode();
        assert_eq!(bytes, [0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 0]);
        assert_eq!(DbAttachData::decode(&bytes), Ok(DbAttachData::handle(12)));
    }

    #[test]
    fn pdu_attach_layout_is_header_then_body() {
        let a = PduAttachData::new(attach_type::HANDLE_AND_PDU, 0x0102_0304, vec![0xaa, 0xbb]);
        let bytes = a.encode();
        assert_eq!(
            bytes,
            [0, 0, 0, 3, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 2, 0xaa, 0xbb]
        );
        assert_eq!(PduAttachData::decode(&bytes), Ok(a));
        let empty = PduAttachData::new(attach_type::HANDLE, 7, Vec::new()).encode();
        assert_eq!(empty.len(), 16);
        assert_eq!(DbAttachData::decode(&empty), Ok(DbAttachData::handle(7)));
    }

    #[test]
    fn short_or_overrunning_attach_is_an_error() {
        let db = DbAttachData::handle(1).encode();
        assert_eq!(
            PduAttachData::decode(&db),
            Err(AttachError::Short { len: 12, need: 16 })
        );
        assert!(DbAttachData::decode(&db[..11]).is_err());
        let mut bad = PduAttachData::new(1, 1, vec![1, 2, 3]).encode();
        bad.pop();
        assert_eq!(
            PduAttachData::decode(&bad),
            Err(AttachError::PduLen {
                pdu_len: 3,
                available: 2
            })
        );
    }
}
