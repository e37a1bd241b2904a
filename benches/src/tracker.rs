//! Self-describing message payloads, the per-stream bookkeeping that detects lost,
//! duplicated and reordered deliveries, and the sender's bookkeeping of unacknowledged
//! messages (ack timeouts, resends, the longest wait for an ack).
//!
//! Every message the load generator sends carries, in its (encrypted) text, the run tag, the
//! stream it belongs to (a sender, or a sender→receiver pair), its sequence number within that
//! stream (0, 1, 2, …) and the time it was sent. A receiver keeps one [`StreamTracker`] per
//! stream it listens to. Invariant: a tracker counts each sequence number at most once as
//! unique; anything seen again is a duplicate, and a new number below the highest seen so far
//! arrived out of order. A [`SendTracker`] counts each message acked once, however many
//! copies of it were sent and answered.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

/// Prefix of every payload text, so stray texts are recognised as foreign.
const MAGIC: &str = "tt-load";

/// What a load-generator message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// Random tag of the run that sent it (messages of other runs are ignored).
    pub run: u32,
    /// Stream number: the pair for 1:1 runs, the sender for group runs.
    pub stream: u32,
    /// Position in the stream, from 0.
    pub seq: u64,
    /// Send time in microseconds since the run's clock origin.
    pub sent_us: u64,
}

impl Payload {
    /// The plaintext form: `tt-load <run> <stream> <seq> <sent_us>`.
    pub fn encode(&self) -> String {
        format!(
            "{MAGIC} {} {} {} {}",
            self.run, self.stream, self.seq, self.sent_us
        )
    }

    /// Parses [`Payload::encode`]'s form; `None` for any other text.
    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.split(' ');
        if parts.next()? != MAGIC {
            return None;
        }
        let payload = Self {
            run: parts.next()?.parse().ok()?,
            stream: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            sent_us: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(payload)
    }
}

/// How one delivery relates to what the stream delivered before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The first copy, and no higher number was seen before it.
    InOrder,
    /// The first copy, but a higher number had already arrived.
    Reordered,
    /// This number had already arrived.
    Duplicate,
    /// The live copy of a message read from the history first (same msg id): a client
    /// that reads the history right after logging in meets messages stored during its
    /// login twice, and keeps one by its msg id.
    AlreadyFetched,
}

/// Delivery bookkeeping of one stream at one receiver.
#[derive(Debug, Default, Clone)]
pub struct StreamTracker {
    /// Every number below this one has arrived.
    next: u64,
    /// Numbers at or above `next` that have arrived.
    ahead: BTreeSet<u64>,
    /// Highest number seen.
    max_seen: Option<u64>,
    /// Numbers first read from the history, with their msg ids, not yet seen live.
    fetched: HashMap<u64, u32>,
    counts: DeliveryCounts,
}

impl StreamTracker {
    /// Records the delivery of `seq` and classifies it.
    pub fn record(&mut self, seq: u64) -> Arrival {
        if seq < self.next || self.ahead.contains(&seq) {
            self.counts.duplicated += 1;
            return Arrival::Duplicate;
        }
        self.counts.unique += 1;
        let arrival = match self.max_seen {
            Some(max) if seq < max => {
                self.counts.reordered += 1;
                Arrival::Reordered
            }
            _ => {
                self.max_seen = Some(seq);
                Arrival::InOrder
            }
        };
        self.insert(seq);
        arrival
    }

    fn insert(&mut self, seq: u64) {
        if seq == self.next {
            self.next += 1;
            while self.ahead.remove(&self.next) {
                self.next += 1;
            }
        } else {
            self.ahead.insert(seq);
        }
    }

    /// Records a live delivery of `seq` under `msg_id`: like [`StreamTracker::record`],
    /// except that the first live copy of a message already read from the history under
    /// the same msg id is that message, not a duplicate.
    pub fn record_live(&mut self, seq: u64, msg_id: u32) -> Arrival {
        match self.fetched.remove(&seq) {
            Some(id) if id == msg_id => Arrival::AlreadyFetched,
            _ => self.record(seq),
        }
    }

