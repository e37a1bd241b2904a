//! push_server against an APNs double over HTTP/2 + TLS: the ES256 provider JWT and its
//! claims, the headers, the JSON payload, normal and silent pushes, one multiplexed
//! connection, reconnection after GOAWAY, retries and dead tokens (PROTOCOL §11.1).

#![allow(clippy::unwrap_used)]

mod double;

use std::time::Duration;

use double::{Answer, Double, MsgLink, Pki, eventually, token, unix_now};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use netlib::Conf;
use push_server::{Config, Server, ServerHandle};
use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN_A: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const TOKEN_B: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const DATA: &str = "{\"from_id\":12,\"msg_type\":1}";

struct Setup {
    server: ServerHandle,
    apns: Double,
    public_key: String,
    _pki: Pki,
}

fn start(name: &str, goaway_after: usize, extra: &str) -> Setup {
    netlib::logging::init_for_tests();
    let pki = Pki::new(name);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let key_path = pki.write("AuthKey_KEY1234567.p8", &key.serialize_pem());
    let apns = Double::start(&pki, goaway_after);
    let conf = Conf::parse(&format!(
        "ListenIP=127.0.0.1\nListenPort=0\nSandBox=1\nApnsKeyPath={}\nApnsKeyId=KEY1234567\n\
         ApnsTeamId=TEAM987654\nApnsTopic=com.example.teamtalk\nApnsHost={}\nPushCaFile={}\n\
         PushRetryBaseMs=20\n{extra}",
        key_path.display(),
        apns.url(),
        pki.ca_file().display()
    ));
    let server = Server::bind(Config::from_conf(&conf).unwrap())
        .unwrap()
        .spawn()
        .unwrap();
    Setup {
        server,
        apns,
        public_key: key.public_key_pem(),
        _pki: pki,
    }
}

#[test]
fn normal_and_silent_pushes_reach_apns_with_a_valid_jwt_headers_and_payload() {
    let s = start("apns-basic", 0, "");
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    let before = unix_now();
    let codes = link.push(
        "张三:你好",
        DATA,
        vec![
            token(1, 0x11, TOKEN_A, 5, 1),
            token(2, 0x11, TOKEN_B, 0, 2),
            token(3, 0x11, "abcd", 1, 1),
            token(4, 0x12, "android-token", 1, 1),
            token(5, 0x01, "pc", 1, 1),
        ],
    );
    // FCM is not configured: the Android token is not pushed.
    assert_eq!(codes, [0, 0, 1, 1, 1]);
    let requests = s.apns.wait_for("/3/device/", 2, WAIT);
    assert_eq!(requests.len(), 2);
    let normal = requests.iter().find(|r| r.path.ends_with(TOKEN_A)).unwrap();
    let silent = requests.iter().find(|r| r.path.ends_with(TOKEN_B)).unwrap();

    assert_eq!(normal.method, "POST");
    assert_eq!(normal.path, format!("/3/device/{TOKEN_A}"));
    assert_eq!(normal.header("apns-topic"), Some("com.example.teamtalk"));
    assert_eq!(normal.header("apns-push-type"), Some("alert"));
    assert_eq!(normal.header("apns-priority"), Some("10"));
    let expiration: u64 = normal.header("apns-expiration").unwrap().parse().unwrap();
    assert!((before + 3600..=unix_now() + 3600).contains(&expiration));
    assert_eq!(
        normal.json(),
        json!({
            "aps": {"alert": {"body": "张三:你好"}, "badge": 5, "sound": "bingbong.aiff"},
            "custom": DATA,
        })
    );
    assert_eq!(silent.header("apns-push-type"), Some("background"));
    assert_eq!(silent.header("apns-priority"), Some("5"));
    assert_eq!(
        silent.json(),
        json!({"aps": {"badge": 0, "content-available": 1}, "custom": DATA})
    );

    // The JWT: ES256 by the .p8 key, kid = key id, iss = team id, iat = now; reused.
    let auth = normal.header("authorization").unwrap();
    let jwt = auth.strip_prefix("bearer ").unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("KEY1234567"));
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        jwt,
        &DecodingKey::from_ec_pem(s.public_key.as_bytes()).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["iss"], "TEAM987654");
    let iat = claims["iat"].as_u64().unwrap();
    assert!((before..=unix_now()).contains(&iat));
    assert_eq!(silent.header("authorization"), Some(auth));
    let other_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    assert!(
        jsonwebtoken::decode::<serde_json::Value>(
            jwt,
            &DecodingKey::from_ec_pem(other_key.public_key_pem().as_bytes()).unwrap(),
            &validation,
        )
        .is_err(),
        "the signature is checked"
    );
    eventually(WAIT, "delivered count", || {
        s.server.stats().apns.delivered == 2
    });
    assert_eq!(s.server.stats().unroutable, 3);
}

