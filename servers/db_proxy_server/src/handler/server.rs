//! `IM.Server` requests from msg_server: login validation (0x0703), device tokens for a push
//! (0x0705) and group push shields (0x0711) — BEHAVIOUR §8.1, §8.13b, §8.22.

use std::collections::HashMap;

use chrono::Timelike;
use log::warn;
use redis::cmd;
use teamtalk_proto::pb::base_define::{ShieldStatus, UserTokenInfo};
use teamtalk_proto::pb::server::{
    ImGetDeviceTokenReq, ImGetDeviceTokenRsp, ImGroupGetShieldReq, ImGroupGetShieldRsp,
    ImValidateReq, ImValidateRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use super::{clamp_list, echo, echoed_len, error_chain, list_budget, or_default, parse};
use crate::model::{counter, group, member, user};
use crate::store::{Cache, Store, StoreResult, now};

/// Answer text for a successful login.
const LOGIN_OK: &str = "成功";
/// Answer text for a wrong user name or password.
const LOGIN_WRONG: &str = "用户名/密码错误";
/// Answer text for a locked user name.
const LOGIN_LOCKED: &str = "用户名/密码错误次数太多";
/// Answer text for an unparsable request.
const LOGIN_INTERNAL: &str = "服务端内部错误";
/// Client type of iOS devices.
const CLIENT_IOS: i32 = 0x11;
/// Client type of Android devices.
const CLIENT_ANDROID: i32 = 0x12;

/// 0x0703: checks a login (BEHAVIOUR §8.1).
pub fn handle_validate_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let Ok(req) = pdu.parse::<ImValidateReq>() else {
        // The original answers even an unparsable request (with user_name missing, D-PB-1).
        let rsp = ImValidateRsp {
            user_name: String::new(),
            result_code: 2,
            result_string: Some(LOGIN_INTERNAL.to_owned()),
            user_info: None,
            attach_data: None,
        };
        return Some(Pdu::reply(&pdu.header, CommandId::OtherValidateRsp, &rsp));
    };
    let now = u64::from(now());
    let mut rsp = ImValidateRsp {
        user_name: req.user_name.clone(),
        result_code: 1,
        result_string: Some(LOGIN_WRONG.to_owned()),
        user_info: None,
        attach_data: echo(req.attach_data.clone()),
    };
    if store.limiter.is_locked(&req.user_name, now) {
        rsp.result_code = 6;
        rsp.result_string = Some(LOGIN_LOCKED.to_owned());
        return Some(Pdu::reply(&pdu.header, CommandId::OtherValidateRsp, &rsp));
    }
    match store.read(|c| user::login_row(c, &req.user_name)) {
        Ok(Some((mut info, hash, salt)))
            if constant_time_eq(
                teamtalk_proto::crypto::salt_client_hash(&req.password, &salt).as_bytes(),
                hash.as_bytes(),
            ) =>
        {
            // The login answer always reports status 0, whatever the column says.
            info.status = 0;
            rsp.result_code = 0;
            rsp.result_string = Some(LOGIN_OK.to_owned());
            rsp.user_info = Some(info);
            store.limiter.clear(&req.user_name);
        }
        Ok(_) => store.limiter.record_failure(&req.user_name, now),
        // A storage outage is not the user's fault: answer "wrong" as the original does, but
        // do not count it towards the lock-out.
        Err(e) => warn!("login lookup failed: err={}", error_chain(&e)),
    }
    Some(Pdu::reply(&pdu.header, CommandId::OtherValidateRsp, &rsp))
}

/// Compares two byte strings in time independent of where they differ (D-CRYPTO-2).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 0x0705: device tokens and badge counts of users a message is pushed to (§8.13b).
pub fn handle_get_device_token_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    handle_get_device_token_batch(store, [pdu]).pop()
}

