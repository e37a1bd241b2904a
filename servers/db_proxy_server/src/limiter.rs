//! The login failure limiter (BEHAVIOUR §8.1 step 3): more than 10 failed logins for one user
//! name within 30 minutes lock that name until the failures age out or a login succeeds.
//!
//! Invariants: per name, failure times are kept newest first and never more than
//! eleven of them (the rule only needs to know whether more than 10 are recent); names whose
//! newest failure is older than the window are swept, so random names cannot grow memory for
//! ever (KNOWN_DEFECTS D-DB-1). The limiter is per process, like the original's.
//!
//! Bounds: a name longer than [`MAX_NAME_CHARS`] (the `IMUser.name` column) can never log in,
//! so it is not tracked at all. At most [`MAX_NAMES`] names are tracked: when the map is full
//! and a new name fails, stale names are swept, and if that leaves more than 7/8 of the bound,
//! the eighth of the names whose newest failure is oldest are forgotten too (they lose their
//! count: a flood of random names can shorten an old lock-out, never grow memory or lock
//! anyone).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use log::warn;

/// Failures older than this (seconds) no longer count.
pub const WINDOW_SECS: u64 = 1800;
/// More than this many recent failures lock the name.
pub const MAX_FAILURES: usize = 10;
/// Failure times remembered per name.
const KEEP: usize = MAX_FAILURES + 1;
/// Map size at which the first sweep of stale names runs.
const FIRST_SWEEP: usize = 1024;
/// Longest user name tracked, in characters (`IMUser.name` is `varchar(32)`).
pub const MAX_NAME_CHARS: usize = 32;
/// Most names tracked at once.
pub const MAX_NAMES: usize = 100_000;

#[derive(Debug)]
struct Inner {
    failures: HashMap<String, VecDeque<u64>>,
    sweep_at: usize,
}

impl Inner {
    /// Forgets the eighth of the names whose newest failure is oldest (at least one), so a
    /// full map costs one pass per [`MAX_NAMES`] / 8 new names, not one per name.
    fn evict_oldest(&mut self) {
        let mut newest: Vec<u64> = self
            .failures
            .values()
            .map(|l| l.front().copied().unwrap_or(0))
            .collect();
        if newest.is_empty() {
            return;
        }
        let n = (newest.len() / 8).max(1);
        let (_, cutoff, _) = newest.select_nth_unstable(n - 1);
        let cutoff = *cutoff;
        // Every name older than the cutoff goes, then as many at the cutoff as make up `n`:
        // many names can share a second, and which of those go is arbitrary, never an older
        // name kept for a newer one.
        let older = newest.iter().filter(|&&t| t < cutoff).count();
        let mut at_cutoff = n - older;
        self.failures.retain(|_, list| {
            let newest = list.front().copied().unwrap_or(0);
            if newest < cutoff {
                return false;
            }
            if newest == cutoff && at_cutoff > 0 {
                at_cutoff -= 1;
                return false;
            }
            true
        });
    }
}

/// Whether failures of `name` are worth tracking: a longer name than any account can have
/// never logs in, so locking it protects nothing.
fn trackable(name: &str) -> bool {
    name.chars().count() <= MAX_NAME_CHARS
}

/// Failure lists per user name behind one mutex.
#[derive(Debug)]
pub struct LoginLimiter {
    inner: Mutex<Inner>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                failures: HashMap::new(),
                sweep_at: FIRST_SWEEP,
            }),
        }
    }
}

impl LoginLimiter {
    /// Whether `name` is locked at time `now` (Unix seconds). Drops aged-out failures.
    pub fn is_locked(&self, name: &str, now: u64) -> bool {
        if !trackable(name) {
            return false;
        }
        let mut inner = self.lock();
        let Some(list) = inner.failures.get_mut(name) else {
            return false;
        };
        while list
            .back()
            .is_some_and(|&t| now.saturating_sub(t) > WINDOW_SECS)
        {
            list.pop_back();
        }
        let locked = list.len() > MAX_FAILURES
            && list
                .front()
                .is_some_and(|&t| now.saturating_sub(t) <= WINDOW_SECS);
        if list.is_empty() {
            inner.failures.remove(name);
        }
        locked
    }

