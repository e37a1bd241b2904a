//! The audit log: one `IMAdminAudit` row per change, written in the change's own transaction, so
//! a change is logged exactly when it happened (a teamtalk-rs table; STORAGE §1).

use mysql::prelude::{FromRow, Queryable};
use mysql::{FromRowError, Row};

use crate::error::Result;
use crate::row::col;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Who made it (the administrator's name).
    pub actor: String,
    /// What was done, e.g. `user.add`.
    pub action: String,
    /// What it was done to, e.g. `user 42 alice`.
    pub target: String,
    /// Anything else worth keeping (never a password).
    pub detail: String,
    /// Unix seconds.
    pub created: u32,
}

/// From `actor, action, target, detail, created`.
impl FromRow for Entry {
    fn from_row_opt(row: Row) -> std::result::Result<Self, FromRowError> {
        Ok(Self {
            actor: col(&row, 0),
            action: col(&row, 1),
            target: col(&row, 2),
            detail: col(&row, 3),
            created: col(&row, 4),
        })
    }
}

/// Records a change in the transaction that makes it.
pub(crate) fn record(
    tx: &mut impl Queryable,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    tx.exec_drop(
        "INSERT INTO IMAdminAudit (actor, action, target, detail, created) \
         VALUES (?, ?, ?, ?, UNIX_TIMESTAMP())",
        (
            cut(actor, 64),
            cut(action, 32),
            cut(target, 64),
            cut(detail, 255),
        ),
    )?;
    Ok(())
}

/// Records a change that was made elsewhere and has already happened (a group change made
/// through http_msg_server, which has no transaction to share).
pub fn record_done(
    conn: &mut impl Queryable,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<()> {
    record(conn, actor, action, target, detail)
}

/// The newest `limit` entries, newest first.
pub fn recent(conn: &mut impl Queryable, limit: u32) -> Result<Vec<Entry>> {
    Ok(conn.exec(
        "SELECT actor, action, target, detail, created FROM IMAdminAudit \
         ORDER BY id DESC LIMIT ?",
        (limit,),
    )?)
}

/// `value` cut to its column's `max` characters.
fn cut(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}
