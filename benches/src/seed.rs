//! Benchmark users and groups written straight into the original schema (STORAGE §1, §3), and
//! their removal.
//!
//! Users are `<prefix>_<i>`; their password is stored as the original does,
//! `md5hex(md5hex(plain) ‖ salt)` with a decimal salt. Groups are `<prefix>_g<j>`, normal
//! groups whose members are rows in IMGroupMember **and** fields of the Redis hash
//! `group_member_<gid>` (the servers only read Redis at runtime). Seeding is idempotent:
//! existing users are kept, existing groups get their membership rewritten. The prefix is
//! letters and digits only, so `<prefix>\_%` matches exactly its own users.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use mysql::prelude::Queryable;
use mysql::{Params, Pool, PooledConn, Value};
use serde::Serialize;

use crate::cli::{CleanOptions, SeedOptions, Storage, user_name};

/// Rows per multi-row INSERT.
const INSERT_CHUNK: usize = 500;
/// Ids per `IN (...)` list.
const ID_CHUNK: usize = 1000;
/// Sharded message tables (`IMMessage_0..7`, `IMGroupMessage_0..7`).
const SHARDS: u32 = 8;
/// Department of seeded users (the id need not exist).
const DEPARTMENT: u32 = 1;

/// What `seed` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedReport {
    /// User-name prefix.
    pub prefix: String,
    /// Users that exist now (`<prefix>_0` ..).
    pub users: u32,
    /// Users inserted by this run.
    pub inserted: u32,
    /// Groups, in order.
    pub groups: Vec<SeededGroup>,
}

/// One seeded group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeededGroup {
    /// Group id.
    pub id: u32,
    /// Group name.
    pub name: String,
    /// Index of its first member (members are consecutive users).
    pub first_member: u32,
    /// Member count.
    pub members: u32,
}

/// What `clean` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CleanReport {
    /// Users deleted.
    pub users: u64,
    /// Groups deleted.
    pub groups: u64,
    /// Message rows deleted (1:1 and group).
    pub messages: u64,
}

/// Seconds since the epoch, as the schema stores times.
fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

/// The decimal salt of user `index` (the PHP admin also uses 0–9999).
pub fn salt(index: u32) -> String {
    (index.wrapping_mul(7919) % 10_000).to_string()
}

/// `LIKE` pattern matching exactly the names `<prefix>_<anything>`.
fn like_users(prefix: &str) -> String {
    format!("{prefix}\\_%")
}

fn like_groups(prefix: &str) -> String {
    format!("{prefix}\\_g%")
}

/// Group name of seeded group `j`.
pub fn group_name(prefix: &str, j: u32) -> String {
    format!("{prefix}_g{j}")
}

fn mysql(storage: &Storage) -> Result<PooledConn> {
    let pool = Pool::new(storage.mysql_url.as_str())
        .with_context(|| format!("connecting to MySQL at {}", storage.mysql_url))?;
    Ok(pool.get_conn()?)
}

fn redis_db(storage: &Storage, db: i64) -> Result<redis::Connection> {
    let client = redis::Client::open(storage.redis_url.as_str())
        .with_context(|| format!("bad Redis URL {}", storage.redis_url))?;
    let mut conn = client
        .get_connection()
        .with_context(|| format!("connecting to Redis at {}", storage.redis_url))?;
    redis::cmd("SELECT").arg(db).query::<()>(&mut conn)?;
    Ok(conn)
}

fn placeholders(rows: usize, per_row: usize) -> String {
    let row = format!("({})", vec!["?"; per_row].join(","));
    vec![row; rows].join(",")
}

