//! Raw access to protobuf bodies without decoding them into messages.
//!
//! msg_server relays most back-end answers to a client after reading two fields that every such
//! answer has in the same place: `user_id` (field 1) and `attach_data` (field 20). Walking the
//! encoded fields does that for every answer type with one function, and removing field 20
//! from the bytes strips the attach without re-encoding the rest (KNOWN_DEFECTS D-LEAK-1).
//!
//! The walker accepts the four wire types proto2 messages use here (varint, 64-bit,
//! length-delimited, 32-bit); anything else, a truncated field or a tag of 0 makes the body
//! malformed, and malformed bodies are ignored as the original ignores unparsable PDUs.

use std::ops::Range;

/// Field number of `user_id` in every answer msg_server routes by user.
pub(crate) const USER_ID_FIELD: u32 = 1;
/// Field number of `attach_data` in every back-end request and answer.
pub(crate) const ATTACH_FIELD: u32 = 20;

/// The value part of one encoded field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire types 1 and 5 (not interpreted).
    Fixed,
    /// Wire type 2.
    Bytes(&'a [u8]),
}

/// One field: its number, value and the byte range it occupies (key included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub(crate) number: u32,
    pub(crate) value: Value<'a>,
    pub(crate) span: Range<usize>,
}

/// The body is not a well-formed sequence of protobuf fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, Malformed> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at).ok_or(Malformed)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Malformed)
}

/// Decodes every field of `body`, in order.
pub(crate) fn fields(body: &[u8]) -> Result<Vec<Field<'_>>, Malformed> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let start = at;
        let key = varint(body, &mut at)?;
        let number = u32::try_from(key >> 3).map_err(|_| Malformed)?;
        if number == 0 {
            return Err(Malformed);
        }
        let value = match key & 7 {
            0 => Value::Varint(varint(body, &mut at)?),
            1 | 5 => {
                let width = if key & 7 == 1 { 8 } else { 4 };
                at = at
                    .checked_add(width)
                    .filter(|&e| e <= body.len())
                    .ok_or(Malformed)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(varint(body, &mut at)?).map_err(|_| Malformed)?;
                let end = at
                    .checked_add(len)
                    .filter(|&e| e <= body.len())
                    .ok_or(Malformed)?;
                let bytes = &body[at..end];
                at = end;
                Value::Bytes(bytes)
            }
            _ => return Err(Malformed),
        };
        out.push(Field {
            number,
            value,
            span: start..at,
        });
    }
    Ok(out)
}

/// An answer split for routing: who it is for, the attach it carried, and the body without
/// the attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoutedAnswer<'a> {
    /// Last `user_id` (field 1) varint, 0 if absent.
    pub(crate) user_id: u32,
    /// Last `attach_data` (field 20), empty if absent.
    pub(crate) attach: &'a [u8],
    /// The body with every field 20 removed.
    pub(crate) stripped: Vec<u8>,
}

/// Splits a back-end answer into user id, attach and attach-free body.
pub(crate) fn split_answer(body: &[u8]) -> Result<RoutedAnswer<'_>, Malformed> {
    let fields = fields(body)?;
    let mut answer = RoutedAnswer {
        user_id: 0,
        attach: &[],
        stripped: Vec::with_capacity(body.len()),
    };
    for field in fields {
        match (field.number, field.value) {
            (ATTACH_FIELD, Value::Bytes(b)) => {
                answer.attach = b;
                continue;
            }
            (USER_ID_FIELD, Value::Varint(v)) => answer.user_id = v as u32,
            _ => {}
        }
        answer.stripped.extend_from_slice(&body[field.span]);
    }
    Ok(answer)
}

/// `body` without its `attach_data`; a malformed body is returned unchanged (the receiver's
/// parser will reject it as it would have anyway).
pub(crate) fn strip_attach(body: &[u8]) -> Vec<u8> {
    split_answer(body).map_or_else(|_| body.to_vec(), |a| a.stripped)
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use teamtalk_proto::pb::buddy::ImUsersInfoRsp;
    use teamtalk_proto::pb::message::ImMsgData;

    use super::*;

    #[test]
    fn split_reads_user_and_attach_and_strips_only_the_attach() {
        let rsp = ImUsersInfoRsp {
            user_id: 300,
            user_info_list: Vec::new(),
            attach_data: Some(vec![0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 0]),
        };
        let body = rsp.encode_to_vec();
        let a = split_answer(&body).unwrap();
        assert_eq!(a.user_id, 300);
        assert_eq!(a.attach, [0, 0, 0, 1, 0, 0, 0, 12, 0, 0, 0, 0]);
        let back = ImUsersInfoRsp::decode(a.stripped.as_slice()).unwrap();
        assert_eq!(
            back,
            ImUsersInfoRsp {
                attach_data: None,
                ..rsp
            }
        );
    }

    #[test]
    fn strip_keeps_every_other_field_byte_for_byte() {
        let msg = ImMsgData {
            from_user_id: 1,
            to_session_id: 2,
            msg_id: 3,
            create_time: 4,
            msg_type: 1,
            msg_data: b"abc".to_vec(),
            attach_data: Some(vec![9; 16]),
        };
        let plain = ImMsgData {
            attach_data: None,
            ..msg.clone()
        };
        assert_eq!(strip_attach(&msg.encode_to_vec()), plain.encode_to_vec());
        assert_eq!(strip_attach(&plain.encode_to_vec()), plain.encode_to_vec());
    }

    #[test]
    fn malformed_bodies_are_detected_at_every_truncation() {
        let body = ImMsgData {
            msg_data: b"hello".to_vec(),
            attach_data: Some(vec![1, 2]),
            ..Default::default()
        }
        .encode_to_vec();
        assert!(fields(&body).is_ok());
        // Cutting inside the last length-delimited field (or its key) must fail.
        for cut in body.len() - 3..body.len() {
            assert_eq!(fields(&body[..cut]), Err(Malformed), "cut at {cut}");
        }
        assert_eq!(fields(&[0x00]), Err(Malformed));
        assert_eq!(fields(&[0x0b]), Err(Malformed));
        assert_eq!(fields(&[0xff; 11]), Err(Malformed));
        assert_eq!(strip_attach(&[0xff, 0xff]), [0xff, 0xff]);
    }
}
