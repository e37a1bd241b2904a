//! `IM.Message`: chat messages up to db_proxy and down to recipients (BEHAVIOUR §2.7–§2.10,
//! §3.1–§3.2), acks, read acks and the forwarded history queries.
//!
//! The whole chat-delivery flow reads top to bottom here: a client's message is checked and
//! sent to db_proxy as a pending request ([`handle_msg_data`]); the stored answer acks the
//! sender and goes to route_server, single chat is delivered at once and the push round
//! starts with the device-token query ([`handle_stored_msg_data`]); a group message first asks
//! for its members ([`request_group_fan_out`], a pending request asked again on another link
//! when lost) and is delivered when they come ([`fan_out`]); copies relayed by route_server
//! are delivered without a push round ([`handle_routed_msg_data`]). The push round continues
//! in `handler::push_round`.
//!
//! A message goes to db_proxy with the client's own `create_time` appended
//! ([`MsgDataResend`]), so db_proxy recognises the same message sent again after a lost ack;
//! an answer marked duplicate is acked to the sender and delivered to nobody if this server
//! delivered the first copy (`delivered`), and delivered as usual if it did not (the first
//! answer was lost with its link). Those fields never leave this hop: what goes on to
//! route_server and to clients is re-encoded without them.

use log::{debug, info};
use netlib::ConnHandle;
use prost::Message;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::pb::base_define::{GroupVersionInfo, SessionType};
use teamtalk_proto::pb::group::{ImGroupInfoListReq, ImGroupInfoListRsp};
use teamtalk_proto::pb::message::{
    ImClientTimeRsp, ImGetLatestMsgIdReq, ImGetMsgByIdReq, ImGetMsgListReq, ImMsgData,
    ImMsgDataAck, ImMsgDataReadAck, ImMsgDataReadNotify, ImUnreadMsgCntReq,
};
use teamtalk_proto::pb::server::{ImGetDeviceTokenReq, ImGroupGetShieldReq};
use teamtalk_proto::{CommandId, DbAttachData, MsgDataResend, Pdu, PduAttachData};

use super::{AttachForm, Refusal, forward, forward_tracked, reply, silent, within_bounds};
use crate::peer::client::{ClientRef, MSGS_PER_SECOND, MsgSlot};
use crate::pending::{Continuation, Failure};
use crate::push::is_group;
use crate::state::{Caller, Ctx, State, client_mut, unix_now};
use crate::wire;

/// 0x0305: the server's clock.
pub(crate) fn handle_time_request(ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    let rsp = ImClientTimeRsp {
        server_time: unix_now(),
    };
    reply(ctx, h, pdu, CommandId::MsgTimeResponse, &rsp);
}

/// 0x0301 from a client: checked, stamped with the sender and time, and sent to db_proxy to
/// be stored; delivery happens when db_proxy answers with the message id.
pub(crate) fn handle_msg_data(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(mut msg) = pdu.parse::<ImMsgData>() else {
        return;
    };
    // Text over 4096 bytes or audio over 2 MiB is discarded like an empty message (D-MS-10).
    if msg.msg_data.is_empty() {
        debug!("discarding empty message: handle={}", me.handle);
        return;
    }
    if !within_bounds(st, ctx, me.handle, &msg, Refusal::Dropped) {
        return;
    }
    // Messages to oneself are refused on the authenticated id (D-MS-12).
    if !is_group(msg.msg_type) && msg.to_session_id == me.user_id {
        return;
    }
    let second = st.second;
    match client_mut(ctx, me.handle).map(|c| c.take_msg_slot(second)) {
        Some(MsgSlot::Granted) => {}
        Some(MsgSlot::FirstRefused) => {
            // Once per second and client: a flood must not flood the log too.
            info!(
                "discarding messages over the rate limit: handle={} user={} limit={}/s",
                me.handle, me.user_id, MSGS_PER_SECOND
            );
            return;
        }
        Some(MsgSlot::Refused) | None => return,
    }
    let Some(link) = st.links.db.for_business(me.spread()) else {
        debug!("no db_proxy, message dropped: user={}", me.user_id);
        return;
    };
    if st.log_messages {
        info!(
            "message: from={} to={} type={} len={}",
            me.user_id,
            msg.to_session_id,
            msg.msg_type,
            msg.msg_data.len()
        );
    }
    let client_time = msg.create_time;
    msg.from_user_id = me.user_id;
    msg.create_time = unix_now();
    // No failure answer exists for a message: without an ack the client sends it again, and
    // db_proxy recognises the copy if the first one was stored after all.
    let id = st.track(
        ctx.now(),
        me.client_ref(),
        link,
        Continuation::Deliver,
        Failure::Silent,
    );
    msg.attach_data = Some(DbAttachData::handle(id).encode());
    let mut up = Pdu::forward(&pdu.header, &msg);
    if client_time != 0 {
        MsgDataResend {
            client_create_time: Some(client_time),
            duplicate: None,
        }
        .append_to(&mut up.body);
    }
    if ctx.send_pdu_deferred(link, &up) {
        st.stats.upstream.inc();
    }
}

