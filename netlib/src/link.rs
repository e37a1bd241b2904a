//! Outbound server-to-server links with the original's reconnect back-off (PROTOCOL §6.3).
//!
//! One [`Link`] per configured peer entry. After a loss or a failed connect the next attempt
//! waits 4 s, then 8, 16, 32, 64 s, then starts again at 4; a successful connect resets the
//! sequence. Unlike the original (KNOWN_DEFECTS D-NET-5) a connect that fails synchronously is
//! retried on the same schedule, and a host name is looked up again at every attempt, so a peer
//! that moved to another address is found once DNS says so; a failed lookup is a failed attempt.
//!
//! An IP literal needs no lookup. A host name is looked up on a short-lived helper thread
//! (the link is [`LinkState::Resolving`] meanwhile), because `getaddrinfo` blocks and the loop
//! must not (D-NET-7); [`Dialer::tick`] picks the answer up and connects.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};

use crate::conn::{ConnHandle, ConnOptions};
use crate::ctx::Ctx;

/// The reconnect delays, in order; the sequence wraps to the first after the last.
pub const BACKOFF_SECS: [u64; 5] = [4, 8, 16, 32, 64];

/// State of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting until the instant to try again.
    Waiting(Instant),
    /// Looking the host name up on a helper thread.
    Resolving,
    /// Connect in progress on this handle.
    Connecting(ConnHandle),
    /// Established on this handle, since the instant.
    Open(ConnHandle, Instant),
}

/// Where a link connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// An IP literal: used as is.
    Addr(SocketAddr),
    /// A host name: looked up at every attempt.
    Host(String, u16),
}

/// One configured peer and its connection.
#[derive(Debug)]
pub struct Link {
    target: Target,
    name: String,
    state: LinkState,
    /// Index into [`BACKOFF_SECS`] of the next delay.
    backoff: usize,
    /// The answer of the lookup in progress (while [`LinkState::Resolving`]).
    lookup: Option<Receiver<io::Result<SocketAddr>>>,
}

impl Link {
    /// A link to `host:port`, first attempt due at `now`. Nothing is looked up yet.
    pub fn new(host: &str, port: u16, now: Instant) -> Self {
        let name = format!("{host}:{port}");
        // Conf lists hold bare IPs; an IPv6 one may come with brackets.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let target = match literal.parse::<IpAddr>() {
            Ok(ip) => Target::Addr(SocketAddr::new(ip, port)),
            Err(_) => Target::Host(host.to_owned(), port),
        };
        Self {
            target,
            name,
            state: LinkState::Waiting(now),
            backoff: 0,
            lookup: None,
        }
    }

    /// The configured host (IP or name), which a TLS peer's certificate must name.
    pub fn host(&self) -> &str {
        self.name
            .rsplit_once(':')
            .map_or(self.name.as_str(), |(host, _)| host)
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
            LinkState::Waiting(_) | LinkState::Resolving => None,
        }
    }

    /// The address to connect to now, if known: an IP literal at once; a host name once its
    /// lookup (started by the first call) has answered. A failed lookup schedules the retry.
    fn address(&mut self, now: Instant) -> Option<SocketAddr> {
        let (host, port) = match &self.target {
            Target::Addr(addr) => return Some(*addr),
            Target::Host(host, port) => (host.clone(), *port),
        };
        let Some(lookup) = &self.lookup else {
            match start_lookup(host, port) {
                Ok(rx) => {
                    self.lookup = Some(rx);
                    self.state = LinkState::Resolving;
                }
                Err(e) => self.lookup_failed(&e, now),
            }
            return None;
        };
        let result = match lookup.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(io::Error::other("lookup thread ended")),
        };
        self.lookup = None;
        match result {
            Ok(addr) => {
                debug!("peer address resolved: peer={} addr={addr}", self.name);
                Some(addr)
            }
            Err(e) => {
                self.lookup_failed(&e, now);
                None
            }
        }
    }

    fn lookup_failed(&mut self, e: &io::Error, now: Instant) {
        warn!("cannot resolve peer address: peer={} err={e}", self.name);
        self.schedule_retry(now);
    }

    fn schedule_retry(&mut self, now: Instant) {
        let delay = Duration::from_secs(BACKOFF_SECS[self.backoff]);
        self.backoff = (self.backoff + 1) % BACKOFF_SECS.len();
        self.state = LinkState::Waiting(now + delay);
        self.lookup = None;
        info!(
            "link down, retrying: peer={} in={}s",
            self.name,
            delay.as_secs()
        );
    }
}

