//! How jsoncpp converts values when the original reads request fields (`asUInt`, `asString`,
//! `size`, `operator[]`); the answers' `StyledWriter` text is `netlib::styled_json`.
//!
//! Conversions follow jsoncpp 0.x: null reads as 0 / "", booleans as 0/1 / "true"/"false",
//! numbers convert when in range, anything else is an error (the original's exception).

use serde_json::Value;

/// Reads a request body as jsoncpp's default `Reader` does: blanks and comments may precede the
/// document, and whatever follows the first complete value is ignored (the reader stops there
/// without checking). `None` when no value can be read. Comments inside the value are not
/// accepted (the PHP console never sends any).
pub fn parse_document(body: &[u8]) -> Option<Value> {
    let mut rest = body;
    loop {
        rest = rest.trim_ascii_start();
        if let Some(after) = rest.strip_prefix(b"//") {
            let eol = after.iter().position(|&b| b == b'\n' || b == b'\r')?;
            rest = &after[eol..];
        } else if let Some(after) = rest.strip_prefix(b"/*") {
            let end = after.windows(2).position(|w| w == b"*/")?;
            rest = &after[end + 2..];
        } else {
            break;
        }
    }
    serde_json::Deserializer::from_slice(rest)
        .into_iter::<Value>()
        .next()?
        .ok()
}

/// A value that jsoncpp would refuse to convert (the original threw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("json value is not convertible")]
pub struct Unconvertible;

/// `Json::Value::asUInt`.
pub fn as_uint(v: &Value) -> Result<u32, Unconvertible> {
    match v {
        Value::Null => Ok(0),
        Value::Bool(b) => Ok(u32::from(*b)),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u32::try_from(u).map_err(|_| Unconvertible)
            } else if n.is_i64() {
                Err(Unconvertible)
            } else {
                let f = n.as_f64().ok_or(Unconvertible)?;
                if (0.0..=f64::from(u32::MAX)).contains(&f) {
                    // Truncation toward zero, as the C++ cast does.
                    Ok(f as u32)
                } else {
                    Err(Unconvertible)
                }
            }
        }
        Value::String(_) | Value::Array(_) | Value::Object(_) => Err(Unconvertible),
    }
}

/// `Json::Value::asString`.
pub fn as_string(v: &Value) -> Result<String, Unconvertible> {
    match v {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Array(_) | Value::Object(_) => Err(Unconvertible),
    }
}

/// `Json::Value::size`: elements of an array, members of an object, 0 otherwise.
pub fn size(v: &Value) -> usize {
    match v {
        Value::Array(a) => a.len(),
        Value::Object(o) => o.len(),
        _ => 0,
    }
}

/// `Json::Value::operator[](const char*)` on a read: a member of an object (null when absent);
/// null reads as an empty object; any other value is an error.
pub fn member<'a>(v: &'a Value, key: &str) -> Result<&'a Value, Unconvertible> {
    match v {
        Value::Object(o) => Ok(o.get(key).unwrap_or(&Value::Null)),
        Value::Null => Ok(&Value::Null),
        _ => Err(Unconvertible),
    }
}

/// `Json::Value::operator[](ArrayIndex)`: an element of an array (null past the end); null
/// reads as an empty array; any other value is an error.
pub fn element(v: &Value, index: usize) -> Result<&Value, Unconvertible> {
    match v {
        Value::Array(a) => Ok(a.get(index).unwrap_or(&Value::Null)),
        Value::Null => Ok(&Value::Null),
        _ => Err(Unconvertible),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_are_read_up_to_the_end_of_the_first_value() {
        assert_eq!(parse_document(br#"{"a":1}"#), Some(json!({"a": 1})));
        assert_eq!(
            parse_document(b" // note\n/* x */ {\"a\":[1]} trailing junk"),
            Some(json!({"a": [1]}))
        );
        assert_eq!(parse_document(b"[1,2]]]"), Some(json!([1, 2])));
        assert_eq!(parse_document(b""), None);
        assert_eq!(parse_document(b"  "), None);
        assert_eq!(parse_document(b"{not json"), None);
        assert_eq!(parse_document(b"// only a comment"), None);
    }

    #[test]
    fn uint_conversion_follows_jsoncpp() {
        assert_eq!(as_uint(&json!(null)), Ok(0));
        assert_eq!(as_uint(&json!(true)), Ok(1));
        assert_eq!(as_uint(&json!(7)), Ok(7));
        assert_eq!(as_uint(&json!(4_294_967_295u64)), Ok(u32::MAX));
        assert_eq!(as_uint(&json!(4_294_967_296u64)), Err(Unconvertible));
        assert_eq!(as_uint(&json!(-1)), Err(Unconvertible));
        assert_eq!(as_uint(&json!(3.9)), Ok(3));
        assert_eq!(as_uint(&json!(-0.5)), Err(Unconvertible));
        assert_eq!(as_uint(&json!("12")), Err(Unconvertible));
        assert_eq!(as_uint(&json!([1])), Err(Unconvertible));
    }

    #[test]
    fn string_conversion_follows_jsoncpp() {
        assert_eq!(as_string(&json!(null)).unwrap(), "");
        assert_eq!(as_string(&json!("群")).unwrap(), "群");
        assert_eq!(as_string(&json!(false)).unwrap(), "false");
        assert_eq!(as_string(&json!(42)).unwrap(), "42");
        assert!(as_string(&json!({})).is_err());
        assert!(as_string(&json!([])).is_err());
    }

    #[test]
    fn indexing_follows_jsoncpp() {
        let obj = json!({"a": 1});
        assert_eq!(member(&obj, "a"), Ok(&json!(1)));
        assert_eq!(member(&obj, "b"), Ok(&Value::Null));
        assert_eq!(member(&Value::Null, "a"), Ok(&Value::Null));
        assert!(member(&json!([1]), "a").is_err());
        assert!(member(&json!("s"), "a").is_err());
        assert_eq!(element(&json!([5, 6]), 1), Ok(&json!(6)));
        assert!(element(&obj, 0).is_err());
        assert_eq!(
            (size(&json!([1, 2])), size(&obj), size(&json!(3))),
            (2, 1, 0)
        );
    }
}
