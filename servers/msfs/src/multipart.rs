//! The upload body parser, reproducing what the original accepts (PROTOCOL §10.1) and the
//! error code it reports for each failed step.
//!
//! The original does not parse multipart properly: it looks for `Content-Disposition:` and
//! `filename="…"` anywhere in the body, takes the boundary from the request's Content-Type, and
//! the file data is what lies between the `\r\n\r\n` after the part's `Content-Type:` and the
//! `\r\n--` before the next boundary. Every input it accepts is accepted here the same way.
//! Beyond it: a quoted boundary or one followed by more parameters is accepted, and file
//! extensions are limited to characters that are safe in a path and in the JSON answer.

use std::ops::Range;

/// Largest file stored (STORAGE §5; larger files are refused, KNOWN_DEFECTS D-MSFS-2).
pub const MAX_FILE_SIZE: usize = 5 * 1024 * 1024;

const CONTENT_DISPOSITION: &[u8] = b"Content-Disposition:";
const FILENAME: &[u8] = b"filename=";
const CONTENT_TYPE: &[u8] = b"Content-Type:";
const HEADER_END: &[u8] = b"\r\n\r\n";
const BOUNDARY: &str = "boundary=";
/// Longest accepted file name and extension.
const MAX_NAME: usize = 255;
const MAX_EXT: usize = 15;

/// Why an upload body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// A parsing step failed; the code is the original's `error_code` for that step.
    #[error("upload format error {0}")]
    Format(u32),
    /// The file is larger than [`MAX_FILE_SIZE`].
    #[error("uploaded file is too large")]
    TooLarge,
}

/// A parsed upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Suffix of the stored name: `_<w>x<h>.<ext>` or `.<ext>`.
    pub suffix: String,
    /// Where the file data is in the body.
    pub data: Range<usize>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > haystack.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// C `atoi`: optional blanks, optional sign, digits; anything else ends the number.
fn atoi(text: &[u8]) -> i64 {
    let text = text.trim_ascii_start();
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let value = digits
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    if negative { -value } else { value }
}

/// The boundary from the request's Content-Type header.
fn boundary(content_type: &str) -> Option<&str> {
    let at = content_type.find(BOUNDARY)?;
    let rest = &content_type[at + BOUNDARY.len()..];
    let rest = rest.split(';').next().unwrap_or(rest).trim();
    let rest = rest
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(rest);
    (!rest.is_empty()).then_some(rest)
}

/// The stored-name suffix for an uploaded file name (steps 2–3 of PROTOCOL §10.1).
fn suffix(name: &[u8]) -> Result<String, UploadError> {
    let dot = name
        .iter()
        .rposition(|&b| b == b'.')
        .ok_or(UploadError::Format(10))?;
    let ext = &name[dot + 1..];
    if ext.len() > MAX_EXT
        || !ext
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err(UploadError::Format(9));
    }
    let ext = std::str::from_utf8(ext).map_err(|_| UploadError::Format(9))?;
    if let Some(under) = name.iter().rposition(|&b| b == b'_') {
        // The original searches from the `_` up to, not including, the name's last byte.
        let window = &name[under..name.len() - 1];
        if let Some(x) = window.iter().position(|&b| b == b'x').map(|i| under + i) {
            let width = &name[under + 1..x];
            if x < dot && width.len() <= 4 && dot - x - 1 <= 4 {
                let size = format!("{}x{}.{ext}", atoi(width), atoi(&name[x + 1..dot]));
                // snprintf into 16 bytes: at most 15 characters (all ASCII here).
                return Ok(format!("_{}", &size[..size.len().min(15)]));
            }
        }
    }
    Ok(format!(".{ext}"))
}

