//! Administrator accounts (`IMAdminAccount`, a teamtalk-rs table beside the original PHP
//! admin's `IMAdmin`): a unique name and an argon2id PHC string, never the password itself.
//!
//! Checking a password costs the same whether the name exists or not (an unknown name is
//! checked against a fixed hash), so the time of a refusal does not tell which names exist.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use mysql::prelude::Queryable;
use thiserror::Error;

/// Longest administrator name (the column's size).
pub const MAX_NAME: usize = 64;
/// Characters of a generated password (base64 of 18 random bytes: 144 bits).
const GENERATED_BYTES: usize = 18;

/// Why an account operation failed.
#[derive(Debug, Error)]
pub enum AccountError {
    /// The name is empty, too long or has characters other than letters, digits, `.`, `-`, `_`.
    #[error("invalid administrator name: {0}")]
    InvalidName(&'static str),
    /// An administrator of that name exists.
    #[error("administrator {0:?} already exists")]
    Exists(String),
    /// MySQL failed.
    #[error("database: {0}")]
    Db(#[from] mysql::Error),
    /// The password could not be hashed (argon2 refused its parameters).
    #[error("password hashing: {0}")]
    Hash(String),
}

/// Creates administrator `name` with a generated password, which is returned (and stored only
/// as its hash): the caller shows it once.
pub fn create(conn: &mut impl Queryable, name: &str) -> Result<String, AccountError> {
    check_name(name)?;
    let taken: Option<u32> =
        conn.exec_first("SELECT id FROM IMAdminAccount WHERE name = ?", (name,))?;
    if taken.is_some() {
        return Err(AccountError::Exists(name.to_owned()));
    }
    let password = generate_password();
    let hash = hash(&password)?;
    // The unique key settles a race with another creator of the same name.
    match conn.exec_drop(
        "INSERT INTO IMAdminAccount (name, password, created, lastLogin) \
         VALUES (?, ?, UNIX_TIMESTAMP(), 0)",
        (name, hash),
    ) {
        Ok(()) => Ok(password),
        Err(mysql::Error::MySqlError(e)) if e.code == ER_DUP_ENTRY => {
            Err(AccountError::Exists(name.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// MySQL's duplicate-key error.
const ER_DUP_ENTRY: u16 = 1062;

/// Whether `password` is administrator `name`'s; a successful check records the login time.
pub fn verify(conn: &mut impl Queryable, name: &str, password: &str) -> Result<bool, AccountError> {
    let stored: Option<(u32, String)> = conn.exec_first(
        "SELECT id, password FROM IMAdminAccount WHERE name = ?",
        (name,),
    )?;
    let Some((id, stored)) = stored else {
        // Same work as for a real account.
        let _ = matches(dummy_hash(), password);
        return Ok(false);
    };
    if !matches(&stored, password) {
        return Ok(false);
    }
    conn.exec_drop(
        "UPDATE IMAdminAccount SET lastLogin = UNIX_TIMESTAMP() WHERE id = ?",
        (id,),
    )?;
    Ok(true)
}

/// Number of administrator accounts.
pub fn count(conn: &mut impl Queryable) -> Result<u64, AccountError> {
    Ok(conn
        .query_first("SELECT COUNT(*) FROM IMAdminAccount")?
        .unwrap_or_default())
}

fn check_name(name: &str) -> Result<(), AccountError> {
    if name.is_empty() {
        Err(AccountError::InvalidName("empty"))
    } else if name.len() > MAX_NAME {
        Err(AccountError::InvalidName("longer than 64 characters"))
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        Err(AccountError::InvalidName(
            "letters, digits, '.', '-' and '_' only",
        ))
    } else {
        Ok(())
    }
}

fn generate_password() -> String {
    let bytes: [u8; GENERATED_BYTES] = rand::random();
    // URL-safe base64 without padding: no characters a shell or a form would mangle.
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(GENERATED_BYTES * 4 / 3);
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The argon2id PHC string of `password` with a fresh 16-byte salt.
fn hash(password: &str) -> Result<String, AccountError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| AccountError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (a malformed one matches nothing).
fn matches(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to check unknown names against.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash("no such administrator").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(matches(&stored, "correct horse"));
        assert!(!matches(&stored, "correct hors"));
        assert!(!matches("not a phc string", "correct horse"));
        // A fresh salt each time.
        assert_ne!(stored, hash("correct horse").unwrap());
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let (a, b) = (generate_password(), generate_password());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("root.admin-1_x").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("a'--").is_err());
    }
}
