//! `IM.Message` requests: store a message (0x0301), read ack (0x0303), unread counts (0x0307),
//! history (0x0309), latest id (0x030b) and messages by id (0x030d) — BEHAVIOUR §8.5–§8.9.
//!
//! Storing a message keeps the database consistent when a step fails: the message row, the
//! audio record and both session touches are one transaction, and the answer carries a msg id
//! only when that transaction committed (KNOWN_DEFECTS D-DB-9). Counters in Redis follow the
//! commit.

use log::warn;
use teamtalk_proto::pb::base_define::{MsgInfo, UnreadInfo};
use teamtalk_proto::pb::message::{
    ImGetLatestMsgIdReq, ImGetLatestMsgIdRsp, ImGetMsgByIdReq, ImGetMsgByIdRsp, ImGetMsgListReq,
    ImGetMsgListRsp, ImMsgData, ImMsgDataReadAck, ImUnreadMsgCntReq, ImUnreadMsgCntRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use super::buddy::{clear_unread, display_data};
use super::{error_chain, or_default, parse};
use crate::model::audio::{self, NewAudio};
use crate::model::message::{self as msg, MsgRow, NewMsg};
use crate::model::session::{self, GROUP, SINGLE};
use crate::model::{counter, group, member};
use crate::store::{Store, StoreError, StoreResult, conversation_key, now};

/// MsgType values (PROTOCOL §7.4).
const SINGLE_TEXT: u32 = 0x01;
const SINGLE_AUDIO: u32 = 0x02;
const GROUP_TEXT: u32 = 0x11;
const GROUP_AUDIO: u32 = 0x12;

/// Whether `t` is one of the four message types.
pub fn is_valid_type(t: u32) -> bool {
    matches!(t, SINGLE_TEXT | SINGLE_AUDIO | GROUP_TEXT | GROUP_AUDIO)
}

/// Whether `t` is an audio type.
pub fn is_audio_type(t: u32) -> bool {
    matches!(t, SINGLE_AUDIO | GROUP_AUDIO)
}

/// Whether the wire value `t` is a group message type.
pub fn is_group_type(t: i32) -> bool {
    matches!(u32::try_from(t), Ok(GROUP_TEXT | GROUP_AUDIO))
}

/// 0x0301: stores a message and answers it back with its msg id (0 when not stored).
pub fn handle_msg_data(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let mut data: ImMsgData = parse(pdu)?;
    let msg_type = u32::try_from(data.msg_type)
        .ok()
        .filter(|t| is_valid_type(*t))?;
    if data.msg_data.is_empty() {
        return None;
    }
    let group = is_group_type(data.msg_type);
    let key = conversation_key(data.from_user_id, data.to_session_id, group);
    let _locked = store.lock_stripes(&mut vec![store.conversation_stripe(key)]);
    let result = if group {
        store_group_message(store, &data, msg_type)
    } else {
        store_single_message(store, &data, msg_type)
    };
    data.msg_id = result.unwrap_or_else(|e| {
        warn!(
            "message not stored: from={} to={} err={}",
            data.from_user_id,
            data.to_session_id,
            error_chain(&e)
        );
        0
    });
    Some(Pdu::reply(&pdu.header, CommandId::MsgData, &data))
}

/// A run of messages from one link, answered in order.
pub fn handle_msg_data_batch(store: &Store, pdus: &[Pdu]) -> Vec<Pdu> {
    pdus.iter()
        .filter_map(|p| handle_msg_data(store, p))
        .collect()
}

/// The relation id of two users, created on first contact; cached, since a relation's id
/// never changes once it exists.
pub fn relation_for(store: &Store, a: u32, b: u32, create: bool) -> StoreResult<Option<u32>> {
    if a == 0 || b == 0 {
        return Ok(None);
    }
    let key = session::pair(a, b);
    if let Some(id) = store.cached_relation(key) {
        return Ok(Some(id));
    }
    let mut found = store.read(|c| session::relation(c, a, b))?;
    if found.is_none() && create {
        let now = now();
        if let Some((id, inserted)) = store.write(|c| session::add_relation(c, a, b, now))? {
            if inserted {
                counter::init_sequence(store, &counter::msg_id_key(id))?;
            }
            found = Some(id);
        }
    }
    if let Some(id) = found {
        store.cache_relation(key, id);
    }
    Ok(found)
}

/// Uploads audio (4-byte BE duration ‖ bytes) to msfs: (url, size, duration).
fn upload_audio(store: &Store, data: &[u8]) -> StoreResult<(String, u32, u32)> {
    let Some((duration, bytes)) = data.split_first_chunk::<4>().filter(|(_, b)| !b.is_empty())
    else {
        return Err(StoreError::Data(
            "audio message of 4 bytes or less".to_owned(),
        ));
    };
    let url = store.msfs.upload(bytes)?;
    let size = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    Ok((url, size, u32::from_be_bytes(*duration)))
}

fn store_single_message(store: &Store, data: &ImMsgData, msg_type: u32) -> StoreResult<u32> {
    let (from, to) = (data.from_user_id, data.to_session_id);
    if from == to {
        return Ok(0);
    }
    let Some(relate) = relation_for(store, from, to, true)? else {
        return Ok(0);
    };
    let audio = is_audio_type(msg_type)
        .then(|| upload_audio(store, &data.msg_data))
        .transpose()?;
    let msg_id = counter::next_msg_id(store, &counter::msg_id_key(relate), || {
        store.read(|c| msg::max_single_id(c, relate))
    })?;
    let now = now();
    store.write_tx(|tx| {
        let audio_id;
        let content: &[u8] = match &audio {
            Some((url, size, duration)) => {
                let new_audio = NewAudio {
                    from,
                    to,
                    path: url,
                    size: *size,
                    duration: *duration,
                    created: data.create_time,
                };
                audio_id = audio::insert(tx, &new_audio)?.unwrap_or(0).to_string();
                audio_id.as_bytes()
            }
            None => &data.msg_data,
        };
        let row = NewMsg {
            relate,
            from,
            to,
            msg_id,
            content,
            msg_type,
            created: data.create_time,
        };
        msg::insert_single(tx, &row)?;
        session::touch_or_add_session(tx, from, to, SINGLE, now)?;
        session::touch_or_add_session(tx, to, from, SINGLE, now)?;
        Ok(())
    })?;
    if let Err(e) = counter::incr_unread(store, to, from) {
        warn!(
            "unread counter not counted: to={to} from={from} err={}",
            error_chain(&e)
        );
    }
    Ok(msg_id)
}

fn store_group_message(store: &Store, data: &ImMsgData, msg_type: u32) -> StoreResult<u32> {
    let (from, gid) = (data.from_user_id, data.to_session_id);
    // Invalid group or non-member: the original does not answer; msg id 0 is the equivalent
    // msg_server drops (KNOWN_DEFECTS D-DB-10).
    if member::join_time(store, gid, from)?.is_none() {
        return Ok(0);
    }
    let audio = is_audio_type(msg_type)
        .then(|| upload_audio(store, &data.msg_data))
        .transpose()?;
    let msg_id = counter::next_msg_id(store, &counter::group_msg_id_key(gid), || {
        store.read(|c| msg::max_group_id(c, gid))
    })?;
    let now = now();
    store.write_tx(|tx| {
        let audio_id;
        let content: &[u8] = match &audio {
            Some((url, size, duration)) => {
                let new_audio = NewAudio {
                    from,
                    to: gid,
                    path: url,
                    size: *size,
                    duration: *duration,
                    created: data.create_time,
                };
                audio_id = audio::insert(tx, &new_audio)?.unwrap_or(0).to_string();
                audio_id.as_bytes()
            }
            None => &data.msg_data,
        };
        let row = NewMsg {
            relate: 0,
            from,
            to: gid,
            msg_id,
            content,
            msg_type,
            created: data.create_time,
        };
        msg::insert_group(tx, &row)?;
        group::set_last_chated(tx, gid, now)?;
        session::touch_or_add_session(tx, from, gid, GROUP, now)?;
        Ok(())
    })?;
    if let Err(e) = counter::count_group_message(store, gid, from) {
        warn!(
            "group counter not counted: group={gid} err={}",
            error_chain(&e)
        );
    }
    Ok(msg_id)
}

/// 0x0303: clears the unread counter of a conversation; no answer (§8.8).
pub fn handle_msg_data_read_ack(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImMsgDataReadAck = parse(pdu)?;
    match u32::try_from(req.session_type) {
        Ok(kind @ (SINGLE | GROUP)) => clear_unread(store, req.user_id, req.session_id, kind),
        _ => warn!(
            "ignoring read ack with bad session type: type={}",
            req.session_type
        ),
    }
    None
}

/// 0x0307: unread counts per conversation with their last message (§8.7).
pub fn handle_unread_msg_cnt_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImUnreadMsgCntReq = parse(pdu)?;
    let user = req.user_id;
    let mut total = 0u32;
    let mut list = Vec::new();
    for (field, count) in or_default(counter::unread_counts(store, user), "unread counts") {
        let (Ok(peer), Ok(count)) = (field.parse::<u32>(), u32::try_from(count)) else {
            continue;
        };
        let last = or_default(last_single_message(store, user, peer), "last message");
        if let Some(m) = last.filter(|m| is_valid_type(m.msg_type)) {
            total = total.saturating_add(count);
            list.push(UnreadInfo {
                session_id: peer,
                session_type: SINGLE as i32,
                unread_cnt: count,
                latest_msg_id: m.msg_id,
                latest_msg_data: display_data(store, m.msg_type, m.content),
                latest_msg_type: m.msg_type as i32,
                // The peer, whoever sent the last message (D-DB-16, kept).
                latest_msg_from_user_id: peer,
            });
        }
    }
    let groups = or_default(
        store.read(|c| group::groups_of_user(c, user)),
        "user groups",
    );
    for gid in groups {
        let Some(n) =
            or_default(counter::group_unread(store, user, gid), "group unread").filter(|n| *n > 0)
        else {
            continue;
        };
        let last = or_default(
            store.read(|c| msg::last_group(c, gid)),
            "last group message",
        );
        // Counted only together with a valid last message (KNOWN_DEFECTS D-DB-5).
        if let Some(m) = last.filter(|m| is_valid_type(m.msg_type)) {
            total = total.saturating_add(n);
            list.push(UnreadInfo {
                session_id: gid,
                session_type: GROUP as i32,
                unread_cnt: n,
                latest_msg_id: m.msg_id,
                latest_msg_data: display_data(store, m.msg_type, m.content),
                latest_msg_type: m.msg_type as i32,
                latest_msg_from_user_id: m.from,
            });
        }
    }
    let rsp = ImUnreadMsgCntRsp {
        user_id: user,
        total_cnt: total,
        unreadinfo_list: list,
        attach_data: req.attach_data,
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::MsgUnreadCntResponse,
        &rsp,
    ))
}

