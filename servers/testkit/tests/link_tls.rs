//! Mutual TLS on every link between the servers (`LinkTls…` keys in every conf): a real
//! cluster logs users in and relays messages across msg_servers through route_server with
//! every internal link encrypted; an internal port refuses a plain peer and a TLS peer whose
//! certificate comes from another CA.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use netlib::LinkTlsConf;
use teamtalk_transport::rustls::pki_types::ServerName;
use teamtalk_transport::test_pki::Pki;
use teamtalk_transport::{Blocking, client_config};
use testkit::{TestCluster, closed_by_peer};
use tt_client::{CommandId, Pdu};

const WAIT: Duration = Duration::from_secs(15);

fn link_files(pki: &Pki) -> LinkTlsConf {
    let files = pki.server_files();
    LinkTlsConf {
        cert: files.cert,
        key: files.key,
        ca: pki.ca(),
    }
}

#[test]
fn a_cluster_with_every_link_on_mutual_tls_logs_in_and_relays() {
    let pki = Pki::new("links");
    let cluster = TestCluster::start_with_link_tls(&link_files(&pki));
    let alice = cluster.create_user("la");
    let bob = cluster.create_user("lb");
    // msg_server → db_proxy (login), → login_server, → route_server (presence and relay).
    let a = cluster.login(0, &alice);
    let b = cluster.login(1, &bob);
    let ack = a.send_text(bob.id, "over encrypted links").unwrap();
    let got = b.next_message(WAIT).unwrap();
    assert_eq!(
        (got.msg_id, got.text.as_str()),
        (ack.msg_id, "over encrypted links")
    );
}

fn heartbeat() -> Vec<u8> {
    Pdu::empty(CommandId::OtherHeartbeat, 0).encode()
}

fn tls_peer(addr: SocketAddr, pki: &Pki, identity: Option<&Pki>) -> Blocking<TcpStream> {
    let socket = TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(WAIT)).unwrap();
    let files = identity.map(Pki::server_files);
    let config = client_config(
        Some(&pki.ca()),
        files.as_ref().map(|f| (f.cert.as_path(), f.key.as_path())),
    )
    .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    Blocking::client(socket, Some((config, name)), None).unwrap()
}

#[test]
fn internal_ports_refuse_plain_peers_and_foreign_certificates() {
    let pki = Pki::new("refuse");
    let cluster = TestCluster::start_with_link_tls(&link_files(&pki));
    let stranger = Pki::new("stranger");
    for (port, addr) in [
        ("route_server", cluster.route_addr()),
        ("db_proxy_server", cluster.db_addr()),
        ("login_server", cluster.login_msg_server_addr()),
        ("file_server", cluster.file_msg_server_addr()),
    ] {
        // A plain peer (a C++ server, say) is cut at its first bytes.
        let mut plain = TcpStream::connect(addr).unwrap();
        plain.set_read_timeout(Some(WAIT)).unwrap();
        plain.write_all(&heartbeat()).unwrap();
        assert!(closed_by_peer(&mut plain), "{port} took a plain peer");
        // A TLS peer without a certificate, or with one from another CA, is refused.
        let mut anonymous = tls_peer(addr, &pki, None);
        let _ = anonymous.write_all(&heartbeat());
        assert!(
            closed_by_peer(&mut anonymous),
            "{port} took a peer without certificate"
        );
        let mut foreign = tls_peer(addr, &pki, Some(&stranger));
        let _ = foreign.write_all(&heartbeat());
        assert!(
            closed_by_peer(&mut foreign),
            "{port} took a foreign certificate"
        );
        // A peer with a certificate from the cluster's CA is served: a heartbeat is
        // answered with nothing bad, and the connection stays open.
        let mut member = tls_peer(addr, &pki, Some(&pki));
        member.write_all(&heartbeat()).unwrap();
        member
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        assert!(
            !closed_by_peer(&mut member),
            "{port} refused a member of its CA"
        );
    }
}
