//! The PDU: a 16-byte big-endian header followed by a protobuf body (PROTOCOL §2).
//!
//! `length` counts the header too. Decoding is incremental: [`Pdu::decode`] returns `Ok(None)`
//! until a whole PDU is buffered, and a typed error for a length that can never be valid
//! (shorter than the header: KNOWN_DEFECTS D-NET-2; longer than the cap: D-NET-1). A body that is
//! not valid protobuf is not a framing error: it surfaces only from [`Pdu::parse`], so the stream
//! stays in sync and the connection can ignore that one PDU as the original does.

use prost::{Message, Name};

use crate::ids::{CommandId, ServiceId};

/// Size of the fixed header.
pub const HEADER_LEN: usize = 16;
/// Version stamped on every PDU a server creates.
pub const PDU_VERSION: u16 = 1;
/// Default cap on a PDU's total length (KNOWN_DEFECTS D-NET-1).
pub const DEFAULT_MAX_PDU_LEN: usize = 4 * 1024 * 1024;

/// Why a byte stream or a body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum PduError {
    /// The header announces fewer bytes than the header itself (0–15).
    #[error("pdu length {0} is shorter than the 16-byte header")]
    TooShort(u32),
    /// The header announces more bytes than this connection accepts.
    #[error("pdu length {length} exceeds the limit of {max} bytes")]
    TooLong {
        /// Announced total length.
        length: u32,
        /// Configured cap.
        max: usize,
    },
    /// A proto2 `required` field is absent: the original's parser rejects such a body.
    #[error("command 0x{command:04x}: {message} lacks required field {field}")]
    MissingField {
        /// Command id of the PDU.
        command: u16,
        /// Full name of the (possibly nested) message missing the field.
        message: &'static str,
        /// The missing field's number.
        field: i32,
    },
    /// The body is not a valid encoding of the expected message.
    #[error("bad protobuf body for command 0x{command:04x}")]
    Body {
        /// Command id of the PDU whose body failed.
        command: u16,
        /// Decoder error.
        #[source]
        source: prost::DecodeError,
    },
}

/// The 16-byte header, all fields unsigned big-endian on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PduHeader {
    /// Total length including the header.
    pub length: u32,
    /// Protocol version; 1 on everything a server creates, never checked on receipt.
    pub version: u16,
    /// Unused; 0 on everything a server creates.
    pub flag: u16,
    /// Service id; informative only, dispatch is by command id.
    pub service_id: u16,
    /// Command id; all dispatch is on this field.
    pub command_id: u16,
    /// Request/response correlation number chosen by the requester.
    pub seq_num: u16,
    /// Unused; 0 on everything a server creates.
    pub reserved: u16,
}

impl PduHeader {
    /// A fresh header as a server builds it: version 1, flag and reserved 0.
    pub fn new(command: CommandId, seq_num: u16) -> Self {
        Self {
            length: HEADER_LEN as u32,
            version: PDU_VERSION,
            flag: 0,
            service_id: command.service() as u16,
            command_id: command as u16,
            seq_num,
            reserved: 0,
        }
    }

    /// Reads a header from the first 16 bytes of `buf`, or `None` if fewer are present.
    pub fn read(buf: &[u8]) -> Option<Self> {
        let b = buf.get(..HEADER_LEN)?;
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(Self {
            length: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            version: u16_at(4),
            flag: u16_at(6),
            service_id: u16_at(8),
            command_id: u16_at(10),
            seq_num: u16_at(12),
            reserved: u16_at(14),
        })
    }

    /// Appends the 16 header bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.length.to_be_bytes());
        for field in [
            self.version,
            self.flag,
            self.service_id,
            self.command_id,
            self.seq_num,
            self.reserved,
        ] {
            out.extend_from_slice(&field.to_be_bytes());
        }
    }

    /// The command, if it is one this implementation knows.
    pub fn command(&self) -> Option<CommandId> {
        CommandId::try_from(self.command_id).ok()
    }
}

/// One whole PDU: header plus body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// Header as received, or as built for sending (its `length` is recomputed on encode).
    pub header: PduHeader,
    /// Protobuf body, without the header.
    pub body: Vec<u8>,
}

impl Pdu {
    /// A new PDU carrying `body` (already encoded).
    pub fn from_body(command: CommandId, seq_num: u16, body: Vec<u8>) -> Self {
        Self {
            header: PduHeader::new(command, seq_num),
            body,
        }
    }

    /// A new PDU carrying `msg`, with a server-built header.
    pub fn new(command: CommandId, seq_num: u16, msg: &impl Message) -> Self {
        Self::from_body(command, seq_num, msg.encode_to_vec())
    }

