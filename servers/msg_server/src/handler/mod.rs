//! PDU handlers, one module per `.proto` package, and the two dispatch tables: commands from
//! clients and commands from back-end links (PROTOCOL §4, BEHAVIOUR §2–§5).
//!
//! Rules applied here for every client PDU, before any handler runs:
//! - a client sending more than [`PDUS_PER_SECOND`] PDUs in a second is cut off as a flood;
//! - before login only HEARTBEAT, LOGIN and registration are processed, and nothing after a
//!   kick (KNOWN_DEFECTS D-AUTH-1); everything else, the time request included, and unknown
//!   commands are ignored;
//! - a body that does not parse is ignored, the connection stays (PROTOCOL §2.1);
//! - a request over one of its bounds (`limits`) is answered with its failure answer or
//!   dropped, counted, and a connection with too many such requests is closed
//!   ([`within_bounds`], [`violation`]); every forward goes through [`forward`] or
//!   [`forward_tracked`], which check.
//!
//! A client request forwarded to a back end is entered in the pending table (`pending`), whose
//! id travels in the attach handle: its answer continues from the table entry, and when no
//! answer comes (the link closed, the deadline passed) the client gets the request's failure
//! answer ([`fail_pending`]). The attach is stripped before anything reaches a client
//! (D-LEAK-1).

mod buddy;
mod file;
mod group;
mod login;
mod message;
mod other;
mod push_round;
mod server;
mod switch_service;

use log::{debug, warn};
use netlib::{CloseReason, ConnHandle, ConnOptions, Handler, ListenerTag, Readiness, TimerId};
use prost::Message;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::{CommandId, Pdu};

use crate::limits::{Bounded, MAX_VIOLATIONS, Violation};
use crate::peer::client::{ClientConn, ClientState, PDUS_PER_SECOND};
use crate::peer::{ConnData, LinkKind};
use crate::pending::{Continuation, Failure, Pending};
use crate::state::{Caller, Ctx, State, client, client_mut};
use crate::wire;

/// Tag of the client listener.
pub(crate) const CLIENT_LISTENER: ListenerTag = ListenerTag(1);

impl Handler for State {
    type ConnData = ConnData;

    fn on_accept(&mut self, ctx: &mut Ctx, h: ConnHandle, _listener: ListenerTag) {
        if self.clients >= self.config.max_conn_cnt as usize {
            warn!(
                "refusing client, server full: handle={h} clients={} max={}",
                self.clients, self.config.max_conn_cnt
            );
            ctx.close(h);
            return;
        }
        let generation = self.generations.next();
        let peer = ctx.conn(h).and_then(netlib::Conn::peer);
        if let Some(data) = ctx.data_mut(h) {
            *data = ConnData::Client(ClientConn::new(generation, peer));
        }
        self.clients += 1;
        let now = ctx.now();
        self.watch_login(
            now,
            crate::peer::client::ClientRef {
                handle: h,
                generation,
            },
        );
    }

    fn on_connect(&mut self, ctx: &mut Ctx, h: ConnHandle) {
        let Some(up) = self.links.connected(h, ctx.now()) else {
            warn!("connect completed on an unknown link: handle={h}");
            ctx.close(h);
            return;
        };
        if let Some(data) = ctx.data_mut(h) {
            *data = ConnData::Link(up.kind);
        }
        server::link_up(self, ctx, h, up);
    }

    fn on_pdu(&mut self, ctx: &mut Ctx, h: ConnHandle, pdu: Pdu) {
        match ctx.data(h) {
            Some(ConnData::Client(_)) => client_pdu(self, ctx, h, pdu),
            Some(ConnData::Link(kind)) => {
                let kind = *kind;
                link_pdu(self, ctx, h, kind, pdu);
            }
            Some(ConnData::Dialing) | None => {}
        }
    }

    fn on_close(&mut self, ctx: &mut Ctx, h: ConnHandle, data: ConnData, reason: CloseReason) {
        match data {
            ConnData::Client(c) => server::client_closed(self, ctx, h, c, &reason),
            ConnData::Link(kind) => {
                self.counters.link_lost();
                warn!("back-end link lost: handle={h} kind={kind:?} reason={reason}");
                server::link_down(self, ctx, h, &reason);
            }
            ConnData::Dialing => server::link_down(self, ctx, h, &reason),
        }
    }

    fn refresh_metrics(&mut self, _ctx: &Ctx) {
        self.set_metric_gauges();
    }

