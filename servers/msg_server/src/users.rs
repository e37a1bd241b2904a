//! The users logged in on this msg_server (BEHAVIOUR §1.2): one entry per user id with the
//! user's open connections here, nick and PC-login flag.
//!
//! Invariants: a user exists exactly while it has at least one open (validated, not kicked)
//! connection here; a connection is listed under at most one user. Pending logins are not
//! users: a connection being validated remembers the name it asked for itself, which is what
//! the original's by-name index was for, so a second pending login for the same name can never
//! drop the first (KNOWN_DEFECTS D-MS-5).

use std::collections::HashMap;

use netlib::ConnHandle;

/// One logged-in user.
#[derive(Debug, Default)]
pub(crate) struct User {
    /// Nick from the last validation, shown in push notifications.
    pub(crate) nick: String,
    /// Whether some PC client of the user is online anywhere, as route_server last said (or a
    /// PC login here). Starts false (KNOWN_DEFECTS D-MS-7).
    pub(crate) pc_online: bool,
    /// Open connections, in login order.
    conns: Vec<ConnHandle>,
}

impl User {
    /// The user's open connections here.
    pub(crate) fn conns(&self) -> &[ConnHandle] {
        &self.conns
    }
}

/// The user index.
#[derive(Debug, Default)]
pub(crate) struct Users {
    by_id: HashMap<u32, User>,
}

impl Users {
    /// The user, if logged in here.
    pub(crate) fn get(&self, user_id: u32) -> Option<&User> {
        self.by_id.get(&user_id)
    }

    /// The user, mutably.
    pub(crate) fn get_mut(&mut self, user_id: u32) -> Option<&mut User> {
        self.by_id.get_mut(&user_id)
    }

    /// The user's open connections (empty if not logged in here).
    pub(crate) fn conns(&self, user_id: u32) -> &[ConnHandle] {
        self.by_id.get(&user_id).map_or(&[], |u| &u.conns)
    }

    /// Adds an open connection, creating the user if needed.
    pub(crate) fn add(&mut self, user_id: u32, nick: &str, h: ConnHandle) -> &mut User {
        let user = self.by_id.entry(user_id).or_default();
        if user.nick != nick {
            nick.clone_into(&mut user.nick);
        }
        if !user.conns.contains(&h) {
            user.conns.push(h);
        }
        user
    }

    /// Removes a connection; the user goes when its last connection does.
    pub(crate) fn remove(&mut self, user_id: u32, h: ConnHandle) {
        if let Some(user) = self.by_id.get_mut(&user_id) {
            user.conns.retain(|c| *c != h);
            if user.conns.is_empty() {
                self.by_id.remove(&user_id);
            }
        }
    }

    /// Every logged-in user.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &User)> {
        self.by_id.iter().map(|(id, u)| (*id, u))
    }

    /// Number of logged-in users.
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_lives_while_it_has_connections() {
        let mut users = Users::default();
        users.add(7, "seven", ConnHandle(1));
        users.add(7, "seven", ConnHandle(2));
        users.add(7, "seven", ConnHandle(2));
        assert_eq!(users.conns(7), [ConnHandle(1), ConnHandle(2)]);
        users.remove(7, ConnHandle(1));
        assert_eq!(users.len(), 1);
        users.remove(7, ConnHandle(2));
        assert!(users.get(7).is_none());
        assert!(users.conns(7).is_empty());
        users.remove(8, ConnHandle(3));
        assert_eq!(users.len(), 0);
    }
}
