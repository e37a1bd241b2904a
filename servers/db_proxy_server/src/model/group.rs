//! `IMGroup` and `IMGroupMember` (STORAGE §2 "Groups"). MySQL membership mirrors the Redis
//! member hash (see [`super::member`]), which is authoritative at runtime.

use mysql::Row;
use mysql::prelude::Queryable;

use super::{IN_CHUNK, col, exec_write, params_with, placeholders};

/// Group type of admin-created groups.
pub const NORMAL: u32 = 1;
/// Group type of client-created groups.
pub const TMP: u32 = 2;

/// The columns of a group the protocol reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    /// Group id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Avatar URL.
    pub avatar: String,
    /// Creator (0 for admin-created groups).
    pub creator: u32,
    /// 1 normal, 2 temporary.
    pub kind: u32,
    /// Member-change version.
    pub version: u32,
}

/// A group to create.
#[derive(Debug, Clone, Copy)]
pub struct NewGroup<'a> {
    /// Name.
    pub name: &'a str,
    /// Avatar URL.
    pub avatar: &'a str,
    /// Creator.
    pub creator: u32,
    /// Type.
    pub kind: u32,
}

/// Inserts a group with version 1 and no members yet (Q-GROUP-INSERT); returns its id.
pub fn insert(q: &mut impl Queryable, g: &NewGroup<'_>, now: u32) -> mysql::Result<Option<u32>> {
    let (_, id) = exec_write(
        q,
        "INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, lastChated, \
         updated, created) VALUES (?, ?, ?, ?, 0, 0, 1, 0, ?, ?)",
        (g.name, g.avatar, g.creator, g.kind, now, now),
    )?;
    Ok(u32::try_from(id).ok().filter(|&id| id != 0))
}

/// Groups by id, most recently updated first (Q-GROUP-INFO).
pub fn infos(q: &mut impl Queryable, ids: &[u32]) -> mysql::Result<Vec<GroupRow>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, name, avatar, creator, type, version FROM IMGroup WHERE id IN ({}) \
             ORDER BY updated DESC",
            placeholders(chunk.len())
        );
        let rows: Vec<Row> = q.exec(sql, params_with(&[], chunk))?;
        out.extend(rows.iter().map(|r| GroupRow {
            id: col(r, 0),
            name: col(r, 1),
            avatar: col(r, 2),
            creator: col(r, 3),
            kind: col(r, 4),
            version: col(r, 5),
        }));
    }
    Ok(out)
}

/// (id, version) of the normal groups among `ids`, most recently updated first
/// (Q-GROUP-VERSIONS with type 1).
pub fn normal_versions(q: &mut impl Queryable, ids: &[u32]) -> mysql::Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id, version FROM IMGroup WHERE id IN ({}) AND type = ? ORDER BY updated DESC",
            placeholders(chunk.len())
        );
        let mut params: Vec<mysql::Value> = chunk.iter().map(|&i| i.into()).collect();
        params.push(NORMAL.into());
        let rows: Vec<(u32, u32)> = q.exec(sql, params)?;
        out.extend(rows);
    }
    Ok(out)
}

/// (creator, type) of a group (Q-GROUP-PERM).
pub fn creator_and_type(q: &mut impl Queryable, group: u32) -> mysql::Result<Option<(u32, u32)>> {
    q.exec_first("SELECT creator, type FROM IMGroup WHERE id = ?", (group,))
}

/// Bumps the member-change version (Q-GROUP-VERSION-INC).
pub fn bump_version(q: &mut impl Queryable, group: u32) -> mysql::Result<()> {
    exec_write(
        q,
        "UPDATE IMGroup SET version = version + 1 WHERE id = ?",
        (group,),
    )?;
    Ok(())
}

/// Sets `userCnt` to the number of active members (KNOWN_DEFECTS D-DB-8).
pub fn recount_members(q: &mut impl Queryable, group: u32) -> mysql::Result<()> {
    exec_write(
        q,
        "UPDATE IMGroup SET userCnt = (SELECT COUNT(*) FROM IMGroupMember \
         WHERE groupId = ? AND status = 0) WHERE id = ?",
        (group, group),
    )?;
    Ok(())
}

