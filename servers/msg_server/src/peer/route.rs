//! The route_server links and the "master" among them (PROTOCOL §6.4).
//!
//! Invariant: `master` is the open route link connected longest ago, or `None` when no link is
//! open. All route traffic goes to the master except IMUserStatusUpdate, which goes to every
//! open link. Whenever the master changes to a link, that link must be sent IMRoleSet
//! {master = 1}; `connected` and `closed` report when that is due.

use std::time::Instant;

use netlib::{ConnHandle, ConnOptions, Dialer};

use crate::config::Endpoint;

/// The route_server links.
#[derive(Debug)]
pub(crate) struct RouteLinks {
    dialer: Dialer,
    master: Option<ConnHandle>,
}

/// What a route link event means for the master role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MasterChange {
    /// The link is not a route link.
    NotRoute,
    /// The master is unchanged.
    Same,
    /// This link became master and must get IMRoleSet.
    NewMaster(ConnHandle),
}

impl RouteLinks {
    /// Links to every configured route_server; first connects due now.
    pub(crate) fn new(peers: &[Endpoint], now: Instant) -> Self {
        Self {
            dialer: Dialer::new(peers, ConnOptions::server_link(), now),
            master: None,
        }
    }

    /// The dialer, to start due connects.
    pub(crate) fn dialer_mut(&mut self) -> &mut Dialer {
        &mut self.dialer
    }

    /// Records a completed connect.
    pub(crate) fn connected(&mut self, h: ConnHandle, now: Instant) -> MasterChange {
        if self.dialer.connected(h, now).is_none() {
            return MasterChange::NotRoute;
        }
        self.elect()
    }

    /// Records a close or failed connect.
    pub(crate) fn closed(&mut self, h: ConnHandle, now: Instant) -> MasterChange {
        if self.dialer.closed(h, now).is_none() {
            return MasterChange::NotRoute;
        }
        if self.master == Some(h) {
            self.master = None;
        }
        self.elect()
    }

    fn elect(&mut self) -> MasterChange {
        if self.master.is_some() {
            return MasterChange::Same;
        }
        self.master = self.dialer.oldest_open();
        self.master
            .map_or(MasterChange::Same, MasterChange::NewMaster)
    }

    /// The master link, if any route link is open.
    pub(crate) fn master(&self) -> Option<ConnHandle> {
        self.master
    }

    /// Every open route link.
    pub(crate) fn open(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.dialer.open_handles()
    }
}