    fn readiness(&self, _ctx: &Ctx) -> Readiness {
        self.required_links()
    }

    fn on_timer(&mut self, ctx: &mut Ctx, timer: TimerId) {
        if self.presence.is_timer(timer) {
            buddy::send_presence(self, ctx);
            return;
        }
        self.tick(ctx);
        let now = ctx.now();
        let expired = self.pending.expire(now);
        // A back end sends at least a heartbeat every few seconds: a link that brought nothing
        // at all since an expired request went out is dead though still open (a stalled peer
        // or a black hole), and is closed so its requests fail now and it is dialled again.
        let mut dead: Vec<ConnHandle> = expired
            .iter()
            .filter(|p| ctx.conn(p.link).is_some_and(|c| c.last_recv() <= p.sent))
            .map(|p| p.link)
            .collect();
        dead.sort_unstable();
        dead.dedup();
        for pending in expired {
            fail_pending(self, ctx, pending, "no answer in time");
        }
        for link in dead {
            warn!("closing a back-end link that stopped sending anything: handle={link}");
            ctx.close(link);
        }
    }
}

/// Options of accepted client connections: PDU framing with the client frame limit
/// (`MaxClientPduLen`, see `limits`), the PC idle timeout until a mobile client logs in, and a
/// write cap that cuts off a client that stops reading.
pub(crate) fn client_options(max_client_pdu_len: usize) -> ConnOptions {
    ConnOptions {
        idle_timeout: Some(server::PC_IDLE_TIMEOUT),
        max_input: max_client_pdu_len,
        max_write_buf: CLIENT_MAX_WRITE_BUF,
        ..ConnOptions::pdu()
    }
}

/// Output a client may leave unread before it is considered stalled and closed.
const CLIENT_MAX_WRITE_BUF: usize = 4 * 1024 * 1024;

fn client_pdu(st: &mut State, ctx: &mut Ctx, h: ConnHandle, pdu: Pdu) {
    let second = st.second;
    let Some(c) = client_mut(ctx, h) else {
        return;
    };
    if !c.count_pdu(second) {
        warn!("closing flooding client: handle={h} limit={PDUS_PER_SECOND}/s");
        ctx.close(h);
        return;
    }
    let Some(cmd) = pdu.command() else {
        debug!(
            "ignoring unknown command: handle={h} cmd=0x{:04x}",
            pdu.header.command_id
        );
        return;
    };
    let user_id = match c.state {
        ClientState::Open { user_id } => Some(user_id),
        ClientState::Kicked { .. } => return,
        ClientState::Fresh | ClientState::Validating { .. } => None,
    };
    match cmd {
        CommandId::OtherHeartbeat => return other::handle_heartbeat(ctx, h, &pdu),
        CommandId::LoginReqUserlogin => return login::handle_login_req(st, ctx, h, &pdu),
        CommandId::LoginReqRegist => return login::handle_regist_req(st, ctx, h, &pdu),
        _ => {}
    }
    let Some(user_id) = user_id else {
        debug!("ignoring command before login: handle={h} cmd={cmd}");
        return;
    };
    let me = Caller {
        handle: h,
        generation: c.generation,
        user_id,
        client_type: c.client_type,
    };
    match cmd {
        CommandId::MsgTimeRequest => message::handle_time_request(ctx, h, &pdu),
        CommandId::LoginReqLoginout => login::handle_logout_req(st, ctx, me, &pdu),
        CommandId::LoginReqDevicetoken => login::handle_device_token_req(st, ctx, me, &pdu),
        CommandId::LoginReqKickpcclient => login::handle_kick_pc_client_req(st, ctx, me, &pdu),
        CommandId::LoginReqPushShield => login::handle_push_shield_req(st, ctx, me, &pdu),
        CommandId::LoginReqQueryPushShield => {
            login::handle_query_push_shield_req(st, ctx, me, &pdu);
        }
        CommandId::BuddyListRecentContactSessionRequest => {
            buddy::handle_recent_contact_session_req(st, ctx, me, &pdu);
        }
        CommandId::BuddyListUserInfoRequest => buddy::handle_users_info_req(st, ctx, me, &pdu),
        CommandId::BuddyListRemoveSessionReq => {
            buddy::handle_remove_session_req(st, ctx, me, &pdu);
        }
        CommandId::BuddyListAllUserRequest => buddy::handle_all_user_req(st, ctx, me, &pdu),
        CommandId::BuddyListUsersStatusRequest => {
            buddy::handle_users_stat_req(st, ctx, me, &pdu);
        }
        CommandId::BuddyListChangeAvatarRequest => {
            buddy::handle_change_avatar_req(st, ctx, me, &pdu);
        }
        CommandId::BuddyListDepartmentRequest => buddy::handle_department_req(st, ctx, me, &pdu),
        CommandId::BuddyListChangeSignInfoRequest => {
            buddy::handle_change_sign_info_req(st, ctx, me, &pdu);
        }
        CommandId::MsgData => message::handle_msg_data(st, ctx, me, &pdu),
        CommandId::MsgDataAck => message::handle_msg_data_ack(ctx, me, &pdu),
        CommandId::MsgReadAck => message::handle_msg_data_read_ack(st, ctx, me, &pdu),
        CommandId::MsgUnreadCntRequest => message::handle_unread_msg_cnt_req(st, ctx, me, &pdu),
        CommandId::MsgListRequest => message::handle_get_msg_list_req(st, ctx, me, &pdu),
        CommandId::MsgGetLatestMsgIdReq => {
            message::handle_get_latest_msg_id_req(st, ctx, me, &pdu);
        }
        CommandId::MsgGetByMsgIdReq => message::handle_get_msg_by_id_req(st, ctx, me, &pdu),
        CommandId::GroupNormalListRequest => group::handle_normal_group_list_req(st, ctx, me, &pdu),
        CommandId::GroupInfoRequest => group::handle_group_info_list_req(st, ctx, me, &pdu),
        CommandId::GroupCreateRequest => group::handle_group_create_req(st, ctx, me, &pdu),
        CommandId::GroupChangeMemberRequest => {
            group::handle_group_change_member_req(st, ctx, me, &pdu);
        }
        CommandId::GroupShieldGroupRequest => group::handle_group_shield_req(st, ctx, me, &pdu),
        CommandId::FileRequest => file::handle_file_req(st, ctx, me, &pdu),
        CommandId::FileHasOfflineReq => file::handle_file_has_offline_req(st, ctx, me, &pdu),
        CommandId::FileAddOfflineReq => file::handle_file_add_offline_req(st, ctx, me, &pdu),
        CommandId::FileDelOfflineReq => file::handle_file_del_offline_req(st, ctx, me, &pdu),
        CommandId::SwitchP2pCmd => switch_service::handle_p2p_cmd_msg(st, ctx, me, &pdu),
        other => debug!("ignoring client command: handle={h} cmd={other}"),
    }
}

