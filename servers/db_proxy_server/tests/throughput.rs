//! Write-path throughput on existing conversations (not a pass/fail test: run it with
//! `cargo test --release -p db_proxy_server --test throughput -- --ignored --nocapture`).
#![allow(clippy::unwrap_used)]

mod common;

use std::thread;
use std::time::Instant;

use common::*;
use db_proxy_server::Config;
use rand::Rng;
use teamtalk_proto::CommandId;
use teamtalk_proto::pb::message::ImMsgData;

const LINKS: usize = 8;
const USERS: usize = 50;

fn run(addr: std::net::SocketAddr, users: &[u32], per_link: usize) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..LINKS)
        .map(|_| {
            let users = users.to_vec();
            thread::spawn(move || {
                let mut rng = rand::rng();
                let mut link = Link::connect(addr);
                for _ in 0..per_link {
                    let from = users[rng.random_range(0..USERS)];
                    let mut to = users[rng.random_range(0..USERS)];
                    while to == from {
                        to = users[rng.random_range(0..USERS)];
                    }
                    link.send(
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
                }
                for _ in 0..per_link {
                    let m: ImMsgData = link.recv().parse().unwrap();
                    assert_ne!(m.msg_id, 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    (LINKS * per_link) as f64 / started.elapsed().as_secs_f64()
}

#[test]
#[ignore = "benchmark"]
fn stored_messages_per_second_on_existing_conversations() {
    let mut db = db();
    let users = create_users(&mut db, &unique("tp"), USERS);
    let server = start_with(Config {
        thread_num: 8,
        ..config("http://127.0.0.1:9")
    });
    let addr = server.local_addrs()[0];
    let cold = run(addr, &users, 1000);
    let warm = run(addr, &users, 5000);
    println!("cold {cold:.0} msgs/s, warm {warm:.0} msgs/s");
}
