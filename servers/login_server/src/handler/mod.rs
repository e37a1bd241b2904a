//! What login_server does with each connection event: PDUs from msg_server links and legacy
//! clients go through one dispatch `match` on the command id (the service id is never looked
//! at, PROTOCOL §2); HTTP bytes go to [`crate::peer::http`]; closes and the stats timer update
//! the registry and the logs.
//!
//! An unknown command is logged and ignored with the connection kept open, as the original
//! does; bodies are used even when they do not fully parse (see `server`).

mod login;
mod server;

use log::{debug, info, warn};
use netlib::Metrics;
use netlib::{CloseReason, ConnHandle, Ctx, Handler, ListenerTag, TimerId};
use prometheus_client::metrics::gauge::Gauge;
use teamtalk_proto::{CommandId, Pdu};

use crate::config::Config;
use crate::peer::Peer;
use crate::peer::http::{self, HttpContext};
use crate::registry::Registry;
use crate::socket_order::SocketOrder;

/// The loop's handler: the msg_server registry plus what answers need from the conf.
#[derive(Debug)]
pub(crate) struct LoginHandler {
    registry: Registry,
    sockets: SocketOrder,
    msfs_url: String,
    discovery_url: String,
    /// `WebClient`: whether `/web/` is served.
    web_client: bool,
    stats_timer: Option<TimerId>,
    /// Connections by kind: client, http, msg_server (set before a scrape).
    connections: [Gauge; 3],
    /// Registered msg_servers and their client connections (set before a scrape).
    msg_servers: [Gauge; 2],
}

impl LoginHandler {
    /// A handler with an empty registry, its metrics registered in `metrics`.
    pub(crate) fn new(config: &Config, metrics: &mut Metrics) -> Self {
        Self {
            connections: metrics.gauges(
                "connections",
                "Open connections by kind",
                "kind",
                ["client", "http", "msg_server"],
            ),
            msg_servers: metrics.gauges(
                "msg_servers",
                "Registered msg_servers, and the client connections they report",
                "count",
                ["servers", "client_connections"],
            ),
            registry: Registry::new(metrics),
            sockets: SocketOrder::default(),
            msfs_url: config.msfs_url.clone(),
            discovery_url: config.discovery_url.clone(),
            web_client: config.web_client,
            stats_timer: None,
        }
    }

    /// Remembers the timer whose firing logs the registry.
    pub(crate) fn set_stats_timer(&mut self, timer: TimerId) {
        self.stats_timer = Some(timer);
    }

    fn log_stats(&self) {
        info!(
            "msg_servers: count={} total_conns={}",
            self.registry.len(),
            self.registry.total()
        );
        for (socket, s) in self.registry.iter() {
            info!(
                "msg_server: socket={socket} host={} ip1={} ip2={} port={} cur_conns={} max_conns={}",
                s.host_name, s.ip1, s.ip2, s.port, s.cur_conn_cnt, s.max_conn_cnt
            );
        }
    }
}

impl Handler for LoginHandler {
    type ConnData = Peer;

    fn on_accept(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, listener: ListenerTag) {
        let peer = Peer::of_listener(listener);
        if let Some(data) = ctx.data_mut(h) {
            *data = peer;
        }
        let socket = self.sockets.open(h);
        if peer == Peer::MsgServer {
            let addr = ctx.conn(h).and_then(netlib::Conn::peer);
            info!("msg_server link accepted: handle={h} socket={socket} peer={addr:?}");
        }
    }

    fn on_pdu(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, pdu: Pdu) {
        let Some(kind) = ctx.data(h).copied() else {
            return;
        };
        let Some(command) = pdu.command() else {
            warn!(
                "ignoring unknown command: handle={h} cmd=0x{:04x}",
                pdu.header.command_id
            );
            return;
        };
        let registry = &mut self.registry;
        let socket = self.sockets.get(h);
        match (command, kind) {
            // Receiving anything already refreshed the connection's receive clock.
            (CommandId::OtherHeartbeat, _) => {}
            (CommandId::LoginReqMsgserver, _) => {
                login::handle_msg_serv_req(registry, ctx, h, &pdu);
            }
            (CommandId::OtherMsgServInfo, Peer::MsgServer) => {
                if let Some(socket) = socket {
                    server::handle_msg_serv_info(registry, h, socket, &pdu);
                }
            }
            (CommandId::OtherUserCntUpdate, Peer::MsgServer) => {
                if let Some(socket) = socket {
                    server::handle_user_cnt_update(registry, h, socket, &pdu);
                }
            }
            (other, kind) => {
                warn!("ignoring unexpected command: handle={h} kind={kind:?} cmd={other}")
            }
        }
    }

    fn on_data(&mut self, ctx: &mut Ctx<Peer>, h: ConnHandle, input: &mut Vec<u8>) {
        if ctx.data(h) != Some(&Peer::Http) {
            input.clear();
            return;
        }
        let state = HttpContext {
            registry: &self.registry,
            msfs_url: &self.msfs_url,
            discovery_url: &self.discovery_url,
            web_client: self.web_client,
        };
        http::on_data(state, ctx, h, input);
    }

    fn on_close(&mut self, _ctx: &mut Ctx<Peer>, h: ConnHandle, peer: Peer, reason: CloseReason) {
        let socket = self.sockets.close(h);
        match peer {
            Peer::MsgServer => {
                let removed = socket.and_then(|socket| self.registry.remove(socket));
                info!(
                    "msg_server link closed: handle={h} reason={reason} host={} port={} \
                     servers={} total_conns={}",
                    removed.as_ref().map_or("-", |s| s.host_name.as_str()),
                    removed.as_ref().map_or(0, |s| s.port),
                    self.registry.len(),
                    self.registry.total()
                );
            }
            Peer::Client | Peer::Http | Peer::Unclassified => {
                debug!("conn closed: handle={h} kind={peer:?} reason={reason}");
            }
        }
    }

    fn refresh_metrics(&mut self, ctx: &Ctx<Peer>) {
        let mut by_kind = [0i64; 3];
        for (_, conn) in ctx.conns().iter() {
            match conn.data {
                Peer::Client => by_kind[0] += 1,
                Peer::Http => by_kind[1] += 1,
                Peer::MsgServer => by_kind[2] += 1,
                Peer::Unclassified => {}
            }
        }
        for (gauge, n) in self.connections.iter().zip(by_kind) {
            gauge.set(n);
        }
        let [servers, clients] = &self.msg_servers;
        servers.set(i64::try_from(self.registry.len()).unwrap_or(i64::MAX));
        clients.set(i64::try_from(self.registry.total()).unwrap_or(i64::MAX));
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<Peer>, timer: TimerId) {
        if Some(timer) == self.stats_timer {
            self.log_stats();
        }
    }
}
