//! Presence notifications waiting to be broadcast to the PC clients.
//!
//! Every login and logout anywhere in the cluster reaches every msg_server as one
//! IMUserStatNotify from route_server, and each is for every PC client here (the original
//! broadcasts them to all; TeamTalk has no friend lists): with N PC clients online, N logins
//! make N² notifications. Sent as they come, each costs one write system call per client per
//! loop turn; during a wave of logins that was nearly all of msg_server's time (kernel send
//! path, benches/README.md "Logins"). So notifications are collected for at most
//! [`PRESENCE_DELAY`] and each PC client gets the batch in one write. The PDUs and their order
//! are the original's; only their timing changes, by less than a client can show.

use std::time::Duration;

use netlib::TimerId;

/// Longest a notification waits for others to share its writes.
pub(crate) const PRESENCE_DELAY: Duration = Duration::from_millis(20);
/// A batch this large goes out at once, without waiting for the timer.
pub(crate) const PRESENCE_FLUSH_BYTES: usize = 64 * 1024;

/// Encoded notifications in arrival order and the timer that will send them.
#[derive(Debug, Default)]
pub(crate) struct PresenceBatch {
    bytes: Vec<u8>,
    timer: Option<TimerId>,
}

impl PresenceBatch {
    /// Appends one encoded notification; returns whether the batch is now due (over
    /// [`PRESENCE_FLUSH_BYTES`]).
    pub(crate) fn push(&mut self, pdu: &[u8]) -> bool {
        self.bytes.extend_from_slice(pdu);
        self.bytes.len() >= PRESENCE_FLUSH_BYTES
    }

    /// Whether a timer must be armed for this batch (it has bytes and no timer yet).
    pub(crate) fn needs_timer(&self) -> bool {
        self.timer.is_none() && !self.bytes.is_empty()
    }

    /// Records the timer armed for this batch.
    pub(crate) fn armed(&mut self, timer: TimerId) {
        self.timer = Some(timer);
    }

    /// Whether `timer` is this batch's.
    pub(crate) fn is_timer(&self, timer: TimerId) -> bool {
        self.timer == Some(timer)
    }

    /// Takes the batch to send, and its timer if still armed (to cancel).
    pub(crate) fn take(&mut self) -> (Vec<u8>, Option<TimerId>) {
        (std::mem::take(&mut self.bytes), self.timer.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_arrival_order_and_is_due_when_large() {
        let mut batch = PresenceBatch::default();
        assert!(!batch.needs_timer());
        assert!(!batch.push(b"one"));
        assert!(batch.needs_timer());
        assert!(!batch.push(b"two"));
        let (bytes, timer) = batch.take();
        assert_eq!(bytes, b"onetwo");
        assert_eq!(timer, None);
        assert!(!batch.needs_timer());
        assert!(batch.push(&vec![0; PRESENCE_FLUSH_BYTES]));
    }
}
