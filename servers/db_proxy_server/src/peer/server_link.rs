//! A msg_server or http_msg_server link: its serial number and the reorder buffer that writes
//! answers in the order the requests arrived.
//!
//! Invariants: request `n` of a link is written before request `n + 1`'s answer; a request
//! without an answer (a command the original never answers) still takes its turn, so it never
//! holds back later answers once its task finished.

use std::collections::BTreeMap;

use teamtalk_proto::Pdu;

/// Per-link state stored with the connection.
#[derive(Debug, Default)]
pub struct ServerLink {
    /// Serial number that tells this link from a later one reusing its handle.
    pub serial: u64,
    next_order: u64,
    next_to_send: u64,
    done: BTreeMap<u64, Option<Pdu>>,
}

impl ServerLink {
    /// A new link with serial `serial`.
    pub fn new(serial: u64) -> Self {
        Self {
            serial,
            ..Self::default()
        }
    }

    /// Numbers the next request.
    pub fn next_order(&mut self) -> u64 {
        let n = self.next_order;
        self.next_order += 1;
        n
    }

    /// Records the outcome of request `order`; returns the answers that may be written now,
    /// in request order.
    pub fn complete(&mut self, order: u64, answer: Option<Pdu>) -> Vec<Pdu> {
        self.done.insert(order, answer);
        let mut ready = Vec::new();
        while let Some(answer) = self.done.remove(&self.next_to_send) {
            self.next_to_send += 1;
            ready.extend(answer);
        }
        ready
    }

    /// Requests received whose answer has not been written yet.
    pub fn in_flight(&self) -> u64 {
        self.next_order - self.next_to_send
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teamtalk_proto::CommandId;

    fn pdu(seq: u16) -> Pdu {
        Pdu::empty(CommandId::MsgData, seq)
    }

    #[test]
    fn answers_leave_in_request_order() {
        let mut link = ServerLink::new(1);
        let (a, b, c) = (link.next_order(), link.next_order(), link.next_order());
        assert!(link.complete(c, Some(pdu(3))).is_empty());
        assert!(link.complete(b, None).is_empty());
        let out = link.complete(a, Some(pdu(1)));
        assert_eq!(
            out.iter().map(|p| p.header.seq_num).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(link.in_flight(), 0);
    }
}
