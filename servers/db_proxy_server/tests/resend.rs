//! Client resends and commits with an unknown outcome: a message sent again with the same
//! client `create_time` is stored once and answered with the first copy's id (marked a
//! duplicate), across db_proxy restarts and crashes between claim, commit and record; a commit
//! whose connection is lost at COMMIT is read back, never stored twice — and when it cannot be
//! read back, the next copy looks for its row before storing anything.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use db_proxy_server::ServerHandle;
use mysql::prelude::Queryable;
use redis::Commands;
use teamtalk_proto::pb::group::{ImGroupCreateReq, ImGroupCreateRsp};
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::{CommandId, MsgDataResend, Pdu};

/// A message as our msg_server forwards it: server `create_time`, the client's appended.
fn request(from: u32, to: u32, msg_type: i32, text_: &str, client_time: Option<u32>) -> Vec<u8> {
    let mut body = prost::Message::encode_to_vec(&ImMsgData {
        from_user_id: from,
        to_session_id: to,
        msg_id: 0,
        create_time: now(),
        msg_type,
        msg_data: text(text_),
        attach_data: attach(1),
    });
    MsgDataResend {
        client_create_time: client_time,
        duplicate: None,
    }
    .append_to(&mut body);
    body
}

/// Sends a message, returns (msg id, marked duplicate).
fn send(link: &mut Link, body: Vec<u8>) -> (u32, bool) {
    link.send_raw(CommandId::MsgData, body);
    let rsp: Pdu = link.recv();
    assert_eq!(rsp.command(), Some(CommandId::MsgData));
    let data: ImMsgData = rsp.parse().unwrap();
    (data.msg_id, MsgDataResend::is_duplicate(&rsp.body))
}

fn single(link: &mut Link, from: u32, to: u32, text_: &str, t: Option<u32>) -> (u32, bool) {
    send(link, request(from, to, 1, text_, t))
}

fn rows(db: &mut mysql::Conn, a: u32, b: u32) -> Vec<u32> {
    let relate: Option<u32> = db
        .exec_first(
            "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?",
            (a.min(b), a.max(b)),
        )
        .unwrap();
    let Some(relate) = relate else {
        return Vec::new();
    };
    db.exec(
        format!(
            "SELECT msgId FROM IMMessage_{} WHERE relateId = ? ORDER BY msgId",
            relate % 8
        ),
        (relate,),
    )
    .unwrap()
}

fn unread(from: u32, to: u32) -> u32 {
    redis(DB_UNREAD)
        .hget::<_, _, Option<u32>>(format!("unread_{to}"), from)
        .unwrap()
        .unwrap_or(0)
}

#[test]
fn a_resent_message_is_stored_once_and_acked_with_the_first_id() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("rs"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    let t = now() - 5;
    assert_eq!(single(&mut link, a, b, "hi", Some(t)), (1, false));
    assert_eq!(single(&mut link, a, b, "hi", Some(t)), (1, true));
    // The same text at another client time, and a message from a server that does not pass
    // the client time (the C++ msg_server), are new messages.
    assert_eq!(single(&mut link, a, b, "hi", Some(t + 1)), (2, false));
    assert_eq!(single(&mut link, a, b, "hi", None), (3, false));
    assert_eq!(single(&mut link, a, b, "hi", None), (4, false));
    assert_eq!(rows(&mut db, a, b), [1, 2, 3, 4]);
    assert_eq!(unread(a, b), 4, "the copy is not counted");

    // Another db_proxy, after this one is gone, still knows it.
    drop(link);
    server.shutdown().unwrap();
    let server = start();
    let mut link = Link::to(&server);
    assert_eq!(single(&mut link, a, b, "hi", Some(t + 1)), (2, true));
    assert_eq!(rows(&mut db, a, b), [1, 2, 3, 4]);
}

#[test]
fn a_resent_group_message_is_stored_once() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("rg"), 2);
    let server = start();
    let mut link = Link::to(&server);
    let rsp: ImGroupCreateRsp = link.call(
        CommandId::GroupCreateRequest,
        &ImGroupCreateReq {
            user_id: ids[0],
            group_type: 2,
            group_name: "resend".into(),
            group_avatar: String::new(),
            member_id_list: ids.clone(),
            attach_data: attach(1),
        },
        CommandId::GroupCreateResponse,
    );
    let gid = rsp.group_id.unwrap();
    let t = now();
    assert_eq!(
        send(&mut link, request(ids[1], gid, 0x11, "g", Some(t))),
        (1, false)
    );
    assert_eq!(
        send(&mut link, request(ids[1], gid, 0x11, "g", Some(t))),
        (1, true)
    );
    let stored: Vec<u32> = db
        .exec(
            format!(
                "SELECT msgId FROM IMGroupMessage_{} WHERE groupId = ?",
                gid % 8
            ),
            (gid,),
        )
        .unwrap();
    assert_eq!(stored, [1]);
}

