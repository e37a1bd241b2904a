//! Groups, through http_msg_server's admin API (`/query/CreateGroup`, `/query/ChangeMembers`,
//! BEHAVIOUR §9) rather than straight into MySQL: db_proxy then updates the member cache, and
//! the msg_servers notify the members who are online, exactly as for a client's own change.
//! Also here, as the other call to http_msg_server: closing a (disabled) user's connections.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use mysql::prelude::{FromRow, Queryable};
use mysql::{Conn, FromRowError, Row, TxOpts};
use serde_json::{Value, json};

use crate::audit;
use crate::error::{AdminError, Result, check_text};
use crate::row::col;

/// Longest group name the schema holds.
pub const MAX_NAME: usize = 256;
/// The most members one request may name (msg_server and db_proxy's default cap).
pub const MAX_MEMBERS: usize = 500;
/// How long http_msg_server may take (it waits for db_proxy up to its `DBRequestTimeout`).
const TIMEOUT: Duration = Duration::from_secs(15);
/// Largest answer read (they are a few hundred bytes).
const MAX_ANSWER: u64 = 64 * 1024;

/// Where http_msg_server listens and the key it wants (its conf's `AppKey`, empty if none).
#[derive(Debug, Clone)]
pub struct HttpMsgServer {
    /// Address (`host:port`).
    pub addr: String,
    /// The `app_key` sent.
    pub app_key: String,
}

/// The kind of member change (the protocol's `GroupModifyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Add the users.
    Add = 1,
    /// Remove the users.
    Remove = 2,
}

/// A group as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// The user who created it (the owner that member changes are made in the name of).
    pub creator: u32,
    /// 1 normal, 2 temporary (the protocol's `GroupType`).
    pub kind: u32,
    /// Members, as db_proxy last counted them.
    pub members: u32,
}

/// From `id, name, creator, type, userCnt`.
impl FromRow for Group {
    fn from_row_opt(row: Row) -> std::result::Result<Self, FromRowError> {
        Ok(Self {
            id: col(&row, 0),
            name: col(&row, 1),
            creator: col(&row, 2),
            kind: col(&row, 3),
            members: col(&row, 4),
        })
    }
}

/// Groups by id, at most `limit`.
pub fn list(conn: &mut impl Queryable, limit: u32) -> Result<Vec<Group>> {
    Ok(conn.exec(
        "SELECT id, name, creator, type, userCnt FROM IMGroup ORDER BY id LIMIT ?",
        (limit,),
    )?)
}

/// Group `id`.
pub fn find(conn: &mut impl Queryable, id: u32) -> Result<Group> {
    let row: Option<Group> = conn.exec_first(
        "SELECT id, name, creator, type, userCnt FROM IMGroup WHERE id = ?",
        (id,),
    )?;
    row.ok_or_else(|| AdminError::NotFound(format!("group {id}")))
}

/// The user ids of group `id`'s current members, by id. MySQL's copy of the membership,
/// which db_proxy writes in the same request as Redis's.
pub fn members(conn: &mut impl Queryable, id: u32) -> Result<Vec<u32>> {
    Ok(conn.exec(
        "SELECT userId FROM IMGroupMember WHERE groupId = ? AND status = 0 ORDER BY userId",
        (id,),
    )?)
}

/// Renames group `id`. There is no rename in the protocol nor in http_msg_server's API, so it
/// is written here; the group's `version` is bumped, which is what clients compare to decide
/// to fetch a group's info again (BEHAVIOUR §8.18), so they see the new name at their next sync.
pub fn rename(conn: &mut Conn, actor: &str, id: u32, name: &str) -> Result<()> {
    check_text("group name", name, MAX_NAME)?;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    let old: String = tx
        .exec_first("SELECT name FROM IMGroup WHERE id = ? FOR UPDATE", (id,))?
        .ok_or_else(|| AdminError::NotFound(format!("group {id}")))?;
    tx.exec_drop(
        "UPDATE IMGroup SET name = ?, version = version + 1, updated = UNIX_TIMESTAMP() \
         WHERE id = ?",
        (name, id),
    )?;
    audit::record(
        &mut tx,
        actor,
        "group.rename",
        &format!("group {id} {name}"),
        &format!("was {old}"),
    )?;
    tx.commit()?;
    Ok(())
}

