//! The route_server links and the "master" among them (PROTOCOL §6.4).
//!
//! Invariant: `master` is the open route link connected longest ago, or `None` when no link is
//! open. All route traffic goes to the master except IMUserStatusUpdate, which goes to every
//! open link. Whenever the master changes to a link, that link must be sent IMRoleSet
//! {master = 1}; `connected` and `closed` report when that is due.
//!
//! Relays that must not be lost (stored messages, read and change notifications) are held
//! while no route link is open — route_server restarting, say — and sent once a master has
//! been up for [`FLUSH_DELAY`], time for the other msg_servers to link again and tell
//! route_server who is online where. The held queue is bounded ([`MAX_HELD`],
//! [`MAX_HELD_BYTES`]): past it the oldest relay is dropped and counted.

use prometheus_client::metrics::counter::Counter;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use netlib::{ConnHandle, ConnOptions, Dialer};

use crate::config::Endpoint;

/// How long a new master link is up before held relays go out on it.
pub(crate) const FLUSH_DELAY: Duration = Duration::from_secs(3);
/// Relays held at most while no route link is open.
pub(crate) const MAX_HELD: usize = 100_000;
/// Bytes of relays held at most.
pub(crate) const MAX_HELD_BYTES: usize = 64 * 1024 * 1024;

/// The route_server links.
#[derive(Debug)]
pub(crate) struct RouteLinks {
    dialer: Dialer,
    master: Option<ConnHandle>,
    /// When the current master link came up.
    master_since: Option<Instant>,
    /// Encoded relays waiting for a master link, oldest first.
    held: VecDeque<Vec<u8>>,
    held_bytes: usize,
    /// Held relays dropped because the queue was full.
    pub(crate) dropped: Counter,
}

/// What a route link event means for the master role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MasterChange {
    /// The link is not a route link.
    NotRoute,
    /// The master is unchanged.
    Same,
    /// This link became master and must get IMRoleSet.
    NewMaster(ConnHandle),
}

impl RouteLinks {
    /// Links to every configured route_server; first connects due now.
    pub(crate) fn new(peers: &[Endpoint], now: Instant) -> Self {
        Self {
            dialer: Dialer::new(peers, ConnOptions::server_link(), now),
            master: None,
            master_since: None,
            held: VecDeque::new(),
            held_bytes: 0,
            dropped: Counter::default(),
        }
    }

    /// The dialer, to start due connects.
    pub(crate) fn dialer_mut(&mut self) -> &mut Dialer {
        &mut self.dialer
    }

    /// The dialer, to read link states.
    pub(crate) fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Records a completed connect.
    pub(crate) fn connected(&mut self, h: ConnHandle, now: Instant) -> MasterChange {
        if self.dialer.connected(h, now).is_none() {
            return MasterChange::NotRoute;
        }
        self.elect(now)
    }

    /// Records a close or failed connect.
    pub(crate) fn closed(&mut self, h: ConnHandle, now: Instant) -> MasterChange {
        if self.dialer.closed(h, now).is_none() {
            return MasterChange::NotRoute;
        }
        if self.master == Some(h) {
            self.master = None;
            self.master_since = None;
        }
        self.elect(now)
    }

    fn elect(&mut self, now: Instant) -> MasterChange {
        if self.master.is_some() {
            return MasterChange::Same;
        }
        self.master = self.dialer.oldest_open();
        self.master_since = self.master.map(|_| now);
        self.master
            .map_or(MasterChange::Same, MasterChange::NewMaster)
    }

    /// Holds an encoded relay until a master link is up (see the module docs).
    pub(crate) fn hold(&mut self, bytes: Vec<u8>) {
        self.held_bytes += bytes.len();
        self.held.push_back(bytes);
        while self.held.len() > MAX_HELD || self.held_bytes > MAX_HELD_BYTES {
            let Some(old) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= old.len();
            self.dropped.inc();
        }
    }

    /// The held relays and the master to send them on, once it has been up for
    /// [`FLUSH_DELAY`]; nothing otherwise. Relays held meanwhile wait for the same delay, so
    /// they keep their order behind the older ones.
    pub(crate) fn take_held(&mut self, now: Instant) -> Option<(ConnHandle, Vec<Vec<u8>>)> {
        let master = self.master?;
        let since = self.master_since?;
        if self.held.is_empty() || now.duration_since(since) < FLUSH_DELAY {
            return None;
        }
        self.held_bytes = 0;
        Some((master, self.held.drain(..).collect()))
    }

    /// Whether relays are held: new ones must queue behind them.
    pub(crate) fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The master link, if any route link is open.
    pub(crate) fn master(&self) -> Option<ConnHandle> {
        self.master
    }

    /// Every open route link.
    pub(crate) fn open(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.dialer.open_handles()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_relays_are_bounded_and_wait_for_a_master() {
        let now = Instant::now();
        let mut links = RouteLinks::new(&[], now);
        for i in 0..MAX_HELD + 10 {
            links.hold(vec![(i % 251) as u8; 4]);
        }
        assert_eq!(links.held.len(), MAX_HELD);
        assert_eq!(links.dropped.get(), 10);
        assert!(links.holding());
        // No master: nothing to send on, however long it waits.
        assert!(links.take_held(now + FLUSH_DELAY * 10).is_none());
        links.hold(vec![0; MAX_HELD_BYTES]);
        assert!(links.held_bytes <= MAX_HELD_BYTES);
    }
}