/// Several 0x0705 queries of one batch: their users' tokens are read with one `MGET`, then each
/// query is answered in its order (msg_server sends one per stored 1:1 message).
pub fn handle_get_device_token_batch<'a>(
    store: &Store,
    pdus: impl IntoIterator<Item = &'a Pdu>,
) -> Vec<Pdu> {
    let reqs: Vec<(&Pdu, ImGetDeviceTokenReq)> = pdus
        .into_iter()
        .filter_map(|pdu| Some((pdu, parse(pdu)?)))
        .collect();
    if reqs.is_empty() {
        return Vec::new();
    }
    // Quiet hours 22:00–07:59 in the server's local time, iOS only (KNOWN_DEFECTS D-PUSH-4).
    let hour = chrono::Local::now().hour();
    let quiet = hour >= 22 || hour <= 7;
    let all_users: Vec<u32> = reqs
        .iter()
        .flat_map(|(_, r)| r.user_id.iter().copied())
        .collect();
    let tokens: HashMap<u32, String> =
        or_default(device_tokens(store, &all_users), "get device tokens")
            .into_iter()
            .collect();
    reqs.into_iter()
        .map(|(pdu, req)| {
            // In key-text order, as the original's MGET over sorted keys returns them.
            let mut keyed: Vec<(String, u32)> = req
                .user_id
                .iter()
                .map(|&u| (format!("device_{u}"), u))
                .collect();
            keyed.sort();
            keyed.dedup();
            let mut list = Vec::new();
            for (uid, value) in keyed.iter().filter_map(|(_, u)| Some((*u, tokens.get(u)?))) {
                let Some((kind, token)) = value.split_once(':') else {
                    continue;
                };
                let user_type = match kind {
                    "ios" => {
                        if quiet
                            && or_default(store.read(|c| user::push_shield(c, uid)), "push shield")
                                == Some(1)
                        {
                            continue;
                        }
                        CLIENT_IOS
                    }
                    "android" => CLIENT_ANDROID,
                    _ => continue,
                };
                list.push(UserTokenInfo {
                    user_id: uid,
                    user_type,
                    token: token.to_owned(),
                    push_count: or_default(badge_count(store, uid), "push count"),
                    push_type: 1,
                });
            }
            clamp_list(
                &mut list,
                list_budget(echoed_len(&req.attach_data)),
                "device tokens",
            );
            let rsp = ImGetDeviceTokenRsp {
                user_token_info: list,
                attach_data: echo(req.attach_data),
            };
            Pdu::reply(&pdu.header, CommandId::OtherGetDeviceTokenRsp, &rsp)
        })
        .collect()
}

/// The `device_<uid>` values of `users`, without those whose token has since been claimed by
/// another user (`device_<token>` names someone else: the device changed hands, and the
/// previous user's entry, which only that user's requests may change, is stale).
fn device_tokens(store: &Store, users: &[u32]) -> StoreResult<Vec<(u32, String)>> {
    let mut keyed: Vec<(String, u32)> = users.iter().map(|&u| (format!("device_{u}"), u)).collect();
    keyed.sort();
    keyed.dedup();
    let mut out = Vec::new();
    for chunk in keyed.chunks(crate::model::IN_CHUNK) {
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<Option<String>> =
            store.redis(Cache::Token, |c| cmd("MGET").arg(&keys).query(c))?;
        let found: Vec<(u32, String)> = chunk
            .iter()
            .zip(values)
            .filter_map(|((_, uid), v)| v.map(|v| (*uid, v)))
            .collect();
        // Only typed values (`ios:`/`android:`) are ever pushed to; check their owners.
        let owner_keys: Vec<String> = found
            .iter()
            .filter_map(|(_, v)| v.split_once(':').map(|(_, t)| format!("device_{t}")))
            .collect();
        let owners: Vec<Option<String>> = if owner_keys.is_empty() {
            Vec::new()
        } else {
            store.redis(Cache::Token, |c| cmd("MGET").arg(&owner_keys).query(c))?
        };
        let mut owners = owners.into_iter();
        for (uid, value) in found {
            if value.contains(':') {
                let owner = owners.next().flatten();
                if owner.is_some_and(|o| !o.is_empty() && o != uid.to_string()) {
                    continue;
                }
            }
            out.push((uid, value));
        }
    }
    Ok(out)
}

/// A user's badge: every single-chat unread counter plus unread group messages.
fn badge_count(store: &Store, uid: u32) -> StoreResult<u32> {
    let single: i64 = counter::unread_counts(store, uid)?
        .iter()
        .map(|(_, n)| *n)
        .sum();
    let mut total = u32::try_from(single.max(0)).unwrap_or(u32::MAX);
    for gid in store.read(|c| group::groups_of_user(c, uid))? {
        if let Some(n) = counter::group_unread(store, uid, gid)? {
            total = total.saturating_add(n);
        }
    }
    Ok(total)
}

/// 0x0711: the push shield of each listed member of a group (§8.22).
pub fn handle_group_get_shield_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImGroupGetShieldReq = parse(pdu)?;
    if !or_default(member::is_valid(store, req.group_id), "group valid") {
        return None;
    }
    let settings: StoreResult<HashMap<String, u32>> = store.redis(Cache::GroupSet, |c| {
        cmd("HGETALL")
            .arg(format!("group_set_{}", req.group_id))
            .query(c)
    });
    // When the settings cannot be read the original answers an empty list.
    let mut list: Vec<ShieldStatus> = match settings {
        Ok(settings) => req
            .user_id
            .iter()
            .map(|&uid| ShieldStatus {
                user_id: uid,
                group_id: req.group_id,
                shield_status: settings.get(&format!("{uid}_1")).copied().unwrap_or(0),
            })
            .collect(),
        Err(e) => {
            warn!(
                "group shield settings unreadable: group={} err={}",
                req.group_id,
                error_chain(&e)
            );
            Vec::new()
        }
    };
    clamp_list(
        &mut list,
        list_budget(echoed_len(&req.attach_data)),
        "group shield",
    );
    let rsp = ImGroupGetShieldRsp {
        group_id: req.group_id,
        shield_status_list: list,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(&pdu.header, CommandId::OtherGetShieldRsp, &rsp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
