//! The sync center (BEHAVIOUR §8.26): a background thread that, every 5 s, finds groups with
//! new messages and moves their conversation to the top of every member's recent-session
//! list, creating the session for members who have none.
//!
//! Differences from the original, both from KNOWN_DEFECTS D-DB-7: the group watermark is read
//! back as stored (the original inverted the check), and the user-update time is read and
//! written under the same key. Each scan starts from the time the previous scan started, so
//! activity during a scan is seen by the next one.

use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender, bounded};
use log::{info, warn};

use crate::handler::buddy::TOTAL_USER_UPDATE_KEY;
use crate::handler::error_chain;
use crate::model::session::{self, GROUP};
use crate::model::{counter, group, member};
use crate::store::{Store, StoreResult, now};

/// Period of the scan.
pub const SCAN_INTERVAL: Duration = Duration::from_secs(5);
/// Redis key of the group watermark (K-SYNC-3).
const LAST_UPDATE_GROUP_KEY: &str = "last_update_group";

/// The running sync thread; dropping it stops and joins the thread.
#[derive(Debug)]
pub struct SyncCenter {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SyncCenter {
    /// Reads the stored timestamps and starts the thread.
    pub fn start(store: Arc<Store>) -> std::io::Result<Self> {
        let mut watermark = init(&store);
        let (stop, stopped) = bounded::<()>(1);
        let thread = thread::Builder::new()
            .name("db_proxy-sync".into())
            .spawn(move || {
                loop {
                    if let Err(e) = scan(&store, &mut watermark) {
                        warn!("group session sync failed: err={}", error_chain(&e));
                    }
                    match stopped.recv_timeout(SCAN_INTERVAL) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for SyncCenter {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Start-up: the last user update (stored, else now) and the group watermark (stored, else
/// now: a fresh install has nothing to catch up on).
fn init(store: &Store) -> u32 {
    let now = now();
    let stored = |key: &str| -> Option<u32> {
        match counter::get_value(store, key) {
            Ok(v) => v.and_then(|v| v.parse().ok()),
            Err(e) => {
                warn!(
                    "sync timestamp unreadable: key={key} err={}",
                    error_chain(&e)
                );
                None
            }
        }
    };
    match stored(TOTAL_USER_UPDATE_KEY) {
        Some(t) => store.set_last_user_update(u64::from(t)),
        None => {
            store.set_last_user_update(u64::from(now));
            if let Err(e) = counter::set_value(store, TOTAL_USER_UPDATE_KEY, now) {
                warn!("sync timestamp not written: err={}", error_chain(&e));
            }
        }
    }
    let watermark = stored(LAST_UPDATE_GROUP_KEY).unwrap_or(now);
    info!("sync center started: group_watermark={watermark}");
    watermark
}

/// One pass: touch the group sessions of every group active since `watermark`.
pub fn scan(store: &Store, watermark: &mut u32) -> StoreResult<()> {
    let started = now();
    let groups = store.read(|c| group::changed_since(c, *watermark))?;
    *watermark = started;
    counter::set_value(store, LAST_UPDATE_GROUP_KEY, started)?;
    for (gid, last_chated) in groups {
        let Some(members) = member::member_ids(store, gid)? else {
            continue;
        };
        store.write(|c| {
            for &user in &members {
                match session::session_id(c, user, gid, GROUP, true)? {
                    // Existing sessions keep their status: a removed group stays removed
                    // until the user writes in it again.
                    Some(id) => session::set_session_updated(c, id, last_chated)?,
                    None => {
                        session::add_session(c, user, gid, GROUP, started)?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}
