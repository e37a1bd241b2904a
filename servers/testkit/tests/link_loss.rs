//! Losing a back end: logins are refused with the original's reason while db_proxy_server or
//! route_server is down, msg_server reconnects by itself once it is back (the back-off starts
//! at 4 s, so these tests poll with a generous deadline) and chat resumes on the connections
//! that stayed open.

#![allow(clippy::unwrap_used)]

use std::thread;
use std::time::{Duration, Instant};

use testkit::{READY_TIMEOUT, TestCluster, TestUser};
use tt_client::ClientError;

const WAIT: Duration = Duration::from_secs(15);

/// Polls logins on msg_server `i` until one is refused with `code`.
fn wait_refused(cluster: &TestCluster, i: usize, user: &TestUser, code: i32) {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        match cluster.try_login(i, user) {
            Err(ClientError::LoginRefused { code: got, .. }) if got == code => return,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "login never refused with {code}: {:?}",
                    other.map(|(_, info)| info)
                );
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn db_proxy_outage_refuses_logins_then_msg_server_reconnects_and_chat_resumes() {
    let mut cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let carol = cluster.create_user("c");
    let a = cluster.login(0, &alice);
    let b = cluster.login(0, &bob);
    a.send_text(bob.id, "before").unwrap();
    assert_eq!(b.next_message(WAIT).unwrap().text, "before");

    cluster.stop_db();
    // REFUSE_REASON_NO_DB_SERVER.
    wait_refused(&cluster, 0, &carol, 3);
    wait_refused(&cluster, 1, &carol, 3);

    cluster.restart_db();
    cluster.wait_ready();
    let c = cluster.login(1, &carol);
    // The connections that stayed open chat again.
    a.send_text(bob.id, "after").unwrap();
    assert_eq!(b.next_message(WAIT).unwrap().text, "after");
    c.send_text(alice.id, "hello from the other side").unwrap();
    assert_eq!(
        a.next_message(WAIT).unwrap().text,
        "hello from the other side"
    );
}

#[test]
fn route_outage_refuses_logins_then_cross_server_chat_and_presence_resume() {
    let mut cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let carol = cluster.create_user("c");
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);

    cluster.stop_route();
    // REFUSE_REASON_NO_ROUTE_SERVER.
    wait_refused(&cluster, 0, &carol, 5);

    cluster.restart_route();
    cluster.wait_ready();
    // Both msg_servers re-sent their online users: bob (PC, other msg_server) is online.
    let status = a.users_status(&[bob.id]).unwrap();
    assert_eq!(status.user_stat_list[0].status, 1);
    a.send_text(bob.id, "through the new route").unwrap();
    assert_eq!(b.next_message(WAIT).unwrap().text, "through the new route");
}

#[test]
fn messages_stored_while_route_is_down_reach_the_other_msg_server_once_it_is_back() {
    let mut cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);

    cluster.stop_route();
    // Stored and acked without a route link: held until one is up again.
    let ack = a.send_text(bob.id, "while route was down").unwrap();
    cluster.restart_route();
    let got = b.next_message(WAIT).unwrap();
    assert_eq!(
        (got.text.as_str(), got.msg_id),
        ("while route was down", ack.msg_id)
    );
    let next = a.send_text(bob.id, "after").unwrap();
    let got = b.next_message(WAIT).unwrap();
    assert_eq!((got.text.as_str(), got.msg_id), ("after", next.msg_id));
}
