//! The worker pool that runs handlers off the reactor thread (BEHAVIOUR §8.0), on
//! `netlib::WorkerPool`: a batch of one link's requests is a task; any idle worker takes it.
//!
//! Invariant: every task produces exactly one [`Answer`] — even if a handler panics — because
//! its link stays busy (and its later requests wait) until the answer is back.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use log::error;
use netlib::{ConnHandle, ResponseSender, WorkerPool};
use teamtalk_proto::{CommandId, Pdu};

use crate::handler;
use crate::store::Store;

/// Which link a request came from: the handle plus the link's serial number, since a handle is
/// reused after its connection closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkId {
    /// Reactor handle of the link.
    pub handle: ConnHandle,
    /// Serial number given to the link when it was accepted.
    pub serial: u64,
}

/// Requests of one link to run in order.
#[derive(Debug)]
pub struct Task {
    /// Origin link.
    pub link: LinkId,
    /// The requests, in arrival order.
    pub pdus: Vec<Pdu>,
    /// Whether the link may act as user 0, the admin (`AdminPeerIPs`).
    pub admin: bool,
}

/// The outcome of a task, handed back to the reactor.
#[derive(Debug)]
pub struct Answer {
    /// Origin link.
    pub link: LinkId,
    /// The answers, in request order (requests without an answer leave no entry).
    pub pdus: Vec<Pdu>,
}

/// The worker threads.
pub type Workers = WorkerPool<Task>;

/// Starts `count` workers named `db_proxy-worker-<i>`.
pub fn start(
    count: usize,
    store: Arc<Store>,
    answers: ResponseSender<Answer>,
) -> std::io::Result<Workers> {
    WorkerPool::start("db_proxy-worker", count.max(1), move |_| {
        let store = Arc::clone(&store);
        let answers = answers.clone();
        move |task: Task| run(&store, task, &answers)
    })
}

fn run(store: &Store, task: Task, answers: &ResponseSender<Answer>) {
    let start = std::time::Instant::now();
    let pdus = catch_unwind(AssertUnwindSafe(|| {
        handler::handle_batch(store, &task.pdus, task.admin)
    }))
    .unwrap_or_else(|_| {
        error!(
            "handler panicked: cmd=0x{:04x} handle={}",
            task.pdus.first().map_or(0, |p| p.header.command_id),
            task.link.handle
        );
        Vec::new()
    });
    // A run that stores messages counts as message work, even when token queries lead it.
    let is_msg = |p: &&Pdu| p.header.command_id == CommandId::MsgData as u16;
    let kind = task.pdus.iter().find(is_msg).or_else(|| task.pdus.first());
    store.metrics.request_done(kind, start);
    answers.send(Answer {
        link: task.link,
        pdus,
    });
}
