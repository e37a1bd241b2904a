//! Markdown tables and hand-written SVG charts from run results.
//!
//! The charts are deliberately plain: axes with round ticks, one colour per series, a legend.
//! Latency charts use a logarithmic axis because a run's p50 and max often differ by orders of
//! magnitude; throughput against pairs uses a logarithmic x axis (1, 10, 100, 1000 pairs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::result::RunResult;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 120.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 110.0;
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];

/// A chart written next to the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name inside the output directory.
    pub file: String,
    /// Title (also the markdown alt text).
    pub title: String,
    /// The SVG document.
    pub svg: String,
}

/// The markdown text and the charts it embeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `report.md`.
    pub markdown: String,
    /// Charts referenced by the markdown.
    pub charts: Vec<Chart>,
}

/// Reads result files (each holding one result or an array of results).
pub fn load(paths: &[PathBuf]) -> Result<Vec<RunResult>> {
    let mut all = Vec::new();
    for path in paths {
        let text =
            fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        if value.is_array() {
            let list: Vec<RunResult> = serde_json::from_value(value)
                .with_context(|| format!("{} is not a list of results", path.display()))?;
            all.extend(list);
        } else {
            all.push(
                serde_json::from_value(value)
                    .with_context(|| format!("{} is not a result", path.display()))?,
            );
        }
    }
    Ok(all)
}

/// Writes `report.md` and the charts into `dir`; returns the paths written.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    let md = dir.join("report.md");
    fs::write(&md, &report.markdown).with_context(|| format!("writing {}", md.display()))?;
    written.push(md);
    for chart in &report.charts {
        let path = dir.join(&chart.file);
        fs::write(&path, &chart.svg).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Builds the report of `results` under the heading `title`.
pub fn build(title: &str, results: &[RunResult]) -> Report {
    let mut md = format!("# {title}\n");
    let mut charts = Vec::new();
    // Measured runs first, in parameter order; reference rows (with a note) last.
    let by = |s: &'static str| {
        let mut list: Vec<&RunResult> = results.iter().filter(|r| r.scenario == s).collect();
        list.sort_by(|a, b| {
            let key = |r: &RunResult| {
                (
                    !r.note.is_empty(),
                    r.servers.len(),
                    r.params.group_members,
                    r.params.senders,
                    r.label.clone(),
                    r.params.pairs,
                    r.params.users,
                )
            };
            key(a).cmp(&key(b))
        });
        list.into_iter()
    };

    let logins: Vec<&RunResult> = by("login").collect();
    if !logins.is_empty() {
        md.push_str("\n## Logins\n\n");
        md.push_str(&login_table(&logins));
        let measured: Vec<&&RunResult> = logins
            .iter()
            .filter(|r| r.login.latency.count > 0)
            .collect();
        if !measured.is_empty() {
            let chart = latency_chart(
                "login-latency.svg",
                "Login latency (connect to IMLoginRes)",
                measured.iter().map(|r| (r.label.clone(), r.login.latency)),
            );
            embed(&mut md, &chart);
            charts.push(chart);
        }
    }

    let msgs: Vec<&RunResult> = by("msg").collect();
    if !msgs.is_empty() {
        md.push_str("\n## One-to-one messages\n\n");
        md.push_str(&message_table(&msgs, false));
        let chart = throughput_chart(&msgs);
        embed(&mut md, &chart);
        charts.push(chart);
        let measured: Vec<&RunResult> = msgs
            .iter()
            .copied()
            .filter(|r| {
                r.messages
                    .as_ref()
                    .is_some_and(|m| m.delivery_latency.count > 0)
            })
            .collect();
        if !measured.is_empty() {
            let chart = latency_chart(
                "msg-latency.svg",
                "1:1 send-to-delivery latency",
                measured.iter().map(|r| {
                    let pairs = r.params.pairs.unwrap_or(0);
                    (
                        format!("{} P={pairs}", r.label),
                        r.messages.clone().unwrap_or_default().delivery_latency,
                    )
                }),
            );
            embed(&mut md, &chart);
            charts.push(chart);
        }
    }

    let groups: Vec<&RunResult> = by("group").collect();
    if !groups.is_empty() {
        md.push_str("\n## Group messages\n\n");
        md.push_str(&message_table(&groups, true));
        let chart = bar_chart(
            "group-fanout.svg",
            "Group fan-out deliveries per second",
            "deliveries/s",
            &groups.iter().map(|r| r.label.clone()).collect::<Vec<_>>(),
            &[(
                "deliveries/s".to_owned(),
                groups
                    .iter()
                    .map(|r| r.messages.as_ref().map_or(0.0, |m| m.delivered_per_sec))
                    .collect(),
            )],
            false,
        );
        embed(&mut md, &chart);
        charts.push(chart);
        let measured: Vec<&&RunResult> = groups
            .iter()
            .filter(|r| {
                r.messages
                    .as_ref()
                    .is_some_and(|m| m.delivery_latency.count > 0)
            })
            .collect();
        if !measured.is_empty() {
            let chart = latency_chart(
                "group-latency.svg",
                "Group send-to-delivery latency",
                measured.iter().map(|r| {
                    (
                        r.label.clone(),
                        r.messages.clone().unwrap_or_default().delivery_latency,
                    )
                }),
            );
            embed(&mut md, &chart);
            charts.push(chart);
        }
    }

    let idle: Vec<&RunResult> = by("idle").collect();
    if !idle.is_empty() {
        md.push_str("\n## Idle connections\n\n");
        md.push_str(&idle_table(&idle));
        let labels: Vec<String> = idle
            .iter()
            .map(|r| format!("{} N={}", r.label, r.params.users))
            .collect();
        let values: Vec<f64> = idle
            .iter()
            .map(|r| r.rss.iter().filter_map(|s| s.per_conn_bytes).sum())
            .collect();
        let chart = bar_chart(
            "idle-rss.svg",
            "Server RSS per idle logged-in connection",
            "bytes per connection",
            &labels,
            &[("bytes/conn".to_owned(), values)],
            false,
        );
        embed(&mut md, &chart);
        charts.push(chart);
    }
    Report {
        markdown: md,
        charts,
    }
}

