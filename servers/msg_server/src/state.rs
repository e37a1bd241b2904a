//! Everything the msg_server loop owns: configuration, back-end links, logged-in users,
//! deadline queues and counters, plus the helpers every handler uses to find connections and
//! reach users.
//!
//! Invariants:
//! - `clients` counts accepted client connections, `logged_in` those in `Open` or `Kicked`
//!   state (the count reported to login_server; a kicked connection still counts until its
//!   close sends the decrement);
//! - the deadline queues only ever hold [`ClientRef`]s, so an entry outliving its connection
//!   is recognised by its generation and skipped;
//! - nothing here blocks or scans all connections per message: the 1-s timer only pops due
//!   deadlines.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{debug, info};
use netlib::{ConnHandle, Metrics, Readiness};
use prometheus_client::metrics::counter::Counter;
use teamtalk_proto::pb::base_define::UserStatType;
use teamtalk_proto::pb::server::{ImUserCntUpdate, ImUserStatusUpdate};
use teamtalk_proto::{CommandId, DbAttachData, Pdu};

use crate::config::Config;
use crate::counters::Counters;
use crate::delivered::RecentDeliveries;
use crate::limits::{Bounds, RateLimiter};
use crate::metrics::MsgMetrics;
use crate::peer::client::{ClientConn, ClientRef, ClientState, Generations, UNACKED_TIMEOUT};
use crate::peer::{ConnData, Links};
use crate::pending::{Continuation, Pending, PendingStats, PendingTable};
use crate::presence::PresenceBatch;
use crate::users::Users;

/// The reactor context as msg_server uses it.
pub(crate) type Ctx = netlib::Ctx<ConnData>;

/// A connection that has not logged in within this time after accept is closed.
pub(crate) const LOGIN_DEADLINE: Duration = Duration::from_secs(15);
/// A connection closed after a final PDU (kick, logout, refusal) gets this long to take the
/// PDU; a peer that does not read is then closed anyway.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Counters are logged this often (the original's 300-s statistics line).
const STATS_INTERVAL: Duration = Duration::from_secs(300);
/// Source addresses whose registrations are tracked at once; beyond it (every slot in a live
/// window) registrations from new addresses are refused until a window ends.
const MAX_REGISTRATION_ADDRS: usize = 10_000;
/// Rate windows are swept this often (seconds), so idle keys do not hold memory.
const RATE_PURGE_SECS: u32 = 60;
/// `IMUserCntUpdate.user_action` for a login.
const USER_CNT_INC: u32 = 1;
/// `IMUserCntUpdate.user_action` for a logout.
const USER_CNT_DEC: u32 = 2;

/// Message counters (BEHAVIOUR §1.4), logged every 300 s and exported as
/// `teamtalk_messages_total{event}`. SIGUSR1 resets what the log line shows; the exported
/// counters never go back (Prometheus counters only grow), so the reset keeps a baseline.
#[derive(Debug)]
pub(crate) struct Stats {
    /// IMMsgData forwarded from clients to db_proxy.
    pub(crate) upstream: Counter,
    /// IMMsgData delivered to client connections.
    pub(crate) downstream: Counter,
    /// Delivered single-chat messages never acked within 15 s.
    pub(crate) missed: Counter,
    /// Readings at the last reset.
    baseline: [u64; 3],
}

impl Stats {
    fn new(metrics: &mut Metrics) -> Self {
        let [upstream, downstream, missed] = metrics.counters(
            "messages",
            "Chat messages: received from clients (and sent to db_proxy), delivered to client \
             connections, delivered but never acked",
            "event",
            ["received", "delivered", "unacked"],
        );
        Self {
            upstream,
            downstream,
            missed,
            baseline: [0; 3],
        }
    }

    fn now(&self) -> [u64; 3] {
        [
            self.upstream.get(),
            self.downstream.get(),
            self.missed.get(),
        ]
    }

