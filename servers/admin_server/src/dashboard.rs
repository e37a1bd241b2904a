//! The dashboard's view of the cluster: each configured server's `/healthz`, `/readyz` and
//! Prometheus `/metrics` (netlib's metrics endpoint, ops/README.md for the names), read when
//! the page loads. Messages per minute are the rate of `teamtalk_messages_total
//! {event="received"}` between this load and the previous one (kept per server).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::Monitor;

/// How long one endpoint may take before the server is shown as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest exposition read (a server's is a few tens of KB).
const MAX_METRICS: usize = 1024 * 1024;
/// The gauge of users with a connection (msg_server) or online anywhere (route_server).
const ONLINE_USERS: &str = "teamtalk_online_users";
/// msg_server's count of chat messages received from clients.
const MESSAGES_RECEIVED: &str = "teamtalk_messages_total{event=\"received\"}";

/// What one server looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// Its name in the conf.
    pub name: String,
    /// Its metrics URL.
    pub url: String,
    /// `/healthz` answered 200 (the event loop runs).
    pub healthy: bool,
    /// `/readyz` answered 200 (every link it needs is up), with the body when not.
    pub ready: Result<(), String>,
    /// `teamtalk_online_users`, when exported.
    pub online_users: Option<f64>,
    /// Messages received per minute since the previous page load, when both samples exist.
    pub messages_per_minute: Option<f64>,
    /// The total messages received, when exported.
    pub messages_total: Option<f64>,
}

/// Polls the servers and remembers the previous samples.
#[derive(Debug, Default)]
pub struct Dashboard {
    previous: Mutex<HashMap<String, (Instant, f64)>>,
}

impl Dashboard {
    /// Every server's status, in conf order (they are asked at the same time).
    pub async fn poll(&self, monitors: &[Monitor]) -> Vec<Status> {
        let tasks: Vec<_> = monitors
            .iter()
            .map(|m| {
                let url = m.url.clone();
                tokio::spawn(async move {
                    let health = get(&url, "/healthz").await;
                    let ready = get(&url, "/readyz").await;
                    let metrics = get(&url, "/metrics").await;
                    (health, ready, metrics)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(monitors.len());
        for (monitor, task) in monitors.iter().zip(tasks) {
            let (health, ready, metrics) = task.await.unwrap_or_else(|e| {
                let err = Err(format!("probe failed: {e}"));
                (err.clone(), err.clone(), err)
            });
            let exposition = metrics.ok().unwrap_or_default();
            let received = netlib::metrics::sample(&exposition, MESSAGES_RECEIVED);
            out.push(Status {
                name: monitor.name.clone(),
                url: monitor.url.clone(),
                healthy: health.is_ok(),
                ready: ready.map(drop),
                online_users: netlib::metrics::sample(&exposition, ONLINE_USERS),
                messages_per_minute: received.and_then(|now| self.rate(&monitor.url, now)),
                messages_total: received,
            });
        }
        out
    }

    /// Per minute since the previous sample of `key`; records `value` as the new one.
    fn rate(&self, key: &str, value: f64) -> Option<f64> {
        let mut previous = self
            .previous
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let rate = previous.get(key).and_then(|&(at, old)| {
            let secs = now.duration_since(at).as_secs_f64();
            // A restart resets the counter: no rate across it.
            (secs >= 1.0 && value >= old).then(|| (value - old) * 60.0 / secs)
        });
        previous.insert(key.to_owned(), (now, value));
        rate
    }
}

/// The body of a 200 answer to `GET {base}{path}`; anything else is an error naming the status
/// or the failure. The endpoints speak plain HTTP/1.1 and close after answering (netlib's
/// metrics endpoint), so a small client does; it is bounded in time and size.
async fn get(base: &str, path: &str) -> Result<String, String> {
    let authority = base
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| "not an http:// URL".to_owned())?;
    let exchange = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|_| "unreachable".to_owned())?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream
            .take(MAX_METRICS as u64)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(raw)
    };
    let raw = tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out".to_owned())??;
    parse_answer(&raw)
}

/// The body of an HTTP answer when its status is 200.
fn parse_answer(raw: &[u8]) -> Result<String, String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| "not an HTTP answer".to_owned())?;
    let status = head.split(' ').nth(1).unwrap_or_default();
    if status == "200" {
        Ok(body.to_owned())
    } else {
        let line = head.lines().next().unwrap_or_default();
        Err(format!("{line}: {}", body.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_need_two_samples_and_a_monotonic_counter() {
        let dashboard = Dashboard::default();
        assert_eq!(dashboard.rate("a", 10.0), None);
        // Less than a second apart: no rate yet (too noisy), but the sample is kept.
        assert_eq!(dashboard.rate("a", 12.0), None);
        dashboard
            .previous
            .lock()
            .unwrap()
            .insert("a".into(), (Instant::now() - Duration::from_secs(30), 10.0));
        let rate = dashboard.rate("a", 20.0).unwrap();
        assert!((rate - 20.0).abs() < 0.5, "{rate}");
        dashboard
            .previous
            .lock()
            .unwrap()
            .insert("a".into(), (Instant::now() - Duration::from_secs(30), 50.0));
        assert_eq!(dashboard.rate("a", 3.0), None);
    }

    #[test]
    fn answers_are_taken_only_when_200() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
        assert_eq!(parse_answer(ok).as_deref(), Ok("ok\n"));
        let down = b"HTTP/1.1 503 Service Unavailable\r\n\r\ndb_proxy link down\n";
        assert_eq!(
            parse_answer(down),
            Err("HTTP/1.1 503 Service Unavailable: db_proxy link down".into())
        );
        assert!(parse_answer(b"garbage").is_err());
    }
}
