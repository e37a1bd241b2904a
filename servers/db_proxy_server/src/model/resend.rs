//! Client resends: a message a client sends again after it lost the ack is stored once and
//! answered with the first copy's msg id (TeamTalk issue #125; README "Client resends").
//!
//! A message is identified by its sender, session, type, data and the `create_time` the
//! client gave it (which msg_server passes on in [`MsgDataResend`], since it stamps its own
//! clock on the message). The record of each identity lives in the `unread` Redis pool, so
//! every db_proxy sharing that Redis sees it and it survives db_proxy restarts: hash
//! `msg_resend_<sender>_<client minute>`, field the MD5 of the identity, expiring
//! `ResendWindow` seconds after its last write. A field's value walks through three states:
//!
//! - `c<t>@<instance>`: claimed at Unix time `t` by the db_proxy process `instance`, no id
//!   yet;
//! - `p<t>:<id>@<instance>`: msg id `id` allocated, the commit under way (its outcome is not
//!   known);
//! - `<id>`: stored with msg id `id`;
//! - `p<t>:<id>@ended`: the attempt that allocated `id` ended without learning whether its
//!   commit happened (the connection was lost at COMMIT and the row could not be read back).
//!   No process owns it, so the next copy takes it over at once and looks in MySQL first.
//!
//! Every db_proxy process keeps a key `db_proxy_alive_<instance>` alive in the same Redis
//! ([`Liveness`]: refreshed every 5 s, expiring after [`ALIVE_TTL`]). A copy that finds
//! `<id>` is a duplicate. One that finds a claim of a live process younger than
//! [`CLAIM_LIFETIME`] is refused for now (msg id 0, no ack: the client sends it again later),
//! unless the claim names an id whose row MySQL already has (the db_proxy that stored it died
//! before recording it): then it is a duplicate too. A claim whose process is gone (its key
//! expired: killed, at most [`ALIVE_TTL`] ago) or that is older than the lifetime is taken
//! over — after the same MySQL check — so a crash blocks a message for seconds, and no
//! message is stored twice.
//!
//! [`MsgDataResend`]: teamtalk_proto::MsgDataResend

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender, bounded};
use log::warn;
use md5::{Digest, Md5};
use redis::{Value, cmd};

use crate::handler::error_chain;
use crate::store::redis::PipelineScript;
use crate::store::{Cache, Store, StoreResult};

/// How long a claim of a live process keeps another copy of its message waiting; longer than
/// any store attempt can take with the MySQL and Redis timeouts, so a live attempt is never
/// taken over.
pub const CLAIM_LIFETIME: Duration = Duration::from_secs(60);
/// How long a process's alive key outlives its last refresh.
pub const ALIVE_TTL: Duration = Duration::from_secs(15);
/// The owner written into a record whose attempt ended with its commit in doubt: a name no
/// process has (instances are 16 hexadecimal digits), so its alive key never exists.
const ENDED: &str = "ended";
/// How often a process refreshes its alive key.
const ALIVE_REFRESH: Duration = Duration::from_secs(5);

/// Claims field ARGV[1] of KEYS[1] at time ARGV[2] for instance ARGV[5] (expiry ARGV[3] s,
/// claim lifetime ARGV[4] s). Answers nil when claimed afresh, the value found when it is a
/// record or a live claim, and `t` followed by the old value when a stale claim (too old, or
/// its process gone) was taken over.
static CLAIM: PipelineScript = PipelineScript::new(
    "local v = redis.call('HGET', KEYS[1], ARGV[1]) \
     local now = tonumber(ARGV[2]) \
     if v then \
       local t = tonumber(string.match(v, '^[cp](%d+)')) \
       if t == nil then return v end \
       local inst = string.match(v, '@(%w+)$') \
       local gone = inst and redis.call('EXISTS', 'db_proxy_alive_' .. inst) == 0 \
       if not gone and now - t < tonumber(ARGV[4]) then return v end \
     end \
     redis.call('HSET', KEYS[1], ARGV[1], 'c' .. ARGV[2] .. '@' .. ARGV[5]) \
     redis.call('EXPIRE', KEYS[1], ARGV[3]) \
     if v then return 't' .. v end \
     return false",
);

/// The key that says process `instance` is alive.
fn alive_key(instance: &str) -> String {
    format!("db_proxy_alive_{instance}")
}

