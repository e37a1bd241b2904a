//! Reading rows that other tools also write. The original schema leaves some columns nullable
//! (`IMUser.status`, `IMUser.avatar`) and the original's PHP admin or a hand-written `UPDATE`
//! can leave values the typed tuple reads of the `mysql` crate would panic on, so every
//! multi-column read here goes through a total [`FromRow`] built on [`col`].

use mysql::Row;
use mysql::prelude::FromValue;

/// Column `i` of `row`, or the type's default when it is NULL, missing or of another type.
pub(crate) fn col<T: FromValue + Default>(row: &Row, i: usize) -> T {
    row.get_opt(i).and_then(Result::ok).unwrap_or_default()
}

/// Column `i` of `row`, `None` when it is NULL or unreadable (where NULL means something).
pub(crate) fn nullable<T: FromValue>(row: &Row, i: usize) -> Option<T> {
    row.get_opt::<Option<T>, _>(i)
        .and_then(Result::ok)
        .flatten()
}
