//! What msfs exports on its metrics endpoint (netlib `metrics`; names in ops/README.md):
//! file bytes in and out, requests by result, the store's size, connections and worker
//! queues. The workers count through a shared [`MsfsMetrics`]; its children are created once.

use netlib::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// msfs's metrics.
#[derive(Debug)]
pub(crate) struct MsfsMetrics {
    /// File bytes stored by uploads, served by downloads.
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    /// Requests by result.
    pub(crate) downloaded: Counter,
    pub(crate) not_found: Counter,
    pub(crate) stored: Counter,
    pub(crate) refused: Counter,
    pub(crate) failed: Counter,
    /// Bytes in the store, open connections, queued downloads and uploads (set before a
    /// scrape).
    pub(crate) store_bytes: Gauge,
    pub(crate) connections: Gauge,
    pub(crate) queued: [Gauge; 2],
}

impl MsfsMetrics {
    pub(crate) fn new(metrics: &mut Metrics) -> Self {
        let [bytes_in, bytes_out] = metrics.counters(
            "msfs_bytes",
            "File bytes stored by uploads (in) and served by downloads (out)",
            "direction",
            ["in", "out"],
        );
        let [downloaded, not_found, stored, refused, failed] = metrics.counters(
            "msfs_requests",
            "Requests by result: downloads served or not found; uploads stored, refused \
             (format, size, quota) or failed (disk)",
            "result",
            ["downloaded", "not_found", "stored", "refused", "failed"],
        );
        Self {
            bytes_in,
            bytes_out,
            downloaded,
            not_found,
            stored,
            refused,
            failed,
            store_bytes: metrics.gauge("msfs_store_bytes", "Bytes of stored files"),
            connections: metrics.gauge("connections", "Open HTTP connections"),
            queued: metrics.gauges(
                "worker_queue_depth",
                "Requests waiting for a free worker",
                "pool",
                ["get", "post"],
            ),
        }
    }
}
