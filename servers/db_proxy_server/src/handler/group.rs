//! `IM.Group` requests: normal group list (0x0401), group info (0x0403), create (0x0405),
//! change members (0x0407) and group push shield (0x0409) — BEHAVIOUR §8.17–§8.21.

use std::collections::BTreeSet;

use log::warn;
use redis::cmd;
use teamtalk_proto::pb::base_define::{GroupInfo, GroupVersionInfo};
use teamtalk_proto::pb::group::{
    ImGroupChangeMemberReq, ImGroupChangeMemberRsp, ImGroupCreateReq, ImGroupCreateRsp,
    ImGroupInfoListReq, ImGroupInfoListRsp, ImGroupShieldReq, ImGroupShieldRsp,
    ImNormalGroupListReq, ImNormalGroupListRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use super::buddy::clear_unread;
use super::{clamp_list, echo, echoed_len, error_chain, list_budget, or_default, parse};
use crate::model::group::{self as grp, NORMAL, NewGroup, TMP};
use crate::model::session::{self, GROUP};
use crate::model::{IN_CHUNK, counter, member};
use crate::store::{Cache, Store, StoreResult, now};

/// Change type: add members.
const ADD: i32 = 1;
/// Change type: remove members.
const DEL: i32 = 2;

/// 0x0401: the normal groups the user belongs to, with versions (§8.17).
pub fn handle_normal_group_list_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImNormalGroupListReq = parse(pdu)?;
    let versions = or_default(
        store.read(|c| {
            let groups = grp::groups_of_user(c, req.user_id)?;
            if groups.is_empty() {
                return Ok(Vec::new());
            }
            grp::normal_versions(c, &groups)
        }),
        "normal groups",
    );
    let mut group_version_list: Vec<GroupVersionInfo> = versions
        .into_iter()
        .map(|(group_id, version)| GroupVersionInfo { group_id, version })
        .collect();
    clamp_list(
        &mut group_version_list,
        list_budget(echoed_len(&req.attach_data)),
        "normal groups",
    );
    let rsp = ImNormalGroupListRsp {
        user_id: req.user_id,
        group_version_list,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::GroupNormalListResponse,
        &rsp,
    ))
}

/// 0x0403: details of groups whose version is newer than the client's (§8.18). Only groups
/// the requester belongs to (or created) are reported (KNOWN_DEFECTS D-AUTH-6); user 0 on an
/// `admin` link (the admin interface) sees every group.
pub fn handle_group_info_list_req(store: &Store, pdu: &Pdu, admin: bool) -> Option<Pdu> {
    let req: ImGroupInfoListReq = parse(pdu)?;
    let mut list = or_default(group_infos(store, &req, admin), "group info");
    // Groups left out keep their old version on the client, which asks for them again.
    clamp_list(
        &mut list,
        list_budget(echoed_len(&req.attach_data)),
        "group info",
    );
    let rsp = ImGroupInfoListRsp {
        user_id: req.user_id,
        group_info_list: list,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(&pdu.header, CommandId::GroupInfoResponse, &rsp))
}

fn group_infos(
    store: &Store,
    req: &ImGroupInfoListReq,
    admin: bool,
) -> StoreResult<Vec<GroupInfo>> {
    let asked = &req.group_version_list[..req.group_version_list.len().min(IN_CHUNK)];
    let mut valid = Vec::new();
    for v in asked {
        if let Some(members) = member::member_ids(store, v.group_id)? {
            valid.push((v.group_id, v.version, members));
        }
    }
    if valid.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<u32> = valid.iter().map(|(id, _, _)| *id).collect();
    let rows = store.read(|c| grp::infos(c, &ids))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            // A group asked for twice is compared with the last version given, as the
            // original's map keeps it.
            let (_, asked_version, members) =
                valid.iter().rev().find(|(id, _, _)| *id == row.id)?;
            let allowed = is_admin(admin, req.user_id)
                || row.creator == req.user_id
                || members.contains(&req.user_id);
            (allowed && row.version > *asked_version && matches!(row.kind, NORMAL | TMP)).then(
                || GroupInfo {
                    group_id: row.id,
                    version: row.version,
                    group_name: row.name,
                    group_avatar: row.avatar,
                    group_creator_id: row.creator,
                    group_type: row.kind as i32,
                    shield_status: 0,
                    group_member_list: members.clone(),
                },
            )
        })
        .collect())
}

