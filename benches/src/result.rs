//! The outcome of one load run: what was asked, what was measured, and what went wrong.
//!
//! This is the JSON a run prints with `--json` and what `report` reads back. Every field has a
//! default, so a hand-written file with only a few numbers (e.g. the C++ original's results
//! measured by other means) is a valid input to `report`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::LatencySummary;

/// One run.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunResult {
    /// `login`, `msg`, `group` or `idle`.
    pub scenario: String,
    /// Name of the run (series name in charts).
    pub label: String,
    /// msg_server addresses the users connected to.
    pub servers: Vec<String>,
    /// Unix time the run started.
    pub started_at: u64,
    /// Parameters.
    pub params: Params,
    /// Login measurements (the measured phase of `login`, the set-up of the others).
    pub login: LoginMetrics,
    /// Message measurements (`msg`, `group`).
    pub messages: Option<MessageMetrics>,
    /// Connection-holding measurements (`idle`).
    pub idle: Option<IdleMetrics>,
    /// RSS of the processes given with `--pid`.
    pub rss: Vec<RssSample>,
    /// Everything that makes this run a failure (empty when it passed).
    pub failures: Vec<String>,
    /// Free text shown instead of pass/fail in reports (e.g. for reference numbers that
    /// were measured by other means).
    pub note: String,
}

/// The parameters of a run (unset ones do not apply to its scenario).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Params {
    /// `pc` or `mobile`.
    pub client_type: String,
    /// What the clients reached msg_server over: `plain`, `tls`, `ws` or `wss` (absent in
    /// results from before transports could be chosen: plain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Users logged in.
    pub users: u32,
    /// Logins in flight.
    pub concurrency: u32,
    /// 1:1 pairs.
    pub pairs: Option<u32>,
    /// Group members online.
    pub group_members: Option<u32>,
    /// Group senders.
    pub senders: Option<u32>,
    /// Messages in flight per sender.
    pub window: Option<u32>,
    /// Messages per second per sender (0 = unlimited).
    pub rate: Option<f64>,
    /// Sending or holding time asked for, in seconds.
    pub seconds: Option<f64>,
}

/// Logins.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginMetrics {
    /// Logins attempted.
    pub attempted: u64,
    /// Logins answered with result code 0.
    pub succeeded: u64,
    /// Logins refused, timed out or disconnected.
    pub failed: u64,
    /// Wall time from the first connect to the last answer.
    pub seconds: f64,
    /// Successful logins per second over that time.
    pub per_sec: f64,
    /// Connect-to-IMLoginRes latency of successful logins.
    pub latency: LatencySummary,
    /// Failure reasons and how often each occurred.
    pub errors: Vec<(String, u64)>,
}

/// Messages of a msg or group run.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MessageMetrics {
    /// Measured sending time in seconds.
    pub seconds: f64,
    /// Messages sent.
    pub sent: u64,
    /// Messages the server acknowledged (IMMsgDataAck), each counted once however many of
    /// its copies were answered.
    pub acked: u64,
    /// Deliveries expected: one per message for 1:1, one per other online member for groups.
    pub expected_deliveries: u64,
    /// Distinct deliveries.
    pub delivered: u64,
    /// Acks per second during the sending time.
    pub acked_per_sec: f64,
    /// Distinct deliveries per second during the sending time.
    pub delivered_per_sec: f64,
    /// Send to server ack.
    pub ack_latency: LatencySummary,
    /// Send to delivery at the receiver.
    pub delivery_latency: LatencySummary,
    /// Deliveries of acknowledged messages that never arrived, live or in the history read
    /// after a reconnect (after the drain time).
    pub lost: u64,
    /// Expected deliveries that never arrived, of acked and unacked messages alike.
    pub undelivered: u64,
    /// Messages sent that the server never acknowledged.
    pub unacked: u64,
    /// Extra copies delivered live.
    pub duplicated: u64,
    /// Message copies sent again (ack timeouts and reconnects).
    pub resends: u64,
    /// Distinct messages sent more than once.
    pub resent_messages: u64,
    /// Acks matching no waiting message (answers to copies of acked messages).
    pub unmatched_acks: u64,
    /// Clients logged in again after a dropped connection.
    pub reconnects: u64,
    /// Deliveries found in the history after a reconnect, not received live.
    pub fetched: u64,
    /// The longest time any sender waited between two acks (from the start of sending to
    /// its first ack, or to the end while still waiting), in seconds.
    pub longest_ack_gap_s: f64,
    /// Senders still waiting for an ack at the end.
    pub unhealed_senders: u64,
    /// The stored rows checked with `--check-mysql`.
    pub stored: Option<StoredCheck>,
    /// Deliveries that arrived after a later message of the same stream.
    pub reordered: u64,
    /// Deliveries to a user they were not addressed to.
    pub misdelivered: u64,
    /// Logged-in connections that closed during the run.
    pub disconnects: u64,
}

/// What MySQL holds for the messages of a run (`--check-mysql`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredCheck {
    /// Rows of this run's messages.
    pub rows: u64,
    /// Acked messages without a row.
    pub acked_missing: u64,
    /// Messages (acked or not) with more than one row: the extra rows.
    pub extra_rows: u64,
    /// Rows whose msg id another row of the same conversation also has.
    pub reused_msg_ids: u64,
}

/// Idle connections.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdleMetrics {
    /// Connections logged in.
    pub online: u64,
    /// Seconds they were held.
    pub held_seconds: f64,
    /// Connections that closed while held.
    pub disconnects: u64,
    /// Connections still open at the end of the hold.
    pub still_connected: u64,
}