    /// Records a copy of `seq` (msg id `msg_id`) fetched from the history after a
    /// reconnect: counted when it was not delivered before, never a duplicate (a history
    /// page repeats what was delivered live by design; a message stored twice shows as two
    /// rows, checked in MySQL).
    pub fn record_fetched(&mut self, seq: u64, msg_id: u32) -> bool {
        if self.has(seq) {
            return false;
        }
        self.fetched.insert(seq, msg_id);
        // Not classified as reordered: a page is read newest first, whatever the order of
        // delivery was.
        self.counts.unique += 1;
        self.max_seen = self.max_seen.max(Some(seq));
        self.insert(seq);
        true
    }

    /// Whether `seq` has arrived.
    pub fn has(&self, seq: u64) -> bool {
        seq < self.next || self.ahead.contains(&seq)
    }

    /// The counts so far.
    pub fn counts(&self) -> DeliveryCounts {
        self.counts
    }

    /// How many of the first `sent` numbers never arrived.
    pub fn missing(&self, sent: u64) -> u64 {
        let below = self.ahead.range(..sent).count() as u64;
        sent.saturating_sub(self.next.min(sent) + below)
    }
}

/// Totals over one or more streams.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryCounts {
    /// Distinct messages delivered.
    pub unique: u64,
    /// Extra copies of messages already delivered.
    pub duplicated: u64,
    /// First copies that arrived after a later message of the same stream.
    pub reordered: u64,
}

impl DeliveryCounts {
    /// Adds `other` into these totals.
    pub fn add(&mut self, other: Self) {
        self.unique += other.unique;
        self.duplicated += other.duplicated;
        self.reordered += other.reordered;
    }
}

/// A message sent and not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Position in the sender's stream.
    pub seq: u64,
    /// The client's `create_time`, repeated unchanged in every copy.
    pub create_time: u32,
    /// The encrypted text, repeated unchanged in every copy.
    pub data: Vec<u8>,
    /// When the first copy left.
    pub first_sent: Instant,
    /// When the latest copy left.
    pub last_sent: Instant,
    /// Copies sent after the first.
    pub resends: u32,
    /// No copy is sent any more (the resend limit was reached); an ack still counts.
    pub given_up: bool,
}

/// What an ack from the server means for the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// The first ack of message `seq`, `latency` after its first copy was sent.
    First {
        /// Position in the stream.
        seq: u64,
        /// First send to this ack.
        latency: Duration,
    },
    /// Nothing is waiting under that header seq: the answer to a copy of a message whose
    /// ack already came, or a stray.
    Unmatched,
}

/// One sender's unacknowledged messages, keyed by the PDU header seq every copy reuses.
///
/// Invariants: a message is in `pending` until its first ack and is then counted in
/// `acked` exactly once; a message is sent at most `1 + max_resends` times by timeouts.
#[derive(Debug, Default)]
pub struct SendTracker {
    pending: HashMap<u16, Pending>,
    acked: Vec<u64>,
    resends: u64,
    resent_messages: u64,
    unmatched_acks: u64,
    last_ack: Option<Instant>,
    longest_gap: Duration,
}

impl SendTracker {
    /// Records the first copy of a message sent under `header_seq`.
    pub fn sent(&mut self, header_seq: u16, p: Pending) {
        self.pending.insert(header_seq, p);
    }

    /// Messages waiting for an ack that still count against the window.
    pub fn in_window(&self) -> usize {
        self.pending.values().filter(|p| !p.given_up).count()
    }

    /// Messages without an ack, given up or not.
    pub fn unacked(&self) -> usize {
        self.pending.len()
    }

    /// Sets the moment the longest-gap measurement starts from (sending starts).
    pub fn start_clock(&mut self, now: Instant) {
        self.last_ack.get_or_insert(now);
    }

