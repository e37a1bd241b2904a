//! push_server against an FCM double over HTTP/2 + TLS: the RS256 assertion exchanged at the
//! token endpoint, the cached access token, the v1 message for normal and silent pushes, dead
//! tokens, a revoked access token and token endpoint failures (PROTOCOL §11.1).

#![allow(clippy::unwrap_used)]

mod double;

use std::time::Duration;

use double::{Answer, Double, MsgLink, Pki, Recorded, eventually, token, unix_now};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use netlib::Conf;
use push_server::{Config, Server, ServerHandle};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const DATA: &str = "{\"from_id\":12,\"msg_type\":1}";
const PRIVATE_KEY: &str = include_str!("fixtures/fcm-test-key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/fcm-test-key.pub.pem");
const EMAIL: &str = "push@tt-test.iam.gserviceaccount.com";
const SEND_PATH: &str = "/v1/projects/tt-test/messages:send";

struct Setup {
    server: ServerHandle,
    fcm: Double,
    _pki: Pki,
}

/// Answers the token endpoint with access tokens `ya29.test-<n>` valid for `expires_in`
/// seconds, and every send with `send`.
fn google(
    expires_in: u64,
    send: impl Fn(&Recorded, usize) -> Answer + Send + Sync + 'static,
) -> impl Fn(&Recorded, usize) -> Answer + Send + Sync + 'static {
    let issued = std::sync::atomic::AtomicUsize::new(0);
    move |r, n| {
        if r.path == "/token" {
            let i = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            Answer::status(
                200,
                &json!({"access_token": format!("ya29.test-{i}"), "expires_in": expires_in,
                        "token_type": "Bearer"})
                .to_string(),
            )
        } else {
            send(r, n)
        }
    }
}

fn start(name: &str, extra: &str) -> Setup {
    netlib::logging::init_for_tests();
    let pki = Pki::new(name);
    let fcm = Double::start(&pki, 0);
    fcm.respond(google(3600, |_, _| {
        Answer::status(200, r#"{"name":"projects/tt-test/messages/1"}"#)
    }));
    let account = json!({
        "type": "service_account",
        "project_id": "tt-test",
        "private_key_id": "k1",
        "private_key": PRIVATE_KEY,
        "client_email": EMAIL,
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let account_path = pki.write("service-account.json", &account.to_string());
    let conf = Conf::parse(&format!(
        "ListenIP=127.0.0.1\nListenPort=0\nSandBox=0\nFcmServiceAccountPath={}\nFcmHost={}\n\
         FcmTokenUri={}/token\nPushCaFile={}\nPushRetryBaseMs=20\n{extra}",
        account_path.display(),
        fcm.url(),
        fcm.url(),
        pki.ca_file().display()
    ));
    let server = Server::bind(Config::from_conf(&conf).unwrap())
        .unwrap()
        .spawn()
        .unwrap();
    Setup {
        server,
        fcm,
        _pki: pki,
    }
}

fn form_value<'a>(body: &'a str, key: &str) -> &'a str {
    body.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap()
}

#[test]
fn android_pushes_carry_notification_data_and_priority_with_a_cached_access_token() {
    let s = start("fcm-basic", "");
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    let before = unix_now();
    let codes = link.push(
        "张三:你好",
        DATA,
        vec![
            token(1, 0x12, "fcm-token-1", 4, 1),
            token(2, 0x12, "fcm-token-2", 0, 2),
            token(3, 0x11, &"ab".repeat(32), 1, 1),
        ],
    );
    // APNs is not configured: the iOS token is not pushed.
    assert_eq!(codes, [0, 0, 1]);
    let sends = s.fcm.wait_for(SEND_PATH, 2, WAIT);
    assert_eq!(sends.len(), 2);

    // One token exchange: an RS256 assertion by the service account's key.
    let tokens = s.fcm.wait_for("/token", 1, WAIT);
    assert_eq!(tokens.len(), 1);
    let body = String::from_utf8(tokens[0].body.clone()).unwrap();
    assert_eq!(
        form_value(&body, "grant_type"),
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    );
    let assertion = form_value(&body, "assertion");
    assert_eq!(
        jsonwebtoken::decode_header(assertion).unwrap().alg,
        Algorithm::RS256
    );
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[format!("{}/token", s.fcm.url())]);
    validation.set_issuer(&[EMAIL]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        assertion,
        &DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=unix_now()).contains(&iat));
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);

    for send in &sends {
        assert_eq!(send.method, "POST");
        assert_eq!(send.header("authorization"), Some("Bearer ya29.test-1"));
        assert_eq!(send.header("content-type"), Some("application/json"));
    }
    let normal = sends
        .iter()
        .map(Recorded::json)
        .find(|m| m["message"]["token"] == "fcm-token-1")
        .unwrap();
    assert_eq!(
        normal,
        json!({"message": {
            "token": "fcm-token-1",
            "notification": {"body": "张三:你好"},
            "data": {"custom": DATA, "badge": "4"},
            "android": {"priority": "high",
                        "notification": {"sound": "default", "notification_count": 4}},
        }})
    );
    let silent = sends
        .iter()
        .map(Recorded::json)
        .find(|m| m["message"]["token"] == "fcm-token-2")
        .unwrap();
    assert_eq!(
        silent,
        json!({"message": {
            "token": "fcm-token-2",
            "data": {"custom": DATA, "badge": "0"},
            "android": {"priority": "normal"},
        }})
    );
    eventually(WAIT, "delivered", || s.server.stats().fcm.delivered == 2);
    assert_eq!(s.server.stats().unroutable, 1);
}

