//! `IM.Server` commands on the msg-server port: the file-server address list and task creation
//! (BEHAVIOUR §5.2).

use log::{info, warn};
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::server::{ImFileServerIpRsp, ImFileTransferReq, ImFileTransferRsp};
use teamtalk_proto::{CommandId, Pdu};

use crate::offline::DiskBudget;
use crate::peer::PeerData;
use crate::server::FileServer;
use crate::task::{Task, TransferMode};

/// IMFileServerIPReq: answers with every advertised client address.
pub(crate) fn handle_file_server_ip_req(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let rsp = ImFileServerIpRsp {
        ip_addr_list: fs.advertised.clone(),
    };
    ctx.send_pdu(
        h,
        &Pdu::reply(&pdu.header, CommandId::OtherFileServerIpRsp, &rsp),
    );
}

/// IMFileTransferReq: creates a task with a fresh random id and answers with it. An invalid
/// transfer mode, or a request past a bound (file name length, the sender's live tasks, and for
/// offline files the size cap and the room left in the store) is answered with result 1 and,
/// unlike the original, the link stays open (KNOWN_DEFECTS D-FS-5).
pub(crate) fn handle_file_transfer_req(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let req: ImFileTransferReq = match pdu.parse() {
        Ok(req) => req,
        Err(e) => {
            warn!("ignoring file transfer request: handle={h} err={e}");
            return;
        }
    };
    let mode = TransferMode::from_wire(req.trans_mode)
        .ok_or("unknown trans_mode")
        .and_then(|mode| refusal(fs, &req, mode).map_or(Ok(mode), Err));
    let task_id = match mode {
        Ok(mode) => {
            let id = new_task_id();
            fs.metrics.created.inc();
            info!(
                "task created: task={id} mode={mode:?} from={} to={} size={}",
                req.from_user_id, req.to_user_id, req.file_size
            );
            fs.tasks.insert(Task::new(
                id.clone(),
                req.from_user_id,
                req.to_user_id,
                req.file_name.clone(),
                req.file_size,
                mode,
                ctx.now(),
            ));
            Some(id)
        }
        Err(why) => {
            fs.metrics.refused.inc();
            warn!(
                "refusing file transfer: handle={h} from={} trans_mode={} size={} why={why}",
                req.from_user_id, req.trans_mode, req.file_size
            );
            None
        }
    };
    let rsp = ImFileTransferRsp {
        result_code: u32::from(task_id.is_none()),
        from_user_id: req.from_user_id,
        to_user_id: req.to_user_id,
        file_name: Some(req.file_name),
        file_size: Some(req.file_size),
        task_id: Some(task_id.unwrap_or_default()),
        trans_mode: Some(req.trans_mode),
        // The original always sets the field, so it is on the wire (empty) even when the
        // request had none.
        attach_data: Some(req.attach_data.unwrap_or_default()),
    };
    ctx.send_pdu(
        h,
        &Pdu::reply(&pdu.header, CommandId::OtherFileTransferRsp, &rsp),
    );
}

/// Why a task cannot be created within the configured bounds, if it cannot.
fn refusal(fs: &FileServer, req: &ImFileTransferReq, mode: TransferMode) -> Option<&'static str> {
    let limits = &fs.limits;
    if req.file_name.len() > limits.max_file_name_len {
        return Some("file name too long");
    }
    if fs.tasks.sender_tasks(req.from_user_id) >= limits.max_tasks_per_user {
        return Some("too many tasks for the sender");
    }
    if mode == TransferMode::Offline {
        if u64::from(req.file_size) > limits.max_file_size {
            return Some("offline file too large");
        }
        if DiskBudget::need(req.file_size) > fs.budget.available() {
            return Some("offline store full");
        }
    }
    None
}

/// A random (version 4) UUID in its lowercase text form: knowing a task id is all a client
/// needs to join a transfer, so ids must be unguessable (KNOWN_DEFECTS D-AUTH-9).
pub(crate) fn new_task_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::is_task_id;

    #[test]
    fn task_ids_are_distinct_version_4_uuids() {
        let a = new_task_id();
        let b = new_task_id();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!(is_task_id(id), "{id}");
            assert_eq!(&id[14..15], "4");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
            assert_eq!(id.to_lowercase(), *id);
        }
    }
}
