//! `/msg_server` over HTTP (PROTOCOL §8), compared byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;
use teamtalk_proto::{CommandId, Pdu};

#[test]
fn no_registered_server_answers_code_1() {
    let server = start();
    let http = server.local_addrs().http[0];
    assert_eq!(get_msg_server(http), answer_no_server());
    assert_eq!(
        answer_no_server(),
        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:49\r\n\
         Content-Type:text/html;charset=utf-8\r\n\r\n\
         {\n   \"code\" : 1,\n   \"msg\" : \"没有msg_server\"\n}\n"
            .as_bytes(),
        "Content-Length counts UTF-8 bytes"
    );
}

#[test]
fn one_server_is_answered_with_the_sample_body() {
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("127.0.0.1", "127.0.0.1", 8000, 0, 100));
    // The body of PROTOCOL §8.2, verbatim.
    let body = "{\n   \"backupIP\" : \"127.0.0.1\",\n   \"code\" : 0,\n   \
                \"discovery\" : \"http://127.0.0.1/api/discovery\",\n   \
                \"msfsBackup\" : \"http://127.0.0.1:8700/\",\n   \
                \"msfsPrior\" : \"http://127.0.0.1:8700/\",\n   \"msg\" : \"\",\n   \
                \"port\" : \"8000\",\n   \"priorIP\" : \"127.0.0.1\"\n}\n";
    let expected = format!(
        "HTTP/1.1 200 OK\r\nConnection:close\r\nContent-Length:{}\r\n\
         Content-Type:text/html;charset=utf-8\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(
        answer_ok("127.0.0.1", "127.0.0.1", 8000),
        expected.as_bytes()
    );
    await_answer(addrs.http[0], expected.as_bytes());
}

#[test]
fn all_servers_full_answers_code_2() {
    let server = start();
    let addrs = server.local_addrs();
    let mut a = PduConn::connect(addrs.msg_server[0]);
    let mut b = PduConn::connect(addrs.msg_server[0]);
    a.send(&serv_info("10.0.0.1", "10.0.0.2", 8000, 10, 10));
    b.send(&serv_info("10.0.1.1", "10.0.1.2", 8001, 12, 10));
    await_answer(addrs.http[0], &answer_all_full());
    // Room again on b: it is chosen.
    b.send_all(&[cnt_update(2), cnt_update(2), cnt_update(2)]);
    await_answer(addrs.http[0], &answer_ok("10.0.1.1", "10.0.1.2", 8001));
}

#[test]
fn the_least_loaded_server_with_room_is_chosen() {
    let server = start();
    let addrs = server.local_addrs();
    let mut a = PduConn::connect(addrs.msg_server[0]);
    let mut b = PduConn::connect(addrs.msg_server[0]);
    let mut c = PduConn::connect(addrs.msg_server[0]);
    a.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 3, 100));
    b.send(&serv_info("10.0.0.3", "10.0.0.4", 8002, 1, 100));
    c.send(&serv_info("10.0.0.5", "10.0.0.6", 8003, 0, 0));
    await_answer(addrs.http[0], &answer_ok("10.0.0.3", "10.0.0.4", 8002));
    b.send_all(&[cnt_update(1), cnt_update(1), cnt_update(1)]);
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
}

#[test]
fn ties_go_to_the_lowest_connection_handle_not_the_first_registered() {
    let server = start();
    let addrs = server.local_addrs();
    // Accepted in connect order, so x has the lower handle.
    let mut x = PduConn::connect(addrs.msg_server[0]);
    let mut a = PduConn::connect(addrs.msg_server[0]);
    a.send(&serv_info("10.0.0.1", "10.0.0.2", 8001, 5, 100));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.2", 8001));
    // x registers later with one more connection, then drops to a tie.
    x.send(&serv_info("10.0.9.1", "10.0.9.2", 8009, 6, 100));
    x.send(&cnt_update(2));
    await_answer(addrs.http[0], &answer_ok("10.0.9.1", "10.0.9.2", 8009));
}

#[test]
fn ipv4_clients_get_ip1_first_and_other_clients_ip2_first() {
    let server = start_with(|c| c.http_listen_ips = vec!["127.0.0.1".into(), "::1".into()]);
    let addrs = server.local_addrs();
    assert_eq!(addrs.http.len(), 2);
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("1.1.1.1", "2.2.2.2", 8000, 0, 10));
    await_answer(addrs.http[0], &answer_ok("1.1.1.1", "2.2.2.2", 8000));
    // "::1" has no four dot-separated parts: not "telecom", so the addresses swap.
    assert_eq!(
        get_msg_server(addrs.http[1]),
        answer_ok("2.2.2.2", "1.1.1.1", 8000)
    );
}

#[test]
fn any_method_and_any_target_starting_with_msg_server_is_answered() {
    let server = start();
    let http = server.local_addrs().http[0];
    for request in [
        &b"POST /msg_server HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"[..],
        b"PUT /msg_server?x=1 HTTP/1.0\r\n\r\n",
        b"GET /msg_server/abc HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /msg_serverX HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            http_raw(http, request),
            answer_no_server(),
            "{}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn unknown_urls_are_closed_without_a_reply() {
    let server = start();
    let http = server.local_addrs().http[0];
    for request in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"GET /msg_serve HTTP/1.1\r\n\r\n",
        b"GET /MSG_SERVER HTTP/1.1\r\n\r\n",
        b"GET http://host/msg_server HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(
            http_raw(http, request),
            b"",
            "{}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn garbage_gets_no_reply_and_the_connection_waits_for_the_size_limit() {
    let server = start();
    let http = server.local_addrs().http[0];
    let mut garbage = TcpStream::connect(http).unwrap();
    garbage.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    // A request answered after the garbage arrived: the garbage has been read by then.
    assert_eq!(get_msg_server(http), answer_no_server());
    garbage.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match garbage.read(&mut byte) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}"),
        Ok(n) => panic!("the connection was answered or closed: read {n} bytes"),
    }
    // More garbage than 1 KiB in all closes it, still without a reply.
    garbage.set_nonblocking(false).unwrap();
    garbage.set_read_timeout(Some(DEADLINE)).unwrap();
    let _ = garbage.write_all(&[b'x'; 1024]);
    assert_eq!(read_to_close(&mut garbage), b"");
}

