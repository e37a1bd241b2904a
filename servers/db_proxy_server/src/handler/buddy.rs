//! `IM.Buddy` requests: recent sessions (0x0201), user info (0x0204), remove session (0x0206),
//! all users (0x0208), departments (0x0210) and sign info (0x0213) — BEHAVIOUR §8.3–§8.4,
//! §8.10–§8.12, §8.14.

use log::warn;
use mysql::Row;
use mysql::prelude::Queryable;
use teamtalk_proto::pb::base_define::{ContactSessionInfo, DepartInfo};
use teamtalk_proto::pb::buddy::{
    ImAllUserReq, ImAllUserRsp, ImChangeSignInfoReq, ImChangeSignInfoRsp, ImDepartmentReq,
    ImDepartmentRsp, ImRecentContactSessionReq, ImRecentContactSessionRsp, ImRemoveSessionReq,
    ImRemoveSessionRsp, ImUsersInfoReq, ImUsersInfoRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use super::message::{is_audio_type, is_valid_type};
use super::{clamp_list, echo, echoed_len, entry_len, error_chain, list_budget, or_default, parse};
use crate::model::session::{self, GROUP, SINGLE};
use crate::model::{IN_CHUNK, col, counter, message, user};
use crate::store::{Store, StoreResult, now};

/// Longest signature accepted, in bytes.
const MAX_SIGN_INFO: usize = 128;
/// Redis key mirroring the last user change (K-SYNC-2).
pub const TOTAL_USER_UPDATE_KEY: &str = "total_user_update";

/// 0x0201: the user's recent conversations with their last message (§8.3).
pub fn handle_recent_contact_session_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImRecentContactSessionReq = parse(pdu)?;
    let mut list = or_default(
        store.read(|c| recent_sessions(c, store, req.user_id, req.latest_update_time)),
        "recent sessions",
    );
    // The newest sessions are kept; the client asks again from the oldest time it got.
    clamp_list(
        &mut list,
        list_budget(echoed_len(&req.attach_data)),
        "recent sessions",
    );
    let rsp = ImRecentContactSessionRsp {
        user_id: req.user_id,
        contact_session_list: list,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::BuddyListRecentContactSessionResponse,
        &rsp,
    ))
}

fn recent_sessions(
    c: &mut mysql::Conn,
    store: &Store,
    user: u32,
    since: u32,
) -> mysql::Result<Vec<ContactSessionInfo>> {
    let mut list = Vec::new();
    for row in session::recent_sessions(c, user, since)? {
        let last = match row.kind {
            SINGLE => match session::relation(c, user, row.peer)? {
                // For single sessions the original reports the peer as the sender, whoever
                // sent it (KNOWN_DEFECTS D-DB-16, wire-visible, kept).
                Some(relate) => message::last_single(c, relate)?.map(|mut m| {
                    m.from = row.peer;
                    m
                }),
                None => None,
            },
            GROUP => message::last_group(c, row.peer)?,
            _ => None,
        };
        // Sessions without a (valid) last message are left out (D-DB-14).
        let Some(last) = last.filter(|m| is_valid_type(m.msg_type)) else {
            continue;
        };
        list.push(ContactSessionInfo {
            session_id: row.peer,
            session_type: row.kind as i32,
            session_status: 0,
            updated_time: row.updated,
            latest_msg_id: last.msg_id,
            latest_msg_data: display_data(store, last.msg_type, last.content),
            latest_msg_type: last.msg_type as i32,
            latest_msg_from_user_id: last.from,
        });
    }
    Ok(list)
}

/// What session and unread lists show as a last message: audio becomes the encrypted
/// `[语音]` placeholder.
pub fn display_data(store: &Store, msg_type: u32, content: Vec<u8>) -> Vec<u8> {
    if is_audio_type(msg_type) {
        store.audio_placeholder.clone()
    } else {
        content
    }
}

