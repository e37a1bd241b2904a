//! The operator endpoint every server may serve on `MetricsListenIP`/`MetricsPort` (CONFIG
//! §1.4): Prometheus text format on `/metrics`, liveness on `/healthz`, readiness on `/readyz`.
//!
//! The endpoint is a listener on the server's own event loop, not a thread of its own: every
//! answer is written by the reactor thread, so a loop that stopped turning stops answering
//! `/healthz` and the probe fails, which is what the probe is for. Its connections never reach
//! the server's [`crate::Handler`] (they are hidden from [`crate::ConnTable`] iteration too);
//! the loop parses the request with [`crate::http`], answers and closes. A request must be
//! complete within [`REQUEST_LIFETIME`] and [`MAX_REQUEST`] bytes, or the connection is cut.
//!
//! Metric updates on the hot paths are atomic adds on children created once at start (no
//! label formatting, no allocation per message); figures that are a view of the server's state
//! (table sizes, queue depths, link states) are set by [`crate::Handler::refresh_metrics`] right
//! before each scrape, so they cost nothing between scrapes.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use log::debug;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::conf::{Conf, ConfError};
use crate::conn::{ConnOptions, ListenerTag};
use crate::http::{Request, response};
use crate::link::{Link, LinkState};

/// Tag of the metrics listener; connections accepted on it belong to the loop, not the handler.
pub const METRICS_LISTENER: ListenerTag = ListenerTag(u32::MAX);
/// Largest request accepted (a scrape or probe is a few hundred bytes).
pub const MAX_REQUEST: usize = 8 * 1024;
/// A request (and its answer) must be done within this; a trickling peer is cut off.
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(5);
/// A connection that sends nothing for this long is closed.
const REQUEST_IDLE: Duration = Duration::from_secs(3);

/// Labels of a metric with one label, pre-created per value (`[("reason", "flood")]`).
pub type Label = [(&'static str, &'static str); 1];
/// Labels of a link's state: its kind and its configured `host:port`.
pub type LinkLabels = [(&'static str, String); 2];

/// Latency buckets in seconds for back-end round trips: 0.5 ms to about 16 s.
pub fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.000_5, 2.0, 16)
}

/// Options of a metrics connection: raw bytes, small input, short idle and total lifetime.
pub const fn endpoint_options() -> ConnOptions {
    ConnOptions {
        lifetime: Some(REQUEST_LIFETIME),
        ..ConnOptions::raw(MAX_REQUEST, REQUEST_IDLE)
    }
}

/// Where the endpoint listens: `MetricsListenIP` (default `127.0.0.1`) and `MetricsPort`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConf {
    /// IP to bind.
    pub ip: String,
    /// Port to bind (0 picks one, for tests).
    pub port: u16,
}

impl MetricsConf {
    /// The endpoint a conf asks for: `None` (off) without `MetricsPort`.
    pub fn from_conf(conf: &Conf) -> Result<Option<Self>, ConfError> {
        let Some(port) = conf.get("MetricsPort") else {
            return Ok(None);
        };
        let port = port.parse::<u16>().map_err(|e| ConfError::Invalid {
            key: "MetricsPort".into(),
            value: port.into(),
            reason: e.to_string(),
        })?;
        let ip = conf
            .get("MetricsListenIP")
            .unwrap_or("127.0.0.1")
            .to_owned();
        Ok(Some(Self { ip, port }))
    }

    /// Loopback with a port picked by the system (tests).
    pub fn loopback() -> Self {
        Self {
            ip: "127.0.0.1".into(),
            port: 0,
        }
    }
}

/// What `/readyz` reports: the required links that are down, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Readiness {
    down: Vec<String>,
}

impl Readiness {
    /// Ready, nothing required.
    pub fn ready() -> Self {
        Self::default()
    }

    /// Adds a requirement: `what` must be up.
    #[must_use]
    pub fn require(mut self, what: &str, up: bool) -> Self {
        if !up {
            self.down.push(what.to_owned());
        }
        self
    }

    /// Whether every requirement is met.
    pub fn is_ready(&self) -> bool {
        self.down.is_empty()
    }

    /// The requirements not met.
    pub fn down(&self) -> &[String] {
        &self.down
    }
}