fn embed(md: &mut String, chart: &Chart) {
    let _ = write!(md, "\n![{}]({})\n", chart.title, chart.file);
}

/// A number for a table cell; reference rows leave what they do not know (zero) blank.
fn cell(r: &RunResult, v: f64, decimals: usize) -> String {
    if v == 0.0 && !r.note.is_empty() {
        String::new()
    } else {
        format!("{v:.decimals$}")
    }
}

fn verdict(r: &RunResult) -> String {
    if !r.note.is_empty() {
        r.note.replace('|', "/")
    } else if r.failures.is_empty() {
        "pass".to_owned()
    } else {
        format!("FAIL: {}", r.failures.join("; ").replace('|', "/"))
    }
}

fn login_table(runs: &[&RunResult]) -> String {
    let mut t = String::from(
        "| run | client | logins | concurrency | logins/s | p50 ms | p90 ms | p99 ms | max ms \
         | failed | result |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in runs {
        let l = &r.login;
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.label,
            r.params.client_type,
            l.attempted,
            r.params.concurrency,
            cell(r, l.per_sec, 0),
            cell(r, l.latency.p50_ms, 1),
            cell(r, l.latency.p90_ms, 1),
            cell(r, l.latency.p99_ms, 1),
            cell(r, l.latency.max_ms, 1),
            l.failed,
            verdict(r)
        );
    }
    t
}

