//! `IMUser`: login lookup, user info, incremental user sync, sign info, push shield and
//! registration (STORAGE §2 "Users").

use mysql::prelude::Queryable;
use mysql::{Row, Value};
use teamtalk_proto::pb::base_define::UserInfo;

use super::{IN_CHUNK, col, exec_write, params_with, placeholders};

/// Columns read into [`UserInfo`], in the order [`user_from_row`] expects.
const USER_COLS: &str =
    "id, sex, nick, avatar, departId, email, name, phone, domain, status, sign_info";

/// Maps a row selected with [`USER_COLS`] (from column `at` on) to the wire structure.
fn user_from_row(row: &Row, at: usize) -> UserInfo {
    UserInfo {
        user_id: col(row, at),
        user_gender: col(row, at + 1),
        user_nick_name: col(row, at + 2),
        avatar_url: col(row, at + 3),
        department_id: col(row, at + 4),
        email: col(row, at + 5),
        user_real_name: col(row, at + 6),
        user_tel: col(row, at + 7),
        user_domain: col(row, at + 8),
        status: col(row, at + 9),
        sign_info: Some(col(row, at + 10)),
    }
}

/// The account a login names: user info, stored password hash and salt. Only `status = 0`
/// users qualify; when several rows match, the last one wins as in the original.
pub fn login_row(
    q: &mut impl Queryable,
    name: &str,
) -> mysql::Result<Option<(UserInfo, String, String)>> {
    let sql = format!(
        "SELECT password, salt, {USER_COLS} FROM IMUser WHERE name = ? AND status = 0 ORDER BY id"
    );
    let rows: Vec<Row> = q.exec(sql, (name,))?;
    Ok(rows
        .last()
        .map(|row| (user_from_row(row, 2), col(row, 0), col(row, 1))))
}

/// Users by id (any status), in chunks; the answer carries each found row once.
pub fn users_by_ids(q: &mut impl Queryable, ids: &[u32]) -> mysql::Result<Vec<UserInfo>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT {USER_COLS} FROM IMUser WHERE id IN ({})",
            placeholders(chunk.len())
        );
        let rows: Vec<Row> = q.exec(sql, params_with(&[], chunk))?;
        out.extend(rows.iter().map(|r| user_from_row(r, 0)));
    }
    Ok(out)
}

/// Which of `ids` have an `IMUser` row (any status).
pub fn existing(q: &mut impl Queryable, ids: &[u32]) -> mysql::Result<Vec<u32>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IN_CHUNK) {
        let sql = format!(
            "SELECT id FROM IMUser WHERE id IN ({})",
            placeholders(chunk.len())
        );
        let rows: Vec<Row> = q.exec(sql, params_with(&[], chunk))?;
        out.extend(rows.iter().map(|r| col::<u32>(r, 0)));
    }
    Ok(out)
}

/// Users changed since `since` (all but resigned users when `since` is 0), each with its
/// `updated` value, by id (Q-USER-CHANGED).
pub fn changed_users(q: &mut impl Queryable, since: u32) -> mysql::Result<Vec<(u32, UserInfo)>> {
    let rows: Vec<Row> = if since == 0 {
        q.exec(
            format!("SELECT updated, {USER_COLS} FROM IMUser WHERE status != 3 ORDER BY id"),
            (),
        )?
    } else {
        q.exec(
            format!("SELECT updated, {USER_COLS} FROM IMUser WHERE updated >= ? ORDER BY id"),
            (since,),
        )?
    };
    Ok(rows
        .iter()
        .map(|r| (col::<u32>(r, 0), user_from_row(r, 1)))
        .collect())
}

/// Sets a user's signature; `true` when the user exists (Q-USER-SIGN-SET).
pub fn set_sign_info(
    q: &mut impl Queryable,
    user_id: u32,
    sign: &str,
    now: u32,
) -> mysql::Result<bool> {
    let (n, _) = exec_write(
        q,
        "UPDATE IMUser SET sign_info = ?, updated = ? WHERE id = ?",
        (sign, now, user_id),
    )?;
    Ok(n > 0)
}

/// Sets a user's push shield; `true` when the user exists (Q-USER-SHIELD-SET).
pub fn set_push_shield(
    q: &mut impl Queryable,
    user_id: u32,
    status: u32,
    now: u32,
) -> mysql::Result<bool> {
    let (n, _) = exec_write(
        q,
        "UPDATE IMUser SET push_shield_status = ?, updated = ? WHERE id = ?",
        (status, now, user_id),
    )?;
    Ok(n > 0)
}

/// A user's push shield, if the user exists (Q-USER-SHIELD-GET).
pub fn push_shield(q: &mut impl Queryable, user_id: u32) -> mysql::Result<Option<u32>> {
    let row: Option<Row> = q.exec_first(
        "SELECT push_shield_status FROM IMUser WHERE id = ?",
        (user_id,),
    )?;
    Ok(row.map(|r| col(&r, 0)))
}

/// A new account as registration creates it.
#[derive(Debug, Clone, Default)]
pub struct NewUser<'a> {
    /// Login name.
    pub name: &'a str,
    /// Stored hash: md5hex(client hash ‖ salt).
    pub password: &'a str,
    /// Salt (decimal, up to 4 characters).
    pub salt: &'a str,
    /// 0 unknown, 1 male, 2 female.
    pub sex: u32,
    /// Nick name.
    pub nick: &'a str,
    /// Avatar URL.
    pub avatar: &'a str,
    /// Phone number.
    pub phone: &'a str,
    /// E-mail address.
    pub email: &'a str,
}

/// Inserts `user` unless an account with that name exists; returns the new id, or `None` for
/// a duplicate name. Callers serialise registrations (the table has no unique index).
pub fn register(
    q: &mut impl Queryable,
    user: &NewUser<'_>,
    now: u32,
) -> mysql::Result<Option<u32>> {
    let (n, id) = exec_write(
        q,
        "INSERT INTO IMUser (name, password, salt, sex, nick, domain, avatar, phone, email, \
         departId, status, created, updated, push_shield_status, sign_info) \
         SELECT ?, ?, ?, ?, ?, '', ?, ?, ?, 0, 0, ?, ?, 0, '' FROM DUAL \
         WHERE NOT EXISTS (SELECT 1 FROM IMUser WHERE name = ?)",
        vec![
            Value::from(user.name),
            Value::from(user.password),
            Value::from(user.salt),
            Value::from(user.sex),
            Value::from(user.nick),
            Value::from(user.avatar),
            Value::from(user.phone),
            Value::from(user.email),
            Value::from(now),
            Value::from(now),
            Value::from(user.name),
        ],
    )?;
    if n == 0 {
        return Ok(None);
    }
    Ok(u32::try_from(id).ok())
}
