//! The db_proxy_server process: the reactor owning the msg_server / http_msg_server links, the
//! worker pool running handlers, and the sync center.
//!
//! Flow: a PDU arrives on a link → numbered in the link's order → queued to a worker → the
//! worker's answer comes back through the response queue, which wakes the reactor → the link's
//! reorder buffer releases answers in request order. Answers for a link that closed (or whose
//! handle now belongs to a newer link, told apart by serial number) are dropped.
//!
//! Stop (SIGTERM, or [`ServerHandle::shutdown`]): every link gets IMStopReceivePacket, and the
//! loop exits after the grace period (4 s, as the original) so in-flight answers still go out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use log::{debug, info, warn};
use netlib::{
    CloseReason, ConnHandle, ConnOptions, Ctx, EventLoop, Handler, ListenerTag, NetError,
    ResponseQueue, StopHandle, TimerId,
};
use teamtalk_proto::pb::server::ImStopReceivePacket;
use teamtalk_proto::{CommandId, Pdu};

use crate::config::Config;
use crate::handler;
use crate::peer::server_link::ServerLink;
use crate::store::{Store, StoreError};
use crate::sync_center::SyncCenter;
use crate::worker::{Answer, LinkId, Task, Workers};

/// Tag of the one listener.
const LINK_LISTENER: ListenerTag = ListenerTag(0);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// MySQL or Redis could not be reached at start-up.
    #[error("cannot open storage")]
    Store(#[from] StoreError),
    /// The reactor or a listener failed.
    #[error("network failure")]
    Net(#[from] NetError),
    /// A thread could not be started.
    #[error("cannot start thread")]
    Thread(#[from] std::io::Error),
    /// The server thread panicked.
    #[error("server thread panicked")]
    Panicked,
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    event_loop: EventLoop<ProxyHandler>,
    addrs: Vec<SocketAddr>,
    sync: SyncCenter,
}

impl Server {
    /// Opens the pools, starts the workers and the sync center, and binds every listener.
    pub fn bind(config: Config) -> Result<Self, ServerError> {
        let store = Arc::new(Store::open(&config)?);
        let mut event_loop = EventLoop::new(ProxyHandler {
            workers: None,
            answers: None,
            next_serial: 0,
            stop_grace: config.stop_grace,
            stop_timer: None,
        })?;
        let queue = ResponseQueue::new(event_loop.ctx_mut().waker());
        let workers = Workers::start(config.thread_num, Arc::clone(&store), queue.sender())?;
        let (handler, _) = event_loop.parts_mut();
        handler.workers = Some(workers);
        handler.answers = Some(queue);
        let sync = SyncCenter::start(store)?;
        let addrs = event_loop.listen_all(
            &config.listen_ips,
            config.listen_port,
            LINK_LISTENER,
            ConnOptions::server_link(),
        )?;
        info!(
            "db_proxy_server listening: addrs={addrs:?} threads={}",
            config.thread_num
        );
        Ok(Self {
            event_loop,
            addrs,
            sync,
        })
    }

    /// The bound listen addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle that stops the server from another thread (or a signal).
    pub fn stop_handle(&self) -> StopHandle {
        self.event_loop.stop_handle()
    }

    /// Runs until stopped; then waits for the workers and the sync center.
    pub fn run(self) -> Result<(), ServerError> {
        let Self {
            event_loop, sync, ..
        } = self;
        // The handler, and with it the worker pool, is dropped (joined) when the loop returns.
        let result = event_loop.run();
        drop(sync);
        result.map_err(ServerError::from)
    }

    /// Runs the server on a thread named `db_proxy_server`.
    pub fn spawn(self) -> Result<ServerHandle, ServerError> {
        let stop = self.stop_handle();
        let addrs = self.addrs.clone();
        let thread = thread::Builder::new()
            .name("db_proxy_server".into())
            .spawn(move || self.run())?;
        Ok(ServerHandle {
            stop,
            addrs,
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread.
#[derive(Debug)]
pub struct ServerHandle {
    stop: StopHandle,
    addrs: Vec<SocketAddr>,
    thread: Option<JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// The bound listen addresses.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// A handle that stops the server.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the server (stop notice, grace period) and waits for it to end.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop.stop();
        self.join()
    }

    fn join(&mut self) -> Result<(), ServerError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServerError::Panicked),
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

/// The reactor side: numbers requests, hands them to workers, writes answers in order.
#[derive(Debug)]
struct ProxyHandler {
    workers: Option<Workers>,
    answers: Option<ResponseQueue<Answer>>,
    next_serial: u64,
    stop_grace: std::time::Duration,
    stop_timer: Option<TimerId>,
}

impl Handler for ProxyHandler {
    type ConnData = ServerLink;

    fn on_accept(&mut self, ctx: &mut Ctx<ServerLink>, conn: ConnHandle, _: ListenerTag) {
        self.next_serial += 1;
        if let Some(link) = ctx.data_mut(conn) {
            *link = ServerLink::new(self.next_serial);
        }
        info!(
            "server link accepted: handle={conn} peer={:?}",
            ctx.conn(conn).and_then(|c| c.peer())
        );
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<ServerLink>, conn: ConnHandle, pdu: Pdu) {
        // Heartbeats only refresh the link's receive clock, which the reactor already did.
        if pdu.header.command_id == CommandId::OtherHeartbeat as u16 {
            return;
        }
        let Some(workers) = &self.workers else {
            return;
        };
        let Some(link) = ctx.data_mut(conn) else {
            return;
        };
        debug!(
            "request: handle={conn} cmd=0x{:04x} seq={}",
            pdu.header.command_id, pdu.header.seq_num
        );
        let key = handler::serial_key(&pdu);
        let task = Task {
            link: LinkId {
                handle: conn,
                serial: link.serial,
            },
            order: link.next_order(),
            pdu,
        };
        if let Err(task) = workers.submit(task, key) {
            // Only possible while shutting down: complete it so later answers are not held.
            let _ = link.complete(task.order, None);
        }
    }

    fn on_close(
        &mut self,
        _: &mut Ctx<ServerLink>,
        conn: ConnHandle,
        link: ServerLink,
        reason: CloseReason,
    ) {
        info!(
            "server link closed: handle={conn} reason={reason} unanswered={}",
            link.in_flight()
        );
    }

    fn on_wake(&mut self, ctx: &mut Ctx<ServerLink>) {
        let Some(answers) = &self.answers else {
            return;
        };
        for answer in answers.drain() {
            let h = answer.link.handle;
            let ready = match ctx.data_mut(h) {
                Some(link) if link.serial == answer.link.serial => {
                    link.complete(answer.order, answer.pdu)
                }
                _ => {
                    debug!("dropping answer for a closed link: handle={h}");
                    continue;
                }
            };
            for pdu in ready {
                if !ctx.send_pdu(h, &pdu) {
                    warn!(
                        "answer not sent: handle={h} cmd=0x{:04x}",
                        pdu.header.command_id
                    );
                }
            }
        }
    }

    fn on_stop(&mut self, ctx: &mut Ctx<ServerLink>) -> bool {
        let notice = Pdu::new(
            CommandId::OtherStopRecvPacket,
            0,
            &ImStopReceivePacket { result: 0 },
        );
        let links: Vec<ConnHandle> = ctx.conns().iter().map(|(h, _)| h).collect();
        info!(
            "stopping: notifying links={} grace={:?}",
            links.len(),
            self.stop_grace
        );
        for h in links {
            ctx.send_pdu(h, &notice);
        }
        if self.stop_grace.is_zero() {
            return true;
        }
        self.stop_timer = Some(ctx.add_timer(self.stop_grace, false));
        false
    }

    fn on_timer(&mut self, ctx: &mut Ctx<ServerLink>, timer: TimerId) {
        if self.stop_timer == Some(timer) {
            info!("stop grace period over, exiting");
            ctx.exit();
        }
    }
}
