//! The login failure limiter (BEHAVIOUR §8.1 step 3): more than 10 failed logins for one user
//! name within 30 minutes lock that name until the failures age out or a login succeeds.
//!
//! Invariants: per name, failure times are kept newest first and never more than
//! eleven of them (the rule only needs to know whether more than 10 are recent); names whose
//! newest failure is older than the window are swept, so random names cannot grow memory for
//! ever (KNOWN_DEFECTS D-DB-1). The limiter is per process, like the original's.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Failures older than this (seconds) no longer count.
pub const WINDOW_SECS: u64 = 1800;
/// More than this many recent failures lock the name.
pub const MAX_FAILURES: usize = 10;
/// Failure times remembered per name.
const KEEP: usize = MAX_FAILURES + 1;
/// Map size at which the first sweep of stale names runs.
const FIRST_SWEEP: usize = 1024;

#[derive(Debug)]
struct Inner {
    failures: HashMap<String, VecDeque<u64>>,
    sweep_at: usize,
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

    /// Records a failed login for `name` at `now`.
    pub fn record_failure(&self, name: &str, now: u64) {
        let mut inner = self.lock();
        if !inner.failures.contains_key(name) && inner.failures.len() >= inner.sweep_at {
            inner.failures.retain(|_, list| {
                list.front()
                    .is_some_and(|&t| now.saturating_sub(t) <= WINDOW_SECS)
            });
            inner.sweep_at = (inner.failures.len() * 2).max(FIRST_SWEEP);
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
    fn stale_names_are_swept() {
        let l = LoginLimiter::default();
        for i in 0..FIRST_SWEEP {
            l.record_failure(&format!("n{i}"), 1000);
        }
        l.record_failure("fresh", 1000 + WINDOW_SECS + 1);
        assert_eq!(l.tracked(), 1);
    }
}
