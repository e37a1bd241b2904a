//! Counters of what the client limits refused and of lost back-end links, readable while the
//! server runs ([`crate::Server::counters`]) and logged with the 300-s statistics line.
//!
//! Only the loop thread writes them; atomics (relaxed) let an operator thread or a test read
//! them without stopping the loop. They only ever grow.

use std::sync::atomic::{AtomicU64, Ordering};

/// The live counters of one msg_server.
#[derive(Debug, Default)]
pub struct Counters {
    refused: AtomicU64,
    dropped: AtomicU64,
    rate_limited: AtomicU64,
    bad_device_tokens: AtomicU64,
    registrations_refused: AtomicU64,
    abusive_clients_closed: AtomicU64,
    links_lost: AtomicU64,
}

/// One reading of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Client requests over a bound answered with the protocol's failure answer.
    pub refused: u64,
    /// Client requests over a bound dropped unanswered (their request has no failure answer).
    pub dropped: u64,
    /// Client requests over a per-user or per-address rate (also counted as refused or
    /// dropped).
    pub rate_limited: u64,
    /// Device tokens dropped for their length or characters (also counted as dropped).
    pub bad_device_tokens: u64,
    /// Registrations answered with a refusal by msg_server itself (disabled, invalid, rate).
    pub registrations_refused: u64,
    /// Client connections closed for collecting too many violations.
    pub abusive_clients_closed: u64,
    /// Established back-end links that closed (each is redialled).
    pub links_lost: u64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Counters {
    /// Reads every counter.
    pub fn snapshot(&self) -> CounterSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CounterSnapshot {
            refused: get(&self.refused),
            dropped: get(&self.dropped),
            rate_limited: get(&self.rate_limited),
            bad_device_tokens: get(&self.bad_device_tokens),
            registrations_refused: get(&self.registrations_refused),
            abusive_clients_closed: get(&self.abusive_clients_closed),
            links_lost: get(&self.links_lost),
        }
    }

    pub(crate) fn refused(&self) {
        bump(&self.refused);
    }

    pub(crate) fn dropped(&self) {
        bump(&self.dropped);
    }

    pub(crate) fn rate_limited(&self) {
        bump(&self.rate_limited);
    }

    pub(crate) fn bad_device_token(&self) {
        bump(&self.bad_device_tokens);
    }

    pub(crate) fn registration_refused(&self) {
        bump(&self.registrations_refused);
    }

    pub(crate) fn abusive_client_closed(&self) {
        bump(&self.abusive_clients_closed);
    }

    pub(crate) fn link_lost(&self) {
        bump(&self.links_lost);
    }
}
