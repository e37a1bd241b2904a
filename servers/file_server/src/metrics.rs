//! What file_server exports on its metrics endpoint (netlib `metrics`; names in
//! ops/README.md): transfers by event, file bytes by path, tasks and connections.

use netlib::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// file_server's metrics; children created once, updates are atomic adds.
#[derive(Debug)]
pub(crate) struct FileMetrics {
    /// Tasks created, refused, expired; offline files stored, downloaded.
    pub(crate) created: Counter,
    pub(crate) refused: Counter,
    pub(crate) expired: Counter,
    pub(crate) stored: Counter,
    pub(crate) downloaded: Counter,
    /// File bytes relayed online, uploaded to and downloaded from the offline store.
    pub(crate) relayed_bytes: Counter,
    pub(crate) uploaded_bytes: Counter,
    pub(crate) downloaded_bytes: Counter,
    /// Live tasks (set before a scrape).
    pub(crate) tasks: Gauge,
    /// Connections: clients, msg_servers (set before a scrape).
    pub(crate) connections: [Gauge; 2],
}

impl FileMetrics {
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        let [created, refused, expired, stored, downloaded] = metrics.counters(
            "file_transfers",
            "File transfer events: tasks created, refused, expired; offline files stored, \
             downloaded",
            "event",
            [
                "created",
                "refused",
                "expired",
                "offline_stored",
                "offline_downloaded",
            ],
        );
        let [relayed_bytes, uploaded_bytes, downloaded_bytes] = metrics.counters(
            "file_bytes",
            "File data bytes: relayed between online peers, uploaded to and downloaded from the \
             offline store",
            "path",
            ["online_relayed", "offline_uploaded", "offline_downloaded"],
        );
        Self {
            created,
            refused,
            expired,
            stored,
            downloaded,
            relayed_bytes,
            uploaded_bytes,
            downloaded_bytes,
            tasks: metrics.gauge("file_tasks", "Live transfer tasks"),
            connections: metrics.gauges(
                "connections",
                "Open connections by kind",
                "kind",
                ["client", "msg_server"],
            ),
        }
    }
}