fn message_table(runs: &[&RunResult], group: bool) -> String {
    let mut t = if group {
        String::from(
            "| run | members | senders | servers | rate/sender | sent | acked/s | deliveries/s \
             | delivery p50 ms | p90 ms | p99 ms | max ms | lost | dup | reordered | result |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        )
    } else {
        String::from(
            "| run | pairs | window | rate/sender | sent | acked/s | delivered/s | ack p99 ms \
             | delivery p50 ms | p90 ms | p99 ms | max ms | lost | dup | reordered | result |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
        )
    };
    for r in runs {
        let m = r.messages.clone().unwrap_or_default();
        let d = m.delivery_latency;
        let rate = match r.params.rate {
            Some(x) if x > 0.0 => format!("{x}"),
            Some(_) => "max".to_owned(),
            None => String::new(),
        };
        let lead = if group {
            format!(
                "| {} | {} | {} | {} | {rate} |",
                r.label,
                opt(r.params.group_members),
                opt(r.params.senders),
                r.servers.len()
            )
        } else {
            format!(
                "| {} | {} | {} | {rate} |",
                r.label,
                opt(r.params.pairs),
                opt(r.params.window)
            )
        };
        let ack = if group {
            String::new()
        } else {
            format!(" {} |", cell(r, m.ack_latency.p99_ms, 1))
        };
        let rates = format!(
            " {} | {} |{ack}",
            cell(r, m.acked_per_sec, 0),
            cell(r, m.delivered_per_sec, 0)
        );
        let _ = writeln!(
            t,
            "{lead} {} |{rates} {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(r, m.sent as f64, 0),
            cell(r, d.p50_ms, 1),
            cell(r, d.p90_ms, 1),
            cell(r, d.p99_ms, 1),
            cell(r, d.max_ms, 1),
            cell(r, m.lost as f64, 0),
            cell(r, m.duplicated as f64, 0),
            cell(r, m.reordered as f64, 0),
            verdict(r)
        );
    }
    t
}

fn idle_table(runs: &[&RunResult]) -> String {
    let mut t = String::from(
        "| run | connections | held s | still connected | process | RSS before KiB \
         | RSS after KiB | bytes/conn | result |\n|---|---:|---:|---:|---|---:|---:|---:|---|\n",
    );
    for r in runs {
        let i = r.idle.clone().unwrap_or_default();
        let samples: Vec<_> = if r.rss.is_empty() {
            vec![None]
        } else {
            r.rss.iter().map(Some).collect()
        };
        for s in samples {
            let (name, before, after, per) = match s {
                Some(s) => (
                    if s.pid == 0 {
                        s.name.clone()
                    } else {
                        format!("{} ({})", s.name, s.pid)
                    },
                    cell(r, s.before_kb as f64, 0),
                    cell(r, s.after_kb as f64, 0),
                    s.per_conn_bytes
                        .map(|b| format!("{b:.0}"))
                        .unwrap_or_default(),
                ),
                None => Default::default(),
            };
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {name} | {before} | {after} | {per} | {} |",
                r.label,
                i.online,
                cell(r, i.held_seconds, 0),
                i.still_connected,
                verdict(r)
            );
        }
    }
    t
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn latency_chart(
    file: &str,
    title: &str,
    runs: impl Iterator<Item = (String, crate::stats::LatencySummary)>,
) -> Chart {
    let (labels, summaries): (Vec<String>, Vec<_>) = runs.unzip();
    let series = vec![
        (
            "p50".to_owned(),
            summaries.iter().map(|s| s.p50_ms).collect(),
        ),
        (
            "p90".to_owned(),
            summaries.iter().map(|s| s.p90_ms).collect(),
        ),
        (
            "p99".to_owned(),
            summaries.iter().map(|s| s.p99_ms).collect(),
        ),
        (
            "max".to_owned(),
            summaries.iter().map(|s| s.max_ms).collect(),
        ),
    ];
    bar_chart(
        file,
        title,
        "milliseconds (log scale)",
        &labels,
        &series,
        true,
    )
}

fn throughput_chart(runs: &[&RunResult]) -> Chart {
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs {
        if let (Some(pairs), Some(m)) = (r.params.pairs, &r.messages) {
            series
                .entry(r.label.clone())
                .or_default()
                .push((f64::from(pairs), m.acked_per_sec));
        }
    }
    let series: Vec<(String, Vec<(f64, f64)>)> = series
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_by(|a, b| a.0.total_cmp(&b.0));
            (k, v)
        })
        .collect();
    line_chart(
        "msg-throughput.svg",
        "Acked 1:1 messages per second against pairs",
        "pairs (log scale)",
        "acked msgs/s",
        &series,
    )
}

/// A value axis: linear from 0, or logarithmic over whole decades.
#[derive(Debug, Clone, Copy)]
struct Axis {
    min: f64,
    max: f64,
    log: bool,
}

impl Axis {
    fn linear(max: f64) -> Self {
        let max = if max > 0.0 { nice_ceiling(max) } else { 1.0 };
        Self {
            min: 0.0,
            max,
            log: false,
        }
    }

    fn log(min: f64, max: f64) -> Self {
        let min = if min > 0.0 { min } else { 0.01 };
        let max = if max > min { max } else { min * 10.0 };
        Self {
            min: 10f64.powf(min.log10().floor()),
            max: 10f64.powf(max.log10().ceil()),
            log: true,
        }
    }