#[test]
fn ties_follow_the_order_the_original_numbers_sockets_in() {
    let server = start();
    let addrs = server.local_addrs();
    let ms_port = addrs.msg_server[0];
    // One listener accepts in connect order, so these take socket numbers 0, 1, 2, 3; q's
    // answered request (which closes it) shows all four were accepted.
    let mut p1 = PduConn::connect(ms_port);
    let mut b = PduConn::connect(ms_port);
    let mut p2 = PduConn::connect(ms_port);
    let mut q = PduConn::connect(ms_port);
    for p in [&mut q, &mut p1, &mut p2] {
        p.send(&Pdu::empty(CommandId::LoginReqMsgserver, 1));
        assert_eq!(p.until_closed().len(), 1);
    }
    // p1's number was freed before p2's: the next socket gets p1's, below b's, and the tie at 0
    // connections goes to it.
    b.send(&serv_info("10.0.0.2", "10.0.0.2", 8002, 0, 10));
    let mut a = PduConn::connect(ms_port);
    a.send(&serv_info("10.0.0.1", "10.0.0.1", 8001, 0, 10));
    await_answer(addrs.http[0], &answer_ok("10.0.0.1", "10.0.0.1", 8001));
}

#[test]
fn requests_over_1_kib_are_closed_without_a_reply() {
    let server = start();
    let http = server.local_addrs().http[0];
    let head = "GET /msg_server HTTP/1.1\r\nX-Pad: ";
    let tail = "\r\n\r\n";
    let pad = |total: usize| "a".repeat(total - head.len() - tail.len());
    let exactly = format!("{head}{}{tail}", pad(1024));
    assert_eq!(http_raw(http, exactly.as_bytes()), answer_no_server());
    let over = format!("{head}{}{tail}", pad(1025));
    assert_eq!(http_raw(http, over.as_bytes()), b"");
    let body_over = format!(
        "POST /msg_server HTTP/1.1\r\nContent-Length: 2000\r\n\r\n{}",
        "b".repeat(2000)
    );
    assert_eq!(http_raw(http, body_over.as_bytes()), b"");
}

#[test]
fn a_request_split_over_many_packets_is_answered_once_complete() {
    let server = start();
    let http = server.local_addrs().http[0];
    let request = b"POST /msg_server HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody";
    let mut stream = TcpStream::connect(http).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    for (i, byte) in request.iter().enumerate() {
        stream.write_all(std::slice::from_ref(byte)).unwrap();
        if i % 8 == 0 {
            // Give the bytes a chance to leave as separate segments.
            thread::sleep(Duration::from_millis(1));
        }
    }
    assert_eq!(read_to_close(&mut stream), answer_no_server());
}

#[test]
fn an_idle_http_connection_is_closed_after_the_timeout() {
    let server = start_with(|c| c.http_timeout = Duration::from_secs(1));
    let mut stream = TcpStream::connect(server.local_addrs().http[0]).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.write_all(b"GET /msg_server HTTP/1.1\r\n").unwrap();
    assert_eq!(read_to_close(&mut stream), b"");
}

#[test]
fn a_request_trickled_a_byte_at_a_time_is_cut_off_at_the_timeout() {
    let server = start_with(|c| c.http_timeout = Duration::from_secs(2));
    let mut stream = TcpStream::connect(server.local_addrs().http[0]).unwrap();
    let mut reader = stream.try_clone().unwrap();
    reader.set_read_timeout(Some(DEADLINE)).unwrap();
    let started = std::time::Instant::now();
    // Each byte comes well inside the idle timeout; only the request deadline ends it.
    let trickle = thread::spawn(move || {
        for &b in b"GET /msg_server HTTP/1.1\r\nHost: x\r\n".iter() {
            if stream.write_all(&[b]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(300));
        }
    });
    assert_eq!(read_to_close(&mut reader), b"");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    trickle.join().unwrap();
}

#[test]
fn long_answers_are_not_truncated() {
    let server = start();
    let addrs = server.local_addrs();
    let (ip1, ip2) = ("1".repeat(700), "2".repeat(700));
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info(&ip1, &ip2, 8000, 0, 10));
    let expected = answer_ok(&ip1, &ip2, 8000);
    assert!(expected.len() > 1500);
    await_answer(addrs.http[0], &expected);
}

#[test]
fn a_thousand_parallel_requests_are_all_answered() {
    const CLIENTS: usize = 1000;
    let server = start();
    let addrs = server.local_addrs();
    let mut ms = PduConn::connect(addrs.msg_server[0]);
    ms.send(&serv_info("10.1.1.1", "10.1.1.2", 8000, 0, 10));
    let expected = answer_ok("10.1.1.1", "10.1.1.2", 8000);
    await_answer(addrs.http[0], &expected);
    let http = addrs.http[0];
    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let start = Arc::clone(&start);
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    start.wait();
                    get_msg_server(http)
                })
                .unwrap()
        })
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), expected);
    }
}