fn link_pdu(st: &mut State, ctx: &mut Ctx, h: ConnHandle, kind: LinkKind, pdu: Pdu) {
    let Some(cmd) = pdu.command() else {
        debug!(
            "ignoring unknown command from {kind:?}: handle={h} cmd=0x{:04x}",
            pdu.header.command_id
        );
        return;
    };
    match (kind, cmd) {
        (_, CommandId::OtherHeartbeat) => {}
        (LinkKind::Db, CommandId::OtherValidateRsp) => server::handle_validate_rsp(st, ctx, &pdu),
        (LinkKind::Db, CommandId::OtherStopRecvPacket) => {
            server::handle_stop_receive_packet(st, h);
        }
        (LinkKind::Db, CommandId::OtherGetDeviceTokenRsp) => {
            push_round::handle_get_device_token_rsp(st, ctx, &pdu);
        }
        (LinkKind::Db, CommandId::OtherGetShieldRsp) => {
            push_round::handle_group_get_shield_rsp(st, ctx, h, &pdu);
        }
        (LinkKind::Db, CommandId::MsgData) => message::handle_stored_msg_data(st, ctx, h, pdu),
        (LinkKind::Db, CommandId::BuddyListChangeSignInfoResponse) => {
            buddy::handle_change_sign_info_rsp(st, ctx, &pdu);
        }
        (LinkKind::Db, CommandId::BuddyListChangeAvatarResponse) => {
            buddy::handle_change_avatar_rsp(st, ctx, &pdu);
        }
        (LinkKind::Db, CommandId::GroupInfoResponse) => {
            group::handle_group_info_list_rsp(st, ctx, h, &pdu);
        }
        (LinkKind::Db, CommandId::GroupChangeMemberResponse) => {
            group::handle_group_change_member_rsp(st, ctx, &pdu);
        }
        (LinkKind::Db, CommandId::FileHasOfflineRes) => {
            file::handle_file_has_offline_rsp(st, ctx, &pdu);
        }
        (LinkKind::Db, CommandId::LoginResDevicetoken) => {
            debug!("device token stored: handle={h}");
        }
        (LinkKind::Db, CommandId::LoginResRegist) => login::handle_regist_res(st, ctx, &pdu),
        (
            LinkKind::Db,
            CommandId::BuddyListRecentContactSessionResponse
            | CommandId::BuddyListUserInfoResponse
            | CommandId::BuddyListRemoveSessionRes
            | CommandId::BuddyListAllUserResponse
            | CommandId::BuddyListDepartmentResponse
            | CommandId::MsgUnreadCntResponse
            | CommandId::MsgListResponse
            | CommandId::MsgGetLatestMsgIdRsp
            | CommandId::MsgGetByMsgIdRes
            | CommandId::LoginResPushShield
            | CommandId::LoginResQueryPushShield
            | CommandId::GroupNormalListResponse
            | CommandId::GroupCreateResponse
            | CommandId::GroupShieldGroupResponse,
        ) => relay_answer(st, ctx, &pdu),
        (LinkKind::Route, CommandId::MsgData) => message::handle_routed_msg_data(st, ctx, &pdu),
        (LinkKind::Route, CommandId::MsgReadNotify) => {
            message::handle_msg_data_read_notify(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::BuddyListStatusNotify) => {
            buddy::handle_user_stat_notify(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::BuddyListUsersStatusResponse) => {
            buddy::handle_users_stat_rsp(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::BuddyListRemoveSessionNotify) => {
            buddy::handle_remove_session_notify(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::BuddyListSignInfoChangedNotify) => {
            buddy::handle_sign_info_changed_notify(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::GroupChangeMemberNotify) => {
            group::handle_group_change_member_notify(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::FileNotify) => file::handle_file_notify(st, ctx, &pdu),
        (LinkKind::Route, CommandId::SwitchP2pCmd) => {
            switch_service::handle_routed_p2p_cmd_msg(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::OtherServerKickUser) => {
            server::handle_server_kick_user(st, ctx, &pdu);
        }
        (LinkKind::Route, CommandId::OtherLoginStatusNotify) => {
            server::handle_server_pc_login_status_notify(st, ctx, &pdu);
        }
        (LinkKind::Push, CommandId::OtherPushToUserRsp) => {
            push_round::handle_push_to_user_rsp(&pdu);
        }
        (LinkKind::File, CommandId::OtherFileServerIpRsp) => {
            file::handle_file_server_ip_rsp(st, h, &pdu);
        }
        (LinkKind::File, CommandId::OtherFileTransferRsp) => {
            file::handle_file_transfer_rsp(st, ctx, h, &pdu);
        }
        (kind, cmd) => debug!("ignoring command from {kind:?}: handle={h} cmd={cmd}"),
    }
}

/// Relays a back-end answer to the client whose pending request its attach names, if that
/// connection is still logged in as the answer's `user_id`; the attach is removed and the
/// header (seq) kept.
pub(crate) fn relay_answer(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(answer) = wire::split_answer(&pdu.body) else {
        debug!(
            "ignoring malformed answer: cmd=0x{:04x}",
            pdu.header.command_id
        );
        return;
    };
    let Some(pending) = st.answered(answer.attach, Continuation::Relay) else {
        debug!(
            "dropping answer without a pending request: cmd=0x{:04x}",
            pdu.header.command_id
        );
        return;
    };
    let Some(h) = st.requester(ctx, &pending, Some(answer.user_id)) else {
        debug!(
            "dropping answer for a gone client: cmd=0x{:04x} user={}",
            pdu.header.command_id, answer.user_id
        );
        return;
    };
    ctx.send_pdu_deferred(
        h,
        &Pdu {
            header: pdu.header,
            body: answer.stripped,
        },
    );
}

/// What becomes of a request over one of its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The caller sends the request's failure answer.
    Answered,
    /// The request has no failure answer: it is dropped.
    Dropped,
}

/// Counts a client request over a bound (or a rate) and closes the client once it has
/// [`MAX_VIOLATIONS`]: well-behaved clients never come near a bound, so repeats are abuse.
pub(crate) fn violation(st: &State, ctx: &mut Ctx, h: ConnHandle, v: Violation, r: Refusal) {
    match r {
        Refusal::Answered => st.counters.refused(),
        Refusal::Dropped => st.counters.dropped(),
    }
    if matches!(v, Violation::TooFrequent { .. }) {
        st.counters.rate_limited();
    }
    let Some(c) = client_mut(ctx, h) else {
        return;
    };
    c.violations = c.violations.saturating_add(1);
    if c.violations < MAX_VIOLATIONS {
        debug!("request over a bound: handle={h} refusal={r:?} violation={v}");
        return;
    }
    st.counters.abusive_client_closed();
    warn!(
        "closing abusive client: handle={h} violations={} last={v}",
        c.violations
    );
    ctx.close(h);
}

/// Checks a parsed client request against its bounds; over one, counts it (see
/// [`violation`]) and returns `false`, and the caller answers with `r` in mind.
pub(crate) fn within_bounds<M: Bounded>(
    st: &State,
    ctx: &mut Ctx,
    h: ConnHandle,
    msg: &M,
    r: Refusal,
) -> bool {
    match msg.check(&st.bounds) {
        Ok(()) => true,
        Err(v) => {
            violation(st, ctx, h, v, r);
            false
        }
    }
}

/// Parses a client request as `M`, checks its bounds, lets `edit` stamp it, and forwards it
/// on `link` (if any) keeping the client's header (PROTOCOL §2.2). Returns the edited message,
/// `None` if the body did not parse or is over a bound (then dropped and counted).
pub(crate) fn forward<M: Message + prost::Name + Default + Bounded>(
    st: &State,
    ctx: &mut Ctx,
    h: ConnHandle,
    link: Option<ConnHandle>,
    pdu: &Pdu,
    edit: impl FnOnce(&mut M),
) -> Option<M> {
    let Ok(mut msg) = pdu.parse::<M>() else {
        debug!(
            "ignoring unparsable request: cmd=0x{:04x}",
            pdu.header.command_id
        );
        return None;
    };
    if !within_bounds(st, ctx, h, &msg, Refusal::Dropped) {
        return None;
    }
    edit(&mut msg);
    if let Some(link) = link {
        ctx.send_pdu_deferred(link, &Pdu::forward(&pdu.header, &msg));
    }
    Some(msg)
}

/// The attach layouts a tracked request may carry (PROTOCOL §5.3): the original picks one per
/// command, and the C++ back ends echo it as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttachForm {
    /// `CDbAttachData`: 12 bytes.
    Db,
    /// `CPduAttachData` with an empty pdu: 16 bytes.
    Pdu,
}

impl AttachForm {
    /// The attach bytes naming pending request `id`.
    pub(crate) fn encode(self, id: u32) -> Vec<u8> {
        match self {
            Self::Db => teamtalk_proto::DbAttachData::handle(id).encode(),
            Self::Pdu => {
                teamtalk_proto::PduAttachData::new(attach_type::HANDLE, id, Vec::new()).encode()
            }
        }
    }
}

/// A client request msg_server forwards on the client's behalf: it has the requester's
/// `user_id` (overwritten with the authenticated id, PROTOCOL §4.8) and an `attach_data`.
pub(crate) trait Request: Message + prost::Name + Default {
    /// Sets `user_id` and `attach_data`.
    fn stamp(&mut self, user_id: u32, attach: Vec<u8>);
}

macro_rules! requests {
    ($($t:ty),* $(,)?) => {
        $(impl Request for $t {
            fn stamp(&mut self, user_id: u32, attach: Vec<u8>) {
                self.user_id = user_id;
                self.attach_data = Some(attach);
            }
        })*
    };
}

requests!(
    teamtalk_proto::pb::buddy::ImRecentContactSessionReq,
    teamtalk_proto::pb::buddy::ImUsersInfoReq,
    teamtalk_proto::pb::buddy::ImRemoveSessionReq,
    teamtalk_proto::pb::buddy::ImAllUserReq,
    teamtalk_proto::pb::buddy::ImDepartmentReq,
    teamtalk_proto::pb::buddy::ImUsersStatReq,
    teamtalk_proto::pb::buddy::ImChangeSignInfoReq,
    teamtalk_proto::pb::message::ImUnreadMsgCntReq,
    teamtalk_proto::pb::message::ImGetMsgListReq,
    teamtalk_proto::pb::message::ImGetLatestMsgIdReq,
    teamtalk_proto::pb::message::ImGetMsgByIdReq,
    teamtalk_proto::pb::group::ImNormalGroupListReq,
    teamtalk_proto::pb::group::ImGroupInfoListReq,
    teamtalk_proto::pb::group::ImGroupCreateReq,
    teamtalk_proto::pb::group::ImGroupChangeMemberReq,
    teamtalk_proto::pb::group::ImGroupShieldReq,
    teamtalk_proto::pb::login::ImPushShieldReq,
    teamtalk_proto::pb::login::ImQueryPushShieldReq,
    teamtalk_proto::pb::file::ImFileHasOfflineReq,
);

/// Forwards a client request on `link` like [`forward`], stamped with the caller's id and
/// entered in the pending table: the answer relays to the client, and when none comes the
/// client gets `failure(&request, &header)` instead. Returns the stamped request, `None` if
/// the body did not parse.
pub(crate) fn forward_tracked<M: Request + Bounded>(
    st: &mut State,
    ctx: &mut Ctx,
    me: Caller,
    link: Option<ConnHandle>,
    pdu: &Pdu,
    form: AttachForm,
    failure: impl FnOnce(&M, &teamtalk_proto::PduHeader) -> Failure,
) -> Option<M> {
    let Ok(mut msg) = pdu.parse::<M>() else {
        debug!(
            "ignoring unparsable request: cmd=0x{:04x}",
            pdu.header.command_id
        );
        return None;
    };
    if !within_bounds(st, ctx, me.handle, &msg, Refusal::Dropped) {
        return None;
    }
    let Some(link) = link else {
        msg.stamp(me.user_id, Vec::new());
        return Some(msg);
    };
    msg.stamp(me.user_id, Vec::new());
    let failure = failure(&msg, &pdu.header);
    let id = st.track(
        ctx.now(),
        me.client_ref(),
        link,
        Continuation::Relay,
        failure,
    );
    msg.stamp(me.user_id, form.encode(id));
    ctx.send_pdu_deferred(link, &Pdu::forward(&pdu.header, &msg));
    Some(msg)
}

/// The failure of a request the protocol has no failure answer for.
pub(crate) fn silent<M>(_: &M, _: &teamtalk_proto::PduHeader) -> Failure {
    Failure::Silent
}

/// A failure answer to the request with `header`: `cmd` carrying `msg`.
pub(crate) fn failure_answer(
    header: &teamtalk_proto::PduHeader,
    cmd: CommandId,
    msg: &impl Message,
) -> Failure {
    Failure::Answer(Pdu::reply(header, cmd, msg))
}

/// A pending request ended without an answer (`why`): its client, if still there, gets the
/// request's failure answer.
pub(crate) fn fail_pending(st: &mut State, ctx: &mut Ctx, pending: Pending, why: &str) {
    if let Failure::FanOutAgain {
        group,
        from,
        body,
        attempt,
    } = pending.failure
    {
        let push = matches!(pending.continuation, Continuation::FanOut { push: true });
        if attempt >= crate::pending::FAN_OUT_ATTEMPTS {
            warn!("group message fan-out given up: group={group} from={from} why={why}");
            return;
        }
        debug!("asking for group members again: group={group} attempt={attempt} why={why}");
        let fan_out = message::FanOut {
            group,
            from,
            origin: pending.client,
            push,
        };
        message::request_group_fan_out(st, ctx, fan_out, body, attempt + 1);
        return;
    }
    let Some(h) = st.requester(ctx, &pending, None) else {
        return;
    };
    match pending.failure {
        Failure::Silent => debug!(
            "request failed, nothing to answer: handle={h} kind={:?} why={why}",
            pending.continuation
        ),
        Failure::Answer(answer) => {
            if client(ctx, h).is_some_and(|c| !matches!(c.state, ClientState::Kicked { .. })) {
                debug!(
                    "request failed, answered: handle={h} cmd=0x{:04x} why={why}",
                    answer.header.command_id
                );
                ctx.send_pdu_deferred(h, &answer);
            }
        }
        Failure::FanOutAgain { .. } => {}
        Failure::RefuseLogin { seq } => {
            if client(ctx, h).is_some_and(|c| matches!(c.state, ClientState::Validating { .. })) {
                log::debug!("refusing login, db_proxy gave no answer: handle={h} why={why}");
                login::refuse_login(
                    st,
                    ctx,
                    h,
                    seq,
                    teamtalk_proto::pb::base_define::ResultType::RefuseReasonNoDbServer,
                    login::SERVER_ERROR_TEXT.to_owned(),
                );
            }
        }
    }
}

/// A reply to a client request: fresh header, the request's seq.
pub(crate) fn reply(
    ctx: &mut Ctx,
    h: ConnHandle,
    request: &Pdu,
    cmd: CommandId,
    msg: &impl Message,
) {
    ctx.send_pdu_deferred(h, &Pdu::reply(&request.header, cmd, msg));
}