#[test]
fn unregistered_and_invalid_tokens_are_dead_and_not_retried() {
    let s = start("fcm-dead", "");
    s.fcm.respond(google(3600, |r, _| {
        if r.json()["message"]["token"] == "gone" {
            Answer::status(
                404,
                r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}"#,
            )
        } else {
            Answer::status(
                400,
                r#"{"error":{"code":400,"message":"The registration token is not a valid FCM registration token","status":"INVALID_ARGUMENT"}}"#,
            )
        }
    }));
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    link.push(
        "hi",
        DATA,
        vec![
            token(1, 0x12, "gone", 1, 1),
            token(2, 0x12, "garbage", 1, 1),
        ],
    );
    eventually(WAIT, "dead tokens", || s.server.stats().fcm.token_dead == 2);
    assert_eq!(s.fcm.wait_for(SEND_PATH, 2, WAIT).len(), 2);
    assert_eq!(s.server.stats().retried, 0);
}

#[test]
fn a_revoked_access_token_is_replaced_and_an_expired_one_renewed() {
    // Access tokens valid for 61 s are kept for 1 s (a minute's margin).
    let s = start("fcm-renew", "");
    s.fcm.respond(google(61, |r, _| {
        if r.header("authorization") == Some("Bearer ya29.test-1") {
            Answer::status(401, r#"{"error":{"code":401,"status":"UNAUTHENTICATED"}}"#)
        } else {
            Answer::ok()
        }
    }));
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    link.push("hi", DATA, vec![token(1, 0x12, "t1", 1, 1)]);
    eventually(WAIT, "delivered", || s.server.stats().fcm.delivered == 1);
    assert_eq!(s.fcm.wait_for("/token", 2, WAIT).len(), 2);
    assert_eq!(s.server.stats().retried, 1);

    std::thread::sleep(Duration::from_millis(1200));
    link.push("hi", DATA, vec![token(1, 0x12, "t1", 1, 1)]);
    eventually(WAIT, "delivered again", || {
        s.server.stats().fcm.delivered == 2
    });
    let sends = s.fcm.wait_for(SEND_PATH, 3, WAIT);
    assert_eq!(sends[2].header("authorization"), Some("Bearer ya29.test-3"));
}

#[test]
fn token_endpoint_and_send_failures_are_retried() {
    let s = start("fcm-retry", "PushRetryMax=3\n");
    let fail_token = std::sync::atomic::AtomicBool::new(true);
    let ok = google(3600, |_, n| {
        if n < 3 {
            Answer::status(503, r#"{"error":{"code":503,"status":"UNAVAILABLE"}}"#)
        } else {
            Answer::ok()
        }
    });
    s.fcm.respond(move |r, n| {
        if r.path == "/token" && fail_token.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Answer::status(500, "{}")
        } else {
            ok(r, n)
        }
    });
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    link.push("hi", DATA, vec![token(1, 0x12, "t1", 1, 1)]);
    // Token endpoint 500 (retry 1), token ok + send 503 (retry 2), send ok.
    eventually(WAIT, "delivered", || s.server.stats().fcm.delivered == 1);
    assert_eq!(s.server.stats().retried, 2);
    assert_eq!(s.fcm.wait_for("/token", 2, WAIT).len(), 2);
    assert_eq!(s.fcm.wait_for(SEND_PATH, 2, WAIT).len(), 2);
}
