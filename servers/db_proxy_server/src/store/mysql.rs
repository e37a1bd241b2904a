//! The MySQL side of the store: an r2d2 manager for `mysql::Conn` and the two named pools.
//!
//! Invariants: every connection has connect, read and write timeouts, so no query blocks a
//! worker for ever; a connection that saw any error other than a plain server error (SQL
//! error, duplicate key…) is marked broken and never handed out again, because after an I/O
//! error or timeout the protocol state of the socket is unknown. Connections use
//! `CLIENT_FOUND_ROWS`, so an UPDATE reports matched rows and an idempotent update counts as a
//! success (KNOWN_DEFECTS D-DB-18).

use std::time::{Duration, Instant};

use log::{debug, warn};
use mysql::consts::CapabilityFlags;
use mysql::{Conn, IsolationLevel, Opts, OptsBuilder, Transaction, TxOpts};

use crate::config::MysqlConfig;
use crate::store::{CHECKED_BY_USE, StoreError};

/// TCP connect timeout of a MySQL connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Read/write timeout of every MySQL call.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a worker waits for a free pooled connection.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);
/// Runs of a transaction before a deadlock is reported as an error.
const TX_ATTEMPTS: u32 = 4;
/// MySQL error: deadlock found, transaction rolled back.
const ER_LOCK_DEADLOCK: u16 = 1213;
/// MySQL error: lock wait timeout.
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// Connections opened when the pool starts, as the original.
const MIN_IDLE: u32 = 2;
/// Age at which a pooled connection is closed and replaced. The mysql crate gives every
/// connection a 4-MiB input and a 4-MiB output buffer and reads each answer into the input
/// buffer's free space after the previous one, so its pages become resident a few hundred
/// bytes per query until all 8 MiB are (benches/README.md, "Soak"). Replacing connections
/// every few minutes keeps that to what a few minutes of queries touch; a reconnect every 5
/// minutes per connection costs nothing measurable.
const MAX_LIFETIME: Duration = Duration::from_secs(300);

/// A MySQL connection and whether it may still be used.
#[derive(Debug)]
pub struct MysqlConn {
    conn: Conn,
    broken: bool,
    /// When a call on it last succeeded.
    last_ok: Instant,
}

impl MysqlConn {
    /// Runs `f` on the connection; errors that leave the socket in doubt mark it broken.
    pub fn run<T>(
        &mut self,
        f: impl FnOnce(&mut Conn) -> mysql::Result<T>,
    ) -> Result<T, StoreError> {
        let result = f(&mut self.conn);
        self.check(result)
    }

    /// Runs `f` inside a READ COMMITTED transaction that commits when `f` succeeds and rolls
    /// back otherwise. A transaction InnoDB chose as a deadlock victim (or that timed out on a
    /// row lock) was rolled back whole, so it is run again, a few times at most.
    pub fn transaction<T>(
        &mut self,
        mut f: impl FnMut(&mut Transaction<'_>) -> mysql::Result<T>,
    ) -> Result<T, StoreError> {
        let opts = TxOpts::default().set_isolation_level(Some(IsolationLevel::ReadCommitted));
        let mut attempt = 1;
        loop {
            let result = (|| {
                let mut tx = self.conn.start_transaction(opts)?;
                let value = f(&mut tx)?;
                tx.commit()?;
                Ok(value)
            })();
            match result {
                Err(mysql::Error::MySqlError(ref e))
                    if attempt < TX_ATTEMPTS
                        && matches!(e.code, ER_LOCK_DEADLOCK | ER_LOCK_WAIT_TIMEOUT) =>
                {
                    debug!("retrying transaction: attempt={attempt} code={}", e.code);
                    attempt += 1;
                }
                other => return self.check(other),
            }
        }
    }

    fn check<T>(&mut self, result: mysql::Result<T>) -> Result<T, StoreError> {
        match result {
            Ok(value) => {
                self.last_ok = Instant::now();
                Ok(value)
            }
            Err(e) => {
                if !matches!(e, mysql::Error::MySqlError(_)) {
                    self.broken = true;
                }
                Err(StoreError::Mysql(e))
            }
        }
    }
}

/// What a pool's connections are used for, which decides how a connection is checked before
/// it is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolUse {
    /// Reads only: a connection that answered in the last [`CHECKED_BY_USE`] is handed out
    /// without a ping; if it died since, the read fails and nothing is left in doubt.
    Reads,
    /// Writes: every connection is pinged first. A write on a dead connection can leave its
    /// outcome unknown (a message then stays "in doubt" until a copy finds its row), so the
    /// round trip is worth it; message writes come in batches, one check per batch.
    Writes,
}

/// Opens MySQL connections for r2d2.
#[derive(Debug)]
pub struct MysqlManager {
    opts: Opts,
    pool_use: PoolUse,
}

impl MysqlManager {
    /// A manager for the pool described by `cfg`, used for `pool_use`.
    pub fn new(cfg: &MysqlConfig, pool_use: PoolUse) -> Self {
        let builder = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.host.clone()))
            .tcp_port(cfg.port)
            .db_name(Some(cfg.dbname.clone()))
            .user(Some(cfg.username.clone()))
            .pass(Some(cfg.password.clone()))
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .tcp_nodelay(true)
            // Talk to the configured host and port, never a local socket found through it.
            .prefer_socket(false)
            .init(vec!["SET NAMES utf8mb4"])
            .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS);
        Self {
            opts: builder.into(),
            pool_use,
        }
    }
}

impl r2d2::ManageConnection for MysqlManager {
    type Connection = MysqlConn;
    type Error = mysql::Error;

    fn connect(&self) -> Result<MysqlConn, mysql::Error> {
        Ok(MysqlConn {
            conn: Conn::new(self.opts.clone())?,
            broken: false,
            last_ok: Instant::now(),
        })
    }

    fn is_valid(&self, conn: &mut MysqlConn) -> Result<(), mysql::Error> {
        if self.pool_use == PoolUse::Reads && conn.last_ok.elapsed() < CHECKED_BY_USE {
            return Ok(());
        }
        conn.conn.ping()?;
        conn.last_ok = Instant::now();
        Ok(())
    }

    fn has_broken(&self, conn: &mut MysqlConn) -> bool {
        conn.broken
    }
}

/// r2d2 error sink: connection failures are logged once per attempt, without credentials.
#[derive(Debug)]
struct LogErrors(&'static str);

impl r2d2::HandleError<mysql::Error> for LogErrors {
    fn handle_error(&self, error: mysql::Error) {
        warn!("mysql connection failed: pool={} err={error}", self.0);
    }
}

/// A pool of MySQL connections.
pub type MysqlPool = r2d2::Pool<MysqlManager>;

/// Builds the pool for `cfg`, used for `pool_use`; fails when the first connections cannot be
/// opened (the original refuses to start then).
pub fn build_pool(
    cfg: &MysqlConfig,
    pool_name: &'static str,
    pool_use: PoolUse,
) -> Result<MysqlPool, StoreError> {
    r2d2::Pool::builder()
        .max_size(cfg.max_conns)
        .min_idle(Some(MIN_IDLE.min(cfg.max_conns)))
        .connection_timeout(CHECKOUT_TIMEOUT)
        .max_lifetime(Some(MAX_LIFETIME))
        .test_on_check_out(true)
        .error_handler(Box::new(LogErrors(pool_name)))
        .build(MysqlManager::new(cfg, pool_use))
        .map_err(|e| StoreError::Pool(pool_name.to_owned(), e))
}
