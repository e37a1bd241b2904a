//! Message rows: one-to-one messages in `IMMessage_<relateId % 8>` and group messages in
//! `IMGroupMessage_<groupId % 8>` (STORAGE §2). History is read newest first, ties on
//! `created` broken by the auto-increment id (insertion order), as the original.

use mysql::prelude::Queryable;
use mysql::{Row, Value};

use super::{col, exec_write, params_with, placeholders};

/// Most messages one history page returns (KNOWN_DEFECTS D-DB-3).
pub const MAX_PAGE: u32 = 100;
/// Most ids one by-id lookup accepts (KNOWN_DEFECTS D-DB-3). Larger than the 100 rows a
/// lookup answers: like the original, the newest 100 among all the ids asked for are answered.
pub const MAX_IDS: usize = super::IN_CHUNK;

/// One stored message as history returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgRow {
    /// Per-relation or per-group sequence.
    pub msg_id: u32,
    /// Sender.
    pub from: u32,
    /// Create time.
    pub created: u32,
    /// Stored message type.
    pub msg_type: u32,
    /// Stored content (text ciphertext or decimal audio id).
    pub content: Vec<u8>,
}

/// The last message of a conversation: id, type, content and sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastMsg {
    /// Message id.
    pub msg_id: u32,
    /// Stored type.
    pub msg_type: u32,
    /// Stored content.
    pub content: Vec<u8>,
    /// Sender.
    pub from: u32,
}

/// Shard of the one-to-one table for a relation.
fn single_table(relate: u32) -> String {
    format!("IMMessage_{}", relate % 8)
}

/// Shard of the group table for a group.
fn group_table(group: u32) -> String {
    format!("IMGroupMessage_{}", group % 8)
}

fn msg_rows(rows: &[Row]) -> Vec<MsgRow> {
    rows.iter()
        .map(|r| MsgRow {
            msg_id: col(r, 0),
            from: col(r, 1),
            created: col(r, 2),
            msg_type: col(r, 3),
            content: col(r, 4),
        })
        .collect()
}

/// A one-to-one message to store.
#[derive(Debug, Clone, Copy)]
pub struct NewMsg<'a> {
    /// Relation id (picks the shard).
    pub relate: u32,
    /// Sender.
    pub from: u32,
    /// Receiver, or group id for group messages.
    pub to: u32,
    /// Allocated message id.
    pub msg_id: u32,
    /// Content to store.
    pub content: &'a [u8],
    /// Message type.
    pub msg_type: u32,
    /// Create time (msg_server's stamp).
    pub created: u32,
}

/// Rows per multi-row INSERT.
const INSERT_CHUNK: usize = 100;

