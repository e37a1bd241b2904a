//! Push notifications end to end: a phone registers its token, a message to it makes the
//! sender's msg_server fetch the tokens from db_proxy_server, decrypt the text, ask
//! route_server about PC presence and hand the push to push_server, which accepts it for APNs
//! with the notification text (BEHAVIOUR §4, §10).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use push_server::Provider;
use testkit::{TestCluster, TestUser};
use tt_client::Client;
use tt_client::pb::base_define::ClientType;

const WAIT: Duration = Duration::from_secs(15);

/// The iOS device token of `user`: one per user, since a token belongs to one user at a time
/// (tests run in parallel).
fn token(user: &TestUser) -> String {
    format!("ab{:062x}", user.id)
}

/// Registers `user`'s token for `phone` and waits until db_proxy stored it: a later request on
/// the same link is answered after it.
fn register_token(phone: &Client, user: &TestUser) {
    phone.set_device_token(&token(user)).unwrap();
    phone.all_users(u32::MAX).unwrap();
}

fn users(cluster: &TestCluster) -> (TestUser, TestUser) {
    (cluster.create_user("pa"), cluster.create_user("pb"))
}

#[test]
fn a_message_to_a_phone_is_pushed_with_the_sender_nick_and_text() {
    let cluster = TestCluster::start();
    let (alice, bob) = users(&cluster);
    let a = cluster.login(0, &alice);
    let phone = cluster.login_as(1, &bob, ClientType::Ios);
    register_token(&phone, &bob);

    a.send_text(bob.id, "hi").unwrap();
    assert_eq!(phone.next_message(WAIT).unwrap().text, "hi");
    let push = cluster.next_push(WAIT).expect("no push");
    assert_eq!(push.provider, Provider::Apns);
    assert_eq!(
        (push.user_id, push.token.as_str()),
        (bob.id, token(&bob).as_str())
    );
    assert_eq!(&*push.flash, format!("{}:hi", alice.nick));
    // No PC client of bob is online anywhere: a normal push, with sound.
    assert!(!push.silent);
    // msg_server's `data` JSON text, passed on as the payload's "custom".
    let data = format!("\"from_id\": {},\n\t\"msg_type\": 1 ", alice.id);
    assert!(push.data.contains(&data), "data JSON: {}", push.data);
}

#[test]
fn the_push_is_silent_while_a_pc_client_of_the_recipient_is_online() {
    let cluster = TestCluster::start();
    let (alice, bob) = users(&cluster);
    let a = cluster.login(0, &alice);
    let phone = cluster.login_as(1, &bob, ClientType::Ios);
    register_token(&phone, &bob);
    let pc = cluster.login_as(1, &bob, ClientType::Windows);

    a.send_text(bob.id, "quiet").unwrap();
    assert_eq!(pc.next_message(WAIT).unwrap().text, "quiet");
    let push = cluster.next_push(WAIT).expect("no push");
    assert_eq!(push.token, token(&bob));
    assert!(push.silent, "silent: badge only");
}
