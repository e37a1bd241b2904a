//! msg_server discovery through login_server's HTTP API (PROTOCOL §8).
//!
//! One plain HTTP/1.1 `GET` on a fresh TCP connection; login_server answers once and closes.
//! The body is a JSON object whose `code` says whether a msg_server was chosen (0), none is
//! registered (1) or all are full (2); on success `port` is a decimal **string**.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

/// Timeout used by [`discover`] for connecting and for each read and write.
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest response accepted; login_server never sends more than 1023 bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// The msg_server login_server picked, with the companion service addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgServerInfo {
    /// Preferred msg_server address (`priorIP`).
    pub prior_ip: String,
    /// Alternative address of the same msg_server (`backupIP`).
    pub backup_ip: String,
    /// msg_server client port (`port`, sent as a string).
    pub port: u16,
    /// Preferred msfs base URL (`msfsPrior`).
    pub msfs_prior: String,
    /// Alternative msfs base URL (`msfsBackup`).
    pub msfs_backup: String,
    /// Discovery URL from login_server's configuration (`discovery`).
    pub discovery: String,
    /// The TLS client port (`tlsPort`, teamtalk-rs msg_servers that offer one).
    pub tls_port: Option<u16>,
    /// The WebSocket client port (`wsPort`).
    pub ws_port: Option<u16>,
    /// The WebSocket-over-TLS client port (`wssPort`).
    pub wss_port: Option<u16>,
    /// The WebSocket path (`wsPath`).
    pub ws_path: Option<String>,
}

impl MsgServerInfo {
    /// `priorIP:port`, ready for [`crate::Client::connect`].
    pub fn addr(&self) -> String {
        format!("{}:{}", self.prior_ip, self.port)
    }

    /// `backupIP:port`.
    pub fn backup_addr(&self) -> String {
        format!("{}:{}", self.backup_ip, self.port)
    }

    /// The port of a transport (`tcp`, `tls`, `ws`, `wss`), if this msg_server offers it.
    pub fn port_for(&self, transport: &str) -> Option<u16> {
        match transport {
            "tcp" => Some(self.port),
            "tls" => self.tls_port,
            "ws" => self.ws_port,
            "wss" => self.wss_port,
            _ => None,
        }
    }
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The URL is not of the form `http://host[:port][/path]`.
    #[error("invalid login_server url {url}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No TCP connection could be made.
    #[error("login_server unreachable at {url}: {source}")]
    Unreachable {
        /// The URL as given.
        url: String,
        /// The connect error (of the last address tried).
        #[source]
        source: io::Error,
    },
    /// The connection failed while the request or response was in flight.
    #[error("i/o error talking to login_server at {url}: {source}")]
    Io {
        /// The URL as given.
        url: String,
        /// The read or write error.
        #[source]
        source: io::Error,
    },
    /// login_server answered `code` 1.
    #[error("login_server at {url} has no msg_server registered")]
    NoMsgServer {
        /// The URL as given.
        url: String,
    },
    /// login_server answered `code` 2.
    #[error("login_server at {url} reports all msg_servers full")]
    MsgServersFull {
        /// The URL as given.
        url: String,
    },
    /// login_server answered another non-zero `code`.
    #[error("login_server at {url} refused with code {code}: {msg}")]
    Refused {
        /// The URL as given.
        url: String,
        /// The `code` member.
        code: i64,
        /// The `msg` member.
        msg: String,
    },
    /// The HTTP status was not 200.
    #[error("login_server at {url} answered http status {status}")]
    HttpStatus {
        /// The URL as given.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The response could not be understood.
    #[error("malformed response from login_server at {url}: {reason}")]
    Malformed {
        /// The URL as given.
        url: String,
        /// What was wrong.
        reason: String,
    },
}

/// Asks login_server at `url` (e.g. `http://127.0.0.1:8080/msg_server`) for a msg_server, with
/// [`DEFAULT_DISCOVERY_TIMEOUT`].
pub fn discover(url: &str) -> Result<MsgServerInfo, DiscoverError> {
    discover_with_timeout(url, DEFAULT_DISCOVERY_TIMEOUT)
}

/// [`discover`] with an explicit timeout for connecting and for each read and write.
pub fn discover_with_timeout(url: &str, timeout: Duration) -> Result<MsgServerInfo, DiscoverError> {
    let target = HttpTarget::parse(url)?;
    let mut stream = connect(url, &target, timeout)?;
    let io_err = |source| DiscoverError::Io {
        url: url.to_owned(),
        source,
    };
    stream.set_read_timeout(Some(timeout)).map_err(io_err)?;
    stream.set_write_timeout(Some(timeout)).map_err(io_err)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path, target.host_header
    );
    stream.write_all(request.as_bytes()).map_err(io_err)?;
    let raw = read_response(&mut stream).map_err(io_err)?;
    parse_response(url, &raw)
}

