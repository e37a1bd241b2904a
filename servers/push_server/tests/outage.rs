//! A slow or unreachable provider never holds up the msg_server link: results and heartbeats
//! are answered at once, the queue keeps the newest pushes and drops (and counts) the oldest.

#![allow(clippy::unwrap_used)]

mod double;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use double::{Answer, Double, MsgLink, Pki, eventually, token};
use netlib::Conf;
use push_server::{Config, Server};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

fn conf(pki: &Pki, apns_url: &str, extra: &str) -> Config {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let key_path = pki.write("AuthKey.p8", &key.serialize_pem());
    Config::from_conf(&Conf::parse(&format!(
        "ListenIP=127.0.0.1\nListenPort=0\nSandBox=1\nApnsKeyPath={}\nApnsKeyId=K\n\
         ApnsTeamId=T\nApnsTopic=com.example.tt\nApnsHost={apns_url}\nPushCaFile={}\n{extra}",
        key_path.display(),
        pki.ca_file().display()
    )))
    .unwrap()
}

#[test]
fn a_slow_provider_costs_the_oldest_pushes_not_the_link() {
    netlib::logging::init_for_tests();
    let pki = Pki::new("outage-slow");
    let apns = Double::start(&pki, 0);
    apns.respond(|_, _| Answer {
        delay: Duration::from_millis(300),
        ..Answer::ok()
    });
    let server = Server::bind(conf(
        &pki,
        &apns.url(),
        "PushQueueSize=3\nPushMaxInFlight=1\n",
    ))
    .unwrap()
    .spawn()
    .unwrap();
    let mut link = MsgLink::connect(server.local_addrs()[0]);
    let started = Instant::now();
    let tokens = (0..10)
        .map(|badge| token(1, 0x11, TOKEN, badge, 1))
        .collect();
    assert_eq!(link.push("hi", "{}", tokens), [0; 10]);
    let again = link.push("hi", "{}", vec![]);
    assert!(again.is_empty());
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "answered before the provider did: {:?}",
        started.elapsed()
    );
    eventually(WAIT, "all accounted for", || {
        let s = server.stats();
        s.apns.delivered + s.dropped == 10
    });
    let stats = server.stats();
    assert!(stats.dropped >= 6, "{stats:?}");
    let badges: BTreeSet<u64> = apns
        .requests()
        .iter()
        .map(|r| r.json()["aps"]["badge"].as_u64().unwrap())
        .collect();
    assert!(
        badges.is_superset(&BTreeSet::from([7, 8, 9])),
        "the newest are kept: {badges:?}"
    );
}

#[test]
fn an_unreachable_provider_is_retried_and_given_up_without_delaying_results() {
    netlib::logging::init_for_tests();
    let pki = Pki::new("outage-down");
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", dead.local_addr().unwrap());
    drop(dead);
    let server = Server::bind(conf(&pki, &url, "PushRetryMax=2\nPushRetryBaseMs=10\n"))
        .unwrap()
        .spawn()
        .unwrap();
    let mut link = MsgLink::connect(server.local_addrs()[0]);
    let started = Instant::now();
    let tokens = (0..5)
        .map(|badge| token(1, 0x11, TOKEN, badge, 1))
        .collect();
    assert_eq!(link.push("hi", "{}", tokens), [0; 5]);
    assert!(started.elapsed() < Duration::from_millis(250));
    eventually(WAIT, "given up", || server.stats().apns.failed == 5);
    assert_eq!(server.stats().retried, 10);
}