fn id_list(ids: &[u32]) -> String {
    ids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// Creates the users and groups `opts` asks for.
pub fn seed(opts: &SeedOptions) -> Result<SeedReport> {
    let mut db = mysql(&opts.storage)?;
    let now = unix_now();
    let existing: HashSet<String> = db
        .exec(
            "SELECT name FROM IMUser WHERE name LIKE ?",
            (like_users(&opts.prefix),),
        )?
        .into_iter()
        .collect();
    let client_hash = tt_client::crypto::md5_hex(&opts.password);
    let missing: Vec<u32> = (0..opts.users)
        .filter(|i| !existing.contains(&user_name(&opts.prefix, *i)))
        .collect();
    for chunk in missing.chunks(INSERT_CHUNK) {
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 9);
        for &i in chunk {
            let name = user_name(&opts.prefix, i);
            let salt = salt(i);
            let stored = tt_client::crypto::salt_client_hash(&client_hash, &salt);
            values.extend([
                Value::from(name.clone()),
                Value::from(name.clone()),
                Value::from(name),
                Value::from(stored),
                Value::from(salt),
                Value::from(DEPARTMENT),
                Value::from(0u32),
                Value::from(now),
                Value::from(now),
            ]);
        }
        let sql = format!(
            "INSERT INTO IMUser (name, nick, domain, password, salt, departId, status, created, \
             updated) VALUES {}",
            placeholders(chunk.len(), 9)
        );
        db.exec_drop(sql, Params::Positional(values))
            .context("inserting users")?;
    }

    let mut groups = Vec::new();
    if opts.groups > 0 {
        let ids = user_ids(&mut db, &opts.prefix)?;
        let mut members_db = redis_db(&opts.storage, opts.storage.group_member_db)?;
        let mut unread_db = redis_db(&opts.storage, opts.storage.unread_db)?;
        for j in 0..opts.groups {
            let first = j * opts.group_size;
            let members: Vec<u32> = (first..first + opts.group_size)
                .map(|i| {
                    ids.get(&user_name(&opts.prefix, i))
                        .copied()
                        .with_context(|| format!("user {} missing", user_name(&opts.prefix, i)))
                })
                .collect::<Result<_>>()?;
            let name = group_name(&opts.prefix, j);
            let id = write_group(&mut db, &name, &members, now)?;
            let key = format!("group_member_{id}");
            let mut pipe = redis::pipe();
            pipe.cmd("DEL").arg(&key).ignore();
            for chunk in members.chunks(ID_CHUNK) {
                let mut cmd = redis::cmd("HSET");
                cmd.arg(&key);
                for m in chunk {
                    cmd.arg(m).arg(now);
                }
                pipe.add_command(cmd).ignore();
            }
            pipe.query::<()>(&mut members_db)
                .context("writing group members to Redis")?;
            redis::cmd("SETNX")
                .arg(format!("group_msg_id_{id}"))
                .arg(0)
                .query::<()>(&mut unread_db)?;
            groups.push(SeededGroup {
                id,
                name,
                first_member: first,
                members: opts.group_size,
            });
        }
    }
    Ok(SeedReport {
        prefix: opts.prefix.clone(),
        users: opts.users,
        inserted: missing.len() as u32,
        groups,
    })
}

/// Login name → user id of every user of `prefix`.
fn user_ids(db: &mut PooledConn, prefix: &str) -> Result<HashMap<String, u32>> {
    let rows: Vec<(u32, String)> = db.exec(
        "SELECT id, name FROM IMUser WHERE name LIKE ? ORDER BY id",
        (like_users(prefix),),
    )?;
    Ok(rows.into_iter().map(|(id, name)| (name, id)).collect())
}

/// Creates or reuses group `name` and makes `members` its exact member rows; returns its id.
fn write_group(db: &mut PooledConn, name: &str, members: &[u32], now: u32) -> Result<u32> {
    let Some(&creator) = members.first() else {
        bail!("group {name} has no members");
    };
    let existing: Option<u32> = db.exec_first(
        "SELECT id FROM IMGroup WHERE name = ? ORDER BY id DESC LIMIT 1",
        (name,),
    )?;
    let id = match existing {
        Some(id) => {
            db.exec_drop(
                "UPDATE IMGroup SET userCnt = ?, status = 0, updated = ? WHERE id = ?",
                (members.len() as u32, now, id),
            )?;
            id
        }
        None => {
            db.exec_drop(
                "INSERT INTO IMGroup (name, avatar, creator, type, userCnt, status, version, \
                 lastChated, updated, created) VALUES (?, '', ?, 1, ?, 0, 1, 0, ?, ?)",
                (name, creator, members.len() as u32, now, now),
            )?;
            u32::try_from(db.last_insert_id()).context("group id out of range")?
        }
    };
    db.exec_drop("DELETE FROM IMGroupMember WHERE groupId = ?", (id,))?;
    for chunk in members.chunks(INSERT_CHUNK) {
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|m| [id, *m, now, now].map(Value::from))
            .collect();
        db.exec_drop(
            format!(
                "INSERT INTO IMGroupMember (groupId, userId, status, created, updated) VALUES {}",
                placeholders(chunk.len(), 4).replace("(?,?,?,?)", "(?,?,0,?,?)")
            ),
            Params::Positional(values),
        )
        .context("inserting group members")?;
    }
    Ok(id)
}

