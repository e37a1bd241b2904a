//! One load run from start to result: find the msg_servers, plan users over driver loops and
//! servers, move every loop through the phases (login, run, drain, finish) while printing
//! progress, sample server RSS, and turn the loops' reports into a [`RunResult`].
//!
//! The controlling thread never touches connections; it only reads the shared counters and
//! sets the phase. Each loop owns its users; a 1:1 pair always lives in one loop so a sender
//! can learn its receiver's user id without crossing threads.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use netlib::{DialTransport, EventLoop};

use crate::audit::{self, AuditQuery};
use crate::cli::{RunOptions, Scenario, Target};
use crate::driver::{Driver, DriverConfig, LoopReport, Phase, Role, Shared, UserPlan};
use crate::result::{IdleMetrics, LoginMetrics, MessageMetrics, Params, RssSample, RunResult};
use crate::stats::Latencies;
use crate::tracker::DeliveryCounts;
use crate::transport::TransportOptions;

/// How often the controller checks the counters.
const POLL: Duration = Duration::from_millis(20);
/// Interval of the progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// File descriptors kept free beyond one per simulated client.
const SPARE_FDS: u64 = 64;
/// How long loops get to hand in their reports after the finish phase starts.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the load `opts` describes and returns what was measured.
pub fn execute(opts: &RunOptions) -> Result<RunResult> {
    let users = u64::from(opts.scenario.user_count());
    ensure_fd_limit(users + SPARE_FDS)?;
    let (servers, ws_path) = resolve_servers(&opts.target, &opts.transport)?;
    let dial = Arc::new(
        opts.transport
            .dial(&ws_path)
            .context("setting up the client transport")?,
    );
    let per_loop = plan(opts, &servers);
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());

    let rss_before: Vec<(u32, String, u64)> = opts
        .pids
        .iter()
        .map(|&pid| Ok((pid, process_name(pid), rss_kb(pid)?)))
        .collect::<Result<_>>()?;

    let shared = Arc::new(Shared::new());
    let (tx, rx) = mpsc::channel();
    let loops = per_loop.iter().filter(|p| !p.is_empty()).count();
    let mut handles = Vec::new();
    for (i, plans) in per_loop.into_iter().enumerate() {
        if plans.is_empty() {
            continue;
        }
        let config = DriverConfig {
            concurrency: opts.concurrency.div_ceil(loops).max(1),
            ..driver_config(opts, &dial)
        };
        let mut driver = Driver::new(Arc::clone(&shared), config, plans, tx.clone());
        if let Scenario::Group { members, .. } = opts.scenario {
            driver.set_group_recipients(u64::from(members.saturating_sub(1)));
        }
        let mut event_loop = EventLoop::new(driver).context("creating a driver loop")?;
        let (handler, ctx) = event_loop.parts_mut();
        handler.start(ctx);
        handles.push(event_loop.spawn(&format!("tt-load-{i}"))?);
    }
    drop(tx);

    let mut progress = Progress::new(opts.quiet, Arc::clone(&shared));
    let login_timeout = Duration::from_secs_f64(opts.login_timeout);
    wait_for_logins(&shared, loops as u64, login_timeout, &mut progress)?;

    let mut run_seconds = 0.0;
    let mut held_seconds = 0.0;
    let mut rss_after = None;
    match &opts.scenario {
        Scenario::Login { .. } => {}
        Scenario::Msg { traffic, .. } | Scenario::Group { traffic, .. } => {
            shared.set_phase(Phase::Run);
            let start = Instant::now();
            progress.wait(
                Phase::Run,
                start + Duration::from_secs_f64(traffic.seconds),
                || false,
            );
            shared.set_phase(Phase::Drain);
            run_seconds = start.elapsed().as_secs_f64();
            let c = &shared.counters;
            progress.wait(
                Phase::Drain,
                Instant::now() + Duration::from_secs_f64(traffic.drain),
                || {
                    c.acked.load(Ordering::Relaxed) >= c.sent.load(Ordering::Relaxed)
                        && c.delivered.load(Ordering::Relaxed) >= c.expected.load(Ordering::Relaxed)
                },
            );
        }
        Scenario::Idle { seconds, .. } => {
            shared.set_phase(Phase::Run);
            let start = Instant::now();
            progress.wait(
                Phase::Run,
                start + Duration::from_secs_f64(*seconds),
                || false,
            );
            held_seconds = start.elapsed().as_secs_f64();
            rss_after = Some(sample_rss(&rss_before)?);
        }
    }
    let rss_after = match rss_after {
        Some(r) => r,
        None => sample_rss(&rss_before)?,
    };
    shared.set_phase(Phase::Finish);
    progress.finish();

    let mut reports = Vec::new();
    for _ in 0..loops {
        reports.push(
            rx.recv_timeout(REPORT_TIMEOUT)
                .context("a driver loop did not report")?,
        );
    }
    for handle in handles {
        handle.shutdown().context("driver loop failed")?;
    }

    let acked_by_stream = merged_acks(&reports);
    let mut result = assemble(opts, &servers, reports, run_seconds, held_seconds);
    result.started_at = started_at;
    if let (Some(url), Some(m)) = (&opts.check_mysql, result.messages.as_mut()) {
        let (senders, group_id) = match opts.scenario {
            Scenario::Msg { pairs, .. } => {
                ((0..pairs).map(|i| opts.users.name(2 * i)).collect(), None)
            }
            Scenario::Group {
                group_id, senders, ..
            } => (
                (0..senders).map(|j| opts.users.name(j)).collect(),
                Some(group_id),
            ),
            _ => (Vec::new(), None),
        };
        let query = AuditQuery {
            mysql_url: url,
            run_tag: shared.run_tag,
            aes_key: &opts.aes_key,
            senders,
            group_id,
            started_at,
        };
        let stored = audit::check(&query, &acked_by_stream).context("checking stored rows")?;
        for (n, what) in [
            (stored.acked_missing, "acked messages have no row in MySQL"),
            (
                stored.extra_rows,
                "extra rows in MySQL (messages stored twice)",
            ),
            (
                stored.reused_msg_ids,
                "rows in MySQL share a msg id in their conversation",
            ),
        ] {
            if n > 0 {
                result.failures.push(format!("{n} {what}"));
            }
        }
        m.stored = Some(stored);
    }
    let online = result.login.succeeded;
    result.rss = rss_before
        .iter()
        .zip(rss_after)
        .map(|((pid, name, before), after)| RssSample {
            pid: *pid,
            name: name.clone(),
            before_kb: *before,
            after_kb: after,
            per_conn_bytes: (result.scenario == "idle" && online > 0)
                .then(|| (after as f64 - *before as f64) * 1024.0 / online as f64),
        })
        .collect();
    Ok(result)
}

