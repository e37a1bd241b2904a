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
            let mut fields = vec![
                ("code", Scalar::Int(0)),
                ("msg", Scalar::Str("")),
                ("priorIP", Scalar::Str(prior)),
                ("backupIP", Scalar::Str(backup)),
                ("msfsPrior", Scalar::Str(msfs_url)),
                ("msfsBackup", Scalar::Str(msfs_url)),
                ("discovery", Scalar::Str(discovery_url)),
                ("port", Scalar::Str(&port)),
            ];
            // teamtalk-rs msg_servers' other transports (PROTOCOL §8.2): extra keys, present
            // only when offered, which the original clients never look for.
            let other = &server.other_ports;
            let [tls, ws, wss] = [other.tls, other.ws, other.wss].map(|p| p.map(|p| p.to_string()));
            for (key, value) in [("tlsPort", &tls), ("wsPort", &ws), ("wssPort", &wss)] {
                if let Some(value) = value {
                    fields.push((key, Scalar::Str(value)));
                }
            }
            if let (Some(path), true) = (&other.ws_path, ws.is_some() || wss.is_some()) {
                fields.push(("wsPath", Scalar::Str(path)));
            }
            styled_object(&fields)
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

    fn server(other_ports: crate::registry::OtherPorts) -> crate::registry::MsgServerInfo {
        crate::registry::MsgServerInfo {
            ip1: "10.0.0.1".into(),
            ip2: "10.0.0.2".into(),
            port: 8000,
            max_conn_cnt: 10,
            cur_conn_cnt: 0,
            host_name: "h".into(),
            other_ports,
        }
    }

    fn body(info: &crate::registry::MsgServerInfo) -> String {
        let answer = msg_server_response(Pick::Server(info), None, "m", "d");
        let text = String::from_utf8(answer).unwrap();
        text.split_once("\r\n\r\n").unwrap().1.to_owned()
    }

    #[test]
    fn other_transports_are_extra_keys_only_when_offered() {
        let plain = body(&server(crate::registry::OtherPorts::default()));
        assert!(
            !plain.contains("tlsPort") && !plain.contains("wsPath"),
            "{plain}"
        );
        let offered = body(&server(crate::registry::OtherPorts {
            tls: Some(8443),
            ws: None,
            wss: Some(8444),
            ws_path: Some("/ws".into()),
        }));
        for key in [
            "\"tlsPort\" : \"8443\"",
            "\"wssPort\" : \"8444\"",
            "\"wsPath\" : \"/ws\"",
        ] {
            assert!(offered.contains(key), "{key} missing in {offered}");
        }
        assert!(!offered.contains("\"wsPort\""), "{offered}");
        // The original's keys are unchanged.
        assert!(offered.contains("\"port\" : \"8000\""), "{offered}");
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
