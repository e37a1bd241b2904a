//! Users (`IMUser`), stored as the original's PHP admin stores them, so db_proxy (ours or the
//! original) logs them in: `password = md5(md5(plain) ‖ salt)` with a fresh 4-digit salt
//! (PROTOCOL §7.1). A login only finds `status = 0`; a disabled user has `status = 3` (the
//! original's "left the company"), so it is refused at its next login.

use mysql::prelude::{FromRow, Queryable};
use mysql::{Conn, FromRowError, Row, TxOpts};
use teamtalk_proto::crypto::salted_password;

use crate::audit;
use crate::department;
use crate::error::{AdminError, Result, check_optional, check_text};
use crate::row::{col, nullable};

/// Longest user name, nick and password hash input the schema and the login path take.
pub const MAX_NAME: usize = 32;
/// Longest password accepted (any length hashes to 32 characters; this bounds the input).
pub const MAX_PASSWORD: usize = 128;
/// Longest e-mail address the schema holds.
pub const MAX_EMAIL: usize = 64;
/// Longest phone number the schema holds.
pub const MAX_PHONE: usize = 11;
/// `IMUser.status` of a user who may log in.
pub const ENABLED: u32 = 0;
/// `IMUser.status` of a disabled user.
pub const DISABLED: u32 = 3;

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewUser {
    /// Login name (unique).
    pub name: String,
    /// Display name; the login name when empty.
    pub nick: String,
    /// Plain password (only its salted hash is stored).
    pub password: String,
    /// Department id.
    pub depart: u32,
    /// 0 unknown, 1 male, 2 female (the original's values).
    pub sex: u32,
    /// E-mail address, may be empty.
    pub email: String,
    /// Phone number, may be empty.
    pub phone: String,
}

impl NewUser {
    /// Checks every field against the schema before anything is written.
    pub fn check(&self) -> Result<()> {
        check_text("user name", &self.name, MAX_NAME)?;
        check_optional("nick", &self.nick, MAX_NAME)?;
        check_password(&self.password)?;
        check_optional("email", &self.email, MAX_EMAIL)?;
        check_optional("phone", &self.phone, MAX_PHONE)?;
        if !self.phone.chars().all(|c| c.is_ascii_digit()) {
            return Err(AdminError::Invalid {
                field: "phone",
                why: "digits only".into(),
            });
        }
        if self.sex > 2 {
            return Err(AdminError::Invalid {
                field: "sex",
                why: "0 (unknown), 1 (male) or 2 (female)".into(),
            });
        }
        Ok(())
    }
}

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Its id.
    pub id: u32,
    /// Login name.
    pub name: String,
    /// Display name.
    pub nick: String,
    /// Department id.
    pub depart: u32,
    /// Whether it may log in.
    pub enabled: bool,
}

/// From `id, name, nick, departId, status`.
impl FromRow for User {
    fn from_row_opt(row: Row) -> std::result::Result<Self, FromRowError> {
        Ok(user_from(&row))
    }
}

/// The user in the first five columns (`id, name, nick, departId, status`). A NULL status
/// (the original schema allows it) does not match db_proxy's `status = 0` login query, so
/// it shows as disabled.
fn user_from(row: &Row) -> User {
    User {
        id: col(row, 0),
        name: col(row, 1),
        nick: col(row, 2),
        depart: col(row, 3),
        enabled: nullable::<u32>(row, 4) == Some(ENABLED),
    }
}

/// The editable part of a user's profile.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Profile {
    /// Display name (not empty).
    pub nick: String,
    /// Department id.
    pub depart: u32,
    /// 0 unknown, 1 male, 2 female.
    pub sex: u32,
    /// E-mail address, may be empty.
    pub email: String,
    /// Phone number (digits), may be empty.
    pub phone: String,
}