/// 0x0405: creates a group with the listed members (§8.19). The creator is not added
/// automatically, as in the original.
pub fn handle_group_create_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImGroupCreateReq = parse(pdu)?;
    let kind = u32::try_from(req.group_type)
        .ok()
        .filter(|k| matches!(*k, NORMAL | TMP))?;
    if too_many_members(store, &req.member_id_list, req.user_id) {
        // Refused whole; the answer does not echo the oversized list.
        let rsp = ImGroupCreateRsp {
            user_id: req.user_id,
            result_code: 1,
            group_id: None,
            group_name: req.group_name,
            user_id_list: Vec::new(),
            attach_data: echo(req.attach_data),
        };
        return Some(Pdu::reply(
            &pdu.header,
            CommandId::GroupCreateResponse,
            &rsp,
        ));
    }
    let members: Vec<u32> = req
        .member_id_list
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let group_id = if req.group_name.is_empty() || members.is_empty() {
        None
    } else {
        or_default(create_group(store, &req, kind, &members), "create group")
    };
    let rsp = ImGroupCreateRsp {
        user_id: req.user_id,
        result_code: u32::from(group_id.is_none()),
        group_id,
        group_name: req.group_name,
        user_id_list: members,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::GroupCreateResponse,
        &rsp,
    ))
}

/// Whether a member list is longer than one request may carry (`MaxGroupMembersPerRequest`):
/// such a request is refused whole, before any storage call, so it cannot hold its link for
/// thousands of row writes (KNOWN_DEFECTS D-DB-3, D-SQL-5).
fn too_many_members(store: &Store, list: &[u32], user: u32) -> bool {
    let too_many = list.len() > store.policy.max_group_members;
    if too_many {
        warn!(
            "refusing group member list over the bound: user={user} ids={} max={}",
            list.len(),
            store.policy.max_group_members
        );
    }
    too_many
}

fn create_group(
    store: &Store,
    req: &ImGroupCreateReq,
    kind: u32,
    members: &[u32],
) -> StoreResult<Option<u32>> {
    let now = now();
    let new_group = NewGroup {
        name: &req.group_name,
        avatar: &req.group_avatar,
        creator: req.user_id,
        kind,
    };
    let Some(gid) = store.write_tx(|tx| {
        let Some(gid) = grp::insert(tx, &new_group, now)? else {
            return Ok(None);
        };
        grp::clear_members(tx, gid)?;
        for &user in members {
            grp::insert_member(tx, gid, user, now)?;
        }
        grp::recount_members(tx, gid)?;
        Ok(Some(gid))
    })?
    else {
        return Ok(None);
    };
    counter::init_sequence(store, &counter::group_msg_id_key(gid))?;
    member::clear(store, gid)?;
    member::add(store, gid, members, now)?;
    Ok(Some(gid))
}

/// Whether `user` acts as the admin: user 0 on a link from an `AdminPeerIPs` address
/// (KNOWN_DEFECTS D-AUTH-2). Elsewhere user 0 is an ordinary id.
fn is_admin(admin_link: bool, user: u32) -> bool {
    admin_link && user == 0
}

/// 0x0407: adds or removes members (§8.20).
pub fn handle_group_change_member_req(store: &Store, pdu: &Pdu, admin: bool) -> Option<Pdu> {
    let req: ImGroupChangeMemberReq = parse(pdu)?;
    if req.change_type != ADD && req.change_type != DEL {
        return None;
    }
    if too_many_members(store, &req.member_id_list, req.user_id) {
        let rsp = ImGroupChangeMemberRsp {
            user_id: req.user_id,
            change_type: req.change_type,
            result_code: 1,
            group_id: req.group_id,
            cur_user_id_list: Vec::new(),
            chg_user_id_list: Vec::new(),
            attach_data: echo(req.attach_data),
        };
        return Some(Pdu::reply(
            &pdu.header,
            CommandId::GroupChangeMemberResponse,
            &rsp,
        ));
    }
    // An invalid group gets no answer, as in the original.
    let current = or_default(member::member_ids(store, req.group_id), "group members")?;
    let mut rsp = ImGroupChangeMemberRsp {
        user_id: req.user_id,
        change_type: req.change_type,
        result_code: 1,
        group_id: req.group_id,
        cur_user_id_list: Vec::new(),
        chg_user_id_list: Vec::new(),
        attach_data: echo(req.attach_data.clone()),
    };
    match change_members(store, &req, &current, admin) {
        Ok(Some((cur, chg))) => {
            rsp.result_code = 0;
            rsp.cur_user_id_list = cur;
            rsp.chg_user_id_list = chg;
        }
        Ok(None) => {}
        Err(e) => warn!(
            "group members not changed: group={} err={}",
            req.group_id,
            error_chain(&e)
        ),
    }
    Some(Pdu::reply(
        &pdu.header,
        CommandId::GroupChangeMemberResponse,
        &rsp,
    ))
}

