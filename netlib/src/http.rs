//! Minimal HTTP/1.x request parsing and response writing for the HTTP ports (login_server,
//! http_msg_server, msfs). A request is complete when its headers ended and `Content-Length`
//! bytes of body followed, as the original's parser decides; nothing else is interpreted.

/// Why buffered bytes are not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The request line or a header is malformed.
    #[error("malformed http request: {0}")]
    Malformed(&'static str),
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method as sent (`GET`, `POST`, …).
    pub method: String,
    /// Request target as sent (path and query).
    pub target: String,
    /// Headers in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes (`Content-Length` of them).
    pub body: Vec<u8>,
}

impl Request {
    /// Parses a complete request from the start of `buf`: `Ok(None)` while incomplete,
    /// otherwise the request and the bytes it used.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, HttpError> {
        let Some(head_end) = find(buf, b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(&buf[..head_end])
            .map_err(|_| HttpError::Malformed("head is not utf-8"))?;
        let mut lines = head.split("\r\n");
        let request_line = lines.next().ok_or(HttpError::Malformed("empty request"))?;
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(HttpError::Malformed("bad request line"));
        };
        if method.is_empty() || !version.starts_with("HTTP/") {
            return Err(HttpError::Malformed("bad request line"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or(HttpError::Malformed("bad header line"))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let content_length = match header(&headers, "content-length") {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| HttpError::Malformed("bad content-length"))?,
            None => 0,
        };
        let body_start = head_end + 4;
        let Some(total) = body_start.checked_add(content_length) else {
            return Err(HttpError::Malformed("bad content-length"));
        };
        if buf.len() < total {
            return Ok(None);
        }
        Ok(Some((
            Self {
                method: method.to_owned(),
                target: target.to_owned(),
                headers,
                body: buf[body_start..total].to_vec(),
            },
            total,
        )))
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A `200 OK` response with the original servers' header spelling (no space after the colon):
/// `extra_headers` go between the status line and `Connection:close`.
pub fn ok_response(extra_headers: &[&str], content_type: &str, body: &[u8]) -> Vec<u8> {
    response("200 OK", extra_headers, content_type, body)
}

/// A response with `status` (`"404 Not Found"`), spelled like [`ok_response`]; the connection
/// closes after it.
pub fn response(status: &str, extra_headers: &[&str], content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in extra_headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!(
            "Connection:close\r\nContent-Length:{}\r\nContent-Type:{content_type}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_get_and_post_incrementally() {
        let get = b"GET /msg_server HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..get.len() {
            assert_eq!(Request::parse(&get[..cut]), Ok(None));
        }
        let (req, used) = Request::parse(get).unwrap().unwrap();
        assert_eq!(
            (req.method.as_str(), req.target.as_str(), used),
            ("GET", "/msg_server", get.len())
        );
        assert_eq!(req.header("HOST"), Some("x"));

        let post = b"POST /q HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcdEXTRA";
        assert_eq!(Request::parse(&post[..post.len() - 6]), Ok(None));
        let (req, used) = Request::parse(post).unwrap().unwrap();
        assert_eq!((req.body.as_slice(), used), (&b"abcd"[..], post.len() - 5));
    }

    #[test]
    fn malformed_requests_are_errors() {
        assert!(Request::parse(b"GARBAGE\r\n\r\n").is_err());
        assert!(Request::parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(Request::parse(b"GET / HTTP/1.1\r\nnocolon\r\n\r\n").is_err());
    }

    #[test]
    fn response_uses_the_original_header_spelling() {
        let r = ok_response(&[], "text/html;charset=utf-8", b"{}");
        assert_eq!(
            r,
            b"HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:2\r\nContent-Type:text/html;charset=utf-8\r\n\r\n{}"
        );
    }
}
