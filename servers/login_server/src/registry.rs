//! The registered msg_servers: what each reported over its link, and which one a client gets
//! (BEHAVIOUR §7).
//!
//! Records are keyed by the link's socket number and kept in that order, the order the
//! original's map walks (by socket fd), which decides ties. Invariants: a record exists only
//! for an open msg_server link that sent IMMsgServInfo; counts never wrap (KNOWN_DEFECTS
//! D-LS-2); the total is always the sum of the records, so it cannot drift.

use netlib::Metrics;
use prometheus_client::metrics::counter::Counter;
use std::collections::BTreeMap;

use crate::socket_order::SocketNo;

/// IMUserCntUpdate action: one more client connection.
const USER_CNT_INC: u32 = 1;
/// IMUserCntUpdate action: one client connection fewer.
const USER_CNT_DEC: u32 = 2;

/// What one msg_server reported about itself (IMMsgServInfo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MsgServerInfo {
    /// Address clients should prefer ("telecom", the msg_server's `IpAddr1`).
    pub(crate) ip1: String,
    /// Alternative address ("unicom", `IpAddr2`).
    pub(crate) ip2: String,
    /// The msg_server's client port.
    pub(crate) port: u32,
    /// Capacity; a server at or above it is never chosen.
    pub(crate) max_conn_cnt: u32,
    /// Current client connections.
    pub(crate) cur_conn_cnt: u32,
    /// Host name, for the logs.
    pub(crate) host_name: String,
    /// The TLS and WebSocket client ports it offers (PROTOCOL §2.4), advertised to clients.
    pub(crate) other_ports: OtherPorts,
}

/// A msg_server's client ports beside the plain one (teamtalk-rs msg_servers only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OtherPorts {
    pub(crate) tls: Option<u32>,
    pub(crate) ws: Option<u32>,
    pub(crate) wss: Option<u32>,
    /// The WebSocket path; only kept when a WebSocket port is.
    pub(crate) ws_path: Option<String>,
}

/// The outcome of choosing a msg_server for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pick<'a> {
    /// Nothing is registered (answer code 1).
    NoServer,
    /// Every registered server is at capacity (answer code 2).
    AllFull,
    /// The chosen server (answer code 0).
    Server(&'a MsgServerInfo),
}

/// Registered msg_servers by link socket number.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    servers: BTreeMap<SocketNo, MsgServerInfo>,
    /// Picks by outcome: a server, none registered, all full (`teamtalk_discoveries_total`).
    picks: [Counter; 3],
}

