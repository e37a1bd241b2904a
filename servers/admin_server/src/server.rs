//! The console's listener and runtime: `Server::bind` binds the port (0 picks one) and opens
//! the MySQL pool without connecting (the console starts while MySQL is down and shows the
//! error on its pages); `run` serves on this thread, `spawn` on a thread named
//! `admin_server`, stopped by `ServerHandle::shutdown`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use log::info;
use thiserror::Error;
use tokio::sync::oneshot;
use tt_admin::group::HttpMsgServer;

use crate::config::Config;
use crate::dashboard::Dashboard;
use crate::session::{Sessions, Throttle};
use crate::web::{self, App};

/// Worker threads of the runtime: the handlers only wait (MySQL and argon2 work runs on the
/// blocking pool), so two are plenty.
const WORKER_THREADS: usize = 2;
/// Time a client has to send a whole request head; after it the connection is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the console could not start or stopped.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// `ListenIP:ListenPort`.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The MySQL pool options were refused.
    #[error("mysql pool")]
    Db(#[source] mysql::Error),
    /// The tokio runtime or the server thread could not start, or serving failed.
    #[error("runtime")]
    Io(#[source] std::io::Error),
}

/// A bound, not yet running console.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    app: Arc<App>,
}

impl Server {
    /// Binds `ListenIP:ListenPort` and prepares the state.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let addr = format!("{}:{}", config.listen_ip, config.listen_port);
        let listener = TcpListener::bind(&addr).map_err(|source| ServerError::Bind {
            addr: addr.clone(),
            source,
        })?;
        listener.set_nonblocking(true).map_err(ServerError::Io)?;
        let constraints =
            mysql::PoolConstraints::new(0, config.db.max_conn.max(1)).expect("0 ≤ max and max ≥ 1");
        let opts = mysql::OptsBuilder::from_opts(config.db.opts())
            .pool_opts(mysql::PoolOpts::default().with_constraints(constraints));
        let pool = mysql::Pool::new(opts).map_err(ServerError::Db)?;
        let app = App {
            sessions: Sessions::new(config.session_idle),
            throttle: Throttle::default(),
            dashboard: Dashboard::default(),
            http_msg_server: HttpMsgServer {
                addr: config.http_msg_server.clone(),
                app_key: config.app_key.clone(),
            },
            pool,
            config,
        };
        Ok(Self {
            listener,
            app: Arc::new(app),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves on this thread until ctrl-c or SIGTERM.
    pub fn run(self) -> Result<(), ServerError> {
        let runtime = runtime()?;
        runtime.block_on(self.serve(async {
            let ctrl_c = tokio::signal::ctrl_c();
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }))
    }

    /// Serves on a thread named `admin_server` until the handle is shut down or dropped.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let addr = self.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = runtime()?;
        let thread = std::thread::Builder::new()
            .name("admin_server".into())
            .spawn(move || {
                runtime.block_on(self.serve(async {
                    let _ = stopped.await;
                }))
            })
            .map_err(ServerError::Io)?;
        Ok(ServerHandle {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    async fn serve(
        self,
        until: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let listener = tokio::net::TcpListener::from_std(self.listener).map_err(ServerError::Io)?;
        info!(
            "admin console listening: addr={:?}",
            listener.local_addr().ok()
        );
        let router = web::router(self.app);
        tokio::pin!(until);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut until => return Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    // EMFILE and friends: the pending connection stays in the backlog.
                    Err(e) => {
                        log::warn!("admin console accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let service = router
                .clone()
                .layer(axum::Extension(axum::extract::ConnectInfo(peer)));
            tokio::spawn(serve_connection(stream, service));
        }
    }
}

/// Serves one connection with HTTP/1.1. Unlike `axum::serve`, it bounds the time a request
/// head may take (`HEADER_READ_TIMEOUT`), so a client trickling bytes (slowloris) cannot hold
/// connections open for ever; idle keep-alive connections end the same way.
async fn serve_connection(stream: tokio::net::TcpStream, service: axum::Router) {
    use tower::ServiceExt;
    let io = hyper_util::rt::TokioIo::new(stream);
    let hyper_service = hyper::service::service_fn(move |request| {
        service.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    if let Err(e) = builder.serve_connection(io, hyper_service).await {
        log::debug!("admin console connection ended: {e}");
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServerError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("admin_server-rt")
        .enable_all()
        .build()
        .map_err(ServerError::Io)
}

/// A console running on its own thread.
#[derive(Debug)]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (open connections are dropped with the runtime) and joins the thread.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Io(std::io::Error::other(
                "server thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A console whose MySQL is a closed port: the pool connects lazily, so it still starts.
    fn server(extra: &str) -> Server {
        let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = closed.local_addr().expect("addr").port();
        drop(closed);
        let text = format!(
            "ListenIP=127.0.0.1\nListenPort=0\nteamtalk_master_host=127.0.0.1\n\
             teamtalk_master_port={port}\nteamtalk_master_dbname=x\n\
             teamtalk_master_username=x\nHttpMsgServerIP=127.0.0.1\nHttpMsgServerPort=1\n{extra}"
        );
        Server::bind(Config::from_conf(&netlib::Conf::parse(&text)).expect("conf")).expect("bind")
    }

    #[test]
    fn the_session_cookie_is_secure_only_when_configured() {
        let plain = server("");
        let session = plain.app.sessions.open("root");
        let cookie = plain.app.session_cookie_header(&session);
        assert_eq!(
            cookie,
            format!(
                "tt_admin_session={}; HttpOnly; SameSite=Strict; Path=/",
                session.id
            )
        );
        let secure = server("CookieSecure=1\n");
        let session = secure.app.sessions.open("root");
        assert!(
            secure
                .app
                .session_cookie_header(&session)
                .ends_with("; Path=/; Secure")
        );
    }

    #[test]
    fn a_console_without_mysql_starts_and_answers_sign_ins_with_the_error() {
        let handle = server("").spawn().expect("spawn");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let answer = runtime.block_on(async {
            let mut stream = tokio::net::TcpStream::connect(handle.local_addr())
                .await
                .expect("connect");
            // A valid form token: the sign-in form's cookie and the same hidden field.
            let body = "name=root&password=x&csrf=0123456789abcdef";
            let request = format!(
                "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: \
                 application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
                 Cookie: tt_admin_login=0123456789abcdef\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes())
                .await
                .expect("write");
            let mut raw = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut raw)
                .await
                .expect("read");
            String::from_utf8_lossy(&raw).into_owned()
        });
        assert!(answer.starts_with("HTTP/1.1 500"), "{answer}");
        assert!(answer.contains("database"), "{answer}");
        handle.shutdown().expect("shutdown");
    }
}
