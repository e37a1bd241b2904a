//! Push delivery end to end: a real cluster whose push_server delivers to local APNs and FCM
//! doubles over HTTP/2 + TLS. An offline iOS user and an offline Android user each receive a
//! push with the right text and badge, a PC client online makes it silent, an APNs 410 has the
//! token cleared through db_proxy, and a hanging provider does not delay chat (BEHAVIOUR §4,
//! §10, PROTOCOL §11.1).

#![allow(clippy::unwrap_used)]

#[path = "../../push_server/tests/double/mod.rs"]
mod double;

use std::time::{Duration, Instant};

use double::{Answer, Double, Pki, Recorded, eventually};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::json;
use testkit::{TestCluster, TestUser};
use tt_client::pb::base_define::ClientType;

const WAIT: Duration = Duration::from_secs(20);
const FCM_KEY: &str = include_str!("../../push_server/tests/fixtures/fcm-test-key.pem");

fn ios_token(user: &TestUser) -> String {
    format!("cd{:062x}", user.id)
}

fn android_token(user: &TestUser) -> String {
    format!("fcm_{}-test", user.id)
}

/// A cluster whose push_server sends to `provider` (one double serving APNs, the FCM token
/// endpoint and FCM sends).
fn start(pki: &Pki, provider: &Double) -> TestCluster {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let p8 = pki.write("AuthKey.p8", &key.serialize_pem());
    let account = json!({
        "type": "service_account",
        "project_id": "tt-e2e",
        "private_key": FCM_KEY,
        "client_email": "push@tt-e2e.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", provider.url()),
    });
    let account_path = pki.write("sa.json", &account.to_string());
    TestCluster::start_delivering(&format!(
        "ApnsKeyPath={}\nApnsKeyId=E2EKEY0001\nApnsTeamId=E2ETEAM001\nApnsTopic=com.example.tt\n\
         ApnsHost={url}\nFcmServiceAccountPath={}\nFcmHost={url}\nPushCaFile={}\n\
         PushRetryBaseMs=20\nPushRetryMax=1\n",
        p8.display(),
        account_path.display(),
        pki.ca_file().display(),
        url = provider.url(),
    ))
}

/// Google's token endpoint, then `send` for APNs and FCM sends.
fn provider_answers(double: &Double, send: impl Fn(&Recorded) -> Answer + Send + Sync + 'static) {
    double.respond(move |r, _| {
        if r.path == "/token" {
            Answer::status(
                200,
                r#"{"access_token":"ya29.e2e","expires_in":3600,"token_type":"Bearer"}"#,
            )
        } else {
            send(r)
        }
    });
}