/// Keeps this process's alive key in Redis while it runs; dropping it stops the thread and
/// deletes the key, so claims left by a clean stop are taken over at once.
#[derive(Debug)]
pub struct Liveness {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    store: Arc<Store>,
}

impl Liveness {
    /// Writes the alive key now and starts refreshing it.
    pub fn start(store: Arc<Store>) -> std::io::Result<Self> {
        refresh(&store);
        let (stop, stopped) = bounded::<()>(1);
        let thread_store = Arc::clone(&store);
        let thread = thread::Builder::new()
            .name("db_proxy-alive".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(ALIVE_REFRESH) {
                        Err(RecvTimeoutError::Timeout) => refresh(&thread_store),
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
            store,
        })
    }
}

impl Drop for Liveness {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let key = alive_key(&self.store.instance);
        if let Err(e) = self
            .store
            .redis(Cache::Unread, |c| cmd("DEL").arg(&key).exec(c))
        {
            warn!("alive key not deleted: key={key} err={}", error_chain(&e));
        }
    }
}

fn refresh(store: &Store) {
    let key = alive_key(&store.instance);
    let written = store.redis(Cache::Unread, |c| {
        cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("EX")
            .arg(ALIVE_TTL.as_secs())
            .exec(c)
    });
    if let Err(e) = written {
        warn!("alive key not written: key={key} err={}", error_chain(&e));
    }
}

/// What is to be stored: one client message.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    /// Sender.
    pub from: u32,
    /// Peer user or group.
    pub to: u32,
    /// Message type.
    pub msg_type: u32,
    /// `create_time` as the client set it.
    pub client_time: u32,
    /// Message data as the client sent it.
    pub data: &'a [u8],
}

/// Where an identity's record lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    key: String,
    field: String,
}

impl Record {
    /// The record of `id`.
    pub fn of(id: &Identity<'_>) -> Self {
        let mut md5 = Md5::new();
        md5.update(id.to.to_be_bytes());
        md5.update(id.msg_type.to_be_bytes());
        md5.update(id.client_time.to_be_bytes());
        md5.update(id.data);
        Self {
            key: format!("msg_resend_{}_{}", id.from, id.client_time / 60),
            field: hex::encode(md5.finalize()),
        }
    }
}

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody stored this message: store it (a stale claim without an id was taken over).
    Fresh,
    /// Stored before with this msg id.
    Stored(u32),
    /// Another attempt holds a live claim without an id: not now.
    Busy,
    /// An attempt allocated this id and its outcome is unknown; `taken` when its claim was
    /// stale and now belongs to the caller. If MySQL has the row it is a duplicate;
    /// otherwise, when taken, store it anew, and when not, not now.
    Unsure {
        /// The id that attempt allocated.
        msg_id: u32,
        /// Whether the caller now holds the claim.
        taken: bool,
    },
}

impl Claim {
    fn from_value(value: Option<String>) -> Self {
        let Some(value) = value else {
            return Self::Fresh;
        };
        let (taken, state) = match value.strip_prefix('t') {
            Some(old) => (true, old),
            None => (false, value.as_str()),
        };
        if let Ok(id) = state.parse::<u32>() {
            return Self::Stored(id);
        }
        let state = state.split_once('@').map_or(state, |(s, _)| s);
        match state.split_once(':').map(|(_, id)| id.parse::<u32>()) {
            Some(Ok(msg_id)) if state.starts_with('p') => Self::Unsure { msg_id, taken },
            // A stale `c` claim, or a value this server never writes: start over.
            _ if taken => Self::Fresh,
            _ => Self::Busy,
        }
    }
}

/// Claims every record in one pipelined round trip, in order.
pub fn claim_all(
    store: &Store,
    records: &[&Record],
    now: u32,
    window: Duration,
) -> StoreResult<Vec<Claim>> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Value> = store.redis(Cache::Unread, |c| {
        let mut pipe = redis::pipe();
        CLAIM.load_into(&mut pipe);
        for r in records {
            CLAIM
                .call(&mut pipe)
                .arg(1)
                .arg(&r.key)
                .arg(&r.field)
                .arg(now)
                .arg(window.as_secs().max(1))
                .arg(CLAIM_LIFETIME.as_secs())
                .arg(&store.instance);
        }
        pipe.query(c)
    })?;
    Ok(values
        .into_iter()
        .map(|v| Claim::from_value(redis::from_redis_value(&v).ok().flatten()))
        .collect())
}