/// 0x0204: user details by id (§8.10).
pub fn handle_users_info_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImUsersInfoReq = parse(pdu)?;
    // Clamp what one request may ask for (KNOWN_DEFECTS D-DB-3).
    let ids = &req.user_id_list[..req.user_id_list.len().min(IN_CHUNK)];
    let mut list = if ids.is_empty() {
        Vec::new()
    } else {
        or_default(store.read(|c| user::users_by_ids(c, ids)), "users by id")
    };
    clamp_list(
        &mut list,
        list_budget(echoed_len(&req.attach_data)),
        "users by id",
    );
    let rsp = ImUsersInfoRsp {
        user_id: req.user_id,
        user_info_list: list,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::BuddyListUserInfoResponse,
        &rsp,
    ))
}

/// 0x0206: removes a conversation from the user's list and clears its unread count (§8.4).
pub fn handle_remove_session_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImRemoveSessionReq = parse(pdu)?;
    let kind = u32::try_from(req.session_type)
        .ok()
        .filter(|k| matches!(*k, SINGLE | GROUP))?;
    let removed = or_default(
        remove_session(store, req.user_id, req.session_id, kind),
        "remove session",
    );
    let rsp = ImRemoveSessionRsp {
        user_id: req.user_id,
        result_code: u32::from(!removed),
        session_type: req.session_type,
        session_id: req.session_id,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::BuddyListRemoveSessionRes,
        &rsp,
    ))
}

fn remove_session(store: &Store, user: u32, peer: u32, kind: u32) -> StoreResult<bool> {
    let removed = store.write(|c| match session::session_id(c, user, peer, kind, false)? {
        Some(id) => session::remove_session(c, id, now()),
        None => Ok(false),
    })?;
    if removed {
        clear_unread(store, user, peer, kind);
    }
    Ok(removed)
}

/// Marks everything in a conversation read for `user` (the read-ack effect, §8.8).
pub fn clear_unread(store: &Store, user: u32, peer: u32, kind: u32) {
    let result = if kind == GROUP {
        counter::mark_group_read(store, user, peer)
    } else {
        counter::clear_unread(store, user, peer)
    };
    if let Err(e) = result {
        warn!(
            "unread counter not cleared: user={user} peer={peer} err={}",
            error_chain(&e)
        );
    }
}

/// 0x0208: users changed since the client's last sync (§8.11). Unlike the original this always
/// queries, so users edited directly in MySQL are reported too (KNOWN_DEFECTS D-DB-7).
pub fn handle_all_user_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImAllUserReq = parse(pdu)?;
    let rows = or_default(
        store.read(|c| user::changed_users(c, req.latest_update_time)),
        "changed users",
    );
    let (users, latest) = fit_changed(rows, list_budget(echoed_len(&req.attach_data)), "all users");
    let rsp = ImAllUserRsp {
        user_id: req.user_id,
        latest_update_time: req.latest_update_time.max(latest),
        user_list: users,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::BuddyListAllUserResponse,
        &rsp,
    ))
}

/// Rows changed since a client's last sync, as `(updated, entry)` in answer order, cut to
/// `budget` encoded bytes: the entries to answer and the sync time to answer with (the largest
/// `updated` answered). When everything fits, that is everything. Otherwise the entries with
/// the oldest `updated` times are kept (in answer order) and the time is that of the last one
/// kept, so the client's next incremental request (`updated >=` that time) gets the rest; rows
/// sharing that time are sent again, which a client applying updates takes in its stride.
fn fit_changed<T: prost::Message>(
    mut rows: Vec<(u32, T)>,
    budget: usize,
    what: &str,
) -> (Vec<T>, u32) {
    let total: usize = rows.iter().map(|(_, e)| entry_len(e)).sum();
    if total <= budget {
        let latest = rows.iter().map(|(t, _)| *t).max().unwrap_or(0);
        return (rows.into_iter().map(|(_, e)| e).collect(), latest);
    }
    // Oldest first; a stable sort keeps answer order within one time.
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| rows[i].0);
    let mut keep = vec![false; rows.len()];
    let (mut used, mut latest, mut kept) = (0usize, 0u32, 0usize);
    for i in order {
        used = used.saturating_add(entry_len(&rows[i].1));
        if used > budget {
            break;
        }
        keep[i] = true;
        latest = rows[i].0;
        kept += 1;
    }
    warn!(
        "answer clamped to the frame limit: list={what} kept={kept} of={} latest={latest}",
        rows.len()
    );
    let mut keep = keep.into_iter();
    rows.retain(|_| keep.next().unwrap_or(false));
    (rows.into_iter().map(|(_, e)| e).collect(), latest)
}

