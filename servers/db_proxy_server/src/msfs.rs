//! A minimal blocking HTTP/1.1 client for msfs: the audio upload of PROTOCOL §10.4 and the
//! download used to rebuild audio messages from history.
//!
//! Invariants: every request has connect, read and write timeouts and a response size cap, so
//! a slow or broken msfs delays one task by a bounded time and never wedges a worker; one
//! request per connection (`Connection: close`), as the original's curl use.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::store::{StoreError, StoreResult};

/// Boundary of the multipart upload, as the original sends it.
const BOUNDARY: &str = "WebKitFormBoundary8riBH6S4ZsoT69so";
/// Connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read/write timeout of an upload.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of a download (the original's curl timeout).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest response accepted.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;

/// Uploads to and downloads from msfs.
#[derive(Debug, Clone)]
pub struct MsfsClient {
    upload_url: String,
}

impl MsfsClient {
    /// A client posting to `site` with a `/` appended when it does not end with one
    /// (KNOWN_DEFECTS D-DB-20).
    pub fn new(site: &str) -> Self {
        let mut upload_url = site.to_owned();
        if !upload_url.ends_with('/') {
            upload_url.push('/');
        }
        Self { upload_url }
    }

    /// Uploads audio bytes; returns the download URL msfs answered with.
    pub fn upload(&self, data: &[u8]) -> StoreResult<String> {
        let mut body = Vec::with_capacity(data.len() + 256);
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; \
                 filename=\"1.audio\"\r\nContent-Type:image/jpg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n\r\n").as_bytes());
        let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
        let (status, response) = request(
            &self.upload_url,
            "POST",
            Some((&content_type, &body)),
            UPLOAD_TIMEOUT,
        )?;
        if status != 200 {
            return Err(StoreError::Msfs(format!("upload answered status {status}")));
        }
        let json: serde_json::Value = serde_json::from_slice(&response)
            .map_err(|e| StoreError::Msfs(format!("upload answer is not json: {e}")))?;
        if json.get("error_code").and_then(serde_json::Value::as_i64) != Some(0) {
            return Err(StoreError::Msfs("upload answered an error code".to_owned()));
        }
        json.get("url")
            .and_then(serde_json::Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Msfs("upload answer has no url".to_owned()))
    }

    /// Downloads `url`, requiring status 200 and exactly `size` bytes.
    pub fn download(&self, url: &str, size: usize) -> StoreResult<Vec<u8>> {
        let (status, body) = request(url, "GET", None, DOWNLOAD_TIMEOUT)?;
        if status != 200 || body.len() != size {
            return Err(StoreError::Msfs(format!(
                "download answered status {status} with {} bytes, expected {size}",
                body.len()
            )));
        }
        Ok(body)
    }
}

/// Splits `http://host[:port]/path` (a missing scheme means http, as curl assumes).
fn split_url(url: &str) -> StoreResult<(String, u16, String)> {
    let rest = match url.split_once("://") {
        Some(("http", rest)) => rest,
        Some((scheme, _)) => {
            return Err(StoreError::Msfs(format!("unsupported scheme {scheme}")));
        }
        None => url,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .map_err(|_| StoreError::Msfs(format!("bad port in {url}")))?,
        ),
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(StoreError::Msfs(format!("no host in {url}")));
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

fn request(
    url: &str,
    method: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> StoreResult<(u16, Vec<u8>)> {
    let (host, port, path) = split_url(url)?;
    let io = |e: std::io::Error| StoreError::Msfs(format!("{method} {host}:{port}: {e}"));
    let addr: SocketAddr = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| StoreError::Msfs(format!("cannot resolve {host}")))?;
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;

    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\nConnection: close\r\n"
    );
    if let Some((content_type, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    if let Some((_, bytes)) = body {
        stream.write_all(bytes).map_err(io)?;
    }

    let mut response = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut header_end = None;
    let mut content_length = None;
    loop {
        if let (Some(end), Some(len)) = (header_end, content_length) {
            if response.len() >= end + len {
                break;
            }
        }
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 {
            break;
        }
        response.extend_from_slice(&chunk[..n]);
        if response.len() > MAX_RESPONSE {
            return Err(StoreError::Msfs("response too large".to_owned()));
        }
        if header_end.is_none() {
            if let Some(i) = find(&response, b"\r\n\r\n") {
                header_end = Some(i + 4);
                content_length = header_value(&response[..i], "content-length")
                    .and_then(|v| v.trim().parse::<usize>().ok());
            }
        }
    }
    let end = header_end.ok_or_else(|| StoreError::Msfs("incomplete http response".to_owned()))?;
    let status_line = String::from_utf8_lossy(&response[..end]);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| StoreError::Msfs("bad http status line".to_owned()))?;
    let mut body = response.split_off(end);
    if let Some(len) = content_length {
        body.truncate(len);
    }
    Ok((status, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn header_value(head: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(head)
        .lines()
        .skip(1)
        .find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    #[test]
    fn urls_split_like_curl_reads_them() {
        assert_eq!(
            split_url("http://127.0.0.1:8700/").unwrap(),
            ("127.0.0.1".into(), 8700, "/".into())
        );
        assert_eq!(
            split_url("127.0.0.1").unwrap(),
            ("127.0.0.1".into(), 80, "/".into())
        );
        assert_eq!(
            split_url("http://h/g0/000/001/x.audio").unwrap(),
            ("h".into(), 80, "/g0/000/001/x.audio".into())
        );
        assert!(split_url("https://h/").is_err());
        assert_eq!(MsfsClient::new("http://h:1").upload_url, "http://h:1/");
        assert_eq!(MsfsClient::new("http://h:1/").upload_url, "http://h:1/");
    }

    fn serve_once(response: &'static [u8]) -> (String, thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(response).unwrap();
            got
        });
        (format!("http://{addr}"), t)
    }

    #[test]
    fn upload_posts_the_multipart_body_and_reads_the_url() {
        let (site, t) = serve_once(
            b"HTTP/1.1 200 OK\r\nContent-Length:72\r\n\r\n\
              {\"error_code\":0,\"error_msg\": \"ok\",\"path\":\"g0/1\",\"url\":\"http://x/g0/1\"}",
        );
        let url = MsfsClient::new(&site).upload(b"\x01\x02audio").unwrap();
        assert_eq!(url, "http://x/g0/1");
        let request = t.join().unwrap();
        let text = String::from_utf8_lossy(&request);
        assert!(text.starts_with("POST / HTTP/1.1\r\n"));
        assert!(text.contains("boundary=WebKitFormBoundary8riBH6S4ZsoT69so"));
        assert!(text.contains("filename=\"1.audio\"\r\nContent-Type:image/jpg\r\n\r\n"));
    }

    #[test]
    fn failing_or_silent_msfs_is_an_error_not_a_hang() {
        let (site, t) = serve_once(b"HTTP/1.1 200 OK\r\n\r\n{\"error_code\":1}");
        assert!(MsfsClient::new(&site).upload(b"x").is_err());
        t.join().unwrap();
        // Nothing listens on a port just released.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = MsfsClient::new(&format!("http://127.0.0.1:{port}"));
        assert!(client.upload(b"x").is_err());
        assert!(
            client
                .download(&format!("http://127.0.0.1:{port}/a"), 1)
                .is_err()
        );
    }
}
