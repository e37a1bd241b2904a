//! `IM.File`: file-transfer signalling (BEHAVIOUR §5.1). msg_server asks a file_server for a
//! task, tells both parties where to connect, and forwards offline-file records to db_proxy.
//! The file bytes never pass through here.

use log::{debug, warn};
use netlib::ConnHandle;
use prost::Message;
use teamtalk_proto::attach::attach_type;
use teamtalk_proto::pb::base_define::TransferFileType;
use teamtalk_proto::pb::buddy::ImUsersStatReq;
use teamtalk_proto::pb::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
    ImFileNotify, ImFileReq, ImFileRsp,
};
use teamtalk_proto::pb::server::{ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp};
use teamtalk_proto::{CommandId, Pdu, PduAttachData, PduHeader};

use super::{
    AttachForm, Refusal, fail_pending, failure_answer, forward, forward_tracked, reply,
    within_bounds,
};
use crate::peer::client::{ClientConn, ClientRef};
use crate::pending::{Continuation, Failure, Pending};
use crate::state::{Caller, Ctx, State};
use crate::wire;

/// `result_code` of an IMFileRsp when no file_server can take the transfer.
const FAILED: u32 = 1;

/// 0x0506: a user wants to send a file. Offline transfers go straight to a file_server;
/// online ones first check the recipient is online on a PC (file transfer needs a PC peer).
/// Each leg (presence from route_server, the task from file_server) is a pending request: a
/// lost link or no answer in time gets the requester IMFileRsp `result_code` 1.
pub(crate) fn handle_file_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(req) = pdu.parse::<ImFileReq>() else {
        return;
    };
    let seq = pdu.header.seq_num;
    let mut transfer = ImFileTransferReq {
        from_user_id: me.user_id,
        to_user_id: req.to_user_id,
        file_name: req.file_name.clone(),
        file_size: req.file_size,
        trans_mode: req.trans_mode,
        attach_data: None,
    };
    if !within_bounds(st, ctx, me.handle, &req, Refusal::Answered) {
        transfer.file_name.clear();
        refuse(ctx, me.handle, seq, &transfer);
        return;
    }
    let Some(link) = st.pick_file_link() else {
        refuse(ctx, me.handle, seq, &transfer);
        return;
    };
    let failure = failure_answer(&pdu.header, CommandId::FileResponse, &refusal(&transfer));
    let offline = req.trans_mode == TransferFileType::FileTypeOffline as i32;
    let pc_online_here = st.users.get(req.to_user_id).is_some_and(|u| u.pc_online);
    if offline || pc_online_here {
        request_task(st, ctx, me.client_ref(), link, transfer, seq, failure);
        return;
    }
    // The recipient's presence decides the mode. Without route_server the original sends
    // nothing at all (the client waits in vain); here the request is refused at once.
    let Some(route) = st.links.route.master() else {
        debug!(
            "no route_server, online file request refused: user={}",
            me.user_id
        );
        refuse(ctx, me.handle, seq, &transfer);
        return;
    };
    let id = st.track(
        ctx.now(),
        me.client_ref(),
        route,
        Continuation::FilePresence,
        failure,
    );
    let attach = PduAttachData::new(
        attach_type::HANDLE_AND_PDU_FOR_FILE,
        id,
        transfer.encode_to_vec(),
    );
    let stat = ImUsersStatReq {
        user_id: me.user_id,
        user_id_list: vec![req.to_user_id],
        attach_data: Some(attach.encode()),
    };
    ctx.send_pdu_deferred(
        route,
        &Pdu::new(CommandId::BuddyListUsersStatusRequest, seq, &stat),
    );
}

/// Asks file_server `link` for a transfer task on behalf of `client`, entered as a pending
/// request that fails with `failure`.
fn request_task(
    st: &mut State,
    ctx: &mut Ctx,
    client: ClientRef,
    link: ConnHandle,
    mut transfer: ImFileTransferReq,
    seq: u16,
    failure: Failure,
) {
    let id = st.track(ctx.now(), client, link, Continuation::FileTransfer, failure);
    transfer.attach_data = Some(AttachForm::Db.encode(id));
    ctx.send_pdu_deferred(
        link,
        &Pdu::new(CommandId::OtherFileTransferReq, seq, &transfer),
    );
}

