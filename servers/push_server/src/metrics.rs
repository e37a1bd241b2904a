//! push_server's metrics (ops/README.md lists them): open sessions, db_proxy link states and
//! the delivery counters. The delivery thread counts in [`PushStats`] (atomics it shares with
//! the server handle); the exported counters follow them right before each scrape.

use netlib::{Link, LinkStates, Metrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::stats::{ProviderSnapshot, StatsSnapshot};

/// Outcomes of a provider's pushes, as labels.
const OUTCOMES: [&str; 3] = ["delivered", "token_dead", "failed"];

/// The exported figures.
#[derive(Debug)]
pub(crate) struct PushMetrics {
    /// Open msg_server sessions.
    sessions: Gauge,
    /// The db_proxy links dead tokens are cleared through.
    links: LinkStates,
    apns: [Counter; 3],
    fcm: [Counter; 3],
    dropped: Counter,
    retried: Counter,
    tokens_cleared: Counter,
    unroutable: Counter,
}

impl PushMetrics {
    /// Registers everything in `metrics`.
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        Self {
            sessions: metrics.gauge("push_sessions", "Open msg_server sessions"),
            links: metrics.link_states(),
            apns: metrics.counters("apns_pushes", "APNs pushes by outcome", "outcome", OUTCOMES),
            fcm: metrics.counters("fcm_pushes", "FCM pushes by outcome", "outcome", OUTCOMES),
            dropped: metrics.counter(
                "pushes_dropped",
                "Pushes dropped from the full delivery queue (the oldest first)",
            ),
            retried: metrics.counter(
                "push_retries",
                "Retries after a 429, a 5xx or a connection failure",
            ),
            tokens_cleared: metrics.counter(
                "device_tokens_cleared",
                "Dead device tokens sent to db_proxy to be cleared",
            ),
            unroutable: metrics.counter(
                "pushes_unroutable",
                "Tokens of a client type no configured provider serves",
            ),
        }
    }

    /// Brings the exported figures up to `sessions`, the db_proxy `links` and `stats`.
    pub(crate) fn refresh(&self, sessions: usize, links: &[Link], stats: &StatsSnapshot) {
        self.sessions
            .set(i64::try_from(sessions).unwrap_or(i64::MAX));
        for link in links {
            self.links.set("db_proxy", link);
        }
        follow_provider(&self.apns, &stats.apns);
        follow_provider(&self.fcm, &stats.fcm);
        follow(&self.dropped, stats.dropped);
        follow(&self.retried, stats.retried);
        follow(&self.tokens_cleared, stats.tokens_cleared);
        follow(&self.unroutable, stats.unroutable);
    }
}

fn follow_provider(counters: &[Counter; 3], p: &ProviderSnapshot) {
    let [delivered, dead, failed] = counters;
    follow(delivered, p.delivered);
    follow(dead, p.token_dead);
    follow(failed, p.failed);
}

/// Raises `counter` to `value` (the counters only grow; so do the atomics they follow).
fn follow(counter: &Counter, value: u64) {
    let now = counter.get();
    if value > now {
        counter.inc_by(value - now);
    }
}
