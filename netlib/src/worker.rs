//! Hand-off between worker threads and the reactor: a response queue whose senders wake the
//! loop, and a fixed pool of worker threads fed by a task channel (db_proxy's model).
//!
//! The reactor never blocks on a worker: workers push results and wake the loop, and the
//! handler drains the queue in `Handler::on_wake`. Results for connections that closed in the
//! meantime are the handler's to drop.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{Receiver, Sender, TryIter};
use log::warn;
use mio::Waker;

/// The reactor's end of a response queue.
#[derive(Debug)]
pub struct ResponseQueue<T> {
    rx: Receiver<T>,
    tx: ResponseSender<T>,
}

/// A worker's end of a response queue: sending wakes the reactor.
#[derive(Debug)]
pub struct ResponseSender<T> {
    tx: Sender<T>,
    waker: Arc<Waker>,
}

impl<T> Clone for ResponseSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }
}

impl<T> ResponseQueue<T> {
    /// An unbounded queue that wakes the loop owning `waker`.
    pub fn new(waker: Arc<Waker>) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        Self {
            rx,
            tx: ResponseSender { tx, waker },
        }
    }

    /// A sender for a worker thread.
    pub fn sender(&self) -> ResponseSender<T> {
        self.tx.clone()
    }

    /// Everything queued so far, without blocking.
    pub fn drain(&self) -> TryIter<'_, T> {
        self.rx.try_iter()
    }
}

impl<T> ResponseSender<T> {
    /// Queues a result and wakes the reactor.
    pub fn send(&self, value: T) {
        // The queue's receiver lives as long as the reactor; a send error means it is gone
        // and there is nobody left to answer.
        if self.tx.send(value).is_ok() {
            if let Err(e) = self.waker.wake() {
                warn!("cannot wake event loop: err={e}");
            }
        }
    }
}

/// A fixed set of named threads, each running `work` on tasks from a shared channel.
#[derive(Debug)]
pub struct WorkerPool<T> {
    tx: Option<Sender<T>>,
    threads: Vec<JoinHandle<()>>,
}

impl<T: Send + 'static> WorkerPool<T> {
    /// Starts `count` threads named `<name>-<i>`; each builds its worker with `make(i)` and
    /// calls it for every task until the pool is dropped.
    pub fn start<W, F>(name: &str, count: usize, mut make: F) -> io::Result<Self>
    where
        W: FnMut(T) + Send + 'static,
        F: FnMut(usize) -> W,
    {
        let (tx, rx) = crossbeam_channel::unbounded::<T>();
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let rx = rx.clone();
            let mut work = make(i);
            threads.push(
                thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        for task in rx {
                            work(task);
                        }
                    })?,
            );
        }
        Ok(Self {
            tx: Some(tx),
            threads,
        })
    }

    /// Queues a task for the next free worker. Returns it back if every worker is gone.
    pub fn submit(&self, task: T) -> Result<(), T> {
        match &self.tx {
            Some(tx) => tx.send(task).map_err(|e| e.0),
            None => Err(task),
        }
    }

    /// Tasks waiting for a worker.
    pub fn backlog(&self) -> usize {
        self.tx.as_ref().map_or(0, Sender::len)
    }
}

impl<T> Drop for WorkerPool<T> {
    fn drop(&mut self) {
        // Closing the channel ends every worker's loop once the backlog is done.
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
