//! The msfs process: the HTTP listener, the two worker pools, the reactor handler, and the
//! write-back of the file counter when the server stops.
//!
//! Disk I/O never runs on the loop thread: a complete request is handed to a worker (GET to
//! `GetThreadCount` download workers, POST to `PostThreadCount` upload workers), which sends the
//! finished answer back through a response queue that wakes the loop. No file cache is kept in
//! memory (the original's 10 000-entry cache, KNOWN_DEFECTS D-MSFS-7); repeated downloads are
//! served from the operating system's page cache.
//!
//! Bounds (see [`Limits`]): a connection beyond `MaxConnCnt` is accepted, answered 503 and
//! closed; a request whose head and body are not all in within `RequestTimeout` of the accept
//! is closed without an answer, however steadily its bytes trickle in (the 30-s idle timeout
//! alone needs only one byte per 30 s); uploads are refused when the store's quota is full.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, NetError,
    ResponseQueue, StopHandle, TimerId, WorkerPool,
};

use crate::config::{self, Config, Limits};
use crate::http::{self, Intake, Job, MAX_BODY, MAX_HEAD, RESPONSE_503, Step};
use crate::metrics::MsfsMetrics;
use crate::store::FileStore;

const HTTP_PORT: ListenerTag = ListenerTag(0);
/// Connections are dropped after this long without input (PROTOCOL §6.1).
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Period of the request deadline check.
const DEADLINE_SWEEP: Duration = Duration::from_secs(1);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listener or the poller failed.
    #[error("network failure")]
    Net(#[from] NetError),
    /// `BaseDir` cannot be used.
    #[error("the BaseDir is set incorrectly: {path}")]
    BaseDir {
        /// The configured directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// The HTTPS certificate or key could not be used.
    #[error("tls: {0}")]
    Tls(#[from] netlib::transport::TlsError),
    /// A worker or the loop thread could not be started.
    #[error("cannot start a server thread")]
    Spawn(#[source] io::Error),
    /// The file counter could not be written back to the conf file.
    #[error("cannot write FileCnt back to {path}")]
    Persist {
        /// The conf file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: io::Error,
    },
}

/// A request handed to a worker.
#[derive(Debug)]
struct Task {
    conn: ConnHandle,
    serial: u64,
    job: Job,
}

/// A worker's finished answer.
type Done = (ConnHandle, u64, Vec<u8>);

/// Per-connection data: the connection's serial number (handles are reused; the serial tells
/// whether a worker's answer is for this connection), its request intake and when it was
/// accepted (the request deadline runs from then).
#[derive(Debug)]
pub(crate) struct HttpConn {
    serial: u64,
    intake: Intake,
    accepted: Instant,
}

impl Default for HttpConn {
    fn default() -> Self {
        Self {
            serial: 0,
            intake: Intake::Head { scanned: 0 },
            accepted: Instant::now(),
        }
    }
}

#[derive(Debug)]
struct Workers {
    get: WorkerPool<Task>,
    post: WorkerPool<Task>,
    done: ResponseQueue<Done>,
}

/// The reactor handler.
#[derive(Debug)]
pub(crate) struct Msfs {
    /// Shared with the workers, which count files and bytes.
    metrics: Arc<MsfsMetrics>,
    /// The store, for its size.
    store: Arc<FileStore>,
    workers: Option<Workers>,
    last_serial: u64,
    limits: Limits,
    deadline_sweep: Option<TimerId>,
}

impl Msfs {
    fn submit(&self, task: Task, is_get: bool) -> Result<(), Task> {
        let Some(workers) = &self.workers else {
            return Err(task);
        };
        let pool = if is_get { &workers.get } else { &workers.post };
        pool.submit(task)
    }

    /// Closes connections whose request is not all in within the request deadline.
    fn enforce_deadline(&self, ctx: &mut Ctx<HttpConn>) {
        let now = ctx.now();
        let late: Vec<ConnHandle> = ctx
            .conns()
            .iter()
            .filter(|(_, conn)| {
                !matches!(conn.data.intake, Intake::Busy)
                    && now.saturating_duration_since(conn.data.accepted)
                        > self.limits.request_timeout
            })
            .map(|(h, _)| h)
            .collect();
        for h in late {
            info!("closing http caller: handle={h} why=request not complete in time");
            ctx.close(h);
        }
    }
}

impl Handler for Msfs {
    type ConnData = HttpConn;

    fn on_accept(&mut self, ctx: &mut Ctx<HttpConn>, h: ConnHandle, _listener: ListenerTag) {
        self.last_serial += 1;
        let now = ctx.now();
        let over = ctx.conns().len() > self.limits.max_conn_cnt;
        if let Some(conn) = ctx.data_mut(h) {
            conn.serial = self.last_serial;
            conn.accepted = now;
            if over {
                conn.intake = Intake::Busy;
            }
        }
        if over {
            info!(
                "refusing http caller: handle={h} why=over {} connections",
                self.limits.max_conn_cnt
            );
            ctx.send(h, RESPONSE_503);
            ctx.close_after_flush(h);
        }
    }

    fn on_data(&mut self, ctx: &mut Ctx<HttpConn>, h: ConnHandle, input: &mut Vec<u8>) {
        let Some(conn) = ctx.data_mut(h) else {
            return;
        };
        let serial = conn.serial;
        match conn.intake.advance(input) {
            Step::Wait => {}
            Step::Close(why) => {
                info!("closing http caller: handle={h} why={why}");
                ctx.close(h);
            }
            Step::Answer(bytes) => {
                ctx.send(h, &bytes);
                ctx.close_after_flush(h);
            }
            Step::Run(job) => {
                let is_get = matches!(job, Job::Download { .. });
                let task = Task {
                    conn: h,
                    serial,
                    job,
                };
                if self.submit(task, is_get).is_err() {
                    warn!("no worker for request: handle={h}");
                    ctx.close(h);
                }
            }
        }
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<HttpConn>) {
        let m = &self.metrics;
        m.store_bytes
            .set(i64::try_from(self.store.used()).unwrap_or(i64::MAX));
        m.connections
            .set(i64::try_from(ctx.conns().len()).unwrap_or(i64::MAX));
        if let Some(w) = &self.workers {
            for (gauge, pool) in m.queued.iter().zip([&w.get, &w.post]) {
                gauge.set(i64::try_from(pool.backlog()).unwrap_or(i64::MAX));
            }
        }
    }

    fn on_wake(&mut self, ctx: &mut Ctx<HttpConn>) {
        let Some(workers) = &self.workers else {
            return;
        };
        for (h, serial, answer) in workers.done.drain() {
            if ctx.data(h).is_some_and(|c| c.serial == serial) {
                ctx.send(h, &answer);
                ctx.close_after_flush(h);
            } else {
                debug!("answer for a closed connection dropped: handle={h}");
            }
        }
    }

    fn on_close(
        &mut self,
        _ctx: &mut Ctx<HttpConn>,
        h: ConnHandle,
        _data: HttpConn,
        reason: CloseReason,
    ) {
        debug!("http caller closed: handle={h} reason={reason}");
    }

    fn on_timer(&mut self, ctx: &mut Ctx<HttpConn>, timer: TimerId) {
        if Some(timer) == self.deadline_sweep {
            self.enforce_deadline(ctx);
        }
    }
}

/// A bound msfs, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<Msfs>,
    addrs: Vec<SocketAddr>,
    /// The HTTPS addresses (`HttpsPort`), empty when off.
    https_addrs: Vec<SocketAddr>,
    store: Arc<FileStore>,
    conf_path: Option<PathBuf>,
}

impl Server {
    /// Opens `BaseDir`, starts the worker pools and binds the listeners.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let store = FileStore::open(
            &config.base_dir,
            config.files_per_dir,
            config.file_cnt,
            config.limits.disk_quota,
        )
        .map_err(|source| ServerError::BaseDir {
            path: config.base_dir.clone(),
            source,
        })?;
        info!(
            "store opened: dir={} used={} quota={}",
            config.base_dir.display(),
            store.used(),
            config.limits.disk_quota
        );
        let store = Arc::new(store);
        let mut registry = netlib::Metrics::new();
        let metrics = Arc::new(MsfsMetrics::new(&mut registry));
        let mut event_loop = EventLoop::new(Msfs {
            metrics: Arc::clone(&metrics),
            store: Arc::clone(&store),
            workers: None,
            last_serial: 0,
            limits: config.limits.clone(),
            deadline_sweep: None,
        })?;
        let addrs = event_loop.listen_all(
            &config.listen_ips,
            config.listen_port,
            HTTP_PORT,
            ConnOptions::raw(MAX_HEAD + MAX_BODY, IDLE_TIMEOUT),
        )?;
        // The same requests and answers as the plain port, inside TLS.
        let https_addrs = match &config.https {
            Some(https) => event_loop.listen_all_with(
                &config.listen_ips,
                https.port,
                HTTP_PORT,
                ConnOptions::raw(MAX_HEAD + MAX_BODY, IDLE_TIMEOUT),
                None,
                &https.transport()?,
            )?,
            None => Vec::new(),
        };
        if let Some(conf) = &config.metrics {
            event_loop.serve_metrics(conf, registry)?;
        }
        let done = ResponseQueue::new(event_loop.ctx_mut().waker());
        let pool = |name: &str, count: usize| {
            WorkerPool::start(name, count, |i| {
                let store = Arc::clone(&store);
                let metrics = Arc::clone(&metrics);
                let answers = done.sender();
                move |task: Task| {
                    let answer = http::run(&store, i, task.conn, task.job, &metrics);
                    answers.send((task.conn, task.serial, answer));
                }
            })
            .map_err(ServerError::Spawn)
        };
        let workers = Workers {
            get: pool("msfs-get", config.get_threads)?,
            post: pool("msfs-post", config.post_threads)?,
            done,
        };
        let (msfs, ctx) = event_loop.parts_mut();
        msfs.workers = Some(workers);
        msfs.deadline_sweep = Some(ctx.add_timer(DEADLINE_SWEEP, true));
        Ok(Self {
            event_loop,
            addrs,
            https_addrs,
            store,
            conf_path: config.conf_path,
        })
    }

    /// The bound addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The bound HTTPS addresses (empty without `HttpsPort`).
    pub fn https_addrs(&self) -> &[SocketAddr] {
        &self.https_addrs
    }

    /// A handle that stops the server from another thread or a signal.
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// The flag that makes the loop reread the HTTPS certificate and key at its next tick
    /// (the binary sets it from SIGHUP when `HttpsPort` is configured).
    pub fn tls_reload_flag(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.event_loop.tls_reload_flag()
    }

    /// Runs until stopped, lets the workers finish, then writes the file counter back to the
    /// conf file it was loaded from.
    pub fn run(self) -> Result<(), ServerError> {
        // Returning from the loop drops the handler, which joins the workers: every accepted
        // upload has counted by the time the counter is read.
        self.event_loop.run()?;
        let file_cnt = self.store.file_cnt();
        if let Some(path) = &self.conf_path {
            persist_file_cnt(path, file_cnt)?;
            info!(
                "file counter saved: path={} FileCnt={file_cnt}",
                path.display()
            );
        }
        Ok(())
    }

    /// Runs the server on a thread named `msfs`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let stop = self.stop_handle();
        let addrs = self.addrs.clone();
        let https_addrs = self.https_addrs.clone();
        let metrics_addr = self.event_loop.metrics_addr();
        let thread = thread::Builder::new()
            .name("msfs".into())
            .spawn(move || self.run())
            .map_err(ServerError::Spawn)?;
        Ok(ServerHandle {
            stop,
            addrs,
            https_addrs,
            metrics_addr,
            thread: Some(thread),
        })
    }
}

fn persist_file_cnt(path: &std::path::Path, file_cnt: u64) -> Result<(), ServerError> {
    let error = |source| ServerError::Persist {
        path: path.to_owned(),
        source,
    };
    let text = std::fs::read(path).map_err(error)?;
    let text = config::rewrite_file_cnt(&String::from_utf8_lossy(&text), file_cnt);
    std::fs::write(path, text).map_err(error)
}

/// A server running on its own thread.
#[derive(Debug)]
pub struct ServerHandle {
    stop: StopHandle,
    addrs: Vec<SocketAddr>,
    https_addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// The bound addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The bound HTTPS addresses (empty without `HttpsPort`).
    pub fn https_addrs(&self) -> &[SocketAddr] {
        &self.https_addrs
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops the server, waits for it, and reports how it ended.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop.stop();
        self.join()
    }

    fn join(&mut self) -> Result<(), ServerError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Spawn(io::Error::other("msfs thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.stop();
            let _ = self.join();
        }
    }
}
