//! Access to MySQL and Redis for the handlers: the named pools, the error type, and the shared
//! state the handlers need besides the databases (msfs client, audio placeholder, login
//! limiter, sync-center clock).
//!
//! Invariant: a pooled connection is borrowed for the duration of one closure and returned (or
//! discarded when broken) when the closure ends; nothing keeps a connection across calls.

pub mod ids;
pub mod mysql;
pub mod redis;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ::mysql::Transaction;
use ::redis::{Connection, RedisResult};

use self::ids::IdCache;
use self::mysql::{MysqlPool, PoolUse, build_pool as build_mysql_pool};
use self::redis::{RedisEpoch, RedisPool, build_pool as build_redis_pool};
use crate::config::{Config, MASTER_POOL, Policy, SLAVE_POOL};
use crate::limiter::LoginLimiter;
use crate::metrics::StoreMetrics;
use crate::msfs::MsfsClient;

/// Index of the write pool in [`crate::metrics::POOLS`].
const MASTER: usize = 0;
/// Index of the read pool in [`crate::metrics::POOLS`].
const SLAVE: usize = 1;
/// Index of the first Redis pool in [`crate::metrics::POOLS`]; the others follow in
/// [`Cache`] order.
const FIRST_CACHE: usize = 2;

/// Number of conversation lock stripes.
const CONVERSATION_STRIPES: usize = 4096;
/// Relation ids kept in memory at most.
const MAX_CACHED_RELATIONS: usize = 200_000;
/// Session ids kept in memory at most (two per one-to-one conversation).
const MAX_CACHED_SESSIONS: usize = 400_000;
/// Message-id sequences remembered as checked against MySQL (a forgotten one costs one
/// `MAX(msgId)` query when next used).
const MAX_CHECKED_SEQUENCES: usize = 400_000;
/// Group member hashes remembered as checked against MySQL.
const MAX_CHECKED_GROUPS: usize = 100_000;
/// User ids known to exist kept in memory at most.
const MAX_CACHED_USERS: usize = 200_000;

