//! `IMTransmitFile`: offline file records (BEHAVIOUR §8.23–§8.25, STORAGE §1.3).

use mysql::Row;
use mysql::prelude::Queryable;
use teamtalk_proto::pb::base_define::OfflineFileInfo;

use super::{col, exec_write};

/// Pending offline files for `to`, oldest first (Q-FILE-LIST).
pub fn pending_for(q: &mut impl Queryable, to: u32) -> mysql::Result<Vec<OfflineFileInfo>> {
    let rows: Vec<Row> = q.exec(
        "SELECT fromId, taskId, fileName, size FROM IMTransmitFile \
         WHERE toId = ? AND status = 0 ORDER BY created, id",
        (to,),
    )?;
    Ok(rows
        .iter()
        .map(|r| OfflineFileInfo {
            from_user_id: col(r, 0),
            task_id: col(r, 1),
            file_name: col(r, 2),
            file_size: col(r, 3),
        })
        .collect())
}

/// An offline file record to add.
#[derive(Debug, Clone, Copy)]
pub struct NewFile<'a> {
    /// Uploader.
    pub from: u32,
    /// Recipient.
    pub to: u32,
    /// File name.
    pub file_name: &'a str,
    /// Size in bytes.
    pub size: u32,
    /// file_server task id.
    pub task_id: &'a str,
}

/// Records an offline file (Q-FILE-ADD).
pub fn add(q: &mut impl Queryable, f: &NewFile<'_>, now: u32) -> mysql::Result<()> {
    exec_write(
        q,
        "INSERT INTO IMTransmitFile (fromId, toId, fileName, size, taskId, status, created, \
         updated) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
        (f.from, f.to, f.file_name, f.size, f.task_id, now, now),
    )?;
    Ok(())
}

/// Deletes an offline file record (Q-FILE-DEL, task id bound: D-SQL-3).
pub fn delete(q: &mut impl Queryable, from: u32, to: u32, task_id: &str) -> mysql::Result<()> {
    exec_write(
        q,
        "DELETE FROM IMTransmitFile WHERE fromId = ? AND toId = ? AND taskId = ?",
        (from, to, task_id),
    )?;
    Ok(())
}