/// The IMFileRsp that tells the requester no transfer task could be created.
fn refusal(transfer: &ImFileTransferReq) -> ImFileRsp {
    ImFileRsp {
        result_code: FAILED,
        from_user_id: transfer.from_user_id,
        to_user_id: transfer.to_user_id,
        file_name: transfer.file_name.clone(),
        task_id: String::new(),
        ip_addr_list: Vec::new(),
        trans_mode: transfer.trans_mode,
    }
}

/// Tells the requester no transfer task could be created.
fn refuse(ctx: &mut Ctx, h: ConnHandle, seq: u16, transfer: &ImFileTransferReq) {
    let rsp = refusal(transfer);
    ctx.send_pdu_deferred(h, &Pdu::new(CommandId::FileResponse, seq, &rsp));
}

/// The recipient's presence for an online transfer arrived (attach type 5, `online` unless the
/// answer was malformed): the transfer goes to a file_server as ONLINE or OFFLINE
/// accordingly.
pub(crate) fn transfer_after_presence(
    st: &mut State,
    ctx: &mut Ctx,
    pending: Pending,
    attach: &PduAttachData,
    online: Option<bool>,
    seq: u16,
) {
    let (Some(online), Ok(mut transfer)) =
        (online, ImFileTransferReq::decode(attach.pdu.as_slice()))
    else {
        fail_pending(st, ctx, pending, "malformed presence answer");
        return;
    };
    transfer.trans_mode = if online {
        TransferFileType::FileTypeOnline
    } else {
        TransferFileType::FileTypeOffline
    } as i32;
    match st.pick_file_link() {
        Some(link) => request_task(
            st,
            ctx,
            pending.client,
            link,
            transfer,
            seq,
            pending.failure,
        ),
        None => fail_pending(st, ctx, pending, "no file_server"),
    }
}

/// Sends an IMFileNotify to the recipient's PC connections here and to route_server, which
/// passes it to the other msg_servers.
pub(crate) fn notify_file(st: &mut State, ctx: &mut Ctx, notify: &ImFileNotify) {
    let pdu = Pdu::new(CommandId::FileNotify, 0, notify);
    st.send_to_user_where(ctx, notify.to_user_id, &pdu.encode(), |c: &ClientConn| {
        !c.is_mobile()
    });
    st.relay_to_route(ctx, &pdu);
}

/// 0x0508 relayed by route_server: to every connection of the recipient here.
pub(crate) fn handle_file_notify(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    if let Ok(n) = pdu.parse::<ImFileNotify>() {
        st.send_to_user(ctx, n.to_user_id, &pdu.encode(), None);
    }
}

/// 0x0509: offline files waiting for the user; answered empty without db_proxy.
pub(crate) fn handle_file_has_offline_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let rsp = ImFileHasOfflineRsp {
        user_id: me.user_id,
        ..Default::default()
    };
    let failed = |_: &ImFileHasOfflineReq, header: &PduHeader| {
        failure_answer(header, CommandId::FileHasOfflineRes, &rsp)
    };
    let sent =
        forward_tracked::<ImFileHasOfflineReq>(st, ctx, me, link, pdu, AttachForm::Db, failed);
    if sent.is_some() && link.is_none() {
        reply(ctx, me.handle, pdu, CommandId::FileHasOfflineRes, &rsp);
    }
}

/// 0x050a from db_proxy: the list, plus where to download from (a file_server's addresses).
pub(crate) fn handle_file_has_offline_rsp(st: &mut State, ctx: &mut Ctx, pdu: &Pdu) {
    let Ok(answer) = wire::split_answer(&pdu.body) else {
        return;
    };
    let request = st.answered(answer.attach, Continuation::Relay);
    let Some(h) = request.and_then(|r| st.requester(ctx, &r, Some(answer.user_id))) else {
        return;
    };
    let Ok(mut rsp) = ImFileHasOfflineRsp::decode(answer.stripped.as_slice()) else {
        return;
    };
    if let Some(link) = st.pick_file_link() {
        rsp.ip_addr_list
            .extend_from_slice(st.links.file.addrs_of(link));
    }
    ctx.send_pdu_deferred(h, &Pdu::forward(&pdu.header, &rsp));
}

