//! Users from CSV: one user a line, `name,password,department[,nick[,email[,phone[,sex]]]]`,
//! the department by name; a first line starting with `name,` is a header and skipped; blank
//! lines and lines starting with `#` are skipped. Fields cannot contain commas (none of the
//! schema's user fields needs one). The whole file is one transaction: every line is checked
//! and inserted, and any bad line aborts the import with nothing written.

use mysql::{Conn, TxOpts};

use crate::audit;
use crate::department;
use crate::error::{AdminError, Result};
use crate::user::{self, NewUser};

/// Imports every user of `csv`; returns their ids, in file order.
pub fn users(conn: &mut Conn, actor: &str, csv: &str) -> Result<Vec<u32>> {
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let mut ids = Vec::new();
    for (i, line) in csv.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || (i == 0 && line.starts_with("name,")) {
            continue;
        }
        let at_line = |error| AdminError::Line {
            line: i + 1,
            error: Box::new(error),
        };
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (user, department) = parse(&fields).map_err(at_line)?;
        let depart = department::find(&mut tx, department).map_err(at_line)?;
        let user = NewUser {
            depart: depart.id,
            ..user
        };
        user.check().map_err(at_line)?;
        let id = user::insert(&mut tx, &user).map_err(at_line)?;
        audit::record(
            &mut tx,
            actor,
            "user.import",
            &format!("user {id} {}", user.name),
            &format!("department {}", depart.id),
        )?;
        ids.push(id);
    }
    tx.commit()?;
    Ok(ids)
}

/// The user of one line's fields (department id still 0) and its department's name.
fn parse<'a>(fields: &[&'a str]) -> Result<(NewUser, &'a str)> {
    if !(3..=7).contains(&fields.len()) {
        return Err(AdminError::Invalid {
            field: "line",
            why: format!(
                "{} fields; expected name,password,department[,nick[,email[,phone[,sex]]]]",
                fields.len()
            ),
        });
    }
    let field = |i: usize| fields.get(i).copied().unwrap_or_default().to_owned();
    let sex = match fields.get(6) {
        None | Some(&"") => 0,
        Some(s) => s.parse().map_err(|_| AdminError::Invalid {
            field: "sex",
            why: format!("{s:?} is not 0, 1 or 2"),
        })?,
    };
    let user = NewUser {
        name: field(0),
        password: field(1),
        nick: field(3),
        email: field(4),
        phone: field(5),
        sex,
        depart: 0,
    };
    Ok((user, fields[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_three_to_seven_fields() {
        let (u, d) = parse(&["ann", "pw", "Sales", "Ann", "a@x.org", "123", "2"]).unwrap();
        assert_eq!(
            (u.name.as_str(), u.nick.as_str(), u.sex, d),
            ("ann", "Ann", 2, "Sales")
        );
        assert!(parse(&["ann", "pw"]).is_err());
        assert!(parse(&["ann", "pw", "Sales", "", "", "", "x"]).is_err());
    }
}