impl Profile {
    /// Checks every field against the schema before anything is written.
    pub fn check(&self) -> Result<()> {
        check_text("nick", &self.nick, MAX_NAME)?;
        check_optional("email", &self.email, MAX_EMAIL)?;
        check_optional("phone", &self.phone, MAX_PHONE)?;
        if !self.phone.chars().all(|c| c.is_ascii_digit()) {
            return Err(AdminError::Invalid {
                field: "phone",
                why: "digits only".into(),
            });
        }
        if self.sex > 2 {
            return Err(AdminError::Invalid {
                field: "sex",
                why: "0 (unknown), 1 (male) or 2 (female)".into(),
            });
        }
        Ok(())
    }
}

/// User `name` as listed, with its profile.
pub fn find(conn: &mut impl Queryable, name: &str) -> Result<(User, Profile)> {
    let row: Option<Row> = conn.exec_first(
        "SELECT id, name, nick, departId, status, sex, email, phone FROM IMUser \
         WHERE name = ? LIMIT 1",
        (name,),
    )?;
    let row = row.ok_or_else(|| AdminError::NotFound(format!("user {name:?}")))?;
    let user = user_from(&row);
    let profile = Profile {
        nick: user.nick.clone(),
        depart: user.depart,
        sex: col(&row, 5),
        email: col(&row, 6),
        phone: col(&row, 7),
    };
    Ok((user, profile))
}

/// Replaces user `name`'s profile; `updated` is bumped so clients' incremental user sync
/// (BEHAVIOUR §8.11) picks the change up.
pub fn set_profile(conn: &mut Conn, actor: &str, name: &str, profile: &Profile) -> Result<()> {
    profile.check()?;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    department::require(&mut tx, profile.depart)?;
    let id: u32 = tx
        .exec_first("SELECT id FROM IMUser WHERE name = ? LIMIT 1", (name,))?
        .ok_or_else(|| AdminError::NotFound(format!("user {name:?}")))?;
    tx.exec_drop(
        "UPDATE IMUser SET nick = ?, departId = ?, sex = ?, email = ?, phone = ?, \
         updated = UNIX_TIMESTAMP() WHERE id = ?",
        (
            &profile.nick,
            profile.depart,
            profile.sex,
            &profile.email,
            &profile.phone,
            id,
        ),
    )?;
    audit::record(
        &mut tx,
        actor,
        "user.profile",
        &format!("user {id} {name}"),
        &format!("department {}", profile.depart),
    )?;
    tx.commit()?;
    Ok(())
}

/// Creates `user`; returns its id.
pub fn add(conn: &mut Conn, actor: &str, user: &NewUser) -> Result<u32> {
    user.check()?;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let id = insert(&mut tx, user)?;
    audit::record(
        &mut tx,
        actor,
        "user.add",
        &format!("user {id} {}", user.name),
        &format!("department {}", user.depart),
    )?;
    tx.commit()?;
    Ok(id)
}

/// Inserts `user` (checked) in `tx`: the department must exist and the name be free.
pub(crate) fn insert(tx: &mut mysql::Transaction<'_>, user: &NewUser) -> Result<u32> {
    department::require(tx, user.depart)?;
    let taken: Option<u32> = tx.exec_first(
        "SELECT id FROM IMUser WHERE name = ? LIMIT 1",
        (&user.name,),
    )?;
    if let Some(id) = taken {
        return Err(AdminError::Exists(format!(
            "user {:?} (id {id})",
            user.name
        )));
    }
    let salt = fresh_salt();
    let nick = if user.nick.is_empty() {
        &user.name
    } else {
        &user.nick
    };
    tx.exec_drop(
        "INSERT INTO IMUser (sex, name, domain, nick, password, salt, phone, email, avatar, \
         departId, status, created, updated, push_shield_status, sign_info) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP(), 0, '')",
        (
            user.sex,
            &user.name,
            &user.name,
            nick,
            salted_password(&user.password, &salt),
            &salt,
            &user.phone,
            &user.email,
            user.depart,
        ),
    )?;
    department::last_id(tx)
}

/// Users whose name or nick contains `search` (all when empty), by id, at most `limit`.
pub fn list(conn: &mut Conn, search: &str, limit: u32) -> Result<Vec<User>> {
    let pattern = format!("%{}%", escape_like(search));
    Ok(conn.exec(
        "SELECT id, name, nick, departId, status FROM IMUser \
         WHERE name LIKE ? OR nick LIKE ? ORDER BY id LIMIT ?",
        (&pattern, &pattern, limit),
    )?)
}

