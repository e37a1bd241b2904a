//! [`TestCluster`]: route_server, login_server, db_proxy_server, file_server, push_server and
//! two msg_servers running in-process on 127.0.0.1, against the test MariaDB and Redis.
//! push_server's pushes are captured instead of sent to APNs or FCM ([`TestCluster::next_push`]).
//!
//! Every server is configured from `Conf` text in its original format, pointing at the others'
//! bound addresses; listeners start on port 0 and the bound port is written back into the
//! server's conf, so a stopped server restarts on the same address (link-loss tests). Start-up
//! is awaited by polling real logins against a deadline, never by sleeping.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use netlib::{Conf, LinkTlsConf};
use tt_client::pb::base_define::{ClientType, UserStatType};
use tt_client::{Client, ClientConfig, ClientError, ClientTransport, LoginInfo};

use crate::fixtures::{
    Fixtures, REDIS_DB_GROUP_MEMBER, REDIS_DB_GROUP_SET, REDIS_DB_SYNC, REDIS_DB_TOKEN,
    REDIS_DB_UNREAD, TestEnv, TestUser, unique_name,
};

/// How long start-up and reconnects may take before a test fails. msg_server retries a lost
/// link after 4, 8, 16 … seconds, so this covers a couple of back-off steps.
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// The AES key every server and client of the cluster uses.
pub const AES_KEY: &str = "12345678901234567890123456789012";
/// Number of msg_servers in a cluster.
pub const MSG_SERVERS: usize = 2;

/// One server of the cluster: its conf (ports filled in after the first bind) and its handle
/// while running.
#[derive(Debug)]
struct Node<H> {
    conf: Conf,
    handle: Option<H>,
}

/// A running cluster. Dropping it stops every server and removes the fixtures' data.
#[derive(Debug)]
pub struct TestCluster {
    route: Node<route_server::ServerHandle>,
    login: Node<login_server::ServerHandle>,
    db: Node<db_proxy_server::ServerHandle>,
    file: Node<file_server::ServerHandle>,
    /// file_server's offline store, a per-cluster temporary directory.
    file_dir: PathBuf,
    push: Node<push_server::ServerHandle>,
    /// Pushes push_server accepted, in order.
    pushed: Mutex<mpsc::Receiver<push_server::Push>>,
    push_tx: mpsc::Sender<push_server::Push>,
    msg: Vec<Node<msg_server::ServerHandle>>,
    /// The counters of each msg_server's current run.
    msg_counters: Vec<Arc<msg_server::Counters>>,
    probe: TestUser,
    // Declared last: dropped after the servers stopped writing.
    fixtures: Fixtures,
}

impl TestCluster {
    /// Boots every server and waits until each msg_server accepts logins.
    pub fn start() -> Self {
        Self::start_with_msg_conf(&[])
    }

    /// Like [`TestCluster::start`], with extra `key=value` lines in both msg_servers' conf
    /// (e.g. `("EnableRegistration", "1")`).
    pub fn start_with_msg_conf(extra: &[(&str, &str)]) -> Self {
        Self::start_with(extra, "")
    }

    /// Like [`TestCluster::start`], with push_server delivering for real: `push_conf` adds
    /// provider keys (`ApnsKeyPath`…, `FcmServiceAccountPath`…, `PushCaFile` for a double)
    /// and push_server clears dead tokens through the cluster's db_proxy.
    /// [`TestCluster::next_push`] then sees nothing.
    pub fn start_delivering(push_conf: &str) -> Self {
        Self::start_with(&[], push_conf)
    }

    /// Like [`TestCluster::start`], with mutual TLS on every link between the servers: each
    /// conf gets `LinkTlsCertFile`, `LinkTlsKeyFile` and `LinkTlsCaFile` from `files` (a
    /// certificate for 127.0.0.1 and its key, and the CA that signed it).
    pub fn start_with_link_tls(files: &LinkTlsConf) -> Self {
        let extra = [
            ("LinkTlsCertFile", files.cert.display().to_string()),
            ("LinkTlsKeyFile", files.key.display().to_string()),
            ("LinkTlsCaFile", files.ca.display().to_string()),
        ];
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let push_extra: String = extra.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        Self::start_linked(&extra, &push_extra, &extra, &[])
    }