#[test]
fn many_pushes_share_one_connection_and_goaway_leads_to_a_new_one() {
    let s = start("apns-mux", 0, "");
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    let tokens = (0..40).map(|i| token(i, 0x11, TOKEN_A, i, 1)).collect();
    assert!(link.push("hi", DATA, tokens).iter().all(|&c| c == 0));
    let requests = s.apns.wait_for("/3/device/", 40, WAIT);
    assert_eq!(requests.len(), 40);
    assert!(
        requests.iter().all(|r| r.conn == 0),
        "one HTTP/2 connection"
    );

    let s = start("apns-goaway", 5, "");
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    for round in 0..3 {
        let tokens = (0..5).map(|i| token(i, 0x11, TOKEN_A, round, 1)).collect();
        link.push("hi", DATA, tokens);
        eventually(WAIT, "round delivered", || {
            s.server.stats().apns.delivered == 5 * (u64::from(round) + 1)
        });
    }
    let conns: std::collections::BTreeSet<usize> =
        s.apns.requests().iter().map(|r| r.conn).collect();
    assert!(conns.len() >= 2, "reconnected after GOAWAY: {conns:?}");
    assert_eq!(s.server.stats().apns.failed, 0);
}

#[test]
fn throttling_and_server_errors_are_retried_then_given_up() {
    let s = start("apns-retry", 0, "PushRetryMax=2\n");
    // First two tries fail (429, 503), the third succeeds.
    s.apns.respond(|_, n| match n {
        0 => Answer::status(429, r#"{"reason":"TooManyRequests"}"#),
        1 => Answer::status(503, r#"{"reason":"ServiceUnavailable"}"#),
        _ => Answer::ok(),
    });
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    link.push("hi", DATA, vec![token(1, 0x11, TOKEN_A, 1, 1)]);
    eventually(WAIT, "delivered after retries", || {
        s.server.stats().apns.delivered == 1
    });
    assert_eq!(s.apns.requests().len(), 3);
    assert_eq!(s.server.stats().retried, 2);

    // Always 500: one try and two retries, then counted as failed.
    s.apns
        .respond(|_, _| Answer::status(500, r#"{"reason":"InternalServerError"}"#));
    link.push("hi", DATA, vec![token(1, 0x11, TOKEN_A, 1, 1)]);
    eventually(WAIT, "given up", || s.server.stats().apns.failed == 1);
    assert_eq!(s.apns.requests().len(), 6);
    assert_eq!(s.server.stats().retried, 4);

    // A refusal that no retry can fix is not retried.
    s.apns
        .respond(|_, _| Answer::status(400, r#"{"reason":"PayloadTooLarge"}"#));
    link.push("hi", DATA, vec![token(1, 0x11, TOKEN_A, 1, 1)]);
    eventually(WAIT, "refused", || s.server.stats().apns.failed == 2);
    assert_eq!(s.apns.requests().len(), 7);
}

#[test]
fn dead_token_answers_are_counted_and_not_retried() {
    let s = start("apns-dead", 0, "MetricsPort=0\n");
    s.apns.respond(|r, _| {
        if r.path.ends_with(TOKEN_A) {
            Answer::status(
                410,
                r#"{"reason":"Unregistered","timestamp":1700000000000}"#,
            )
        } else {
            Answer::status(400, r#"{"reason":"BadDeviceToken"}"#)
        }
    });
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    link.push(
        "hi",
        DATA,
        vec![token(1, 0x11, TOKEN_A, 1, 1), token(2, 0x11, TOKEN_B, 1, 1)],
    );
    eventually(WAIT, "dead tokens", || {
        s.server.stats().apns.token_dead == 2
    });
    assert_eq!(s.apns.requests().len(), 2);
    assert_eq!(s.server.stats().retried, 0);
    // The metrics endpoint exports the same counters.
    let (status, body) =
        netlib::metrics::scrape(s.server.metrics_addr().unwrap(), "/metrics").unwrap();
    assert_eq!(status, 200);
    let sample = |series: &str| netlib::metrics::sample(&body, series);
    assert_eq!(
        sample("teamtalk_apns_pushes_total{outcome=\"token_dead\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample("teamtalk_apns_pushes_total{outcome=\"delivered\"}"),
        Some(0.0)
    );
    assert_eq!(sample("teamtalk_push_retries_total"), Some(0.0));
}

#[test]
fn an_expired_provider_token_is_replaced_and_the_push_retried() {
    let s = start("apns-expired", 0, "");
    s.apns.respond(|_, n| {
        if n == 0 {
            Answer::status(403, r#"{"reason":"ExpiredProviderToken"}"#)
        } else {
            Answer::ok()
        }
    });
    let mut link = MsgLink::connect(s.server.local_addrs()[0]);
    link.push("hi", DATA, vec![token(1, 0x11, TOKEN_A, 1, 1)]);
    eventually(WAIT, "delivered", || s.server.stats().apns.delivered == 1);
    let requests = s.apns.requests();
    assert_eq!(requests.len(), 2);
    // Signed anew (same second possible: the signature differs, ECDSA is randomised).
    assert_ne!(
        requests[0].header("authorization"),
        requests[1].header("authorization")
    );
}
