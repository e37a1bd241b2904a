//! The Redis side of the store: an r2d2 manager with timeouts and the named pools
//! (`unread`, `group_set`, `token`, `group_member`; STORAGE §3.1).
//!
//! Invariants (KNOWN_DEFECTS D-DB-11, D-DB-21): a connection is used only while its pooled
//! guard is held — the borrow checker makes that structural — and a connection that returned
//! any error is marked broken and dropped instead of going back to the pool, so a reply left
//! unread after a timeout can never be read by the next user of the connection. Every call has
//! a read/write timeout, so a stuck Redis delays one task by seconds, never for ever.
//!
//! Every new connection reads the server's `run_id` into the shared [`RedisEpoch`]: a Redis
//! that restarted (possibly empty, possibly restored from an old snapshot) has a new `run_id`,
//! and no command can reach it except through a new connection, so the epoch changes before
//! the first command on the restarted server runs. Callers that trust what they checked in
//! Redis (message-id sequences, group members) re-check after an epoch change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use log::{info, warn};
use redis::{Client, Connection, Pipeline, RedisError, RedisResult, Script};

use crate::config::RedisConfig;
use crate::store::{CHECKED_BY_USE, StoreError};

/// TCP connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Read/write timeout of every Redis call.
const IO_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a worker waits for a free pooled connection.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);
/// Connections opened when the pool starts, as the original.
const MIN_IDLE: u32 = 2;

/// A Redis connection and whether it may still be used.
pub struct RedisConn {
    conn: Connection,
    broken: bool,
    /// When a call on it last succeeded.
    last_ok: Instant,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConn")
            .field("broken", &self.broken)
            .finish()
    }
}

impl RedisConn {
    /// Runs `f` on the connection; any error marks the connection broken.
    pub fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Result<T, StoreError> {
        let value = f(&mut self.conn).map_err(|e| {
            self.broken = true;
            StoreError::Redis(e)
        })?;
        self.last_ok = Instant::now();
        Ok(value)
    }
}

/// A Lua script called many times in one pipeline. The pipeline starts with one `SCRIPT LOAD`
/// of its text and each call is an `EVALSHA` of its SHA1: `EVAL` would send and hash the whole
/// text again for every call (twice per stored message). The load precedes the calls on the
/// same connection, so they find the script even on a Redis that restarted a moment ago.
#[derive(Debug)]
pub struct PipelineScript {
    code: &'static str,
    script: OnceLock<Script>,
}

impl PipelineScript {
    /// The script with Lua source `code`.
    pub const fn new(code: &'static str) -> Self {
        Self {
            code,
            script: OnceLock::new(),
        }
    }

    /// The script for a call of its own (`EVALSHA`, loading it when Redis lacks it).
    pub fn script(&self) -> &Script {
        self.script.get_or_init(|| Script::new(self.code))
    }

    /// Adds the script's load to `pipe` (its answer, the SHA1, is not returned).
    pub fn load_into(&self, pipe: &mut Pipeline) {
        pipe.cmd("SCRIPT").arg("LOAD").arg(self.code).ignore();
    }

    /// Adds one call to `pipe` and returns it for the call's keys and arguments: the key
    /// count, then as `EVAL` takes them.
    pub fn call<'a>(&self, pipe: &'a mut Pipeline) -> &'a mut Pipeline {
        pipe.cmd("EVALSHA").arg(self.script().get_hash())
    }
}

/// Which incarnation of the Redis servers the pools talk to: a number that changes whenever a
/// server the pools connect to comes back with another `run_id` (it restarted).
#[derive(Debug, Default)]
pub struct RedisEpoch {
    epoch: AtomicU32,
    /// Last `run_id` seen per server address.
    run_ids: Mutex<HashMap<String, String>>,
}