    /// Like [`TestCluster::start_with_msg_conf`], with extra `key=value` lines in
    /// login_server's conf too (e.g. `HttpsPort` with its certificate, `WebClient`).
    pub fn start_with_confs(msg_extra: &[(&str, &str)], login_extra: &[(&str, &str)]) -> Self {
        Self::start_linked(msg_extra, "", &[], login_extra)
    }

    fn start_with(extra: &[(&str, &str)], push_extra: &str) -> Self {
        Self::start_linked(extra, push_extra, &[], &[])
    }

    /// Boots the cluster; `every` is added to every server's conf, `login_extra` to
    /// login_server's.
    fn start_linked(
        extra: &[(&str, &str)],
        push_extra: &str,
        every: &[(&str, &str)],
        login_extra: &[(&str, &str)],
    ) -> Self {
        netlib::logging::init_for_tests();
        let fixtures = Fixtures::new(TestEnv::from_env());
        let probe = fixtures.create_user("probe");
        let with_every = |mut conf: Conf| {
            for (key, value) in every {
                conf.set(key, *value);
            }
            conf
        };

        let mut route_conf = with_every(Conf::parse("ListenIP=127.0.0.1\nListenMsgPort=0\n"));
        let route = start_route(&mut route_conf);
        let mut login_conf = with_every(Conf::parse(
            "ClientListenIP=127.0.0.1\nClientPort=0\nHttpListenIP=127.0.0.1\nHttpPort=0\n\
             MsgServerListenIP=127.0.0.1\nMsgServerPort=0\nmsfs=http://127.0.0.1:8700/\n\
             discovery=http://127.0.0.1/api/discovery\n",
        ));
        for (key, value) in login_extra {
            login_conf.set(key, *value);
        }
        let login = start_login(&mut login_conf);
        let mut db_conf = with_every(db_proxy_conf(fixtures.env()));
        let db = start_db(&mut db_conf);
        let file_dir = std::env::temp_dir().join(format!("testkit-{}", unique_name("fs")));
        let mut file_conf = with_every(Conf::parse(
            "ClientListenIP=127.0.0.1\nClientListenPort=0\nMsgServerListenIP=127.0.0.1\n\
             MsgServerListenPort=0\nTaskTimeout=3600\n",
        ));
        let file = start_file(&mut file_conf, &file_dir);
        let (push_tx, pushed) = mpsc::channel();
        let mut push_conf = Conf::parse(&format!(
            "ListenIP=127.0.0.1\nListenPort=0\nCertPath=/nonexistent/cert.pem\n\
             KeyPath=/nonexistent/key.pem\nKeyPassword=unused\nSandBox=1\n{push_extra}",
        ));
        if !push_extra.is_empty() {
            push_conf.set("DBServerIP1", "127.0.0.1");
            let db_port = port_addr(&db_conf, "ListenPort").port();
            push_conf.set("DBServerPort1", db_port.to_string());
        }
        let push = start_push(&mut push_conf, &push_tx);

        let mut cluster = Self {
            route: Node {
                conf: route_conf,
                handle: Some(route),
            },
            login: Node {
                conf: login_conf,
                handle: Some(login),
            },
            db: Node {
                conf: db_conf,
                handle: Some(db),
            },
            file: Node {
                conf: file_conf,
                handle: Some(file),
            },
            file_dir,
            push: Node {
                conf: push_conf,
                handle: Some(push),
            },
            pushed: Mutex::new(pushed),
            push_tx,
            msg: Vec::new(),
            msg_counters: Vec::new(),
            probe,
            fixtures,
        };
        for _ in 0..MSG_SERVERS {
            let mut conf = with_every(cluster.msg_server_conf());
            for (key, value) in extra {
                conf.set(key, *value);
            }
            let (handle, counters) = start_msg(&mut conf);
            cluster.msg_counters.push(counters);
            cluster.msg.push(Node {
                conf,
                handle: Some(handle),
            });
        }
        cluster.wait_ready();
        cluster
    }