/// A server's metrics: its own (prefixed `teamtalk_`) and the process figures read from
/// `/proc/self` at each scrape (`process_resident_memory_bytes`, `process_open_fds`, the
/// names the Prometheus client libraries use).
#[derive(Debug)]
pub struct Metrics {
    server: Registry,
    process: Registry,
    rss: Gauge,
    fds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty set with the process figures registered.
    pub fn new() -> Self {
        let mut process = Registry::default();
        let rss = Gauge::default();
        let fds = Gauge::default();
        process.register_with_unit(
            "process_resident_memory",
            "Resident memory size",
            prometheus_client::registry::Unit::Bytes,
            rss.clone(),
        );
        process.register("process_open_fds", "Open file descriptors", fds.clone());
        Self {
            server: Registry::with_prefix("teamtalk"),
            process,
            rss,
            fds,
        }
    }

    /// The registry a server adds its metrics to (names get the `teamtalk_` prefix).
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.server
    }

    /// A counter named `name` (exported as `teamtalk_<name>_total`).
    pub fn counter(&mut self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        self.server.register(name, help, c.clone());
        c
    }

    /// A gauge named `name`.
    pub fn gauge(&mut self, name: &str, help: &str) -> Gauge {
        let g = Gauge::default();
        self.server.register(name, help, g.clone());
        g
    }

    /// A counter family with one label; `values` are created now (exported at 0) and returned
    /// in order, so updates are plain atomic adds.
    pub fn counters<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        label: &'static str,
        values: [&'static str; N],
    ) -> [Counter; N] {
        let family = Family::<Label, Counter>::default();
        self.server.register(name, help, family.clone());
        values.map(|v| family.get_or_create_owned(&[(label, v)]))
    }

    /// A gauge family with one label, created like [`Metrics::counters`].
    pub fn gauges<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        label: &'static str,
        values: [&'static str; N],
    ) -> [Gauge; N] {
        let family = Family::<Label, Gauge>::default();
        self.server.register(name, help, family.clone());
        values.map(|v| family.get_or_create_owned(&[(label, v)]))
    }

    /// A latency histogram family (seconds, [`latency_buckets`]) with one label, created like
    /// [`Metrics::counters`].
    pub fn latencies<const N: usize>(
        &mut self,
        name: &str,
        help: &str,
        label: &'static str,
        values: [&'static str; N],
    ) -> [Histogram; N] {
        let family = Family::<Label, Histogram>::new_with_constructor(
            (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
        );
        self.server.register_with_unit(
            name,
            help,
            prometheus_client::registry::Unit::Seconds,
            family.clone(),
        );
        values.map(|v| family.get_or_create_owned(&[(label, v)]))
    }

    /// The `link_up` family (1 open, 0 otherwise, per kind and peer), set by
    /// [`LinkStates::set`] before each scrape.
    pub fn link_states(&mut self) -> LinkStates {
        let family = Family::<LinkLabels, Gauge>::default();
        self.server.register(
            "link_up",
            "Whether an outbound server link is open (1) or not (0)",
            family.clone(),
        );
        LinkStates { family }
    }

    /// The exposition in Prometheus text format, process figures read now.
    pub fn encode(&self) -> String {
        self.read_process();
        let mut out = String::with_capacity(8 * 1024);
        for registry in [&self.server, &self.process] {
            if let Err(e) = prometheus_text::encode(&mut out, registry) {
                // Only a formatting failure of a String writer, which does not happen.
                debug!("metrics encoding failed: err={e}");
            }
        }
        out
    }

    fn read_process(&self) {
        match std::fs::read_to_string("/proc/self/status") {
            Ok(status) => {
                if let Some(kib) = vm_rss_kib(&status) {
                    self.rss.set(kib.saturating_mul(1024));
                }
            }
            Err(e) => debug!("cannot read /proc/self/status: err={e}"),
        }
        match std::fs::read_dir("/proc/self/fd") {
            // The count includes the directory handle being read, as every exporter's does.
            Ok(dir) => {
                self.fds.set(i64::try_from(dir.count()).unwrap_or(i64::MAX));
            }
            Err(e) => debug!("cannot read /proc/self/fd: err={e}"),
        }
    }
}

/// The `VmRSS` line of `/proc/self/status`, in KiB.
fn vm_rss_kib(status: &str) -> Option<i64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Per-link `link_up` gauges (see [`Metrics::link_states`]).
#[derive(Debug, Clone)]
pub struct LinkStates {
    family: Family<LinkLabels, Gauge>,
}

impl LinkStates {
    /// Records whether `link`, of kind `kind` (`db_proxy`, `route`…), is open.
    pub fn set(&self, kind: &'static str, link: &Link) {
        let up = matches!(link.state(), LinkState::Open(..));
        self.family
            .get_or_create(&[("kind", kind.to_owned()), ("peer", link.name().to_owned())])
            .set(i64::from(up));
    }

    /// Records a link known only by name (a peer that connects in, like msg_server seen by
    /// db_proxy, is not a [`Link`]).
    pub fn set_named(&self, kind: &'static str, peer: &str, up: bool) {
        self.family
            .get_or_create(&[("kind", kind.to_owned()), ("peer", peer.to_owned())])
            .set(i64::from(up));
    }
}

/// What an endpoint request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `GET /metrics`.
    Metrics,
    /// `GET /healthz`.
    Health,
    /// `GET /readyz`.
    Ready,
    /// Any other path.
    NotFound,
    /// Any other method.
    NotGet,
}