/// Looks `host:port` up on a new thread; the first address found is sent back.
fn start_lookup(host: String, port: u16) -> io::Result<Receiver<io::Result<SocketAddr>>> {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("dns-lookup".into())
        .spawn(move || {
            let result = (host.as_str(), port)
                .to_socket_addrs()
                .and_then(|mut addrs| {
                    addrs
                        .next()
                        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
                });
            // The link may have been dropped meanwhile; nobody needs the answer then.
            let _ = tx.send(result);
        })?;
    Ok(rx)
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

    /// Starts the connects that are due (looking host names up first); call at start-up and
    /// from a 1-s timer.
    pub fn tick<D: Default>(&mut self, ctx: &mut Ctx<D>) {
        let now = ctx.now();
        for link in &mut self.links {
            match link.state {
                LinkState::Waiting(at) if at <= now => {}
                LinkState::Resolving => {}
                _ => continue,
            }
            let Some(addr) = link.address(now) else {
                continue;
            };
            match ctx.dial(addr, link.host(), self.options, D::default()) {
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

    #[test]
    fn ip_literals_need_no_lookup_and_host_names_are_looked_up_at_each_attempt() {
        let now = Instant::now();
        let mut v4 = Link::new("127.0.0.1", 10600, now);
        assert_eq!(v4.address(now), Some("127.0.0.1:10600".parse().unwrap()));
        let mut v6 = Link::new("[::1]", 10600, now);
        assert_eq!(v6.address(now), Some("[::1]:10600".parse().unwrap()));

        let mut named = Link::new("localhost", 10600, now);
        for attempt in 0..2 {
            assert_eq!(
                named.address(now),
                None,
                "attempt {attempt}: lookup started"
            );
            assert_eq!(named.state(), LinkState::Resolving);
            let deadline = Instant::now() + Duration::from_secs(10);
            let addr = loop {
                if let Some(addr) = named.address(now) {
                    break addr;
                }
                assert!(
                    Instant::now() < deadline,
                    "lookup of localhost did not answer"
                );
                thread::sleep(Duration::from_millis(10));
            };
            assert!(addr.ip().is_loopback() && addr.port() == 10600, "{addr}");
            // The link goes down: the next attempt must look the name up again.
            named.schedule_retry(now);
            named.state = LinkState::Waiting(now);
        }
    }

    #[test]
    fn a_failed_lookup_is_a_failed_attempt_on_the_back_off_schedule() {
        let now = Instant::now();
        let mut link = Link::new("localhost", 1, now);
        let (tx, rx) = mpsc::channel();
        link.lookup = Some(rx);
        link.state = LinkState::Resolving;
        tx.send(Err(io::Error::new(io::ErrorKind::NotFound, "no such host")))
            .unwrap();
        assert_eq!(link.address(now), None);
        assert_eq!(
            link.state(),
            LinkState::Waiting(now + Duration::from_secs(4))
        );
        assert!(link.lookup.is_none());
        // A lookup thread that died without answering counts the same.
        let (tx, rx) = mpsc::channel();
        link.lookup = Some(rx);
        link.state = LinkState::Resolving;
        drop(tx);
        assert_eq!(link.address(now), None);
        assert_eq!(
            link.state(),
            LinkState::Waiting(now + Duration::from_secs(8))
        );
    }
}
