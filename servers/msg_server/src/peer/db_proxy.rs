//! The db_proxy links: `ConcurrentDBConnCnt` connections to every configured entry, split into
//! a login pool and a business pool (BEHAVIOUR §1.3).
//!
//! Invariants: the open lists hold exactly the links that are connected and have not sent
//! IMStopReceivePacket; they are rebuilt on every connect, close and stop. Requests from one
//! client go to the same open link while the set of open links is unchanged
//! (`spread` = the client's slab key), so db_proxy sees them in the order the client sent them
//! and assigns message ids in that order.

use std::time::Instant;

use netlib::{ConnHandle, ConnOptions, Dialer};

use crate::config::Config;

/// The db_proxy links and their pools.
#[derive(Debug)]
pub(crate) struct DbLinks {
    dialer: Dialer,
    /// Links with an index below this belong to the login pool.
    login_links: usize,
    /// Per link: IMStopReceivePacket received on the current connection.
    stopped: Vec<bool>,
    login_open: Vec<ConnHandle>,
    business_open: Vec<ConnHandle>,
}

impl DbLinks {
    /// Links for every db_proxy entry × `ConcurrentDBConnCnt`; first connects due now.
    pub(crate) fn new(config: &Config, now: Instant) -> Self {
        let peers: Vec<_> = config
            .db_servers
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.clone(), config.db_conns_per_server))
            .collect();
        let login_links = config.db_servers.len() / 2 * config.db_conns_per_server;
        Self {
            stopped: vec![false; peers.len()],
            dialer: Dialer::new(&peers, ConnOptions::server_link(), now),
            login_links,
            login_open: Vec::new(),
            business_open: Vec::new(),
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

    /// Records a completed connect; `false` if `h` is not a db_proxy link.
    pub(crate) fn connected(&mut self, h: ConnHandle, now: Instant) -> bool {
        let Some(i) = self.dialer.connected(h, now) else {
            return false;
        };
        self.stopped[i] = false;
        self.refresh();
        true
    }

    /// Records a close or failed connect; `false` if `h` is not a db_proxy link.
    pub(crate) fn closed(&mut self, h: ConnHandle, now: Instant) -> bool {
        if self.dialer.closed(h, now).is_none() {
            return false;
        }
        self.refresh();
        true
    }

    /// db_proxy announced it is stopping: send it nothing more on this link.
    pub(crate) fn stop_received(&mut self, h: ConnHandle) {
        if let Some(i) = self.dialer.index_of(h) {
            self.stopped[i] = true;
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        self.login_open.clear();
        self.business_open.clear();
        for (i, link) in self.dialer.links().iter().enumerate() {
            let Some(h) = link.open_handle() else {
                continue;
            };
            if self.stopped[i] {
                continue;
            }
            if i < self.login_links {
                self.login_open.push(h);
            } else {
                self.business_open.push(h);
            }
        }
    }

    /// Whether any link of either pool can take requests.
    pub(crate) fn any_open(&self) -> bool {
        !self.login_open.is_empty() || !self.business_open.is_empty()
    }

    /// A link for login-pool work: the login pool, else the business pool.
    pub(crate) fn for_login(&self, spread: usize) -> Option<ConnHandle> {
        pick(&self.login_open, spread).or_else(|| pick(&self.business_open, spread))
    }

    /// A link for everything else: the business pool, else the login pool.
    pub(crate) fn for_business(&self, spread: usize) -> Option<ConnHandle> {
        pick(&self.business_open, spread).or_else(|| pick(&self.login_open, spread))
    }
}

fn pick(open: &[ConnHandle], spread: usize) -> Option<ConnHandle> {
    (!open.is_empty()).then(|| open[spread % open.len()])
}

#[cfg(test)]
mod tests {
    use netlib::Conf;

    use super::*;

    fn config(entries: usize, per: usize) -> Config {
        let mut text = format!(
            "ListenIP=127.0.0.1\nListenPort=0\nIpAddr1=127.0.0.1\nMaxConnCnt=10\n\
             aesKey=12345678901234567890123456789012\nConcurrentDBConnCnt={per}\n"
        );
        for n in 1..=entries {
            text.push_str(&format!("DBServerIP{n}=127.0.0.1\nDBServerPort{n}=1\n"));
        }
        Config::from_conf(&Conf::parse(&text)).unwrap()
    }

    #[test]
    fn first_half_of_the_entries_is_the_login_pool() {
        let db = DbLinks::new(&config(3, 2), Instant::now());
        assert_eq!(db.dialer.links().len(), 6);
        assert_eq!(db.login_links, 2);
        let db = DbLinks::new(&config(2, 10), Instant::now());
        assert_eq!(db.login_links, 10);
    }

    #[test]
    fn pools_fall_back_to_each_other_and_spread_is_stable() {
        let mut db = DbLinks::new(&config(2, 1), Instant::now());
        assert!(!db.any_open());
        assert_eq!(db.for_login(0), None);
        db.business_open = vec![ConnHandle(7)];
        assert_eq!(db.for_login(3), Some(ConnHandle(7)));
        db.login_open = vec![ConnHandle(1), ConnHandle(2)];
        assert_eq!(db.for_login(3), Some(ConnHandle(2)));
        assert_eq!(db.for_login(3), db.for_login(3));
        assert_eq!(db.for_business(3), Some(ConnHandle(7)));
        db.business_open.clear();
        assert_eq!(db.for_business(4), Some(ConnHandle(1)));
    }
}
