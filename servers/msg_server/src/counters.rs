//! Counters of what the client limits refused and of lost back-end links: metrics on the
//! endpoint (`teamtalk_client_requests_refused_total{reason}`,
//! `teamtalk_abusive_clients_closed_total`, `teamtalk_links_lost_total`), readable while the
//! server runs ([`crate::Server::counters`]) and logged with the 300-s statistics line.
//!
//! Only the loop thread writes them; they are atomics so an operator thread, a scrape or a
//! test reads them without stopping the loop. They only ever grow.

use netlib::Metrics;
use prometheus_client::metrics::counter::Counter;

/// The live counters of one msg_server.
#[derive(Debug)]
pub struct Counters {
    refused: Counter,
    dropped: Counter,
    rate_limited: Counter,
    bad_device_tokens: Counter,
    registrations_refused: Counter,
    abusive_clients_closed: Counter,
    links_lost: Counter,
}

/// One reading of [`Counters`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Client requests over a bound answered with the protocol's failure answer.
    pub refused: u64,
    /// Client requests over a bound dropped unanswered (their request has no failure answer).
    pub dropped: u64,
    /// Client requests over a per-user or per-address rate (also counted as refused or
    /// dropped).
    pub rate_limited: u64,
    /// Device tokens dropped for their length or characters (also counted as dropped).
    pub bad_device_tokens: u64,
    /// Registrations answered with a refusal by msg_server itself (disabled, invalid, rate).
    pub registrations_refused: u64,
    /// Client connections closed for collecting too many violations.
    pub abusive_clients_closed: u64,
    /// Established back-end links that closed (each is redialled).
    pub links_lost: u64,
}

impl Counters {
    /// The counters, registered in `metrics`.
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        let [
            refused,
            dropped,
            rate_limited,
            bad_device_tokens,
            registrations_refused,
        ] = metrics.counters(
            "client_requests_refused",
            "Client requests refused by msg_server's limits (rate_limited and bad_device_token \
             are also counted as answered or dropped)",
            "reason",
            [
                "answered",
                "dropped",
                "rate_limited",
                "bad_device_token",
                "registration",
            ],
        );
        Self {
            refused,
            dropped,
            rate_limited,
            bad_device_tokens,
            registrations_refused,
            abusive_clients_closed: metrics.counter(
                "abusive_clients_closed",
                "Client connections closed for too many violations",
            ),
            links_lost: metrics.counter("links_lost", "Established back-end links that closed"),
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            refused: self.refused.get(),
            dropped: self.dropped.get(),
            rate_limited: self.rate_limited.get(),
            bad_device_tokens: self.bad_device_tokens.get(),
            registrations_refused: self.registrations_refused.get(),
            abusive_clients_closed: self.abusive_clients_closed.get(),
            links_lost: self.links_lost.get(),
        }
    }

    pub(crate) fn refused(&self) {
        self.refused.inc();
    }

    pub(crate) fn dropped(&self) {
        self.dropped.inc();
    }

    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub(crate) fn bad_device_token(&self) {
        self.bad_device_tokens.inc();
    }

    pub(crate) fn registration_refused(&self) {
        self.registrations_refused.inc();
    }

    pub(crate) fn abusive_client_closed(&self) {
        self.abusive_clients_closed.inc();
    }

    pub(crate) fn link_lost(&self) {
        self.links_lost.inc();
    }
}
