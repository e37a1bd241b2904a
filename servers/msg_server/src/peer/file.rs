//! The file_server links (msg-server port) and the client addresses each one advertised.
//!
//! Invariant: a link's address list belongs to its current connection: it is emptied on every
//! (re)connect and filled by that connection's IMFileServerIPRsp (PROTOCOL §6.4).

use std::time::Instant;

use netlib::{ConnHandle, ConnOptions, Dialer};
use teamtalk_proto::pb::base_define::IpAddr;

use crate::config::Endpoint;

/// The file_server links.
#[derive(Debug)]
pub(crate) struct FileLinks {
    dialer: Dialer,
    addrs: Vec<Vec<IpAddr>>,
}

impl FileLinks {
    /// Links to every configured file_server; first connects due now.
    pub(crate) fn new(peers: &[Endpoint], now: Instant) -> Self {
        Self {
            dialer: Dialer::new(peers, ConnOptions::server_link(), now),
            addrs: vec![Vec::new(); peers.len()],
        }
    }

    /// The dialer, to start due connects.
    pub(crate) fn dialer_mut(&mut self) -> &mut Dialer {
        &mut self.dialer
    }

    /// The dialer, to read link states.
    pub(crate) fn dialer(&self) -> &Dialer {
        &self.dialer
    }

    /// Records a completed connect; `false` if `h` is not a file_server link.
    pub(crate) fn connected(&mut self, h: ConnHandle, now: Instant) -> bool {
        let Some(i) = self.dialer.connected(h, now) else {
            return false;
        };
        self.addrs[i].clear();
        true
    }

    /// Records a close or failed connect; `false` if `h` is not a file_server link.
    pub(crate) fn closed(&mut self, h: ConnHandle, now: Instant) -> bool {
        self.dialer.closed(h, now).is_some()
    }

    /// Stores the client addresses a file_server advertised on link `h`.
    pub(crate) fn set_addrs(&mut self, h: ConnHandle, addrs: Vec<IpAddr>) {
        if let Some(i) = self.dialer.index_of(h) {
            self.addrs[i] = addrs;
        }
    }

    /// The addresses advertised on link `h` (empty if unknown).
    pub(crate) fn addrs_of(&self, h: ConnHandle) -> &[IpAddr] {
        self.dialer.index_of(h).map_or(&[], |i| &self.addrs[i])
    }

    /// An open link: the configured slot `spread` points at, else the next open one in
    /// circular order (BEHAVIOUR §1.3).
    pub(crate) fn pick(&self, spread: usize) -> Option<ConnHandle> {
        let links = self.dialer.links();
        let n = links.len();
        (0..n).find_map(|k| links[(spread + k) % n].open_handle())
    }
}