    /// The counts since the last reset: upstream, downstream, missed.
    fn since_reset(&self) -> [u64; 3] {
        let now = self.now();
        [0, 1, 2].map(|i| now[i] - self.baseline[i])
    }

    fn reset(&mut self) {
        self.baseline = self.now();
    }
}

/// Operator requests made by signals (CONFIG §1.1), picked up by the 1-s timer.
#[derive(Debug, Default)]
pub(crate) struct SignalFlags {
    /// SIGUSR1: reset the message counters.
    pub(crate) reset_stats: AtomicBool,
    /// SIGUSR2: toggle logging of every received IMMsgData (metadata only, never the text).
    pub(crate) toggle_msg_log: AtomicBool,
}

/// The authenticated client a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Caller {
    pub(crate) handle: ConnHandle,
    pub(crate) generation: u32,
    pub(crate) user_id: u32,
    pub(crate) client_type: u8,
}

impl Caller {
    /// The caller's connection with its generation.
    pub(crate) fn client_ref(&self) -> ClientRef {
        ClientRef {
            handle: self.handle,
            generation: self.generation,
        }
    }

    /// Key spreading this client's back-end requests over links (stable per connection).
    pub(crate) fn spread(&self) -> usize {
        spread_of(self.handle)
    }
}

/// Key spreading the back-end requests of client connection `h` over links: the same for
/// every request of the connection (so db_proxy sees them in order), and mixed, so that
/// connection slots with a common stride do not share links. Slots taken in turn by two
/// kinds of client (a load generator's senders and receivers, or any pairing pattern) are
/// all even for one kind: `slot % links` sent every message of 1,000 senders down one of two
/// db_proxy links while the other idled (benches/README.md, "One-to-one messages").
pub(crate) fn spread_of(h: ConnHandle) -> usize {
    // Fibonacci hashing: the high half of the product depends on every bit of the slot.
    let mixed = (h.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    usize::try_from(mixed).unwrap_or(h.0)
}

/// The client ports beside `ListenPort`, as bound, by transport (PROTOCOL §2.4).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OtherPorts {
    pub(crate) tls: Option<u16>,
    pub(crate) ws: Option<u16>,
    pub(crate) wss: Option<u16>,
}

/// The msg_server state; implements `netlib::Handler` in `handler`.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    /// The client port actually bound (reported to login_server).
    pub(crate) listen_port: u16,
    /// The TLS and WebSocket client ports actually bound (reported to login_server too).
    pub(crate) other_ports: OtherPorts,
    /// This host's name (reported to login_server).
    pub(crate) host_name: String,
    pub(crate) links: Links,
    pub(crate) users: Users,
    pub(crate) generations: Generations,
    /// Client requests waiting for a back end's answer.
    pub(crate) pending: PendingTable,
    /// Stored messages delivered from here lately (for copies sent again).
    pub(crate) delivered: RecentDeliveries,
    /// Presence notifications waiting to be broadcast to the PC clients.
    pub(crate) presence: PresenceBatch,
    pub(crate) clients: usize,
    pub(crate) logged_in: u32,
    /// Seconds since start (the 1-s tick count); rate-limit windows are keyed by it.
    pub(crate) second: u32,
    pub(crate) stats: Stats,
    /// Log every received IMMsgData (toggled by SIGUSR2).
    pub(crate) log_messages: bool,
    pub(crate) signals: Arc<SignalFlags>,
    /// What the client limits refused, and lost links (shared with [`crate::Server`]).
    pub(crate) counters: Arc<Counters>,
    /// The rest of what the metrics endpoint exports.
    pub(crate) metrics: MsgMetrics,
    /// The configurable field bounds.
    pub(crate) bounds: Bounds,
    /// Registrations per source address.
    pub(crate) registrations: RateLimiter<IpAddr>,
    /// Signature and avatar changes per user.
    pub(crate) profile_changes: RateLimiter<u32>,
    login_deadlines: VecDeque<(Instant, ClientRef)>,
    close_deadlines: VecDeque<(Instant, ClientRef)>,
    unacked_expiry: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    /// Rotates internal requests (no client behind them) over back-end links.
    spread: usize,
    last_stats: Instant,
}