fn last_single_message(store: &Store, a: u32, b: u32) -> StoreResult<Option<msg::LastMsg>> {
    match relation_for(store, a, b, false)? {
        Some(relate) => store.read(|c| msg::last_single(c, relate)),
        None => Ok(None),
    }
}

/// 0x0309: a page of history, newest first (§8.6).
pub fn handle_get_msg_list_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImGetMsgListReq = parse(pdu)?;
    let kind = u32::try_from(req.session_type)
        .ok()
        .filter(|k| matches!(*k, SINGLE | GROUP))?;
    let rows = or_default(history_page(store, &req, kind), "message history");
    let rsp = ImGetMsgListRsp {
        user_id: req.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
        msg_id_begin: req.msg_id_begin,
        msg_list: to_msg_infos(store, rows),
        attach_data: req.attach_data,
    };
    Some(Pdu::reply(&pdu.header, CommandId::MsgListResponse, &rsp))
}

fn history_page(store: &Store, req: &ImGetMsgListReq, kind: u32) -> StoreResult<Vec<MsgRow>> {
    if kind == SINGLE {
        let Some(relate) = relation_for(store, req.user_id, req.session_id, false)? else {
            return Ok(Vec::new());
        };
        return store.read(|c| msg::page_single(c, relate, req.msg_id_begin, req.msg_cnt));
    }
    let Some(joined) = member::join_time(store, req.session_id, req.user_id)? else {
        return Ok(Vec::new());
    };
    store.read(|c| msg::page_group(c, req.session_id, req.msg_id_begin, req.msg_cnt, joined))
}

