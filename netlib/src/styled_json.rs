//! Flat JSON objects exactly as jsoncpp's `StyledWriter` writes them, the format of every
//! original HTTP answer (login_server's `/msg_server`, http_msg_server's `/query/*`):
//! members sorted by key bytes, one per line with a 3-space indent and `" : "`, `,` at line
//! end, `}` on its own line and a final `\n`; strings escaped as jsoncpp 0.x does (quote,
//! backslash, `\b \f \n \r \t`, other control bytes as `\u00XX`, everything else raw, so UTF-8
//! stays as is).

use std::fmt::Write;

/// A member value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar<'a> {
    /// An integer.
    Int(i64),
    /// A string.
    Str(&'a str),
}

/// The object made of `members` (any order; they are sorted as jsoncpp's map keeps them).
pub fn styled_object(members: &[(&str, Scalar<'_>)]) -> String {
    let mut sorted: Vec<&(&str, Scalar<'_>)> = members.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if sorted.is_empty() {
        return "{}\n".to_owned();
    }
    let mut out = String::from("{\n");
    for (i, (key, value)) in sorted.iter().enumerate() {
        out.push_str("   ");
        quote_into(&mut out, key);
        out.push_str(" : ");
        match value {
            Scalar::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Scalar::Str(s) => quote_into(&mut out, s),
        }
        if i + 1 < sorted.len() {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

/// A string literal as jsoncpp 0.x writes it. It works on C strings, so a NUL ends the value.
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
        assert_eq!(
            styled_object(&[
                ("msg", Scalar::Str("")),
                ("code", Scalar::Int(0)),
                ("Zed", Scalar::Int(-3)),
            ]),
            "{\n   \"Zed\" : -3,\n   \"code\" : 0,\n   \"msg\" : \"\"\n}\n"
        );
        assert_eq!(
            styled_object(&[
                ("group_id", Scalar::Int(12)),
                ("error_msg", Scalar::Str("成功")),
                ("error_code", Scalar::Int(0)),
            ]),
            "{\n   \"error_code\" : 0,\n   \"error_msg\" : \"成功\",\n   \"group_id\" : 12\n}\n"
        );
        assert_eq!(styled_object(&[]), "{}\n");
    }
}
