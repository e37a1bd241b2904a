//! A msg_server or http_msg_server link: its serial number and its request queue.
//!
//! Requests of one link run one at a time, in arrival order (KNOWN_DEFECTS D-DB-2: the
//! original ran them in parallel on random workers, reordering answers and even message ids);
//! links run in parallel with each other. A run of consecutive message PDUs is taken as one
//! batch so a worker can store them together; device-token queries between them join the run
//! (msg_server sends one after every stored 1:1 message, as the original does, and letting
//! each one end a batch would cut batches down to a message or two under load).
//!
//! Invariants: at most one batch of a link is with the workers at any time (`busy`); answers
//! therefore come back in request order; the queue never holds more than [`MAX_QUEUED`]
//! requests (the link is closed instead).

use std::collections::VecDeque;

use teamtalk_proto::{CommandId, Pdu};

/// Most requests one link may have waiting.
pub const MAX_QUEUED: usize = 100_000;

/// Per-link state stored with the connection.
#[derive(Debug, Default)]
pub struct ServerLink {
    /// Serial number that tells this link from a later one reusing its handle.
    pub serial: u64,
    queue: VecDeque<Pdu>,
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

    /// Queues a request; `false` when the queue is full.
    pub fn push(&mut self, pdu: Pdu) -> bool {
        if self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.queue.push_back(pdu);
        true
    }

    /// The next requests to run, if the link is idle: a run of up to `max_batch` message PDUs
    /// and device-token queries starting with a message, or one other request. Marks the
    /// link busy.
    pub fn next_batch(&mut self, max_batch: usize) -> Option<Vec<Pdu>> {
        if self.busy {
            return None;
        }
        let first = self.queue.pop_front()?;
        let mut batch = vec![first];
        if is_msg(&batch[0]) {
            while batch.len() < max_batch && self.queue.front().is_some_and(joins_message_run) {
                batch.extend(self.queue.pop_front());
            }
        }
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
        let mut link = ServerLink::new(1);
        assert!(link.next_batch(8).is_none());
        link.push(pdu(CommandId::MsgData, 1));
        link.push(pdu(CommandId::MsgData, 2));
        link.push(pdu(CommandId::MsgReadAck, 3));
        link.push(pdu(CommandId::MsgData, 4));
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
        let mut link = ServerLink::new(1);
        link.push(pdu(CommandId::OtherGetDeviceTokenReq, 1));
        link.push(pdu(CommandId::MsgData, 2));
        link.push(pdu(CommandId::OtherGetDeviceTokenReq, 3));
        link.push(pdu(CommandId::MsgData, 4));
        link.push(pdu(CommandId::MsgReadAck, 5));
        // A query first runs alone; after a message it joins the run.
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [1]);
        link.finish();
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [2, 3, 4]);
        link.finish();
        assert_eq!(seqs(&link.next_batch(8).unwrap()), [5]);
    }

    #[test]
    fn message_batches_are_capped() {
        let mut link = ServerLink::new(1);
        for seq in 0..5 {
            link.push(pdu(CommandId::MsgData, seq));
        }
        assert_eq!(seqs(&link.next_batch(3).unwrap()), [0, 1, 2]);
    }
}
