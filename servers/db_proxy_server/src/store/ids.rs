//! A bounded in-memory map from a row's natural key to its id, for rows whose id never changes
//! once the row exists: relations by user pair and sessions by (user, peer, type). No handler
//! deletes those rows (removal and re-activation only toggle `status`), so a cached id stays
//! right even when another db_proxy sharing the database touched the row; a miss simply reads
//! MySQL.
//!
//! Invariants: the map is split into shards, each behind its own mutex so workers rarely
//! contend; a shard that reaches its share of the capacity starts over (cleared), so memory
//! stays bounded with any number of keys and a hot key is back after one look-up.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

/// Shards of one cache.
const SHARDS: usize = 16;

/// Ids by key, at most about `capacity` of them (see the module docs).
#[derive(Debug)]
pub struct IdCache<K> {
    shards: Vec<Mutex<HashMap<K, u32>>>,
    /// Entries one shard holds before it starts over.
    shard_cap: usize,
    hasher: RandomState,
}

impl<K: Hash + Eq + Copy> IdCache<K> {
    /// An empty cache holding at most `capacity` ids (at least one per shard).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_cap: (capacity / SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    fn shard(&self, key: &K) -> MutexGuard<'_, HashMap<K, u32>> {
        let i = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        // A panic while holding a shard cannot leave a half-written entry behind.
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached id of `key`.
    pub fn get(&self, key: &K) -> Option<u32> {
        self.shard(key).get(key).copied()
    }

    /// Remembers the id of `key`; the key's shard starts over when full.
    pub fn insert(&self, key: K, id: u32) {
        let mut shard = self.shard(&key);
        if shard.len() >= self.shard_cap && !shard.contains_key(&key) {
            shard.clear();
        }
        shard.insert(key, id);
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        self.shard(key).remove(key);
    }

    /// Ids held now, over all shards.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_id_is_found_again() {
        let cache = IdCache::new(1000);
        cache.insert((1, 2), 7);
        cache.insert((3, 4), 9);
        assert_eq!(cache.get(&(1, 2)), Some(7));
        assert_eq!(cache.get(&(3, 4)), Some(9));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn an_unknown_key_misses() {
        let cache: IdCache<(u32, u32, u32)> = IdCache::new(1000);
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.get(&(1, 2, 1)), None);
        cache.insert((1, 2, 1), 5);
        // Same users, other type or direction: different keys.
        assert_eq!(cache.get(&(1, 2, 2)), None);
        assert_eq!(cache.get(&(2, 1, 1)), None);
    }

    #[test]
    fn a_new_id_for_a_key_replaces_the_old_one_without_growing() {
        let cache = IdCache::new(SHARDS);
        cache.insert(1u32, 1);
        cache.insert(1u32, 2);
        assert_eq!(cache.get(&1), Some(2));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let capacity = 10 * SHARDS;
        let cache = IdCache::new(capacity);
        for k in 0..100_000u32 {
            cache.insert(k, k + 1);
            assert!(cache.len() <= capacity);
        }
        // The latest key is always there, and what is there is right.
        assert_eq!(cache.get(&99_999), Some(100_000));
        let held = (0..100_000u32)
            .filter(|k| cache.get(k) == Some(k + 1))
            .count();
        assert_eq!(held, cache.len());
        assert!(held > 0);
    }
}
