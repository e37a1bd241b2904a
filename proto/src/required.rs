//! Presence of proto2 `required` fields, checked as the original's protobuf parser does.
//!
//! prost decodes a message with a missing required field into defaults; the C++ parser rejects
//! it, and the original servers then ignore that PDU (PROTOCOL §2.1). To behave the same,
//! [`crate::Pdu::parse`] scans the body's wire format and verifies every required field of the
//! message, and of every nested message, is present. The table of required fields is generated
//! from the `.proto` files at build time.

/// Required and nested-message fields of one message.
#[derive(Debug)]
pub(crate) struct MessageRule {
    /// Full name, e.g. `IM.Login.IMLoginReq`.
    pub(crate) name: &'static str,
    /// Field numbers declared `required`.
    pub(crate) required: &'static [i32],
    /// Fields whose type is a message: (field number, that message's full name).
    pub(crate) nested: &'static [(i32, &'static str)],
}

include!(concat!(env!("OUT_DIR"), "/required_fields.rs"));

/// The first missing required field found: (message full name, field number).
pub(crate) type Missing = (&'static str, i32);

/// Checks `bytes`, an encoding of message `name`, for missing required fields. Malformed wire
/// data is left to the decoder to report; this only answers "is every required field there".
pub(crate) fn check(name: &str, bytes: &[u8]) -> Result<(), Missing> {
    let Ok(i) = SCHEMA.binary_search_by(|r| r.name.cmp(name)) else {
        return Ok(());
    };
    let rule = &SCHEMA[i];
    if rule.required.is_empty() && rule.nested.is_empty() {
        return Ok(());
    }
    let mut seen: u64 = 0;
    let mut at = 0;
    while at < bytes.len() {
        let Some((key, n)) = varint(&bytes[at..]) else {
            return Ok(());
        };
        at += n;
        let tag = (key >> 3) as i32;
        if (0..64).contains(&tag) {
            seen |= 1 << tag;
        }
        let value_start = at;
        at += match key & 7 {
            0 => match varint(&bytes[at..]) {
                Some((_, n)) => n,
                None => return Ok(()),
            },
            1 => 8,
            5 => 4,
            2 => {
                let Some((len, n)) = varint(&bytes[at..]) else {
                    return Ok(());
                };
                let Some(end) = (at + n)
                    .checked_add(len as usize)
                    .filter(|e| *e <= bytes.len())
                else {
                    return Ok(());
                };
                if let Some((_, inner)) = rule.nested.iter().find(|(t, _)| *t == tag) {
                    check(inner, &bytes[at + n..end])?;
                }
                end - value_start
            }
            _ => return Ok(()),
        };
    }
    for &tag in rule.required {
        if (0..64).contains(&tag) && seen & (1 << tag) == 0 {
            return Err((rule.name, tag));
        }
    }
    Ok(())
}

fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use prost::{Message, Name};

    use super::*;
    use crate::pb::{base_define, buddy, login};

    #[test]
    fn schema_is_sorted_and_knows_the_login_request() {
        assert!(SCHEMA.windows(2).all(|w| w[0].name < w[1].name));
        let rule = SCHEMA
            .iter()
            .find(|r| r.name == login::ImLoginReq::full_name())
            .unwrap();
        assert_eq!(rule.required, [1, 2, 3, 4]);
    }

    #[test]
    fn a_missing_top_level_required_field_is_reported() {
        let full = login::ImLoginReq {
            user_name: "a".into(),
            password: "b".into(),
            online_status: 1,
            client_type: 1,
            client_version: None,
        }
        .encode_to_vec();
        assert_eq!(check("IM.Login.IMLoginReq", &full), Ok(()));
        // Only field 1 (user_name) present.
        assert_eq!(
            check("IM.Login.IMLoginReq", &[0x0a, 0x01, b'a']),
            Err(("IM.Login.IMLoginReq", 2))
        );
        assert_eq!(
            check("IM.Login.IMLoginReq", &[]),
            Err(("IM.Login.IMLoginReq", 1))
        );
    }

    #[test]
    fn a_missing_required_field_in_a_nested_message_is_reported() {
        let user = base_define::UserInfo::default().encode_to_vec();
        let ok = buddy::ImUsersInfoRsp {
            user_id: 1,
            user_info_list: vec![base_define::UserInfo::default()],
            attach_data: None,
        }
        .encode_to_vec();
        assert_eq!(check("IM.Buddy.IMUsersInfoRsp", &ok), Ok(()));
        // user_id, then a UserInfo with only its first field.
        let mut bad = vec![0x08, 0x01, 0x12];
        let partial = &user[..2];
        bad.push(partial.len() as u8);
        bad.extend_from_slice(partial);
        assert!(matches!(
            check("IM.Buddy.IMUsersInfoRsp", &bad),
            Err(("IM.BaseDefine.UserInfo", _))
        ));
    }
}