impl HttpMsgServer {
    /// Creates a normal (permanent) group named `name` owned by `owner` with `members` (the
    /// owner included); returns its id.
    pub fn create_group(&self, owner: u32, name: &str, members: &[u32]) -> Result<u32> {
        check_text("group name", name, MAX_NAME)?;
        check_members(members)?;
        let answer = self.post(
            "/query/CreateGroup",
            &json!({
                "app_key": self.app_key,
                "req_user_id": owner,
                "group_name": name,
                "group_type": 1,
                "group_avatar": "",
                "user_id_list": members,
            }),
        )?;
        match answer.get("group_id").and_then(Value::as_u64) {
            Some(id) if id != 0 => u32::try_from(id)
                .map_err(|_| AdminError::Http(format!("group id {id} out of range"))),
            _ => Err(AdminError::Http("no group id in the answer".into())),
        }
    }

    /// Adds or removes `members` of group `group` on behalf of `by` (its owner).
    pub fn change_members(
        &self,
        by: u32,
        group: u32,
        change: Change,
        members: &[u32],
    ) -> Result<()> {
        check_members(members)?;
        self.post(
            "/query/ChangeMembers",
            &json!({
                "app_key": self.app_key,
                "req_user_id": by,
                "group_id": group,
                "modify_type": change as u32,
                "user_id_list": members,
            }),
        )
        .map(drop)
    }

    /// Closes user `user`'s connections on every msg_server (`/query/KickUser`, a teamtalk-rs
    /// addition): they get the protocol's kick notification and are closed. `Ok` means the
    /// kicks were sent to route_server.
    pub fn kick_user(&self, user: u32) -> Result<()> {
        if user == 0 {
            return Err(AdminError::Invalid {
                field: "user id",
                why: "not 0".into(),
            });
        }
        self.post(
            "/query/KickUser",
            &json!({ "app_key": self.app_key, "req_user_id": 0, "user_id": user }),
        )
        .map(drop)
    }

    /// POSTs `body` to `target`; the answer's JSON when its `error_code` is 0.
    fn post(&self, target: &str, body: &Value) -> Result<Value> {
        let addr = self.resolve()?;
        let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| http(&e))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .map_err(|e| http(&e))?;
        stream
            .set_write_timeout(Some(TIMEOUT))
            .map_err(|e| http(&e))?;
        let body = body.to_string();
        let request = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| http(&e))?;
        let mut answer = Vec::new();
        stream
            .take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .map_err(|e| http(&e))?;
        parse_answer(&answer)
    }

    fn resolve(&self) -> Result<SocketAddr> {
        self.addr
            .to_socket_addrs()
            .map_err(|e| http(&e))?
            .next()
            .ok_or_else(|| AdminError::Http(format!("{} resolves to nothing", self.addr)))
    }
}

fn http(e: &std::io::Error) -> AdminError {
    AdminError::Http(e.to_string())
}

fn check_members(members: &[u32]) -> Result<()> {
    if members.is_empty() || members.len() > MAX_MEMBERS || members.contains(&0) {
        return Err(AdminError::Invalid {
            field: "members",
            why: format!("1 to {MAX_MEMBERS} user ids, none 0"),
        });
    }
    Ok(())
}

/// The JSON body of an HTTP answer, if its `error_code` is 0.
fn parse_answer(answer: &[u8]) -> Result<Value> {
    let text = String::from_utf8_lossy(answer);
    let (_, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| AdminError::Http("answer without a body".into()))?;
    let value: Value = serde_json::from_str(body.trim())
        .map_err(|e| AdminError::Http(format!("answer is not JSON: {e}")))?;
    match value.get("error_code").and_then(Value::as_i64) {
        Some(0) => Ok(value),
        Some(code) => Err(AdminError::Http(format!(
            "error {code}: {}",
            value.get("error_msg").and_then(Value::as_str).unwrap_or("")
        ))),
        None => Err(AdminError::Http("answer without error_code".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_by_their_error_code() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"error_code\":0,\"error_msg\":\"\",\"group_id\":7}";
        assert_eq!(parse_answer(ok).unwrap()["group_id"], 7);
        let refused = b"HTTP/1.1 200 OK\r\n\r\n{\"error_code\":2,\"error_msg\":\"bad key\"}";
        assert!(matches!(parse_answer(refused), Err(AdminError::Http(m)) if m.contains("bad key")));
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\n\r\nnot json").is_err());
        assert!(parse_answer(b"").is_err());
    }

    #[test]
    fn member_lists_are_bounded() {
        assert!(check_members(&[1, 2]).is_ok());
        assert!(check_members(&[]).is_err());
        assert!(check_members(&[0]).is_err());
        assert!(check_members(&vec![5; MAX_MEMBERS + 1]).is_err());
    }
}
