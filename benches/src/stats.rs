//! Latency samples and percentiles, and the plain-text tables the benchmarks print.
//!
//! Percentiles are by nearest rank over every recorded sample (no histogram buckets), so the
//! p99 and max printed are values that really occurred.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Collected latency samples of one run.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        self.samples.push(d);
    }

    /// Moves every sample of `other` into this set.
    pub fn merge(&mut self, mut other: Self) {
        self.samples.append(&mut other.samples);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `p`-th percentile (0–100) by nearest rank; zero when empty.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.samples.is_empty() {
            return Duration::ZERO;
        }
        self.samples.sort_unstable();
        let rank = ((p / 100.0) * self.samples.len() as f64).ceil() as usize;
        self.samples[rank.clamp(1, self.samples.len()) - 1]
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.samples.iter().copied().max().unwrap_or_default()
    }

    /// Count, p50, p90, p99 and max in milliseconds.
    pub fn summary(&mut self) -> LatencySummary {
        LatencySummary {
            count: self.samples.len() as u64,
            p50_ms: as_ms(self.percentile(50.0)),
            p90_ms: as_ms(self.percentile(90.0)),
            p99_ms: as_ms(self.percentile(99.0)),
            max_ms: as_ms(self.max()),
        }
    }
}

/// The percentiles of one latency distribution as reported (milliseconds).
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Formats a duration in milliseconds with three decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.record(Duration::from_millis(i));
        }
        assert_eq!(l.percentile(50.0), Duration::from_millis(50));
        assert_eq!(l.percentile(99.0), Duration::from_millis(99));
        assert_eq!(l.percentile(100.0), Duration::from_millis(100));
        assert_eq!(l.percentile(0.0), Duration::from_millis(1));
        assert_eq!(l.max(), Duration::from_millis(100));
        assert_eq!(Latencies::default().percentile(50.0), Duration::ZERO);
    }

    #[test]
    fn summary_reports_percentiles_in_milliseconds() {
        let mut l = Latencies::default();
        for i in (1..=1000).rev() {
            l.record(Duration::from_micros(i * 100));
        }
        let s = l.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 50.0).abs() < 1e-9);
        assert!((s.p90_ms - 90.0).abs() < 1e-9);
        assert!((s.p99_ms - 99.0).abs() < 1e-9);
        assert!((s.max_ms - 100.0).abs() < 1e-9);
    }

    #[test]
    fn summary_of_nothing_is_zero() {
        assert_eq!(Latencies::default().summary(), LatencySummary::default());
    }

    #[test]
    fn merged_samples_count_in_percentiles() {
        let mut a = Latencies::default();
        let mut b = Latencies::default();
        a.record(Duration::from_millis(1));
        b.record(Duration::from_millis(3));
        b.record(Duration::from_millis(2));
        a.merge(b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.percentile(50.0), Duration::from_millis(2));
    }
}
