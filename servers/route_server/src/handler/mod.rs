//! What route_server does with each PDU: one dispatch `match` on the command id (the service id
//! is never looked at, PROTOCOL §2), handlers grouped by the `.proto` module of their message.
//!
//! A body that does not parse is logged and ignored with the link kept open, as the original
//! does; so is an unknown command.

mod buddy;
mod relay;
mod server;

use log::{info, warn};
use netlib::{CloseReason, ConnHandle, Ctx, Handler, ListenerTag, Metrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use teamtalk_proto::{CommandId, Pdu};

use crate::config::Config;
use crate::peer::msg_server::MsgServerLink;
use crate::presence::Presence;
use crate::replay::ReplayWindow;
use relay::Relayed;

/// The loop's handler: the presence table, the replay window and the dispatch.
#[derive(Debug)]
pub(crate) struct RouteHandler {
    presence: Presence,
    window: ReplayWindow,
    metrics: RouteMetrics,
}

/// What route_server exports on its metrics endpoint.
#[derive(Debug)]
struct RouteMetrics {
    /// msg_server and http_msg_server links.
    links: Gauge,
    /// Users online on some msg_server.
    users: Gauge,
    /// PDUs relayed: to the other links, to every link, to the links hosting the addressees,
    /// and targeted relays sent again to a link that reported a login late.
    relays: [Counter; 4],
    /// Targeted relays held for late logins.
    window_entries: Gauge,
    /// Bytes the replay window holds.
    window_bytes: Gauge,
    /// Links that closed.
    links_lost: Counter,
}

impl RouteHandler {
    /// A handler with an empty presence table and replay window (bounded as `config` says),
    /// its metrics registered in `metrics`.
    pub(crate) fn new(config: &Config, metrics: &mut Metrics) -> Self {
        Self {
            presence: Presence::default(),
            window: ReplayWindow::new(
                config.replay_span,
                config.replay_max_entries,
                config.replay_max_bytes,
            ),
            metrics: RouteMetrics {
                links: metrics.gauge("server_links", "msg_server and http_msg_server links"),
                users: metrics.gauge("online_users", "Users online on some msg_server"),
                relays: metrics.counters(
                    "relays",
                    "PDUs relayed between msg_servers (to the others, to all, to the links \
                     hosting the addressees, or again to a link reporting a login late)",
                    "to",
                    ["others", "all", "targeted", "replayed"],
                ),
                window_entries: metrics.gauge(
                    "relay_window_entries",
                    "Targeted relays held for logins reported late",
                ),
                window_bytes: metrics.gauge(
                    "relay_window_bytes",
                    "Bytes of targeted relays held for logins reported late",
                ),
                links_lost: metrics.counter("links_lost", "msg_server links that closed"),
            },
        }
    }
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
                let replayed =
                    server::handle_user_status_update(presence, &mut self.window, ctx, h, &pdu);
                self.metrics.relays[3].inc_by(replayed as u64);
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
            | CommandId::BuddyListRemoveSessionNotify => {
                let relayed = relay::relay(presence, &mut self.window, ctx, h, command, &pdu);
                let i = match relayed {
                    Relayed::Others => 0,
                    Relayed::Targeted => 2,
                };
                self.metrics.relays[i].inc();
            }
            CommandId::BuddyListSignInfoChangedNotify => {
                self.metrics.relays[1].inc();
                relay::relay_to_all(ctx, &pdu);
            }
            other => warn!("ignoring unexpected command: handle={h} cmd={other}"),
        }
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<MsgServerLink>) {
        self.set_gauges(ctx.conns().len());
    }

    fn on_close(
        &mut self,
        ctx: &mut Ctx<MsgServerLink>,
        h: ConnHandle,
        link: MsgServerLink,
        reason: CloseReason,
    ) {
        self.metrics.links_lost.inc();
        let removed = server::link_closed(&mut self.presence, ctx, h);
        self.window.forget_link(h);
        info!(
            "msg_server link closed: handle={h} master={} reason={reason} users_removed={removed} \
             users_online={}",
            link.master,
            self.presence.user_count()
        );
    }
}

impl RouteHandler {
    fn set_gauges(&self, links: usize) {
        self.metrics
            .links
            .set(i64::try_from(links).unwrap_or(i64::MAX));
        self.metrics
            .users
            .set(i64::try_from(self.presence.user_count()).unwrap_or(i64::MAX));
        self.metrics
            .window_entries
            .set(i64::try_from(self.window.len()).unwrap_or(i64::MAX));
        self.metrics
            .window_bytes
            .set(i64::try_from(self.window.bytes()).unwrap_or(i64::MAX));
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
