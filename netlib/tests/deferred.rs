//! Deferred sends (`Ctx::send_deferred`): written at the end of the loop turn, in order with
//! immediate sends, flushed before a close-after-flush, and still subject to the write cap.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use netlib::{ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, LoopHandle};
use teamtalk_proto::{CommandId, Pdu};

const TAG: ListenerTag = ListenerTag(1);

/// For each PDU with seq `s`: deferred(s, TIME_RSP), immediate(s, HEARTBEAT),
/// deferred(s, TIME_RSP); a LOGOUT request gets a deferred answer and a close after flush.
struct Mixed;

impl Handler for Mixed {
    type ConnData = ();

    fn on_pdu(&mut self, ctx: &mut Ctx<()>, conn: ConnHandle, pdu: Pdu) {
        let seq = pdu.header.seq_num;
        if pdu.command() == Some(CommandId::LoginReqLoginout) {
            ctx.send_pdu_deferred(conn, &Pdu::empty(CommandId::LoginResLoginout, seq));
            ctx.close_after_flush(conn);
            return;
        }
        ctx.send_pdu_deferred(conn, &Pdu::empty(CommandId::MsgTimeResponse, seq));
        ctx.send_pdu(conn, &Pdu::empty(CommandId::OtherHeartbeat, seq));
        ctx.send_pdu_deferred(conn, &Pdu::empty(CommandId::MsgTimeResponse, seq));
    }
}

fn server(options: ConnOptions) -> (SocketAddr, LoopHandle) {
    netlib::logging::init_for_tests();
    let mut event_loop = EventLoop::new(Mixed).unwrap();
    let addr = event_loop.listen("127.0.0.1", 0, TAG, options).unwrap();
    (addr, event_loop.spawn("deferred").unwrap())
}

/// Reads until the peer closes; returns every PDU as (command, seq).
fn read_all(stream: &mut TcpStream) -> Vec<(u16, u16)> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read failed before the close: {e}"),
        }
    }
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((pdu, used)) = Pdu::decode(&buf[at..], usize::MAX).unwrap() {
        out.push((pdu.header.command_id, pdu.header.seq_num));
        at += used;
    }
    assert_eq!(at, buf.len(), "trailing partial PDU");
    out
}

#[test]
fn deferred_and_immediate_sends_keep_their_order_and_are_flushed_before_a_close() {
    let (addr, server) = server(ConnOptions::pdu());
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut requests = Vec::new();
    for seq in 1..=100u16 {
        Pdu::empty(CommandId::MsgTimeRequest, seq).encode_into(&mut requests);
    }
    Pdu::empty(CommandId::LoginReqLoginout, 999).encode_into(&mut requests);
    stream.write_all(&requests).unwrap();
    let got = read_all(&mut stream);
    let time = CommandId::MsgTimeResponse as u16;
    let beat = CommandId::OtherHeartbeat as u16;
    let mut expected = Vec::new();
    for seq in 1..=100u16 {
        expected.extend_from_slice(&[(time, seq), (beat, seq), (time, seq)]);
    }
    expected.push((CommandId::LoginResLoginout as u16, 999));
    assert_eq!(got, expected);
    server.shutdown().unwrap();
}

#[test]
fn deferred_output_over_the_write_cap_closes_the_peer() {
    let options = ConnOptions {
        max_write_buf: 100,
        ..ConnOptions::pdu()
    };
    let (addr, server) = server(options);
    let mut stream = TcpStream::connect(addr).unwrap();
    // Each request queues 3 × 16 bytes within one turn: three requests exceed 100 bytes.
    let mut requests = Vec::new();
    for seq in 1..=3u16 {
        Pdu::empty(CommandId::MsgTimeRequest, seq).encode_into(&mut requests);
    }
    stream.write_all(&requests).unwrap();
    let got = read_all(&mut stream);
    assert!(got.len() < 9, "all {} PDUs were sent", got.len());
    server.shutdown().unwrap();
}
