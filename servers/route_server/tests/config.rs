//! `routeserver.conf` → `Config` (CONFIG.md §5), built from conf text literals.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use netlib::{Conf, ConfError};
use route_server::{Config, Server};

#[test]
fn sample_conf_gives_typed_settings_with_the_original_link_timing() {
    let conf = Conf::parse(
        "ListenIP=127.0.0.1;0.0.0.0\t\t\t# Listening IP\n\
         ListenMsgPort=8200\t\t\t# Listening Port for MsgServer\n",
    );
    let config = Config::from_conf(&conf).unwrap();
    assert_eq!(config.listen_ips, ["127.0.0.1", "0.0.0.0"]);
    assert_eq!(config.listen_port, 8200);
    assert_eq!(config.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(config.link_timeout, Duration::from_secs(30));
}

#[test]
fn missing_keys_are_named_in_the_error() {
    for (text, key) in [
        ("ListenMsgPort=8200", "ListenIP"),
        ("ListenIP=127.0.0.1", "ListenMsgPort"),
        ("ListenIP=\nListenMsgPort=8200", "ListenIP"),
        ("ListenIP=;;\nListenMsgPort=8200", "ListenIP"),
    ] {
        let err = Config::from_conf(&Conf::parse(text)).unwrap_err();
        assert!(
            matches!(&err, ConfError::Missing { key: k } if k == key),
            "{text:?} gave {err}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn a_port_that_is_not_a_number_is_named_with_its_value() {
    let conf = Conf::parse("ListenIP=127.0.0.1\nListenMsgPort=82oo\n");
    let err = Config::from_conf(&conf).unwrap_err();
    assert!(
        matches!(&err, ConfError::Invalid { key, value, .. } if key == "ListenMsgPort" && value == "82oo"),
        "{err}"
    );
}

#[test]
fn an_unusable_listen_ip_fails_bind() {
    let conf = Conf::parse("ListenIP=not-an-ip\nListenMsgPort=0\n");
    let config = Config::from_conf(&conf).unwrap();
    assert!(Server::bind(config).is_err());
}

#[test]
fn allowed_peer_ips_defaults_to_private_ranges_and_takes_cidr() {
    let base = "ListenIP=127.0.0.1\nListenMsgPort=8200\n";
    let config = Config::from_conf(&Conf::parse(base)).unwrap();
    assert!(config.allowed_peers.is_default());
    assert!(config.allowed_peers.allows("192.168.3.4".parse().unwrap()));
    assert!(!config.allowed_peers.allows("203.0.113.9".parse().unwrap()));

    let conf = Conf::parse(&format!("{base}AllowedPeerIPs=203.0.113.0/24;10.1.1.1\n"));
    let config = Config::from_conf(&conf).unwrap();
    assert!(config.allowed_peers.allows("203.0.113.9".parse().unwrap()));
    assert!(!config.allowed_peers.allows("192.168.3.4".parse().unwrap()));

    let conf = Conf::parse(&format!("{base}AllowedPeerIPs=10.1.1.1;10.1.1\n"));
    let err = Config::from_conf(&conf).unwrap_err();
    assert!(
        matches!(&err, ConfError::Invalid { key, value, .. }
            if key == "AllowedPeerIPs" && value == "10.1.1"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_an_error() {
    assert!(matches!(
        Config::load("/nonexistent/routeserver.conf"),
        Err(ConfError::Io { .. })
    ));
}

#[test]
fn the_replay_window_bounds_default_and_are_checked() {
    let base = "ListenIP=127.0.0.1\nListenMsgPort=8200\n";
    let config = Config::from_conf(&Conf::parse(base)).unwrap();
    assert_eq!(config.replay_span, Duration::from_secs(5));
    assert_eq!(config.replay_max_entries, 100_000);
    assert_eq!(config.replay_max_bytes, 64 << 20);

    let conf = Conf::parse(&format!(
        "{base}RelayReplaySeconds=2\nRelayReplayMaxEntries=10\nRelayReplayMaxMB=1\n"
    ));
    let config = Config::from_conf(&conf).unwrap();
    assert_eq!(config.replay_span, Duration::from_secs(2));
    assert_eq!(config.replay_max_entries, 10);
    assert_eq!(config.replay_max_bytes, 1 << 20);

    for (key, value) in [
        ("RelayReplaySeconds", "0"),
        ("RelayReplaySeconds", "61"),
        ("RelayReplayMaxEntries", "0"),
        ("RelayReplayMaxMB", "0"),
        ("RelayReplayMaxMB", "x"),
    ] {
        let conf = Conf::parse(&format!("{base}{key}={value}\n"));
        let err = Config::from_conf(&conf).unwrap_err();
        assert!(
            matches!(&err, ConfError::Invalid { key: k, value: v, .. } if k == key && v == value),
            "{key}={value} gave {err}"
        );
    }
}