impl State {
    /// A state with links to every configured back end (nothing connected yet), its metrics
    /// registered in `metrics`.
    pub(crate) fn new(config: Config, now: Instant, metrics: &mut Metrics) -> Self {
        let links = Links::new(&config, now);
        metrics.registry().register(
            "route_relays_dropped",
            "Relays to other msg_servers dropped while no route_server was up (queue full)",
            links.route.dropped.clone(),
        );
        // Users whose windows are live: at most every connection's user plus those that left
        // within the last minute.
        let profile_keys = (config.max_conn_cnt as usize).saturating_mul(2).max(1024);
        Self {
            bounds: Bounds {
                group_members: config.max_group_members_per_request,
            },
            registrations: RateLimiter::new(
                config.registrations_per_minute,
                MAX_REGISTRATION_ADDRS,
            ),
            profile_changes: RateLimiter::new(config.profile_changes_per_minute, profile_keys),
            counters: Arc::new(Counters::new(metrics)),
            metrics: MsgMetrics::new(metrics),
            links,
            listen_port: config.listen_port,
            other_ports: OtherPorts::default(),
            host_name: host_name(),
            config,
            users: Users::default(),
            generations: Generations::default(),
            pending: PendingTable::new(PendingStats::new(metrics)),
            delivered: RecentDeliveries::default(),
            presence: PresenceBatch::default(),
            clients: 0,
            logged_in: 0,
            second: 0,
            stats: Stats::new(metrics),
            log_messages: false,
            signals: Arc::default(),
            login_deadlines: VecDeque::new(),
            close_deadlines: VecDeque::new(),
            unacked_expiry: BinaryHeap::new(),
            spread: 0,
            last_stats: now,
        }
    }

    /// A rotating spread key for requests not tied to a client.
    fn next_spread(&mut self) -> usize {
        self.spread = self.spread.wrapping_add(1);
        self.spread
    }

    /// A file_server link for a new task, rotating over the configured ones.
    pub(crate) fn pick_file_link(&mut self) -> Option<ConnHandle> {
        let spread = self.next_spread();
        self.links.file.pick(spread)
    }

    /// A business-pool db_proxy link for a request no client is waiting on.
    pub(crate) fn pick_business_link(&mut self) -> Option<ConnHandle> {
        let spread = self.next_spread();
        self.links.db.for_business(spread)
    }

    /// The pending request an answer's attach names, removed from the table, if it is still
    /// waiting and was made for `continuation`.
    pub(crate) fn answered(
        &mut self,
        attach: &[u8],
        continuation: Continuation,
    ) -> Option<Pending> {
        let id = DbAttachData::decode(attach).ok()?.handle;
        let pending = self.pending.answer(id)?;
        self.metrics
            .db_answered(pending.continuation, pending.sent.elapsed().as_secs_f64());
        if std::mem::discriminant(&pending.continuation) != std::mem::discriminant(&continuation) {
            debug!(
                "answer for another kind of request: expected={continuation:?} was={:?}",
                pending.continuation
            );
            return None;
        }
        Some(pending)
    }

    /// The client connection of the pending request an answer's attach names, leaving the
    /// request in the table (for answers that must be checked before they are accepted).
    pub(crate) fn peek_requester(
        &self,
        ctx: &Ctx,
        attach: &[u8],
        continuation: Continuation,
    ) -> Option<ConnHandle> {
        let id = DbAttachData::decode(attach).ok()?.handle;
        let pending = self
            .pending
            .peek(id)
            .filter(|p| p.continuation == continuation)?;
        self.requester(ctx, pending, None)
    }

