//! The client side of a load run: one netlib event loop holding many simulated clients.
//!
//! A [`Driver`] is the loop's handler. It logs its users in at a bounded concurrency, then —
//! when the controlling thread moves the shared [`Phase`] on — lets its senders send
//! encrypted text messages (window- and rate-limited), acknowledges every delivery as a real
//! client does, and finally hands a [`LoopReport`] back over a channel and leaves the loop.
//!
//! Like a real client, a sender sends a message again (same `create_time`, same text) when
//! its ack does not come within the ack timeout, and — with reconnecting on — a client whose
//! connection drops asks login_server for a msg_server again (with back-off), logs in, sends
//! its unacknowledged messages again and, as a receiver, reads the history of its
//! conversations for what was delivered while it was away.
//!
//! Invariants: a user's connection handle is only trusted through the connection's own data
//! ([`Slot`]), since handles are reused after a close; a sender never has more than `window`
//! messages without a server ack that it has not given up on; each sequence number of a
//! stream is sent as a new message once, and every copy of it carries the same header seq,
//! `create_time` and text.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{debug, warn};
use netlib::{CloseReason, ConnHandle, ConnOptions, Ctx, DialTransport, Handler, TimerId};
use teamtalk_proto::pb::base_define::{MsgType, SessionType, UserStatType};
use teamtalk_proto::pb::login::{ImLoginReq, ImLoginRes};
use teamtalk_proto::pb::message::{ImGetMsgListReq, ImGetMsgListRsp, ImMsgData, ImMsgDataAck};
use teamtalk_proto::{CommandId, Pdu};
use tt_client::crypto::{decrypt_text, encrypt_text};

use crate::cli::ClientKind;
use crate::stats::Latencies;
use crate::tracker::{AckOutcome, Arrival, Payload, Pending, SendTracker, StreamTracker};
use crate::transport::TransportKind;

/// How often a loop looks at the shared phase, login deadlines and due senders.
const TICK: Duration = Duration::from_millis(5);
/// Clients send a heartbeat after 30 s without sending (PROTOCOL §6.1).
const CLIENT_HEARTBEAT: Duration = Duration::from_secs(30);
/// Version string sent in IMLoginReq.
const CLIENT_VERSION: &str = "tt-load/1";
/// First wait before a dropped client tries again; doubled after each failed attempt.
const RECONNECT_FIRST: Duration = Duration::from_millis(200);
/// Longest wait between reconnect attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(3);
/// Time one reconnect attempt (discovery, connect, login) may take.
const RECONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages per history page (db_proxy's largest page).
const HISTORY_PAGE: u32 = 100;
/// History pages read per conversation and pull.
const HISTORY_PAGES: u32 = 50;

/// The stages of a run, set by the controlling thread and followed by every loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    /// Users connect and log in.
    Login = 0,
    /// Senders send (or, for idle runs, connections are held).
    Run = 1,
    /// No new messages; outstanding acks and deliveries may still arrive.
    Drain = 2,
    /// Report and leave the loop.
    Finish = 3,
}

impl Phase {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Login,
            1 => Self::Run,
            2 => Self::Drain,
            _ => Self::Finish,
        }
    }
}

/// Live counters shared by all loops, read by the progress line and the phase control.
#[derive(Debug, Default)]
pub struct Counters {
    /// Logins answered with success.
    pub login_ok: AtomicU64,
    /// Logins that failed.
    pub login_failed: AtomicU64,
    /// Users currently logged in.
    pub online: AtomicU64,
    /// Messages sent.
    pub sent: AtomicU64,
    /// Server acks received.
    pub acked: AtomicU64,
    /// Deliveries the sent messages call for.
    pub expected: AtomicU64,
    /// Distinct deliveries received.
    pub delivered: AtomicU64,
    /// Logged-in connections that closed before the end.
    pub disconnects: AtomicU64,
    /// Clients logged in again after a dropped connection.
    pub reconnects: AtomicU64,
    /// Message copies sent again (ack timeouts and reconnects).
    pub resends: AtomicU64,
    /// Loops whose users have all finished logging in.
    pub loops_logged_in: AtomicU64,
}

/// State shared between the controlling thread and the loops.
#[derive(Debug)]
pub struct Shared {
    /// Clock origin of payload timestamps.
    pub origin: Instant,
    /// Tag that marks this run's messages.
    pub run_tag: u32,
    phase: AtomicU8,
    /// Live counters.
    pub counters: Counters,
}

impl Shared {
    /// A fresh run in the login phase.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
            .unwrap_or(0);
        Self {
            origin: Instant::now(),
            run_tag: nanos ^ std::process::id(),
            phase: AtomicU8::new(Phase::Login as u8),
            counters: Counters::default(),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves every loop to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}

/// What one user does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Logs in and stays connected.
    Idle,
    /// 1:1 sender of stream `stream` to the user at index `peer` of the same loop.
    PairSender {
        /// Stream (pair) number.
        stream: u32,
        /// Index of the receiver in the loop's user list.
        peer: usize,
    },
    /// 1:1 receiver of stream `stream`.
    PairReceiver {
        /// Stream (pair) number.
        stream: u32,
    },
    /// Group member: receives every sender stream but its own; sends when `stream` is set.
    GroupMember {
        /// Its own sender stream, if it sends.
        stream: Option<u32>,
        /// Number of sender streams in the group (streams `0..senders`).
        senders: u32,
    },
}

