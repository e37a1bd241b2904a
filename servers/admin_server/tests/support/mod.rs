//! What the console's tests share: a console booted in-process on an ephemeral port against
//! the test MariaDB, with an administrator of its own.

// Each test file uses a different part of this module.
#![allow(dead_code)]

use admin_server::{Config, Server, ServerHandle, account};
use netlib::Conf;
use testkit::{Fixtures, TestEnv, unique_name};

/// A console on an ephemeral port, with an administrator of its own.
pub(crate) struct Console {
    pub(crate) handle: ServerHandle,
    pub(crate) admin: String,
    pub(crate) password: String,
    pub(crate) env: TestEnv,
}

impl Console {
    /// Starts a console whose http_msg_server is `http_msg_server` and whose dashboard
    /// shows `monitors` (name, URL).
    pub(crate) fn start(http_msg_server: &str, monitors: &[(&str, String)]) -> Self {
        // reqwest is built without a default TLS provider and will not build a client
        // without one, even for plain HTTP as here; ring's deprecation is about post-quantum
        // key exchange, which no TLS is used for here.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = TestEnv::from_env();
        // Loads the schema (IMAdminAccount included) into the test database if needed.
        drop(Fixtures::new(env.clone()));
        let opts = env.mysql_opts();
        let (ip, port) = http_msg_server.rsplit_once(':').unwrap();
        let mut text = format!(
            "ListenIP=127.0.0.1\nListenPort=0\nteamtalk_master_host={}\n\
             teamtalk_master_port={}\nteamtalk_master_dbname={}\nteamtalk_master_username={}\n\
             HttpMsgServerIP={ip}\nHttpMsgServerPort={port}\n",
            opts.get_ip_or_hostname(),
            opts.get_tcp_port(),
            opts.get_db_name().unwrap(),
            opts.get_user().unwrap(),
        );
        if let Some(pass) = opts.get_pass() {
            text.push_str(&format!("teamtalk_master_password={pass}\n"));
        }
        for (i, (name, url)) in monitors.iter().enumerate() {
            text.push_str(&format!(
                "MonitorName{0}={name}\nMonitorURL{0}={url}\n",
                i + 1
            ));
        }
        let config = Config::from_conf(&Conf::parse(&text)).unwrap();
        let handle = Server::bind(config).unwrap().spawn().unwrap();
        let admin = unique_name("adm");
        let password = account::create(&mut db(&env), &admin).unwrap();
        Self {
            handle,
            admin,
            password,
            env,
        }
    }

    /// The console's URL of `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.handle.local_addr())
    }

    /// A connection to the test database.
    pub(crate) fn db(&self) -> mysql::Conn {
        db(&self.env)
    }
}

/// A connection to the test database.
pub(crate) fn db(env: &TestEnv) -> mysql::Conn {
    mysql::Conn::new(env.mysql_opts()).unwrap()
}

/// A port nothing listens on (bound, then released).
pub(crate) fn closed_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// `text` percent-encoded for a form or query value.
pub(crate) fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
