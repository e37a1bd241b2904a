//! `IM.Server` IMPushToUserReq: one push per token for the provider its client type names,
//! and a result per token (BEHAVIOUR §10).

use std::sync::Arc;

use log::{debug, warn};
use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::base_define::{PushResult, UserTokenInfo};
use teamtalk_proto::pb::server::{ImPushToUserReq, ImPushToUserRsp};
use teamtalk_proto::{CommandId, Pdu};

use crate::push::{PUSH_TYPE_NORMAL, Provider, Push};
use crate::server::PushServer;

/// Shortest APNs device token, in hexadecimal characters (32 bytes).
const MIN_APNS_TOKEN: usize = 64;
/// Result code of a push handed to the delivery side.
const RESULT_QUEUED: u32 = 0;
/// Result code of a token no configured provider can serve.
const RESULT_NOT_SENT: u32 = 1;

/// IMPushToUserReq: queues a push per servable token and answers with the results. A body
/// that does not parse ends the session, as in the original; an empty body is ignored, as the
/// original's framing refused a bare 16-byte request before looking at it.
pub(crate) fn handle_push_to_user_req(
    ps: &mut PushServer,
    ctx: &mut Ctx<()>,
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
    let flash: Arc<str> = Arc::from(req.flash);
    let data: Arc<str> = Arc::from(req.data);
    let mut results = Vec::with_capacity(req.user_token_list.len());
    for token in req.user_token_list {
        let result_code = match route(ps, &token) {
            Some(provider) => {
                let user_token = token.token.clone();
                ps.sink.submit(Push {
                    provider,
                    user_id: token.user_id,
                    token: token.token,
                    flash: Arc::clone(&flash),
                    data: Arc::clone(&data),
                    badge: token.push_count,
                    silent: token.push_type != PUSH_TYPE_NORMAL,
                });
                results.push(PushResult {
                    user_token,
                    result_code: RESULT_QUEUED,
                });
                continue;
            }
            None => RESULT_NOT_SENT,
        };
        ps.stats.unroutable();
        debug!(
            "token not pushed: user={} type={}",
            token.user_id, token.user_type
        );
        results.push(PushResult {
            user_token: token.token,
            result_code,
        });
    }
    let rsp = ImPushToUserRsp {
        push_result_list: results,
    };
    ctx.send_pdu(h, &Pdu::new(CommandId::OtherPushToUserRsp, 0, &rsp));
}

/// The provider for `token`, if it is configured and the token can be sent to it: APNs
/// tokens are at least 64 hexadecimal characters (the original required exactly 64; Apple
/// warns the length may grow), FCM tokens non-empty.
fn route(ps: &PushServer, token: &UserTokenInfo) -> Option<Provider> {
    let provider = Provider::for_client_type(token.user_type)?;
    let well_formed = match provider {
        Provider::Apns => {
            token.token.len() >= MIN_APNS_TOKEN
                && token.token.bytes().all(|b| b.is_ascii_hexdigit())
        }
        Provider::Fcm => !token.token.is_empty(),
    };
    (well_formed && ps.sink.serves(provider)).then_some(provider)
}
