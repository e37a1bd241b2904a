//! A msg_server or http_msg_server link: its serial number and its request queue.
//!
//! Requests of one link run one at a time, in arrival order (KNOWN_DEFECTS D-DB-2: the
//! original ran them in parallel on random workers, reordering answers and even message ids);
//! links run in parallel with each other. A run of consecutive message PDUs is taken as one
//! batch so a worker can store them together; device-token queries before and between them
//! join the run (msg_server sends one after every stored 1:1 message, as the original does: a
//! batch's answers come back as a burst of queries queued ahead of the next messages, and run
//! one at a time they took most of a link's turns under load).
//!
//! Invariants: at most one batch of a link is with the workers at any time (`busy`); answers
//! therefore come back in request order; the queue never holds more than its
//! [`QueueBounds`] (requests and bytes). A request arriving at a full queue is shed: not
//! queued, never answered (msg_server then sees what a lost request looks like: the client's
//! own timeout and retry), so one flooding peer costs bounded memory and the shared link stays
//! open. The reactor reads whatever the socket holds, so shedding, not pausing the reads, is
//! what keeps the bound.

use std::collections::VecDeque;

use teamtalk_proto::{CommandId, Pdu};

/// Default of the most requests one link may have waiting.
pub const DEFAULT_MAX_QUEUED: usize = 20_000;
/// Default of the most bytes (header included) of requests one link may have waiting.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// How much one link may have waiting for the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBounds {
    /// Most requests waiting.
    pub requests: usize,
    /// Most bytes of requests waiting.
    pub bytes: usize,
}

impl Default for QueueBounds {
    fn default() -> Self {
        Self {
            requests: DEFAULT_MAX_QUEUED,
            bytes: DEFAULT_MAX_QUEUED_BYTES,
        }
    }
}

/// Per-link state stored with the connection.
#[derive(Debug, Default)]
pub struct ServerLink {
    /// Serial number that tells this link from a later one reusing its handle.
    pub serial: u64,
    queue: VecDeque<Pdu>,
    /// Bytes of the PDUs in `queue`.
    queued_bytes: usize,
    /// Requests shed since the link was accepted.
    shed: u64,
    busy: bool,
}

impl ServerLink {
    /// A new link with serial `serial`.
    pub fn new(serial: u64) -> Self {
        Self {
            serial,
            ..Self::default()
        }
    }

    /// Queues a request; `false` when it would take the queue past `bounds` (it is then shed
    /// and counted). An empty queue always takes one request, however large.
    pub fn push(&mut self, pdu: Pdu, bounds: QueueBounds) -> bool {
        let full = !self.queue.is_empty()
            && (self.queue.len() >= bounds.requests
                || self.queued_bytes + pdu.len() > bounds.bytes);
        if full {
            self.shed += 1;
            return false;
        }
        self.queued_bytes += pdu.len();
        self.queue.push_back(pdu);
        true
    }

    /// Requests shed so far on this link.
    pub fn shed(&self) -> u64 {
        self.shed
    }

    /// The next requests to run, if the link is idle: a run of up to `max_batch` message PDUs
    /// and device-token queries, or one other request. Marks the link busy.
    pub fn next_batch(&mut self, max_batch: usize) -> Option<Vec<Pdu>> {
        if self.busy {
            return None;
        }
        let first = self.queue.pop_front()?;
        let mut batch = vec![first];
        if joins_message_run(&batch[0]) {
            while batch.len() < max_batch && self.queue.front().is_some_and(joins_message_run) {
                batch.extend(self.queue.pop_front());
            }
        }
        let taken: usize = batch.iter().map(Pdu::len).sum();
        self.queued_bytes = self.queued_bytes.saturating_sub(taken);
        self.busy = true;
        Some(batch)
    }

    /// The running batch finished.
    pub fn finish(&mut self) {
        self.busy = false;
    }

    /// Requests received and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.queue.len() + usize::from(self.busy)
    }
}

fn is_msg(pdu: &Pdu) -> bool {
    pdu.header.command_id == CommandId::MsgData as u16
}

