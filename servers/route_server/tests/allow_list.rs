//! `AllowedPeerIPs` (KNOWN_DEFECTS D-AUTH-10): a link from an address outside the list is
//! closed at accept and nothing it sent is processed; an allowed link is served. Every address
//! in 127.0.0.0/8 is loopback on Linux, so links from 127.0.0.2 come from a second address.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use netlib::PeerFilter;

const ON: i32 = ONLINE as i32;
const OFF: i32 = OFFLINE as i32;

#[test]
fn link_from_an_address_outside_the_allow_list_is_closed_unprocessed() {
    let server = start_with(|config| {
        config.allowed_peers = PeerFilter::parse_list("AllowedPeerIPs", "127.0.0.1").unwrap();
    });
    let addr = server.local_addrs()[0];

    let mut stranger = FakeMsgServer::connect_from("127.0.0.2", addr);
    stranger.status(7, ONLINE, WINDOWS);
    stranger.expect_closed();

    let mut allowed = FakeMsgServer::connect_from("127.0.0.1", addr);
    assert_eq!(
        allowed.query(&[7]),
        [(7, OFF)],
        "the stranger's report was processed"
    );
    allowed.status(8, ONLINE, WINDOWS);
    assert_eq!(allowed.query(&[8]), [(8, ON)]);
    server.shutdown().unwrap();
}

#[test]
fn without_the_key_loopback_links_are_served() {
    let server = start();
    let addr = server.local_addrs()[0];
    let mut link = FakeMsgServer::connect_from("127.0.0.2", addr);
    link.status(9, ONLINE, MAC);
    assert_eq!(link.query(&[9]), [(9, ON)]);
    server.shutdown().unwrap();
}
