//! login_server's HTTPS port (`HttpsPort`): the same answers as the HTTP port, inside TLS;
//! bytes that are not TLS close that connection only.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::*;
use netlib::HttpsConf;
use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::test_pki::Pki;
use teamtalk_transport::{Blocking, client_config};

fn https_get(addr: SocketAddr, pki: &Pki, request: &[u8]) -> Vec<u8> {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(DEADLINE)).unwrap();
    let config = client_config(Some(&pki.ca()), None).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut stream = Blocking::client(socket, Some((config, name)), None).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    answer
}

#[test]
fn https_answers_exactly_as_http() {
    let pki = Pki::new("login-https");
    let server = start_with(|config| {
        config.https = Some(HttpsConf {
            port: 0,
            files: pki.server_files(),
        });
    });
    let addrs = server.local_addrs();
    let (http, https) = (addrs.http[0], addrs.https[0]);
    let request = format!("GET /msg_server HTTP/1.1\r\nHost: {https}\r\n\r\n");
    let over_tls = https_get(https, &pki, request.as_bytes());
    assert_eq!(over_tls, answer_no_server());
    assert_eq!(get_msg_server(http), over_tls);
    // Plain HTTP on the HTTPS port gets no answer, and the port goes on serving.
    assert!(http_raw(https, request.as_bytes()).first() != Some(&b'H'));
    assert_eq!(
        https_get(https, &pki, request.as_bytes()),
        answer_no_server()
    );
}

#[test]
fn https_port_without_certificate_files_is_refused_at_load() {
    let mut conf = test_conf();
    conf.set("HttpsPort", "0");
    let err = login_server::Config::from_conf(&conf).unwrap_err();
    assert!(err.to_string().contains("TlsCertFile"), "{err}");
}