/// One simulated client as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPlan {
    /// Login name.
    pub name: String,
    /// msg_server to connect to.
    pub addr: SocketAddr,
    /// What it does.
    pub role: Role,
}

/// Settings common to all users of a loop.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Client type of the logins.
    pub client: ClientKind,
    /// md5hex of the password, as clients send it.
    pub password_hash: String,
    /// Logins in flight in this loop.
    pub concurrency: usize,
    /// Time a login may take.
    pub login_timeout: Duration,
    /// Message key.
    pub aes_key: [u8; 32],
    /// Messages in flight per sender.
    pub window: u32,
    /// Messages per second per sender (0 = window only).
    pub rate: f64,
    /// Group id of group runs.
    pub group_id: Option<u32>,
    /// A message not acked within this is sent again.
    pub ack_timeout: Duration,
    /// Copies sent after the first on ack timeouts (0: never resend).
    pub max_resends: u32,
    /// login_server discovery URL to reconnect through; `None`: a dropped client stays
    /// dropped.
    pub reconnect: Option<String>,
    /// What every connection carries its PDUs over.
    pub transport: Arc<DialTransport>,
    /// Which of a discovered msg_server's ports a reconnecting client uses.
    pub transport_kind: TransportKind,
}

/// What a loop measured, handed back when it finishes.
#[derive(Debug, Default)]
pub struct LoopReport {
    /// Connect-to-answer time of successful logins.
    pub login_latency: Latencies,
    /// Login failure reasons.
    pub login_errors: BTreeMap<String, u64>,
    /// Successful logins.
    pub login_ok: u64,
    /// Failed logins.
    pub login_failed: u64,
    /// When the first login started.
    pub login_first_start: Option<Instant>,
    /// When the last login ended.
    pub login_last_end: Option<Instant>,
    /// Send-to-ack times.
    pub ack_latency: Latencies,
    /// Send-to-delivery times.
    pub delivery_latency: Latencies,
    /// Messages sent per stream.
    pub sent_by_stream: HashMap<u32, u64>,
    /// Messages acked (each once, however many copies were answered).
    pub acked: u64,
    /// Sequence numbers acked, per stream.
    pub acked_by_stream: HashMap<u32, Vec<u64>>,
    /// Copies sent again (ack timeouts and reconnects).
    pub resends: u64,
    /// Distinct messages sent more than once.
    pub resent_messages: u64,
    /// Acks that matched no waiting message (answers to a copy of an acked message).
    pub unmatched_acks: u64,
    /// Clients logged in again after a dropped connection.
    pub reconnects: u64,
    /// The longest time any sender waited between two acks, in seconds.
    pub longest_ack_gap: f64,
    /// Senders still waiting for an ack at the end.
    pub unhealed_senders: u64,
    /// Messages a receiver found in the history that it had not received live.
    pub fetched: u64,
    /// Acks received before sending stopped.
    pub acked_in_window: u64,
    /// Distinct deliveries before sending stopped.
    pub delivered_in_window: u64,
    /// Per online receiver: the streams it should get and what it got.
    pub receivers: Vec<ReceiverReport>,
    /// Deliveries addressed to someone else.
    pub misdelivered: u64,
    /// Logged-in connections that closed early.
    pub disconnects: u64,
    /// Users still logged in at the end.
    pub still_connected: u64,
}

/// One receiver's bookkeeping.
#[derive(Debug, Default)]
pub struct ReceiverReport {
    /// Streams this receiver should have received every message of.
    pub expected: Vec<u32>,
    /// What arrived, per stream.
    pub trackers: HashMap<u32, StreamTracker>,
}

/// Connection data: the index of the user the connection belongs to.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Slot(Option<usize>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserState {
    Waiting,
    Connecting {
        started: Instant,
    },
    LoggingIn {
        started: Instant,
    },
    Online,
    Failed,
    Closed,
    /// Dropped; tries again at `due`.
    Reconnecting {
        due: Instant,
    },
    /// Asking login_server for a msg_server.
    Discovering {
        started: Instant,
    },
}

#[derive(Debug)]
struct SenderState {
    stream: u32,
    peer: Option<usize>,
    to_session: u32,
    next_seq: u64,
    tracker: SendTracker,
    next_due: Instant,
    /// Deliveries each message calls for.
    recipients: u64,
}

#[derive(Debug)]
struct User {
    name: String,
    addr: SocketAddr,
    state: UserState,
    conn: Option<ConnHandle>,
    user_id: u32,
    sender: Option<SenderState>,
    receiver: Option<ReceiverReport>,
    /// Logging in again after a drop (failures retry instead of failing the login).
    relogin: bool,
    /// Wait before the next reconnect attempt.
    backoff: Duration,
    /// Logged in again at least once.
    reconnected: bool,
}

/// The handler of one driver loop.
#[derive(Debug)]
pub struct Driver {
    shared: Arc<Shared>,
    config: DriverConfig,
    users: Vec<User>,
    senders: Vec<usize>,
    phase: Phase,
    next_login: usize,
    logins_in_flight: usize,
    login_deadlines: VecDeque<(Instant, usize)>,
    logged_in_reported: bool,
    sending_ends: Option<Instant>,
    report: LoopReport,
    results: mpsc::Sender<LoopReport>,
    tick: Option<TimerId>,
    /// Users between a drop and their next login.
    reconnecting: Vec<usize>,
    discovered_tx: mpsc::Sender<(usize, Result<SocketAddr, String>)>,
    discovered_rx: mpsc::Receiver<(usize, Result<SocketAddr, String>)>,
    /// Whether the history pull at the start of draining was made.
    drain_pulled: bool,
}