/// Every loop's acked sequence numbers, per stream.
fn merged_acks(reports: &[LoopReport]) -> HashMap<u32, Vec<u64>> {
    let mut acked: HashMap<u32, Vec<u64>> = HashMap::new();
    for r in reports {
        for (s, seqs) in &r.acked_by_stream {
            acked.entry(*s).or_default().extend_from_slice(seqs);
        }
    }
    acked
}

fn driver_config(opts: &RunOptions, transport: &Arc<DialTransport>) -> DriverConfig {
    let (traffic, group_id) = match &opts.scenario {
        Scenario::Msg { traffic, .. } => (Some(traffic), None),
        Scenario::Group {
            traffic, group_id, ..
        } => (Some(traffic), Some(*group_id)),
        _ => (None, None),
    };
    let (window, rate) = traffic.map_or((1, 0.0), |t| (t.window, t.rate));
    DriverConfig {
        client: opts.client,
        password_hash: tt_client::crypto::md5_hex(&opts.users.password),
        concurrency: opts.concurrency,
        login_timeout: Duration::from_secs_f64(opts.login_timeout),
        aes_key: opts.aes_key,
        window,
        rate,
        group_id,
        ack_timeout: Duration::from_secs_f64(traffic.map_or(5.0, |t| t.ack_timeout)),
        max_resends: traffic.map_or(0, |t| t.resends),
        reconnect: opts.reconnect.clone(),
        transport: Arc::clone(transport),
        transport_kind: opts.transport.kind,
    }
}

/// Raises the soft descriptor limit to the hard one and checks that `needed` fit.
fn ensure_fd_limit(needed: u64) -> Result<()> {
    let limit = rlimit::increase_nofile_limit(u64::MAX).context("reading RLIMIT_NOFILE")?;
    if limit < needed {
        bail!(
            "this run needs about {needed} file descriptors but the limit is {limit}; \
             raise it (ulimit -n) or use fewer connections"
        );
    }
    Ok(())
}