    /// Position of `v` from 0 (min) to 1 (max), clamped.
    fn frac(&self, v: f64) -> f64 {
        let f = if self.log {
            let v = v.max(self.min);
            (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
        } else {
            (v - self.min) / (self.max - self.min)
        };
        f.clamp(0.0, 1.0)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let mut t = Vec::new();
            let mut v = self.min;
            while v <= self.max * 1.0001 {
                t.push(v);
                v *= 10.0;
            }
            t
        } else {
            let step = nice_step(self.max / 5.0);
            (0..)
                .map(|i| f64::from(i) * step)
                .take_while(|v| *v <= self.max * 1.0001)
                .collect()
        }
    }
}

/// The smallest 1, 2 or 5 × 10^k not below `x`.
fn nice_step(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let base = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * base)
        .find(|s| *s >= x * 0.9999)
        .unwrap_or(10.0 * base)
}

/// A round upper bound for an axis showing `max`.
fn nice_ceiling(max: f64) -> f64 {
    let step = nice_step(max / 5.0);
    (max / step).ceil() * step
}

fn tick_label(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{}M", trim(v / 1_000_000.0))
    } else if v >= 10_000.0 {
        format!("{}k", trim(v / 1000.0))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn svg_open(title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">{}</text>\n",
        (LEFT + WIDTH - RIGHT) / 2.0,
        xml(title)
    )
}

/// Horizontal grid lines with labels for `axis`, and the y-axis title.
fn y_axis(svg: &mut String, axis: &Axis, label: &str) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    for t in axis.ticks() {
        let y = TOP + plot_h * (1.0 - axis.frac(t));
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tick_label(t)
        );
    }
    let _ = writeln!(
        svg,
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{:.1}\" stroke=\"black\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{:.1}\" x2=\"{}\" y2=\"{:.1}\" stroke=\"black\"/>",
        TOP + plot_h / 2.0,
        xml(label),
        TOP + plot_h,
        TOP + plot_h,
        WIDTH - RIGHT,
        TOP + plot_h
    );
}

fn legend(svg: &mut String, names: &[&str]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + 20.0 * i as f64;
        let x = WIDTH - RIGHT + 16.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{y:.1}\" dy=\"0.1em\">{}</text>",
            y - 10.0,
            PALETTE[i % PALETTE.len()],
            x + 18.0,
            xml(name)
        );
    }
}

/// Grouped bars: one group per category, one bar per series.
fn bar_chart(
    file: &str,
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    log: bool,
) -> Chart {
    let values = series.iter().flat_map(|(_, v)| v.iter().copied());
    let max = values.clone().fold(0.0, f64::max);
    let axis = if log {
        let min = values.filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
        Axis::log(if min.is_finite() { min } else { 0.01 }, max)
    } else {
        Axis::linear(max)
    };
    let mut svg = svg_open(title);
    y_axis(&mut svg, &axis, y_label);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let groups = categories.len().max(1) as f64;
    let group_w = plot_w / groups;
    let bar_w = group_w * 0.8 / series.len().max(1) as f64;
    for (c, category) in categories.iter().enumerate() {
        let gx = LEFT + group_w * c as f64 + group_w * 0.1;
        for (s, (name, values)) in series.iter().enumerate() {
            let v = values.get(c).copied().unwrap_or(0.0);
            let h = plot_h * axis.frac(v);
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{}: {} = {}</title></rect>",
                gx + bar_w * s as f64,
                TOP + plot_h - h,
                (bar_w - 1.0).max(1.0),
                PALETTE[s % PALETTE.len()],
                xml(category),
                xml(name),
                trim(v)
            );
        }
        let cx = gx + group_w * 0.4;
        let _ = writeln!(
            svg,
            "<text transform=\"translate({cx:.1} {:.1}) rotate(-25)\" text-anchor=\"end\">{}</text>",
            TOP + plot_h + 16.0,
            xml(category)
        );
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>\n");
    Chart {
        file: file.to_owned(),
        title: title.to_owned(),
        svg,
    }
}

