//! `IM.File` commands on the client port: login to a task, state relay and the block exchange of
//! online and offline transfers (BEHAVIOUR §5.3).
//!
//! A failed check closes the client's connection (after anything already queued is written),
//! as the original does; a command on a connection not bound to a task is ignored.

use log::{debug, info, warn};
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::file::{
    ImFileLoginReq, ImFileLoginRsp, ImFilePullDataReq, ImFilePullDataRsp, ImFileState,
};
use teamtalk_proto::{CommandId, Pdu};

use crate::offline::DiskBudget;
use crate::peer::{Binding, Peer, PeerData};
use crate::server::FileServer;
use crate::task::{FileRole, Progress, Task, TaskError, TaskState, TransferMode};

/// `IM.BaseDefine.ClientFileState` values.
const FILE_PEER_READY: i32 = 0;
const FILE_CANCEL: i32 = 1;
const FILE_REFUSE: i32 = 2;
const FILE_DONE: i32 = 3;
/// Longest task id echoed in a login answer; real ids are 36 characters.
const MAX_ECHOED_TASK_ID: usize = 64;

/// What a successful login triggers.
enum AfterLogin {
    Nothing,
    /// Online: both sides are in; tell the receiver (or close this side if it is gone).
    PeerReady {
        receiver: Option<ConnHandle>,
        from_user_id: u32,
    },
    /// Offline: ask the uploader for the first block.
    PullFirstBlock {
        size: u32,
    },
}

fn binding(ctx: &Ctx<PeerData>, h: ConnHandle) -> Option<Binding> {
    match ctx.data(h).map(|d| &d.peer) {
        Some(Peer::Client(Some(b))) => Some(b.clone()),
        _ => None,
    }
}

/// IMFileLoginReq: joins the connection to a task as one of its sides.
pub(crate) fn handle_file_login_req(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let req: ImFileLoginReq = match pdu.parse() {
        Ok(req) => req,
        Err(e) => {
            warn!("ignoring file login: handle={h} err={e}");
            return;
        }
    };
    let outcome = login(fs, ctx, h, &req);
    // A refused id is echoed only when it is of a sane length (it could be megabytes).
    let echoed = if req.task_id.len() <= MAX_ECHOED_TASK_ID {
        req.task_id.clone()
    } else {
        String::new()
    };
    let rsp = ImFileLoginRsp {
        result_code: u32::from(outcome.is_err()),
        task_id: echoed,
    };
    ctx.send_pdu(h, &Pdu::reply(&pdu.header, CommandId::FileLoginRes, &rsp));
    match outcome {
        Err(why) => {
            info!(
                "file login refused: handle={h} user={} task={:.64} role={} why={why}",
                req.user_id, req.task_id, req.file_role
            );
            ctx.close_after_flush(h);
        }
        Ok(AfterLogin::Nothing) => {}
        Ok(AfterLogin::PeerReady {
            receiver,
            from_user_id,
        }) => match receiver {
            Some(to) => send_state(ctx, to, FILE_PEER_READY, &req.task_id, from_user_id),
            None => ctx.close_after_flush(h),
        },
        Ok(AfterLogin::PullFirstBlock { size }) => {
            send_pull_request(ctx, h, &req.task_id, req.user_id, 0, size);
        }
    }
}

