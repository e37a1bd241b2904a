//! Who is online where: user id → the links (msg_servers) that reported the user online, with
//! client-type counts kept per link (BEHAVIOUR §6.1–§6.2).
//!
//! The original keeps one client-type count map per user shared by all links, so a closed
//! link cannot take back what it contributed (KNOWN_DEFECTS D-RS-1, D-RS-2). Here the counts
//! live per (user, link); the update table of §6.2 is applied to the reporting link's counts.
//!
//! Invariants: a user entry exists iff some link has a non-zero count for it; a user's link
//! entry exists iff that link has a non-zero count; `by_link` names exactly the users that
//! have an entry for the link.

use std::collections::{BTreeMap, HashMap, HashSet};

use netlib::ConnHandle;
use teamtalk_proto::pb::base_define::UserStatType;

/// A user id as it travels between modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct UserId(pub(crate) u32);

/// The wire value of `USER_STATUS_OFFLINE`.
pub(crate) const STATUS_OFFLINE: u32 = UserStatType::UserStatusOffline as u32;

/// Whether a client type is a PC one (bit 0x10 clear, PROTOCOL §7.4).
pub(crate) fn is_pc(client_type: u32) -> bool {
    client_type & 0x10 == 0
}

/// Client type → number of that user's clients of that type on one link.
type TypeCounts = BTreeMap<u32, u32>;

/// One user's presence: the counts each link reported.
#[derive(Debug, Default)]
struct User {
    links: BTreeMap<ConnHandle, TypeCounts>,
}

impl User {
    fn has_pc_client(&self) -> bool {
        self.links
            .values()
            .any(|counts| counts.keys().any(|&t| is_pc(t)))
    }
}

/// The presence table of the whole cluster.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    users: HashMap<UserId, User>,
    by_link: HashMap<ConnHandle, HashSet<UserId>>,
}

impl Presence {
    /// Applies one status report from `link` (the table of BEHAVIOUR §6.2).
    pub(crate) fn update(
        &mut self,
        user_id: UserId,
        status: u32,
        client_type: u32,
        link: ConnHandle,
    ) {
        let offline = status == STATUS_OFFLINE;
        let Some(user) = self.users.get_mut(&user_id) else {
            if !offline {
                let mut user = User::default();
                user.links
                    .insert(link, TypeCounts::from([(client_type, 1)]));
                self.users.insert(user_id, user);
                self.by_link.entry(link).or_default().insert(user_id);
            }
            return;
        };
        match user.links.get_mut(&link) {
            Some(counts) if offline => {
                if let Some(count) = counts.get_mut(&client_type) {
                    *count -= 1;
                    if *count == 0 {
                        counts.remove(&client_type);
                    }
                }
                if counts.is_empty() {
                    user.links.remove(&link);
                    if user.links.is_empty() {
                        self.users.remove(&user_id);
                    }
                    self.unindex(link, user_id);
                }
            }
            Some(counts) => {
                let count = counts.entry(client_type).or_insert(0);
                *count = count.saturating_add(1);
            }
            None if offline => {}
            None => {
                user.links
                    .insert(link, TypeCounts::from([(client_type, 1)]));
                self.by_link.entry(link).or_default().insert(user_id);
            }
        }
    }

    /// Whether any link reports the user.
    pub(crate) fn contains(&self, user_id: UserId) -> bool {
        self.users.contains_key(&user_id)
    }

    /// Whether the user has a PC client anywhere.
    pub(crate) fn has_pc_client(&self, user_id: UserId) -> bool {
        self.users.get(&user_id).is_some_and(User::has_pc_client)
    }

    /// The status route_server reports: ONLINE iff a PC client is online, so mobile-only users
    /// are OFFLINE and LEAVE is never reported (BEHAVIOUR §6.2).
    pub(crate) fn status(&self, user_id: UserId) -> UserStatType {
        if self.has_pc_client(user_id) {
            UserStatType::UserStatusOnline
        } else {
            UserStatType::UserStatusOffline
        }
    }

    /// What `link` contributed: (user, client type, count), ordered by user then type.
    pub(crate) fn link_counts(&self, link: ConnHandle) -> Vec<(UserId, u32, u32)> {
        let Some(users) = self.by_link.get(&link) else {
            return Vec::new();
        };
        let mut out: Vec<(UserId, u32, u32)> = users
            .iter()
            .filter_map(|id| Some((*id, self.users.get(id)?.links.get(&link)?)))
            .flat_map(|(id, counts)| counts.iter().map(move |(&t, &n)| (id, t, n)))
            .collect();
        out.sort_unstable();
        out
    }

    /// Number of users online anywhere.
    pub(crate) fn user_count(&self) -> usize {
        self.users.len()
    }

    fn unindex(&mut self, link: ConnHandle, user_id: UserId) {
        if let Some(users) = self.by_link.get_mut(&link) {
            users.remove(&user_id);
            if users.is_empty() {
                self.by_link.remove(&link);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONLINE: u32 = 1;
    const LEAVE: u32 = 3;
    const WINDOWS: u32 = 0x01;
    const MAC: u32 = 0x02;
    const ANDROID: u32 = 0x12;
    const A: ConnHandle = ConnHandle(1);
    const B: ConnHandle = ConnHandle(2);
    const U: UserId = UserId(7);

    fn online(p: &Presence) -> bool {
        p.status(U) == UserStatType::UserStatusOnline
    }

    #[test]
    fn unknown_user_offline_changes_nothing() {
        let mut p = Presence::default();
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        assert!(!p.contains(U));
        assert!(p.by_link.is_empty());
    }

    #[test]
    fn unknown_user_online_is_created_with_count_one() {
        let mut p = Presence::default();
        p.update(U, ONLINE, WINDOWS, A);
        assert!(p.contains(U) && online(&p));
        assert_eq!(p.link_counts(A), [(U, WINDOWS, 1)]);
    }

    #[test]
    fn same_link_counts_up_and_down() {
        let mut p = Presence::default();
        p.update(U, ONLINE, WINDOWS, A);
        p.update(U, LEAVE, WINDOWS, A);
        p.update(U, ONLINE, ANDROID, A);
        assert_eq!(p.link_counts(A), [(U, WINDOWS, 2), (U, ANDROID, 1)]);
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        assert!(p.contains(U) && !online(&p), "mobile only is offline");
        p.update(U, STATUS_OFFLINE, MAC, A);
        assert!(
            p.contains(U),
            "a type the link does not have is not decremented"
        );
        p.update(U, STATUS_OFFLINE, ANDROID, A);
        assert!(!p.contains(U));
        assert!(p.by_link.is_empty());
    }

    #[test]
    fn second_link_is_added_and_offline_from_a_stranger_is_ignored() {
        let mut p = Presence::default();
        p.update(U, ONLINE, WINDOWS, A);
        p.update(U, STATUS_OFFLINE, WINDOWS, B);
        assert_eq!(p.link_counts(A), [(U, WINDOWS, 1)]);
        assert!(p.link_counts(B).is_empty());
        p.update(U, ONLINE, MAC, B);
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        assert!(online(&p), "still online through B");
        assert!(p.link_counts(A).is_empty() && !p.by_link.contains_key(&A));
        p.update(U, STATUS_OFFLINE, MAC, B);
        assert!(!p.contains(U));
    }
}
