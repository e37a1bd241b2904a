//! HTTP callers: request intake, hand-off to db_proxy, and the answers (PROTOCOL §9.1).
//!
//! Every answer is a complete `200 OK` with the original's headers, and the connection closes
//! once it was written (KNOWN_DEFECTS D-HMS-1, D-HMS-2). A request that db_proxy does not answer
//! within the configured timeout is answered as failed (D-HMS-3).

use std::time::Instant;

use log::{debug, info, warn};
use netlib::http::{Request, ok_response};
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::attach::DbAttachData;
use teamtalk_proto::{CommandId, Pdu};

use crate::peer::{HttpState, Peer};
use crate::query::{self, Action, ErrorCode};
use crate::server::HttpMsgServer;

/// Largest request accepted (KNOWN_DEFECTS D-NET-4; the original had no limit).
pub(crate) const MAX_REQUEST: usize = 64 * 1024;
/// `attach_data` type meaning "answer goes to HTTP connection `handle`" (http_msg_server
/// numbering, PROTOCOL §5.3).
const ATTACH_TYPE_HANDLE: u32 = 3;

/// What a pending db_proxy request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryKind {
    /// IMGroupCreateReq.
    CreateGroup,
    /// IMGroupChangeMemberReq.
    ChangeMembers,
}

impl QueryKind {
    /// The body sent when the request failed or timed out.
    pub(crate) fn failure_body(self) -> String {
        match self {
            Self::CreateGroup => ErrorCode::CreateGroup.create_group_body(0),
            Self::ChangeMembers => ErrorCode::ChangeMember.body(),
        }
    }
}

/// A request waiting for db_proxy.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The caller's connection.
    pub(crate) conn: ConnHandle,
    /// What was asked.
    pub(crate) kind: QueryKind,
    /// When to give up.
    pub(crate) deadline: Instant,
}

/// Bytes arrived from an HTTP caller.
pub(crate) fn on_data(
    hms: &mut HttpMsgServer,
    ctx: &mut Ctx<Peer>,
    h: ConnHandle,
    input: &mut Vec<u8>,
) {
    let id = match ctx.data(h) {
        Some(Peer::Http(conn)) if conn.state == HttpState::Reading => conn.id,
        _ => {
            input.clear();
            return;
        }
    };
    let request = match Request::parse(input) {
        Ok(None) => return,
        Ok(Some((request, _))) => request,
        Err(e) => {
            info!("closing http caller: handle={h} err={e}");
            ctx.close(h);
            return;
        }
    };
    input.clear();
    set_state(ctx, h, HttpState::Done);
    let peer_ip = ctx.conn(h).and_then(|c| c.peer()).map(|a| a.ip());
    let db = hms.pick_db();
    debug!("http request: handle={h} target={}", request.target);
    match query::handle(
        &request.target,
        &request.body,
        peer_ip,
        &hms.config,
        db.is_some(),
    ) {
        Action::Close => {
            hms.metrics.closed.inc();
            info!(
                "closing http caller without answer: handle={h} target={}",
                request.target
            );
            ctx.close(h);
        }
        Action::Answer(body) => {
            hms.metrics.answered.inc();
            answer(ctx, h, &body);
        }
        Action::Refuse(code) => {
            hms.metrics.refused.inc();
            // Never the key itself: only which check failed and who asked.
            let reason = match code {
                ErrorCode::AppKey => "app_key mismatch",
                _ => "address not allowed",
            };
            warn!(
                "refusing http caller: handle={h} peer={} reason={reason} error_code={}",
                peer_ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()),
                code as i32
            );
            answer(ctx, h, &code.body());
        }
        Action::CreateGroup(mut req) => {
            req.attach_data = Some(attach(id));
            let pdu = Pdu::new(CommandId::GroupCreateRequest, 0, &req);
            forward(hms, ctx, h, id, db, &pdu, QueryKind::CreateGroup);
        }
        Action::ChangeMembers(mut req) => {
            req.attach_data = Some(attach(id));
            let pdu = Pdu::new(CommandId::GroupChangeMemberRequest, 0, &req);
            forward(hms, ctx, h, id, db, &pdu, QueryKind::ChangeMembers);
        }
        Action::KickUser(kicks) => {
            hms.metrics.answered.inc();
            let Some(route) = hms.master_route else {
                answer(ctx, h, &ErrorCode::ServerException.body());
                return;
            };
            info!("kicking user everywhere: user={}", kicks[0].user_id);
            for kick in &kicks {
                ctx.send_pdu(route, &Pdu::new(CommandId::OtherServerKickUser, 0, kick));
            }
            answer(ctx, h, &ErrorCode::Success.body());
        }
    }
}

fn attach(id: u32) -> Vec<u8> {
    DbAttachData {
        attach_type: ATTACH_TYPE_HANDLE,
        handle: id,
        service_type: 0,
    }
    .encode()
}

fn forward(
    hms: &mut HttpMsgServer,
    ctx: &mut Ctx<Peer>,
    h: ConnHandle,
    id: u32,
    db: Option<ConnHandle>,
    pdu: &Pdu,
    kind: QueryKind,
) {
    let Some(db) = db else {
        return;
    };
    if !ctx.send_pdu(db, pdu) {
        warn!("db_proxy link lost while sending: handle={h}");
        answer(ctx, h, &ErrorCode::ServerException.body());
        return;
    }
    set_state(ctx, h, HttpState::Waiting);
    hms.metrics.forwarded.inc();
    let deadline = ctx.now() + hms.config.db_timeout;
    hms.pending.insert(
        id,
        Pending {
            conn: h,
            kind,
            deadline,
        },
    );
    debug!("forwarded to db_proxy: handle={h} id={id} db={db} kind={kind:?}");
}

/// Answers an HTTP caller with a JSON body and closes once it is written.
pub(crate) fn answer(ctx: &mut Ctx<Peer>, h: ConnHandle, body: &str) {
    set_state(ctx, h, HttpState::Done);
    let response = ok_response(
        &["Cache-Control:no-cache"],
        "text/html;charset=utf-8",
        body.as_bytes(),
    );
    ctx.send(h, &response);
    ctx.close_after_flush(h);
}

/// The pending request `id` got its db_proxy answer: returns the caller's connection if it is
/// still there and waiting.
pub(crate) fn take_pending(
    hms: &mut HttpMsgServer,
    ctx: &Ctx<Peer>,
    id: u32,
) -> Option<(ConnHandle, QueryKind)> {
    let pending = hms.pending.remove(&id)?;
    match ctx.data(pending.conn) {
        Some(Peer::Http(conn)) if conn.id == id && conn.state == HttpState::Waiting => {
            Some((pending.conn, pending.kind))
        }
        _ => None,
    }
}

/// Answers every request whose db_proxy answer is overdue.
pub(crate) fn expire_pending(hms: &mut HttpMsgServer, ctx: &mut Ctx<Peer>) {
    let now = ctx.now();
    let overdue: Vec<u32> = hms
        .pending
        .iter()
        .filter(|(_, p)| p.deadline <= now)
        .map(|(id, _)| *id)
        .collect();
    for id in overdue {
        if let Some((h, kind)) = take_pending(hms, ctx, id) {
            hms.metrics.timed_out.inc();
            warn!("db_proxy did not answer in time: handle={h} kind={kind:?}");
            answer(ctx, h, &kind.failure_body());
        }
    }
}

fn set_state(ctx: &mut Ctx<Peer>, h: ConnHandle, state: HttpState) {
    if let Some(Peer::Http(conn)) = ctx.data_mut(h) {
        conn.state = state;
    }
}
