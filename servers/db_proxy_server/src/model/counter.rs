//! Counters in the `unread` Redis pool (STORAGE §3.2): message-id sequences (K-MSGID,
//! K-GMSGID), single-chat unread counters (K-UNREAD), group message counters and per-user read
//! marks (K-GCNT, K-GUCNT), and the sync-center timestamps (K-SYNC-*).
//!
//! Invariant: message ids never go backwards or repeat, even after Redis lost its data or was
//! restored from an old snapshot: a missing sequence key is re-seeded from the largest id
//! stored in MySQL (`SET NX`) before it is incremented, and the existence check plus increment
//! is one atomic script; and before this process first uses a sequence, and again after Redis
//! restarted (see `store::redis::RedisEpoch`), the sequence is raised to at least the largest
//! id stored in MySQL's master ([`raise_to`], never lowering it), so a stale value is never
//! incremented into an id that is already taken.

use redis::{Script, cmd};

use crate::store::redis::PipelineScript;
use crate::store::{Cache, Store, StoreError, StoreResult};

/// Increments a sequence only if it exists; answers nil when the key is missing.
pub static INCR_IF_EXISTS: PipelineScript = PipelineScript::new(
    "if redis.call('EXISTS', KEYS[1]) == 1 then \
     return redis.call('INCR', KEYS[1]) end return false",
);
/// Raises a sequence to at least ARGV[1] (creating it when missing); never lowers it.
const RAISE_TO: &str = "local v = tonumber(redis.call('GET', KEYS[1])) \
     local m = tonumber(ARGV[1]) if v == nil or v < m then redis.call('SET', KEYS[1], m) end \
     return 1";
/// Bumps a group's message counter and copies the new value to the sender's read mark.
pub static GROUP_COUNT_AND_MARK: PipelineScript = PipelineScript::new(
    "local c = redis.call('HINCRBY', KEYS[1], 'count', 1) \
     redis.call('HSET', KEYS[2], 'count', c) return c",
);
/// Copies a group's counter hash into a user's read-mark hash.
const COPY_HASH: &str = "local h = redis.call('HGETALL', KEYS[1]) \
     if #h > 0 then redis.call('HSET', KEYS[2], unpack(h)) end return #h";

/// The identity of a message-id sequence for the checked-sequences record: a relation's or a
/// group's.
pub fn sequence_id(group: bool, id: u32) -> u64 {
    (u64::from(group) << 32) | u64::from(id)
}

/// Key of a relation's message-id sequence.
pub fn msg_id_key(relate: u32) -> String {
    format!("msg_id_{relate}")
}

/// Key of a group's message-id sequence.
pub fn group_msg_id_key(group: u32) -> String {
    format!("group_msg_id_{group}")
}

/// Key of a user's single-chat unread counters.
pub fn unread_key(user: u32) -> String {
    format!("unread_{user}")
}

/// Key of a group's message counter.
pub fn group_count_key(group: u32) -> String {
    format!("{group}_im_group_msg")
}

/// Key of a user's read mark in a group.
pub fn user_group_key(user: u32, group: u32) -> String {
    format!("{user}_{group}_im_user_group")
}

/// Allocates the next id of sequence `key`; when the key is missing, `seed` gives the largest
/// id already stored so the sequence continues after it.
pub fn next_msg_id(
    store: &Store,
    key: &str,
    seed: impl FnOnce() -> StoreResult<u32>,
) -> StoreResult<u32> {
    let script = INCR_IF_EXISTS.script();
    let first: Option<u64> = store.redis(Cache::Unread, |c| script.key(key).invoke(c))?;
    let id = match first {
        Some(id) => id,
        None => {
            let max = seed()?;
            store
                .redis(Cache::Unread, |c| {
                    cmd("SET").arg(key).arg(max).arg("NX").exec(c)?;
                    script.key(key).invoke::<Option<u64>>(c)
                })?
                .ok_or_else(|| StoreError::Data(format!("sequence {key} vanished")))?
        }
    };
    u32::try_from(id).map_err(|_| StoreError::Data(format!("sequence {key} overflowed")))
}

/// Raises sequence `key` to at least `floor`, the largest id MySQL holds for it; a value
/// already above it (ids allocated for rows not yet committed) is kept.
pub fn raise_to(store: &Store, key: &str, floor: u32) -> StoreResult<()> {
    let script = Script::new(RAISE_TO);
    store.redis(Cache::Unread, |c| {
        script.key(key).arg(floor).invoke::<i64>(c)
    })?;
    Ok(())
}

/// Sets a new sequence to 0 (new relation or group).
pub fn init_sequence(store: &Store, key: &str) -> StoreResult<()> {
    store.redis(Cache::Unread, |c| cmd("SET").arg(key).arg(0).exec(c))
}

/// Sets new sequences to 0, in one round trip.
pub fn init_sequences(store: &Store, keys: &[String]) -> StoreResult<()> {
    if keys.is_empty() {
        return Ok(());
    }
    store.redis(Cache::Unread, |c| {
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("SET").arg(key).arg(0).ignore();
        }
        pipe.exec(c)
    })
}

/// Clears `user`'s unread counter for messages from `peer`.
pub fn clear_unread(store: &Store, user: u32, peer: u32) -> StoreResult<()> {
    store.redis(Cache::Unread, |c| {
        cmd("HDEL").arg(unread_key(user)).arg(peer).exec(c)
    })
}

/// All single-chat unread counters of `user` as (peer field, count), by field text.
pub fn unread_counts(store: &Store, user: u32) -> StoreResult<Vec<(String, i64)>> {
    let mut all: Vec<(String, i64)> = store.redis(Cache::Unread, |c| {
        cmd("HGETALL").arg(unread_key(user)).query(c)
    })?;
    all.sort();
    Ok(all)
}

/// Marks every message of `group` read for `user` (copies the counter into the read mark).
pub fn mark_group_read(store: &Store, user: u32, group: u32) -> StoreResult<()> {
    let script = Script::new(COPY_HASH);
    store.redis(Cache::Unread, |c| {
        script
            .key(group_count_key(group))
            .key(user_group_key(user, group))
            .invoke::<i64>(c)
    })?;
    Ok(())
}

/// Unread group messages of `user` in `group`: `None` when the group has no counter yet;
/// 0 when the read mark is ahead of the counter (KNOWN_DEFECTS D-DB-5).
pub fn group_unread(store: &Store, user: u32, group: u32) -> StoreResult<Option<u32>> {
    let (total, read): (Option<u64>, Option<u64>) = store.redis(Cache::Unread, |c| {
        redis::pipe()
            .cmd("HGET")
            .arg(group_count_key(group))
            .arg("count")
            .cmd("HGET")
            .arg(user_group_key(user, group))
            .arg("count")
            .query(c)
    })?;
    Ok(total.map(|g| {
        let u = read.unwrap_or(0);
        u32::try_from(g.saturating_sub(u)).unwrap_or(u32::MAX)
    }))
}

/// Reads a string key of the `unread` pool.
pub fn get_value(store: &Store, key: &str) -> StoreResult<Option<String>> {
    store.redis(Cache::Unread, |c| cmd("GET").arg(key).query(c))
}

/// Writes a string key of the `unread` pool.
pub fn set_value(store: &Store, key: &str, value: impl ToString) -> StoreResult<()> {
    store.redis(Cache::Unread, |c| {
        cmd("SET").arg(key).arg(value.to_string()).exec(c)
    })
}