/// The msg_server addresses to use and the WebSocket path: a discovered msg_server's port of
/// the run's transport, or the addresses given.
pub fn resolve_servers(
    target: &Target,
    transport: &TransportOptions,
) -> Result<(Vec<SocketAddr>, String)> {
    match target {
        Target::MsgServers(list) => Ok((list.clone(), transport.ws_path(None))),
        Target::LoginUrl(url) => {
            let info = tt_client::discover(url).with_context(|| format!("discovery at {url}"))?;
            let host = format!("{}:{}", info.prior_ip, transport.port(&info)?);
            let addr = host
                .to_socket_addrs()
                .with_context(|| format!("resolving {host}"))?
                .next()
                .with_context(|| format!("{host} resolves to nothing"))?;
            Ok((vec![addr], transport.ws_path(Some(&info))))
        }
    }
}

/// Splits the run's users over `opts.loops` loops and `servers` (round-robin by user index).
pub fn plan(opts: &RunOptions, servers: &[SocketAddr]) -> Vec<Vec<UserPlan>> {
    let loops = opts.loops.max(1);
    let mut per_loop: Vec<Vec<UserPlan>> = (0..loops).map(|_| Vec::new()).collect();
    let server = |k: u32| servers[k as usize % servers.len()];
    match opts.scenario {
        Scenario::Login { count: n } | Scenario::Idle { conns: n, .. } => {
            for k in 0..n {
                per_loop[k as usize % loops].push(UserPlan {
                    name: opts.users.name(k),
                    addr: server(k),
                    role: Role::Idle,
                });
            }
        }
        Scenario::Msg { pairs, .. } => {
            for i in 0..pairs {
                let list = &mut per_loop[i as usize % loops];
                let (sender, receiver) = (2 * i, 2 * i + 1);
                list.push(UserPlan {
                    name: opts.users.name(receiver),
                    addr: server(receiver),
                    role: Role::PairReceiver { stream: i },
                });
                let peer = list.len() - 1;
                list.push(UserPlan {
                    name: opts.users.name(sender),
                    addr: server(sender),
                    role: Role::PairSender { stream: i, peer },
                });
            }
        }
        Scenario::Group {
            members, senders, ..
        } => {
            for j in 0..members {
                per_loop[j as usize % loops].push(UserPlan {
                    name: opts.users.name(j),
                    addr: server(j),
                    role: Role::GroupMember {
                        stream: (j < senders).then_some(j),
                        senders,
                    },
                });
            }
        }
    }
    per_loop
}

fn wait_for_logins(
    shared: &Shared,
    loops: u64,
    login_timeout: Duration,
    progress: &mut Progress,
) -> Result<()> {
    let c = &shared.counters;
    let stall_limit = login_timeout + Duration::from_secs(10);
    let mut last_done = 0;
    let mut last_change = Instant::now();
    while c.loops_logged_in.load(Ordering::Acquire) < loops {
        let done = c.login_ok.load(Ordering::Relaxed) + c.login_failed.load(Ordering::Relaxed);
        if done != last_done {
            last_done = done;
            last_change = Instant::now();
        } else if last_change.elapsed() > stall_limit {
            shared.set_phase(Phase::Finish);
            bail!("logins stalled: no login finished for {stall_limit:?}");
        }
        progress.tick(Phase::Login);
        thread::sleep(POLL);
    }
    Ok(())
}

fn sample_rss(before: &[(u32, String, u64)]) -> Result<Vec<u64>> {
    before.iter().map(|(pid, _, _)| rss_kb(*pid)).collect()
}

/// `VmRSS` of a process in KiB.
pub fn rss_kb(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS in {path}"))
}