    /// A reply to `request`: a fresh header for `command` that echoes the request's seq
    /// (PROTOCOL §2.3).
    pub fn reply(request: &PduHeader, command: CommandId, msg: &impl Message) -> Self {
        Self::new(command, request.seq_num, msg)
    }

    /// A forward of a received PDU with an edited body: every header field of the original
    /// sender is kept, only the length follows the new body (PROTOCOL §2.2).
    pub fn forward(received: &PduHeader, msg: &impl Message) -> Self {
        Self {
            header: *received,
            body: msg.encode_to_vec(),
        }
    }

    /// An empty-bodied PDU such as a heartbeat.
    pub fn empty(command: CommandId, seq_num: u16) -> Self {
        Self::from_body(command, seq_num, Vec::new())
    }

    /// The command id, if known.
    pub fn command(&self) -> Option<CommandId> {
        self.header.command()
    }

    /// The service id this PDU's command belongs to, if the command is known.
    pub fn service(&self) -> Option<ServiceId> {
        self.command().map(CommandId::service)
    }

    /// Total encoded length.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.body.len()
    }

    /// Whether the body is empty (the PDU is exactly the header).
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// Decodes the body as `M`, rejecting a body that lacks a `required` field as the
    /// original's parser does.
    pub fn parse<M: Message + Name + Default>(&self) -> Result<M, PduError> {
        let command = self.header.command_id;
        let msg =
            M::decode(self.body.as_slice()).map_err(|source| PduError::Body { command, source })?;
        crate::required::check(&M::full_name(), &self.body).map_err(|(message, field)| {
            PduError::MissingField {
                command,
                message,
                field,
            }
        })?;
        Ok(msg)
    }

    /// Appends the wire form to `out`, with `length` computed from the body.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let mut header = self.header;
        header.length = u32::try_from(self.len()).unwrap_or(u32::MAX);
        out.reserve(self.len());
        header.write(out);
        out.extend_from_slice(&self.body);
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        self.encode_into(&mut out);
        out
    }

    /// Length of the next PDU at the start of `buf` once its header is buffered: `Ok(None)`
    /// while fewer than 16 bytes are present, an error if the announced length is invalid.
    pub fn peek_len(buf: &[u8], max_len: usize) -> Result<Option<usize>, PduError> {
        let Some(header) = PduHeader::read(buf) else {
            return Ok(None);
        };
        let length = header.length;
        if (length as usize) < HEADER_LEN {
            return Err(PduError::TooShort(length));
        }
        if length as usize > max_len {
            return Err(PduError::TooLong {
                length,
                max: max_len,
            });
        }
        Ok(Some(length as usize))
    }

    /// Decodes one PDU from the start of `buf`. Returns the PDU and the number of bytes it
    /// used, `Ok(None)` if more bytes are needed, or a framing error.
    pub fn decode(buf: &[u8], max_len: usize) -> Result<Option<(Self, usize)>, PduError> {
        let Some(length) = Self::peek_len(buf, max_len)? else {
            return Ok(None);
        };
        let Some(whole) = buf.get(..length) else {
            return Ok(None);
        };
        let header = PduHeader::read(whole).expect("length >= HEADER_LEN was checked");
        Ok(Some((
            Self {
                header,
                body: whole[HEADER_LEN..].to_vec(),
            },
            length,
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::message::ImClientTimeRsp;

    fn hex(s: &str) -> Vec<u8> {
        s.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    #[test]
    fn heartbeat_matches_the_documented_bytes() {
        let pdu = Pdu::empty(CommandId::OtherHeartbeat, 0);
        assert_eq!(
            pdu.encode(),
            hex("00 00 00 10 00 01 00 00 00 07 07 01 00 00 00 00")
        );
    }

    #[test]
    fn time_reply_echoes_seq_and_matches_the_documented_bytes() {
        let req = PduHeader {
            seq_num: 42,
            ..PduHeader::new(CommandId::MsgTimeRequest, 42)
        };
        let rsp = Pdu::reply(
            &req,
            CommandId::MsgTimeResponse,
            &ImClientTimeRsp {
                server_time: 1_431_000_000,
            },
        );
        assert_eq!(
            rsp.encode(),
            hex("00 00 00 16 00 01 00 00 00 03 03 06 00 2a 00 00 08 c0 a7 ad aa 05")
        );
    }

    #[test]
    fn login_request_matches_the_documented_bytes() {
        let req = crate::pb::login::ImLoginReq {
            user_name: "tt1".into(),
            password: "cc03e747a6afbbcbf8be7668acfebee5".into(),
            online_status: 1,
            client_type: 0x12,
            client_version: Some("1.0".into()),
        };
        assert_eq!(
            Pdu::new(CommandId::LoginReqUserlogin, 7, &req).encode(),
            hex("00 00 00 40 00 01 00 00 00 01 01 03 00 07 00 00 \
                 0a 03 74 74 31 12 20 63 63 30 33 65 37 34 37 61 36 61 66 62 62 63 62 66 \
                 38 62 65 37 36 36 38 61 63 66 65 62 65 65 35 18 01 20 12 2a 03 31 2e 30")
        );
    }

    #[test]
    fn every_command_round_trips() {
        for (i, &cmd) in CommandId::ALL.iter().enumerate() {
            let pdu = Pdu::from_body(cmd, i as u16, vec![i as u8; i]);
            let bytes = pdu.encode();
            let (back, used) = Pdu::decode(&bytes, DEFAULT_MAX_PDU_LEN).unwrap().unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(back.command(), Some(cmd));
            assert_eq!(back.header.seq_num, i as u16);
            assert_eq!(back.body, pdu.body);
            assert_eq!(back.header.length as usize, bytes.len());
        }
    }

    #[test]
    fn truncation_at_every_offset_is_incomplete() {
        let bytes = Pdu::from_body(CommandId::MsgData, 7, b"0123456789".to_vec()).encode();
        for cut in 0..bytes.len() {
            assert!(
                Pdu::decode(&bytes[..cut], DEFAULT_MAX_PDU_LEN)
                    .unwrap()
                    .is_none(),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn lengths_below_the_header_are_errors() {
        for length in [0u32, 1, 15] {
            let mut bytes = length.to_be_bytes().to_vec();
            bytes.extend_from_slice(&[0; 12]);
            assert!(matches!(
                Pdu::decode(&bytes, DEFAULT_MAX_PDU_LEN),
                Err(PduError::TooShort(l)) if l == length
            ));
        }
        let mut exact = 16u32.to_be_bytes().to_vec();
        exact.extend_from_slice(&[0, 1, 0, 0, 0, 7, 7, 1, 0, 0, 0, 0]);
        let (pdu, used) = Pdu::decode(&exact, DEFAULT_MAX_PDU_LEN).unwrap().unwrap();
        assert_eq!((used, pdu.body.len()), (16, 0));
    }

    #[test]
    fn length_over_the_cap_is_an_error_before_the_body_arrives() {
        let mut bytes = 0x8000_0000u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0; 12]);
        assert!(matches!(
            Pdu::decode(&bytes, DEFAULT_MAX_PDU_LEN),
            Err(PduError::TooLong {
                length: 0x8000_0000,
                ..
            })
        ));
        let small = Pdu::from_body(CommandId::MsgData, 0, vec![0; 100]).encode();
        assert!(matches!(
            Pdu::decode(&small, 50),
            Err(PduError::TooLong {
                length: 116,
                max: 50
            })
        ));
    }

    #[test]
    fn several_pdus_in_one_buffer_decode_in_order() {
        let mut buf = Vec::new();
        for seq in 0..5u16 {
            Pdu::from_body(CommandId::MsgData, seq, vec![seq as u8; seq as usize])
                .encode_into(&mut buf);
        }
        let mut at = 0;
        for seq in 0..5u16 {
            let (pdu, used) = Pdu::decode(&buf[at..], DEFAULT_MAX_PDU_LEN)
                .unwrap()
                .unwrap();
            assert_eq!(pdu.header.seq_num, seq);
            at += used;
        }
        assert_eq!(at, buf.len());
    }

    #[test]
    fn garbage_body_is_a_body_error_not_a_framing_error() {
        let bytes = Pdu::from_body(CommandId::MsgTimeResponse, 1, vec![0xff, 0xff, 0xff]).encode();
        let (pdu, _) = Pdu::decode(&bytes, DEFAULT_MAX_PDU_LEN).unwrap().unwrap();
        assert!(matches!(
            pdu.parse::<ImClientTimeRsp>(),
            Err(PduError::Body {
                command: 0x0306,
                ..
            })
        ));
    }

    #[test]
    fn a_body_without_its_required_fields_does_not_parse() {
        let pdu = Pdu::from_body(CommandId::MsgTimeResponse, 1, Vec::new());
        assert!(matches!(
            pdu.parse::<ImClientTimeRsp>(),
            Err(PduError::MissingField {
                command: 0x0306,
                field: 1,
                ..
            })
        ));
    }

    #[test]
    fn forward_keeps_the_received_header() {
        let received = PduHeader {
            length: 99,
            version: 3,
            flag: 4,
            service_id: 9,
            command_id: CommandId::MsgData as u16,
            seq_num: 77,
            reserved: 5,
        };
        let fwd = Pdu::forward(&received, &ImClientTimeRsp { server_time: 1 });
        let (back, _) = Pdu::decode(&fwd.encode(), DEFAULT_MAX_PDU_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(
            back.header,
            PduHeader {
                length: 18,
                ..received
            }
        );
    }
}
