//! `IM.Login` commands: the legacy msg_server request (0x0101 → 0x0102, PROTOCOL §11.3), which
//! the original never answered on its client port (KNOWN_DEFECTS D-NET-6).

use netlib::{ConnHandle, Ctx};
use teamtalk_proto::pb::base_define::ResultType;
use teamtalk_proto::pb::login::ImMsgServRsp;
use teamtalk_proto::{CommandId, Pdu};

use crate::peer::Peer;
use crate::registry::{Pick, Registry};

/// IMMsgServReq: answers with the least-loaded msg_server (no telecom swap: prior is `ip1`)
/// and the request's seq, then closes the connection once the answer is out.
pub(super) fn handle_msg_serv_req(
    registry: &Registry,
    ctx: &mut Ctx<Peer>,
    h: ConnHandle,
    pdu: &Pdu,
) {
    // The request body is empty by definition; its content does not matter.
    let rsp = match registry.pick() {
        Pick::NoServer => refusal(ResultType::RefuseReasonNoMsgServer),
        Pick::AllFull => refusal(ResultType::RefuseReasonMsgServerFull),
        Pick::Server(s) => ImMsgServRsp {
            result_code: ResultType::RefuseReasonNone as i32,
            prior_ip: Some(s.ip1.clone()),
            backip_ip: Some(s.ip2.clone()),
            port: Some(s.port),
        },
    };
    ctx.send_pdu(
        h,
        &Pdu::reply(&pdu.header, CommandId::LoginResMsgserver, &rsp),
    );
    ctx.close_after_flush(h);
}

fn refusal(code: ResultType) -> ImMsgServRsp {
    ImMsgServRsp {
        result_code: code as i32,
        prior_ip: None,
        backip_ip: None,
        port: None,
    }
}