/// Records that ids were allocated for claimed records (before their commit), in one round
/// trip.
pub fn mark_allocated(store: &Store, allocated: &[(&Record, u32)], now: u32) -> StoreResult<()> {
    if allocated.is_empty() {
        return Ok(());
    }
    store.redis(Cache::Unread, |c| {
        let mut pipe = redis::pipe();
        for (r, id) in allocated {
            pipe.cmd("HSET")
                .arg(&r.key)
                .arg(&r.field)
                .arg(format!("p{now}:{id}@{}", store.instance))
                .ignore();
        }
        pipe.exec(c)
    })
}

/// How a claimed attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Stored (or found stored) with this msg id: later copies are duplicates of it.
    Stored(u32),
    /// Nothing was committed: the claim is released, so the client's next copy is stored
    /// without waiting.
    Released,
    /// The row with this msg id may or may not be in MySQL: the next copy must look before
    /// it stores anything, and may do so at once.
    InDoubt(u32),
}

/// Settles claims after the commit in one round trip (see [`Settlement`]).
pub fn settle(
    store: &Store,
    outcomes: &[(&Record, Settlement)],
    now: u32,
    window: Duration,
) -> StoreResult<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    store.redis(Cache::Unread, |c| {
        let mut pipe = redis::pipe();
        for (r, outcome) in outcomes {
            let value = match outcome {
                Settlement::Stored(id) => id.to_string(),
                Settlement::InDoubt(id) => format!("p{now}:{id}@{ENDED}"),
                Settlement::Released => {
                    pipe.cmd("HDEL").arg(&r.key).arg(&r.field).ignore();
                    continue;
                }
            };
            pipe.cmd("HSET")
                .arg(&r.key)
                .arg(&r.field)
                .arg(value)
                .ignore();
            pipe.cmd("EXPIRE")
                .arg(&r.key)
                .arg(window.as_secs().max(1))
                .ignore();
        }
        pipe.exec(c)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(data: &[u8], client_time: u32) -> Identity<'_> {
        Identity {
            from: 7,
            to: 9,
            msg_type: 1,
            client_time,
            data,
        }
    }

    #[test]
    fn the_same_message_has_one_record_and_any_difference_another() {
        let a = Record::of(&identity(b"hi", 1_700_000_000));
        assert_eq!(a, Record::of(&identity(b"hi", 1_700_000_000)));
        assert_eq!(a.key, format!("msg_resend_7_{}", 1_700_000_000 / 60));
        assert_ne!(a, Record::of(&identity(b"hi", 1_700_000_001)));
        assert_ne!(a, Record::of(&identity(b"ho", 1_700_000_000)));
        let mut other_peer = identity(b"hi", 1_700_000_000);
        other_peer.to = 10;
        assert_ne!(a, Record::of(&other_peer));
    }

    #[test]
    fn claim_values_are_read_as_their_states() {
        assert_eq!(Claim::from_value(None), Claim::Fresh);
        assert_eq!(Claim::from_value(Some("42".into())), Claim::Stored(42));
        assert_eq!(Claim::from_value(Some("c1700000000".into())), Claim::Busy);
        assert_eq!(Claim::from_value(Some("tc1700000000".into())), Claim::Fresh);
        assert_eq!(
            Claim::from_value(Some("p1700000000:5".into())),
            Claim::Unsure {
                msg_id: 5,
                taken: false
            }
        );
        assert_eq!(
            Claim::from_value(Some("tp1700000000:5".into())),
            Claim::Unsure {
                msg_id: 5,
                taken: true
            }
        );
        assert_eq!(Claim::from_value(Some("t17".into())), Claim::Stored(17));
        assert_eq!(Claim::from_value(Some("garbage".into())), Claim::Busy);
        assert_eq!(
            Claim::from_value(Some("c1700000000@ab12".into())),
            Claim::Busy
        );
        assert_eq!(
            Claim::from_value(Some("tp1700000000:6@ab12".into())),
            Claim::Unsure {
                msg_id: 6,
                taken: true
            }
        );
    }
}