/// Whether a request may ride along in a run of messages: messages, and device-token
/// queries, which only read Redis and never depend on the run's writes.
fn joins_message_run(pdu: &Pdu) -> bool {
    is_msg(pdu) || pdu.header.command_id == CommandId::OtherGetDeviceTokenReq as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pdu(cmd: CommandId, seq: u16) -> Pdu {
        Pdu::empty(cmd, seq)
    }

    fn seqs(batch: &[Pdu]) -> Vec<u16> {
        batch.iter().map(|p| p.header.seq_num).collect()
    }

    #[test]
    fn one_batch_at_a_time_in_arrival_order() {
        let bounds = QueueBounds::default();
        let mut link = ServerLink::new(1);
        assert!(link.next_batch(8).is_none());
        link.push(pdu(CommandId::MsgData, 1), bounds);
        link.push(pdu(CommandId::MsgData, 2), bounds);
        link.push(pdu(CommandId::MsgReadAck, 3), bounds);
        link.push(pdu(CommandId::MsgData, 4), bounds);
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [1, 2]);
        assert!(link.next_batch(8).is_none(), "busy until finished");
        link.finish();
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [3]);
        link.finish();
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [4]);
        assert_eq!(link.in_flight(), 1);
        link.finish();
        assert_eq!(link.in_flight(), 0);
    }

    #[test]
    fn device_token_queries_join_a_run_of_messages() {
        let bounds = QueueBounds::default();
        let mut link = ServerLink::new(1);
        link.push(pdu(CommandId::OtherGetDeviceTokenReq, 1), bounds);
        link.push(pdu(CommandId::MsgData, 2), bounds);
        link.push(pdu(CommandId::OtherGetDeviceTokenReq, 3), bounds);
        link.push(pdu(CommandId::MsgData, 4), bounds);
        link.push(pdu(CommandId::MsgReadAck, 5), bounds);
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [1, 2, 3, 4]);
        link.finish();
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [5]);
    }

    #[test]
    fn a_full_queue_sheds_new_requests_until_it_drains() {
        let bounds = QueueBounds {
            requests: 3,
            bytes: 1 << 20,
        };
        let mut link = ServerLink::new(1);
        for seq in 0..3 {
            assert!(link.push(pdu(CommandId::MsgReadAck, seq), bounds));
        }
        assert!(!link.push(pdu(CommandId::MsgReadAck, 3), bounds));
        assert_eq!(link.shed(), 1);
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [0]);
        // One left the queue (it is running): room for one more.
        assert!(link.push(pdu(CommandId::MsgReadAck, 4), bounds));
        assert!(!link.push(pdu(CommandId::MsgReadAck, 5), bounds));
        assert_eq!(link.in_flight(), 4);
    }

    #[test]
    fn queued_bytes_are_bounded_but_one_large_request_always_fits() {
        let big = |seq| Pdu::from_body(CommandId::MsgData, seq, vec![0; 1000]);
        let bounds = QueueBounds {
            requests: 100,
            bytes: 2500,
        };
        let mut link = ServerLink::new(1);
        assert!(link.push(big(0), bounds));
        assert!(link.push(big(1), bounds));
        assert!(!link.push(big(2), bounds), "2 × 1016 + 1016 > 2500");
        assert!(link.push(pdu(CommandId::MsgReadAck, 3), bounds));
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [0, 1]);
        link.finish();
        assert!(link.push(big(4), bounds));
        assert!(link.push(big(5), bounds));
        assert_eq!(link.shed(), 1);

        let tiny = QueueBounds {
            requests: 1,
            bytes: 10,
        };
        let mut link = ServerLink::new(2);
        assert!(link.push(big(0), tiny), "an empty queue takes any request");
        assert!(!link.push(pdu(CommandId::MsgReadAck, 1), tiny));
    }

    #[test]
    fn message_batches_are_capped() {
        let bounds = QueueBounds::default();
        let mut link = ServerLink::new(1);
        for seq in 0..5 {
            link.push(pdu(CommandId::MsgData, seq), bounds);
        }
        assert_eq!(seqs(&link.next_batch(3).unwrap()), [0, 1, 2]);
    }
}
