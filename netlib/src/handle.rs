//! Handles on a running loop from other threads: stop it, wait for it, and the addresses a
//! server bound.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

use log::{info, warn};
use mio::Waker;

use crate::event_loop::{EventLoop, NetError};
use crate::handler::Handler;

/// Requests a loop to stop from any thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    pub(crate) requested: Arc<AtomicBool>,
    pub(crate) waker: Arc<Waker>,
}

impl StopHandle {
    /// Asks the loop to stop; it calls `Handler::on_stop` on its own thread.
    pub fn stop(&self) {
        self.requested.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            warn!("cannot wake event loop for stop: err={e}");
        }
    }

    /// Stops the loop on SIGTERM or SIGINT (a thread waits for the signal).
    pub fn stop_on_signals(&self) -> io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        let stop = self.clone();
        thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    info!("signal received, stopping: signal={sig}");
                    stop.stop();
                }
            })?;
        Ok(())
    }
}

/// A loop running on its own thread.
#[derive(Debug)]
pub struct LoopHandle {
    pub(crate) stop: StopHandle,
    pub(crate) thread: Option<JoinHandle<Result<(), NetError>>>,
}

impl LoopHandle {
    /// A handle to stop the loop from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Stops the loop and waits for its thread.
    pub fn shutdown(mut self) -> Result<(), NetError> {
        self.stop.stop();
        self.join()
    }

    /// Waits for the loop's thread to end by itself.
    pub fn join(&mut self) -> Result<(), NetError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(NetError::Poll(io::Error::other(
                "event loop thread panicked",
            ))),
            None => Ok(()),
        }
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop.stop();
            let _ = self.join();
        }
    }
}

/// A server's loop running on its own thread, with the addresses the server bound; every
/// server's `spawn` returns one. Dropping it stops the loop too.
#[derive(Debug)]
pub struct ServerHandle<A> {
    handle: LoopHandle,
    addrs: A,
    metrics_addr: Option<SocketAddr>,
}

impl<A> ServerHandle<A> {
    /// Runs `event_loop` on a thread named `name`.
    pub fn spawn<H: Handler>(event_loop: EventLoop<H>, name: &str, addrs: A) -> io::Result<Self> {
        let metrics_addr = event_loop.metrics_addr();
        Ok(Self {
            handle: event_loop.spawn(name)?,
            addrs,
            metrics_addr,
        })
    }

    /// The addresses the server listens on.
    pub fn local_addrs(&self) -> &A {
        &self.addrs
    }

    /// Where the metrics endpoint listens, when the conf turned it on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// A handle that stops the server from elsewhere.
    pub fn stop_handle(&self) -> StopHandle {
        self.handle.stop_handle()
    }

    /// Stops the loop (every connection closes) and waits for its thread.
    pub fn shutdown(self) -> Result<(), NetError> {
        self.handle.shutdown()
    }
}