    /// The connection of a pending request's client if it is still the same accept and, when
    /// `user_id` is given, logged in as that user.
    pub(crate) fn requester(
        &self,
        ctx: &Ctx,
        pending: &Pending,
        user_id: Option<u32>,
    ) -> Option<ConnHandle> {
        let r = pending.client;
        let c = client(ctx, r.handle).filter(|c| c.generation == r.generation)?;
        match user_id {
            Some(user) if c.open_user() != Some(user) => None,
            _ => Some(r.handle),
        }
    }

    /// Enters a request of `me` going out on `link` in the pending table; returns the id its
    /// attach handle carries.
    pub(crate) fn track(
        &mut self,
        now: Instant,
        client: ClientRef,
        link: ConnHandle,
        continuation: Continuation,
        failure: crate::pending::Failure,
    ) -> u32 {
        let deadline = now + self.config.request_timeout;
        self.pending
            .insert(continuation, client, link, failure, (now, deadline))
    }

    /// Sends the same encoded PDU to every open connection of `user_id` except `except`.
    pub(crate) fn send_to_user(
        &self,
        ctx: &mut Ctx,
        user_id: u32,
        bytes: &[u8],
        except: Option<ConnHandle>,
    ) {
        for &h in self.users.conns(user_id) {
            if Some(h) != except {
                ctx.send_deferred(h, bytes);
            }
        }
    }

    /// Sends the same encoded PDU to the open connections of `user_id` that `filter` accepts.
    pub(crate) fn send_to_user_where(
        &self,
        ctx: &mut Ctx,
        user_id: u32,
        bytes: &[u8],
        filter: impl Fn(&ClientConn) -> bool,
    ) {
        for &h in self.users.conns(user_id) {
            if client(ctx, h).is_some_and(&filter) {
                ctx.send_deferred(h, bytes);
            }
        }
    }

    /// Sends the same encoded PDU to every open connection of every logged-in user that
    /// `filter` accepts (presence and signature broadcasts).
    pub(crate) fn broadcast(
        &self,
        ctx: &mut Ctx,
        bytes: &[u8],
        filter: impl Fn(&ClientConn) -> bool,
    ) {
        for (_, user) in self.users.iter() {
            for &h in user.conns() {
                if client(ctx, h).is_some_and(&filter) {
                    ctx.send_deferred(h, bytes);
                }
            }
        }
    }

    /// Delivers a single-chat message to one connection and tracks it until acked.
    pub(crate) fn deliver_tracked(
        &mut self,
        ctx: &mut Ctx,
        h: ConnHandle,
        bytes: &[u8],
        msg_id: u32,
        from_id: u32,
    ) {
        if !ctx.send_deferred(h, bytes) {
            return;
        }
        self.stats.downstream.inc();
        let now = ctx.now();
        if let Some(ConnData::Client(c)) = ctx.data_mut(h) {
            if c.push_unacked(msg_id, from_id, now) {
                self.unacked_expiry
                    .push(Reverse((now + UNACKED_TIMEOUT, h.0, c.generation)));
            }
        }
    }

    /// Sends a relay that must not be lost to the master route link; while there is none (or
    /// older relays are still held) it is held until one is up (see `peer::route`).
    pub(crate) fn relay_to_route(&mut self, ctx: &mut Ctx, pdu: &Pdu) {
        let bytes = pdu.encode();
        match self.links.route.master() {
            Some(route) if !self.links.route.holding() => {
                ctx.send_deferred(route, &bytes);
                self.links.route.sent(bytes, ctx.now());
            }
            _ => self.links.route.hold(bytes),
        }
    }

    /// Starts the 15-s login deadline of a new connection.
    pub(crate) fn watch_login(&mut self, now: Instant, r: ClientRef) {
        self.login_deadlines.push_back((now + LOGIN_DEADLINE, r));
    }

