//! The browser demo client (docs/WEB_CLIENT.md): the three files of `web/`, compiled in and
//! served under `/web/` on the HTTP and HTTPS ports when `WebClient=1`.
//!
//! The page is served from the same origin as `/msg_server`, so it can ask for a msg_server
//! without CORS; it then talks to the msg_server's WebSocket port itself. Only the listed
//! files exist: there is no file system access and no directory listing.

/// Where the page lives; `/web` alone is redirected here.
const ROOT: &str = "/web/";

/// One compiled-in file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const INDEX: &[u8] = include_bytes!("../../../web/index.html");

const ASSETS: &[Asset] = &[
    Asset {
        path: ROOT,
        content_type: "text/html; charset=utf-8",
        body: INDEX,
    },
    Asset {
        path: "/web/index.html",
        content_type: "text/html; charset=utf-8",
        body: INDEX,
    },
    Asset {
        path: "/web/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../web/app.js"),
    },
    Asset {
        path: "/web/app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../../web/app.css"),
    },
];

/// Scripts, styles and fetches from this origin only, WebSocket connections to any host (the
/// msg_server is named by discovery at run time); over HTTPS only `wss:`, so a page that came
/// encrypted never talks in the clear.
const CSP_HTTPS: &str = "Content-Security-Policy: default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self' wss:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";
const CSP_HTTP: &str = "Content-Security-Policy: default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";
/// Headers every answer carries besides the policy.
const COMMON_HEADERS: [&str; 3] = [
    "X-Content-Type-Options: nosniff",
    "Referrer-Policy: no-referrer",
    "Cache-Control: no-cache",
];

/// Whether a request target belongs to the web client (`/web`, `/web/…`, with any query).
pub(crate) fn is_web_target(target: &str) -> bool {
    let path = path_of(target);
    path == "/web" || path.starts_with(ROOT)
}

/// The whole HTTP response for a web client request; `secure` when it came over HTTPS.
pub(crate) fn response(method: &str, target: &str, secure: bool) -> Vec<u8> {
    let csp = if secure { CSP_HTTPS } else { CSP_HTTP };
    let mut headers = vec![csp];
    headers.extend(COMMON_HEADERS);
    let path = path_of(target);
    if path == "/web" {
        headers.push("Location: /web/");
        return netlib::http::response("301 Moved Permanently", &headers, TEXT, b"see /web/\n");
    }
    if method != "GET" {
        headers.push("Allow: GET");
        return netlib::http::response("405 Method Not Allowed", &headers, TEXT, b"GET only\n");
    }
    match ASSETS.iter().find(|asset| asset.path == path) {
        Some(asset) => netlib::http::ok_response(&headers, asset.content_type, asset.body),
        None => netlib::http::response("404 Not Found", &headers, TEXT, b"not found\n"),
    }
}

const TEXT: &str = "text/plain; charset=utf-8";

/// The target without its query.
fn path_of(target: &str) -> &str {
    target.split_once('?').map_or(target, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_and_body(answer: &[u8]) -> (String, Vec<u8>) {
        let at = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        (
            String::from_utf8(answer[..at].to_vec()).unwrap(),
            answer[at + 4..].to_vec(),
        )
    }

    #[test]
    fn files_are_served_with_their_type_and_the_policy() {
        for (path, kind, file) in [
            ("/web/", "text/html", INDEX),
            ("/web/index.html?x=1", "text/html", INDEX),
            ("/web/app.js", "text/javascript", ASSETS[2].body),
            ("/web/app.css", "text/css", ASSETS[3].body),
        ] {
            let (head, body) = head_and_body(&response("GET", path, true));
            assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
            assert!(head.contains(&format!("Content-Type:{kind}")), "{head}");
            assert!(head.contains("connect-src 'self' wss:;"), "{head}");
            assert!(head.contains("nosniff"), "{head}");
            assert_eq!(body, file);
        }
        let (head, _) = head_and_body(&response("GET", "/web/", false));
        assert!(head.contains("connect-src 'self' ws: wss:;"), "{head}");
    }

    #[test]
    fn other_paths_methods_and_the_bare_prefix() {
        for path in ["/web/../Cargo.toml", "/web/x", "/web/web/", "/web//app.js"] {
            let answer = response("GET", path, true);
            assert!(answer.starts_with(b"HTTP/1.1 404 Not Found"), "{path}");
        }
        assert!(response("POST", "/web/", true).starts_with(b"HTTP/1.1 405"));
        let (head, _) = head_and_body(&response("GET", "/web", true));
        assert!(head.starts_with("HTTP/1.1 301") && head.contains("Location: /web/"));
        assert!(is_web_target("/web") && is_web_target("/web/app.js?v=1"));
        assert!(!is_web_target("/webx") && !is_web_target("/msg_server"));
    }
}
