//! http_msg_server's admin API against the real db_proxy_server and route_server of a
//! TestCluster: a group created and changed over HTTP, and a change db_proxy never answers
//! (a group that does not exist) answered as failed after `DBRequestTimeout` instead of
//! leaving the caller waiting for the 60-s idle timeout (KNOWN_DEFECTS D-HMS-3).

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use testkit::TestCluster;

const WAIT: Duration = Duration::from_secs(15);

/// POSTs `body` to `target` and returns the answer's body; panics if none comes within WAIT.
fn post(addr: SocketAddr, target: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("no answer to {target} within {WAIT:?}: {e}"));
    let text = String::from_utf8(out).unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    body.to_owned()
}

/// `error_code` of a styled JSON answer.
fn error_code(body: &str) -> i64 {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    value["error_code"].as_i64().unwrap()
}

/// Polls a parameter error (code 1, answered without db_proxy) until a db_proxy link is up
/// (code 10 before).
fn wait_for_db(addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    while error_code(&post(addr, "/query/CreateGroup", r#"{"req_user_id":1}"#)) != 1 {
        assert!(Instant::now() < deadline, "db_proxy links never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn groups_are_created_and_changed_over_http_on_the_real_db_proxy() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let carol = cluster.create_user("c");
    let server = cluster.start_http_msg_server("");
    let addr = server.local_addrs()[0];
    wait_for_db(addr);

    let create = format!(
        r#"{{"req_user_id":0,"app_key":"","group_name":"ops","group_type":1,
             "group_avatar":"","user_id_list":[{},{}]}}"#,
        alice.id, bob.id
    );
    let created: serde_json::Value =
        serde_json::from_str(&post(addr, "/query/CreateGroup", &create)).unwrap();
    assert_eq!(created["error_code"], 0, "{created}");
    let gid = created["group_id"].as_u64().unwrap();
    cluster.fixtures().adopt_group(u32::try_from(gid).unwrap());

    let change = format!(
        r#"{{"req_user_id":0,"app_key":"","group_id":{gid},"modify_type":1,
             "user_id_list":[{}]}}"#,
        carol.id
    );
    assert_eq!(error_code(&post(addr, "/query/ChangeMembers", &change)), 0);
    let a = cluster.login(0, &alice);
    let gid = u32::try_from(gid).unwrap();
    let listed = a.group_list().unwrap().group_version_list;
    assert!(listed.iter().any(|g| g.group_id == gid), "{listed:?}");
    let info = a.group_info(&[(gid, 0)]).unwrap().group_info_list;
    let mut members = info[0].group_member_list.clone();
    members.sort_unstable();
    let mut expected = vec![alice.id, bob.id, carol.id];
    expected.sort_unstable();
    assert_eq!(members, expected);
    server.shutdown().unwrap();
}

#[test]
fn a_change_db_proxy_never_answers_fails_with_code_12_after_the_configured_timeout() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let server = cluster.start_http_msg_server("DBRequestTimeout=1\n");
    let addr = server.local_addrs()[0];
    wait_for_db(addr);

    // db_proxy ignores a member change of a group that does not exist, as the original does.
    let change = format!(
        r#"{{"req_user_id":0,"app_key":"","group_id":{},"modify_type":1,
             "user_id_list":[{}]}}"#,
        u32::MAX - 7,
        alice.id
    );
    let asked = Instant::now();
    let body = post(addr, "/query/ChangeMembers", &change);
    assert_eq!(
        body,
        "{\n   \"error_code\" : 12,\n   \"error_msg\" : \"更改群成员失败\"\n}\n"
    );
    // Answered by the 1-s request timeout (checked every second), far from the 60-s idle one.
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    server.shutdown().unwrap();
}