/// Writes a resend record as a db_proxy that died at some step would have left it.
fn leave_record(from: u32, to: u32, text_: &str, t: u32, value: &str) {
    let body = request(from, to, 1, text_, Some(t));
    let data: ImMsgData = prost::Message::decode(&body[..]).unwrap();
    let mut md5 = <md5::Md5 as md5::Digest>::new();
    md5::Digest::update(&mut md5, to.to_be_bytes());
    md5::Digest::update(&mut md5, 1u32.to_be_bytes());
    md5::Digest::update(&mut md5, t.to_be_bytes());
    md5::Digest::update(&mut md5, &data.msg_data);
    let field = hex::encode(md5::Digest::finalize(md5));
    let _: () = redis(DB_UNREAD)
        .hset(format!("msg_resend_{from}_{}", t / 60), field, value)
        .unwrap();
}

#[test]
fn claims_left_by_a_crashed_db_proxy_block_only_for_their_lifetime_and_never_duplicate() {
    let mut db = db();
    let ids = create_users(&mut db, &unique("rc"), 2);
    let (a, b) = (ids[0], ids[1]);
    let server = start();
    let mut link = Link::to(&server);
    let t = now() - 30;
    let young = now();
    let stale = now() - 600;

    // Claimed without an id a moment ago: another attempt is storing it; not now.
    leave_record(a, b, "one", t, &format!("c{young}"));
    assert_eq!(single(&mut link, a, b, "one", Some(t)), (0, false));
    // The same claim from long ago: the attempt died; stored now.
    leave_record(a, b, "one", t, &format!("c{stale}"));
    assert_eq!(single(&mut link, a, b, "one", Some(t)), (1, false));
    assert_eq!(single(&mut link, a, b, "one", Some(t)), (1, true));

    // Id 1 allocated and committed, the record never written (died after the commit).
    leave_record(a, b, "one", t, &format!("p{young}:1"));
    assert_eq!(single(&mut link, a, b, "one", Some(t)), (1, true));
    // An id allocated whose row never came: young, wait; stale, store anew.
    leave_record(a, b, "two", t, &format!("p{young}:77"));
    assert_eq!(single(&mut link, a, b, "two", Some(t)), (0, false));
    leave_record(a, b, "two", t, &format!("p{stale}:77"));
    let (id, dup) = single(&mut link, a, b, "two", Some(t));
    assert!(id > 1 && !dup, "{id} {dup}");
    assert_eq!(rows(&mut db, a, b), [1, id]);

    // A young claim of a process that is alive waits; of one that is gone (killed: its alive
    // key expired), it is taken over at once.
    let live = format!("live{}", std::process::id());
    let _: () = redis(DB_UNREAD)
        .set_ex(format!("db_proxy_alive_{live}"), 1, 60)
        .unwrap();
    leave_record(a, b, "three", t, &format!("c{young}@{live}"));
    assert_eq!(single(&mut link, a, b, "three", Some(t)), (0, false));
    leave_record(
        a,
        b,
        "three",
        t,
        &format!("c{young}@gone{}", std::process::id()),
    );
    let (three, dup) = single(&mut link, a, b, "three", Some(t));
    assert!(three > id && !dup, "{three} {dup}");
    let _: () = redis(DB_UNREAD)
        .del(format!("db_proxy_alive_{live}"))
        .unwrap();
}

/// A MySQL relay that, once armed, lets the next COMMIT through, swallows MySQL's answer and
/// cuts the connection: the commit happened, its client cannot know. With `outage` set, the
/// cut takes every connection down with it and new ones are refused until `outage` is
/// cleared, so the outcome cannot be read back either.
struct CommitCutter {
    port: u16,
    armed: Arc<AtomicBool>,
    outage: Arc<AtomicBool>,
}

/// The client side of every relayed connection, to cut them all at once.
type Open = Arc<Mutex<Vec<TcpStream>>>;