/// The `VmRSS:` value (KiB) of a `/proc/<pid>/status` text.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn process_name(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Merges the loops' reports into the run's result and decides pass or fail.
fn assemble(
    opts: &RunOptions,
    servers: &[SocketAddr],
    reports: Vec<LoopReport>,
    run_seconds: f64,
    held_seconds: f64,
) -> RunResult {
    let mut login_latency = Latencies::default();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut ok, mut failed) = (0, 0);
    let mut first: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut ack_latency = Latencies::default();
    let mut delivery_latency = Latencies::default();
    let mut sent_by_stream: HashMap<u32, u64> = HashMap::new();
    let (mut acked, mut acked_in_window, mut delivered_in_window) = (0, 0, 0);
    let (mut misdelivered, mut disconnects, mut still_connected) = (0, 0, 0);
    let mut receivers = Vec::new();
    let mut acked_by_stream: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut totals = MessageMetrics::default();
    for r in reports {
        for (s, seqs) in r.acked_by_stream {
            acked_by_stream.entry(s).or_default().extend(seqs);
        }
        totals.resends += r.resends;
        totals.resent_messages += r.resent_messages;
        totals.unmatched_acks += r.unmatched_acks;
        totals.reconnects += r.reconnects;
        totals.fetched += r.fetched;
        totals.longest_ack_gap_s = totals.longest_ack_gap_s.max(r.longest_ack_gap);
        totals.unhealed_senders += r.unhealed_senders;
        login_latency.merge(r.login_latency);
        for (k, v) in r.login_errors {
            *errors.entry(k).or_default() += v;
        }
        ok += r.login_ok;
        failed += r.login_failed;
        first = min_some(first, r.login_first_start);
        last = last.max(r.login_last_end);
        ack_latency.merge(r.ack_latency);
        delivery_latency.merge(r.delivery_latency);
        for (s, n) in r.sent_by_stream {
            *sent_by_stream.entry(s).or_default() += n;
        }
        acked += r.acked;
        acked_in_window += r.acked_in_window;
        delivered_in_window += r.delivered_in_window;
        misdelivered += r.misdelivered;
        disconnects += r.disconnects;
        still_connected += r.still_connected;
        receivers.extend(r.receivers);
    }
    let attempted = u64::from(opts.scenario.user_count());
    let login_seconds = match (first, last) {
        (Some(f), Some(l)) => l.saturating_duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.1));
    let login = LoginMetrics {
        attempted,
        succeeded: ok,
        failed: attempted - ok,
        seconds: login_seconds,
        per_sec: if login_seconds > 0.0 {
            ok as f64 / login_seconds
        } else {
            0.0
        },
        latency: login_latency.summary(),
        errors,
    };
    let mut failures = Vec::new();
    if login.failed > 0 {
        failures.push(format!("{} of {attempted} logins failed", login.failed));
    }
    debug_assert!(failed <= attempted);

    let mut result = RunResult {
        scenario: opts.scenario.name().to_owned(),
        label: opts.label.clone(),
        servers: servers.iter().map(SocketAddr::to_string).collect(),
        params: params(opts),
        login,
        ..RunResult::default()
    };
    match opts.scenario {
        Scenario::Msg { .. } | Scenario::Group { .. } => {
            let sent: u64 = sent_by_stream.values().sum();
            let mut counts = DeliveryCounts::default();
            let (mut expected, mut undelivered, mut lost) = (0, 0, 0);
            for r in &receivers {
                for (_, t) in r.trackers.iter() {
                    counts.add(t.counts());
                }
                for s in &r.expected {
                    let n = sent_by_stream.get(s).copied().unwrap_or(0);
                    expected += n;
                    undelivered += r.trackers.get(s).map_or(n, |t| t.missing(n));
                    let acked = acked_by_stream.get(s).map_or(&[][..], Vec::as_slice);
                    lost += acked
                        .iter()
                        .filter(|&&seq| !r.trackers.get(s).is_some_and(|t| t.has(seq)))
                        .count() as u64;
                }
            }
            let per_sec = |n: u64| {
                if run_seconds > 0.0 {
                    n as f64 / run_seconds
                } else {
                    0.0
                }
            };
            let m = MessageMetrics {
                seconds: run_seconds,
                sent,
                acked,
                expected_deliveries: expected,
                delivered: counts.unique,
                acked_per_sec: per_sec(acked_in_window),
                delivered_per_sec: per_sec(delivered_in_window),
                ack_latency: ack_latency.summary(),
                delivery_latency: delivery_latency.summary(),
                lost,
                undelivered,
                unacked: sent.saturating_sub(acked),
                duplicated: counts.duplicated,
                reordered: counts.reordered,
                misdelivered,
                disconnects,
                ..totals
            };
            if m.sent == 0 {
                failures.push("no message was sent".to_owned());
            }
            // With reconnecting on, a dropped connection is part of the test, not a failure;
            // what it may cost (loss, duplicates, unacked messages) still is.
            let disconnects = if opts.reconnect.is_some() {
                0
            } else {
                m.disconnects
            };
            for (n, what) in [
                (m.lost, "deliveries of acked messages never arrived"),
                (m.unacked, "messages were never acknowledged by the server"),
                (m.duplicated, "deliveries were duplicates"),
                (m.reordered, "deliveries arrived out of order"),
                (m.misdelivered, "deliveries reached the wrong user"),
                (disconnects, "logged-in connections were closed"),
            ] {
                if n > 0 {
                    failures.push(format!("{n} {what}"));
                }
            }
            result.messages = Some(m);
        }
        Scenario::Idle { .. } => {
            if disconnects > 0 || still_connected < ok {
                failures.push(format!(
                    "{} of {ok} held connections were closed",
                    ok - still_connected.min(ok)
                ));
            }
            result.idle = Some(IdleMetrics {
                online: ok,
                held_seconds,
                disconnects,
                still_connected,
            });
        }
        Scenario::Login { .. } => {}
    }
    result.failures = failures;
    result
}