/// The users among `ids` that exist, by id (a group's member list shown with names).
pub fn by_ids(conn: &mut impl Queryable, ids: &[u32]) -> Result<Vec<User>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Only `?` placeholders are spliced in; the ids are bound.
    let marks = vec!["?"; ids.len()].join(", ");
    Ok(conn.exec(
        format!(
            "SELECT id, name, nick, departId, status FROM IMUser WHERE id IN ({marks}) ORDER BY id"
        ),
        ids.to_vec(),
    )?)
}

/// Sets a new password (and a new salt) for user `name`.
pub fn set_password(conn: &mut Conn, actor: &str, name: &str, password: &str) -> Result<()> {
    check_password(password)?;
    let salt = fresh_salt();
    change(
        conn,
        actor,
        name,
        "user.password",
        "UPDATE IMUser SET password = ?, salt = ?, updated = UNIX_TIMESTAMP() WHERE id = ?",
        |id| (salted_password(password, &salt), salt.clone(), id).into(),
    )
}

/// Enables (`true`) or disables user `name`. A disabled user is refused at its next login;
/// a connection already open stays until it ends.
pub fn set_enabled(conn: &mut Conn, actor: &str, name: &str, enabled: bool) -> Result<()> {
    let status = if enabled { ENABLED } else { DISABLED };
    let action = if enabled {
        "user.enable"
    } else {
        "user.disable"
    };
    change(
        conn,
        actor,
        name,
        action,
        "UPDATE IMUser SET status = ?, updated = UNIX_TIMESTAMP() WHERE id = ?",
        |id| (status, id).into(),
    )
}

/// Runs `sql` with `params(id)` on user `name` in a transaction with its audit entry.
fn change(
    conn: &mut Conn,
    actor: &str,
    name: &str,
    action: &str,
    sql: &str,
    params: impl FnOnce(u32) -> mysql::Params,
) -> Result<()> {
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let id: u32 = tx
        .exec_first("SELECT id FROM IMUser WHERE name = ? LIMIT 1", (name,))?
        .ok_or_else(|| AdminError::NotFound(format!("user {name:?}")))?;
    tx.exec_drop(sql, params(id))?;
    audit::record(&mut tx, actor, action, &format!("user {id} {name}"), "")?;
    tx.commit()?;
    Ok(())
}

fn check_password(password: &str) -> Result<()> {
    if password.is_empty() || password.chars().count() > MAX_PASSWORD {
        return Err(AdminError::Invalid {
            field: "password",
            why: format!("1 to {MAX_PASSWORD} characters"),
        });
    }
    Ok(())
}

/// A 4-digit decimal salt, as the original admin makes them.
fn fresh_salt() -> String {
    format!("{:04}", rand::random::<u16>() % 10_000)
}

/// `text` with LIKE's wildcards and escape character taken literally.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salts_are_four_digits_and_like_wildcards_are_literal() {
        for _ in 0..100 {
            let salt = fresh_salt();
            assert!(salt.len() == 4 && salt.chars().all(|c| c.is_ascii_digit()));
        }
        assert_eq!(escape_like("a%b_c\\d"), "a\\%b\\_c\\\\d");
    }

    #[test]
    fn new_users_are_checked_field_by_field() {
        let ok = NewUser {
            name: "ann".into(),
            password: "pw".into(),
            depart: 1,
            ..NewUser::default()
        };
        assert!(ok.check().is_ok());
        for bad in [
            NewUser {
                name: String::new(),
                ..ok.clone()
            },
            NewUser {
                name: "x".repeat(33),
                ..ok.clone()
            },
            NewUser {
                name: "a\nb".into(),
                ..ok.clone()
            },
            NewUser {
                password: String::new(),
                ..ok.clone()
            },
            NewUser {
                phone: "12ab".into(),
                ..ok.clone()
            },
            NewUser {
                sex: 3,
                ..ok.clone()
            },
        ] {
            assert!(
                matches!(bad.check(), Err(AdminError::Invalid { .. })),
                "{bad:?}"
            );
        }
    }
}