/// The requests for `token` once there are `n` of them, or after `wait`.
fn for_token_within(double: &Double, token: &str, n: usize, wait: Duration) -> Vec<Recorded> {
    let deadline = Instant::now() + wait;
    loop {
        let got: Vec<Recorded> = double
            .requests()
            .into_iter()
            .filter(|r| {
                r.path.ends_with(token)
                    || (r.path.ends_with("messages:send") && r.json()["message"]["token"] == token)
            })
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn for_token(double: &Double, token: &str, n: usize) -> Vec<Recorded> {
    for_token_within(double, token, n, WAIT)
}

#[test]
fn offline_phones_are_pushed_silent_with_a_pc_online_and_a_dead_token_is_cleared() {
    let pki = Pki::new("e2e-push");
    let provider = Double::start(&pki, 0);
    provider_answers(&provider, |_| Answer::ok());
    let cluster = start(&pki, &provider);
    let (alice, bob, carol) = (
        cluster.create_user("ea"),
        cluster.create_user("eb"),
        cluster.create_user("ec"),
    );
    // Both phones register their token and go away.
    {
        let phone = cluster.login_as(1, &bob, ClientType::Ios);
        phone.set_device_token(&ios_token(&bob)).unwrap();
        phone.all_users(u32::MAX).unwrap();
        let phone = cluster.login_as(1, &carol, ClientType::Android);
        phone.set_device_token(&android_token(&carol)).unwrap();
        phone.all_users(u32::MAX).unwrap();
    }
    let a = cluster.login(0, &alice);

    a.send_text(bob.id, "hi bob").unwrap();
    a.send_text(carol.id, "hi carol").unwrap();
    let apns = for_token(&provider, &ios_token(&bob), 1);
    assert_eq!(apns.len(), 1, "bob's iPhone is pushed");
    assert_eq!(apns[0].header("apns-push-type"), Some("alert"));
    assert_eq!(apns[0].header("apns-topic"), Some("com.example.tt"));
    let aps = &apns[0].json()["aps"];
    assert_eq!(aps["alert"]["body"], format!("{}:hi bob", alice.nick));
    assert_eq!(aps["badge"], 1);
    assert_eq!(aps["sound"], "bingbong.aiff");
    let fcm = for_token(&provider, &android_token(&carol), 1);
    assert_eq!(fcm.len(), 1, "carol's Android phone is pushed");
    assert_eq!(fcm[0].header("authorization"), Some("Bearer ya29.e2e"));
    let message = &fcm[0].json()["message"];
    assert_eq!(
        message["notification"]["body"],
        format!("{}:hi carol", alice.nick)
    );
    assert_eq!(message["data"]["badge"], "1");
    assert_eq!(message["android"]["priority"], "high");

    // bob's PC is online: the push is silent, and the badge counts both unread messages.
    let pc = cluster.login_as(0, &bob, ClientType::Windows);
    a.send_text(bob.id, "again").unwrap();
    assert_eq!(pc.next_message(WAIT).unwrap().text, "again");
    let apns = for_token(&provider, &ios_token(&bob), 2);
    assert_eq!(apns.len(), 2);
    assert_eq!(apns[1].header("apns-push-type"), Some("background"));
    assert_eq!(
        apns[1].json()["aps"],
        json!({"badge": 2, "content-available": 1})
    );

    // Apple says the token is gone: it is cleared, and bob is not pushed again.
    provider_answers(&provider, |r| {
        if r.path.starts_with("/3/device/") {
            Answer::status(410, r#"{"reason":"Unregistered"}"#)
        } else {
            Answer::ok()
        }
    });
    a.send_text(bob.id, "gone?").unwrap();
    assert_eq!(for_token(&provider, &ios_token(&bob), 3).len(), 3);
    eventually(WAIT, "token cleared", || {
        cluster.push_stats().is_some_and(|s| s.tokens_cleared == 1)
    });
    // The clear went out before this message was stored (one tick, then chat round trips).
    std::thread::sleep(Duration::from_millis(500));
    a.send_text(bob.id, "still there?").unwrap();
    assert_eq!(pc.next_message(WAIT).unwrap().text, "gone?");
    assert_eq!(pc.next_message(WAIT).unwrap().text, "still there?");
    a.send_text(carol.id, "marker").unwrap();
    assert_eq!(for_token(&provider, &android_token(&carol), 2).len(), 2);
    // bob's push for "still there?" would have gone out before carol's marker.
    assert_eq!(
        for_token_within(&provider, &ios_token(&bob), 4, Duration::from_secs(1)).len(),
        3,
        "no push to the cleared token"
    );
}

#[test]
fn a_hanging_provider_does_not_delay_chat() {
    let pki = Pki::new("e2e-outage");
    let provider = Double::start(&pki, 0);
    provider.respond(|_, _| Answer {
        delay: Duration::from_secs(8),
        ..Answer::ok()
    });
    let cluster = start(&pki, &provider);
    let (alice, bob) = (cluster.create_user("oa"), cluster.create_user("ob"));
    {
        let phone = cluster.login_as(1, &bob, ClientType::Ios);
        phone.set_device_token(&ios_token(&bob)).unwrap();
        phone.all_users(u32::MAX).unwrap();
    }
    let a = cluster.login(0, &alice);
    let pc = cluster.login_as(1, &bob, ClientType::Windows);
    for i in 0..5 {
        let started = Instant::now();
        a.send_text(bob.id, &format!("m{i}")).unwrap();
        assert_eq!(pc.next_message(WAIT).unwrap().text, format!("m{i}"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "chat delayed: {:?}",
            started.elapsed()
        );
    }
    // The pushes did reach the (slow) provider.
    assert!(!for_token(&provider, &ios_token(&bob), 1).is_empty());
}
