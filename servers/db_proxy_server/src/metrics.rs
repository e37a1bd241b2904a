//! What db_proxy_server exports on its metrics endpoint (netlib `metrics`; names in
//! ops/README.md).
//!
//! [`StoreMetrics`] lives in the [`crate::store::Store`] the workers share: the time and
//! outcome of every MySQL and Redis use per pool, the time of every request per service, and
//! whether each pool answered its last use (what `/readyz` reports). `LinkMetrics` is the
//! reactor's: links, queued requests, the worker backlog, shed requests. Children are created
//! once; workers only add to atomics.

use std::time::Instant;

use netlib::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Unit;
use teamtalk_proto::Pdu;

/// Pools in label order: the two MySQL pools, then the Redis pools in `Cache` order.
pub const POOLS: [&str; 6] = [
    "mysql_master",
    "mysql_slave",
    "redis_unread",
    "redis_group_set",
    "redis_token",
    "redis_group_member",
];
/// Request services in label order ([`service_index`]).
const SERVICES: [&str; 7] = [
    "login", "buddy", "message", "group", "file", "server", "other",
];

type Label = netlib::metrics::Label;

/// Storage timings and health, shared by the workers.
#[derive(Debug)]
pub struct StoreMetrics {
    pool_latency: Family<Label, Histogram, fn() -> Histogram>,
    pool_errors: Family<Label, Counter>,
    pool_up: Family<Label, Gauge>,
    request_latency: Family<Label, Histogram, fn() -> Histogram>,
    refused_messages: Counter,
    latency: [Histogram; 6],
    errors: [Counter; 6],
    up: [Gauge; 6],
    requests: [Histogram; 7],
}

fn latency_histogram() -> Histogram {
    Histogram::new(netlib::metrics::latency_buckets())
}

impl Default for StoreMetrics {
    fn default() -> Self {
        let pool_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let request_latency = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let pool_errors = Family::<Label, Counter>::default();
        let pool_up = Family::<Label, Gauge>::default();
        let latency = POOLS.map(|p| pool_latency.get_or_create_owned(&[("pool", p)]));
        let errors = POOLS.map(|p| pool_errors.get_or_create_owned(&[("pool", p)]));
        // Every pool answered when the store opened.
        let up = POOLS.map(|p| {
            let g = pool_up.get_or_create_owned(&[("pool", p)]);
            g.set(1);
            g
        });
        let requests = SERVICES.map(|s| request_latency.get_or_create_owned(&[("service", s)]));
        Self {
            pool_latency,
            pool_errors,
            pool_up,
            request_latency,
            refused_messages: Counter::default(),
            latency,
            errors,
            up,
            requests,
        }
    }
}

impl StoreMetrics {
    /// Registers every family in `metrics`.
    pub fn register(&self, metrics: &mut Metrics) {
        let r = metrics.registry();
        r.register_with_unit(
            "storage_duration",
            "Time of one use of a MySQL or Redis pool (checkout included)",
            Unit::Seconds,
            self.pool_latency.clone(),
        );
        r.register(
            "storage_errors",
            "Failed uses of a MySQL or Redis pool",
            self.pool_errors.clone(),
        );
        r.register(
            "storage_up",
            "Whether the pool's last use succeeded (1) or failed (0)",
            self.pool_up.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Time a worker spent on one request (or one batch of messages), by service",
            Unit::Seconds,
            self.request_latency.clone(),
        );
        r.register(
            "messages_refused",
            "Messages refused: sender, receiver or group unknown, or sender not a member",
            self.refused_messages.clone(),
        );
    }

    /// Records one use of pool `pool` (index in [`POOLS`]) that started at `start`.
    pub fn pool_used<T, E>(&self, pool: usize, start: Instant, result: &Result<T, E>) {
        self.latency[pool].observe(start.elapsed().as_secs_f64());
        self.up[pool].set(i64::from(result.is_ok()));
        if result.is_err() {
            self.errors[pool].inc();
        }
    }

    /// Records a worker's time on a task, under the service of `kind` (its request, or for a
    /// run its message).
    pub fn request_done(&self, kind: Option<&Pdu>, start: Instant) {
        let i = kind.map_or(SERVICES.len() - 1, |p| service_index(p.header.command_id));
        self.requests[i].observe(start.elapsed().as_secs_f64());
    }

    /// Counts a refused message; returns the total so far.
    pub fn message_refused(&self) -> u64 {
        self.refused_messages.inc() + 1
    }

    /// Refused messages so far.
    pub fn refused_messages(&self) -> u64 {
        self.refused_messages.get()
    }

    /// The pools whose last use failed.
    pub fn pools_down(&self) -> impl Iterator<Item = &'static str> + '_ {
        POOLS
            .iter()
            .zip(&self.up)
            .filter(|(_, up)| up.get() == 0)
            .map(|(name, _)| *name)
    }
}

/// Index in [`SERVICES`] of a command: its service is the high byte (PROTOCOL §4); `server`
/// holds the server-to-server commands, login validation among them.
fn service_index(command_id: u16) -> usize {
    match command_id >> 8 {
        1 => 0,
        2 => 1,
        3 => 2,
        4 => 3,
        5 => 4,
        7 => 5,
        _ => 6,
    }
}

/// The reactor's figures: links and their queues.
#[derive(Debug)]
pub(crate) struct LinkMetrics {
    links: Gauge,
    queued: Gauge,
    queued_max: Gauge,
    worker_backlog: Gauge,
    pub(crate) shed: Counter,
    pub(crate) answers_dropped: Counter,
}

impl LinkMetrics {
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        Self {
            links: metrics.gauge("server_links", "msg_server and http_msg_server links"),
            queued: metrics.gauge(
                "link_queued_requests",
                "Requests waiting on all links (the one with a worker included)",
            ),
            queued_max: metrics.gauge(
                "link_queued_requests_max",
                "Requests waiting on the busiest link",
            ),
            worker_backlog: metrics.gauge("worker_queue_depth", "Tasks waiting for a free worker"),
            shed: metrics.counter(
                "requests_shed",
                "Requests shed because their link's queue was full",
            ),
            answers_dropped: metrics.counter(
                "answers_dropped",
                "Answers dropped because their link closed meanwhile",
            ),
        }
    }

    /// Sets the gauges before a scrape.
    pub(crate) fn set(&self, links: usize, queued: impl Iterator<Item = usize>, backlog: usize) {
        let (mut total, mut max) = (0, 0);
        for q in queued {
            total += q;
            max = max.max(q);
        }
        self.links.set(gauge(links));
        self.queued.set(gauge(total));
        self.queued_max.set(gauge(max));
        self.worker_backlog.set(gauge(backlog));
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
