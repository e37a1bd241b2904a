//! What an administrative operation can fail with. Every check runs before anything is written,
//! and every change runs in one transaction, so a failed operation leaves no partial writes.

use thiserror::Error;

/// An administrative operation's failure.
#[derive(Debug, Error)]
pub enum AdminError {
    /// A value the schema or the protocol cannot hold (empty, too long, bad characters).
    #[error("invalid {field}: {why}")]
    Invalid {
        /// The field, as the command line names it.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A name that must be unique is taken.
    #[error("{0} already exists")]
    Exists(String),
    /// What the operation names does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The operation would break the organisation (a non-empty department deleted, a
    /// department moved under itself).
    #[error("refused: {0}")]
    Refused(String),
    /// A CSV import line that cannot be taken; nothing of the file is written.
    #[error("line {line}: {error}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// Why.
        error: Box<Self>,
    },
    /// MySQL reported no (or an out-of-range) id for a new row.
    #[error("MySQL returned no id for the new row")]
    NoInsertId,
    /// MySQL failed.
    #[error("database: {0}")]
    Db(#[from] mysql::Error),
    /// http_msg_server could not be reached or answered with an error.
    #[error("http_msg_server: {0}")]
    Http(String),
}

/// Result of an administrative operation.
pub type Result<T> = std::result::Result<T, AdminError>;

/// Checks a text field: not empty, at most `max` characters, no control characters.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<()> {
    let why = if value.trim().is_empty() {
        "must not be empty".to_owned()
    } else if value.chars().count() > max {
        format!("longer than {max} characters")
    } else if value.chars().any(char::is_control) {
        "contains control characters".to_owned()
    } else {
        return Ok(());
    };
    Err(AdminError::Invalid { field, why })
}

/// Checks an optional text field: empty is fine, otherwise as [`check_text`].
pub(crate) fn check_optional(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        Ok(())
    } else {
        check_text(field, value, max)
    }
}