    /// Matches an ack; a message is acked once however many of its copies are answered.
    pub fn on_ack(&mut self, header_seq: u16, now: Instant) -> AckOutcome {
        let Some(p) = self.pending.remove(&header_seq) else {
            self.unmatched_acks += 1;
            return AckOutcome::Unmatched;
        };
        self.acked.push(p.seq);
        if let Some(last) = self.last_ack {
            self.longest_gap = self.longest_gap.max(now.saturating_duration_since(last));
        }
        self.last_ack = Some(now);
        AckOutcome::First {
            seq: p.seq,
            latency: now.saturating_duration_since(p.first_sent),
        }
    }

    /// The messages whose latest copy has waited `timeout` by `now`: those under the limit
    /// of `max_resends` are marked resent and returned (header seq, the copy to send), the
    /// others are given up.
    pub fn due_resends(
        &mut self,
        now: Instant,
        timeout: Duration,
        max_resends: u32,
    ) -> Vec<(u16, Pending)> {
        let mut due = Vec::new();
        for (&h, p) in &mut self.pending {
            if p.given_up || now.saturating_duration_since(p.last_sent) < timeout {
                continue;
            }
            if p.resends >= max_resends {
                p.given_up = true;
                continue;
            }
            Self::mark_resent(&mut self.resends, &mut self.resent_messages, p, now);
            due.push((h, p.clone()));
        }
        due.sort_by_key(|(_, p)| p.seq);
        due
    }

    /// Every message not given up, marked resent, in stream order: what a client sends
    /// again after it logged in on a new connection.
    pub fn resend_all(&mut self, now: Instant) -> Vec<(u16, Pending)> {
        let mut all = Vec::new();
        for (&h, p) in &mut self.pending {
            if !p.given_up {
                Self::mark_resent(&mut self.resends, &mut self.resent_messages, p, now);
                all.push((h, p.clone()));
            }
        }
        all.sort_by_key(|(_, p)| p.seq);
        all
    }

    fn mark_resent(resends: &mut u64, resent_messages: &mut u64, p: &mut Pending, now: Instant) {
        if p.resends == 0 {
            *resent_messages += 1;
        }
        p.resends += 1;
        p.last_sent = now;
        *resends += 1;
    }

    /// Ends the measurement at `now`: a sender still waiting for an ack has waited since
    /// its last one, and that wait counts as a gap that never closed.
    pub fn close(&mut self, now: Instant) -> bool {
        let open = !self.pending.is_empty();
        if open {
            if let Some(last) = self.last_ack {
                self.longest_gap = self.longest_gap.max(now.saturating_duration_since(last));
            }
        }
        open
    }

    /// Sequence numbers acked, in ack order.
    pub fn acked(&self) -> &[u64] {
        &self.acked
    }

    /// Copies sent after a first one (timeouts and reconnects).
    pub fn resends(&self) -> u64 {
        self.resends
    }

    /// Distinct messages sent more than once.
    pub fn resent_messages(&self) -> u64 {
        self.resent_messages
    }

    /// Acks that matched nothing waiting.
    pub fn unmatched_acks(&self) -> u64 {
        self.unmatched_acks
    }