impl Driver {
    /// A driver for `plans`, reporting over `results` when the run finishes.
    pub fn new(
        shared: Arc<Shared>,
        config: DriverConfig,
        plans: Vec<UserPlan>,
        results: mpsc::Sender<LoopReport>,
    ) -> Self {
        let now = Instant::now();
        let mut senders = Vec::new();
        let users = plans
            .into_iter()
            .enumerate()
            .map(|(i, plan)| {
                let (sender, receiver) = match plan.role {
                    Role::Idle => (None, None),
                    Role::PairSender { stream, peer } => (Some((stream, Some(peer), 1)), None),
                    Role::PairReceiver { stream } => (
                        None,
                        Some(ReceiverReport {
                            expected: vec![stream],
                            trackers: HashMap::new(),
                        }),
                    ),
                    Role::GroupMember { stream, senders } => (
                        stream.map(|s| (s, None, 0)),
                        Some(ReceiverReport {
                            expected: (0..senders).filter(|s| Some(*s) != stream).collect(),
                            trackers: HashMap::new(),
                        }),
                    ),
                };
                if sender.is_some() {
                    senders.push(i);
                }
                User {
                    name: plan.name,
                    addr: plan.addr,
                    state: UserState::Waiting,
                    conn: None,
                    user_id: 0,
                    sender: sender.map(|(stream, peer, recipients)| SenderState {
                        stream,
                        peer,
                        to_session: 0,
                        next_seq: 0,
                        tracker: SendTracker::default(),
                        next_due: now,
                        recipients,
                    }),
                    receiver,
                    relogin: false,
                    backoff: RECONNECT_FIRST,
                    reconnected: false,
                }
            })
            .collect();
        let (discovered_tx, discovered_rx) = mpsc::channel();
        Self {
            shared,
            config,
            users,
            senders,
            phase: Phase::Login,
            next_login: 0,
            logins_in_flight: 0,
            login_deadlines: VecDeque::new(),
            logged_in_reported: false,
            sending_ends: None,
            report: LoopReport::default(),
            results,
            tick: None,
            reconnecting: Vec::new(),
            discovered_tx,
            discovered_rx,
            drain_pulled: false,
        }
    }

    /// Sets the number of deliveries each group message calls for (online members − 1).
    pub fn set_group_recipients(&mut self, recipients: u64) {
        for u in &mut self.users {
            if let Some(s) = &mut u.sender {
                if s.peer.is_none() {
                    s.recipients = recipients;
                }
            }
        }
    }

    /// Starts the run: the housekeeping timer and the first logins. Call before the loop runs.
    pub fn start(&mut self, ctx: &mut Ctx<Slot>) {
        self.tick = Some(ctx.add_timer(TICK, true));
        self.start_logins(ctx);
    }

    fn options() -> ConnOptions {
        ConnOptions {
            heartbeat: Some(CLIENT_HEARTBEAT),
            ..ConnOptions::pdu()
        }
    }

    /// Opens user `u`'s connection to `addr` over the run's transport.
    fn connect(
        &self,
        ctx: &mut Ctx<Slot>,
        addr: SocketAddr,
        u: usize,
    ) -> std::io::Result<ConnHandle> {
        ctx.connect_over(addr, &self.config.transport, Self::options(), Slot(Some(u)))
    }

    fn start_logins(&mut self, ctx: &mut Ctx<Slot>) {
        while self.logins_in_flight < self.config.concurrency && self.next_login < self.users.len()
        {
            let u = self.next_login;
            self.next_login += 1;
            let now = Instant::now();
            self.report.login_first_start.get_or_insert(now);
            self.logins_in_flight += 1;
            match self.connect(ctx, self.users[u].addr, u) {
                Ok(h) => {
                    let user = &mut self.users[u];
                    user.conn = Some(h);
                    user.state = UserState::Connecting { started: now };
                    self.login_deadlines
                        .push_back((now + self.config.login_timeout, u));
                }
                Err(e) => self.login_failed(u, format!("connect: {}", e.kind())),
            }
        }
        self.check_logged_in();
    }

    fn check_logged_in(&mut self) {
        if !self.logged_in_reported
            && self.next_login >= self.users.len()
            && self.logins_in_flight == 0
        {
            self.logged_in_reported = true;
            self.shared
                .counters
                .loops_logged_in
                .fetch_add(1, Ordering::AcqRel);
        }
    }

    fn login_failed(&mut self, u: usize, reason: String) {
        debug!("login failed: user={} reason={reason}", self.users[u].name);
        self.users[u].state = UserState::Failed;
        self.logins_in_flight -= 1;
        self.report.login_failed += 1;
        self.report.login_last_end = Some(Instant::now());
        *self.report.login_errors.entry(reason).or_default() += 1;
        self.shared
            .counters
            .login_failed
            .fetch_add(1, Ordering::Relaxed);
    }