/// 0x0301 from db_proxy: the stored message with its id. Ack the sender, relay to the other
/// msg_servers, deliver here, start the push round.
pub(crate) fn handle_stored_msg_data(st: &mut State, ctx: &mut Ctx, db: ConnHandle, pdu: Pdu) {
    let Ok(mut msg) = pdu.parse::<ImMsgData>() else {
        return;
    };
    if msg.msg_id == 0 {
        debug!("message not stored: from={}", msg.from_user_id);
        return;
    }
    let resend = MsgDataResend::read(&pdu.body);
    // Without the resend fields from here on (the attach is still in `msg`).
    let pdu = if resend == MsgDataResend::default() {
        pdu
    } else {
        Pdu {
            header: pdu.header,
            body: msg.encode_to_vec(),
        }
    };
    let attach = msg.attach_data.take().unwrap_or_default();
    // The message is stored whatever became of its request: recipients get it even when the
    // sender's entry ended (the sender was then told nothing and will send it again).
    st.metrics.messages_stored.inc();
    let request = st.answered(&attach, Continuation::Deliver);
    let sender = request
        .as_ref()
        .and_then(|r| st.requester(ctx, r, Some(msg.from_user_id)));
    let origin = request.map_or(ClientRef::NOBODY, |r| r.client);
    let group = is_group(msg.msg_type);
    if let Some(sender) = sender {
        let session_type = if group {
            SessionType::Group
        } else {
            SessionType::Single
        };
        let ack = ImMsgDataAck {
            user_id: msg.from_user_id,
            session_id: msg.to_session_id,
            msg_id: msg.msg_id,
            session_type: session_type as i32,
        };
        ctx.send_pdu_deferred(
            sender,
            &Pdu::new(CommandId::MsgDataAck, pdu.header.seq_num, &ack),
        );
    }
    let delivery = (msg.from_user_id, msg.to_session_id, group, msg.msg_id);
    if resend.duplicate == Some(true) && st.delivered.contains(&delivery) {
        debug!(
            "message sent again, acked without delivery: from={} msg_id={}",
            msg.from_user_id, msg.msg_id
        );
        return;
    }
    st.delivered.record(delivery);
    st.relay_to_route(ctx, &pdu);
    if group {
        let fan_out = FanOut {
            group: msg.to_session_id,
            from: msg.from_user_id,
            origin,
            push: true,
        };
        request_group_fan_out(st, ctx, fan_out, pdu.body, 1);
        return;
    }
    let body = msg.encode_to_vec();
    let bytes = Pdu {
        header: teamtalk_proto::PduHeader {
            seq_num: 0,
            ..pdu.header
        },
        body,
    }
    .encode();
    deliver_single(st, ctx, &msg, &bytes, sender);
    // The token query goes out whether or not a push_server is connected, as from the
    // original: db_proxy sees the same requests either way.
    let req = ImGetDeviceTokenReq {
        user_id: vec![msg.to_session_id],
        attach_data: Some(msg.encode_to_vec()),
    };
    ctx.send_pdu_deferred(db, &Pdu::new(CommandId::OtherGetDeviceTokenReq, 0, &req));
}

/// Delivers a single-chat message to the sender's other connections and the recipient's
/// connections here, tracking each copy until it is acked. Returns whether any connection
/// got it.
fn deliver_single(
    st: &mut State,
    ctx: &mut Ctx,
    msg: &ImMsgData,
    bytes: &[u8],
    except: Option<ConnHandle>,
) -> bool {
    let mut targets: Vec<ConnHandle> = st
        .users
        .conns(msg.from_user_id)
        .iter()
        .copied()
        .filter(|&h| Some(h) != except)
        .collect();
    targets.extend_from_slice(st.users.conns(msg.to_session_id));
    for &h in &targets {
        st.deliver_tracked(ctx, h, bytes, msg.msg_id, msg.from_user_id);
    }
    !targets.is_empty()
}

