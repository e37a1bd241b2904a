//! `loginserver.conf` → `Config` (CONFIG.md §3), built from conf text literals.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use login_server::{Config, Server};
use netlib::{Conf, ConfError};

const SAMPLE: &str = "\
# config format spec
ClientListenIP=127.0.0.1;10.0.0.1\t\t# can use multiple ip, seperate by ';'
ClientPort=8008\t\t\t# legacy TCP client port
HttpListenIP=127.0.0.1
HttpPort=8080
MsgServerListenIP=127.0.0.1 \t# can use multiple ip, seperate by ';'
MsgServerPort=8100
msfs=http://127.0.0.1:8700/
discovery=http://127.0.0.1/api/discovery
";

const KEYS: [&str; 8] = [
    "ClientListenIP",
    "ClientPort",
    "HttpListenIP",
    "HttpPort",
    "MsgServerListenIP",
    "MsgServerPort",
    "msfs",
    "discovery",
];

#[test]
fn sample_conf_gives_typed_settings_with_the_original_timeouts() {
    let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
    assert_eq!(config.client_listen_ips, ["127.0.0.1", "10.0.0.1"]);
    assert_eq!(config.client_port, 8008);
    assert_eq!(config.http_listen_ips, ["127.0.0.1"]);
    assert_eq!(config.http_port, 8080);
    assert_eq!(config.msg_server_listen_ips, ["127.0.0.1"]);
    assert_eq!(config.msg_server_port, 8100);
    assert_eq!(config.msfs_url, "http://127.0.0.1:8700/");
    assert_eq!(config.discovery_url, "http://127.0.0.1/api/discovery");
    assert_eq!(config.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(config.link_timeout, Duration::from_secs(30));
    assert_eq!(config.client_timeout, Duration::from_secs(120));
    assert_eq!(config.http_timeout, Duration::from_secs(60));
}

#[test]
fn allowed_peer_ips_defaults_to_private_ranges_and_names_a_bad_entry() {
    let config = Config::from_conf(&Conf::parse(SAMPLE)).unwrap();
    assert!(config.allowed_peers.is_default());
    assert!(config.allowed_peers.allows("172.20.0.9".parse().unwrap()));
    assert!(!config.allowed_peers.allows("198.51.100.1".parse().unwrap()));

    let listed = format!("{SAMPLE}AllowedPeerIPs=198.51.100.0/24\n");
    let config = Config::from_conf(&Conf::parse(&listed)).unwrap();
    assert!(config.allowed_peers.allows("198.51.100.1".parse().unwrap()));
    assert!(!config.allowed_peers.allows("127.0.0.1".parse().unwrap()));

    let bad = format!("{SAMPLE}AllowedPeerIPs=198.51.100.0/33\n");
    let err = Config::from_conf(&Conf::parse(&bad)).unwrap_err();
    assert!(
        matches!(&err, ConfError::Invalid { key, value, .. }
            if key == "AllowedPeerIPs" && value == "198.51.100.0/33"),
        "{err}"
    );
}

#[test]
fn every_key_is_required_and_named_when_missing() {
    for key in KEYS {
        let text: String = SAMPLE
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}=")))
            .map(|l| format!("{l}\n"))
            .collect();
        let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
        assert!(
            matches!(&err, ConfError::Missing { key: k } if k == key),
            "without {key}: {err}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn a_port_that_is_not_a_number_is_named_with_its_value() {
    let text = SAMPLE.replace("HttpPort=8080", "HttpPort=80x");
    let err = Config::from_conf(&Conf::parse(&text)).unwrap_err();
    assert!(
        matches!(&err, ConfError::Invalid { key, value, .. } if key == "HttpPort" && value == "80x"),
        "{err}"
    );
}

#[test]
fn every_listen_ip_of_each_group_is_bound() {
    let text = "ClientListenIP=127.0.0.1;::1\nClientPort=0\nHttpListenIP=::1;127.0.0.1\n\
                HttpPort=0\nMsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=m\ndiscovery=d\n";
    let config = Config::from_conf(&Conf::parse(text)).unwrap();
    let server = Server::bind(config).unwrap();
    let addrs = server.local_addrs();
    assert_eq!(addrs.client.len(), 2);
    assert!(addrs.client[0].is_ipv4() && addrs.client[1].is_ipv6());
    assert!(addrs.http[0].is_ipv6() && addrs.http[1].is_ipv4());
    assert_eq!(addrs.msg_server.len(), 1);
    assert!(addrs.client.iter().all(|a| a.port() != 0));
}

#[test]
fn a_missing_file_is_an_error() {
    assert!(matches!(
        Config::load("/nonexistent/loginserver.conf"),
        Err(ConfError::Io { .. })
    ));
}
