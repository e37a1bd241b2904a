//! The kinds of connection msg_server has: clients it accepted and the back-end links it dials.
//!
//! Every connection carries a [`ConnData`]. An outbound link starts as [`ConnData::Dialing`]
//! (netlib creates it with the default value) and learns its kind when the connect completes;
//! until then no PDU can arrive on it.

pub(crate) mod client;
pub(crate) mod db_proxy;
pub(crate) mod file;
pub(crate) mod route;

use std::time::Instant;

use netlib::{ConnHandle, ConnOptions, Ctx, Dialer};

use crate::config::Config;
use client::ClientConn;
use db_proxy::DbLinks;
use file::FileLinks;
use route::{MasterChange, RouteLinks};

/// The back-end a dialled link talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LinkKind {
    /// db_proxy_server.
    Db,
    /// login_server's msg-server port.
    Login,
    /// route_server.
    Route,
    /// push_server.
    Push,
    /// file_server's msg-server port.
    File,
}

/// Per-connection data stored by the reactor.
#[derive(Debug, Default)]
pub(crate) enum ConnData {
    /// An outbound connect in progress.
    #[default]
    Dialing,
    /// An accepted client connection.
    Client(ClientConn),
    /// An established back-end link.
    Link(LinkKind),
}

/// Every outbound link, by kind.
#[derive(Debug)]
pub(crate) struct Links {
    pub(crate) db: DbLinks,
    pub(crate) login: Dialer,
    pub(crate) route: RouteLinks,
    pub(crate) push: Dialer,
    pub(crate) file: FileLinks,
}

/// What a completed connect turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Connected {
    pub(crate) kind: LinkKind,
    /// For route links: whether this link became master.
    pub(crate) new_master: bool,
}

impl Links {
    /// Links to every configured back end; first connects due now.
    pub(crate) fn new(config: &Config, now: Instant) -> Self {
        let dial = |peers| Dialer::new(peers, ConnOptions::server_link(), now);
        Self {
            db: DbLinks::new(config, now),
            login: dial(&config.login_servers),
            route: RouteLinks::new(&config.route_servers, now),
            push: dial(&config.push_servers),
            file: FileLinks::new(&config.file_servers, now),
        }
    }

    /// Starts every connect that is due (start-up and the 1-s timer).
    pub(crate) fn tick(&mut self, ctx: &mut Ctx<ConnData>) {
        self.db.dialer_mut().tick(ctx);
        self.login.tick(ctx);
        self.route.dialer_mut().tick(ctx);
        self.push.tick(ctx);
        self.file.dialer_mut().tick(ctx);
    }

    /// Records a completed connect and says which kind of link it is.
    pub(crate) fn connected(&mut self, h: ConnHandle, now: Instant) -> Option<Connected> {
        let plain = |kind| {
            Some(Connected {
                kind,
                new_master: false,
            })
        };
        if self.db.connected(h, now) {
            return plain(LinkKind::Db);
        }
        if self.login.connected(h, now).is_some() {
            return plain(LinkKind::Login);
        }
        if self.push.connected(h, now).is_some() {
            return plain(LinkKind::Push);
        }
        if self.file.connected(h, now) {
            return plain(LinkKind::File);
        }
        match self.route.connected(h, now) {
            MasterChange::NotRoute => None,
            MasterChange::Same => plain(LinkKind::Route),
            MasterChange::NewMaster(m) => Some(Connected {
                kind: LinkKind::Route,
                new_master: m == h,
            }),
        }
    }

    /// Records a closed link or failed connect. Returns a route link that just became master
    /// and must be told so.
    pub(crate) fn closed(&mut self, h: ConnHandle, now: Instant) -> Option<ConnHandle> {
        if self.db.closed(h, now)
            || self.login.closed(h, now).is_some()
            || self.push.closed(h, now).is_some()
            || self.file.closed(h, now)
        {
            return None;
        }
        match self.route.closed(h, now) {
            MasterChange::NewMaster(m) => Some(m),
            MasterChange::NotRoute | MasterChange::Same => None,
        }
    }

    /// The push link to use: any open one (KNOWN_DEFECTS D-MS-13).
    pub(crate) fn push_link(&self) -> Option<ConnHandle> {
        self.push.open_handles().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle logged-in connections must stay cheap (goal: well under 1.7 KB each, including
    /// the reactor's own per-connection struct); this pins the part msg_server adds.
    #[test]
    fn per_connection_state_stays_small() {
        // 104: the client's address is kept (+24 bytes) for the logout and kick log lines.
        assert!(size_of::<ConnData>() <= 104, "{}", size_of::<ConnData>());
        assert!(size_of::<netlib::Conn<ConnData>>() <= 400);
    }
}
