//! File-transfer signalling end to end: msg_server asks file_server for tasks, tells both
//! parties where to connect (across msg_servers through route_server), and keeps offline-file
//! records in db_proxy_server (BEHAVIOUR §5.1).

#![allow(clippy::unwrap_used)]

use std::thread;
use std::time::{Duration, Instant};

use prost::Message;
use testkit::{READY_TIMEOUT, TestCluster};
use tt_client::pb::base_define::{ClientType, TransferFileType, UserStatType};
use tt_client::pb::buddy::ImUserStatNotify;
use tt_client::pb::file::{ImFileNotify, ImFileRsp};
use tt_client::{Client, CommandId};

const WAIT: Duration = Duration::from_secs(15);

/// Requests a transfer, retrying while msg_server's file_server link is still coming up.
fn request(client: &Client, to: u32, name: &str, mode: TransferFileType) -> ImFileRsp {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let rsp = client.file_request(to, name, 1234, mode).unwrap();
        if rsp.result_code == 0 {
            return rsp;
        }
        assert!(Instant::now() < deadline, "file_server never took a task");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn online_transfer_gets_a_task_and_the_recipient_on_another_msg_server_is_told() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let b = cluster.login_as(1, &bob, ClientType::Mac);
    // msg_server asks route_server whether bob is online; route_server learns it from bob's
    // msg_server a moment after his login answer. Alice (a PC client) hears of his login
    // through route_server, so once she has, the question gets "online".
    a.wait_for_matching("bob online", WAIT, |p| {
        p.command() == Some(CommandId::BuddyListStatusNotify)
            && ImUserStatNotify::decode(p.body.as_slice()).is_ok_and(|n| {
                n.user_stat.user_id == bob.id
                    && n.user_stat.status == UserStatType::UserStatusOnline as i32
            })
    })
    .unwrap();
    let rsp = request(&a, bob.id, "notes.txt", TransferFileType::FileTypeOnline);
    assert_eq!((rsp.from_user_id, rsp.to_user_id), (alice.id, bob.id));
    assert_eq!(rsp.trans_mode, TransferFileType::FileTypeOnline as i32);
    assert_eq!(rsp.task_id.len(), 36, "a UUID");
    let file_addr = cluster.file_client_addr();
    assert!(
        rsp.ip_addr_list
            .iter()
            .any(|ip| ip.ip == "127.0.0.1" && ip.port == u32::from(file_addr.port()))
    );
    let n: ImFileNotify = b.wait_for_parsed(CommandId::FileNotify, WAIT).unwrap();
    assert_eq!((n.from_user_id, n.to_user_id), (alice.id, bob.id));
    assert_eq!(
        (n.task_id.as_str(), n.file_name.as_str()),
        (rsp.task_id.as_str(), "notes.txt")
    );
    assert_eq!((n.file_size, n.offline_ready), (1234, 0));
}

#[test]
fn online_request_to_an_offline_user_becomes_an_offline_transfer() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let rsp = request(&a, bob.id, "late.bin", TransferFileType::FileTypeOnline);
    assert_eq!(rsp.trans_mode, TransferFileType::FileTypeOffline as i32);
}

#[test]
fn offline_file_records_are_listed_for_the_recipient_and_deleted_by_it() {
    let cluster = TestCluster::start();
    let alice = cluster.create_user("a");
    let bob = cluster.create_user("b");
    let a = cluster.login(0, &alice);
    let rsp = request(&a, bob.id, "report.pdf", TransferFileType::FileTypeOffline);
    a.add_offline_file(bob.id, &rsp.task_id, "report.pdf", 1234)
        .unwrap();

    let b = cluster.login(1, &bob);
    let deadline = Instant::now() + WAIT;
    let list = loop {
        let list = b.has_offline_file().unwrap();
        if !list.offline_file_list.is_empty() {
            break list;
        }
        assert!(Instant::now() < deadline, "offline file never listed");
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(list.user_id, bob.id);
    assert_eq!(list.attach_data, None);
    let f = &list.offline_file_list[0];
    assert_eq!(
        (f.from_user_id, f.task_id.as_str()),
        (alice.id, rsp.task_id.as_str())
    );
    assert_eq!((f.file_name.as_str(), f.file_size), ("report.pdf", 1234));
    assert!(!list.ip_addr_list.is_empty(), "download addresses appended");

    // Someone else cannot delete it; the recipient can.
    let mallory = cluster.create_user("m");
    let m = cluster.login(0, &mallory);
    m.del_offline_file(alice.id, bob.id, &rsp.task_id).unwrap();
    // Same link, answered in order: had the delete been forwarded, it is done by now.
    m.has_offline_file().unwrap();
    assert_eq!(b.has_offline_file().unwrap().offline_file_list.len(), 1);
    b.del_offline_file(alice.id, bob.id, &rsp.task_id).unwrap();
    let deadline = Instant::now() + WAIT;
    while !b.has_offline_file().unwrap().offline_file_list.is_empty() {
        assert!(Instant::now() < deadline, "offline file never deleted");
        thread::sleep(Duration::from_millis(50));
    }
}