    /// The conf of a new msg_server pointing at the running back ends.
    fn msg_server_conf(&self) -> Conf {
        Conf::parse(&format!(
            "ListenIP=127.0.0.1\nListenPort=0\nIpAddr1=127.0.0.1\nIpAddr2=127.0.0.1\n\
             MaxConnCnt=10000\naesKey={AES_KEY}\nConcurrentDBConnCnt=2\n\
             DBServerIP1=127.0.0.1\nDBServerPort1={db}\nDBServerIP2=127.0.0.1\n\
             DBServerPort2={db}\nLoginServerIP1=127.0.0.1\nLoginServerPort1={login}\n\
             RouteServerIP1=127.0.0.1\nRouteServerPort1={route}\n\
             FileServerIP1=127.0.0.1\nFileServerPort1={file}\n\
             PushServerIP1=127.0.0.1\nPushServerPort1={push}\n",
            db = self.db_addr().port(),
            file = self.file_msg_server_addr().port(),
            push = port_addr(&self.push.conf, "ListenPort").port(),
            login = self.login_msg_server_addr().port(),
            route = self.route_addr().port(),
        ))
    }

    /// The fixtures (users, groups, database access) of this cluster.
    pub fn fixtures(&self) -> &Fixtures {
        &self.fixtures
    }

    /// Creates a user (see [`Fixtures::create_user`]).
    pub fn create_user(&self, tag: &str) -> TestUser {
        self.fixtures.create_user(tag)
    }

    /// Creates a group (see [`Fixtures::create_group`]).
    pub fn create_group(&self, name: &str, creator: u32, members: &[u32], group_type: u32) -> u32 {
        self.fixtures
            .create_group(name, creator, members, group_type)
    }

    /// What msg_server `i` refused and how many back-end links it lost, so far in its
    /// current run.
    pub fn msg_counters(&self, i: usize) -> msg_server::CounterSnapshot {
        self.msg_counters[i].snapshot()
    }

    /// Starts an http_msg_server linked to this cluster's db_proxy and route_server, with
    /// `extra` conf lines (e.g. `AppKey=k\n`); it stops when the handle is dropped.
    pub fn start_http_msg_server(&self, extra: &str) -> http_msg_server::ServerHandle {
        let (db, route) = (self.db_addr(), self.route_addr());
        let text = format!(
            "ListenIP=127.0.0.1\nListenPort=0\nConcurrentDBConnCnt=1\n\
             DBServerIP1={}\nDBServerPort1={}\nDBServerIP2={}\nDBServerPort2={}\n\
             RouteServerIP1={}\nRouteServerPort1={}\n{extra}",
            db.ip(),
            db.port(),
            db.ip(),
            db.port(),
            route.ip(),
            route.port()
        );
        let config = http_msg_server::Config::from_conf(&Conf::parse(&text))
            .expect("http_msg_server test conf");
        http_msg_server::Server::bind(config)
            .and_then(http_msg_server::Server::spawn)
            .expect("cannot start http_msg_server")
    }

    /// Client address of msg_server `i` (0 or 1).
    pub fn msg_addr(&self, i: usize) -> SocketAddr {
        port_addr(&self.msg[i].conf, "ListenPort")
    }

    /// The address of msg_server `i`'s `tls`, `ws` or `wss` client port (the conf given to
    /// [`TestCluster::start_with_msg_conf`] must have turned it on).
    pub fn msg_transport_addr(&self, i: usize, transport: &str) -> SocketAddr {
        port_addr(&self.msg[i].conf, transport_port_key(transport))
    }

    /// A client connection to msg_server `i` over `transport`, not logged in.
    pub fn connect_over(
        &self,
        i: usize,
        transport: ClientTransport,
    ) -> Result<Client, ClientError> {
        let addr = self.msg_transport_addr(i, transport.name());
        let config = ClientConfig {
            transport,
            ..client_config()
        };
        Client::connect_with(addr, config)
    }

    /// route_server's address.
    pub fn route_addr(&self) -> SocketAddr {
        port_addr(&self.route.conf, "ListenMsgPort")
    }

    /// db_proxy_server's address.
    pub fn db_addr(&self) -> SocketAddr {
        port_addr(&self.db.conf, "ListenPort")
    }

    /// file_server's msg-server port.
    pub fn file_msg_server_addr(&self) -> SocketAddr {
        port_addr(&self.file.conf, "MsgServerListenPort")
    }

    /// file_server's client port (what msg_server advertises to clients).
    pub fn file_client_addr(&self) -> SocketAddr {
        port_addr(&self.file.conf, "ClientListenPort")
    }

    /// login_server's msg-server port.
    pub fn login_msg_server_addr(&self) -> SocketAddr {
        port_addr(&self.login.conf, "MsgServerPort")
    }

