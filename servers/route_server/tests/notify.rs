//! Notifications caused by IMUserStatusUpdate (BEHAVIOUR §6.3): IMServerPCLoginStatusNotify and
//! IMUserStatNotify go to every link, the reporting one included.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const U: u32 = 1001;

/// Two links; `a` reports `setup`, both drained; then `a` reports `change` and the notes each
/// link received are returned (they must be equal).
fn after(setup: &[(u32, i32)], change: (u32, i32)) -> Vec<Note> {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b) = (FakeMsgServer::connect(addr), FakeMsgServer::connect(addr));
    b.sync();
    for &(status, client_type) in setup {
        a.status(U, status, client_type);
    }
    a.sync();
    b.sync();
    a.status(U, change.0, change.1);
    let seen_a = notes(&a.sync());
    let seen_b = notes(&b.sync());
    assert_eq!(seen_a, seen_b, "origin and other links hear the same");
    seen_a
}

#[test]
fn pc_login_of_a_new_user_sends_pc_login_on_and_online_to_every_link() {
    assert_eq!(
        after(&[], (ONLINE, WINDOWS)),
        [Note::PcLogin(U, 1), Note::Stat(U, 1)]
    );
}

#[test]
fn second_pc_login_sends_the_same_again() {
    assert_eq!(
        after(&[(ONLINE, MAC)], (ONLINE, WINDOWS)),
        [Note::PcLogin(U, 1), Note::Stat(U, 1)]
    );
}

#[test]
fn mobile_login_while_a_pc_is_online_sends_pc_login_on_only() {
    assert_eq!(
        after(&[(ONLINE, WINDOWS)], (ONLINE, ANDROID)),
        [Note::PcLogin(U, 1)]
    );
}

#[test]
fn mobile_login_without_a_pc_sends_nothing() {
    assert_eq!(after(&[], (ONLINE, IOS)), []);
}

#[test]
fn pc_logout_while_another_pc_remains_sends_nothing() {
    assert_eq!(
        after(&[(ONLINE, WINDOWS), (ONLINE, MAC)], (OFFLINE, WINDOWS)),
        []
    );
}

#[test]
fn last_pc_logout_with_a_mobile_left_sends_pc_login_off_and_offline() {
    assert_eq!(
        after(&[(ONLINE, WINDOWS), (ONLINE, ANDROID)], (OFFLINE, WINDOWS)),
        [Note::PcLogin(U, 0), Note::Stat(U, 2)]
    );
}

#[test]
fn logout_of_the_last_client_sends_only_offline() {
    // The user is deleted when its last count reaches zero, so no PC-login notification.
    assert_eq!(
        after(&[(ONLINE, WINDOWS)], (OFFLINE, WINDOWS)),
        [Note::Stat(U, 2)]
    );
}

#[test]
fn mobile_logout_sends_nothing() {
    assert_eq!(
        after(&[(ONLINE, WINDOWS), (ONLINE, IOS)], (OFFLINE, IOS)),
        []
    );
    assert_eq!(after(&[(ONLINE, IOS)], (OFFLINE, IOS)), []);
}

#[test]
fn pc_leave_is_counted_online_and_broadcast_as_leave() {
    assert_eq!(
        after(&[], (LEAVE, MAC)),
        [Note::PcLogin(U, 1), Note::Stat(U, 3)]
    );
}

#[test]
fn pc_offline_for_an_unknown_user_still_broadcasts_offline() {
    assert_eq!(after(&[], (OFFLINE, WINDOWS)), [Note::Stat(U, 2)]);
}

#[test]
fn status_update_with_an_unknown_client_type_is_ignored() {
    assert_eq!(after(&[], (ONLINE, 0x33)), []);
}

/// The original keeps a msg_server in the user's set after its last client of the user left
/// while another msg_server still had one, so the user still "exists" when that other
/// msg_server's last PC client logs out: the PC-login OFF goes out as well.
#[test]
fn last_pc_logout_after_the_mobile_left_another_server_sends_pc_login_off_and_offline() {
    let server = start();
    let addr = server.local_addrs()[0];
    let (mut a, mut b, mut c) = (
        FakeMsgServer::connect(addr),
        FakeMsgServer::connect(addr),
        FakeMsgServer::connect(addr),
    );
    a.status(U, ONLINE, WINDOWS);
    a.sync();
    b.status(U, ONLINE, ANDROID);
    b.status(U, OFFLINE, ANDROID);
    b.sync();
    a.sync();
    c.sync();
    a.status(U, OFFLINE, WINDOWS);
    let expected = [Note::PcLogin(U, 0), Note::Stat(U, 2)];
    assert_eq!(notes(&a.sync()), expected);
    assert_eq!(notes(&b.sync()), expected);
    assert_eq!(notes(&c.sync()), expected);
    assert_eq!(c.query(&[U]), [(U, OFFLINE as i32)]);
    // Still there for a PC logout reported by a server that never had the user.
    c.status(U, OFFLINE, MAC);
    assert_eq!(notes(&c.sync()), expected);
    assert_eq!(notes(&b.sync()), expected);
    // b's own next offline report takes it out of the set, and the user is gone.
    b.status(U, OFFLINE, ANDROID);
    assert!(b.sync().is_empty());
    c.status(U, OFFLINE, MAC);
    assert_eq!(notes(&c.sync()), [Note::Stat(U, 2)]);
}