    /// Closes a client once its queued output (a final answer or a kick) is written, or after
    /// [`CLOSE_GRACE`] if the peer does not read it.
    pub(crate) fn close_client_after_flush(&mut self, ctx: &mut Ctx, h: ConnHandle) {
        if let Some(c) = client(ctx, h) {
            let r = ClientRef {
                handle: h,
                generation: c.generation,
            };
            self.close_deadlines.push_back((ctx.now() + CLOSE_GRACE, r));
        }
        ctx.close_after_flush(h);
    }

    /// Tells login_servers and route_servers that a connection of `user_id` came online.
    pub(crate) fn announce_online(&self, ctx: &mut Ctx, user_id: u32, client_type: u8) {
        self.announce(
            ctx,
            user_id,
            client_type,
            USER_CNT_INC,
            UserStatType::UserStatusOnline,
        );
    }

    /// Tells login_servers and route_servers that a connection of `user_id` went away.
    pub(crate) fn announce_offline(&self, ctx: &mut Ctx, user_id: u32, client_type: u8) {
        self.announce(
            ctx,
            user_id,
            client_type,
            USER_CNT_DEC,
            UserStatType::UserStatusOffline,
        );
    }

    fn announce(
        &self,
        ctx: &mut Ctx,
        user_id: u32,
        client_type: u8,
        action: u32,
        status: UserStatType,
    ) {
        let cnt = Pdu::new(
            CommandId::OtherUserCntUpdate,
            0,
            &ImUserCntUpdate {
                user_action: action,
                user_id,
            },
        );
        for h in self.links.login.open_handles() {
            ctx.send_pdu_deferred(h, &cnt);
        }
        let stat = Pdu::new(
            CommandId::OtherUserStatusUpdate,
            0,
            &ImUserStatusUpdate {
                user_status: status as u32,
                user_id,
                client_type: i32::from(client_type),
            },
        );
        for h in self.links.route.open() {
            ctx.send_pdu_deferred(h, &stat);
        }
    }

    /// The 1-s housekeeping: reconnects, login deadlines, unacked expiry, statistics.
    pub(crate) fn tick(&mut self, ctx: &mut Ctx) {
        self.second = self.second.wrapping_add(1);
        if self.second % RATE_PURGE_SECS == 0 {
            self.registrations.purge(self.second);
            self.profile_changes.purge(self.second);
        }
        let now = ctx.now();
        self.links.tick(ctx);
        if let Some((route, held)) = self.links.route.take_held(now) {
            info!(
                "route link up, sending held relays: handle={route} relays={}",
                held.len()
            );
            for bytes in held {
                ctx.send_deferred(route, &bytes);
                self.links.route.sent(bytes, now);
            }
        }
        while let Some(&(at, r)) = self.login_deadlines.front() {
            if at > now {
                break;
            }
            self.login_deadlines.pop_front();
            let pending = matches!(
                ctx.data(r.handle),
                Some(ConnData::Client(c)) if c.generation == r.generation
                    && matches!(c.state, ClientState::Fresh | ClientState::Validating { .. })
            );
            if pending {
                debug!("closing client, login deadline passed: handle={}", r.handle);
                ctx.close(r.handle);
            }
        }
        while let Some(&(at, r)) = self.close_deadlines.front() {
            if at > now {
                break;
            }
            self.close_deadlines.pop_front();
            if client(ctx, r.handle).is_some_and(|c| c.generation == r.generation) {
                debug!(
                    "closing client that did not take its last pdu: handle={}",
                    r.handle
                );
                ctx.close(r.handle);
            }
        }
        while let Some(&Reverse((at, key, generation))) = self.unacked_expiry.peek() {
            if at > now {
                break;
            }
            self.unacked_expiry.pop();
            let h = ConnHandle(key);
            if let Some(ConnData::Client(c)) = ctx.data_mut(h) {
                if c.generation == generation {
                    let (missed, next) = c.expire_unacked(now);
                    self.stats.missed.inc_by(missed as u64);
                    if let Some(next) = next {
                        self.unacked_expiry.push(Reverse((next, key, generation)));
                    }
                }
            }
        }
        if self.signals.reset_stats.swap(false, Ordering::Relaxed) {
            info!("message counters reset");
            self.stats.reset();
        }
        if self.signals.toggle_msg_log.swap(false, Ordering::Relaxed) {
            self.log_messages = !self.log_messages;
            info!("per-message logging: enabled={}", self.log_messages);
        }
        if now.duration_since(self.last_stats) >= STATS_INTERVAL {
            self.last_stats = now;
            let c = self.counters.snapshot();
            let p = &self.pending.stats;
            let [upstream, downstream, missed] = self.stats.since_reset();
            info!(
                "stats: users={} conns={} logged_in={} upstream={} downstream={} missed={} \
                 refused={} dropped={} rate_limited={} bad_tokens={} regist_refused={} \
                 abusers_closed={} links_lost={} pending={} answered={} link_lost={} \
                 expired={} unmatched={} route_relays_dropped={}",
                self.users.len(),
                self.clients,
                self.logged_in,
                upstream,
                downstream,
                missed,
                c.refused,
                c.dropped,
                c.rate_limited,
                c.bad_device_tokens,
                c.registrations_refused,
                c.abusive_clients_closed,
                c.links_lost,
                self.pending.len(),
                p.answered.get(),
                p.link_lost.get(),
                p.expired.get(),
                p.unmatched.get(),
                self.links.route.dropped.get()
            );
        }
    }
}