    /// login_server's HTTP discovery URL (what clients are configured with).
    pub fn login_http_url(&self) -> String {
        format!(
            "http://{}/msg_server",
            port_addr(&self.login.conf, "HttpPort")
        )
    }

    /// login_server's HTTPS address (the conf given to [`TestCluster::start_with_confs`] must
    /// have set `HttpsPort`).
    pub fn login_https_addr(&self) -> SocketAddr {
        port_addr(&self.login.conf, "HttpsPort")
    }

    /// A client connection to msg_server `i`, not logged in.
    pub fn connect(&self, i: usize) -> Client {
        Client::connect_with(self.msg_addr(i), client_config())
            .unwrap_or_else(|e| panic!("cannot connect to msg_server {i}: {e}"))
    }

    /// Connects to msg_server `i` and logs `user` in as `client_type`.
    pub fn login_as(&self, i: usize, user: &TestUser, client_type: ClientType) -> Client {
        let client = self.connect(i);
        client
            .login(
                &user.name,
                &user.password,
                client_type,
                UserStatType::UserStatusOnline,
            )
            .unwrap_or_else(|e| panic!("login of {} on msg_server {i} failed: {e}", user.name));
        client
    }

    /// Connects to msg_server `i` and logs `user` in as a Windows client.
    pub fn login(&self, i: usize, user: &TestUser) -> Client {
        self.login_as(i, user, ClientType::Windows)
    }

    /// Tries one login on msg_server `i`.
    pub fn try_login(&self, i: usize, user: &TestUser) -> Result<(Client, LoginInfo), ClientError> {
        let client = Client::connect_with(self.msg_addr(i), client_config())?;
        let info = client.login(
            &user.name,
            &user.password,
            ClientType::Windows,
            UserStatType::UserStatusOnline,
        )?;
        Ok((client, info))
    }

