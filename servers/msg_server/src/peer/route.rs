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
//!
//! A relay written to the master is not yet safe: a route_server killed a moment later takes
//! what it had not read with it. So relays sent in the last [`RESEND_WINDOW`] are kept, and
//! when the master closes they go back to the front of the held queue, to be sent again on
//! the next master. A copy that did get through before is then relayed twice; the msg_servers
//! that deliver routed messages skip a copy they delivered already (`delivered.rs`), and the
//! notifications among these relays say the same thing twice.

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
/// How long a relay written to the master is kept to be sent again if the master closes:
/// longer than a killed route_server's link takes to report the close.
pub(crate) const RESEND_WINDOW: Duration = Duration::from_secs(2);

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
    /// Relays written to the master in the last [`RESEND_WINDOW`], oldest first.
    recent: VecDeque<(Instant, Vec<u8>)>,
    recent_bytes: usize,
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
            recent: VecDeque::new(),
            recent_bytes: 0,
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
            self.hold_again_recent(now);
        }
        self.elect(now)
    }

    /// Records a relay just written to the master, to be sent again if the master closes
    /// within [`RESEND_WINDOW`].
    pub(crate) fn sent(&mut self, bytes: Vec<u8>, now: Instant) {
        self.forget_sent_before(now);
        self.recent_bytes += bytes.len();
        self.recent.push_back((now, bytes));
        while self.recent.len() > MAX_HELD || self.recent_bytes > MAX_HELD_BYTES {
            let Some((_, old)) = self.recent.pop_front() else {
                break;
            };
            self.recent_bytes -= old.len();
        }
    }

    fn forget_sent_before(&mut self, now: Instant) {
        while let Some((at, _)) = self.recent.front() {
            if now.duration_since(*at) <= RESEND_WINDOW {
                break;
            }
            if let Some((_, old)) = self.recent.pop_front() {
                self.recent_bytes -= old.len();
            }
        }
    }

    /// The master closed: its recent relays go before everything held since, in their order.
    fn hold_again_recent(&mut self, now: Instant) {
        self.forget_sent_before(now);
        while let Some((_, bytes)) = self.recent.pop_back() {
            self.held_bytes += bytes.len();
            self.held.push_front(bytes);
        }
        self.recent_bytes = 0;
        self.drop_over_bound();
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
        self.drop_over_bound();
    }

    /// Drops the oldest held relays while the queue is over its bounds.
    fn drop_over_bound(&mut self) {
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

    #[test]
    fn relays_sent_just_before_the_master_closed_are_held_again_first() {
        let now = Instant::now();
        let mut links = RouteLinks::new(&[], now);
        links.sent(vec![1], now);
        links.sent(vec![2], now + RESEND_WINDOW);
        links.sent(vec![3], now + RESEND_WINDOW * 2);
        // Relay 1 is older than the window when the master closes; 2 and 3 go back first.
        let closed = now + RESEND_WINDOW * 2 - Duration::from_millis(1);
        links.hold_again_recent(closed);
        links.hold(vec![4]);
        assert_eq!(links.held, [vec![2], vec![3], vec![4]]);
        assert_eq!(links.held_bytes, 3);
        assert!(links.recent.is_empty() && links.recent_bytes == 0);
    }
}