impl State {
    /// Sets the gauges that mirror the loop's state, before a scrape.
    pub(crate) fn set_metric_gauges(&self) {
        self.metrics.set_state(
            self.clients,
            self.logged_in,
            self.users.len(),
            self.pending.len(),
        );
        let links = &self.metrics.links;
        for (kind, dialer) in [
            ("db_proxy", self.links.db.dialer()),
            ("login", &self.links.login),
            ("route", self.links.route.dialer()),
            ("push", &self.links.push),
            ("file", self.links.file.dialer()),
        ] {
            for link in dialer.links() {
                links.set(kind, link);
            }
        }
    }

    /// Ready with a db_proxy link and a master route link: without either no client can log
    /// in.
    pub(crate) fn required_links(&self) -> Readiness {
        Readiness::ready()
            .require("db_proxy", self.links.db.any_open())
            .require("route", self.links.route.master().is_some())
    }
}

/// The client data of `h`, if it is a client connection.
pub(crate) fn client(ctx: &Ctx, h: ConnHandle) -> Option<&ClientConn> {
    match ctx.data(h) {
        Some(ConnData::Client(c)) => Some(c),
        _ => None,
    }
}

/// The client data of `h`, mutably.
pub(crate) fn client_mut(ctx: &mut Ctx, h: ConnHandle) -> Option<&mut ClientConn> {
    match ctx.data_mut(h) {
        Some(ConnData::Client(c)) => Some(c),
        _ => None,
    }
}

/// Current Unix time in seconds, as every time field on the wire.
pub(crate) fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// The host name reported to login_server (the original's `gethostname()`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_with_a_common_stride_spread_evenly_over_links() {
        for stride in [1, 2, 4] {
            for links in [2, 3, 4, 10] {
                let mut per_link = vec![0u32; links];
                for slot in (0..4000).step_by(stride) {
                    per_link[spread_of(ConnHandle(slot)) % links] += 1;
                }
                let (min, max) = (per_link.iter().min(), per_link.iter().max());
                let (min, max) = (*min.unwrap(), *max.unwrap());
                assert!(
                    max - min <= max / 5,
                    "stride {stride}, {links} links: {per_link:?}"
                );
            }
        }
        assert_eq!(spread_of(ConnHandle(7)), spread_of(ConnHandle(7)));
    }
}