/// Deletes the users and groups of `opts.prefix` and what the servers stored for them.
pub fn clean(opts: &CleanOptions) -> Result<CleanReport> {
    let mut db = mysql(&opts.storage)?;
    let users: Vec<u32> = db.exec(
        "SELECT id FROM IMUser WHERE name LIKE ?",
        (like_users(&opts.prefix),),
    )?;
    let groups: Vec<u32> = db.exec(
        "SELECT id FROM IMGroup WHERE name LIKE ?",
        (like_groups(&opts.prefix),),
    )?;
    let mut report = CleanReport::default();
    let mut unread_keys = Vec::new();
    let mut member_keys = Vec::new();

    for chunk in groups.chunks(ID_CHUNK) {
        let list = id_list(chunk);
        for shard in 0..SHARDS {
            db.query_drop(format!(
                "DELETE FROM IMGroupMessage_{shard} WHERE groupId IN ({list})"
            ))?;
            report.messages += db.affected_rows();
        }
        db.query_drop(format!(
            "DELETE FROM IMGroupMember WHERE groupId IN ({list})"
        ))?;
        db.query_drop(format!("DELETE FROM IMGroup WHERE id IN ({list})"))?;
        report.groups += db.affected_rows();
        for g in chunk {
            member_keys.push(format!("group_member_{g}"));
            unread_keys.push(format!("group_msg_id_{g}"));
            unread_keys.push(format!("{g}_im_group_msg"));
            for u in &users {
                unread_keys.push(format!("{u}_{g}_im_user_group"));
            }
        }
    }
    for chunk in users.chunks(ID_CHUNK) {
        let list = id_list(chunk);
        let relations: Vec<u32> = db.query(format!(
            "SELECT id FROM IMRelationShip WHERE smallId IN ({list}) OR bigId IN ({list})"
        ))?;
        for rel in relations.chunks(ID_CHUNK) {
            let rel_list = id_list(rel);
            for shard in 0..SHARDS {
                db.query_drop(format!(
                    "DELETE FROM IMMessage_{shard} WHERE relateId IN ({rel_list})"
                ))?;
                report.messages += db.affected_rows();
            }
            db.query_drop(format!(
                "DELETE FROM IMRelationShip WHERE id IN ({rel_list})"
            ))?;
            unread_keys.extend(rel.iter().map(|r| format!("msg_id_{r}")));
        }
        db.query_drop(format!(
            "DELETE FROM IMRecentSession WHERE userId IN ({list})"
        ))?;
        db.query_drop(format!(
            "DELETE FROM IMGroupMember WHERE userId IN ({list})"
        ))?;
        db.query_drop(format!("DELETE FROM IMAudio WHERE fromId IN ({list})"))?;
        db.query_drop(format!("DELETE FROM IMUser WHERE id IN ({list})"))?;
        report.users += db.affected_rows();
        unread_keys.extend(chunk.iter().map(|u| format!("unread_{u}")));
    }
    delete_keys(&opts.storage, opts.storage.unread_db, &unread_keys)?;
    delete_keys(&opts.storage, opts.storage.group_member_db, &member_keys)?;
    Ok(report)
}

fn delete_keys(storage: &Storage, db: i64, keys: &[String]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut conn = redis_db(storage, db)?;
    for chunk in keys.chunks(ID_CHUNK) {
        redis::cmd("DEL").arg(chunk).query::<()>(&mut conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_are_short_decimal_strings() {
        for i in [0, 1, 2, 1263, 19_999, u32::MAX] {
            let s = salt(i);
            assert!(s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit()), "{s}");
        }
        assert_ne!(salt(1), salt(2));
    }

    #[test]
    fn stored_password_follows_the_original_rule() {
        // PROTOCOL §7.1 test vector: test123 with salt 1234.
        let stored =
            tt_client::crypto::salt_client_hash(&tt_client::crypto::md5_hex("test123"), "1234");
        assert_eq!(stored, "4e66e8c029d64e67f7aadf045ca45851");
    }

    #[test]
    fn like_patterns_escape_the_separator() {
        assert_eq!(like_users("load"), "load\\_%");
        assert_eq!(like_groups("load"), "load\\_g%");
        assert_eq!(group_name("load", 3), "load_g3");
    }

    #[test]
    fn multi_row_placeholders() {
        assert_eq!(placeholders(2, 3), "(?,?,?),(?,?,?)");
        assert_eq!(id_list(&[1, 2, 3]), "1,2,3");
    }
}