/// 0x030d: messages by id (§8.6b).
pub fn handle_get_msg_by_id_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImGetMsgByIdReq = parse(pdu)?;
    let kind = u32::try_from(req.session_type)
        .ok()
        .filter(|k| matches!(*k, SINGLE | GROUP))?;
    let rows = if req.msg_id_list.is_empty() {
        Vec::new()
    } else {
        or_default(messages_by_id(store, &req, kind), "messages by id")
    };
    let rsp = ImGetMsgByIdRsp {
        user_id: req.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
        msg_list: to_msg_infos(store, rows),
        attach_data: req.attach_data,
    };
    Some(Pdu::reply(&pdu.header, CommandId::MsgGetByMsgIdRes, &rsp))
}

fn messages_by_id(store: &Store, req: &ImGetMsgByIdReq, kind: u32) -> StoreResult<Vec<MsgRow>> {
    if kind == SINGLE {
        let Some(relate) = relation_for(store, req.user_id, req.session_id, false)? else {
            return Ok(Vec::new());
        };
        return store.read(|c| msg::by_ids_single(c, relate, &req.msg_id_list));
    }
    let Some(joined) = member::join_time(store, req.session_id, req.user_id)? else {
        return Ok(Vec::new());
    };
    store.read(|c| msg::by_ids_group(c, req.session_id, &req.msg_id_list, joined))
}

