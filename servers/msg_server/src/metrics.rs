//! What msg_server exports on its metrics endpoint (netlib `metrics`; names in ops/README.md),
//! besides the limit counters in `counters` and the message counters of the statistics line
//! (`state::Stats`).
//!
//! Every child is created here once; the hot paths only add to them. Gauges that mirror the
//! loop's state (connections, pending requests, link states) are set when a scrape comes.

use netlib::{LinkStates, Metrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use teamtalk_proto::pb::base_define::ResultType;

use crate::pending::Continuation;

/// msg_server's own metrics.
#[derive(Debug)]
pub(crate) struct MsgMetrics {
    /// Client connections: accepted, logged in.
    connections: [Gauge; 2],
    /// Users with at least one connection here.
    users: Gauge,
    /// Entries in the pending table (requests waiting for db_proxy).
    pending: Gauge,
    /// Logins by result: ok, then one per refusal reason ([`login_refusal`]).
    logins: [Counter; 6],
    /// Stored messages db_proxy answered (the message is in the database).
    pub(crate) messages_stored: Counter,
    /// db_proxy round trip of pending requests, per kind ([`Continuation`]).
    db_latency: [Histogram; 5],
    /// Open state of every outbound link.
    pub(crate) links: LinkStates,
}

impl MsgMetrics {
    /// Registers everything in `metrics`.
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        Self {
            connections: metrics.gauges(
                "client_connections",
                "Client connections (accepted, and of those logged in)",
                "state",
                ["accepted", "logged_in"],
            ),
            users: metrics.gauge("online_users", "Users with a connection on this msg_server"),
            pending: metrics.gauge(
                "pending_requests",
                "Client requests waiting for db_proxy's answer",
            ),
            logins: metrics.counters(
                "logins",
                "Login attempts by result (refusals by reason)",
                "result",
                [
                    "ok",
                    "no_db_proxy",
                    "no_login_server",
                    "no_route_server",
                    "validate_failed",
                    "other",
                ],
            ),
            messages_stored: metrics
                .counter("messages_stored", "Messages db_proxy stored and answered"),
            db_latency: metrics.latencies(
                "db_proxy_request_duration",
                "Round trip of client requests to db_proxy, by request kind",
                "request",
                ["query", "login", "message", "register", "group_fan_out"],
            ),
            links: metrics.link_states(),
        }
    }

    /// A login completed.
    pub(crate) fn login_ok(&self) {
        self.logins[0].inc();
    }

    /// A login was refused with `code`.
    pub(crate) fn login_refused(&self, code: ResultType) {
        self.logins[login_refusal(code)].inc();
    }

    /// A pending request of kind `continuation` was answered after `seconds`.
    pub(crate) fn db_answered(&self, continuation: Continuation, seconds: f64) {
        let i = match continuation {
            Continuation::Relay => 0,
            Continuation::Login => 1,
            Continuation::Deliver => 2,
            Continuation::Register => 3,
            Continuation::FanOut { .. } => 4,
            // The file request's legs go to route_server and file_server, not db_proxy.
            Continuation::FilePresence | Continuation::FileTransfer => return,
        };
        self.db_latency[i].observe(seconds);
    }

    /// Sets the gauges that mirror the loop's state.
    pub(crate) fn set_state(&self, clients: usize, logged_in: u32, users: usize, pending: usize) {
        let [accepted, open] = &self.connections;
        accepted.set(gauge(clients));
        open.set(i64::from(logged_in));
        self.users.set(gauge(users));
        self.pending.set(gauge(pending));
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Index in `logins` of a refusal code.
fn login_refusal(code: ResultType) -> usize {
    match code {
        ResultType::RefuseReasonNoDbServer => 1,
        ResultType::RefuseReasonNoLoginServer => 2,
        ResultType::RefuseReasonNoRouteServer => 3,
        ResultType::RefuseReasonDbValidateFailed => 4,
        _ => 5,
    }
}