/// RSS of one server process before the logins and at the end of the run.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RssSample {
    /// Process id.
    pub pid: u32,
    /// Process name (`/proc/<pid>/comm`).
    pub name: String,
    /// VmRSS before, in KiB.
    pub before_kb: u64,
    /// VmRSS after, in KiB.
    pub after_kb: u64,
    /// (after − before) / connections, in bytes (idle runs).
    pub per_conn_bytes: Option<f64>,
}

impl RunResult {
    /// Whether nothing went wrong.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The human-readable summary printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{} ({})", self.label, self.scenario);
        let _ = writeln!(out, "  servers        {}", self.servers.join(" "));
        if let Some(t) = &self.params.transport {
            let _ = writeln!(out, "  transport      {t}");
        }
        let l = &self.login;
        let _ = writeln!(
            out,
            "  logins         {} ok, {} failed of {} in {:.2} s = {:.0}/s",
            l.succeeded, l.failed, l.attempted, l.seconds, l.per_sec
        );
        let _ = writeln!(out, "  login latency  {}", latency_line(&l.latency));
        for (reason, n) in &l.errors {
            let _ = writeln!(out, "  login error    {n} x {reason}");
        }
        if let Some(m) = &self.messages {
            let _ = writeln!(
                out,
                "  sent           {} in {:.2} s, acked {} ({:.0}/s), delivered {} of {} ({:.0}/s)",
                m.sent,
                m.seconds,
                m.acked,
                m.acked_per_sec,
                m.delivered,
                m.expected_deliveries,
                m.delivered_per_sec
            );
            let _ = writeln!(out, "  send->ack      {}", latency_line(&m.ack_latency));
            let _ = writeln!(
                out,
                "  send->deliver  {}",
                latency_line(&m.delivery_latency)
            );
            let _ = writeln!(
                out,
                "  lost {}  unacked {}  duplicated {}  reordered {}  misdelivered {}  \
                 disconnects {}",
                m.lost, m.unacked, m.duplicated, m.reordered, m.misdelivered, m.disconnects
            );
            let _ = writeln!(
                out,
                "  undelivered {}  resends {} ({} messages)  reconnects {}  fetched {}  \
                 longest ack gap {:.2} s  unhealed senders {}",
                m.undelivered,
                m.resends,
                m.resent_messages,
                m.reconnects,
                m.fetched,
                m.longest_ack_gap_s,
                m.unhealed_senders
            );
            if let Some(c) = &m.stored {
                let _ = writeln!(
                    out,
                    "  mysql          {} rows, {} acked without a row, {} extra rows, \
                     {} reused msg ids",
                    c.rows, c.acked_missing, c.extra_rows, c.reused_msg_ids
                );
            }
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                out,
                "  held           {} connections for {:.0} s: {} still connected, {} dropped",
                i.online, i.held_seconds, i.still_connected, i.disconnects
            );
        }
        for r in &self.rss {
            let per = r
                .per_conn_bytes
                .map(|b| format!(", {:.0} bytes per connection", b))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  rss {} ({})  {} KiB -> {} KiB{per}",
                r.name, r.pid, r.before_kb, r.after_kb
            );
        }
        if self.failures.is_empty() {
            let _ = writeln!(out, "  result         PASS");
        } else {
            for f in &self.failures {
                let _ = writeln!(out, "  FAIL           {f}");
            }
        }
        out
    }
}

/// `p50 / p90 / p99 / max` in milliseconds.
pub fn latency_line(s: &LatencySummary) -> String {
    format!(
        "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
        s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.count
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_hand_written_result_parses_with_defaults() {
        let r: RunResult = serde_json::from_str(
            r#"{"scenario":"msg","label":"C++ original","params":{"pairs":100},
                "messages":{"acked_per_sec":1190.0}}"#,
        )
        .unwrap();
        assert_eq!(r.params.pairs, Some(100));
        assert_eq!(r.messages.as_ref().unwrap().acked_per_sec, 1190.0);
        assert!(r.passed());
    }

    #[test]
    fn json_round_trips() {
        let r = RunResult {
            scenario: "idle".into(),
            label: "idle mobile".into(),
            idle: Some(IdleMetrics {
                online: 10,
                held_seconds: 5.0,
                disconnects: 0,
                still_connected: 10,
            }),
            rss: vec![RssSample {
                pid: 1,
                name: "msg_server".into(),
                before_kb: 100,
                after_kb: 120,
                per_conn_bytes: Some(2048.0),
            }],
            failures: vec!["x".into()],
            ..RunResult::default()
        };
        let back: RunResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert!(!back.passed());
    }

    #[test]
    fn table_shows_failures_and_rss() {
        let r = RunResult {
            scenario: "msg".into(),
            label: "t".into(),
            messages: Some(MessageMetrics {
                lost: 3,
                ..MessageMetrics::default()
            }),
            rss: vec![RssSample {
                pid: 42,
                name: "msg_server".into(),
                before_kb: 1,
                after_kb: 2,
                per_conn_bytes: None,
            }],
            failures: vec!["3 messages lost".into()],
            ..RunResult::default()
        };
        let t = r.table();
        assert!(t.contains("lost 3"));
        assert!(t.contains("resends 0 (0 messages)  reconnects 0"));
        assert!(t.contains("msg_server (42)"));
        assert!(t.contains("FAIL           3 messages lost"));
        assert!(!t.contains("PASS"));
    }
}