impl Registry {
    /// An empty registry counting its picks into `metrics`.
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        Self {
            servers: BTreeMap::new(),
            picks: metrics.counters(
                "discoveries",
                "msg_server discoveries (TCP and HTTP) by result",
                "result",
                ["ok", "no_msg_server", "all_full"],
            ),
        }
    }

    /// Records what a link reported; a repeated report replaces the earlier one (the original
    /// kept the first and still added the second's count to the total, D-LS-2).
    pub(crate) fn register(
        &mut self,
        link: SocketNo,
        info: MsgServerInfo,
    ) -> Option<MsgServerInfo> {
        self.servers.insert(link, info)
    }

    /// Applies an IMUserCntUpdate: 1 adds one, 2 removes one without going below zero, any
    /// other action is ignored. Returns the updated record, `None` if the link never
    /// registered or the action is unknown.
    pub(crate) fn update_count(&mut self, link: SocketNo, action: u32) -> Option<&MsgServerInfo> {
        let info = self.servers.get_mut(&link)?;
        match action {
            USER_CNT_INC => info.cur_conn_cnt = info.cur_conn_cnt.saturating_add(1),
            USER_CNT_DEC => info.cur_conn_cnt = info.cur_conn_cnt.saturating_sub(1),
            _ => return None,
        }
        Some(info)
    }

    /// Forgets a link's record (the link closed).
    pub(crate) fn remove(&mut self, link: SocketNo) -> Option<MsgServerInfo> {
        self.servers.remove(&link)
    }

    /// The least-loaded server with room: walking in socket order, the first one with the
    /// strictly smallest `cur_conn_cnt` among those with `cur_conn_cnt < max_conn_cnt`.
    pub(crate) fn pick(&self) -> Pick<'_> {
        let pick = self.choose();
        let i = match pick {
            Pick::Server(_) => 0,
            Pick::NoServer => 1,
            Pick::AllFull => 2,
        };
        self.picks[i].inc();
        pick
    }

    fn choose(&self) -> Pick<'_> {
        if self.servers.is_empty() {
            return Pick::NoServer;
        }
        let mut best: Option<&MsgServerInfo> = None;
        for info in self.servers.values() {
            let has_room = info.cur_conn_cnt < info.max_conn_cnt;
            if has_room && best.is_none_or(|b| info.cur_conn_cnt < b.cur_conn_cnt) {
                best = Some(info);
            }
        }
        best.map_or(Pick::AllFull, Pick::Server)
    }

    /// Client connections over all registered servers.
    pub(crate) fn total(&self) -> u64 {
        self.servers
            .values()
            .map(|s| u64::from(s.cur_conn_cnt))
            .sum()
    }

    /// Number of registered servers.
    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    /// Every record in socket order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketNo, &MsgServerInfo)> {
        self.servers.iter().map(|(h, s)| (*h, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(port: u32, cur: u32, max: u32) -> MsgServerInfo {
        MsgServerInfo {
            ip1: "10.0.0.1".into(),
            ip2: "10.0.0.2".into(),
            port,
            max_conn_cnt: max,
            cur_conn_cnt: cur,
            host_name: "h".into(),
            other_ports: OtherPorts::default(),
        }
    }

    fn picked_port(r: &Registry) -> Option<u32> {
        match r.pick() {
            Pick::Server(s) => Some(s.port),
            _ => None,
        }
    }

    #[test]
    fn empty_registry_has_no_server_and_full_ones_are_skipped() {
        let mut r = Registry::default();
        assert_eq!(r.pick(), Pick::NoServer);
        r.register(SocketNo(1), info(1, 5, 5));
        r.register(SocketNo(2), info(2, 9, 5));
        assert_eq!(r.pick(), Pick::AllFull);
        r.register(SocketNo(3), info(3, 4, 5));
        assert_eq!(picked_port(&r), Some(3));
    }

    #[test]
    fn smallest_count_wins_and_ties_go_to_the_lowest_socket() {
        let mut r = Registry::default();
        r.register(SocketNo(7), info(7, 3, 10));
        r.register(SocketNo(2), info(2, 3, 10));
        r.register(SocketNo(5), info(5, 3, 10));
        assert_eq!(picked_port(&r), Some(2));
        r.register(SocketNo(9), info(9, 2, 10));
        assert_eq!(picked_port(&r), Some(9));
    }

    #[test]
    fn counts_saturate_and_unknown_actions_are_ignored() {
        let mut r = Registry::default();
        let h = SocketNo(1);
        assert!(r.update_count(h, 1).is_none(), "unregistered link");
        r.register(h, info(1, 0, 2));
        assert_eq!(r.update_count(h, 2).map(|s| s.cur_conn_cnt), Some(0));
        assert!(r.update_count(h, 3).is_none());
        r.update_count(h, 1);
        r.update_count(h, 1);
        assert_eq!(r.total(), 2);
        assert_eq!(r.pick(), Pick::AllFull);
        r.register(h, info(1, u32::MAX, u32::MAX));
        assert_eq!(r.update_count(h, 1).map(|s| s.cur_conn_cnt), Some(u32::MAX));
        assert_eq!(r.total(), u64::from(u32::MAX));
        assert!(r.remove(h).is_some());
        assert_eq!((r.len(), r.total()), (0, 0));
    }
}
