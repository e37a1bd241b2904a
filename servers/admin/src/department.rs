//! Departments (`IMDepart`): a tree by `parentId` (0 is the root). Every change bumps `updated`,
//! which is what clients' incremental department sync looks at (BEHAVIOUR §3).

use mysql::prelude::{FromRow, Queryable};
use mysql::{Conn, FromRowError, Row, TxOpts};

use crate::audit;
use crate::error::{AdminError, Result, check_text};
use crate::row::col;

/// Longest department name the schema holds.
pub const MAX_NAME: usize = 64;

/// One department.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Its parent's id, 0 at the top.
    pub parent: u32,
}

/// From `id, departName, parentId`.
impl FromRow for Department {
    fn from_row_opt(row: Row) -> std::result::Result<Self, FromRowError> {
        Ok(Self {
            id: col(&row, 0),
            name: col(&row, 1),
            parent: col(&row, 2),
        })
    }
}

/// Every department, by id.
pub fn list(conn: &mut Conn) -> Result<Vec<Department>> {
    Ok(conn.query("SELECT id, departName, parentId FROM IMDepart WHERE status = 0 ORDER BY id")?)
}

/// The department named `name`.
pub fn find(conn: &mut impl Queryable, name: &str) -> Result<Department> {
    let row: Option<Department> = conn.exec_first(
        "SELECT id, departName, parentId FROM IMDepart WHERE departName = ? AND status = 0 \
         ORDER BY id LIMIT 1",
        (name,),
    )?;
    row.ok_or_else(|| AdminError::NotFound(format!("department {name:?}")))
}

/// Creates department `name` under `parent` (0: at the top); names are unique.
pub fn add(conn: &mut Conn, actor: &str, name: &str, parent: u32) -> Result<u32> {
    check_text("department name", name, MAX_NAME)?;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    refuse_taken(&mut tx, name)?;
    if parent != 0 {
        require(&mut tx, parent)?;
    }
    tx.exec_drop(
        "INSERT INTO IMDepart (departName, priority, parentId, status, created, updated) \
         VALUES (?, 0, ?, 0, UNIX_TIMESTAMP(), UNIX_TIMESTAMP())",
        (name, parent),
    )?;
    let id = last_id(&tx)?;
    audit::record(
        &mut tx,
        actor,
        "department.add",
        &format!("department {id} {name}"),
        &format!("parent {parent}"),
    )?;
    tx.commit()?;
    Ok(id)
}

/// Renames department `id`.
pub fn rename(conn: &mut Conn, actor: &str, id: u32, name: &str) -> Result<()> {
    check_text("department name", name, MAX_NAME)?;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let old = require(&mut tx, id)?;
    if old.name != name {
        refuse_taken(&mut tx, name)?;
    }
    tx.exec_drop(
        "UPDATE IMDepart SET departName = ?, updated = UNIX_TIMESTAMP() WHERE id = ?",
        (name, id),
    )?;
    audit::record(
        &mut tx,
        actor,
        "department.rename",
        &format!("department {id} {name}"),
        &format!("was {}", old.name),
    )?;
    tx.commit()?;
    Ok(())
}

/// Moves department `id` under `parent` (0: to the top); never under itself or its own
/// descendants.
pub fn move_to(conn: &mut Conn, actor: &str, id: u32, parent: u32) -> Result<()> {
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let dept = require(&mut tx, id)?;
    // Walk up from the new parent: meeting `id` means a cycle.
    let mut at = parent;
    while at != 0 {
        if at == id {
            return Err(AdminError::Refused(format!(
                "department {id} cannot move under itself or its own sub-department"
            )));
        }
        at = require(&mut tx, at)?.parent;
    }
    tx.exec_drop(
        "UPDATE IMDepart SET parentId = ?, updated = UNIX_TIMESTAMP() WHERE id = ?",
        (parent, id),
    )?;
    audit::record(
        &mut tx,
        actor,
        "department.move",
        &format!("department {id} {}", dept.name),
        &format!("parent {} -> {parent}", dept.parent),
    )?;
    tx.commit()?;
    Ok(())
}

/// Deletes department `id`, which must have no users and no sub-departments.
pub fn delete(conn: &mut Conn, actor: &str, id: u32) -> Result<()> {
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let dept = require(&mut tx, id)?;
    let users: Option<u64> =
        tx.exec_first("SELECT COUNT(*) FROM IMUser WHERE departId = ?", (id,))?;
    let children: Option<u64> = tx.exec_first(
        "SELECT COUNT(*) FROM IMDepart WHERE parentId = ? AND status = 0",
        (id,),
    )?;
    let (users, children) = (users.unwrap_or(0), children.unwrap_or(0));
    if users + children > 0 {
        return Err(AdminError::Refused(format!(
            "department {id} is not empty ({users} users, {children} sub-departments)"
        )));
    }
    tx.exec_drop("DELETE FROM IMDepart WHERE id = ?", (id,))?;
    audit::record(
        &mut tx,
        actor,
        "department.delete",
        &format!("department {id} {}", dept.name),
        "",
    )?;
    tx.commit()?;
    Ok(())
}

/// Department `id`, or NotFound.
pub(crate) fn require(conn: &mut impl Queryable, id: u32) -> Result<Department> {
    let row: Option<Department> = conn.exec_first(
        "SELECT id, departName, parentId FROM IMDepart WHERE id = ? AND status = 0",
        (id,),
    )?;
    row.ok_or_else(|| AdminError::NotFound(format!("department {id}")))
}

fn refuse_taken(conn: &mut impl Queryable, name: &str) -> Result<()> {
    let taken: Option<u32> = conn.exec_first(
        "SELECT id FROM IMDepart WHERE departName = ? AND status = 0 LIMIT 1",
        (name,),
    )?;
    match taken {
        Some(id) => Err(AdminError::Exists(format!("department {name:?} (id {id})"))),
        None => Ok(()),
    }
}

/// The id the last INSERT of `tx` created.
pub(crate) fn last_id(tx: &mysql::Transaction<'_>) -> Result<u32> {
    tx.last_insert_id()
        .and_then(|id| u32::try_from(id).ok())
        .ok_or(AdminError::NoInsertId)
}