/// 0x0210: departments changed since the client's last sync (§8.12).
pub fn handle_department_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImDepartmentReq = parse(pdu)?;
    let rows: Vec<Row> = or_default(
        store.read(|c| {
            c.exec(
                "SELECT id, priority, departName, parentId, status, updated FROM IMDepart \
                 WHERE updated > ? ORDER BY id",
                (req.latest_update_time,),
            )
        }),
        "changed departments",
    );
    let all_latest = rows.iter().map(|r| col::<u32>(r, 5)).max().unwrap_or(0);
    let listed: Vec<(u32, DepartInfo)> = rows
        .iter()
        .filter(|r| col::<u32>(r, 4) <= 1)
        .map(|r| {
            let dept = DepartInfo {
                dept_id: col(r, 0),
                priority: col(r, 1),
                dept_name: col(r, 2),
                parent_dept_id: col(r, 3),
                dept_status: col::<u32>(r, 4) as i32,
            };
            (col::<u32>(r, 5), dept)
        })
        .collect();
    let count = listed.len();
    let (dept_list, cut_at) = fit_changed(
        listed,
        list_budget(echoed_len(&req.attach_data)),
        "departments",
    );
    // Departments are asked for with `updated >` the time, so a clamped answer reports one
    // second before the last time it holds: the next request starts at that time again.
    let latest = if dept_list.len() < count {
        cut_at.saturating_sub(1)
    } else {
        all_latest
    }
    .max(req.latest_update_time);
    let rsp = ImDepartmentRsp {
        user_id: req.user_id,
        latest_update_time: latest,
        dept_list,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::BuddyListDepartmentResponse,
        &rsp,
    ))
}

/// 0x0213: changes the user's signature (§8.14).
pub fn handle_change_sign_info_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImChangeSignInfoReq = parse(pdu)?;
    let now = now();
    let ok = req.sign_info.len() <= MAX_SIGN_INFO
        && or_default(
            store.write(|c| user::set_sign_info(c, req.user_id, &req.sign_info, now)),
            "set sign info",
        );
    if ok {
        store.set_last_user_update(u64::from(now));
        if let Err(e) = counter::set_value(store, TOTAL_USER_UPDATE_KEY, now) {
            warn!("user update time not mirrored: err={}", error_chain(&e));
        }
    }
    let rsp = ImChangeSignInfoRsp {
        user_id: req.user_id,
        result_code: u32::from(!ok),
        sign_info: ok.then_some(req.sign_info),
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::BuddyListChangeSignInfoResponse,
        &rsp,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dept(id: u32) -> DepartInfo {
        DepartInfo {
            dept_id: id,
            dept_name: "d".repeat(50),
            ..DepartInfo::default()
        }
    }

    fn ids(list: &[DepartInfo]) -> Vec<u32> {
        list.iter().map(|d| d.dept_id).collect()
    }

    #[test]
    fn changed_rows_that_fit_are_all_answered_with_the_newest_time() {
        let rows = vec![(30, dept(1)), (10, dept(2)), (20, dept(3))];
        let (list, latest) = fit_changed(rows, 1 << 20, "departments");
        assert_eq!(ids(&list), [1, 2, 3]);
        assert_eq!(latest, 30);
    }

    #[test]
    fn changed_rows_past_the_budget_keep_the_oldest_in_answer_order() {
        let one = entry_len(&dept(1));
        let rows = vec![(30, dept(1)), (10, dept(2)), (40, dept(3)), (20, dept(4))];
        // Room for three: the times 10, 20 and 30 are kept, 40 waits for the next request.
        let (list, latest) = fit_changed(rows, one * 3 + one / 2, "departments");
        assert_eq!(ids(&list), [1, 2, 4]);
        assert_eq!(latest, 30);
    }
}