    fn on_login_res(&mut self, ctx: &mut Ctx<Slot>, u: usize, h: ConnHandle, pdu: &Pdu) {
        let UserState::LoggingIn { started } = self.users[u].state else {
            return;
        };
        if self.users[u].relogin {
            self.on_relogin_res(ctx, u, h, pdu);
            return;
        }
        let res: ImLoginRes = match pdu.parse() {
            Ok(r) => r,
            Err(e) => {
                self.login_failed(u, format!("bad IMLoginRes: {e}"));
                ctx.close(h);
                self.start_logins(ctx);
                return;
            }
        };
        if res.result_code != 0 {
            self.login_failed(
                u,
                format!(
                    "refused with code {}: {}",
                    res.result_code,
                    res.result_string.unwrap_or_default()
                ),
            );
            ctx.close(h);
            self.start_logins(ctx);
            return;
        }
        let now = Instant::now();
        let user = &mut self.users[u];
        user.state = UserState::Online;
        user.user_id = res.user_info.map_or(0, |i| i.user_id);
        self.logins_in_flight -= 1;
        self.report.login_ok += 1;
        self.report.login_latency.record(now - started);
        self.report.login_last_end = Some(now);
        let c = &self.shared.counters;
        c.login_ok.fetch_add(1, Ordering::Relaxed);
        c.online.fetch_add(1, Ordering::Relaxed);
        self.start_logins(ctx);
    }

    fn expire_logins(&mut self, ctx: &mut Ctx<Slot>, now: Instant) {
        let mut expired = false;
        while let Some(&(deadline, u)) = self.login_deadlines.front() {
            let pending = matches!(
                self.users[u].state,
                UserState::Connecting { .. } | UserState::LoggingIn { .. }
            );
            if pending && deadline > now {
                break;
            }
            self.login_deadlines.pop_front();
            if pending {
                if let Some(h) = self.users[u].conn.take() {
                    ctx.close(h);
                }
                self.login_failed(u, "timed out".to_owned());
                expired = true;
            }
        }
        if expired {
            self.start_logins(ctx);
        }
    }

    fn enter_run(&mut self, now: Instant) {
        let period = self.period();
        let count = self.senders.len().max(1) as u32;
        for (i, &u) in self.senders.iter().enumerate() {
            let to_session = {
                let s = self.users[u]
                    .sender
                    .as_ref()
                    .expect("senders have sender state");
                match s.peer {
                    Some(peer) => self.users[peer].user_id,
                    None => self.config.group_id.unwrap_or(0),
                }
            };
            let s = self.users[u]
                .sender
                .as_mut()
                .expect("senders have sender state");
            s.to_session = to_session;
            s.tracker.start_clock(now);
            // Spread the senders' first messages over one period so they do not all fire in
            // the same tick.
            s.next_due = now + period.mul_f64(f64::from(i as u32) / f64::from(count));
        }
    }

    fn period(&self) -> Duration {
        if self.config.rate > 0.0 {
            Duration::from_secs_f64(1.0 / self.config.rate)
        } else {
            Duration::ZERO
        }
    }

    fn pump(&mut self, ctx: &mut Ctx<Slot>, now: Instant) {
        for i in 0..self.senders.len() {
            let u = self.senders[i];
            self.try_send(ctx, u, now);
        }
    }

    /// Sends as many messages as the window and the rate allow.
    fn try_send(&mut self, ctx: &mut Ctx<Slot>, u: usize, now: Instant) {
        if self.phase != Phase::Run {
            return;
        }
        let period = self.period();
        let window = self.config.window as usize;
        let user = &mut self.users[u];
        let (Some(h), UserState::Online) = (user.conn, user.state) else {
            return;
        };
        let Some(s) = user.sender.as_mut() else {
            return;
        };
        if s.to_session == 0 {
            return;
        }
        while s.tracker.in_window() < window && (period.is_zero() || now >= s.next_due) {
            let seq = s.next_seq;
            let header_seq = (seq & 0xffff) as u16;
            let payload = Payload {
                run: self.shared.run_tag,
                stream: s.stream,
                seq,
                sent_us: self.shared.origin.elapsed().as_micros() as u64,
            };
            let sent_at = Instant::now();
            let pending = Pending {
                seq,
                create_time: unix_now(),
                data: encrypt_text(payload.encode(), &self.config.aes_key).into_bytes(),
                first_sent: sent_at,
                last_sent: sent_at,
                resends: 0,
                given_up: false,
            };
            if !send_copy(ctx, h, user.user_id, s, header_seq, &pending) {
                return;
            }
            s.next_seq += 1;
            s.tracker.sent(header_seq, pending);
            *self.report.sent_by_stream.entry(s.stream).or_default() += 1;
            let c = &self.shared.counters;
            c.sent.fetch_add(1, Ordering::Relaxed);
            c.expected.fetch_add(s.recipients, Ordering::Relaxed);
            if !period.is_zero() {
                s.next_due = next_due(s.next_due, now, period);
            }
        }
    }

    fn on_server_ack(&mut self, ctx: &mut Ctx<Slot>, u: usize, pdu: &Pdu) {
        let now = Instant::now();
        let Some(s) = self.users[u].sender.as_mut() else {
            return;
        };
        let AckOutcome::First { latency, .. } = s.tracker.on_ack(pdu.header.seq_num, now) else {
            // The answer to a copy of a message already acked (db_proxy recognised the
            // resend), or a stray.
            debug!(
                "ack for nothing waiting: user={} seq={}",
                self.users[u].name, pdu.header.seq_num
            );
            return;
        };
        self.report.acked += 1;
        self.report.ack_latency.record(latency);
        if self.sending_ends.is_none_or(|end| now <= end) {
            self.report.acked_in_window += 1;
        }
        self.shared.counters.acked.fetch_add(1, Ordering::Relaxed);
        self.try_send(ctx, u, now);
    }

