//! Group membership in the `group_member` Redis pool: hash `group_member_<gid>`, field user id,
//! value join time (K-GMEMBER). It is authoritative at runtime; a group whose hash is missing
//! or empty is not valid.
//!
//! Invariant (KNOWN_DEFECTS D-DB-13): a missing hash is rebuilt from the active rows of
//! `IMGroupMember` before the group is declared invalid, so losing the Redis data does not
//! destroy groups. Rebuilt fields are written with HSETNX so a concurrent change wins.

use redis::cmd;

use crate::model::group;
use crate::store::{Cache, Store, StoreResult};

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

/// Every member of a valid group with its join time; `None` for an invalid group.
pub fn members(store: &Store, gid: u32) -> StoreResult<Option<Vec<(u32, u32)>>> {
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
    let exists: bool = store.redis(Cache::GroupMember, |c| cmd("EXISTS").arg(key(gid)).query(c))?;
    if exists {
        return Ok(true);
    }
    rebuild(store, gid)
}

/// The join time of `user` in `gid`; `None` when the user is not a member (or the group is
/// invalid).
pub fn join_time(store: &Store, gid: u32, user: u32) -> StoreResult<Option<u32>> {
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