/// A stored group message waiting for its member list.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FanOut {
    /// The group.
    pub(crate) group: u32,
    /// The sender.
    pub(crate) from: u32,
    /// The sender's connection, which does not get its own message; `ClientRef::NOBODY` for
    /// a message relayed by route_server or whose sender's request ended.
    pub(crate) origin: ClientRef,
    /// Whether this server stored the message and runs its push round (D-PUSH-3).
    pub(crate) push: bool,
}

/// Asks db_proxy for the group's members so the message can be fanned out (the answer comes
/// to `group::handle_group_info_list_rsp`), entered in the pending table so that a lost link
/// or a missing answer asks again on another link (`attempt` counts from 1).
/// `stored_body` is the db_proxy body, attach included, carried in the attach as the
/// original does.
pub(crate) fn request_group_fan_out(
    st: &mut State,
    ctx: &mut Ctx,
    fan_out: FanOut,
    stored_body: Vec<u8>,
    attempt: u8,
) {
    // Each attempt starts from another link, so a dead one is not asked twice.
    let spread = (fan_out.group as usize).wrapping_add(usize::from(attempt) - 1);
    let Some(link) = st.links.db.for_business(spread) else {
        debug!(
            "no db_proxy, group message not fanned out: group={}",
            fan_out.group
        );
        return;
    };
    let failure = Failure::FanOutAgain {
        group: fan_out.group,
        from: fan_out.from,
        body: stored_body.clone(),
        attempt,
    };
    let id = st.track(
        ctx.now(),
        fan_out.origin,
        link,
        Continuation::FanOut { push: fan_out.push },
        failure,
    );
    let attach = PduAttachData::new(attach_type::HANDLE_AND_PDU, id, stored_body);
    let req = ImGroupInfoListReq {
        user_id: fan_out.from,
        group_version_list: vec![GroupVersionInfo {
            group_id: fan_out.group,
            version: 0,
        }],
        attach_data: Some(attach.encode()),
    };
    ctx.send_pdu_deferred(link, &Pdu::new(CommandId::GroupInfoRequest, 0, &req));
}

/// 0x0404 for a stored group message (the member list its fan-out asked for): every member's
/// connection here gets the message but the sender's, and the server that stored it starts
/// the push round with the members' shields.
pub(crate) fn fan_out(
    st: &mut State,
    ctx: &mut Ctx,
    db: ConnHandle,
    rsp: &ImGroupInfoListRsp,
    attach: PduAttachData,
) {
    let attach_bytes = rsp.attach_data.as_deref().unwrap_or_default();
    // A late answer whose request was already asked again finds no entry: the newer one
    // fans out, so members get the message once.
    let Some(request) = st.answered(attach_bytes, Continuation::FanOut { push: false }) else {
        debug!("dropping a member list without a pending fan-out");
        return;
    };
    let push = matches!(request.continuation, Continuation::FanOut { push: true });
    let Some(group) = rsp.group_info_list.first() else {
        return;
    };
    let Ok(msg) = ImMsgData::decode(attach.pdu.as_slice()) else {
        return;
    };
    if !group.group_member_list.contains(&msg.from_user_id) {
        debug!(
            "dropping group message from a non-member: group={} from={}",
            group.group_id, msg.from_user_id
        );
        return;
    }
    // A fresh PDU (seq 0) whose body is the stored message without its attach (D-LEAK-1).
    let bytes = Pdu::from_body(CommandId::MsgData, 0, wire::strip_attach(&attach.pdu)).encode();
    let origin = st.requester(ctx, &request, None);
    for &member in &group.group_member_list {
        for &h in st.users.conns(member) {
            if Some(h) != origin && ctx.send_deferred(h, &bytes) {
                st.stats.downstream.inc();
            }
        }
    }
    // Only the msg_server that stored the message pushes; relayed copies do not (KNOWN_DEFECTS
    // D-PUSH-3). The query goes out whether or not a push_server is connected, and carries
    // the stored body as the original does, its attach included: that attach only travels
    // between servers.
    if push {
        let req = ImGroupGetShieldReq {
            group_id: group.group_id,
            user_id: group.group_member_list.clone(),
            attach_data: Some(attach.pdu),
        };
        ctx.send_pdu_deferred(db, &Pdu::new(CommandId::OtherGetShieldReq, 0, &req));
    }
}

