//! What route_server does with each PDU: one dispatch `match` on the command id (the service id
//! is never looked at, PROTOCOL §2), handlers grouped by the `.proto` module of their message.
//!
//! A body that does not parse is logged and ignored with the link kept open, as the original
//! does; so is an unknown command.

mod buddy;
mod relay;
mod server;

use log::{info, warn};
use netlib::{CloseReason, ConnHandle, Ctx, Handler, ListenerTag};
use teamtalk_proto::{CommandId, Pdu};

use crate::peer::msg_server::MsgServerLink;
use crate::presence::Presence;

/// The loop's handler: the presence table plus the dispatch.
#[derive(Debug, Default)]
pub(crate) struct RouteHandler {
    presence: Presence,
}

impl Handler for RouteHandler {
    type ConnData = MsgServerLink;

    fn on_accept(&mut self, ctx: &mut Ctx<MsgServerLink>, h: ConnHandle, _: ListenerTag) {
        let peer = ctx.conn(h).and_then(netlib::Conn::peer);
        info!("msg_server link accepted: handle={h} peer={peer:?}");
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<MsgServerLink>, h: ConnHandle, pdu: Pdu) {
        let Some(command) = pdu.command() else {
            warn!(
                "ignoring unknown command: handle={h} cmd=0x{:04x}",
                pdu.header.command_id
            );
            return;
        };
        let presence = &mut self.presence;
        match command {
            // Receiving anything already refreshed the link's receive clock.
            CommandId::OtherHeartbeat => {}
            CommandId::OtherOnlineUserInfo => {
                server::handle_online_user_info(presence, ctx, h, &pdu);
            }
            CommandId::OtherUserStatusUpdate => {
                server::handle_user_status_update(presence, ctx, h, &pdu);
            }
            CommandId::OtherRoleSet => server::handle_role_set(ctx, h, &pdu),
            CommandId::BuddyListUsersStatusRequest => {
                buddy::handle_users_status_request(presence, ctx, h, &pdu);
            }
            CommandId::MsgData
            | CommandId::SwitchP2pCmd
            | CommandId::MsgReadNotify
            | CommandId::OtherServerKickUser
            | CommandId::GroupChangeMemberNotify
            | CommandId::FileNotify
            | CommandId::BuddyListRemoveSessionNotify => relay::relay_to_others(ctx, h, &pdu),
            CommandId::BuddyListSignInfoChangedNotify => relay::relay_to_all(ctx, &pdu),
            other => warn!("ignoring unexpected command: handle={h} cmd={other}"),
        }
    }

    fn on_close(
        &mut self,
        ctx: &mut Ctx<MsgServerLink>,
        h: ConnHandle,
        link: MsgServerLink,
        reason: CloseReason,
    ) {
        let removed = server::link_closed(&mut self.presence, ctx, h);
        info!(
            "msg_server link closed: handle={h} master={} reason={reason} users_removed={removed} \
             users_online={}",
            link.master,
            self.presence.user_count()
        );
    }
}

/// Parses a body, logging and returning `None` when it is not a valid `M` (the PDU is then
/// ignored).
fn parse<M: prost::Message + prost::Name + Default>(h: ConnHandle, pdu: &Pdu) -> Option<M> {
    match pdu.parse::<M>() {
        Ok(msg) => Some(msg),
        Err(e) => {
            warn!("ignoring pdu: handle={h} err={e}");
            None
        }
    }
}