/// Lines over a logarithmic x axis, one per series, with a marker on every point.
fn line_chart(
    file: &str,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Chart {
    let points = series.iter().flat_map(|(_, p)| p.iter().copied());
    let x_min = points.clone().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = points.clone().map(|p| p.0).fold(0.0, f64::max);
    let y_max = points.map(|p| p.1).fold(0.0, f64::max);
    let x_axis = Axis::log(if x_min.is_finite() { x_min } else { 1.0 }, x_max);
    let y_axis_ = Axis::linear(y_max);
    let mut svg = svg_open(title);
    y_axis(&mut svg, &y_axis_, y_label);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + plot_w * x_axis.frac(x);
    let py = |y: f64| TOP + plot_h * (1.0 - y_axis_.frac(y));
    for t in x_axis.ticks() {
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            TOP + plot_h,
            TOP + plot_h + 18.0,
            tick_label(t),
            x = px(t)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        LEFT + plot_w / 2.0,
        TOP + plot_h + 42.0,
        xml(x_label)
    );
    for (i, (name, pts)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
            path.join(" ")
        );
        for (x, y) in pts {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\">\
                 <title>{}: {} pairs, {}/s</title></circle>",
                px(*x),
                py(*y),
                xml(name),
                trim(*x),
                trim(*y)
            );
        }
    }
    let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>\n");
    Chart {
        file: file.to_owned(),
        title: title.to_owned(),
        svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{LoginMetrics, MessageMetrics, Params};
    use crate::stats::LatencySummary;

    fn msg_run(label: &str, pairs: u32, acked: f64, p99: f64) -> RunResult {
        RunResult {
            scenario: "msg".into(),
            label: label.into(),
            params: Params {
                pairs: Some(pairs),
                window: Some(1),
                rate: Some(15.0),
                ..Params::default()
            },
            messages: Some(MessageMetrics {
                acked_per_sec: acked,
                delivered_per_sec: acked,
                delivery_latency: LatencySummary {
                    count: 10,
                    p50_ms: p99 / 4.0,
                    p90_ms: p99 / 2.0,
                    p99_ms: p99,
                    max_ms: p99 * 2.0,
                },
                ..MessageMetrics::default()
            }),
            ..RunResult::default()
        }
    }

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.5), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(230.0), 500.0);
        assert_eq!(nice_ceiling(1190.0), 1500.0);
        assert_eq!(nice_ceiling(90.0), 100.0);
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let a = Axis::log(0.3, 132.0);
        assert_eq!((a.min, a.max), (0.1, 1000.0));
        assert_eq!(a.ticks().len(), 5);
        assert!((a.frac(10.0) - 0.5).abs() < 1e-9);
        assert_eq!(a.frac(0.0), 0.0);
        assert_eq!(a.frac(1e9), 1.0);
    }

    #[test]
    fn linear_axis_starts_at_zero_with_round_ticks() {
        let a = Axis::linear(9_500.0);
        assert_eq!(a.max, 10_000.0);
        assert_eq!(
            a.ticks(),
            vec![0.0, 2000.0, 4000.0, 6000.0, 8000.0, 10_000.0]
        );
        assert_eq!(tick_label(10_000.0), "10k");
        assert_eq!(tick_label(2.5), "2.5");
    }

    #[test]
    fn throughput_chart_draws_one_line_per_label_with_points_in_pair_order() {
        let runs = [
            msg_run("rust", 1000, 9000.0, 20.0),
            msg_run("rust", 10, 150.0, 2.0),
            msg_run("C++ original", 100, 1190.0, 132.0),
        ];
        let refs: Vec<&RunResult> = runs.iter().collect();
        let chart = throughput_chart(&refs);
        assert_eq!(chart.svg.matches("<polyline").count(), 2);
        assert_eq!(chart.svg.matches("<circle").count(), 3);
        assert!(chart.svg.contains("C++ original"));
        // Points of one series are drawn left to right.
        let rust_line = chart
            .svg
            .lines()
            .filter(|l| l.starts_with("<polyline"))
            .nth(1)
            .unwrap();
        let xs: Vec<f64> = rust_line
            .split('"')
            .nth(1)
            .unwrap()
            .split(' ')
            .map(|p| p.split(',').next().unwrap().parse().unwrap())
            .collect();
        assert!(xs[0] < xs[1]);
    }

    #[test]
    fn labels_are_escaped_in_svg() {
        let chart = bar_chart(
            "x.svg",
            "a <b> & c",
            "y",
            &["<cat>".to_owned()],
            &[("s&t".to_owned(), vec![1.0])],
            false,
        );
        assert!(chart.svg.contains("a &lt;b&gt; &amp; c"));
        assert!(chart.svg.contains("&lt;cat&gt;"));
        assert!(!chart.svg.contains("<cat>"));
    }

    #[test]
    fn report_has_a_section_table_and_charts_per_scenario_present() {
        let mut login = RunResult {
            scenario: "login".into(),
            label: "login pc".into(),
            login: LoginMetrics {
                attempted: 2000,
                succeeded: 2000,
                per_sec: 900.0,
                latency: LatencySummary {
                    count: 2000,
                    p50_ms: 5.0,
                    p90_ms: 9.0,
                    p99_ms: 20.0,
                    max_ms: 30.0,
                },
                ..LoginMetrics::default()
            },
            ..RunResult::default()
        };
        login.params.client_type = "pc".into();
        let mut failed = msg_run("rust w=16", 100, 1400.0, 5.0);
        failed.failures.push("2 messages lost".into());
        let report = build(
            "Results",
            &[login, msg_run("rust w=1", 100, 1500.0, 3.0), failed],
        );
        assert!(report.markdown.starts_with("# Results\n"));
        assert!(report.markdown.contains("## Logins"));
        assert!(report.markdown.contains("| login pc | pc | 2000 |"));
        assert!(report.markdown.contains("## One-to-one messages"));
        assert!(report.markdown.contains("FAIL: 2 messages lost"));
        let mut reference = msg_run("C++ original", 100, 1190.0, 132.0);
        reference.note = "reference".into();
        assert_eq!(verdict(&reference), "reference");
        assert_eq!(cell(&reference, 0.0, 1), "");
        let md = build("t", &[reference.clone()]).markdown;
        assert!(
            md.contains("| C++ original | 100 | 1 | 15 |  | 1190 | 1190 |"),
            "{md}"
        );
        assert_eq!(cell(&reference, 132.0, 1), "132.0");
        assert_eq!(cell(&msg_run("x", 1, 1.0, 1.0), 0.0, 1), "0.0");
        assert!(!report.markdown.contains("## Idle"));
        let files: Vec<&str> = report.charts.iter().map(|c| c.file.as_str()).collect();
        assert_eq!(
            files,
            ["login-latency.svg", "msg-throughput.svg", "msg-latency.svg"]
        );
        for c in &report.charts {
            assert!(report.markdown.contains(&format!("]({})", c.file)));
            assert!(c.svg.starts_with("<svg") && c.svg.ends_with("</svg>\n"));
        }
    }

    #[test]
    fn rows_are_ordered_by_parameters_with_reference_rows_last() {
        let idle = |users: u32, note: &str| RunResult {
            scenario: "idle".into(),
            label: "idle".into(),
            params: Params {
                users,
                ..Params::default()
            },
            idle: Some(crate::result::IdleMetrics {
                online: u64::from(users),
                ..Default::default()
            }),
            note: note.into(),
            ..RunResult::default()
        };
        let md = build(
            "t",
            &[idle(19_500, "reference"), idle(10_000, ""), idle(5000, "")],
        )
        .markdown;
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| idle")).collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].starts_with("| idle | 5000 |"), "{rows:?}");
        assert!(rows[1].starts_with("| idle | 10000 |"), "{rows:?}");
        assert!(rows[2].ends_with("| reference |"), "{rows:?}");
    }

    #[test]
    fn load_accepts_single_results_and_arrays_and_write_creates_the_files() {
        let dir = std::env::temp_dir().join(format!("tt-load-report-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let one = dir.join("one.json");
        let many = dir.join("many.json");
        fs::write(
            &one,
            serde_json::to_string(&msg_run("a", 1, 15.0, 1.0)).unwrap(),
        )
        .unwrap();
        fs::write(
            &many,
            serde_json::to_string(&[msg_run("a", 10, 150.0, 1.0), msg_run("a", 100, 1.0, 1.0)])
                .unwrap(),
        )
        .unwrap();
        let results = load(&[one, many]).unwrap();
        assert_eq!(results.len(), 3);
        let out = dir.join("out");
        let written = write(&build("t", &results), &out).unwrap();
        assert!(written.iter().all(|p| p.exists()));
        assert!(out.join("report.md").exists());
        assert!(out.join("msg-throughput.svg").exists());
        let bad = dir.join("bad.json");
        fs::write(&bad, "not json").unwrap();
        assert!(load(&[bad]).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
