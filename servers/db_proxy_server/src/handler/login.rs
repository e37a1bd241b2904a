//! `IM.Login` requests: device token (0x0108), push shield set/query (0x010c/0x010e) and
//! registration (0x0110, from the Polaris fork) — BEHAVIOUR §8.13, §8.15, §8.16, §8.27 — and
//! push_server's clearing of a dead device token (0x0713, §8.13), which shares the token keys.

use log::{debug, info, warn};
use rand::Rng;
use redis::cmd;
use teamtalk_proto::pb::login::{
    ImDeviceTokenReq, ImDeviceTokenRsp, ImPushShieldReq, ImPushShieldRsp, ImQueryPushShieldReq,
    ImQueryPushShieldRsp, ImRegistReq, ImRegistRes,
};
use teamtalk_proto::pb::server::ImClearDeviceTokenReq;
use teamtalk_proto::{CommandId, Pdu};

use super::{echo, error_chain, or_default, parse};
use crate::model::user::{self, NewUser};
use crate::store::{Cache, Store, StoreResult, now};

/// Client types that keep a device token.
const CLIENT_IOS: i32 = 0x11;
const CLIENT_ANDROID: i32 = 0x12;
/// PC client types: their logout must not clear the phone's token (D-PUSH-2).
const CLIENT_WINDOWS: i32 = 0x01;
const CLIENT_MAC: i32 = 0x02;

/// Registration result: success.
const REGIST_OK: i32 = 0;
/// Registration result: the server could not store the account (REFUSE_REASON_NO_DB_SERVER).
const REGIST_STORAGE_FAILED: i32 = 3;
/// Registration result: refused (REFUSE_REASON_DB_VALIDATE_FAILED), with a reason text.
const REGIST_REFUSED: i32 = 6;

/// 0x0108: stores (or, with an empty token, clears) a user's push token (§8.13).
pub fn handle_device_token_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImDeviceTokenReq = parse(pdu)?;
    if let Err(e) = set_device_token(store, &req) {
        warn!(
            "device token not stored: user={} err={}",
            req.user_id,
            error_chain(&e)
        );
    }
    let rsp = ImDeviceTokenRsp {
        user_id: req.user_id,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::LoginResDevicetoken,
        &rsp,
    ))
}

/// Longest device token stored, in bytes (APNs tokens are 64 hex digits, FCM tokens about
/// 160 characters): a longer one is refused, so a request cannot create huge Redis keys.
const MAX_DEVICE_TOKEN: usize = 512;

/// Stores a user's token under the original's keys (STORAGE K-TOKEN-U `device_<uid>`,
/// K-TOKEN-T `device_<token>`), with ownership checks the original lacks, in one script so
/// concurrent requests cannot interleave:
///
/// * `device_<uid>` is only ever written by a request for that user;
/// * the user's previous token entry `device_<old>` is deleted only while it still names this
///   user (the device may have passed to another user, whose claim stays);
/// * `device_<token>` names the token's latest claimant (a device changing hands); the push
///   query checks it, so the previous user's stale `device_<uid>` no longer reaches it;
/// * a token of decimal digits only is refused: its `device_<token>` key would be another
///   user's `device_<uid>` entry (the two key kinds share one namespace).
const SET_TOKEN: &str = r"
local old = redis.call('GET', KEYS[1])
if old then
    local i = string.find(old, ':', 1, true)
    if i then
        local t = string.sub(old, i + 1)
        if t ~= '' and t ~= ARGV[3] then
            local k = 'device_' .. t
            if redis.call('GET', k) == ARGV[1] then
                redis.call('DEL', k)
            end
        end
    end
end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
    redis.call('SET', 'device_' .. ARGV[3], ARGV[1])
end
return 1
";

fn set_device_token(store: &Store, req: &ImDeviceTokenReq) -> StoreResult<()> {
    let token = req.device_token.as_str();
    if token.is_empty() {
        // Logout. A PC logout must not silence the phone, and the original's `device_` key
        // (an empty token) is never written (KNOWN_DEFECTS D-PUSH-2).
        if matches!(req.client_type, Some(CLIENT_WINDOWS | CLIENT_MAC)) {
            return Ok(());
        }
    } else if token.len() > MAX_DEVICE_TOKEN || token.bytes().all(|b| b.is_ascii_digit()) {
        warn!(
            "refusing device token that is too long or names a user entry: user={} len={}",
            req.user_id,
            token.len()
        );
        return Ok(());
    }
    let value = match (token.is_empty(), req.client_type) {
        (true, _) => String::new(),
        (false, Some(CLIENT_IOS)) => format!("ios:{token}"),
        (false, Some(CLIENT_ANDROID)) => format!("android:{token}"),
        (false, _) => token.to_owned(),
    };
    store.redis(Cache::Token, |c| {
        cmd("EVAL")
            .arg(SET_TOKEN)
            .arg(1)
            .arg(format!("device_{}", req.user_id))
            .arg(req.user_id)
            .arg(&value)
            .arg(token)
            .exec(c)
    })
}

/// Clears a dead token in one script: `device_<uid>` is emptied only while it still holds
/// that token (a user who registered a new device since keeps it), and `device_<token>` is
/// deleted only while it still names that user (another user may have claimed the device).
const CLEAR_TOKEN: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then
    return 0