    fn on_message(&mut self, ctx: &mut Ctx<Slot>, u: usize, h: ConnHandle, pdu: &Pdu) {
        let now = Instant::now();
        let msg: ImMsgData = match pdu.parse() {
            Ok(m) => m,
            Err(e) => {
                warn!("bad IMMsgData: user={} err={e}", self.users[u].name);
                return;
            }
        };
        let group = msg.msg_type == MsgType::GroupText as i32;
        let (session_type, session_id) = if group {
            (SessionType::Group, msg.to_session_id)
        } else {
            (SessionType::Single, msg.from_user_id)
        };
        // Acknowledge like a real client, whatever the content.
        let ack = ImMsgDataAck {
            user_id: self.users[u].user_id,
            session_id,
            msg_id: msg.msg_id,
            session_type: session_type as i32,
        };
        send_deferred(ctx, h, &Pdu::new(CommandId::MsgDataAck, 0, &ack));

        let payload = decrypt_text(&msg.msg_data, &self.config.aes_key)
            .ok()
            .and_then(|plain| String::from_utf8(plain).ok())
            .and_then(|text| Payload::decode(&text));
        let Some(payload) = payload else {
            debug!("foreign message ignored: user={}", self.users[u].name);
            return;
        };
        if payload.run != self.shared.run_tag {
            return;
        }
        let user = &mut self.users[u];
        let Some(receiver) = user.receiver.as_mut() else {
            self.report.misdelivered += 1;
            return;
        };
        let addressed = if group {
            Some(msg.to_session_id) == self.config.group_id
        } else {
            msg.to_session_id == user.user_id
        };
        if !addressed || !receiver.expected.contains(&payload.stream) {
            self.report.misdelivered += 1;
            return;
        }
        let arrival = receiver
            .trackers
            .entry(payload.stream)
            .or_default()
            .record_live(payload.seq, msg.msg_id);
        if arrival == Arrival::AlreadyFetched {
            return;
        }
        let sent_at = self.shared.origin + Duration::from_micros(payload.sent_us);
        self.report
            .delivery_latency
            .record(now.saturating_duration_since(sent_at));
        if arrival == Arrival::Duplicate {
            warn!(
                "duplicate delivery: user={} stream={} seq={} msg_id={} from={}",
                self.users[u].name, payload.stream, payload.seq, msg.msg_id, msg.from_user_id
            );
        } else {
            self.shared
                .counters
                .delivered
                .fetch_add(1, Ordering::Relaxed);
            if self.sending_ends.is_none_or(|end| now <= end) {
                self.report.delivered_in_window += 1;
            }
        }
    }

    /// Sends again the messages whose ack is overdue (until sending's drain ends).
    fn resend_due(&mut self, ctx: &mut Ctx<Slot>, now: Instant) {
        if self.config.max_resends == 0 {
            return;
        }
        for i in 0..self.senders.len() {
            let u = self.senders[i];
            let user = &mut self.users[u];
            let (Some(h), UserState::Online) = (user.conn, user.state) else {
                continue;
            };
            let Some(s) = user.sender.as_mut() else {
                continue;
            };
            let due = s
                .tracker
                .due_resends(now, self.config.ack_timeout, self.config.max_resends);
            for (header_seq, p) in &due {
                debug!(
                    "ack timeout, sending again: user={} seq={}",
                    user.name, p.seq
                );
                send_copy(ctx, h, user.user_id, s, *header_seq, p);
            }
            self.shared
                .counters
                .resends
                .fetch_add(due.len() as u64, Ordering::Relaxed);
        }
    }

    /// Schedules the next reconnect attempt of `u` and doubles its back-off.
    fn retry_later(&mut self, u: usize) {
        let user = &mut self.users[u];
        // Callers have closed the connection, or it closed by itself.
        user.conn = None;
        user.state = UserState::Reconnecting {
            due: Instant::now() + user.backoff,
        };
        user.backoff = (user.backoff * 2).min(RECONNECT_MAX);
        if !self.reconnecting.contains(&u) {
            self.reconnecting.push(u);
        }
    }

    /// Moves every reconnecting user on: starts discoveries that are due, connects to
    /// discovered msg_servers and gives up attempts that take too long.
    fn reconnect_tick(&mut self, ctx: &mut Ctx<Slot>, now: Instant) {
        while let Ok((u, found)) = self.discovered_rx.try_recv() {
            if !matches!(self.users[u].state, UserState::Discovering { .. }) {
                continue;
            }
            match found {
                Ok(addr) => match self.connect(ctx, addr, u) {
                    Ok(h) => {
                        let user = &mut self.users[u];
                        user.addr = addr;
                        user.conn = Some(h);
                        user.state = UserState::Connecting { started: now };
                    }
                    Err(e) => {
                        debug!("reconnect: user={} connect: {e}", self.users[u].name);
                        self.retry_later(u);
                    }
                },
                Err(e) => {
                    debug!("reconnect: user={} discovery: {e}", self.users[u].name);
                    self.retry_later(u);
                }
            }
        }
        let Some(url) = self.config.reconnect.clone() else {
            return;
        };
        for i in 0..self.reconnecting.len() {
            let u = self.reconnecting[i];
            match self.users[u].state {
                UserState::Reconnecting { due } if due <= now => {
                    self.users[u].state = UserState::Discovering { started: now };
                    let tx = self.discovered_tx.clone();
                    let url = url.clone();
                    let kind = self.config.transport_kind;
                    // Discovery is a blocking HTTP request: it runs beside the loop.
                    let spawned = std::thread::Builder::new()
                        .name("tt-load-discover".into())
                        .spawn(move || {
                            let found = discover_addr(&url, kind);
                            let _ = tx.send((u, found));
                        });
                    if let Err(e) = spawned {
                        warn!("cannot start a discovery thread: {e}");
                        self.retry_later(u);
                    }
                }
                UserState::Discovering { started }
                | UserState::Connecting { started }
                | UserState::LoggingIn { started }
                    if now.saturating_duration_since(started) > RECONNECT_TIMEOUT =>
                {
                    if let Some(h) = self.users[u].conn.take() {
                        ctx.close(h);
                    }
                    self.retry_later(u);
                }
                _ => {}
            }
        }
        let users = &self.users;
        self.reconnecting
            .retain(|&u| !matches!(users[u].state, UserState::Online | UserState::Closed));
    }