    /// Records a failed login for `name` at `now`; names longer than [`MAX_NAME_CHARS`] are
    /// not recorded.
    pub fn record_failure(&self, name: &str, now: u64) {
        if !trackable(name) {
            return;
        }
        let mut inner = self.lock();
        if !inner.failures.contains_key(name) && inner.failures.len() >= inner.sweep_at {
            inner.failures.retain(|_, list| {
                list.front()
                    .is_some_and(|&t| now.saturating_sub(t) <= WINDOW_SECS)
            });
            if inner.failures.len() >= MAX_NAMES - MAX_NAMES / 8 {
                inner.evict_oldest();
                warn!(
                    "login failure limiter full, forgot the oldest names: tracked={}",
                    inner.failures.len()
                );
            }
            inner.sweep_at = (inner.failures.len() * 2).clamp(FIRST_SWEEP, MAX_NAMES);
        }
        let list = inner.failures.entry(name.to_owned()).or_default();
        list.push_front(now);
        list.truncate(KEEP);
    }

    /// Forgets the failures of `name` (after a successful login).
    pub fn clear(&self, name: &str) {
        self.lock().failures.remove(name);
    }

    /// Names currently tracked (tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.lock().failures.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent (each operation is
        // a few map calls), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eleven_recent_failures_lock_and_success_unlocks() {
        let l = LoginLimiter::default();
        for i in 0..10 {
            l.record_failure("a", 1000 + i);
            assert!(!l.is_locked("a", 1010));
        }
        l.record_failure("a", 1010);
        assert!(l.is_locked("a", 1011));
        assert!(!l.is_locked("b", 1011));
        l.clear("a");
        assert!(!l.is_locked("a", 1011));
    }

    #[test]
    fn failures_age_out_after_thirty_minutes() {
        let l = LoginLimiter::default();
        for i in 0..11 {
            l.record_failure("a", 1000 + i);
        }
        assert!(l.is_locked("a", 1000 + WINDOW_SECS));
        // The oldest failure is now more than 1800 s old: only 10 remain.
        assert!(!l.is_locked("a", 1001 + WINDOW_SECS));
        assert!(!l.is_locked("a", 1011 + WINDOW_SECS));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn names_longer_than_an_account_name_are_not_tracked() {
        let l = LoginLimiter::default();
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        for i in 0..20 {
            l.record_failure(&long, 1000 + i);
        }
        assert!(!l.is_locked(&long, 1020));
        assert_eq!(l.tracked(), 0);
        // 32 characters (not bytes) are still tracked.
        let name = "名".repeat(MAX_NAME_CHARS);
        for i in 0..11 {
            l.record_failure(&name, 1000 + i);
        }
        assert!(l.is_locked(&name, 1020));
    }

    #[test]
    fn a_full_limiter_forgets_the_names_that_failed_longest_ago() {
        let l = LoginLimiter::default();
        // A locked name whose failures are the most recent ones survives the eviction.
        for i in 0..11 {
            l.record_failure("victim", 5000 + i);
        }
        for i in 0..MAX_NAMES as u64 - 1 {
            l.record_failure(&format!("n{i}"), 4000 + i / 1000);
        }
        assert_eq!(l.tracked(), MAX_NAMES);
        l.record_failure("one more", 5020);
        let tracked = l.tracked();
        assert!(
            tracked <= MAX_NAMES - MAX_NAMES / 8 + 1,
            "tracked={tracked}"
        );
        assert!(tracked >= MAX_NAMES / 2, "tracked={tracked}");
        assert!(l.is_locked("victim", 5020));
        assert!(!l.is_locked("one more", 5020));
        // The oldest names were the ones forgotten.
        assert!(!l.inner.lock().unwrap().failures.contains_key("n0"));
        assert!(
            l.inner
                .lock()
                .unwrap()
                .failures
                .contains_key(&format!("n{}", MAX_NAMES - 2))
        );
        // Adding more never passes the bound.
        for i in 0..MAX_NAMES as u64 {
            l.record_failure(&format!("m{i}"), 5100);
        }
        assert!(l.tracked() <= MAX_NAMES);
    }

    #[test]
    fn stale_names_are_swept() {
        let l = LoginLimiter::default();
        for i in 0..FIRST_SWEEP {
            l.record_failure(&format!("n{i}"), 1000);
        }
        l.record_failure("fresh", 1000 + WINDOW_SECS + 1);
        assert_eq!(l.tracked(), 1);
    }
}
