//! The worker pool that runs handlers off the reactor thread (BEHAVIOUR §8.0).
//!
//! Requests with a serialisation key (see [`crate::handler::serial_key`]: one conversation's
//! messages) go to the worker owning that key, so they run one after the other in arrival
//! order; every other request goes to a shared queue any idle worker takes from. Parallelism
//! across conversations and links is kept.
//!
//! Invariant: every task produces exactly one [`Answer`] — possibly with no PDU — even if its
//! handler panics, because the reactor releases a link's answers in request order and a
//! missing completion would hold back every later answer on that link.

use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, select_biased, unbounded};
use log::error;
use netlib::{ConnHandle, ResponseSender};
use teamtalk_proto::Pdu;

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

/// A request to run.
#[derive(Debug)]
pub struct Task {
    /// Origin link.
    pub link: LinkId,
    /// Position of the request among the link's requests.
    pub order: u64,
    /// The request.
    pub pdu: Pdu,
}

/// The outcome of a task, handed back to the reactor.
#[derive(Debug)]
pub struct Answer {
    /// Origin link.
    pub link: LinkId,
    /// Position of the request among the link's requests.
    pub order: u64,
    /// The answer PDU, if the command has one.
    pub pdu: Option<Pdu>,
}

/// The worker threads and their queues.
#[derive(Debug)]
pub struct Workers {
    shared: Option<Sender<Task>>,
    keyed: Vec<Sender<Task>>,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` workers named `db_proxy-worker-<i>` running handlers against `store`.
    pub fn start(
        count: usize,
        store: Arc<Store>,
        answers: ResponseSender<Answer>,
    ) -> io::Result<Self> {
        let (shared_tx, shared_rx) = unbounded::<Task>();
        let mut keyed = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count.max(1) {
            let (tx, rx) = unbounded::<Task>();
            keyed.push(tx);
            let shared_rx = shared_rx.clone();
            let store = Arc::clone(&store);
            let answers = answers.clone();
            threads.push(
                thread::Builder::new()
                    .name(format!("db_proxy-worker-{i}"))
                    .spawn(move || work(&store, &rx, &shared_rx, &answers))?,
            );
        }
        Ok(Self {
            shared: Some(shared_tx),
            keyed,
            threads,
        })
    }

    /// Queues a task: to the worker owning `key`, or to any worker.
    pub fn submit(&self, task: Task, key: Option<u64>) -> Result<(), Task> {
        let tx = match key {
            Some(k) if !self.keyed.is_empty() => {
                &self.keyed[(mix(k) % self.keyed.len() as u64) as usize]
            }
            _ => match &self.shared {
                Some(tx) => tx,
                None => return Err(task),
            },
        };
        tx.send(task).map_err(|e| e.0)
    }

    /// Tasks waiting for a worker.
    pub fn backlog(&self) -> usize {
        self.shared.as_ref().map_or(0, Sender::len)
            + self.keyed.iter().map(Sender::len).sum::<usize>()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Closing the queues ends each worker once its backlog is done.
        self.shared = None;
        self.keyed.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Spreads keys over workers (ids are often sequential).
fn mix(k: u64) -> u64 {
    let mut x = k ^ (k >> 33);
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

fn work(
    store: &Store,
    own: &Receiver<Task>,
    shared: &Receiver<Task>,
    answers: &ResponseSender<Answer>,
) {
    loop {
        // A worker prefers its own queue: keyed tasks have nowhere else to run.
        let task = select_biased! {
            recv(own) -> t => t,
            recv(shared) -> t => t,
        };
        let Ok(task) = task else {
            // Shutdown: both queues close together; finish what is left of either.
            for task in own.try_iter().chain(shared.try_iter()) {
                run(store, task, answers);
            }
            return;
        };
        run(store, task, answers);
    }
}

fn run(store: &Store, task: Task, answers: &ResponseSender<Answer>) {
    let pdu =
        catch_unwind(AssertUnwindSafe(|| handler::handle(store, &task.pdu))).unwrap_or_else(|_| {
            error!(
                "handler panicked: cmd=0x{:04x} handle={}",
                task.pdu.header.command_id, task.link.handle
            );
            None
        });
    answers.send(Answer {
        link: task.link,
        order: task.order,
        pdu,
    });
}