/// Parsed pieces of an `http://` URL.
struct HttpTarget {
    host: String,
    port: u16,
    host_header: String,
    path: String,
}

impl HttpTarget {
    fn parse(url: &str) -> Result<Self, DiscoverError> {
        let bad = |reason| DiscoverError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// urls are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("missing host"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            // A bracketed IPv6 literal without a port ends in `]`.
            Some((h, p)) if !p.contains(']') => {
                let port = p.parse::<u16>().map_err(|_| bad("invalid port"))?;
                (h, port)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            host_header: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

fn connect(url: &str, target: &HttpTarget, timeout: Duration) -> Result<TcpStream, DiscoverError> {
    let unreachable = |source| DiscoverError::Unreachable {
        url: url.to_owned(),
        source,
    };
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(unreachable)?
        .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host name resolved to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(unreachable(last))
}

/// Reads until the peer closes, or until the body announced by `Content-Length` is complete.
fn read_response(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut raw = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(total) = complete_length(&raw) {
            if raw.len() >= total {
                raw.truncate(total);
                return Ok(raw);
            }
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // A reset after a complete close-delimited answer still leaves usable bytes.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(raw);
        }
        raw.extend_from_slice(&chunk[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "response larger than 64 KiB",
            ));
        }
    }
}

/// Total response length once the header block and a `Content-Length` have been seen.
fn complete_length(raw: &[u8]) -> Option<usize> {
    let head_end = find(raw, b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&raw[..head_end]).ok()?;
    let body_len = content_length(head)?;
    Some(head_end + body_len)
}

fn content_length(head: &str) -> Option<usize> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if name.trim().eq_ignore_ascii_case("content-length") {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_response(url: &str, raw: &[u8]) -> Result<MsgServerInfo, DiscoverError> {
    let malformed = |reason: String| DiscoverError::Malformed {
        url: url.to_owned(),
        reason,
    };
    if raw.is_empty() {
        return Err(malformed("connection closed without a response".to_owned()));
    }
    let head_end =
        find(raw, b"\r\n\r\n").ok_or_else(|| malformed("incomplete http header".to_owned()))?;
    let head = std::str::from_utf8(&raw[..head_end])
        .map_err(|_| malformed("http header is not utf-8".to_owned()))?;
    let status_line = head.split("\r\n").next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(malformed(format!("bad status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed(format!("bad status line {status_line:?}")))?;
    if status != 200 {
        return Err(DiscoverError::HttpStatus {
            url: url.to_owned(),
            status,
        });
    }
    let mut body = &raw[head_end + 4..];
    if let Some(len) = content_length(head) {
        body = body.get(..len).ok_or_else(|| {
            malformed(format!(
                "body shorter than its content-length ({} < {len})",
                body.len()
            ))
        })?;
    }
    let json: Value =
        serde_json::from_slice(body).map_err(|e| malformed(format!("body is not json: {e}")))?;
    let code = json
        .get("code")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("missing integer member code".to_owned()))?;
    let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
    match code {
        0 => {}
        1 => {
            return Err(DiscoverError::NoMsgServer {
                url: url.to_owned(),
            });
        }
        2 => {
            return Err(DiscoverError::MsgServersFull {
                url: url.to_owned(),
            });
        }
        code => {
            return Err(DiscoverError::Refused {
                url: url.to_owned(),
                code,
                msg: text("msg").unwrap_or_default(),
            });
        }
    }
    let required = |key: &str| text(key).ok_or_else(|| malformed(format!("missing member {key}")));
    // The original sends the port as a string; accept a number too.
    let port = match json.get("port") {
        Some(Value::String(s)) => s.trim().parse::<u16>().ok(),
        Some(Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        _ => None,
    }
    .filter(|p| *p != 0)
    .ok_or_else(|| malformed("missing or invalid member port".to_owned()))?;
    let prior_ip = required("priorIP")?;
    // Extra ports are optional: absent (or unusable) means not offered.
    let other_port = |key: &str| {
        text(key)
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|p| *p != 0)
    };
    Ok(MsgServerInfo {
        tls_port: other_port("tlsPort"),
        ws_port: other_port("wsPort"),
        wss_port: other_port("wssPort"),
        ws_path: text("wsPath"),
        backup_ip: text("backupIP").unwrap_or_else(|| prior_ip.clone()),
        prior_ip,
        port,
        msfs_prior: text("msfsPrior").unwrap_or_default(),
        msfs_backup: text("msfsBackup").unwrap_or_default(),
        discovery: text("discovery").unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK_BODY: &str = "{\n   \"backupIP\" : \"127.0.0.2\",\n   \"code\" : 0,\n   \
        \"discovery\" : \"http://127.0.0.1/api/discovery\",\n   \
        \"msfsBackup\" : \"http://127.0.0.1:8700/\",\n   \
        \"msfsPrior\" : \"http://127.0.0.1:8700/\",\n   \"msg\" : \"\",\n   \
        \"port\" : \"8000\",\n   \"priorIP\" : \"127.0.0.1\"\n}\n";

    fn response(body: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\
             Content-Type:text/html;charset=utf-8\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[test]
    fn url_parsing() {
        let t = HttpTarget::parse("http://127.0.0.1:8080/msg_server").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8080, "/msg_server")
        );
        let t = HttpTarget::parse("http://example.org").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("example.org", 80, "/")
        );
        let t = HttpTarget::parse("http://[::1]:81/x").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 81));
        for bad in [
            "https://x/",
            "ftp://x",
            "http://",
            "http://:80/",
            "http://h:99999/",
        ] {
            assert!(
                matches!(HttpTarget::parse(bad), Err(DiscoverError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn success_body_is_parsed() {
        let info = parse_response("u", &response(OK_BODY)).unwrap();
        assert_eq!(info.prior_ip, "127.0.0.1");
        assert_eq!(info.backup_ip, "127.0.0.2");
        assert_eq!(info.port, 8000);
        assert_eq!(info.addr(), "127.0.0.1:8000");
        assert_eq!(info.backup_addr(), "127.0.0.2:8000");
        assert_eq!(info.msfs_prior, "http://127.0.0.1:8700/");
        assert_eq!(info.discovery, "http://127.0.0.1/api/discovery");
    }

    #[test]
    fn refusal_codes_are_typed() {
        let no = "{\n   \"code\" : 1,\n   \"msg\" : \"没有msg_server\"\n}\n";
        assert!(matches!(
            parse_response("u", &response(no)),
            Err(DiscoverError::NoMsgServer { .. })
        ));
        let full = "{\n   \"code\" : 2,\n   \"msg\" : \"负载过高\"\n}\n";
        assert!(matches!(
            parse_response("u", &response(full)),
            Err(DiscoverError::MsgServersFull { .. })
        ));
        let other = "{\"code\":9,\"msg\":\"x\"}";
        assert!(matches!(
            parse_response("u", &response(other)),
            Err(DiscoverError::Refused { code: 9, .. })
        ));
    }

    #[test]
    fn malformed_responses_are_errors() {
        let cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"garbage".to_vec(),
            b"HTTP/1.1 200 OK\r\n\r\nnot json".to_vec(),
            response("{\"code\":0}"),
            response("{\"code\":0,\"priorIP\":\"1.2.3.4\",\"port\":\"x\"}"),
            response("[1,2]"),
            b"HTTP/1.1 200 OK\r\nContent-Length:50\r\n\r\n{}".to_vec(),
        ];
        for raw in cases {
            assert!(
                matches!(
                    parse_response("u", &raw),
                    Err(DiscoverError::Malformed { .. })
                ),
                "{}",
                String::from_utf8_lossy(&raw)
            );
        }
        assert!(matches!(
            parse_response("u", b"HTTP/1.1 404 Not Found\r\n\r\n"),
            Err(DiscoverError::HttpStatus { status: 404, .. })
        ));
    }

    #[test]
    fn numeric_port_is_accepted() {
        let body = "{\"code\":0,\"priorIP\":\"1.2.3.4\",\"port\":8000}";
        assert_eq!(parse_response("u", &response(body)).unwrap().port, 8000);
    }
}
