//! `IM.File` requests: offline file records (0x0509 list, 0x050b add, 0x050c delete) —
//! BEHAVIOUR §8.23–§8.25.

use teamtalk_proto::pb::file::{
    ImFileAddOfflineReq, ImFileDelOfflineReq, ImFileHasOfflineReq, ImFileHasOfflineRsp,
};
use teamtalk_proto::{CommandId, Pdu};

use super::{clamp_list, echo, echoed_len, list_budget, or_default, parse};
use crate::model::file::{self, NewFile};
use crate::store::{Store, now};

/// 0x0509: offline files waiting for the user.
pub fn handle_file_has_offline_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImFileHasOfflineReq = parse(pdu)?;
    let mut list = or_default(
        store.read(|c| file::pending_for(c, req.user_id)),
        "offline files",
    );
    clamp_list(
        &mut list,
        list_budget(echoed_len(&req.attach_data)),
        "offline files",
    );
    let rsp = ImFileHasOfflineRsp {
        user_id: req.user_id,
        offline_file_list: list,
        ip_addr_list: Vec::new(),
        attach_data: echo(req.attach_data),
    };
    Some(Pdu::reply(&pdu.header, CommandId::FileHasOfflineRes, &rsp))
}

/// 0x050b: records an uploaded offline file; no answer.
pub fn handle_file_add_offline_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImFileAddOfflineReq = parse(pdu)?;
    let new_file = NewFile {
        from: req.from_user_id,
        to: req.to_user_id,
        file_name: &req.file_name,
        size: req.file_size,
        task_id: &req.task_id,
    };
    or_default(
        store.write(|c| file::add(c, &new_file, now())),
        "add offline file",
    );
    None
}

/// 0x050c: deletes an offline file record; no answer.
pub fn handle_file_del_offline_req(store: &Store, pdu: &Pdu) -> Option<Pdu> {
    let req: ImFileDelOfflineReq = parse(pdu)?;
    or_default(
        store.write(|c| file::delete(c, req.from_user_id, req.to_user_id, &req.task_id)),
        "delete offline file",
    );
    None
}
