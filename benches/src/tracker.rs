//! Self-describing message payloads and the per-stream bookkeeping that detects lost,
//! duplicated and reordered deliveries.
//!
//! Every message the load generator sends carries, in its (encrypted) text, the run tag, the
//! stream it belongs to (a sender, or a sender→receiver pair), its sequence number within that
//! stream (0, 1, 2, …) and the time it was sent. A receiver keeps one [`StreamTracker`] per
//! stream it listens to. Invariant: a tracker counts each sequence number at most once as
//! unique; anything seen again is a duplicate, and a new number below the highest seen so far
//! arrived out of order.

use std::collections::BTreeSet;

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
        if seq == self.next {
            self.next += 1;
            while self.ahead.remove(&self.next) {
                self.next += 1;
            }
        } else {
            self.ahead.insert(seq);
        }
        arrival
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

#[cfg(test)]
mod tests {
    use super::*;

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