fn min_some(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn params(opts: &RunOptions) -> Params {
    let mut p = Params {
        client_type: opts.client.name().to_owned(),
        transport: Some(opts.transport.kind.name().to_owned()),
        users: opts.scenario.user_count(),
        concurrency: opts.concurrency as u32,
        ..Params::default()
    };
    match opts.scenario {
        Scenario::Msg { pairs, traffic } => {
            p.pairs = Some(pairs);
            p.window = Some(traffic.window);
            p.rate = Some(traffic.rate);
            p.seconds = Some(traffic.seconds);
        }
        Scenario::Group {
            members,
            senders,
            traffic,
            ..
        } => {
            p.group_members = Some(members);
            p.senders = Some(senders);
            p.window = Some(traffic.window);
            p.rate = Some(traffic.rate);
            p.seconds = Some(traffic.seconds);
        }
        Scenario::Idle { seconds, .. } => p.seconds = Some(seconds),
        Scenario::Login { .. } => {}
    }
    p
}

/// The once-a-second progress line on stderr.
#[derive(Debug)]
struct Progress {
    quiet: bool,
    shared: Arc<Shared>,
    start: Instant,
    last_print: Instant,
    last: [u64; 4],
}

impl Progress {
    fn new(quiet: bool, shared: Arc<Shared>) -> Self {
        let now = Instant::now();
        Self {
            quiet,
            shared,
            start: now,
            last_print: now,
            last: [0; 4],
        }
    }

    /// Waits until `deadline` or until `done()` holds, printing progress.
    fn wait(&mut self, phase: Phase, deadline: Instant, done: impl Fn() -> bool) {
        while Instant::now() < deadline && !done() {
            self.tick(phase);
            thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        }
    }

    fn tick(&mut self, phase: Phase) {
        let elapsed = self.last_print.elapsed();
        if self.quiet || elapsed < PROGRESS_EVERY {
            return;
        }
        let c = &self.shared.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let now = [
            load(&c.login_ok) + load(&c.login_failed),
            load(&c.sent),
            load(&c.acked),
            load(&c.delivered),
        ];
        let rate = |i: usize| (now[i] - self.last[i]) as f64 / elapsed.as_secs_f64();
        let line = match phase {
            Phase::Login => format!(
                "login  ok {} failed {} ({:.0}/s)",
                load(&c.login_ok),
                load(&c.login_failed),
                rate(0)
            ),
            Phase::Run | Phase::Drain => format!(
                "{}  online {}  sent {:.0}/s  acked {:.0}/s  delivered {:.0}/s  \
                 awaiting acks {} deliveries {}  disconnects {}",
                if phase == Phase::Run {
                    "run  "
                } else {
                    "drain"
                },
                load(&c.online),
                rate(1),
                rate(2),
                rate(3),
                now[1].saturating_sub(now[2]),
                load(&c.expected).saturating_sub(now[3]),
                load(&c.disconnects)
            ),
            Phase::Finish => String::new(),
        };
        eprintln!("[{:7.1}s] {line}", self.start.elapsed().as_secs_f64());
        let _ = std::io::stderr().flush();
        self.last = now;
        self.last_print = Instant::now();
    }

    fn finish(&mut self) {
        if !self.quiet {
            eprintln!("[{:7.1}s] finished", self.start.elapsed().as_secs_f64());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{ClientKind, Traffic, Users};
    use crate::driver::ReceiverReport;
    use crate::tracker::StreamTracker;

    fn options(scenario: Scenario, loops: usize) -> RunOptions {
        RunOptions {
            scenario,
            target: Target::MsgServers(vec![]),
            transport: TransportOptions::default(),
            users: Users {
                prefix: "p".into(),
                password: "x".into(),
                first: 10,
            },
            client: ClientKind::Pc,
            concurrency: 4,
            login_timeout: 5.0,
            aes_key: [0; 32],
            pids: vec![],
            loops,
            label: "t".into(),
            json: false,
            out: None,
            quiet: true,
            reconnect: None,
            check_mysql: None,
        }
    }

    const TRAFFIC: Traffic = Traffic {
        window: 1,
        rate: 15.0,
        seconds: 1.0,
        drain: 1.0,
        ack_timeout: 5.0,
        resends: 3,
    };

    fn servers() -> Vec<SocketAddr> {
        vec![
            "127.0.0.1:8000".parse().unwrap(),
            "127.0.0.1:8001".parse().unwrap(),
        ]
    }

    #[test]
    fn pairs_stay_in_one_loop_and_users_alternate_servers() {
        let per_loop = plan(
            &options(
                Scenario::Msg {
                    pairs: 3,
                    traffic: TRAFFIC,
                },
                2,
            ),
            &servers(),
        );
        assert_eq!(per_loop[0].len(), 4);
        assert_eq!(per_loop[1].len(), 2);
        for list in &per_loop {
            for (i, u) in list.iter().enumerate() {
                if let Role::PairSender { stream, peer } = u.role {
                    assert_eq!(list[peer].role, Role::PairReceiver { stream });
                    assert!(peer < i);
                }
            }
        }
        // Pair 0: sender p_10 (user 0, server 0), receiver p_11 (user 1, server 1).
        assert_eq!(per_loop[0][0].name, "p_11");
        assert_eq!(per_loop[0][0].addr.port(), 8001);
        assert_eq!(per_loop[0][1].name, "p_10");
        assert_eq!(per_loop[0][1].addr.port(), 8000);
    }

    #[test]
    fn group_plan_makes_the_first_members_senders() {
        let per_loop = plan(
            &options(
                Scenario::Group {
                    group_id: 1,
                    members: 5,
                    senders: 2,
                    traffic: TRAFFIC,
                },
                1,
            ),
            &servers()[..1],
        );
        let streams: Vec<Option<u32>> = per_loop[0]
            .iter()
            .map(|u| match u.role {
                Role::GroupMember { stream, senders } => {
                    assert_eq!(senders, 2);
                    stream
                }
                _ => panic!("not a member"),
            })
            .collect();
        assert_eq!(streams, vec![Some(0), Some(1), None, None, None]);
    }

    #[test]
    fn idle_users_are_spread_over_loops() {
        let per_loop = plan(
            &options(
                Scenario::Idle {
                    conns: 5,
                    seconds: 1.0,
                },
                3,
            ),
            &servers(),
        );
        let sizes: Vec<usize> = per_loop.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2, 1]);
    }

    #[test]
    fn vm_rss_is_read_from_proc_status_text() {
        let text = "Name:\tmsg_server\nVmPeak:\t  2000 kB\nVmRSS:\t    1234 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(text), Some(1234));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert!(rss_kb(std::process::id()).unwrap() > 0);
    }

    fn tracker(seqs: &[u64]) -> StreamTracker {
        let mut t = StreamTracker::default();
        for s in seqs {
            t.record(*s);
        }
        t
    }

    #[test]
    fn assemble_counts_loss_duplicates_and_reordering_against_what_was_sent() {
        let opts = options(
            Scenario::Msg {
                pairs: 2,
                traffic: TRAFFIC,
            },
            1,
        );
        let mut report = LoopReport {
            login_ok: 4,
            acked: 9,
            acked_in_window: 8,
            delivered_in_window: 8,
            still_connected: 4,
            ..LoopReport::default()
        };
        report.sent_by_stream.insert(0, 5);
        report.sent_by_stream.insert(1, 5);
        // Stream 1's 4 was delivered but its ack never came.
        report.acked_by_stream.insert(0, vec![0, 1, 2, 3, 4]);
        report.acked_by_stream.insert(1, vec![0, 1, 2, 3]);
        // Stream 0 complete; stream 1 lost 3, got 4 twice and 2 after 4.
        report.receivers.push(ReceiverReport {
            expected: vec![0],
            trackers: HashMap::from([(0, tracker(&[0, 1, 2, 3, 4]))]),
        });
        report.receivers.push(ReceiverReport {
            expected: vec![1],
            trackers: HashMap::from([(1, tracker(&[0, 1, 4, 4, 2]))]),
        });
        let r = assemble(&opts, &servers(), vec![report], 2.0, 0.0);
        let m = r.messages.unwrap();
        assert_eq!((m.sent, m.acked, m.expected_deliveries), (10, 9, 10));
        assert_eq!(
            (m.delivered, m.lost, m.undelivered, m.unacked),
            (9, 1, 1, 1)
        );
        assert_eq!((m.duplicated, m.reordered), (1, 1));
        assert_eq!(m.acked_per_sec, 4.0);
        assert_eq!(r.failures.len(), 4, "{:?}", r.failures);
        assert!(
            r.failures
                .iter()
                .any(|f| f.contains("1 deliveries of acked messages never arrived"))
        );
        assert_eq!(r.params.pairs, Some(2));
    }

    #[test]
    fn a_receiver_that_got_nothing_lost_everything_sent_to_it() {
        let opts = options(
            Scenario::Group {
                group_id: 1,
                members: 3,
                senders: 1,
                traffic: TRAFFIC,
            },
            1,
        );
        let mut report = LoopReport {
            login_ok: 3,
            acked: 4,
            still_connected: 3,
            ..LoopReport::default()
        };
        report.sent_by_stream.insert(0, 4);
        report.acked_by_stream.insert(0, vec![0, 1, 2, 3]);
        report.receivers.push(ReceiverReport {
            expected: vec![0],
            trackers: HashMap::from([(0, tracker(&[0, 1, 2, 3]))]),
        });
        report.receivers.push(ReceiverReport {
            expected: vec![0],
            trackers: HashMap::new(),
        });
        let r = assemble(&opts, &servers(), vec![report], 1.0, 0.0);
        let m = r.messages.unwrap();
        assert_eq!((m.expected_deliveries, m.delivered, m.lost), (8, 4, 4));
    }

    #[test]
    fn with_reconnecting_a_drop_is_no_failure_but_its_losses_are() {
        let mut opts = options(
            Scenario::Msg {
                pairs: 1,
                traffic: TRAFFIC,
            },
            1,
        );
        opts.reconnect = Some("http://127.0.0.1:1/msg_server".into());
        let mut report = LoopReport {
            login_ok: 2,
            acked: 3,
            disconnects: 2,
            reconnects: 2,
            resends: 4,
            resent_messages: 3,
            longest_ack_gap: 2.5,
            still_connected: 2,
            ..LoopReport::default()
        };
        report.sent_by_stream.insert(0, 3);
        report.acked_by_stream.insert(0, vec![0, 1, 2]);
        report.receivers.push(ReceiverReport {
            expected: vec![0],
            trackers: HashMap::from([(0, tracker(&[0, 1, 2]))]),
        });
        let r = assemble(&opts, &servers(), vec![report], 1.0, 0.0);
        let m = r.messages.as_ref().unwrap();
        assert!(r.passed(), "{:?}", r.failures);
        assert_eq!((m.disconnects, m.reconnects, m.resends), (2, 2, 4));
        assert_eq!((m.resent_messages, m.longest_ack_gap_s), (3, 2.5));
        // The same run without reconnecting fails on the drops.
        opts.reconnect = None;
        let mut report = LoopReport {
            disconnects: 1,
            acked: 1,
            ..LoopReport::default()
        };
        report.sent_by_stream.insert(0, 1);
        let r = assemble(&opts, &servers(), vec![report], 1.0, 0.0);
        assert!(
            r.failures.iter().any(|f| f.contains("closed")),
            "{:?}",
            r.failures
        );
    }

    #[test]
    fn failed_logins_and_dropped_idle_connections_fail_the_run() {
        let opts = options(
            Scenario::Idle {
                conns: 3,
                seconds: 1.0,
            },
            1,
        );
        let report = LoopReport {
            login_ok: 2,
            login_failed: 1,
            disconnects: 1,
            still_connected: 1,
            login_errors: BTreeMap::from([("timed out".to_owned(), 1)]),
            ..LoopReport::default()
        };
        let r = assemble(&opts, &servers(), vec![report], 0.0, 1.0);
        assert_eq!(r.login.failed, 1);
        assert_eq!(r.login.errors, vec![("timed out".to_owned(), 1)]);
        assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
        assert_eq!(r.idle.unwrap().still_connected, 1);
    }
}
