//! Where the reactor hands pushes: the delivery thread in a running server
//! ([`crate::delivery`]), a capturing sink in tests that look only at the msg_server side.

use crate::delivery::Delivery;
use crate::push::{Provider, Push};

/// Takes accepted pushes without blocking the reactor.
pub trait PushSink: Send + 'static {
    /// Whether pushes for `provider` are taken (a provider not configured is not).
    fn serves(&self, provider: Provider) -> bool;
    /// Takes one push.
    fn submit(&mut self, push: Push);
}

impl PushSink for Delivery {
    fn serves(&self, provider: Provider) -> bool {
        Self::serves(self, provider)
    }

    fn submit(&mut self, push: Push) {
        Self::submit(self, push);
    }
}
