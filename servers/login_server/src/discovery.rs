//! The answer to `GET/POST /msg_server` (PROTOCOL §8.2): the chosen msg_server as the JSON the
//! original built with jsoncpp's `StyledWriter`, in its exact bytes, inside the original's
//! `200 OK` header spelling.
//!
//! Unlike the original, the response is never cut at 1023 bytes (KNOWN_DEFECTS D-LS-1).

use std::net::IpAddr;

use netlib::styled_json::{Scalar, styled_object};

use crate::registry::Pick;

/// Content type of the answer.
const CONTENT_TYPE: &str = "text/html;charset=utf-8";
/// `msg` of code 1, "no msg_server".
const MSG_NO_SERVER: &str = "没有msg_server";
/// `msg` of code 2, "load too high".
const MSG_ALL_FULL: &str = "负载过高";

/// The full HTTP response for a pick, as seen by a client at `peer`.
pub(crate) fn msg_server_response(
    pick: Pick<'_>,
    peer: Option<IpAddr>,
    msfs_url: &str,
    discovery_url: &str,
) -> Vec<u8> {
    let body = match pick {
        Pick::NoServer => styled_object(&[
            ("code", Scalar::Int(1)),
            ("msg", Scalar::Str(MSG_NO_SERVER)),
        ]),
        Pick::AllFull => {
            styled_object(&[("code", Scalar::Int(2)), ("msg", Scalar::Str(MSG_ALL_FULL))])
        }
        Pick::Server(server) => {
            let telecom = peer.is_some_and(|ip| is_telecom(&ip.to_string()));
            let (prior, backup) = if telecom {
                (&server.ip1, &server.ip2)
            } else {
                (&server.ip2, &server.ip1)
            };
            let port = server.port.to_string();
            styled_object(&[
                ("code", Scalar::Int(0)),
                ("msg", Scalar::Str("")),
                ("priorIP", Scalar::Str(prior)),
                ("backupIP", Scalar::Str(backup)),
                ("msfsPrior", Scalar::Str(msfs_url)),
                ("msfsBackup", Scalar::Str(msfs_url)),
                ("discovery", Scalar::Str(discovery_url)),
                ("port", Scalar::Str(&port)),
            ])
        }
    };
    netlib::http::ok_response(&[], CONTENT_TYPE, body.as_bytes())
}

/// The original's "telecom" test: the peer's text splits into exactly four `.`-separated
/// parts, which every IPv4 peer does (KNOWN_DEFECTS D-LS-3, kept for compatibility).
pub(crate) fn is_telecom(peer_text: &str) -> bool {
    peer_text.split('.').count() == 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telecom_means_four_dotted_parts() {
        assert!(is_telecom("127.0.0.1"));
        assert!(is_telecom("::ffff:10.1.2.3"));
        assert!(!is_telecom("::1"));
        assert!(!is_telecom("fe80::1"));
        assert!(!is_telecom("1.2.3"));
    }
}