    /// Waits until every running msg_server accepts a login (its db_proxy, login_server and
    /// route_server links are up). Polls with real logins against [`READY_TIMEOUT`].
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        for (i, node) in self.msg.iter().enumerate() {
            if node.handle.is_none() {
                continue;
            }
            loop {
                match self.try_login(i, &self.probe) {
                    Ok((client, _)) => {
                        client.close();
                        break;
                    }
                    Err(e) => {
                        assert!(
                            Instant::now() < deadline,
                            "msg_server {i} not ready after {READY_TIMEOUT:?}: {e}"
                        );
                        thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
    }

    /// Stops db_proxy_server (it tells its links it stops, then closes them).
    pub fn stop_db(&mut self) {
        if let Some(h) = self.db.handle.take() {
            h.shutdown().expect("db_proxy_server did not stop cleanly");
        }
    }

    /// Starts db_proxy_server again on the same address.
    pub fn restart_db(&mut self) {
        self.stop_db();
        self.db.handle = Some(start_db(&mut self.db.conf));
    }

    /// Stops route_server.
    pub fn stop_route(&mut self) {
        if let Some(h) = self.route.handle.take() {
            h.shutdown().expect("route_server did not stop cleanly");
        }
    }

    /// Starts route_server again on the same address.
    pub fn restart_route(&mut self) {
        self.stop_route();
        self.route.handle = Some(start_route(&mut self.route.conf));
    }

    /// Stops login_server.
    pub fn stop_login(&mut self) {
        if let Some(h) = self.login.handle.take() {
            h.shutdown().expect("login_server did not stop cleanly");
        }
    }

    /// Starts login_server again on the same addresses.
    pub fn restart_login(&mut self) {
        self.stop_login();
        self.login.handle = Some(start_login(&mut self.login.conf));
    }

    /// Stops file_server.
    pub fn stop_file(&mut self) {
        if let Some(h) = self.file.handle.take() {
            h.shutdown().expect("file_server did not stop cleanly");
        }
    }

    /// Starts file_server again on the same addresses (and store).
    pub fn restart_file(&mut self) {
        self.stop_file();
        self.file.handle = Some(start_file(&mut self.file.conf, &self.file_dir));
    }

    /// The next push push_server accepted (provider, user, token, text, data, badge, silent),
    /// waiting up to `timeout`.
    pub fn next_push(&self, timeout: Duration) -> Option<push_server::Push> {
        self.pushed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv_timeout(timeout)
            .ok()
    }

    /// push_server's delivery counters (`None` while it is stopped).
    pub fn push_stats(&self) -> Option<push_server::StatsSnapshot> {
        self.push
            .handle
            .as_ref()
            .map(push_server::ServerHandle::stats)
    }

    /// Stops push_server.
    pub fn stop_push(&mut self) {
        if let Some(h) = self.push.handle.take() {
            h.shutdown().expect("push_server did not stop cleanly");
        }
    }

    /// Starts push_server again on the same address.
    pub fn restart_push(&mut self) {
        self.stop_push();
        self.push.handle = Some(start_push(&mut self.push.conf, &self.push_tx));
    }

    /// Stops msg_server `i` (its clients are disconnected).
    pub fn stop_msg(&mut self, i: usize) {
        if let Some(h) = self.msg[i].handle.take() {
            h.shutdown().expect("msg_server did not stop cleanly");
        }
    }

    /// Starts msg_server `i` again on the same address.
    pub fn restart_msg(&mut self, i: usize) {
        self.stop_msg(i);
        let (handle, counters) = start_msg(&mut self.msg[i].conf);
        self.msg[i].handle = Some(handle);
        self.msg_counters[i] = counters;
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for i in 0..self.msg.len() {
            if let Some(h) = self.msg[i].handle.take() {
                let _ = h.shutdown();
            }
        }
        if let Some(h) = self.db.handle.take() {
            let _ = h.shutdown();
        }
        if let Some(h) = self.file.handle.take() {
            let _ = h.shutdown();
        }
        let _ = std::fs::remove_dir_all(&self.file_dir);
        if let Some(h) = self.push.handle.take() {
            let _ = h.shutdown();
        }
        if let Some(h) = self.login.handle.take() {
            let _ = h.shutdown();
        }
        if let Some(h) = self.route.handle.take() {
            let _ = h.shutdown();
        }
    }
}

/// Client settings for tests: the cluster's key, a short request timeout, no automatic
/// heartbeats beyond the default.
pub fn client_config() -> ClientConfig {
    ClientConfig {
        request_timeout: Duration::from_secs(15),
        ..ClientConfig::default()
    }
}

/// `127.0.0.1:<conf[key]>`.
/// msg_server's conf key for the port of a transport (`tls`, `ws`, `wss`).
fn transport_port_key(transport: &str) -> &'static str {
    match transport {
        "tls" => "TlsListenPort",
        "ws" => "WsListenPort",
        "wss" => "WssListenPort",
        other => panic!("no msg_server port for transport {other}"),
    }
}

fn port_addr(conf: &Conf, key: &str) -> SocketAddr {
    let port: u16 = conf
        .require_num(key)
        .expect("ports are filled in at start-up");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// db_proxy_server's conf for the test database and Redis.
fn db_proxy_conf(env: &TestEnv) -> Conf {
    let opts = env.mysql_opts();
    let host = opts.get_ip_or_hostname().to_string();
    let port = opts.get_tcp_port();
    let dbname = opts.get_db_name().unwrap_or("teamtalk_test").to_owned();
    let user = opts.get_user().unwrap_or("root").to_owned();
    let password = opts.get_pass().unwrap_or_default().to_owned();
    let mut text = format!(
        "ListenIP=127.0.0.1\nListenPort=0\nThreadNum=4\nMsfsSite=http://127.0.0.1:9\n\
         aesKey={AES_KEY}\nDBInstances=teamtalk_master,teamtalk_slave\n\
         CacheInstances=unread,group_set,token,sync,group_member\n"
    );
    for pool in ["teamtalk_master", "teamtalk_slave"] {
        text.push_str(&format!(
            "{pool}_host={host}\n{pool}_port={port}\n{pool}_dbname={dbname}\n\
             {pool}_username={user}\n{pool}_maxconncnt=8\n"
        ));
        if !password.is_empty() {
            text.push_str(&format!("{pool}_password={password}\n"));
        }
    }
    for (pool, db) in [
        ("unread", REDIS_DB_UNREAD),
        ("group_set", REDIS_DB_GROUP_SET),
        ("token", REDIS_DB_TOKEN),
        ("sync", REDIS_DB_SYNC),
        ("group_member", REDIS_DB_GROUP_MEMBER),
    ] {
        text.push_str(&format!(
            "{pool}_host={}\n{pool}_port={}\n{pool}_db={db}\n{pool}_maxconncnt=8\n",
            env.redis_host, env.redis_port
        ));
    }
    Conf::parse(&text)
}

/// Binds with `bind`, retrying while the address is still held by a server that just stopped
/// (its listener closes when its thread ends).
fn bind_retrying<S, E: std::fmt::Display>(what: &str, mut bind: impl FnMut() -> Result<S, E>) -> S {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match bind() {
            Ok(server) => return server,
            Err(e) if Instant::now() < deadline => {
                log::debug!("{what} bind failed, retrying: err={e}");
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{what} cannot bind: {e}"),
        }
    }
}

fn start_route(conf: &mut Conf) -> route_server::ServerHandle {
    let config = route_server::Config::from_conf(conf).expect("route_server conf");
    let server = bind_retrying("route_server", || {
        route_server::Server::bind(config.clone())
    });
    conf.set("ListenMsgPort", server.local_addrs()[0].port().to_string());
    server.spawn().expect("route_server spawn")
}

fn start_login(conf: &mut Conf) -> login_server::ServerHandle {
    let config = login_server::Config::from_conf(conf).expect("login_server conf");
    let server = bind_retrying("login_server", || {
        login_server::Server::bind(config.clone())
    });
    let addrs = server.local_addrs();
    conf.set("ClientPort", addrs.client[0].port().to_string());
    conf.set("HttpPort", addrs.http[0].port().to_string());
    conf.set("MsgServerPort", addrs.msg_server[0].port().to_string());
    if let Some(https) = addrs.https.first() {
        conf.set("HttpsPort", https.port().to_string());
    }
    server.spawn().expect("login_server spawn")
}

fn start_db(conf: &mut Conf) -> db_proxy_server::ServerHandle {
    let mut config = db_proxy_server::Config::from_conf(conf).expect("db_proxy_server conf");
    // The stop notice still goes out; tests need not wait the production 4 s for the exit.
    config.stop_grace = Duration::from_millis(200);
    let server = bind_retrying("db_proxy_server", || {
        db_proxy_server::Server::bind(config.clone())
    });
    conf.set("ListenPort", server.local_addrs()[0].port().to_string());
    server.spawn().expect("db_proxy_server spawn")
}

fn start_file(conf: &mut Conf, dir: &Path) -> file_server::ServerHandle {
    let mut config = file_server::Config::from_conf(conf).expect("file_server conf");
    config.offline_dir = dir.to_path_buf();
    let server = bind_retrying("file_server", || file_server::Server::bind(config.clone()));
    let addrs = server.local_addrs();
    conf.set("ClientListenPort", addrs.client[0].port().to_string());
    conf.set("MsgServerListenPort", addrs.msg_server.port().to_string());
    server.spawn().expect("file_server spawn")
}

/// Hands push_server's pushes (both providers) to the test instead of APNs and FCM, unless
/// its conf names a provider.
struct CapturingSink(mpsc::Sender<push_server::Push>);

impl push_server::PushSink for CapturingSink {
    fn serves(&self, _provider: push_server::Provider) -> bool {
        true
    }

    fn submit(&mut self, push: push_server::Push) {
        // The cluster (the receiver) outlives its push_server.
        let _ = self.0.send(push);
    }
}

fn start_push(
    conf: &mut Conf,
    pushes: &mpsc::Sender<push_server::Push>,
) -> push_server::ServerHandle {
    let config = push_server::Config::from_conf(conf).expect("push_server conf");
    let delivers = config.delivery.apns.is_some() || config.delivery.fcm.is_some();
    let server = bind_retrying("push_server", || {
        if delivers {
            push_server::Server::bind(config.clone())
        } else {
            push_server::Server::bind_with_sink(
                config.clone(),
                Box::new(CapturingSink(pushes.clone())),
            )
        }
    });
    conf.set("ListenPort", server.local_addrs()[0].port().to_string());
    server.spawn().expect("push_server spawn")
}

fn start_msg(conf: &mut Conf) -> (msg_server::ServerHandle, Arc<msg_server::Counters>) {
    let config = msg_server::Config::from_conf(conf).expect("msg_server conf");
    let server = bind_retrying("msg_server", || msg_server::Server::bind(config.clone()));
    conf.set("ListenPort", server.local_addrs()[0].port().to_string());
    // A restart binds the same ports again.
    for (transport, addr) in server.transport_addrs() {
        conf.set(transport_port_key(transport), addr.port().to_string());
    }
    let counters = server.counters();
    (server.spawn().expect("msg_server spawn"), counters)
}