    fn on_relogin_res(&mut self, ctx: &mut Ctx<Slot>, u: usize, h: ConnHandle, pdu: &Pdu) {
        let ok = pdu
            .parse::<ImLoginRes>()
            .ok()
            .filter(|r| r.result_code == 0);
        let Some(res) = ok else {
            debug!("re-login refused: user={}", self.users[u].name);
            self.users[u].conn = None;
            ctx.close(h);
            self.retry_later(u);
            return;
        };
        let now = Instant::now();
        let user = &mut self.users[u];
        user.state = UserState::Online;
        user.user_id = res.user_info.map_or(user.user_id, |i| i.user_id);
        user.backoff = RECONNECT_FIRST;
        user.reconnected = true;
        self.report.reconnects += 1;
        let c = &self.shared.counters;
        c.reconnects.fetch_add(1, Ordering::Relaxed);
        c.online.fetch_add(1, Ordering::Relaxed);
        if self.phase >= Phase::Finish {
            return;
        }
        // Unacked messages go again, unchanged, on the new connection.
        let user_id = user.user_id;
        if let Some(s) = user.sender.as_mut() {
            let again = s.tracker.resend_all(now);
            for (header_seq, p) in &again {
                send_copy(ctx, h, user_id, s, *header_seq, p);
            }
            c.resends.fetch_add(again.len() as u64, Ordering::Relaxed);
        }
        self.pull_history(ctx, u);
    }