/// What `req` asks for (the query string is ignored).
pub(crate) fn probe(req: &Request) -> Probe {
    if req.method != "GET" {
        return Probe::NotGet;
    }
    match req.target.split('?').next().unwrap_or_default() {
        "/metrics" => Probe::Metrics,
        "/healthz" => Probe::Health,
        "/readyz" => Probe::Ready,
        _ => Probe::NotFound,
    }
}

/// The answer to `probe`; `readiness` is the handler's for [`Probe::Ready`].
pub(crate) fn answer(probe: Probe, metrics: &Metrics, readiness: Option<Readiness>) -> Vec<u8> {
    const TEXT: &str = "text/plain; charset=utf-8";
    match probe {
        Probe::Metrics => response(
            "200 OK",
            &[],
            prometheus_text::CONTENT_TYPE,
            metrics.encode().as_bytes(),
        ),
        Probe::Health => response("200 OK", &[], TEXT, b"ok\n"),
        Probe::Ready => match readiness {
            Some(r) if !r.is_ready() => {
                let mut body = String::from("not ready:");
                for what in r.down() {
                    let _ = write!(body, " {what}");
                }
                body.push('\n');
                response("503 Service Unavailable", &[], TEXT, body.as_bytes())
            }
            _ => response("200 OK", &[], TEXT, b"ready\n"),
        },
        Probe::NotFound => response("404 Not Found", &[], TEXT, b"not found\n"),
        Probe::NotGet => response(
            "405 Method Not Allowed",
            &["Allow:GET"],
            TEXT,
            b"GET only\n",
        ),
    }
}

/// Fetches `path` from an endpoint at `addr` with a blocking client: the status code and the
/// body. For tests and probes; a scraper in production is Prometheus.
pub fn scrape(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not an http response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// The value of the sample `series` (name and labels exactly as exported, e.g.
/// `teamtalk_logins_total{result="ok"}`) in an exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_the_status_line() {
        let status = "Name:\tx\nVmPeak:\t  9 kB\nVmRSS:\t    1234 kB\nThreads:\t1\n";
        assert_eq!(vm_rss_kib(status), Some(1234));
        assert_eq!(vm_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn conf_keys_turn_the_endpoint_on() {
        assert_eq!(MetricsConf::from_conf(&Conf::default()).unwrap(), None);
        let conf = Conf::from_pairs([("MetricsPort", "9101")]);
        assert_eq!(
            MetricsConf::from_conf(&conf).unwrap(),
            Some(MetricsConf {
                ip: "127.0.0.1".into(),
                port: 9101
            })
        );
        let conf = Conf::from_pairs([("MetricsPort", "x"), ("MetricsListenIP", "0.0.0.0")]);
        assert!(MetricsConf::from_conf(&conf).is_err());
    }

    #[test]
    fn pre_created_children_are_exported_at_zero_and_count() {
        let mut m = Metrics::new();
        let [flood, bad] = m.counters("refusals", "Refusals", "reason", ["flood", "bad"]);
        flood.inc();
        let text = m.encode();
        assert!(
            text.contains("teamtalk_refusals_total{reason=\"flood\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("teamtalk_refusals_total{reason=\"bad\"} 0"),
            "{text}"
        );
        assert!(text.contains("process_open_fds "), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert_eq!(
            sample(&text, "teamtalk_refusals_total{reason=\"flood\"}"),
            Some(1.0)
        );
        assert!(sample(&text, "process_open_fds").is_some_and(|n| n >= 3.0));
        assert!(sample(&text, "process_resident_memory_bytes").is_some_and(|n| n > 0.0));
        drop(bad);
    }

    #[test]
    fn readiness_lists_what_is_down() {
        let r = Readiness::ready().require("db_proxy", true);
        assert!(r.is_ready());
        let r = r.require("route", false);
        assert_eq!(r.down(), ["route".to_owned()]);
    }
}