/// History rows as wire messages: invalid types dropped, audio rebuilt from msfs (§8.5b).
fn to_msg_infos(store: &Store, rows: Vec<MsgRow>) -> Vec<MsgInfo> {
    rows.into_iter()
        .filter(|r| is_valid_type(r.msg_type))
        .filter_map(|mut r| {
            if is_audio_type(r.msg_type) {
                r.content = audio_bytes(store, r.content)?;
            }
            Some(MsgInfo {
                msg_id: r.msg_id,
                from_session_id: r.from,
                create_time: r.created,
                msg_type: r.msg_type as i32,
                msg_data: r.content,
            })
        })
        .collect()
}

/// The audio message for stored content (a decimal IMAudio id): duration ‖ bytes when msfs
/// has them, else the id text; `None` (message dropped) when the lookup fails outright.
fn audio_bytes(store: &Store, content: Vec<u8>) -> Option<Vec<u8>> {
    let id = std::str::from_utf8(&content)
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()?;
    let row = match store.read(|c| audio::get(c, id)) {
        Ok(row) => row,
        Err(e) => {
            warn!("audio lookup failed: id={id} err={}", error_chain(&e));
            return None;
        }
    };
    let Some(row) = row.filter(|r| !r.path.is_empty() && r.size != 0 && r.duration != 0) else {
        return Some(content);
    };
    match store.msfs.download(&row.path, row.size as usize) {
        Ok(bytes) => {
            let mut out = Vec::with_capacity(4 + bytes.len());
            out.extend_from_slice(&row.duration.to_be_bytes());
            out.extend_from_slice(&bytes);
            Some(out)
        }
        Err(e) => {
            warn!("audio download failed: id={id} err={}", error_chain(&e));
            Some(content)
        }
    }
}

/// 0x030b: the latest message id of a conversation (§8.9); 0 for non-members of a group
/// (KNOWN_DEFECTS D-AUTH-6).
pub fn handle_get_latest_msg_id_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImGetLatestMsgIdReq = parse(pdu)?;
    let kind = u32::try_from(req.session_type)
        .ok()
        .filter(|k| matches!(*k, SINGLE | GROUP))?;
    let last = if kind == SINGLE {
        or_default(
            last_single_message(store, req.user_id, req.session_id),
            "latest msg id",
        )
    } else {
        let member = or_default(
            member::join_time(store, req.session_id, req.user_id),
            "group member",
        );
        match member {
            Some(_) => or_default(
                store.read(|c| msg::last_group(c, req.session_id)),
                "latest group msg id",
            ),
            None => None,
        }
    };
    let rsp = ImGetLatestMsgIdRsp {
        user_id: req.user_id,
        session_type: req.session_type,
        session_id: req.session_id,
        latest_msg_id: last.map_or(0, |m| m.msg_id),
        attach_data: req.attach_data,
    };
    Some(Pdu::reply(
        &pdu.header,
        CommandId::MsgGetLatestMsgIdRsp,
        &rsp,
    ))
}
