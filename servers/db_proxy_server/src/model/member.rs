//! Group membership in the `group_member` Redis pool: hash `group_member_<gid>`, field user id,
//! value join time (K-GMEMBER). It is authoritative at runtime; a group whose hash is missing
//! or empty is not valid.
//!
//! Invariants. MySQL (`IMGroupMember`) is the source of truth, the hash its copy:
//! - a missing hash is rebuilt from the active rows of `IMGroupMember` before the group is
//!   declared invalid, so losing the Redis data does not destroy groups (KNOWN_DEFECTS
//!   D-DB-13). Rebuilt fields are written with HSETNX so a concurrent change wins;
//! - before this process first reads a group's hash, and again after Redis restarted (see
//!   `store::redis::RedisEpoch`), the hash is compared with MySQL's master and replaced when
//!   it differs, so a Redis restored from an old snapshot never brings a removed member back.
//!   The replacement is a compare-and-set (it only happens if the hash still holds the
//!   fields that were compared), so a member change made meanwhile by any db_proxy — which
//!   commits MySQL first and then updates the hash — is never overwritten with older rows.

use log::{debug, info};
use redis::{Script, cmd};

use crate::model::group;
use crate::store::{Cache, Store, StoreResult};

/// Replaces hash KEYS[1] by the field/value pairs ARGV[2..] if its fields, sorted as text and
/// joined by commas, are still ARGV[1]; answers 1 when replaced, 0 when the hash changed.
const REPLACE_IF_UNCHANGED: &str = "local cur = redis.call('HKEYS', KEYS[1]) table.sort(cur) \
     if table.concat(cur, ',') ~= ARGV[1] then return 0 end redis.call('DEL', KEYS[1]) \
     for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end return 1";

fn key(group: u32) -> String {
    format!("group_member_{group}")
}

/// Rebuilds a lost member hash from MySQL; `true` when the group has members now.
fn rebuild(store: &Store, gid: u32) -> StoreResult<bool> {
    let members = store.read(|c| group::active_members(c, gid))?;
    if members.is_empty() {
        return Ok(false);
    }
    let k = key(gid);
    store.redis(Cache::GroupMember, |c| {
        let mut pipe = redis::pipe();
        for (user, joined) in &members {
            pipe.cmd("HSETNX").arg(&k).arg(user).arg(joined).ignore();
        }
        pipe.exec(c)
    })?;
    log::info!(
        "rebuilt group members from mysql: group={gid} members={}",
        members.len()
    );
    Ok(true)
}

/// Makes sure the hash of `gid` was compared with MySQL in the current Redis epoch (see the
/// module docs); replaces it when it differs.
fn check_against_mysql(store: &Store, gid: u32) -> StoreResult<()> {
    let epoch = store.redis_epoch();
    if store.group_checked(gid, epoch) {
        return Ok(());
    }
    let k = key(gid);
    let cached: Vec<(String, String)> =
        store.redis(Cache::GroupMember, |c| cmd("HGETALL").arg(&k).query(c))?;
    let stored = store.write(|c| group::active_members(c, gid))?;
    let mut cached_ids: Vec<Option<u32>> = cached.iter().map(|(f, _)| f.parse().ok()).collect();
    cached_ids.sort_unstable();
    let mut stored_ids: Vec<Option<u32>> = stored.iter().map(|(u, _)| Some(*u)).collect();
    stored_ids.sort_unstable();
    if cached_ids == stored_ids {
        store.set_group_checked(gid, epoch);
        return Ok(());
    }
    let mut fields: Vec<&str> = cached.iter().map(|(f, _)| f.as_str()).collect();
    fields.sort_unstable();
    let script = Script::new(REPLACE_IF_UNCHANGED);
    let mut call = script.key(&k);
    call.arg(fields.join(","));
    for (user, joined) in &stored {
        call.arg(user).arg(joined);
    }
    let replaced: i64 = store.redis(Cache::GroupMember, |c| call.invoke(c))?;
    if replaced == 1 {
        info!(
            "group members differed from mysql, replaced: group={gid} cached={} stored={}",
            cached.len(),
            stored.len()
        );
        store.set_group_checked(gid, epoch);
    } else {
        // Changed while we compared: whoever changed it wrote MySQL first; compare next time.
        debug!("group members changed during the check: group={gid}");
        store.forget_group_checked(gid);
    }
    Ok(())
}

/// Every member of a valid group with its join time; `None` for an invalid group.
pub fn members(store: &Store, gid: u32) -> StoreResult<Option<Vec<(u32, u32)>>> {
    check_against_mysql(store, gid)?;
    let read = || -> StoreResult<Vec<(u32, u32)>> {
        store.redis(Cache::GroupMember, |c| {
            cmd("HGETALL").arg(key(gid)).query(c)
        })
    };
    let found = read()?;
    if !found.is_empty() {
        return Ok(Some(found));
    }
    if !rebuild(store, gid)? {
        return Ok(None);
    }
    let found = read()?;
    Ok((!found.is_empty()).then_some(found))
}

/// Member ids of a valid group in the order of their decimal text (`"10"` before `"9"`), the
/// order the original reports them in (it reads the hash into a map keyed by the field
/// string); `None` for an invalid group.
pub fn member_ids(store: &Store, gid: u32) -> StoreResult<Option<Vec<u32>>> {
    Ok(members(store, gid)?.map(|m| {
        let mut ids: Vec<u32> = m.into_iter().map(|(u, _)| u).collect();
        ids.sort_by_cached_key(u32::to_string);
        ids
    }))
}

/// Whether the group is valid (has a member hash, possibly rebuilt).
pub fn is_valid(store: &Store, gid: u32) -> StoreResult<bool> {
    check_against_mysql(store, gid)?;
    let exists: bool = store.redis(Cache::GroupMember, |c| cmd("EXISTS").arg(key(gid)).query(c))?;
    if exists {
        return Ok(true);
    }
    rebuild(store, gid)
}

/// The join time of `user` in `gid`; `None` when the user is not a member (or the group is
/// invalid).
pub fn join_time(store: &Store, gid: u32, user: u32) -> StoreResult<Option<u32>> {
    check_against_mysql(store, gid)?;
    let get = || -> StoreResult<Option<u32>> {
        store.redis(Cache::GroupMember, |c| {
            cmd("HGET").arg(key(gid)).arg(user).query(c)
        })
    };
    if let Some(t) = get()? {
        return Ok(Some(t));
    }
    let exists: bool = store.redis(Cache::GroupMember, |c| cmd("EXISTS").arg(key(gid)).query(c))?;
    if exists || !rebuild(store, gid)? {
        return Ok(None);
    }
    get()
}

/// Adds (or re-adds, resetting the join time of) `users` at `now`.
pub fn add(store: &Store, gid: u32, users: &[u32], now: u32) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    store.redis(Cache::GroupMember, |c| {
        let mut hset = cmd("HSET");
        hset.arg(key(gid));
        for u in users {
            hset.arg(u).arg(now);
        }
        hset.exec(c)
    })
}

/// Removes `users`.
pub fn remove(store: &Store, gid: u32, users: &[u32]) -> StoreResult<()> {
    if users.is_empty() {
        return Ok(());
    }
    store.redis(Cache::GroupMember, |c| {
        cmd("HDEL").arg(key(gid)).arg(users).exec(c)
    })
}

/// Deletes the whole member hash (group creation clears stale fields).
pub fn clear(store: &Store, gid: u32) -> StoreResult<()> {
    store.redis(Cache::GroupMember, |c| cmd("DEL").arg(key(gid)).exec(c))
}