/// Applies the change; `(current members, changed ids)` on success, `None` when refused.
fn change_members(
    store: &Store,
    req: &ImGroupChangeMemberReq,
    current: &[u32],
    admin: bool,
) -> StoreResult<Option<(Vec<u32>, Vec<u32>)>> {
    let gid = req.group_id;
    let mut chg: BTreeSet<u32> = req.member_id_list.iter().copied().collect();
    if !may_change(store, req, current, admin)? {
        return Ok(None);
    }
    let now = now();
    if req.change_type == ADD {
        chg.retain(|u| !current.contains(u));
        if chg.is_empty() {
            return Ok(None);
        }
        let chg: Vec<u32> = chg.iter().copied().collect();
        store.write_tx(|tx| {
            let existing = grp::member_rows(tx, gid, &chg)?;
            grp::reactivate_members(tx, gid, &existing, now)?;
            for &user in chg.iter().filter(|u| !existing.contains(u)) {
                grp::insert_member(tx, gid, user, now)?;
            }
            grp::recount_members(tx, gid)?;
            grp::bump_version(tx, gid)
        })?;
        member::add(store, gid, &chg, now)?;
    } else {
        let chg: Vec<u32> = chg.iter().copied().collect();
        store.write_tx(|tx| {
            grp::leave_members(tx, gid, &chg)?;
            grp::recount_members(tx, gid)?;
            grp::bump_version(tx, gid)
        })?;
        member::remove(store, gid, &chg)?;
        for &user in &chg {
            let removed = store.write(|c| match session::session_id(c, user, gid, GROUP, false)? {
                Some(id) => session::remove_session(c, id, now),
                None => Ok(false),
            });
            if let Err(e) = removed {
                warn!(
                    "group session not removed: user={user} group={gid} err={}",
                    error_chain(&e)
                );
            }
        }
    }
    for &user in &chg {
        clear_unread(store, user, gid, GROUP);
    }
    // Removing nobody succeeds without reading the members back: the original answers an
    // empty current list then (BEHAVIOUR §8.20 step 5).
    if chg.is_empty() {
        return Ok(Some((Vec::new(), Vec::new())));
    }
    let cur = member::member_ids(store, gid)?.unwrap_or_default();
    Ok(Some((cur, chg.into_iter().collect())))
}

/// Permission (Q-GROUP-PERM): the admin (user 0 on an admin link, KNOWN_DEFECTS D-AUTH-2)
/// and the creator may change any group; members may add to a temporary group
/// (KNOWN_DEFECTS D-AUTH-5: not non-members).
fn may_change(
    store: &Store,
    req: &ImGroupChangeMemberReq,
    current: &[u32],
    admin: bool,
) -> StoreResult<bool> {
    if is_admin(admin, req.user_id) {
        return Ok(true);
    }
    let Some((creator, kind)) = store.read(|c| grp::creator_and_type(c, req.group_id))? else {
        return Ok(false);
    };
    Ok(creator == req.user_id
        || (kind == TMP && req.change_type == ADD && current.contains(&req.user_id)))
}

/// 0x0409: mutes or unmutes group pushes for the user (§8.21).
pub fn handle_group_shield_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImGroupShieldReq = parse(pdu)?;
    if !or_default(member::is_valid(store, req.group_id), "group valid") {
        return None;
    }
    let is_member = or_default(
        member::join_time(store, req.group_id, req.user_id),
        "group member",
    )
    .is_some();
    let stored = is_member
        && store
            .redis(Cache::GroupSet, |c| {
                cmd("HSET")
                    .arg(format!("group_set_{}", req.group_id))
                    .arg(format!("{}_1", req.user_id))
                    .arg(req.shield_status)
                    .exec(c)
            })
            .inspect_err(|e| warn!("group shield not stored: err={}", error_chain(e)))
            .is_ok();
    let rsp = ImGroupShieldRsp {
        user_id: req.user_id,
        group_id: req.group_id,
        result_code: u32::from(!stored),
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::GroupShieldGroupResponse,
        &rsp,
    ))
}
