//! The Redis side of the store: an r2d2 manager with timeouts and the named pools
//! (`unread`, `group_set`, `token`, `group_member`; STORAGE §3.1).
//!
//! Invariants (KNOWN_DEFECTS D-DB-11, D-DB-21): a connection is used only while its pooled
//! guard is held — the borrow checker makes that structural — and a connection that returned
//! any error is marked broken and dropped instead of going back to the pool, so a reply left
//! unread after a timeout can never be read by the next user of the connection. Every call has
//! a read/write timeout, so a stuck Redis delays one task by seconds, never for ever.

use std::time::Duration;

use log::warn;
use redis::{Client, Connection, RedisError, RedisResult};

use crate::config::RedisConfig;
use crate::store::StoreError;

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
        f(&mut self.conn).map_err(|e| {
            self.broken = true;
            StoreError::Redis(e)
        })
    }
}

/// Opens Redis connections for r2d2, selecting the pool's database.
#[derive(Debug)]
pub struct RedisManager {
    client: Client,
}

impl RedisManager {
    /// A manager for `cfg`.
    pub fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let url = format!("redis://{}:{}/{}", cfg.host, cfg.port, cfg.db);
        Ok(Self {
            client: Client::open(url).map_err(StoreError::Redis)?,
        })
    }
}

impl r2d2::ManageConnection for RedisManager {
    type Connection = RedisConn;
    type Error = RedisError;

    fn connect(&self) -> RedisResult<RedisConn> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(RedisConn {
            conn,
            broken: false,
        })
    }

    fn is_valid(&self, conn: &mut RedisConn) -> RedisResult<()> {
        redis::cmd("PING").query::<()>(&mut conn.conn)
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

/// Builds the pool for `cfg`; fails when the first connections cannot be opened.
pub fn build_pool(cfg: &RedisConfig) -> Result<RedisPool, StoreError> {
    r2d2::Pool::builder()
        .max_size(cfg.max_conns)
        .min_idle(Some(MIN_IDLE.min(cfg.max_conns)))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .test_on_check_out(true)
        .error_handler(Box::new(LogErrors(cfg.name.clone())))
        .build(RedisManager::new(cfg)?)
        .map_err(|e| StoreError::Pool(cfg.name.clone(), e))
}
