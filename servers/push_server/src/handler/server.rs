//! `IM.Server` IMPushToUserReq: one APNs notification per iOS token, and a result per token
//! (BEHAVIOUR §10).

use std::time::{SystemTime, UNIX_EPOCH};

use log::{debug, info, warn};
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::base_define::PushResult;
use teamtalk_proto::pb::server::{ImPushToUserReq, ImPushToUserRsp};
use teamtalk_proto::{CommandId, Pdu};

use crate::apns::{self, Notification, PRIORITY_IMMEDIATELY};
use crate::server::{PushServer, Session};

/// `ClientType` of iOS devices, the only ones APNs can reach.
const CLIENT_TYPE_IOS: i32 = 0x11;
/// `push_type` of a normal (alert and sound) push; anything else is silent.
const PUSH_TYPE_NORMAL: u32 = 1;
/// Apple may drop an undelivered notification after this long.
const EXPIRATION_SECS: u64 = 3600;

/// IMPushToUserReq: builds and sends a frame per iOS token and answers with the results.
/// A body that does not parse ends the session, as in the original; an empty body is ignored,
/// as the original's framing refused a bare 16-byte request before looking at it.
pub(crate) fn handle_push_to_user_req(
    ps: &mut PushServer,
    ctx: &mut Ctx<Session>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    if pdu.body.is_empty() {
        debug!("ignoring empty push request: handle={h}");
        return;
    }
    let req: ImPushToUserReq = match pdu.parse() {
        Ok(req) => req,
        Err(e) => {
            warn!("bad push request, closing session: handle={h} err={e}");
            ctx.close(h);
            return;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expiration = u32::try_from(now + EXPIRATION_SECS).unwrap_or(u32::MAX);
    let mut results = Vec::with_capacity(req.user_token_list.len());
    for token in &req.user_token_list {
        let result_code = if token.user_type == CLIENT_TYPE_IOS {
            let Some(session) = ctx.data_mut(h) else {
                return;
            };
            session.notification_id = session.notification_id.wrapping_add(1);
            let payload = apns::payload(
                &req.flash,
                &req.data,
                token.push_count,
                token.push_type == PUSH_TYPE_NORMAL,
            );
            let notification = Notification {
                token: &token.token,
                payload: &payload,
                id: session.notification_id,
                expiration,
                priority: PRIORITY_IMMEDIATELY,
            };
            match notification.frame() {
                Ok(frame) => {
                    ps.sender.send(&frame);
                    0
                }
                Err(e) => {
                    info!("push not sent: user={} err={e}", token.user_id);
                    1
                }
            }
        } else {
            debug!(
                "not an ios token: user={} type={}",
                token.user_id, token.user_type
            );
            1
        };
        results.push(PushResult {
            user_token: token.token.clone(),
            result_code,
        });
    }
    let rsp = ImPushToUserRsp {
        push_result_list: results,
    };
    ctx.send_pdu(h, &Pdu::new(CommandId::OtherPushToUserRsp, 0, &rsp));
}
