//! The answer to `GET/POST /msg_server` (PROTOCOL §8.2): the chosen msg_server as the JSON the
//! original built with jsoncpp's `StyledWriter`, in its exact bytes, inside the original's
//! `200 OK` header spelling.
//!
//! `StyledWriter` output: members sorted by key bytes, one per line, 3-space indent, `" : "`,
//! `,` at line end, `}` on its own line, and a final `\n`; strings escaped as jsoncpp 0.x
//! does (quote, backslash, `\b \f \n \r \t`, other control bytes as `\u00XX`, everything else
//! raw, so UTF-8 stays as is). Unlike the original, the response is never cut at 1023 bytes
//! (KNOWN_DEFECTS D-LS-1).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use crate::registry::Pick;

/// Content type of the answer.
const CONTENT_TYPE: &str = "text/html;charset=utf-8";
/// `msg` of code 1, "no msg_server".
const MSG_NO_SERVER: &str = "没有msg_server";
/// `msg` of code 2, "load too high".
const MSG_ALL_FULL: &str = "负载过高";

/// A JSON member value of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JsonValue {
    /// An integer (`code`).
    Int(i64),
    /// A string (everything else, `port` included).
    Str(String),
}

/// The full HTTP response for a pick, as seen by a client at `peer`.
pub(crate) fn msg_server_response(
    pick: Pick<'_>,
    peer: Option<IpAddr>,
    msfs_url: &str,
    discovery_url: &str,
) -> Vec<u8> {
    let mut members = BTreeMap::new();
    match pick {
        Pick::NoServer => {
            members.insert("code", JsonValue::Int(1));
            members.insert("msg", JsonValue::Str(MSG_NO_SERVER.into()));
        }
        Pick::AllFull => {
            members.insert("code", JsonValue::Int(2));
            members.insert("msg", JsonValue::Str(MSG_ALL_FULL.into()));
        }
        Pick::Server(server) => {
            let telecom = peer.is_some_and(|ip| is_telecom(&ip.to_string()));
            let (prior, backup) = if telecom {
                (&server.ip1, &server.ip2)
            } else {
                (&server.ip2, &server.ip1)
            };
            members.insert("code", JsonValue::Int(0));
            members.insert("msg", JsonValue::Str(String::new()));
            members.insert("priorIP", JsonValue::Str(prior.clone()));
            members.insert("backupIP", JsonValue::Str(backup.clone()));
            members.insert("msfsPrior", JsonValue::Str(msfs_url.into()));
            members.insert("msfsBackup", JsonValue::Str(msfs_url.into()));
            members.insert("discovery", JsonValue::Str(discovery_url.into()));
            members.insert("port", JsonValue::Str(server.port.to_string()));
        }
    }
    netlib::http::ok_response(&[], CONTENT_TYPE, styled_json(&members).as_bytes())
}

/// The original's "telecom" test: the peer's text splits into exactly four `.`-separated
/// parts, which every IPv4 peer does (KNOWN_DEFECTS D-LS-3, kept for compatibility).
pub(crate) fn is_telecom(peer_text: &str) -> bool {
    peer_text.split('.').count() == 4
}

/// An object in jsoncpp `StyledWriter` form.
fn styled_json(members: &BTreeMap<&str, JsonValue>) -> String {
    if members.is_empty() {
        return "{}\n".to_owned();
    }
    let mut out = String::from("{\n");
    for (i, (key, value)) in members.iter().enumerate() {
        out.push_str("   ");
        quote_into(&mut out, key);
        out.push_str(" : ");
        match value {
            JsonValue::Int(n) => {
                let _ = write!(out, "{n}");
            }
            JsonValue::Str(s) => quote_into(&mut out, s),
        }
        if i + 1 < members.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

/// A JSON string literal as jsoncpp 0.x writes it. It works on C strings, so a NUL ends the
/// value.
fn quote_into(out: &mut String, s: &str) {
    let s = s.split('\0').next().unwrap_or_default();
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn str_value(s: &str) -> String {
        let mut out = String::new();
        quote_into(&mut out, s);
        out
    }

    #[test]
    fn strings_are_escaped_like_jsoncpp() {
        assert_eq!(str_value("http://a/b"), "\"http://a/b\"");
        assert_eq!(str_value("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(str_value("\u{8}\u{c}\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
        assert_eq!(str_value("\u{1}\u{1f}\u{7f}"), "\"\\u0001\\u001F\u{7f}\"");
        assert_eq!(str_value("负载过高"), "\"负载过高\"");
        assert_eq!(str_value("ab\0cd"), "\"ab\"");
    }

    #[test]
    fn objects_are_styled_with_sorted_keys() {
        let mut m = BTreeMap::new();
        m.insert("msg", JsonValue::Str(String::new()));
        m.insert("code", JsonValue::Int(0));
        m.insert("Zed", JsonValue::Int(-3));
        assert_eq!(
            styled_json(&m),
            "{\n   \"Zed\" : -3,\n   \"code\" : 0,\n   \"msg\" : \"\"\n}\n"
        );
        assert_eq!(styled_json(&BTreeMap::new()), "{}\n");
    }

    #[test]
    fn telecom_means_four_dotted_parts() {
        assert!(is_telecom("127.0.0.1"));
        assert!(is_telecom("::ffff:10.1.2.3"));
        assert!(!is_telecom("::1"));
        assert!(!is_telecom("fe80::1"));
        assert!(!is_telecom("1.2.3"));
    }
}