/// Why a login was refused.
#[derive(Debug, thiserror::Error)]
enum LoginError {
    #[error("connection already joined a task")]
    AlreadyBound,
    #[error("unknown file role")]
    BadRole,
    #[error("no such task")]
    NoTask,
    #[error("the offline store has no room for the file")]
    DiskQuota,
    #[error(transparent)]
    Task(#[from] TaskError),
}

fn login(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    req: &ImFileLoginReq,
) -> Result<AfterLogin, LoginError> {
    if binding(ctx, h).is_some() {
        return Err(LoginError::AlreadyBound);
    }
    let role = FileRole::from_wire(req.file_role).ok_or(LoginError::BadRole)?;
    let now = ctx.now();
    let mut loaded = false;
    if fs.tasks.get_mut(&req.task_id).is_none() && role == FileRole::OfflineDownload {
        // Not in memory: a finished upload (or one from before a restart) is on disk.
        match fs.store.open(&req.task_id) {
            Ok((header, _)) => {
                fs.tasks.insert(Task::from_stored(header, now));
                loaded = true;
            }
            Err(e) => debug!("no stored file: task={} err={e}", req.task_id),
        }
    }
    let task = fs.tasks.get_mut(&req.task_id).ok_or(LoginError::NoTask)?;
    // The whole file's room is reserved before the upload starts, so an upload that would pass
    // the quota is refused here with nothing written.
    let reserve = (role == FileRole::OfflineUpload
        && task.mode == TransferMode::Offline
        && task.state() == TaskState::Ready
        && task.reserved == 0)
        .then(|| DiskBudget::need(task.file_size));
    if let Some(need) = reserve {
        if !fs.budget.reserve(need) {
            return Err(LoginError::DiskQuota);
        }
        task.reserved = need;
    }
    if let Err(e) = task.login(req.user_id, role, h, now) {
        if let Some(need) = reserve {
            fs.budget.release(need);
            task.reserved = 0;
        }
        if loaded {
            fs.tasks.remove(&req.task_id);
        }
        return Err(e.into());
    }
    let after = match (task.mode, task.state()) {
        (TransferMode::Online, TaskState::WaitingTransfer) => AfterLogin::PeerReady {
            receiver: task.to_conn(),
            from_user_id: task.from_user_id,
        },
        (TransferMode::Offline, TaskState::WaitingUpload) => AfterLogin::PullFirstBlock {
            size: task.next_block_size(),
        },
        _ => AfterLogin::Nothing,
    };
    if let Some(data) = ctx.data_mut(h) {
        data.peer = Peer::Client(Some(Binding {
            task_id: req.task_id.clone(),
            user_id: req.user_id,
        }));
    }
    info!(
        "file login: handle={h} user={} task={} role={role:?}",
        req.user_id, req.task_id
    );
    Ok(after)
}

/// IMFileState: CANCEL, REFUSE and DONE are relayed unchanged to the other side and end this
/// connection. A state naming another user or task also ends it, as in the original; any other
/// state value is ignored instead of ending the connection (KNOWN_DEFECTS D-FS-7).
pub(crate) fn handle_file_state(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let Some(bound) = binding(ctx, h) else {
        debug!("ignoring file state on an unbound connection: handle={h}");
        return;
    };
    let state: ImFileState = match pdu.parse() {
        Ok(state) => state,
        Err(e) => {
            warn!("ignoring file state: handle={h} err={e}");
            return;
        }
    };
    if state.user_id != bound.user_id || state.task_id != bound.task_id {
        info!(
            "file state for another login, closing: handle={h} user={} task={}",
            state.user_id, state.task_id
        );
        ctx.close_after_flush(h);
        return;
    }
    if !matches!(state.state, FILE_CANCEL | FILE_REFUSE | FILE_DONE) {
        debug!(
            "ignoring file state: handle={h} user={} state={}",
            state.user_id, state.state
        );
        return;
    }
    if let Some(peer) = fs
        .tasks
        .get_mut(&bound.task_id)
        .and_then(|task| task.opponent_conn(bound.user_id))
    {
        ctx.send_pdu(peer, pdu);
    }
    info!(
        "file state relayed, closing sender: handle={h} task={} state={}",
        bound.task_id, state.state
    );
    ctx.close_after_flush(h);
}

/// IMFilePullDataReq from the receiver: relayed to the sender (online) or answered from the
/// stored file (offline download).
pub(crate) fn handle_file_pull_data_req(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    let Some(bound) = binding(ctx, h) else {
        debug!("ignoring pull request on an unbound connection: handle={h}");
        return;
    };
    let req: ImFilePullDataReq = match pdu.parse() {
        Ok(req) => req,
        Err(e) => {
            warn!("ignoring pull request: handle={h} err={e}");
            return;
        }
    };
    if let Err(why) = pull_data_req(fs, ctx, h, pdu, &bound, &req) {
        info!(
            "pull request refused, closing: handle={h} task={} why={why}",
            bound.task_id
        );
        ctx.close_after_flush(h);
    }
}

/// Why a block request or block could not be handled.
#[derive(Debug, thiserror::Error)]
enum BlockError {
    #[error("user or task does not match the connection's login")]
    NotBound,
    #[error("the task is gone")]
    NoTask,
    #[error("only the receiver pulls blocks")]
    NotReceiver,
    #[error(transparent)]
    Task(#[from] TaskError),
}

fn pull_data_req(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &Pdu,
    bound: &Binding,
    req: &ImFilePullDataReq,
) -> Result<(), BlockError> {
    if req.user_id != bound.user_id || req.task_id != bound.task_id {
        return Err(BlockError::NotBound);
    }
    let now = ctx.now();
    let task = fs.tasks.get_mut(&bound.task_id).ok_or(BlockError::NoTask)?;
    if req.user_id != task.to_user_id {
        return Err(BlockError::NotReceiver);
    }
    match task.mode {
        TransferMode::Online => {
            task.online_pull(pdu.header.seq_num, now)?;
            if let Some(sender) = task.from_conn() {
                ctx.send_pdu(sender, pdu);
            }
        }
        TransferMode::Offline => {
            let (file_data, progress) = task.download_block(&fs.store, req.offset, now)?;
            fs.metrics.downloaded_bytes.inc_by(file_data.len() as u64);
            let rsp = ImFilePullDataRsp {
                result_code: 0,
                task_id: req.task_id.clone(),
                user_id: req.user_id,
                offset: req.offset,
                file_data,
            };
            ctx.send_pdu(
                h,
                &Pdu::reply(&pdu.header, CommandId::FilePullDataRsp, &rsp),
            );
            if progress == Progress::Done {
                let from_user_id = task.from_user_id;
                send_state(ctx, h, FILE_DONE, &req.task_id, from_user_id);
                ctx.close_after_flush(h);
                fs.metrics.downloaded.inc();
                // The file stays for further downloads (another device of the receiver)
                // until its retention period ends (D-FS-3).
                info!("offline file downloaded: task={}", req.task_id);
            }
        }
    }
    Ok(())
}

/// IMFilePullDataRsp from the sender: relayed to the receiver with the seq of its request
/// (online) or stored (offline upload).
pub(crate) fn handle_file_pull_data_rsp(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    mut pdu: Pdu,
) {
    let Some(bound) = binding(ctx, h) else {
        debug!("ignoring data block on an unbound connection: handle={h}");
        return;
    };
    let rsp: ImFilePullDataRsp = match pdu.parse() {
        Ok(rsp) => rsp,
        Err(e) => {
            warn!("ignoring data block: handle={h} err={e}");
            return;
        }
    };
    if let Err(why) = pull_data_rsp(fs, ctx, h, &mut pdu, &bound, &rsp) {
        info!(
            "data block refused, closing: handle={h} task={} why={why}",
            bound.task_id
        );
        ctx.close_after_flush(h);
    }
}

fn pull_data_rsp(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    pdu: &mut Pdu,
    bound: &Binding,
    rsp: &ImFilePullDataRsp,
) -> Result<(), BlockError> {
    if rsp.user_id != bound.user_id || rsp.task_id != bound.task_id {
        return Err(BlockError::NotBound);
    }
    let now = ctx.now();
    let task = fs.tasks.get_mut(&bound.task_id).ok_or(BlockError::NoTask)?;
    match task.mode {
        TransferMode::Online => {
            // The receiver matches answers to its requests by seq (PROTOCOL §2.3).
            pdu.header.seq_num = task.online_data(rsp.user_id, now)?;
            fs.metrics.relayed_bytes.inc_by(rsp.file_data.len() as u64);
            if let Some(receiver) = task.to_conn() {
                ctx.send_pdu(receiver, pdu);
            }
        }
        TransferMode::Offline => {
            let progress =
                task.upload_block(&fs.store, rsp.user_id, rsp.offset, &rsp.file_data, now)?;
            fs.metrics.uploaded_bytes.inc_by(rsp.file_data.len() as u64);
            match progress {
                Progress::Next { offset, size } => {
                    send_pull_request(ctx, h, &rsp.task_id, rsp.user_id, offset, size);
                }
                Progress::Done => {
                    fs.budget.commit(task.reserved);
                    task.reserved = 0;
                    fs.metrics.stored.inc();
                    info!("offline file stored: task={}", rsp.task_id);
                    send_state(ctx, h, FILE_DONE, &rsp.task_id, rsp.user_id);
                    ctx.close_after_flush(h);
                }
            }
        }
    }
    Ok(())
}

/// The client connection `h`, bound as `bound`, closed: update its task.
pub(crate) fn client_closed(
    fs: &mut FileServer,
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    bound: Binding,
) {
    let Some(task) = fs.tasks.get_mut(&bound.task_id) else {
        return;
    };
    let was_uploader = task.from_conn() == Some(h);
    let release = task.release(h);
    if was_uploader {
        // An upload that did not complete gives its room back (its partial file goes below).
        fs.budget.release(task.reserved);
        task.reserved = 0;
    }
    if let Some(peer) = release.close_peer {
        ctx.close_after_flush(peer);
    }
    if release.discard_upload {
        if let Err(e) = fs.store.remove(&bound.task_id) {
            warn!(
                "cannot delete partial upload: task={} err={e}",
                bound.task_id
            );
        }
    }
    if release.delete {
        fs.tasks.remove(&bound.task_id);
        debug!("task removed: task={}", bound.task_id);
    }
}

fn send_state(ctx: &mut Ctx<PeerData>, h: ConnHandle, state: i32, task_id: &str, user_id: u32) {
    let msg = ImFileState {
        state,
        task_id: task_id.to_owned(),
        user_id,
    };
    ctx.send_pdu(h, &Pdu::new(CommandId::FileState, 0, &msg));
}

fn send_pull_request(
    ctx: &mut Ctx<PeerData>,
    h: ConnHandle,
    task_id: &str,
    user_id: u32,
    offset: u32,
    data_size: u32,
) {
    let msg = ImFilePullDataReq {
        task_id: task_id.to_owned(),
        user_id,
        trans_mode: TransferMode::Offline as i32,
        offset,
        data_size,
    };
    ctx.send_pdu(h, &Pdu::new(CommandId::FilePullDataReq, 0, &msg));
}
