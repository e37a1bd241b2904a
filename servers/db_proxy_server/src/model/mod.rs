//! Data access, one module per storage concept: SQL statements (all with bound parameters,
//! KNOWN_DEFECTS D-SQL-1..5) and Redis keys (STORAGE §2–§3). Handlers compose these; nothing
//! here knows about PDUs beyond the protobuf structs it fills.

pub mod audio;
pub mod counter;
pub mod file;
pub mod group;
pub mod member;
pub mod message;
pub mod resend;
pub mod session;
pub mod user;

use mysql::prelude::{FromValue, Queryable};
use mysql::{Params, Row, Value};

/// Most ids one `IN (…)` list carries; longer lists are split (D-SQL-5).
pub const IN_CHUNK: usize = 500;

/// Column `i` of `row`, or the type's default for NULL or an unexpected type (D-DB-4).
pub fn col<T: FromValue + Default>(row: &Row, i: usize) -> T {
    row.get_opt(i).and_then(Result::ok).unwrap_or_default()
}

/// `?,?,…` for `n` parameters.
pub fn placeholders(n: usize) -> String {
    let mut s = "?,".repeat(n);
    s.pop();
    s
}

/// Positional parameters: `head` values followed by every id of `ids`.
pub fn params_with(head: &[Value], ids: &[u32]) -> Params {
    let mut v: Vec<Value> = head.to_vec();
    v.extend(ids.iter().map(|&i| Value::from(i)));
    Params::Positional(v)
}

/// Runs a statement that returns no rows; gives the affected (with `CLIENT_FOUND_ROWS`:
/// matched) row count and the insert id.
pub fn exec_write(
    q: &mut impl Queryable,
    sql: &str,
    params: impl Into<Params>,
) -> mysql::Result<(u64, u64)> {
    let result = q.exec_iter(sql, params)?;
    let out = (result.affected_rows(), result.last_insert_id().unwrap_or(0));
    drop(result);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_match_the_count() {
        assert_eq!(placeholders(0), "");
        assert_eq!(placeholders(1), "?");
        assert_eq!(placeholders(3), "?,?,?");
    }
}