/// Stores many messages, one multi-row INSERT per shard (Q-MSG-INSERT / Q-GMSG-INSERT);
/// `group` selects the group tables. Rows keep their order within a shard, so a
/// conversation's auto-increment ids follow its message ids.
pub fn insert_many(q: &mut impl Queryable, rows: &[NewMsg<'_>], group: bool) -> mysql::Result<()> {
    for shard in 0..8 {
        let in_shard: Vec<&NewMsg<'_>> = rows
            .iter()
            .filter(|m| (if group { m.to } else { m.relate }) % 8 == shard)
            .collect();
        for chunk in in_shard.chunks(INSERT_CHUNK) {
            let mut params: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
            let sql = if group {
                for m in chunk {
                    params.extend([
                        m.to.into(),
                        m.from.into(),
                        m.msg_id.into(),
                        m.content.into(),
                        m.msg_type.into(),
                        m.created.into(),
                        m.created.into(),
                    ]);
                }
                format!(
                    "INSERT INTO IMGroupMessage_{shard} (groupId, userId, msgId, content, type, \
                     status, updated, created) VALUES {}",
                    vec!["(?, ?, ?, ?, ?, 0, ?, ?)"; chunk.len()].join(", ")
                )
            } else {
                for m in chunk {
                    params.extend([
                        m.relate.into(),
                        m.from.into(),
                        m.to.into(),
                        m.msg_id.into(),
                        m.content.into(),
                        m.msg_type.into(),
                        m.created.into(),
                        m.created.into(),
                    ]);
                }
                format!(
                    "INSERT INTO IMMessage_{shard} (relateId, fromId, toId, msgId, content, status, \
                     type, created, updated) VALUES {}",
                    vec!["(?, ?, ?, ?, ?, 0, ?, ?, ?)"; chunk.len()].join(", ")
                )
            };
            exec_write(q, &sql, params)?;
        }
    }
    Ok(())
}

/// The last visible message of a relation (Q-MSG-LAST).
pub fn last_single(q: &mut impl Queryable, relate: u32) -> mysql::Result<Option<LastMsg>> {
    let sql = format!(
        "SELECT msgId, type, content, fromId FROM {} FORCE INDEX (idx_relateId_status_created) \
         WHERE relateId = ? AND status = 0 ORDER BY created DESC, id DESC LIMIT 1",
        single_table(relate)
    );
    let row: Option<Row> = q.exec_first(sql, (relate,))?;
    Ok(row.map(|r| LastMsg {
        msg_id: col(&r, 0),
        msg_type: col(&r, 1),
        content: col(&r, 2),
        from: col(&r, 3),
    }))
}

/// The last visible message of a group (Q-GMSG-LAST).
pub fn last_group(q: &mut impl Queryable, group: u32) -> mysql::Result<Option<LastMsg>> {
    let sql = format!(
        "SELECT msgId, type, content, userId FROM {} \
         WHERE groupId = ? AND status = 0 ORDER BY created DESC, id DESC LIMIT 1",
        group_table(group)
    );
    let row: Option<Row> = q.exec_first(sql, (group,))?;
    Ok(row.map(|r| LastMsg {
        msg_id: col(&r, 0),
        msg_type: col(&r, 1),
        content: col(&r, 2),
        from: col(&r, 3),
    }))
}

/// A page of a relation's history: ids ≤ `begin` (all when 0), newest first (Q-MSG-PAGE).
pub fn page_single(
    q: &mut impl Queryable,
    relate: u32,
    begin: u32,
    count: u32,
) -> mysql::Result<Vec<MsgRow>> {
    let table = single_table(relate);
    let count = count.min(MAX_PAGE);
    let rows: Vec<Row> = if begin == 0 {
        q.exec(
            format!(
                "SELECT msgId, fromId, created, type, content FROM {table} \
                 FORCE INDEX (idx_relateId_status_created) WHERE relateId = ? AND status = 0 \
                 ORDER BY created DESC, id DESC LIMIT ?"
            ),
            (relate, count),
        )?
    } else {
        q.exec(
            format!(
                "SELECT msgId, fromId, created, type, content FROM {table} \
                 FORCE INDEX (idx_relateId_status_created) WHERE relateId = ? AND status = 0 \
                 AND msgId <= ? ORDER BY created DESC, id DESC LIMIT ?"
            ),
            (relate, begin, count),
        )?
    };
    Ok(msg_rows(&rows))
}

/// A page of a group's history visible to a member who joined at `join_time` (Q-GMSG-PAGE).
pub fn page_group(
    q: &mut impl Queryable,
    group: u32,
    begin: u32,
    count: u32,
    join_time: u32,
) -> mysql::Result<Vec<MsgRow>> {
    let table = group_table(group);
    let count = count.min(MAX_PAGE);
    let rows: Vec<Row> = if begin == 0 {
        q.exec(
            format!(
                "SELECT msgId, userId, created, type, content FROM {table} \
                 WHERE groupId = ? AND status = 0 AND created >= ? \
                 ORDER BY created DESC, id DESC LIMIT ?"
            ),
            (group, join_time, count),
        )?
    } else {
        q.exec(
            format!(
                "SELECT msgId, userId, created, type, content FROM {table} \
                 WHERE groupId = ? AND msgId <= ? AND status = 0 AND created >= ? \
                 ORDER BY created DESC, id DESC LIMIT ?"
            ),
            (group, begin, join_time, count),
        )?
    };
    Ok(msg_rows(&rows))
}

/// Messages of a relation by id, newest first, at most 100 (Q-MSG-BYID).
pub fn by_ids_single(
    q: &mut impl Queryable,
    relate: u32,
    ids: &[u32],
) -> mysql::Result<Vec<MsgRow>> {
    let ids = &ids[..ids.len().min(MAX_IDS)];
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT msgId, fromId, created, type, content FROM {} \
         WHERE relateId = ? AND status = 0 AND msgId IN ({}) \
         ORDER BY created DESC, id DESC LIMIT 100",
        single_table(relate),
        placeholders(ids.len())
    );
    let rows: Vec<Row> = q.exec(sql, params_with(&[relate.into()], ids))?;
    Ok(msg_rows(&rows))
}

/// Group messages by id visible to a member who joined at `join_time` (Q-GMSG-BYID).
pub fn by_ids_group(
    q: &mut impl Queryable,
    group: u32,
    ids: &[u32],
    join_time: u32,
) -> mysql::Result<Vec<MsgRow>> {
    let ids = &ids[..ids.len().min(MAX_IDS)];
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT msgId, userId, created, type, content FROM {} \
         WHERE groupId = ? AND status = 0 AND created >= ? AND msgId IN ({}) \
         ORDER BY created DESC, id DESC LIMIT 100",
        group_table(group),
        placeholders(ids.len())
    );
    let rows: Vec<Row> = q.exec(sql, params_with(&[group.into(), join_time.into()], ids))?;
    Ok(msg_rows(&rows))
}

/// The largest message id stored for a relation (re-seeds a lost counter).
pub fn max_single_id(q: &mut impl Queryable, relate: u32) -> mysql::Result<u32> {
    let sql = format!(
        "SELECT IFNULL(MAX(msgId), 0) FROM {} WHERE relateId = ?",
        single_table(relate)
    );
    Ok(q.exec_first::<u32, _, _>(sql, (relate,))?.unwrap_or(0))
}

/// Whether `from`'s message `msg_id` is stored in a relation (`group` false) or a group: how
/// a commit whose outcome was lost with its connection, or a resend of a message whose
/// storing db_proxy died, is resolved.
pub fn exists(
    q: &mut impl Queryable,
    group: bool,
    conversation: u32,
    msg_id: u32,
    from: u32,
) -> mysql::Result<bool> {
    let sql = if group {
        format!(
            "SELECT 1 FROM {} WHERE groupId = ? AND msgId = ? AND userId = ? LIMIT 1",
            group_table(conversation)
        )
    } else {
        format!(
            "SELECT 1 FROM {} WHERE relateId = ? AND msgId = ? AND fromId = ? LIMIT 1",
            single_table(conversation)
        )
    };
    Ok(q.exec_first::<u8, _, _>(sql, (conversation, msg_id, from))?
        .is_some())
}

/// The largest message id stored for a group (re-seeds a lost counter).
pub fn max_group_id(q: &mut impl Queryable, group: u32) -> mysql::Result<u32> {
    let sql = format!(
        "SELECT IFNULL(MAX(msgId), 0) FROM {} WHERE groupId = ?",
        group_table(group)
    );
    Ok(q.exec_first::<u32, _, _>(sql, (group,))?.unwrap_or(0))
}