impl CommitCutter {
    fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let outage = Arc::new(AtomicBool::new(false));
        let (armed2, outage2) = (armed.clone(), outage.clone());
        let open: Open = Arc::default();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if outage2.load(Ordering::SeqCst) && !armed2.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)) else {
                    continue;
                };
                open.lock().unwrap().push(client.try_clone().unwrap());
                let mute = Arc::new(AtomicBool::new(false));
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let cut = Cut {
                    armed: armed2.clone(),
                    mute: mute.clone(),
                    outage: outage2.clone(),
                    open: open.clone(),
                };
                thread::spawn(move || pump(c2, s2, Some(cut)));
                thread::spawn(move || pump_muted(server, client, mute));
            }
        });
        Self {
            port,
            armed,
            outage,
        }
    }
}

/// What the client-to-MySQL direction of a relayed connection needs to cut it at COMMIT.
struct Cut {
    armed: Arc<AtomicBool>,
    mute: Arc<AtomicBool>,
    outage: Arc<AtomicBool>,
    open: Open,
}

fn pump(mut from: TcpStream, mut to: TcpStream, cut: Option<Cut>) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // COM_QUERY (0x03) "COMMIT", not "SET TRANSACTION ... READ COMMITTED".
        let commit = buf[..n].ends_with(b"\x03COMMIT");
        let cutting = commit
            && cut
                .as_ref()
                .is_some_and(|c| c.armed.swap(false, Ordering::SeqCst));
        if cutting {
            if let Some(c) = &cut {
                c.mute.store(true, Ordering::SeqCst);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        if cutting {
            // Let MySQL apply the commit, then lose the connection before its answer.
            thread::sleep(Duration::from_millis(300));
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            if let Some(c) = cut.filter(|c| c.outage.load(Ordering::SeqCst)) {
                for stream in c.open.lock().unwrap().drain(..) {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
            return;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

fn pump_muted(mut from: TcpStream, mut to: TcpStream, mute: Arc<AtomicBool>) {
    let mut buf = [0u8; 16384];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if mute.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}

/// Two new users and a db_proxy whose master is reached through a [`CommitCutter`], with a
/// link to it.
fn behind_a_commit_cutter(
    tag: &str,
) -> (mysql::Conn, (u32, u32), CommitCutter, ServerHandle, Link) {
    let mut db = db();
    let ids = create_users(&mut db, &unique(tag), 2);
    let mut cfg = config("http://127.0.0.1:9");
    let cutter = CommitCutter::start((cfg.master.host.clone(), cfg.master.port));
    cfg.master.host = "127.0.0.1".to_owned();
    cfg.master.port = cutter.port;
    let server = start_with(cfg);
    let link = Link::to(&server);
    (db, (ids[0], ids[1]), cutter, server, link)
}

#[test]
fn a_commit_lost_with_its_connection_is_read_back_not_stored_again() {
    let (mut db, (a, b), cutter, _server, mut link) = behind_a_commit_cutter("rk");
    // The relation and sessions exist after the first message: the next COMMIT is the
    // message's own.
    assert_eq!(single(&mut link, a, b, "first", None).0, 1);
    cutter.armed.store(true, Ordering::SeqCst);
    let t = now();
    assert_eq!(single(&mut link, a, b, "cut", Some(t)), (2, false));
    assert!(!cutter.armed.load(Ordering::SeqCst), "no COMMIT was cut");
    assert_eq!(rows(&mut db, a, b), [1, 2]);
    // The client, had it lost the answer too, resends: still one row.
    assert_eq!(single(&mut link, a, b, "cut", Some(t)), (2, true));
    assert_eq!(rows(&mut db, a, b), [1, 2]);
}

#[test]
fn a_commit_that_cannot_be_read_back_is_looked_for_before_a_copy_is_stored() {
    let (mut db, (a, b), cutter, _server, mut link) = behind_a_commit_cutter("rd");
    assert_eq!(single(&mut link, a, b, "first", None).0, 1);
    // MySQL applies the commit, then every connection to it is lost until the outage ends:
    // the row cannot be read back, so the message is not acked (msg id 0).
    cutter.outage.store(true, Ordering::SeqCst);
    cutter.armed.store(true, Ordering::SeqCst);
    let t = now();
    assert_eq!(single(&mut link, a, b, "in doubt", Some(t)), (0, false));
    assert!(!cutter.armed.load(Ordering::SeqCst), "no COMMIT was cut");
    assert_eq!(rows(&mut db, a, b), [1, 2]);
    // MySQL is back; the client's copy finds the row and gets its id, and nothing is
    // stored twice.
    cutter.outage.store(false, Ordering::SeqCst);
    assert_eq!(single(&mut link, a, b, "in doubt", Some(t)), (2, true));
    assert_eq!(rows(&mut db, a, b), [1, 2]);
    // The conversation goes on with the next id.
    assert_eq!(single(&mut link, a, b, "after", Some(t + 1)), (3, false));
}