/// Parses an upload body given the request's Content-Type header.
pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Upload, UploadError> {
    let disposition = find(body, CONTENT_DISPOSITION).ok_or(UploadError::Format(2))?;
    let filename =
        disposition + find(&body[disposition..], FILENAME).ok_or(UploadError::Format(3))?;
    // The name starts one byte after `filename=` (skipping the opening quote).
    let name_start = filename + FILENAME.len() + 1;
    let name_len = body
        .get(name_start..)
        .and_then(|rest| find(rest, b"\""))
        .ok_or(UploadError::Format(3))?;
    if name_len > MAX_NAME {
        return Err(UploadError::Format(11));
    }
    let suffix = suffix(&body[name_start..name_start + name_len])?;

    let boundary = content_type
        .and_then(boundary)
        .ok_or(UploadError::Format(4))?
        .as_bytes();
    let first = find(body, boundary).ok_or(UploadError::Format(5))?;
    let part_type = first + find(&body[first..], CONTENT_TYPE).ok_or(UploadError::Format(6))?;
    let head_end =
        part_type + find(&body[part_type..], HEADER_END).ok_or(UploadError::Format(7))?;
    let data_start = head_end + HEADER_END.len();
    let next = head_end + find(&body[head_end..], boundary).ok_or(UploadError::Format(8))?;
    // The data ends before the `\r\n--` that precedes the boundary.
    let data_end = next.checked_sub(4).filter(|&end| end >= data_start);
    let data_end = data_end.ok_or(UploadError::Format(8))?;
    if data_end - data_start > MAX_FILE_SIZE {
        return Err(UploadError::TooLarge);
    }
    Ok(Upload {
        suffix,
        data: data_start..data_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &str = "multipart/form-data; boundary=WebKitFormBoundary8riBH6S4ZsoT69so";

    fn body(filename: &str, data: &[u8]) -> Vec<u8> {
        let mut b = format!(
            "--WebKitFormBoundary8riBH6S4ZsoT69so\r\nContent-Disposition: form-data; \
             name=\"file\"; filename=\"{filename}\"\r\nContent-Type:image/jpg\r\n\r\n"
        )
        .into_bytes();
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n--WebKitFormBoundary8riBH6S4ZsoT69so--\r\n\r\n");
        b
    }

    fn parsed(filename: &str, data: &[u8]) -> Result<(String, Vec<u8>), UploadError> {
        let b = body(filename, data);
        parse(Some(CT), &b).map(|u| (u.suffix, b[u.data].to_vec()))
    }

    #[test]
    fn db_proxy_audio_upload_is_accepted() {
        let data = [0u8, 1, 2, 0xff, b'\r', b'\n'];
        assert_eq!(
            parsed("1.audio", &data),
            Ok((".audio".into(), data.to_vec()))
        );
    }

    #[test]
    fn size_suffix_is_kept_when_present() {
        assert_eq!(parsed("img_640x480.png", b"x").unwrap().0, "_640x480.png");
        assert_eq!(parsed("a_b_12x034.JPG", b"x").unwrap().0, "_12x34.JPG");
        assert_eq!(parsed("photo_axb.jpg", b"x").unwrap().0, "_0x0.jpg");
        assert_eq!(parsed("big_12345x1.jpg", b"x").unwrap().0, ".jpg");
        assert_eq!(parsed("plain.gif", b"x").unwrap().0, ".gif");
        assert_eq!(parsed("a.b_1x2", b"x").unwrap().0, ".b_1x2");
        assert_eq!(
            parsed("n_9999x9999.abcdefghijklmno", b"x").unwrap().0,
            "_9999x9999.abcde"
        );
    }

    #[test]
    fn each_failed_step_reports_the_original_code() {
        let ok = body("a.jpg", b"data");
        assert_eq!(parse(Some(CT), b"no headers"), Err(UploadError::Format(2)));
        assert_eq!(
            parse(Some(CT), b"Content-Disposition: form-data; name=\"x\""),
            Err(UploadError::Format(3))
        );
        let long = format!("{}.jpg", "n".repeat(260));
        assert_eq!(parsed(&long, b"d"), Err(UploadError::Format(11)));
        assert_eq!(parsed("noext", b"d"), Err(UploadError::Format(10)));
        assert_eq!(
            parsed("a.toolongextension1", b"d"),
            Err(UploadError::Format(9))
        );
        assert_eq!(parsed("a./etc", b"d"), Err(UploadError::Format(9)));
        assert_eq!(parse(None, &ok), Err(UploadError::Format(4)));
        assert_eq!(
            parse(Some("multipart/form-data"), &ok),
            Err(UploadError::Format(4))
        );
        assert_eq!(
            parse(Some("multipart/form-data; boundary=other"), &ok),
            Err(UploadError::Format(5))
        );
        let no_type = String::from_utf8(ok.clone())
            .unwrap()
            .replace("Content-Type:", "X:");
        assert_eq!(
            parse(Some(CT), no_type.as_bytes()),
            Err(UploadError::Format(6))
        );
        let no_end = &ok[..ok.iter().position(|&b| b == b'\r').unwrap() + 90];
        assert!(matches!(
            parse(Some(CT), no_end),
            Err(UploadError::Format(7 | 8))
        ));
        let cut = &ok[..ok.len() - 30];
        assert_eq!(parse(Some(CT), cut), Err(UploadError::Format(8)));
    }

    #[test]
    fn quoted_boundaries_and_extra_parameters_are_accepted() {
        let b = body("a.jpg", b"z");
        let quoted = "multipart/form-data; boundary=\"WebKitFormBoundary8riBH6S4ZsoT69so\"; x=y";
        assert_eq!(parse(Some(quoted), &b).unwrap().suffix, ".jpg");
    }

    #[test]
    fn files_over_five_mebibytes_are_refused() {
        let big = vec![7u8; MAX_FILE_SIZE + 1];
        assert_eq!(parsed("a.jpg", &big), Err(UploadError::TooLarge));
        let max = vec![7u8; MAX_FILE_SIZE];
        assert_eq!(parsed("a.jpg", &max).unwrap().1.len(), MAX_FILE_SIZE);
    }

    #[test]
    fn atoi_behaves_like_c() {
        assert_eq!(atoi(b"12"), 12);
        assert_eq!(atoi(b" -3x"), -3);
        assert_eq!(atoi(b"+7"), 7);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b""), 0);
    }
}