    /// The longest time between two acks (or from the start of sending to the first).
    pub fn longest_gap(&self) -> Duration {
        self.longest_gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(seq: u64, at: Instant) -> Pending {
        Pending {
            seq,
            create_time: 1_700_000_000,
            data: vec![seq as u8],
            first_sent: at,
            last_sent: at,
            resends: 0,
            given_up: false,
        }
    }

    #[test]
    fn a_message_acked_twice_counts_once() {
        let t0 = Instant::now();
        let mut s = SendTracker::default();
        s.sent(7, pending(0, t0));
        // Timed out: the copy goes out with the same create_time and data.
        let due = s.due_resends(t0 + Duration::from_secs(5), Duration::from_secs(5), 3);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].0, 7);
        assert_eq!(
            (due[0].1.create_time, due[0].1.data.clone()),
            (1_700_000_000, vec![0])
        );
        let first = s.on_ack(7, t0 + Duration::from_secs(6));
        assert_eq!(
            first,
            AckOutcome::First {
                seq: 0,
                latency: Duration::from_secs(6)
            }
        );
        // The server answers the copy too (with the first msg id): not a second message.
        assert_eq!(
            s.on_ack(7, t0 + Duration::from_secs(6)),
            AckOutcome::Unmatched
        );
        assert_eq!(s.acked(), &[0]);
        assert_eq!(
            (s.resends(), s.resent_messages(), s.unmatched_acks()),
            (1, 1, 1)
        );
        assert_eq!(s.unacked(), 0);
    }

    #[test]
    fn resends_stop_at_the_limit_and_free_the_window() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(1);
        let mut s = SendTracker::default();
        s.sent(1, pending(0, t0));
        assert!(s.due_resends(t0, timeout, 2).is_empty());
        for i in 1..=2 {
            let due = s.due_resends(t0 + timeout * i, timeout, 2);
            assert_eq!(due.len(), 1, "resend {i}");
        }
        assert_eq!(s.in_window(), 1);
        assert!(s.due_resends(t0 + timeout * 3, timeout, 2).is_empty());
        // Given up: out of the window, still unacked, and a late ack still counts.
        assert_eq!((s.in_window(), s.unacked()), (0, 1));
        assert!(s.due_resends(t0 + timeout * 9, timeout, 2).is_empty());
        assert!(matches!(
            s.on_ack(1, t0 + timeout * 10),
            AckOutcome::First { .. }
        ));
        assert_eq!(s.resends(), 2);
        assert_eq!(s.resent_messages(), 1);
    }

    #[test]
    fn after_a_reconnect_every_unacked_message_is_sent_again_in_order() {
        let t0 = Instant::now();
        let mut s = SendTracker::default();
        s.sent(5, pending(5, t0));
        s.sent(3, pending(3, t0));
        s.sent(4, pending(4, t0));
        s.on_ack(4, t0);
        let again: Vec<u64> = s.resend_all(t0).iter().map(|(_, p)| p.seq).collect();
        assert_eq!(again, vec![3, 5]);
        assert_eq!((s.resends(), s.resent_messages()), (2, 2));
        // The reconnect restarted their timers: nothing is due a timeout after the first send.
        let t1 = t0 + Duration::from_secs(5);
        let again = s.resend_all(t1);
        assert_eq!(again.len(), 2);
        assert!(s.due_resends(t1, Duration::from_secs(5), 3).is_empty());
    }

    #[test]
    fn the_longest_gap_spans_a_stall_and_an_open_wait_at_the_end() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut s = SendTracker::default();
        s.start_clock(t0);
        s.sent(0, pending(0, t0));
        s.on_ack(0, t0 + ms(100));
        s.sent(1, pending(1, t0 + ms(100)));
        s.on_ack(1, t0 + ms(2_100));
        assert_eq!(s.longest_gap(), ms(2_000));
        // Nothing waiting: the quiet time after sending stopped is no gap.
        assert!(!s.close(t0 + ms(9_000)));
        assert_eq!(s.longest_gap(), ms(2_000));
        s.sent(2, pending(2, t0 + ms(9_000)));
        assert!(s.close(t0 + ms(12_100)));
        assert_eq!(s.longest_gap(), ms(10_000));
    }

    #[test]
    fn payload_round_trips_through_its_text() {
        let p = Payload {
            run: 7,
            stream: 12,
            seq: 345,
            sent_us: 6_789_000,
        };
        assert_eq!(p.encode(), "tt-load 7 12 345 6789000");
        assert_eq!(Payload::decode(&p.encode()), Some(p));
    }

    #[test]
    fn foreign_or_malformed_text_is_not_a_payload() {
        for text in [
            "",
            "hello",
            "tt-load",
            "tt-load 1 2 3",
            "tt-load 1 2 3 x",
            "tt-load 1 2 3 4 5",
            "tt-loadx 1 2 3 4",
            "tt-load -1 2 3 4",
        ] {
            assert_eq!(Payload::decode(text), None, "{text:?}");
        }
    }

    #[test]
    fn in_order_stream_has_no_anomalies() {
        let mut t = StreamTracker::default();
        for seq in 0..100 {
            assert_eq!(t.record(seq), Arrival::InOrder);
        }
        assert_eq!(
            t.counts(),
            DeliveryCounts {
                unique: 100,
                duplicated: 0,
                reordered: 0
            }
        );
        assert_eq!(t.missing(100), 0);
    }

    #[test]
    fn repeated_numbers_are_duplicates_whether_below_or_above_the_gap() {
        let mut t = StreamTracker::default();
        t.record(0);
        t.record(2);
        assert_eq!(t.record(0), Arrival::Duplicate);
        assert_eq!(t.record(2), Arrival::Duplicate);
        assert_eq!(t.counts().duplicated, 2);
        assert_eq!(t.counts().unique, 2);
    }

    #[test]
    fn late_arrival_after_a_higher_number_is_reordered_not_lost() {
        let mut t = StreamTracker::default();
        assert_eq!(t.record(0), Arrival::InOrder);
        assert_eq!(t.record(2), Arrival::InOrder);
        assert_eq!(t.missing(3), 1);
        assert_eq!(t.record(1), Arrival::Reordered);
        assert_eq!(t.missing(3), 0);
        assert_eq!(t.counts().reordered, 1);
        assert_eq!(t.counts().duplicated, 0);
    }

    #[test]
    fn gaps_count_as_missing_against_what_was_sent() {
        let mut t = StreamTracker::default();
        for seq in [0, 1, 4, 7] {
            t.record(seq);
        }
        // 2, 3, 5, 6 never arrived; 8 and 9 were sent too.
        assert_eq!(t.missing(10), 6);
        // Only the first five were sent: 2 and 3 are missing.
        assert_eq!(t.missing(5), 2);
        assert_eq!(t.missing(0), 0);
    }

    #[test]
    fn a_fetched_copy_fills_a_gap_and_never_counts_as_a_duplicate() {
        let mut t = StreamTracker::default();
        t.record(0);
        t.record(3);
        assert!(t.record_fetched(1, 11));
        assert!(!t.record_fetched(0, 10));
        assert!(!t.record_fetched(1, 11));
        assert!(t.has(1) && t.has(3) && !t.has(2));
        assert_eq!((t.counts().duplicated, t.counts().reordered), (0, 0));
        assert_eq!(t.counts().unique, 3);
        assert_eq!(t.missing(4), 1);
    }

    #[test]
    fn a_live_copy_after_the_history_is_the_same_message_once_and_only_by_its_msg_id() {
        let mut t = StreamTracker::default();
        assert!(t.record_fetched(0, 50));
        assert!(t.record_fetched(1, 51));
        // Stored during the login: read from the history, then delivered live.
        assert_eq!(t.record_live(0, 50), Arrival::AlreadyFetched);
        // A second live copy is a duplicate.
        assert_eq!(t.record_live(0, 50), Arrival::Duplicate);
        // A live copy under another msg id is another stored copy: a duplicate.
        assert_eq!(t.record_live(1, 77), Arrival::Duplicate);
        assert_eq!(t.record_live(2, 52), Arrival::InOrder);
        assert_eq!((t.counts().unique, t.counts().duplicated), (3, 2));
    }

    #[test]
    fn counts_add_up() {
        let mut total = DeliveryCounts::default();
        total.add(DeliveryCounts {
            unique: 3,
            duplicated: 1,
            reordered: 2,
        });
        total.add(DeliveryCounts {
            unique: 4,
            duplicated: 0,
            reordered: 1,
        });
        assert_eq!(
            total,
            DeliveryCounts {
                unique: 7,
                duplicated: 1,
                reordered: 3
            }
        );
    }
}
