//! The browser demo client (`WebClient=1`, docs/WEB_CLIENT.md) end to end: a real cluster
//! whose msg_servers offer `wss://` and whose login_server serves the page over HTTPS; headless
//! Chromium (through chromedriver) loads the page, is refused with a wrong password, logs in,
//! sees the contact and group lists, and exchanges 1:1 and group messages with a native
//! client on the plain TCP port, which decrypts what the page encrypted and the reverse.
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/services.sh --browser`).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use teamtalk_proto::crypto::{encrypt_text, md5_hex};
use teamtalk_transport::test_pki::Pki;
use testkit::webdriver::WebDriver;
use testkit::{AES_KEY, TestCluster};

const WAIT: Duration = Duration::from_secs(20);

fn cluster(pki: &Pki) -> TestCluster {
    let cert = pki.server_files().cert.display().to_string();
    let key = pki.server_files().key.display().to_string();
    let tls = [("TlsCertFile", cert.as_str()), ("TlsKeyFile", key.as_str())];
    let mut msg = vec![("WssListenPort", "0")];
    msg.extend(tls);
    let mut login = vec![("HttpsPort", "0"), ("WebClient", "1")];
    login.extend(tls);
    TestCluster::start_with_confs(&msg, &login)
}

/// The raw answer of login_server's plain HTTP port to `GET path`.
fn http_get(cluster: &TestCluster, path: &str) -> String {
    let url = cluster.login_http_url();
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches("/msg_server");
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn a_browser_logs_in_over_wss_and_chats_with_a_native_client() {
    let pki = Pki::new("web-client");
    let cluster = cluster(&pki);
    let alice = cluster.create_user("wa");
    let bob = cluster.create_user("wb");
    let group_name = testkit::unique_name("web group");
    let group = cluster.create_group(&group_name, alice.id, &[alice.id, bob.id], 1);
    let native = cluster.login(0, &bob);

    // The plain port serves the page too, with a policy that allows ws: there; unknown files
    // under /web/ are 404.
    let page = http_get(&cluster, "/web/");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("connect-src 'self' ws: wss:;"), "{page}");
    assert!(http_get(&cluster, "/web/nothing.js").starts_with("HTTP/1.1 404"));

    // The test CA is not in Chromium's store: certificate errors are ignored in this test only.
    let browser = WebDriver::start_with_args(&["--ignore-certificate-errors"]);
    let url = format!("https://{}/web/", cluster.login_https_addr());
    browser.goto(&url);
    browser.wait_for("id=\"login-form\"");

    // The page's MD5 and AES agree with the servers' byte for byte, on texts of every padding
    // case and on multi-byte UTF-8.
    for text in [
        "hello",
        "0123456789ab",
        "0123456789abc",
        "0123456789abcdef",
        "héllo 世界 ✓",
    ] {
        let got = browser.execute(
            "return [md5Hex(utf8(arguments[0])), encryptText(arguments[0], utf8(arguments[1])),
                     decryptText(arguments[2], utf8(arguments[1]))];",
            json!([
                text,
                AES_KEY,
                encrypt_text(text, AES_KEY.as_bytes().try_into().unwrap())
            ]),
        );
        let key: &[u8; 32] = AES_KEY.as_bytes().try_into().unwrap();
        assert_eq!(got, json!([md5_hex(text), encrypt_text(text, key), text]));
    }

    // A wrong password: a visible error, no chat.
    browser.type_into("#user", &alice.name);
    browser.type_into("#password", "not-the-password");
    browser.click("#login-button");
    browser.wait_for_text("#error", "wrong user name or password");
    assert!(
        browser
            .source()
            .contains("<section id=\"chat-view\" hidden=\"\">")
    );

    // The right one: the contact list (with department) and the group list.
    browser.clear("#password");
    browser.type_into("#password", &alice.password);
    browser.click("#login-button");
    browser.wait_for_text("#contacts", &bob.nick);
    browser.wait_for_text("#groups", &group_name);
    assert!(browser.text("#me").contains(&alice.nick));

    // 1:1, page → native: the native client decrypts the page's ciphertext.
    browser.click(&format!("[data-chat=\"u:{}\"]", bob.id));
    let text = "hello bob, from the browser: ü 世界";
    browser.type_into("#text", text);
    browser.click("#send");
    let got = native.next_message(WAIT).unwrap();
    assert_eq!((got.from, got.to_session), (alice.id, bob.id));
    assert_eq!(got.text, text);
    browser.wait_for_text("#messages", text);

    // 1:1, native → page.
    let reply = "hi alice, from tt_client ✓";
    native.send_text(alice.id, reply).unwrap();
    browser.wait_for_text("#messages", reply);

    // Group, page → native.
    browser.click(&format!("[data-chat=\"g:{group}\"]"));
    let text = "to the whole group";
    browser.type_into("#text", text);
    browser.click("#send");
    let got = native.next_message(WAIT).unwrap();
    assert_eq!((got.from, got.to_session), (alice.id, group));
    assert!(got.is_group());
    assert_eq!(got.text, text);

    // Group, native → page.
    let reply = "group answer from bob";
    native.send_group_text(group, reply).unwrap();
    browser.wait_for_text("#messages", reply);
    // Nothing went wrong on the way.
    assert_eq!(browser.text("#error"), "");
}

#[test]
fn a_page_loaded_over_plain_http_falls_back_to_ws() {
    // As scripts/cluster.sh runs it: no certificates, the page and the msg_server in the
    // clear (on loopback).
    let cluster = TestCluster::start_with_confs(&[("WsListenPort", "0")], &[("WebClient", "1")]);
    let alice = cluster.create_user("wa");
    let bob = cluster.create_user("wb");
    let native = cluster.login(1, &bob);
    let browser = WebDriver::start();
    let url = cluster.login_http_url().replace("/msg_server", "/web/");
    browser.goto(&url);
    browser.type_into("#user", &alice.name);
    browser.type_into("#password", &alice.password);
    browser.click("#login-button");
    browser.wait_for_text("#contacts", &bob.nick);
    assert!(browser.text("#status").contains("ws://"));
    browser.click(&format!("[data-chat=\"u:{}\"]", bob.id));
    native.send_text(alice.id, "over plain ws").unwrap();
    browser.wait_for_text("#messages", "over plain ws");
    browser.type_into("#text", "and back");
    browser.click("#send");
    assert_eq!(native.next_message(WAIT).unwrap().text, "and back");
}