impl RedisEpoch {
    /// The current epoch. Something checked in Redis under an older epoch must be checked again.
    pub fn current(&self) -> u32 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Records the `run_id` a new connection to `server` reported.
    pub fn observe(&self, server: &str, run_id: &str) {
        let mut run_ids = self.run_ids.lock().unwrap_or_else(|p| p.into_inner());
        match run_ids.insert(server.to_owned(), run_id.to_owned()) {
            Some(old) if old != run_id => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                info!("redis restarted, re-checking counters and members: server={server}");
            }
            _ => {}
        }
    }
}

/// The `run_id` line of `INFO server`.
fn run_id(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("run_id:"))
        .map(str::trim)
}

/// Opens Redis connections for r2d2, selecting the pool's database.
#[derive(Debug)]
pub struct RedisManager {
    client: Client,
    /// `host:port`, the key of this server in the epoch.
    server: String,
    epoch: Arc<RedisEpoch>,
}

impl RedisManager {
    /// A manager for `cfg` reporting to `epoch`.
    pub fn new(cfg: &RedisConfig, epoch: Arc<RedisEpoch>) -> Result<Self, StoreError> {
        let url = format!("redis://{}:{}/{}", cfg.host, cfg.port, cfg.db);
        Ok(Self {
            client: Client::open(url).map_err(StoreError::Redis)?,
            server: format!("{}:{}", cfg.host, cfg.port),
            epoch,
        })
    }
}

impl r2d2::ManageConnection for RedisManager {
    type Connection = RedisConn;
    type Error = RedisError;

    fn connect(&self) -> RedisResult<RedisConn> {
        let mut conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        let info: String = redis::cmd("INFO").arg("server").query(&mut conn)?;
        match run_id(&info) {
            Some(id) => self.epoch.observe(&self.server, id),
            None => warn!(
                "redis INFO has no run_id, restarts go unnoticed: server={}",
                self.server
            ),
        }
        Ok(RedisConn {
            conn,
            broken: false,
            last_ok: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut RedisConn) -> RedisResult<()> {
        if conn.last_ok.elapsed() < CHECKED_BY_USE {
            return Ok(());
        }
        redis::cmd("PING").query::<()>(&mut conn.conn)?;
        conn.last_ok = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut RedisConn) -> bool {
        conn.broken || !redis::ConnectionLike::is_open(&conn.conn)
    }
}

#[derive(Debug)]
struct LogErrors(String);

impl r2d2::HandleError<RedisError> for LogErrors {
    fn handle_error(&self, error: RedisError) {
        warn!("redis connection failed: pool={} err={error}", self.0);
    }
}

/// A pool of Redis connections.
pub type RedisPool = r2d2::Pool<RedisManager>;

/// Builds the pool for `cfg`, its connections reporting to `epoch`; fails when the first
/// connections cannot be opened.
pub fn build_pool(cfg: &RedisConfig, epoch: &Arc<RedisEpoch>) -> Result<RedisPool, StoreError> {
    r2d2::Pool::builder()
        .max_size(cfg.max_conns)
        .min_idle(Some(MIN_IDLE.min(cfg.max_conns)))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .test_on_check_out(true)
        .error_handler(Box::new(LogErrors(cfg.name.clone())))
        .build(RedisManager::new(cfg, Arc::clone(epoch))?)
        .map_err(|e| StoreError::Pool(cfg.name.clone(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_changes_only_when_a_known_server_reports_another_run_id() {
        let epoch = RedisEpoch::default();
        epoch.observe("a:1", "r1");
        epoch.observe("b:2", "q1");
        epoch.observe("a:1", "r1");
        assert_eq!(epoch.current(), 0);
        epoch.observe("a:1", "r2");
        assert_eq!(epoch.current(), 1);
        epoch.observe("b:2", "q1");
        epoch.observe("a:1", "r2");
        assert_eq!(epoch.current(), 1);
    }

    #[test]
    fn run_id_is_read_from_info_server() {
        let info = "# Server\r\nredis_version:7.0.15\r\nrun_id:abc123\r\ntcp_port:6379\r\n";
        assert_eq!(run_id(info), Some("abc123"));
        assert_eq!(run_id("# Server\r\n"), None);
    }
}