/// Records group activity (Q-GROUP-CHAT).
pub fn set_last_chated(q: &mut impl Queryable, group: u32, now: u32) -> mysql::Result<()> {
    exec_write(
        q,
        "UPDATE IMGroup SET lastChated = ? WHERE id = ?",
        (now, group),
    )?;
    Ok(())
}

/// (id, lastChated) of live groups active since `since` (Q-GROUP-CHANGED).
pub fn changed_since(q: &mut impl Queryable, since: u32) -> mysql::Result<Vec<(u32, u32)>> {
    q.exec(
        "SELECT id, lastChated FROM IMGroup WHERE status = 0 AND lastChated >= ? \
         AND lastChated != 0",
        (since,),
    )
}

/// Groups `user` is an active member of, most recently updated first (Q-GMEMBER-OFUSER).
pub fn groups_of_user(q: &mut impl Queryable, user: u32) -> mysql::Result<Vec<u32>> {
    q.exec(
        "SELECT groupId FROM IMGroupMember WHERE userId = ? AND status = 0 \
         ORDER BY updated DESC, id DESC",
        (user,),
    )
}

/// Which of `users` have a membership row in `group`, any status (Q-GMEMBER-EXIST).
pub fn member_rows(q: &mut impl Queryable, group: u32, users: &[u32]) -> mysql::Result<Vec<u32>> {
    let mut out = Vec::new();
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT userId FROM IMGroupMember WHERE groupId = ? AND userId IN ({})",
            placeholders(chunk.len())
        );
        let rows: Vec<u32> = q.exec(sql, params_with(&[group.into()], chunk))?;
        out.extend(rows);
    }
    Ok(out)
}

/// Re-activates membership rows (Q-GMEMBER-REACT).
pub fn reactivate_members(
    q: &mut impl Queryable,
    group: u32,
    users: &[u32],
    now: u32,
) -> mysql::Result<()> {
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "UPDATE IMGroupMember SET status = 0, updated = ? WHERE groupId = ? AND userId IN ({})",
            placeholders(chunk.len())
        );
        exec_write(q, &sql, params_with(&[now.into(), group.into()], chunk))?;
    }
    Ok(())
}

/// Inserts an active membership row (Q-GMEMBER-INSERT).
pub fn insert_member(q: &mut impl Queryable, group: u32, user: u32, now: u32) -> mysql::Result<()> {
    exec_write(
        q,
        "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) \
         VALUES (?, ?, 0, ?, ?)",
        (group, user, now, now),
    )?;
    Ok(())
}

/// Marks members as having left (Q-GMEMBER-LEAVE).
pub fn leave_members(q: &mut impl Queryable, group: u32, users: &[u32]) -> mysql::Result<()> {
    for chunk in users.chunks(IN_CHUNK) {
        let sql = format!(
            "UPDATE IMGroupMember SET status = 1 WHERE groupId = ? AND userId IN ({})",
            placeholders(chunk.len())
        );
        exec_write(q, &sql, params_with(&[group.into()], chunk))?;
    }
    Ok(())
}

/// Deletes every membership row of a group (Q-GMEMBER-CLEAR, at creation).
pub fn clear_members(q: &mut impl Queryable, group: u32) -> mysql::Result<()> {
    exec_write(q, "DELETE FROM IMGroupMember WHERE groupId = ?", (group,))?;
    Ok(())
}

/// Active members of a live group with their join time (`updated`, else `created`): the
/// source for rebuilding a lost Redis member hash (KNOWN_DEFECTS D-DB-13).
pub fn active_members(q: &mut impl Queryable, group: u32) -> mysql::Result<Vec<(u32, u32)>> {
    q.exec(
        "SELECT m.userId, IF(m.updated = 0, m.created, m.updated) FROM IMGroupMember m \
         JOIN IMGroup g ON g.id = m.groupId \
         WHERE m.groupId = ? AND m.status = 0 AND g.status = 0",
        (group,),
    )
}