    /// Asks for the newest page of each conversation `u` receives in: what was delivered
    /// while it was away is there, as a real client reads it after logging in.
    fn pull_history(&mut self, ctx: &mut Ctx<Slot>, u: usize) {
        let Some(h) = self.users[u].conn else {
            return;
        };
        if self.users[u].receiver.is_none() {
            return;
        }
        let sessions: Vec<(SessionType, u32)> = match self.config.group_id {
            Some(g) => vec![(SessionType::Group, g)],
            None => self
                .senders
                .iter()
                .filter(|&&s| self.users[s].sender.as_ref().and_then(|x| x.peer) == Some(u))
                .map(|&s| (SessionType::Single, self.users[s].user_id))
                .filter(|&(_, id)| id != 0)
                .collect(),
        };
        for (session_type, session_id) in sessions {
            self.request_page(ctx, u, h, session_type, session_id, 0, 0);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn request_page(
        &mut self,
        ctx: &mut Ctx<Slot>,
        u: usize,
        h: ConnHandle,
        session_type: SessionType,
        session_id: u32,
        begin: u32,
        page: u16,
    ) {
        let req = ImGetMsgListReq {
            user_id: self.users[u].user_id,
            session_type: session_type as i32,
            session_id,
            msg_id_begin: begin,
            msg_cnt: HISTORY_PAGE,
            attach_data: None,
        };
        // The header seq carries the page number, so paging needs no state.
        send_deferred(ctx, h, &Pdu::new(CommandId::MsgListRequest, page, &req));
    }

    fn on_msg_list(&mut self, ctx: &mut Ctx<Slot>, u: usize, h: ConnHandle, pdu: &Pdu) {
        let Ok(rsp) = pdu.parse::<ImGetMsgListRsp>() else {
            warn!("bad IMGetMsgListRsp: user={}", self.users[u].name);
            return;
        };
        let run = self.shared.run_tag;
        let key = self.config.aes_key;
        let Some(receiver) = self.users[u].receiver.as_mut() else {
            return;
        };
        let mut ours = 0;
        let mut fetched = 0;
        for m in &rsp.msg_list {
            let payload = decrypt_text(&m.msg_data, &key)
                .ok()
                .and_then(|plain| String::from_utf8(plain).ok())
                .and_then(|text| Payload::decode(&text));
            let Some(p) = payload.filter(|p| p.run == run) else {
                continue;
            };
            ours += 1;
            if !receiver.expected.contains(&p.stream) {
                continue;
            }
            if receiver
                .trackers
                .entry(p.stream)
                .or_default()
                .record_fetched(p.seq, m.msg_id)
            {
                fetched += 1;
            }
        }
        self.report.fetched += fetched;
        self.shared
            .counters
            .delivered
            .fetch_add(fetched, Ordering::Relaxed);
        let oldest = rsp.msg_list.iter().map(|m| m.msg_id).min().unwrap_or(0);
        let page = pdu.header.seq_num;
        // Older pages only while this one still held messages of this run.
        if ours > 0 && oldest > 1 && u32::from(page) + 1 < HISTORY_PAGES {
            let session_type = if rsp.session_type == SessionType::Group as i32 {
                SessionType::Group
            } else {
                SessionType::Single
            };
            self.request_page(
                ctx,
                u,
                h,
                session_type,
                rsp.session_id,
                oldest - 1,
                page + 1,
            );
        }
    }

    fn finish(&mut self, ctx: &mut Ctx<Slot>) {
        let now = Instant::now();
        let mut report = std::mem::take(&mut self.report);
        for user in &mut self.users {
            if let Some(s) = user.sender.as_mut() {
                if s.tracker.close(now) {
                    report.unhealed_senders += 1;
                }
                report.resends += s.tracker.resends();
                report.resent_messages += s.tracker.resent_messages();
                report.unmatched_acks += s.tracker.unmatched_acks();
                report.longest_ack_gap = report
                    .longest_ack_gap
                    .max(s.tracker.longest_gap().as_secs_f64());
                report
                    .acked_by_stream
                    .entry(s.stream)
                    .or_default()
                    .extend_from_slice(s.tracker.acked());
            }
            if user.state == UserState::Online {
                report.still_connected += 1;
                if let Some(r) = user.receiver.take() {
                    report.receivers.push(r);
                }
            } else if let Some(r) = user.receiver.take() {
                // A receiver that logged in and then dropped still owes its deliveries.
                if user.state == UserState::Closed || user.relogin {
                    report.receivers.push(r);
                }
            }
        }
        if self.results.send(report).is_err() {
            warn!("run controller went away before the loop reported");
        }
        if let Some(t) = self.tick.take() {
            ctx.cancel_timer(t);
        }
        ctx.exit();
    }
}

impl Handler for Driver {
    type ConnData = Slot;

    fn on_connect(&mut self, ctx: &mut Ctx<Slot>, conn: ConnHandle) {
        let Some(&Slot(Some(u))) = ctx.data(conn) else {
            return;
        };
        let UserState::Connecting { started } = self.users[u].state else {
            return;
        };
        self.users[u].state = UserState::LoggingIn { started };
        let req = ImLoginReq {
            user_name: self.users[u].name.clone(),
            password: self.config.password_hash.clone(),
            online_status: UserStatType::UserStatusOnline as i32,
            client_type: match self.config.client {
                ClientKind::Pc => 0x01,
                ClientKind::Mobile => 0x12,
            },
            client_version: Some(CLIENT_VERSION.to_owned()),
        };
        ctx.send_pdu(conn, &Pdu::new(CommandId::LoginReqUserlogin, 1, &req));
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<Slot>, conn: ConnHandle, pdu: Pdu) {
        let Some(&Slot(Some(u))) = ctx.data(conn) else {
            return;
        };
        match pdu.command() {
            Some(CommandId::LoginResUserlogin) => self.on_login_res(ctx, u, conn, &pdu),
            Some(CommandId::MsgDataAck) => self.on_server_ack(ctx, u, &pdu),
            Some(CommandId::MsgData) => self.on_message(ctx, u, conn, &pdu),
            Some(CommandId::MsgListResponse) => self.on_msg_list(ctx, u, conn, &pdu),
            // Heartbeat echoes, presence and other notifications need no answer.
            _ => {}
        }
    }

    fn on_close(
        &mut self,
        ctx: &mut Ctx<Slot>,
        _conn: ConnHandle,
        data: Slot,
        reason: CloseReason,
    ) {
        let Slot(Some(u)) = data else {
            return;
        };
        self.users[u].conn = None;
        if self.users[u].relogin
            && matches!(
                self.users[u].state,
                UserState::Connecting { .. } | UserState::LoggingIn { .. }
            )
        {
            debug!(
                "reconnect failed: user={} reason={reason}",
                self.users[u].name
            );
            self.retry_later(u);
            return;
        }
        match self.users[u].state {
            UserState::Connecting { .. } => {
                self.login_failed(u, format!("connect failed: {reason}"));
                self.start_logins(ctx);
            }
            UserState::LoggingIn { .. } => {
                self.login_failed(u, format!("closed before IMLoginRes: {reason}"));
                self.start_logins(ctx);
            }
            UserState::Online => {
                self.users[u].state = UserState::Closed;
                let c = &self.shared.counters;
                c.online.fetch_sub(1, Ordering::Relaxed);
                if self.phase < Phase::Finish {
                    warn!(
                        "logged-in connection closed: user={} reason={reason}",
                        self.users[u].name
                    );
                    self.report.disconnects += 1;
                    c.disconnects.fetch_add(1, Ordering::Relaxed);
                    if self.config.reconnect.is_some() {
                        let user = &mut self.users[u];
                        user.relogin = true;
                        user.backoff = RECONNECT_FIRST;
                        self.retry_later(u);
                    }
                }
            }
            UserState::Waiting
            | UserState::Failed
            | UserState::Closed
            | UserState::Reconnecting { .. }
            | UserState::Discovering { .. } => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<Slot>, _timer: TimerId) {
        let now = Instant::now();
        self.expire_logins(ctx, now);
        let phase = self.shared.phase();
        if phase != self.phase {
            if self.phase < Phase::Run && phase >= Phase::Run {
                self.enter_run(now);
            }
            if phase >= Phase::Drain && self.sending_ends.is_none() {
                self.sending_ends = Some(now);
            }
            self.phase = phase;
            if phase == Phase::Finish {
                self.finish(ctx);
                return;
            }
        }
        if self.phase < Phase::Finish {
            self.reconnect_tick(ctx, now);
            self.resend_due(ctx, now);
        }
        if self.phase == Phase::Drain && !self.drain_pulled {
            // Whatever was delivered while a receiver was away and stored after its first
            // pull is in the history by now.
            self.drain_pulled = true;
            for u in 0..self.users.len() {
                if self.users[u].reconnected && self.users[u].state == UserState::Online {
                    self.pull_history(ctx, u);
                }
            }
        }
        if self.phase == Phase::Run {
            self.pump(ctx, now);
        }
    }
}

/// When a rate-limited sender may send again after sending at `now` a message that was due
/// at `due`: one period later; after a stall (window full, slow acks) the schedule restarts
/// one period in the past, so the catch-up burst is two extra messages and a sender at 15/s
/// never exceeds msg_server's limit of 20 messages per connection per second.
fn next_due(due: Instant, now: Instant, period: Duration) -> Instant {
    let floor = now.checked_sub(period).unwrap_or(now);
    (due + period).max(floor)
}

/// Sends one copy of a message: the first or a resend, identical but for nothing.
fn send_copy(
    ctx: &mut Ctx<Slot>,
    h: ConnHandle,
    from_user_id: u32,
    s: &SenderState,
    header_seq: u16,
    p: &Pending,
) -> bool {
    let msg = ImMsgData {
        from_user_id,
        to_session_id: s.to_session,
        msg_id: 0,
        create_time: p.create_time,
        msg_type: if s.peer.is_none() {
            MsgType::GroupText as i32
        } else {
            MsgType::SingleText as i32
        },
        msg_data: p.data.clone(),
        attach_data: None,
    };
    send_deferred(ctx, h, &Pdu::new(CommandId::MsgData, header_seq, &msg))
}

/// Asks login_server at `url` for a msg_server, as clients do before connecting, and
/// returns its port of transport `kind`.
fn discover_addr(url: &str, kind: TransportKind) -> Result<SocketAddr, String> {
    let info =
        tt_client::discover_with_timeout(url, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    let port = kind
        .port(&info)
        .ok_or_else(|| format!("{} advertises no {} port", info.addr(), kind.name()))?;
    let host = format!("{}:{port}", info.prior_ip);
    host.to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))
}

/// Queues a PDU to leave with everything else for that connection at the end of the loop
/// turn: a client receiving a burst answers it in one write, as a buffered client would.
fn send_deferred(ctx: &mut Ctx<Slot>, h: ConnHandle, pdu: &Pdu) -> bool {
    let mut bytes = Vec::with_capacity(pdu.len());
    pdu.encode_into(&mut bytes);
    ctx.send_deferred(h, &bytes)
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_round_trip_through_their_numbers() {
        for p in [Phase::Login, Phase::Run, Phase::Drain, Phase::Finish] {
            assert_eq!(Phase::from_u8(p as u8), p);
        }
        let shared = Shared::new();
        assert_eq!(shared.phase(), Phase::Login);
        shared.set_phase(Phase::Drain);
        assert_eq!(shared.phase(), Phase::Drain);
    }

    #[test]
    fn an_on_time_sender_keeps_its_period() {
        let t0 = Instant::now();
        let p = Duration::from_millis(100);
        // Sent 3 ms late (tick granularity): the schedule does not drift.
        assert_eq!(next_due(t0, t0 + Duration::from_millis(3), p), t0 + p);
    }

    #[test]
    fn a_stalled_sender_catches_up_at_most_two_messages() {
        let t0 = Instant::now();
        let p = Duration::from_millis(100);
        // Stalled for a second, then the overdue message goes out: two more are due at
        // once, the fourth a period later; not ten in a burst.
        let now = t0 + Duration::from_secs(1);
        let first = next_due(t0, now, p);
        assert_eq!(first, now - p);
        assert!(first <= now);
        let second = next_due(first, now, p);
        assert_eq!(second, now);
        let third = next_due(second, now, p);
        assert!(third > now);
        // So within any second a sender at rate R sends at most R + 2 messages.
    }

    #[test]
    fn group_members_expect_every_stream_but_their_own() {
        let (tx, _rx) = mpsc::channel();
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let plans = (0..4)
            .map(|i| UserPlan {
                name: format!("u{i}"),
                addr,
                role: Role::GroupMember {
                    stream: (i < 2).then_some(i),
                    senders: 2,
                },
            })
            .collect();
        let config = DriverConfig {
            client: ClientKind::Pc,
            password_hash: String::new(),
            concurrency: 1,
            login_timeout: Duration::from_secs(1),
            aes_key: [0; 32],
            window: 1,
            rate: 0.0,
            group_id: Some(9),
            ack_timeout: Duration::from_secs(5),
            max_resends: 3,
            reconnect: None,
            transport: Arc::new(DialTransport::plain()),
            transport_kind: TransportKind::Plain,
        };
        let mut d = Driver::new(Arc::new(Shared::new()), config, plans, tx);
        d.set_group_recipients(3);
        assert_eq!(d.senders, vec![0, 1]);
        let expected: Vec<Vec<u32>> = d
            .users
            .iter()
            .map(|u| u.receiver.as_ref().unwrap().expected.clone())
            .collect();
        assert_eq!(expected, vec![vec![1], vec![0], vec![0, 1], vec![0, 1]]);
        assert_eq!(d.users[0].sender.as_ref().unwrap().recipients, 3);
    }
}
