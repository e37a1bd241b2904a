//! HTTP/2 + TLS doubles of APNs and FCM for the tests: a self-signed CA made with rcgen, a
//! leaf certificate for 127.0.0.1, a hyper HTTP/2 server on its own thread that records every
//! request (with the connection it came on) and answers what the test's script says.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

/// One request as the double saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Which accepted connection it came on (from 0).
    pub conn: usize,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the double answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Answer {
    pub fn ok() -> Self {
        Self::status(200, "")
    }

    pub fn status(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }
}

type Script = Arc<dyn Fn(&Recorded, usize) -> Answer + Send + Sync>;

/// The test CA and a temp directory holding its PEM and the test's credential files.
pub struct Pki {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub dir: PathBuf,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("push-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "teamtalk-rs test CA");
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        std::fs::write(dir.join("ca.pem"), issuer.pem()).unwrap();
        Self { issuer, dir }
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn server_config(&self) -> rustls::ServerConfig {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec()];
        config
    }
}

/// A running double.
pub struct Double {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<Script>>,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Double {
    /// Starts a double answering 200 until told otherwise; after `goaway_after` requests on
    /// one connection it sends GOAWAY on it (0: never).
    pub fn start(pki: &Pki, goaway_after: usize) -> Self {
        let acceptor = TlsAcceptor::from(Arc::new(pki.server_config()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<Script>> = Arc::new(Mutex::new(Arc::new(|_, _| Answer::ok())));
        let stop = Arc::new(Notify::new());
        let thread = std::thread::spawn({
            let (requests, script, stop) = (requests.clone(), script.clone(), stop.clone());
            move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(serve(
                    listener,
                    acceptor,
                    requests,
                    script,
                    stop,
                    goaway_after,
                ));
            }
        });
        Self {
            addr,
            requests,
            script,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Sets the answer for each request; the second argument counts requests from 0.
    pub fn respond(&self, f: impl Fn(&Recorded, usize) -> Answer + Send + Sync + 'static) {
        *self.script.lock().unwrap() = Arc::new(f);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests whose path contains `path` arrived.
    pub fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + timeout;
        loop {
            let got: Vec<Recorded> = self
                .requests()
                .into_iter()
                .filter(|r| r.path.contains(path))
                .collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Double {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<Script>>,
    stop: Arc<Notify>,
    goaway_after: usize,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let conns = AtomicUsize::new(0);
    let counter = Arc::new(AtomicUsize::new(0));
    loop {
        let tcp = tokio::select! {
            _ = stop.notified() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(_) => continue,
            },
        };
        let conn_id = conns.fetch_add(1, Ordering::SeqCst);
        let (acceptor, requests, script, counter) = (
            acceptor.clone(),
            requests.clone(),
            script.clone(),
            counter.clone(),
        );
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let on_conn = Arc::new(AtomicUsize::new(0));
            let goaway = Arc::new(Notify::new());
            let service = service_fn({
                let goaway = goaway.clone();
                move |req: Request<hyper::body::Incoming>| {
                    let (requests, script, counter, on_conn, goaway) = (
                        requests.clone(),
                        script.clone(),
                        counter.clone(),
                        on_conn.clone(),
                        goaway.clone(),
                    );
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let recorded = Recorded {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| {
                                    (n.to_string(), v.to_str().unwrap_or_default().to_owned())
                                })
                                .collect(),
                            body: body.to_vec(),
                            conn: conn_id,
                        };
                        let n = counter.fetch_add(1, Ordering::SeqCst);
                        let f = script.lock().unwrap().clone();
                        let answer = f(&recorded, n);
                        requests.lock().unwrap().push(recorded);
                        if !answer.delay.is_zero() {
                            tokio::time::sleep(answer.delay).await;
                        }
                        if goaway_after > 0
                            && on_conn.fetch_add(1, Ordering::SeqCst) + 1 == goaway_after
                        {
                            goaway.notify_one();
                        }
                        Ok::<_, Infallible>(
                            Response::builder()
                                .status(answer.status)
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from(answer.body)))
                                .unwrap(),
                        )
                    }
                }
            });
            let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = goaway.notified() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

/// Waits until `check` holds, or panics after `timeout`.
pub fn eventually(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A msg_server's session to push_server.
pub struct MsgLink {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl MsgLink {
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends one IMPushToUserReq and returns the result codes.
    pub fn push(
        &mut self,
        flash: &str,
        data: &str,
        tokens: Vec<teamtalk_proto::pb::base_define::UserTokenInfo>,
    ) -> Vec<u32> {
        use std::io::{Read, Write};
        use teamtalk_proto::pb::server::{ImPushToUserReq, ImPushToUserRsp};
        use teamtalk_proto::{CommandId, Pdu};
        let req = ImPushToUserReq {
            flash: flash.into(),
            data: data.into(),
            user_token_list: tokens,
        };
        self.stream
            .write_all(&Pdu::new(CommandId::OtherPushToUserReq, 0, &req).encode())
            .unwrap();
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes(self.buf[..4].try_into().unwrap()) as usize;
                if self.buf.len() >= len {
                    let raw: Vec<u8> = self.buf.drain(..len).collect();
                    let (pdu, _) = Pdu::decode(&raw, usize::MAX).unwrap().unwrap();
                    let rsp: ImPushToUserRsp = pdu.parse().unwrap();
                    return rsp.push_result_list.iter().map(|r| r.result_code).collect();
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).unwrap();
            assert!(n > 0, "session closed while waiting");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

pub fn token(
    user_id: u32,
    user_type: i32,
    token: &str,
    push_count: u32,
    push_type: u32,
) -> teamtalk_proto::pb::base_define::UserTokenInfo {
    teamtalk_proto::pb::base_define::UserTokenInfo {
        user_id,
        user_type,
        token: token.into(),
        push_count,
        push_type,
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