/// 0x050b: the user uploaded an offline file; db_proxy records it and the recipient is told.
pub(crate) fn handle_file_add_offline_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let link = st.links.db.for_business(me.spread());
    let Some(req) = forward::<ImFileAddOfflineReq>(st, ctx, me.handle, link, pdu, |m| {
        m.from_user_id = me.user_id;
    }) else {
        return;
    };
    let Some(file_link) = st.pick_file_link() else {
        debug!(
            "no file_server, offline file not announced: user={}",
            me.user_id
        );
        return;
    };
    let notify = ImFileNotify {
        from_user_id: me.user_id,
        to_user_id: req.to_user_id,
        file_name: req.file_name,
        file_size: req.file_size,
        task_id: req.task_id,
        ip_addr_list: st.links.file.addrs_of(file_link).to_vec(),
        trans_mode: TransferFileType::FileTypeOffline as i32,
        offline_ready: 1,
    };
    notify_file(st, ctx, &notify);
}

/// 0x050c: an offline file record is done with. Only a party to the record may delete it
/// (KNOWN_DEFECTS D-AUTH-4). The spec's fix overwrites `from_user_id` with the caller, but
/// the clients send this from the *recipient* with `from_user_id` = the uploader (the Android
/// and PC clients both do), so overwriting would make every real delete miss; requiring the
/// caller to be the uploader or the recipient closes the hole without breaking them.
pub(crate) fn handle_file_del_offline_req(st: &mut State, ctx: &mut Ctx, me: Caller, pdu: &Pdu) {
    let Ok(req) = pdu.parse::<ImFileDelOfflineReq>() else {
        return;
    };
    if !within_bounds(st, ctx, me.handle, &req, Refusal::Dropped) {
        return;
    }
    if req.from_user_id != me.user_id && req.to_user_id != me.user_id {
        debug!(
            "ignoring deletion of another user's offline file: user={}",
            me.user_id
        );
        return;
    }
    if let Some(link) = st.links.db.for_business(me.spread()) {
        ctx.send_pdu_deferred(link, &Pdu::forward(&pdu.header, &req));
    }
}

/// 0x0734: the client addresses of a file_server.
pub(crate) fn handle_file_server_ip_rsp(st: &mut State, h: ConnHandle, pdu: &Pdu) {
    if let Ok(rsp) = pdu.parse::<ImFileServerIpRsp>() {
        st.links.file.set_addrs(h, rsp.ip_addr_list);
    }
}

/// 0x0732: file_server created (or refused) a transfer task: tell the requester and, on
/// success, the recipient (here and through route_server).
pub(crate) fn handle_file_transfer_rsp(st: &mut State, ctx: &mut Ctx, h: ConnHandle, pdu: &Pdu) {
    let Ok(rsp) = pdu.parse::<ImFileTransferRsp>() else {
        return;
    };
    let addrs = st.links.file.addrs_of(h).to_vec();
    let trans_mode = rsp
        .trans_mode
        .unwrap_or(TransferFileType::FileTypeOnline as i32);
    let file_name = rsp.file_name.clone().unwrap_or_default();
    let task_id = rsp.task_id.clone().unwrap_or_default();
    let attach = rsp.attach_data.as_deref().unwrap_or_default();
    // An answer after the requester was told the request failed (link lost, deadline) is
    // dropped: nobody is told of that task.
    let Some(pending) = st.answered(attach, Continuation::FileTransfer) else {
        debug!(
            "file_server answer for no pending request: from={} to={}",
            rsp.from_user_id, rsp.to_user_id
        );
        return;
    };
    if let Some(requester) = st.requester(ctx, &pending, Some(rsp.from_user_id)) {
        let file_rsp = ImFileRsp {
            result_code: rsp.result_code,
            from_user_id: rsp.from_user_id,
            to_user_id: rsp.to_user_id,
            file_name: file_name.clone(),
            task_id: task_id.clone(),
            ip_addr_list: addrs.clone(),
            trans_mode,
        };
        ctx.send_pdu_deferred(
            requester,
            &Pdu::new(CommandId::FileResponse, pdu.header.seq_num, &file_rsp),
        );
    }
    if rsp.result_code != 0 {
        warn!(
            "file_server refused a transfer: from={} to={} code={}",
            rsp.from_user_id, rsp.to_user_id, rsp.result_code
        );
        return;
    }
    let notify = ImFileNotify {
        from_user_id: rsp.from_user_id,
        to_user_id: rsp.to_user_id,
        file_name,
        file_size: rsp.file_size.unwrap_or_default(),
        task_id,
        ip_addr_list: addrs,
        trans_mode,
        offline_ready: 0,
    };
    notify_file(st, ctx, &notify);
}