end
local i = string.find(cur, ':', 1, true)
if i then
    cur = string.sub(cur, i + 1)
end
if cur ~= ARGV[2] then
    return 0
end
redis.call('SET', KEYS[1], '')
local k = 'device_' .. ARGV[2]
if redis.call('GET', k) == ARGV[1] then
    redis.call('DEL', k)
end
return 1
";

/// 0x0713 (teamtalk-rs, from push_server): a provider called this token dead; no answer.
pub fn handle_clear_device_token_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImClearDeviceTokenReq = parse(pdu)?;
    let token = req.device_token.as_str();
    if token.is_empty() || token.len() > MAX_DEVICE_TOKEN {
        return None;
    }
    let cleared = store.redis(Cache::Token, |c| {
        cmd("EVAL")
            .arg(CLEAR_TOKEN)
            .arg(1)
            .arg(format!("device_{}", req.user_id))
            .arg(req.user_id)
            .arg(token)
            .query::<i64>(c)
    });
    match cleared {
        Ok(1) => info!("dead device token cleared: user={}", req.user_id),
        Ok(_) => debug!("dead device token already replaced: user={}", req.user_id),
        Err(e) => warn!(
            "dead device token not cleared: user={} err={}",
            req.user_id,
            error_chain(&e)
        ),
    }
    None
}

/// 0x010c: sets a user's push shield (§8.15).
pub fn handle_push_shield_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImPushShieldReq = parse(pdu)?;
    let ok = or_default(
        store.write(|c| user::set_push_shield(c, req.user_id, req.shield_status, now())),
        "set push shield",
    );
    let rsp = ImPushShieldRsp {
        user_id: req.user_id,
        result_code: u32::from(!ok),
        shield_status: ok.then_some(req.shield_status),
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(&pdu.header, CommandId::LoginResPushShield, &rsp))
}

/// 0x010e: reads a user's push shield (§8.16).
pub fn handle_query_push_shield_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImQueryPushShieldReq = parse(pdu)?;
    let status = or_default(
        store.read(|c| user::push_shield(c, req.user_id)),
        "query push shield",
    );
    let rsp = ImQueryPushShieldRsp {
        user_id: req.user_id,
        result_code: u32::from(status.is_none()),
        shield_status: status,
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::LoginResQueryPushShield,
        &rsp,
    ))
}

/// 0x0110: creates an account with a fresh salt; duplicate names are refused.
pub fn handle_regist_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImRegistReq = parse(pdu)?;
    let mut rsp = ImRegistRes {
        user_name: req.user_name.clone(),
        result_code: REGIST_REFUSED,
        result_string: None,
        user_id: None,
        attach_data: echo(req.attach_data.clone()),
    };
    if let Some(reason) = invalid_registration(&req) {
        rsp.result_string = Some(reason.to_owned());
        return Some(Pdu::reply(&pdu.header, CommandId::LoginResRegist, &rsp));
    }
    // Decimal 0–9999, as the PHP admin creates salts.
    let salt = rand::rng().random_range(0..10_000u32).to_string();
    let hash = teamtalk_proto::crypto::salt_client_hash(&req.password, &salt);
    let new_user = NewUser {
        name: &req.user_name,
        password: &hash,
        salt: &salt,
        sex: req.sex.unwrap_or(0),
        nick: req.nick.as_deref().unwrap_or(&req.user_name),
        avatar: req.avatar.as_deref().unwrap_or_default(),
        phone: req.phone.as_deref().unwrap_or_default(),
        email: req.email.as_deref().unwrap_or_default(),
    };
    // IMUser has no unique index on name: registrations through this process are serialised
    // so the existence check and the insert cannot interleave.
    let result = {
        let _guard = store.registration.lock().unwrap_or_else(|p| p.into_inner());
        store.write(|c| user::register(c, &new_user, now()))
    };
    match result {
        Ok(Some(id)) => {
            rsp.result_code = REGIST_OK;
            rsp.result_string = Some("成功".to_owned());
            rsp.user_id = Some(id);
            store.set_last_user_update(u64::from(now()));
        }
        Ok(None) => rsp.result_string = Some("用户名已存在".to_owned()),
        Err(e) => {
            warn!("registration not stored: err={}", error_chain(&e));
            rsp.result_code = REGIST_STORAGE_FAILED;
            rsp.result_string = Some("服务端内部错误".to_owned());
        }
    }
    Some(Pdu::reply(&pdu.header, CommandId::LoginResRegist, &rsp))
}

/// Why a registration cannot be stored as given (column limits of IMUser), if it cannot.
fn invalid_registration(req: &ImRegistReq) -> Option<&'static str> {
    let chars = |s: &Option<String>| s.as_deref().map_or(0, |s| s.chars().count());
    let name = req.user_name.trim();
    if name.is_empty() || name != req.user_name || name.chars().count() > 32 {
        return Some("用户名无效");
    }
    if name.chars().any(char::is_control) {
        return Some("用户名无效");
    }
    if req.password.is_empty() || req.password.len() > 64 {
        return Some("密码无效");
    }
    if chars(&req.nick) > 32
        || chars(&req.avatar) > 255
        || chars(&req.phone) > 11
        || chars(&req.email) > 64
        || req.sex.unwrap_or(0) > 2
    {
        return Some("注册信息无效");
    }
    None
}