/// How long after its last successful call a pooled Redis or read-pool MySQL connection is
/// handed out without the round trip that checks it (PING, `COM_PING`). Under load every call
/// used to pay that extra round trip (one per Redis call, several per stored message, one per
/// login); a connection that just answered is almost surely alive, and one that died in the
/// meantime fails its next call like a connection cut mid-call does: the error marks it broken
/// and the caller's request fails and is answered as failed. So only an outage shorter than
/// this (a network blip) can fail a request that the check would have saved.
pub const CHECKED_BY_USE: Duration = Duration::from_secs(1);

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A MySQL call failed.
    #[error("mysql error")]
    Mysql(#[source] ::mysql::Error),
    /// A Redis call failed.
    #[error("redis error")]
    Redis(#[source] ::redis::RedisError),
    /// No connection could be had from a pool (the server is down or the pool is exhausted).
    #[error("no connection from pool {0}")]
    Pool(String, #[source] r2d2::Error),
    /// The msfs upload or download failed.
    #[error("msfs request failed: {0}")]
    Msfs(String),
    /// Stored data is not what the server expects (e.g. a counter that is not a number).
    #[error("unexpected stored data: {0}")]
    Data(String),
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// The Redis pools by role (STORAGE §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Unread counters, msg-id counters, group counters, sync timestamps.
    Unread,
    /// Per-user group push shield.
    GroupSet,
    /// Device tokens.
    Token,
    /// Group membership.
    GroupMember,
}

impl Cache {
    fn index(self) -> usize {
        match self {
            Self::Unread => 0,
            Self::GroupSet => 1,
            Self::Token => 2,
            Self::GroupMember => 3,
        }
    }
}

/// Everything a handler reads or writes.
#[derive(Debug)]
pub struct Store {
    master: MysqlPool,
    slave: MysqlPool,
    caches: Vec<RedisPool>,
    /// Client for audio uploads and downloads.
    pub msfs: MsfsClient,
    /// `[语音]` encrypted with the configured key: the text shown for audio in session lists.
    pub audio_placeholder: Vec<u8>,
    /// Login failure limiter.
    pub limiter: LoginLimiter,
    /// How long stored messages are recognised when sent again (`model::resend`).
    pub resend_window: Duration,
    /// This process's random id, in its resend claims and its alive key (`model::resend`).
    pub instance: String,
    /// Relation ids by user pair (a relation's id never changes once it exists).
    relations: IdCache<(u32, u32)>,
    /// Session ids by (user, peer, type), whatever the session's status (a session's id never
    /// changes once it exists; removal only sets its status).
    sessions: IdCache<(u32, u32, u32)>,
    /// Which Redis incarnation the pools talk to (see [`RedisEpoch`]).
    redis_epoch: Arc<RedisEpoch>,
    /// Message-id sequences (by [`conversation_key`]) checked against MySQL, with the Redis
    /// epoch they were checked in.
    checked_sequences: IdCache<u64>,
    /// Group member hashes checked against MySQL, with the Redis epoch they were checked in.
    checked_groups: IdCache<u32>,
    /// User ids known to have an `IMUser` row (rows are never deleted; resigning only sets
    /// their status), value unused.
    users: IdCache<u32>,
    /// Pool timings and health, request timings, refused messages (the metrics endpoint).
    pub metrics: StoreMetrics,
    /// Striped locks serialising work on one conversation across workers.
    conversations: Vec<Mutex<()>>,
    /// Serialises registrations (the existence check and the insert must not interleave).
    pub registration: Mutex<()>,
    /// Time of the last user change made through this server (sync center "L").
    last_user_update: AtomicU64,
    /// Request bounds and the admin peers (`Config::policy`).
    pub policy: Policy,
}

impl Store {
    /// Opens every pool; fails if MySQL or Redis cannot be reached at start-up.
    pub fn open(config: &Config) -> StoreResult<Self> {
        // The original initialises the Redis pools first, then MySQL.
        let redis_epoch = Arc::new(RedisEpoch::default());
        let caches = config
            .caches
            .iter()
            .map(|cfg| build_redis_pool(cfg, &redis_epoch))
            .collect::<StoreResult<Vec<_>>>()?;
        let master = build_mysql_pool(&config.master, MASTER_POOL, PoolUse::Writes)?;
        let slave = build_mysql_pool(&config.slave, SLAVE_POOL, PoolUse::Reads)?;
        let placeholder = teamtalk_proto::crypto::encrypt_text("[语音]", &config.aes_key);
        Ok(Self {
            master,
            slave,
            caches,
            msfs: MsfsClient::new(&config.msfs_site),
            audio_placeholder: placeholder.into_bytes(),
            limiter: LoginLimiter::default(),
            resend_window: config.resend_window,
            instance: format!("{:016x}", rand::random::<u64>()),
            relations: IdCache::new(MAX_CACHED_RELATIONS),
            sessions: IdCache::new(MAX_CACHED_SESSIONS),
            redis_epoch,
            checked_sequences: IdCache::new(MAX_CHECKED_SEQUENCES),
            checked_groups: IdCache::new(MAX_CHECKED_GROUPS),
            users: IdCache::new(MAX_CACHED_USERS),
            metrics: StoreMetrics::default(),
            conversations: (0..CONVERSATION_STRIPES).map(|_| Mutex::new(())).collect(),
            registration: Mutex::new(()),
            last_user_update: AtomicU64::new(0),
            policy: config.policy.clone(),
        })
    }

    /// Runs `f` on a connection of the read pool.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&mut ::mysql::Conn) -> ::mysql::Result<T>,
    ) -> StoreResult<T> {
        let start = Instant::now();
        let result = self
            .slave
            .get()
            .map_err(|e| StoreError::Pool(SLAVE_POOL.to_owned(), e))
            .and_then(|mut conn| conn.run(f));
        self.metrics.pool_used(SLAVE, start, &result);
        result
    }

    /// Runs `f` on a connection of the write pool.
    pub fn write<T>(
        &self,
        f: impl FnOnce(&mut ::mysql::Conn) -> ::mysql::Result<T>,
    ) -> StoreResult<T> {
        let start = Instant::now();
        let result = self
            .master
            .get()
            .map_err(|e| StoreError::Pool(MASTER_POOL.to_owned(), e))
            .and_then(|mut conn| conn.run(f));
        self.metrics.pool_used(MASTER, start, &result);
        result
    }

    /// Runs `f` in one transaction on the write pool: all of it is stored or none.
    pub fn write_tx<T>(
        &self,
        f: impl FnMut(&mut Transaction<'_>) -> ::mysql::Result<T>,
    ) -> StoreResult<T> {
        let start = Instant::now();
        let result = self
            .master
            .get()
            .map_err(|e| StoreError::Pool(MASTER_POOL.to_owned(), e))
            .and_then(|mut conn| conn.transaction(f));
        self.metrics.pool_used(MASTER, start, &result);
        result
    }

    /// Runs `f` on a connection of Redis pool `cache`.
    pub fn redis<T>(
        &self,
        cache: Cache,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> StoreResult<T> {
        let start = Instant::now();
        let result = self.caches[cache.index()]
            .get()
            .map_err(|e| StoreError::Pool(format!("{cache:?}"), e))
            .and_then(|mut conn| conn.run(f));
        self.metrics
            .pool_used(FIRST_CACHE + cache.index(), start, &result);
        result
    }

    /// The cached relation id of a user pair.
    pub fn cached_relation(&self, pair: (u32, u32)) -> Option<u32> {
        self.relations.get(&pair)
    }

    /// Remembers a relation id (the cache is bounded).
    pub fn cache_relation(&self, pair: (u32, u32), id: u32) {
        self.relations.insert(pair, id);
    }

    /// The cached id of the session (user, peer, type); the session may be removed (status 1),
    /// so a user of the id must set status 0 where the session has to be active.
    pub fn cached_session(&self, key: (u32, u32, u32)) -> Option<u32> {
        self.sessions.get(&key)
    }

    /// Remembers a session id (the cache is bounded).
    pub fn cache_session(&self, key: (u32, u32, u32), id: u32) {
        self.sessions.insert(key, id);
    }

    /// The current Redis epoch: it changes when a Redis server restarted (see [`RedisEpoch`]).
    pub fn redis_epoch(&self) -> u32 {
        self.redis_epoch.current()
    }

    /// Whether the message-id sequence of `conversation` was checked against MySQL in `epoch`.
    pub fn sequence_checked(&self, conversation: u64, epoch: u32) -> bool {
        self.checked_sequences.get(&conversation) == Some(epoch)
    }

    /// Records that the sequence of `conversation` was checked against MySQL in `epoch`.
    pub fn set_sequence_checked(&self, conversation: u64, epoch: u32) {
        self.checked_sequences.insert(conversation, epoch);
    }

    /// Whether the member hash of `group` was checked against MySQL in `epoch`.
    pub fn group_checked(&self, group: u32, epoch: u32) -> bool {
        self.checked_groups.get(&group) == Some(epoch)
    }

    /// Records that the member hash of `group` was checked against MySQL in `epoch`.
    pub fn set_group_checked(&self, group: u32, epoch: u32) {
        self.checked_groups.insert(group, epoch);
    }

    /// Forgets that the member hash of `group` was checked (it changed under a check).
    pub fn forget_group_checked(&self, group: u32) {
        self.checked_groups.remove(&group);
    }

    /// Whether `user` is known to exist (a miss means: ask MySQL).
    pub fn known_user(&self, user: u32) -> bool {
        self.users.get(&user).is_some()
    }

    /// Remembers that `user` exists (the cache is bounded).
    pub fn remember_user(&self, user: u32) {
        self.users.insert(user, 1);
    }

    /// Counts a refused message; returns the count so far.
    pub fn count_refused_message(&self) -> u64 {
        self.metrics.message_refused()
    }

    /// Messages refused so far (sender, receiver or group unknown, or sender not a member).
    pub fn refused_messages(&self) -> u64 {
        self.metrics.refused_messages()
    }

    /// The lock stripe of a conversation key (see [`conversation_key`]).
    pub fn conversation_stripe(&self, key: u64) -> usize {
        let mut x = key ^ (key >> 33);
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        ((x ^ (x >> 33)) % CONVERSATION_STRIPES as u64) as usize
    }

    /// Locks the given stripes (sorted, deduplicated, so two callers never deadlock). Used to
    /// create a conversation's relation and sessions once, and to keep its ids and rows in one
    /// order. Rule: take stripes before a pooled connection, never while holding one, so
    /// lock waits and pool waits cannot form a cycle.
    pub fn lock_stripes(&self, stripes: &mut Vec<usize>) -> Vec<MutexGuard<'_, ()>> {
        stripes.sort_unstable();
        stripes.dedup();
        stripes
            .iter()
            .map(|&i| {
                self.conversations[i]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
            })
            .collect()
    }

    /// The sync center's last-user-update time (Unix seconds).
    pub fn last_user_update(&self) -> u64 {
        self.last_user_update.load(Ordering::Relaxed)
    }

    /// Records a user change made through this server.
    pub fn set_last_user_update(&self, t: u64) {
        self.last_user_update.store(t, Ordering::Relaxed);
    }
}

/// The key of a conversation: the user pair of a one-to-one chat, or the group.
pub fn conversation_key(from: u32, to: u32, group: bool) -> u64 {
    if group {
        u64::from(to) | (1 << 63)
    } else {
        (u64::from(from.min(to)) << 32) | u64::from(from.max(to))
    }
}

/// Current Unix time in seconds, as the `u32` the tables and messages carry.
pub fn now() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}
