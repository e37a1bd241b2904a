//! Many links storing interleaved messages at once: nothing lost or duplicated, per-relation
//! message ids strictly increasing in storage order and gap-free, unread counters exact.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::thread;

use common::*;
use db_proxy_server::Config;
use mysql::prelude::Queryable;
use rand::Rng;
use redis::Commands;
use teamtalk_proto::pb::message::ImMsgData;
use teamtalk_proto::{CommandId, Pdu};

const LINKS: usize = 8;
const PER_LINK: usize = 1000;
const USERS: usize = 50;

#[test]
fn eight_links_storing_interleaved_messages_lose_nothing() {
    let mut db = db();
    let users = create_users(&mut db, &unique("cc"), USERS);
    let server = start_with(Config {
        thread_num: 8,
        ..config("http://127.0.0.1:9")
    });
    let addr = server.local_addrs()[0];
    let started = std::time::Instant::now();

    let threads: Vec<_> = (0..LINKS)
        .map(|_| {
            let users = users.clone();
            thread::spawn(move || {
                let mut rng = rand::rng();
                let mut link = Link::connect(addr);
                let mut sent = Vec::with_capacity(PER_LINK);
                for _ in 0..PER_LINK {
                    let from = users[rng.random_range(0..USERS)];
                    let mut to = users[rng.random_range(0..USERS)];
                    while to == from {
                        to = users[rng.random_range(0..USERS)];
                    }
                    let seq = link.send(
                        CommandId::MsgData,
                        &ImMsgData {
                            from_user_id: from,
                            to_session_id: to,
                            msg_id: 0,
                            create_time: now(),
                            msg_type: 1,
                            msg_data: text("load"),
                            attach_data: attach(from),
                        },
                    );
                    sent.push((seq, from, to));
                }
                let answers: Vec<Pdu> = (0..PER_LINK).map(|_| link.recv()).collect();
                (sent, answers)
            })
        })
        .collect();

    // (pair) -> msg ids answered; (to, from) -> messages sent.
    let mut ids: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
    let mut sent_count: HashMap<(u32, u32), u32> = HashMap::new();
    for t in threads {
        let (sent, answers) = t.join().unwrap();
        for ((seq, from, to), pdu) in sent.iter().zip(&answers) {
            // One link's answers come back in request order.
            assert_eq!(pdu.header.seq_num, *seq);
            let m: ImMsgData = pdu.parse().unwrap();
            assert_eq!((m.from_user_id, m.to_session_id), (*from, *to));
            assert_ne!(m.msg_id, 0, "message not stored");
            ids.entry((*from.min(to), *from.max(to)))
                .or_default()
                .push(m.msg_id);
            *sent_count.entry((*to, *from)).or_default() += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "stored {} messages in {elapsed:?} ({:.0}/s)",
        LINKS * PER_LINK,
        (LINKS * PER_LINK) as f64 / elapsed.as_secs_f64()
    );
    let total: usize = ids.values().map(Vec::len).sum();
    assert_eq!(total, LINKS * PER_LINK);

    for ((small, big), mut answered) in ids {
        answered.sort_unstable();
        let expected: Vec<u32> = (1..=answered.len() as u32).collect();
        assert_eq!(answered, expected, "ids of pair {small}-{big}");
        let relate: u32 = db
            .exec_first(
                "SELECT id FROM IMRelationShip WHERE smallId = ? AND bigId = ?",
                (small, big),
            )
            .unwrap()
            .unwrap();
        let stored: Vec<u32> = db
            .exec(
                format!(
                    "SELECT msgId FROM IMMessage_{} WHERE relateId = ? ORDER BY id",
                    relate % 8
                ),
                (relate,),
            )
            .unwrap();
        assert_eq!(
            stored, expected,
            "rows of pair {small}-{big} in storage order"
        );
        let relations: u32 = db
            .exec_first(
                "SELECT COUNT(*) FROM IMRelationShip WHERE smallId = ? AND bigId = ?",
                (small, big),
            )
            .unwrap()
            .unwrap();
        assert_eq!(relations, 1);
    }

    let mut r = redis(DB_UNREAD);
    for ((to, from), n) in sent_count {
        let counted: u32 = r.hget(format!("unread_{to}"), from).unwrap();
        assert_eq!(counted, n, "unread of {to} from {from}");
    }
    let sessions: u32 = db
        .exec_first(
            format!(
                "SELECT COUNT(*) FROM (SELECT userId, peerId FROM IMRecentSession WHERE userId IN ({}) \
                 GROUP BY userId, peerId, type HAVING COUNT(*) > 1) d",
                users.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
            ),
            (),
        )
        .unwrap()
        .unwrap();
    assert_eq!(sessions, 0, "duplicate sessions");
}

#[test]
fn device_token_queries_between_pipelined_messages_are_all_answered() {
    use teamtalk_proto::pb::server::{ImGetDeviceTokenReq, ImGetDeviceTokenRsp};

    let mut db = db();
    let users = create_users(&mut db, &unique("dt"), 2);
    let (from, to) = (users[0], users[1]);
    let server = start();
    let mut link = Link::to(&server);
    // What msg_server sends under load: each stored message followed by a token query, all
    // pipelined on one link, so the queries land inside runs of messages.
    let mut msg_seqs = Vec::new();
    for i in 0..40u32 {
        msg_seqs.push(link.send(
            CommandId::MsgData,
            &ImMsgData {
                from_user_id: from,
                to_session_id: to,
                msg_id: 0,
                create_time: now(),
                msg_type: 1,
                msg_data: text("hi"),
                attach_data: attach(from),
            },
        ));
        link.send(
            CommandId::OtherGetDeviceTokenReq,
            &ImGetDeviceTokenReq {
                user_id: vec![to],
                attach_data: Some(i.to_be_bytes().to_vec()),
            },
        );
    }
    let mut answered_msgs = Vec::new();
    let mut ids = Vec::new();
    let mut token_attach = Vec::new();
    for _ in 0..80 {
        let pdu = link.recv();
        match pdu.command() {
            Some(CommandId::MsgData) => {
                answered_msgs.push(pdu.header.seq_num);
                ids.push(pdu.parse::<ImMsgData>().unwrap().msg_id);
            }
            Some(CommandId::OtherGetDeviceTokenRsp) => {
                let rsp: ImGetDeviceTokenRsp = pdu.parse().unwrap();
                token_attach.push(rsp.attach_data.unwrap());
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    // Messages are answered in their order with consecutive ids; every query is answered.
    assert_eq!(answered_msgs, msg_seqs);
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    token_attach.sort();
    let want: Vec<Vec<u8>> = (0..40u32).map(|i| i.to_be_bytes().to_vec()).collect();
    assert_eq!(token_attach, want);
}
