//! Signed-in sessions and sign-in throttling, both in memory and both bounded.
//!
//! A session id is 256 random bits (hex), the only thing the browser holds (an `HttpOnly`,
//! `SameSite=Strict` cookie); the server keeps the administrator's name, a per-session CSRF
//! token that every POST must echo, and the time of last use. An idle session ends after the
//! configured time; restarting the console ends them all.
//!
//! Throttling counts failed sign-ins per source address and per account name: after
//! [`MAX_FAILURES`] failures within [`LOCK_TIME`], that key is locked for [`LOCK_TIME`] from
//! the last failure, whatever password comes next. The map is bounded; when full the
//! stalest entry goes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins after which an address or a name is locked.
pub const MAX_FAILURES: u32 = 5;
/// How long a lock lasts, and the window failures are counted in.
pub const LOCK_TIME: Duration = Duration::from_secs(15 * 60);
/// Most sessions held at once; the least recently used goes first past it.
const MAX_SESSIONS: usize = 10_000;
/// Most throttling entries held at once.
const MAX_THROTTLE_KEYS: usize = 10_000;

/// What a signed-in request knows about its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session id (the cookie's value).
    pub id: String,
    /// The administrator's name.
    pub admin: String,
    /// The token every POST of this session must carry.
    pub csrf: String,
}

#[derive(Debug)]
struct Entry {
    admin: String,
    csrf: String,
    last_used: Instant,
    /// A message for the next page shown (post/redirect/get).
    notice: Option<String>,
}

/// The sessions, by id.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    map: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    /// An empty table whose sessions end after `idle` without use.
    pub fn new(idle: Duration) -> Self {
        Self {
            idle,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Opens a session for `admin`.
    pub fn open(&self, admin: &str) -> Session {
        let session = Session {
            id: random_token(),
            admin: admin.to_owned(),
            csrf: random_token(),
        };
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, e| now.duration_since(e.last_used) < self.idle);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            session.id.clone(),
            Entry {
                admin: session.admin.clone(),
                csrf: session.csrf.clone(),
                last_used: now,
                notice: None,
            },
        );
        session
    }

    /// The live session `id`, marked as used now; an idle one is ended.
    pub fn touch(&self, id: &str) -> Option<Session> {
        let mut map = self.lock();
        let now = Instant::now();
        let entry = map.get_mut(id)?;
        if now.duration_since(entry.last_used) >= self.idle {
            map.remove(id);
            return None;
        }
        entry.last_used = now;
        Some(Session {
            id: id.to_owned(),
            admin: entry.admin.clone(),
            csrf: entry.csrf.clone(),
        })
    }

    /// Ends session `id`.
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Leaves `notice` for the next page session `id` shows.
    pub fn set_notice(&self, id: &str, notice: String) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.notice = Some(notice);
        }
    }

    /// The notice left for this page, if any (shown once).
    pub fn take_notice(&self, id: &str) -> Option<String> {
        self.lock().get_mut(id)?.notice.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock leaves a consistent map (every change is one call).
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Compares a POSTed CSRF token with the session's, in time independent of where they differ.
pub fn csrf_matches(session: &Session, sent: &str) -> bool {
    tokens_match(&session.csrf, sent)
}

/// Whether two tokens are equal (and not empty), in time independent of where they differ.
pub fn tokens_match(expected: &str, sent: &str) -> bool {
    let (a, b) = (expected.as_bytes(), sent.as_bytes());
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 256 random bits in hex, from the thread's CSPRNG.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed sign-ins by key (`ip:…` or `name:…`).
#[derive(Debug, Default)]
pub struct Throttle {
    map: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// How long `key` stays locked, if it is.
    pub fn locked_for(&self, key: &str) -> Option<Duration> {
        let map = self.lock();
        let entry = map.get(key)?;
        let since = entry.last.elapsed();
        (entry.count >= MAX_FAILURES && since < LOCK_TIME).then(|| LOCK_TIME - since)
    }

    /// Counts a failure for `key`.
    pub fn fail(&self, key: &str) {
        let mut map = self.lock();
        let now = Instant::now();
        if !map.contains_key(key) && map.len() >= MAX_THROTTLE_KEYS {
            map.retain(|_, f| now.duration_since(f.last) < LOCK_TIME);
            if map.len() >= MAX_THROTTLE_KEYS {
                if let Some(stalest) = map
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&stalest);
                }
            }
        }
        let entry = map.entry(key.to_owned()).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= LOCK_TIME {
            // Old failures no longer count.
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
    }

    /// Forgets `key`'s failures (after a successful sign-in).
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_open_touch_and_close() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let s = sessions.open("root");
        assert_eq!((s.id.len(), s.csrf.len()), (64, 64));
        assert_ne!(s.id, s.csrf);
        assert_eq!(sessions.touch(&s.id), Some(s.clone()));
        assert_eq!(sessions.touch("0".repeat(64).as_str()), None);
        sessions.set_notice(&s.id, "done".into());
        assert_eq!(sessions.take_notice(&s.id).as_deref(), Some("done"));
        assert_eq!(sessions.take_notice(&s.id), None);
        sessions.close(&s.id);
        assert_eq!(sessions.touch(&s.id), None);
    }

    #[test]
    fn idle_sessions_end() {
        let sessions = Sessions::new(Duration::from_millis(1));
        let s = sessions.open("root");
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(sessions.touch(&s.id), None);
    }

    #[test]
    fn csrf_tokens_must_match_exactly() {
        let s = Sessions::new(Duration::from_secs(60)).open("root");
        assert!(csrf_matches(&s, &s.csrf.clone()));
        assert!(!csrf_matches(&s, ""));
        assert!(!csrf_matches(&s, &s.csrf[..63]));
        let mut other = s.csrf.clone().into_bytes();
        other[10] = if other[10] == b'a' { b'b' } else { b'a' };
        assert!(!csrf_matches(&s, &String::from_utf8(other).unwrap()));
    }

    #[test]
    fn keys_lock_after_max_failures_and_clear() {
        let throttle = Throttle::default();
        for _ in 0..MAX_FAILURES - 1 {
            throttle.fail("name:root");
        }
        assert_eq!(throttle.locked_for("name:root"), None);
        throttle.fail("name:root");
        let left = throttle.locked_for("name:root").unwrap();
        assert!(left > LOCK_TIME - Duration::from_secs(5), "{left:?}");
        assert_eq!(throttle.locked_for("ip:127.0.0.1"), None);
        throttle.clear("name:root");
        assert_eq!(throttle.locked_for("name:root"), None);
    }

    #[test]
    fn the_throttle_map_is_bounded() {
        let throttle = Throttle::default();
        for i in 0..MAX_THROTTLE_KEYS + 10 {
            throttle.fail(&format!("ip:{i}"));
        }
        assert_eq!(throttle.lock().len(), MAX_THROTTLE_KEYS);
    }
}
