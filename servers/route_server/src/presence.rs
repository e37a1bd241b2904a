//! Who is online where: user id → the links (msg_servers) that reported the user online, with
//! client-type counts kept per link (BEHAVIOUR §6.1–§6.2).
//!
//! The original keeps one client-type count map per user shared by all links, so a closed
//! link cannot take back what it contributed (KNOWN_DEFECTS D-RS-1, D-RS-2). Here the counts
//! live per (user, link); the update table of §6.2 is applied to the reporting link's counts.
//!
//! The user's link *set* still follows the original's rule, because whether a user "still
//! exists" after an update decides which notifications go out (BEHAVIOUR §6.3): a link joins
//! the set when it reports a client online and leaves it only when it reports a client
//! offline at a moment the user has no client left anywhere. So a msg_server whose last client
//! of the user logged out while another msg_server still had one stays a member, and the user
//! entry outlives its last client until that member reports again or its link closes.
//!
//! Invariants: a user entry exists iff its member set is non-empty; every link with counts
//! for a user is a member, and its counts are non-zero; `by_link` names exactly the users
//! whose member set holds the link.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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

/// One user's presence: the member links and the counts each link reported.
#[derive(Debug, Default)]
struct User {
    /// The original's route-connection set of the user.
    members: BTreeSet<ConnHandle>,
    /// Counts per link; only members appear, and only with non-zero counts.
    links: BTreeMap<ConnHandle, TypeCounts>,
}

impl User {
    fn has_pc_client(&self) -> bool {
        self.links
            .values()
            .any(|counts| counts.keys().any(|&t| is_pc(t)))
    }

    fn add_client(&mut self, link: ConnHandle, client_type: u32) {
        let count = self
            .links
            .entry(link)
            .or_default()
            .entry(client_type)
            .or_insert(0);
        *count = count.saturating_add(1);
    }

    fn remove_client(&mut self, link: ConnHandle, client_type: u32) {
        let Some(counts) = self.links.get_mut(&link) else {
            return;
        };
        if let Some(count) = counts.get_mut(&client_type) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&client_type);
            }
        }
        if counts.is_empty() {
            self.links.remove(&link);
        }
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
                user.members.insert(link);
                user.add_client(link, client_type);
                self.users.insert(user_id, user);
                self.by_link.entry(link).or_default().insert(user_id);
            }
            return;
        };
        let member = user.members.contains(&link);
        match (member, offline) {
            (true, true) => {
                user.remove_client(link, client_type);
                if user.links.is_empty() {
                    user.members.remove(&link);
                    if user.members.is_empty() {
                        self.users.remove(&user_id);
                    }
                    self.unindex(link, user_id);
                }
            }
            (true, false) => user.add_client(link, client_type),
            (false, false) => {
                user.members.insert(link);
                user.add_client(link, client_type);
                self.by_link.entry(link).or_default().insert(user_id);
            }
            (false, true) => {}
        }
    }

    /// Whether the user has an entry (some link is a member).
    pub(crate) fn contains(&self, user_id: UserId) -> bool {
        self.users.contains_key(&user_id)
    }

    /// The links the user's relays go to: its member set, which holds every link with a client
    /// of the user (and possibly a link whose last client just left).
    pub(crate) fn links(&self, user_id: UserId) -> impl Iterator<Item = ConnHandle> + '_ {
        self.users
            .get(&user_id)
            .into_iter()
            .flat_map(|user| user.members.iter().copied())
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

    /// Drops a closed link from every member set, deleting users left without members (they
    /// have no client anywhere, the link's own counts having been taken back before).
    pub(crate) fn forget_link(&mut self, link: ConnHandle) {
        let Some(users) = self.by_link.remove(&link) else {
            return;
        };
        for user_id in users {
            if let Some(user) = self.users.get_mut(&user_id) {
                user.links.remove(&link);
                user.members.remove(&link);
                if user.members.is_empty() {
                    self.users.remove(&user_id);
                }
            }
        }
    }

    /// Number of users with an entry.
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
        assert!(p.link_counts(B).is_empty() && !p.by_link.contains_key(&B));
        p.update(U, ONLINE, MAC, B);
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        assert!(online(&p), "still online through B");
        assert!(p.link_counts(A).is_empty());
        p.update(U, STATUS_OFFLINE, MAC, B);
        assert!(p.contains(U) && !online(&p), "A is still a member");
        p.update(U, STATUS_OFFLINE, MAC, A);
        assert!(!p.contains(U));
    }

    #[test]
    fn a_link_whose_clients_left_while_another_had_one_stays_a_member() {
        let mut p = Presence::default();
        p.update(U, ONLINE, WINDOWS, A);
        p.update(U, ONLINE, ANDROID, B);
        p.update(U, STATUS_OFFLINE, ANDROID, B);
        assert!(p.link_counts(B).is_empty());
        assert!(p.by_link[&B].contains(&U), "B is still a member");
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        assert!(
            p.contains(U) && !online(&p),
            "the entry outlives the last client"
        );
        assert!(!p.by_link.contains_key(&A));
        // The remaining member's next offline report removes it, and with it the user.
        p.update(U, STATUS_OFFLINE, ANDROID, B);
        assert!(!p.contains(U) && p.by_link.is_empty());
    }

    #[test]
    fn forgetting_a_link_drops_its_memberships() {
        let mut p = Presence::default();
        p.update(U, ONLINE, WINDOWS, A);
        p.update(U, ONLINE, ANDROID, B);
        p.update(U, STATUS_OFFLINE, ANDROID, B);
        p.forget_link(B);
        assert!(p.contains(U) && online(&p));
        p.update(U, STATUS_OFFLINE, WINDOWS, A);
        assert!(!p.contains(U), "A was the last member");
        assert!(p.by_link.is_empty());
    }
}
