//! Outbound server-to-server links with the original's reconnect back-off (PROTOCOL §6.3).
//!
//! One [`Link`] per configured peer entry. After a loss or a failed connect the next attempt
//! waits 4 s, then 8, 16, 32, 64 s, then starts again at 4; a successful connect resets the
//! sequence. Unlike the original (KNOWN_DEFECTS D-NET-5) a connect that fails synchronously is
//! retried on the same schedule.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use log::{info, warn};

use crate::conn::{ConnHandle, ConnOptions};
use crate::event_loop::Ctx;

/// The reconnect delays, in order; the sequence wraps to the first after the last.
pub const BACKOFF_SECS: [u64; 5] = [4, 8, 16, 32, 64];

/// State of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting until the instant to try again.
    Waiting(Instant),
    /// Connect in progress on this handle.
    Connecting(ConnHandle),
    /// Established on this handle, since the instant.
    Open(ConnHandle, Instant),
}

/// One configured peer and its connection.
#[derive(Debug)]
pub struct Link {
    addr: Option<SocketAddr>,
    name: String,
    state: LinkState,
    /// Index into [`BACKOFF_SECS`] of the next delay.
    backoff: usize,
}

impl Link {
    /// A link to `host:port`, resolved now (start-up) so the loop never blocks on DNS later.
    pub fn new(host: &str, port: u16, now: Instant) -> Self {
        let name = format!("{host}:{port}");
        let addr = (host, port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next());
        if addr.is_none() {
            warn!("cannot resolve peer address: addr={name}");
        }
        Self {
            addr,
            name,
            state: LinkState::Waiting(now),
            backoff: 0,
        }
    }

    /// The configured `host:port`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Current state.
    pub fn state(&self) -> LinkState {
        self.state
    }

    /// The handle while the link is open.
    pub fn open_handle(&self) -> Option<ConnHandle> {
        match self.state {
            LinkState::Open(h, _) => Some(h),
            _ => None,
        }
    }

    /// The handle while connecting or open.
    pub fn handle(&self) -> Option<ConnHandle> {
        match self.state {
            LinkState::Open(h, _) | LinkState::Connecting(h) => Some(h),
            LinkState::Waiting(_) => None,
        }
    }

    fn schedule_retry(&mut self, now: Instant) {
        let delay = Duration::from_secs(BACKOFF_SECS[self.backoff]);
        self.backoff = (self.backoff + 1) % BACKOFF_SECS.len();
        self.state = LinkState::Waiting(now + delay);
        info!(
            "link down, retrying: peer={} in={}s",
            self.name,
            delay.as_secs()
        );
    }
}

/// The set of outbound links of one kind (e.g. every db_proxy entry).
#[derive(Debug)]
pub struct Dialer {
    links: Vec<Link>,
    options: ConnOptions,
}

impl Dialer {
    /// Links to each `(host, port)`, first attempts due immediately.
    pub fn new(peers: &[(String, u16)], options: ConnOptions, now: Instant) -> Self {
        Self {
            links: peers.iter().map(|(h, p)| Link::new(h, *p, now)).collect(),
            options,
        }
    }

    /// Every link.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// Starts the connects that are due; call at start-up and from a 1-s timer.
    pub fn tick<D: Default>(&mut self, ctx: &mut Ctx<D>) {
        let now = ctx.now();
        for link in &mut self.links {
            let LinkState::Waiting(at) = link.state else {
                continue;
            };
            if at > now {
                continue;
            }
            let Some(addr) = link.addr else {
                link.schedule_retry(now);
                continue;
            };
            match ctx.connect(addr, self.options, D::default()) {
                Ok(h) => link.state = LinkState::Connecting(h),
                Err(e) => {
                    warn!("connect failed: peer={} err={e}", link.name);
                    link.schedule_retry(now);
                }
            }
        }
    }

    /// Records a completed connect; returns the link's index if `h` is one of ours.
    pub fn connected(&mut self, h: ConnHandle, now: Instant) -> Option<usize> {
        let i = self
            .links
            .iter()
            .position(|l| l.state == LinkState::Connecting(h))?;
        let link = &mut self.links[i];
        link.state = LinkState::Open(h, now);
        link.backoff = 0;
        info!("link up: peer={} handle={h}", link.name);
        Some(i)
    }

    /// Records a close (or failed connect); returns the link's index if `h` was ours.
    pub fn closed(&mut self, h: ConnHandle, now: Instant) -> Option<usize> {
        let i = self.links.iter().position(|l| l.handle() == Some(h))?;
        self.links[i].schedule_retry(now);
        Some(i)
    }

    /// Index of the link using `h`, if any.
    pub fn index_of(&self, h: ConnHandle) -> Option<usize> {
        self.links.iter().position(|l| l.handle() == Some(h))
    }

    /// Handles of the open links, in configuration order.
    pub fn open_handles(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.links.iter().filter_map(Link::open_handle)
    }

    /// The open link connected longest ago (the "master" rule for route links).
    pub fn oldest_open(&self) -> Option<ConnHandle> {
        self.links
            .iter()
            .filter_map(|l| match l.state {
                LinkState::Open(h, since) => Some((since, h)),
                _ => None,
            })
            .min()
            .map(|(_, h)| h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_wraps_and_resets_on_success() {
        let now = Instant::now();
        let mut link = Link::new("127.0.0.1", 1, now);
        let mut delays = Vec::new();
        for _ in 0..7 {
            link.schedule_retry(now);
            let LinkState::Waiting(at) = link.state else {
                panic!("not waiting")
            };
            delays.push(at.duration_since(now).as_secs());
        }
        assert_eq!(delays, [4, 8, 16, 32, 64, 4, 8]);
    }
}
