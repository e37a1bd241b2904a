//! The stored messages this msg_server delivered lately, so that a copy db_proxy marks as a
//! duplicate (the client sent it again after losing the ack) is delivered only when this
//! server never delivered the first one — the first answer may have been lost with its
//! db_proxy link, and then no recipient got the message. Single-chat messages relayed by
//! route_server are recorded too, when they reached a connection here, and a routed copy of
//! one already recorded is not delivered again (route_server replays recent messages to a
//! link that reports a login late, and a reconnected link is a new one to it).
//!
//! Invariant: bounded by entries ([`CAPACITY`]); the oldest are forgotten first. The set is a
//! B-tree, whose memory follows the entries it holds (about 5 MB when full) and is reused as
//! old entries leave: a hash set's table grows in steps and, with entries leaving all the
//! time, once more when its removed slots use up the spare room, so its memory kept rising
//! long after it was full. A copy of a
//! message forgotten here, or delivered only by another msg_server whose relay never came
//! here, is delivered again with the same msg id, which clients file under that id.

use std::collections::{BTreeSet, VecDeque};

/// Deliveries remembered: at 15,000 messages a second about 13 s, at a busy office's rate
/// far longer than a client waits before it sends a message again.
pub(crate) const CAPACITY: usize = 200_000;

/// A stored message: sender, session (peer or group), whether a group message, msg id.
pub(crate) type Delivery = (u32, u32, bool, u32);

/// The deliveries remembered, oldest first.
#[derive(Debug, Default)]
pub(crate) struct RecentDeliveries {
    set: BTreeSet<Delivery>,
    order: VecDeque<Delivery>,
}

impl RecentDeliveries {
    /// Records that `d` was delivered from here.
    pub(crate) fn record(&mut self, d: Delivery) {
        if !self.set.insert(d) {
            return;
        }
        self.order.push_back(d);
        if self.order.len() > CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    /// Whether `d` was delivered from here lately.
    pub(crate) fn contains(&self, d: &Delivery) -> bool {
        self.set.contains(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_delivery_is_found_until_it_is_the_oldest_past_the_capacity() {
        let mut r = RecentDeliveries::default();
        r.record((1, 2, false, 7));
        r.record((1, 2, false, 7));
        assert!(r.contains(&(1, 2, false, 7)));
        assert!(!r.contains(&(1, 2, true, 7)));
        for i in 0..CAPACITY as u32 {
            r.record((9, 9, false, i));
        }
        assert!(!r.contains(&(1, 2, false, 7)), "the oldest is forgotten");
        assert!(r.contains(&(9, 9, false, 0)));
        assert_eq!(r.order.len(), CAPACITY);
        assert_eq!(r.set.len(), CAPACITY);
    }
}