/// 0x0301 relayed by route_server: a message stored by another msg_server. Single chat is
/// delivered to both parties' connections here (the sender's seq kept, the attach removed),
/// unless this server delivered it already: route_server sends a recent message again to a
/// link that reports a login of its addressee after the message went out, and a link that
/// reconnected is a new link to it, so a copy may come twice; a msg_server whose route link
/// closed also relays its last relays again (`peer::route`). Group chat is fanned out here
/// too, without a push round (D-PUSH-3), once per message.
pub(crate) fn handle_routed_msg_data(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(mut msg) = pdu.parse::<ImMsgData>() else {
        return;
    };
    if msg.msg_id == 0 {
        return;
    }
    if is_group(msg.msg_type) {
        let delivery = (msg.from_user_id, msg.to_session_id, true, msg.msg_id);
        if st.delivered.contains(&delivery) {
            debug!(
                "routed group message fanned out before, dropped: from={} group={} msg_id={}",
                msg.from_user_id, msg.to_session_id, msg.msg_id
            );
            return;
        }
        st.delivered.record(delivery);
        let fan_out = FanOut {
            group: msg.to_session_id,
            from: msg.from_user_id,
            origin: ClientRef::NOBODY,
            push: false,
        };
        request_group_fan_out(st, ctx, fan_out, pdu.body.clone(), 1);
        return;
    }
    let delivery = (msg.from_user_id, msg.to_session_id, false, msg.msg_id);
    if st.delivered.contains(&delivery) {
        debug!(
            "routed message delivered before, dropped: from={} msg_id={}",
            msg.from_user_id, msg.msg_id
        );
        return;
    }
    msg.attach_data = None;
    let bytes = Pdu::forward(&pdu.header, &msg).encode();
    // Recorded only when a connection got it: a copy that reached nobody here may come again
    // after one of the parties logged in, and must be delivered then.
    if deliver_single(st, ctx, &msg, &bytes, None) {
        st.delivered.record(delivery);
    }
}

/// 0x0302 from a client: it received a single-chat message.
pub(crate) fn handle_msg_data_ack(ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(ack) = pdu.parse::<ImMsgDataAck>() else {
        return;
    };
    if ack.session_type == SessionType::Single as i32 {
        if let Some(c) = client_mut(ctx, me.handle) {
            c.ack(ack.msg_id, ack.session_id);
        }
    }
}

/// 0x0303: the user read a session; db_proxy clears the counters and the user's other
/// connections (here and elsewhere) are told.
pub(crate) fn handle_msg_data_read_ack(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let Some(ack) =
        forward::<ImMsgDataReadAck>(st, ctx, me.handle, link, pdu, |m| m.user_id = me.user_id)
    else {
        return;
    };
    let notify = ImMsgDataReadNotify {
        user_id: me.user_id,
        session_id: ack.session_id,
        msg_id: ack.msg_id,
        session_type: ack.session_type,
    };
    let notify = Pdu::new(CommandId::MsgReadNotify, 0, &notify);
    st.send_to_user(ctx, me.user_id, &notify.encode(), Some(me.handle));
    st.relay_to_route(ctx, &notify);
    if ack.session_type == SessionType::Single as i32 {
        if let Some(c) = client_mut(ctx, me.handle) {
            c.ack(ack.msg_id, ack.session_id);
        }
    }
}

/// 0x0304 relayed by route_server: to every connection of the reader here.
pub(crate) fn handle_msg_data_read_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if let Ok(n) = pdu.parse::<ImMsgDataReadNotify>() {
        st.send_to_user(ctx, n.user_id, &pdu.encode(), None);
    }
}

/// 0x0307: unread counters (login pool).
pub(crate) fn handle_unread_msg_cnt_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_login(me.spread());
    forward_tracked::<ImUnreadMsgCntReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x0309: a page of history (login pool).
pub(crate) fn handle_get_msg_list_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_login(me.spread());
    forward_tracked::<ImGetMsgListReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x030b: the latest message id of a session (business pool).
pub(crate) fn handle_get_latest_msg_id_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    forward_tracked::<ImGetLatestMsgIdReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}

/// 0x030d: messages by id (login pool).
pub(crate) fn handle_get_msg_by_id_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_login(me.spread());
    forward_tracked::<ImGetMsgByIdReq>(st, ctx, me, link, pdu, AttachForm::Db, silent);
}
