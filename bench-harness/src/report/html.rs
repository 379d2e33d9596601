//! A self-contained HTML report (inline SVG, no scripts, no external assets) placing several
//! runs side by side, grouped by workload.

use std::fmt::Write;

use super::result::{Ceilings, RunResult};
use crate::metrics::{Percentiles, Sample, SecondLatency};

const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];
const W: f64 = 640.0;
const H: f64 = 260.0;
const PAD_L: f64 = 64.0;
const PAD_B: f64 = 36.0;
const PAD_T: f64 = 16.0;
const PAD_R: f64 = 16.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub fn human_rate(v: f64) -> String {
    match v {
        v if v >= 1e9 => format!("{:.2} G", v / 1e9),
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.1} k", v / 1e3),
        v => format!("{v:.0} "),
    }
}

pub fn human_us(us: f64) -> String {
    if us >= 1_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else {
        format!("{us:.0} µs")
    }
}

struct Line<'a> {
    label: String,
    color: &'a str,
    /// SVG stroke-dasharray ("" for a solid line).
    dash: &'static str,
    points: Vec<(f64, f64)>,
}

/// A line chart; `log_y` plots log10 of y. Axis ticks are labelled with `fmt_x` / `fmt_y`.
fn chart(
    title: &str,
    lines: &[Line<'_>],
    log_y: bool,
    x_ticks: &[(f64, String)],
    fmt_y: &dyn Fn(f64) -> String,
) -> String {
    let ty = |y: f64| if log_y { y.max(1e-9).log10() } else { y };
    let pts = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(ty(y));
        y1 = y1.max(ty(y));
    }
    if x0 > x1 {
        return format!("<p><em>{}: no data</em></p>", esc(title));
    }
    if !log_y {
        y0 = 0.0;
    }
    if (y1 - y0).abs() < 1e-9 {
        y1 = y0 + 1.0;
    }
    if (x1 - x0).abs() < 1e-9 {
        x1 = x0 + 1.0;
    }
    let sx = |x: f64| PAD_L + (x - x0) / (x1 - x0) * (W - PAD_L - PAD_R);
    let sy = |y: f64| H - PAD_B - (ty(y) - y0) / (y1 - y0) * (H - PAD_B - PAD_T);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{}" viewBox="0 0 {W} {}" font-family="sans-serif" font-size="11">"#,
        esc(title),
        H + 20.0 * lines.len() as f64,
        H + 20.0 * lines.len() as f64
    );
    let _ = write!(
        s,
        r##"<rect x="{PAD_L}" y="{PAD_T}" width="{}" height="{}" fill="none" stroke="#999"/>"##,
        W - PAD_L - PAD_R,
        H - PAD_B - PAD_T
    );
    for i in 0..=4 {
        let yv = y0 + (y1 - y0) * f64::from(i) / 4.0;
        let real = if log_y { 10f64.powf(yv) } else { yv };
        let py = sy(real);
        let _ = write!(
            s,
            r##"<line x1="{PAD_L}" x2="{}" y1="{py:.1}" y2="{py:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - PAD_R,
            PAD_L - 4.0,
            py + 4.0,
            esc(&fmt_y(real))
        );
    }
    for (xv, label) in x_ticks {
        if *xv < x0 || *xv > x1 {
            continue;
        }
        let px = sx(*xv);
        let _ = write!(
            s,
            r#"<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
            H - PAD_B + 14.0,
            esc(label)
        );
    }
    for (i, l) in lines.iter().enumerate() {
        let path: Vec<String> = l
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if l.dash.is_empty() {
            String::new()
        } else {
            format!(r#" stroke-dasharray="{}""#, l.dash)
        };
        let _ = write!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.8"{dash} points="{}"/>"#,
            l.color,
            path.join(" ")
        );
        let ly = H + 6.0 + 20.0 * i as f64;
        let _ = write!(
            s,
            r#"<line x1="{PAD_L}" x2="{}" y1="{ly}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            PAD_L + 24.0,
            l.color,
            PAD_L + 30.0,
            ly + 4.0,
            esc(&l.label)
        );
    }
    s.push_str("</svg></figure>");
    s
}

/// x position of a percentile on a "nines" axis: 90 → 1, 99 → 2, 99.9 → 3 ...
fn nines(p: f64) -> f64 {
    -(1.0 - (p / 100.0).min(0.999_999_9)).log10()
}

fn latency_lines<'a>(
    runs: &'a [&RunResult],
    pick: fn(&RunResult) -> &Percentiles,
) -> Vec<Line<'a>> {
    runs.iter()
        .enumerate()
        .filter(|(_, r)| pick(r).count > 0)
        .map(|(i, r)| Line {
            label: r.target.name.clone(),
            color: COLORS[i % COLORS.len()],
            dash: "",
            points: pick(r)
                .curve
                .iter()
                .filter(|(p, _)| *p < 100.0)
                .map(|&(p, us)| (nines(p), us.max(0.001)))
                .collect(),
        })
        .collect()
}

/// A timeline line: its name, SVG dash pattern, and the value it plots.
type Quantile = (&'static str, &'static str, fn(&SecondLatency) -> f64);

/// p50 / p99 / p99.9 per second of each run, in µs (seconds without completions left out).
fn timeline_lines<'a>(
    runs: &'a [&RunResult],
    pick: fn(&Sample) -> Option<&SecondLatency>,
) -> Vec<Line<'a>> {
    let mut lines = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let quantiles: [Quantile; 3] = [
            ("p50", "1,3", |l| l.p50_us),
            ("p99", "", |l| l.p99_us),
            ("p99.9", "5,3", |l| l.p999_us),
        ];
        for (name, dash, get) in quantiles {
            let points: Vec<(f64, f64)> = r
                .series
                .iter()
                .filter_map(|s| {
                    pick(s)
                        .filter(|l| l.count > 0)
                        .map(|l| (s.t_s, get(l).max(0.001)))
                })
                .collect();
            if !points.is_empty() {
                lines.push(Line {
                    label: format!("{} {name}", r.target.name),
                    color,
                    dash,
                    points,
                });
            }
        }
    }
    lines
}

fn fraction(v: f64, ceiling: Option<f64>) -> String {
    match ceiling {
        Some(c) if c > 0.0 => format!(" ({:.0}%)", v / c * 100.0),
        _ => String::new(),
    }
}

fn percentile_cells(p: &Percentiles) -> String {
    if p.count == 0 {
        return "<td colspan=5>—</td>".into();
    }
    [p.p50_us, p.p99_us, p.p999_us, p.p9999_us, p.max_us]
        .iter()
        .map(|&v| format!("<td>{}</td>", human_us(v)))
        .collect()
}

/// A run without transactions in a transactions chart: no line.
static NO_LATENCY: Percentiles = Percentiles {
    count: 0,
    mean_us: 0.0,
    p50_us: 0.0,
    p99_us: 0.0,
    p999_us: 0.0,
    p9999_us: 0.0,
    max_us: 0.0,
    curve: Vec::new(),
};

/// Transactional runs: what a transaction cost (commit and whole-transaction latency).
fn transactions_section(h: &mut String, group: &[&RunResult]) {
    h.push_str("<h3>Transactions</h3><table><tr><th rowspan=2>target</th><th rowspan=2>records / transaction</th><th rowspan=2>partitions / transaction</th><th rowspan=2>committed</th><th colspan=5>commit latency (EndTxn round trip)</th><th colspan=5>transaction latency (AddPartitionsToTxn → EndTxn answered)</th></tr><tr>");
    for _ in 0..2 {
        h.push_str("<th>p50</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th>");
    }
    h.push_str("</tr>");
    for r in group {
        if let Some(t) = &r.summary.transactions {
            let _ = write!(
                h,
                "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td>{}{}</tr>",
                esc(&r.target.name),
                esc(&r.target.version),
                t.records_per_transaction,
                t.partitions_per_transaction,
                t.committed,
                percentile_cells(&t.commit_latency),
                percentile_cells(&t.transaction_latency)
            );
        }
    }
    h.push_str("</table>");
    let p_ticks: Vec<(f64, String)> = [50.0, 90.0, 99.0, 99.9, 99.99]
        .iter()
        .map(|&p| (nines(p), format!("p{p}")))
        .collect();
    h.push_str(&chart(
        "Commit latency (EndTxn round trip) by percentile",
        &latency_lines(group, |r| {
            r.summary
                .transactions
                .as_ref()
                .map_or(&NO_LATENCY, |t| &t.commit_latency)
        }),
        true,
        &p_ticks,
        &|v| human_us(v),
    ));
}

pub fn render(runs: &[RunResult], ceilings: Option<&Ceilings>) -> String {
    let mut h = String::new();
    h.push_str("<!doctype html><html><head><meta charset=\"utf-8\"><title>sluice-bench report</title><style>body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}figure{display:inline-block;margin:0 1em 1em 0}figcaption{font-weight:bold}.fail{color:#b00;font-weight:bold}.ok{color:#070}</style></head><body><h1>sluice-bench report</h1>");
    let mut workloads: Vec<&str> = Vec::new();
    for r in runs {
        if !workloads.contains(&r.workload.name.as_str()) {
            workloads.push(&r.workload.name);
        }
    }
    for name in workloads {
        let group: Vec<&RunResult> = runs.iter().filter(|r| r.workload.name == name).collect();
        let w = &group[0].workload;
        let _ = write!(h, "<h2>{}</h2><p>{} topic(s) × {} partitions, {} B messages, {} producer(s)/topic, {} subscription(s) × {} consumer(s), rate {}, backlog {} GB</p>",
            esc(name), w.topics, w.partitions_per_topic, w.message_size, w.producers_per_topic, w.subscriptions_per_topic, w.consumer_per_subscription,
            if w.producer_rate > 0.0 { format!("{} msg/s (latency from intended send time)", w.producer_rate) } else { "max".into() }, w.consumer_backlog_size_gb);
        h.push_str("<table><tr><th rowspan=2>target</th><th rowspan=2>produced msg/s</th><th rowspan=2>produced MB/s</th><th rowspan=2>consumed msg/s</th><th rowspan=2>consumed MB/s</th><th colspan=5>publish latency</th><th colspan=5>end-to-end latency</th><th rowspan=2>harness CPU ns/msg</th><th rowspan=2>messages verified</th><th rowspan=2>driver</th><th rowspan=2>placement / durability</th></tr><tr>");
        for _ in 0..2 {
            h.push_str("<th>p50</th><th>p99</th><th>p99.9</th><th>p99.99</th><th>max</th>");
        }
        h.push_str("</tr>");
        for r in &group {
            let s = &r.summary;
            let ceil = ceilings
                .or(r.ceilings.as_ref())
                .and_then(|c| c.loopback_bytes_per_s);
            let verified = if r.verification.ok {
                format!("<span class=ok>✔ {}</span>", r.verification.consumed_msgs)
            } else {
                format!(
                    "<span class=fail>✘ {} missing, {} violations</span>",
                    r.verification.missing_msgs, r.verification.violations
                )
            };
            let d = &r.driver;
            let _ = write!(h, "<tr><td>{} {}</td><td>{}</td><td>{:.1}{}</td><td>{}</td><td>{:.1}{}</td>{}{}<td>{:.0}</td><td>{verified}</td><td>acks={} linger={}ms batch={} {:?} in-flight={}</td><td>{} / {}</td></tr>",
                esc(&r.target.name), esc(&r.target.version), human_rate(s.produced_msgs_per_s), s.produced_bytes_per_s / 1e6, fraction(s.produced_bytes_per_s, ceil),
                human_rate(s.consumed_msgs_per_s), s.consumed_bytes_per_s / 1e6, fraction(s.consumed_bytes_per_s, ceil),
                percentile_cells(&s.publish_latency), percentile_cells(&s.end_to_end_latency), s.harness_cpu_ns_per_msg,
                d.acks, d.linger_ms, d.batch_bytes, d.compression, d.in_flight, esc(&r.target.placement), esc(&r.target.durability));
        }
        h.push_str("</table>");
        if group.iter().any(|r| r.summary.transactions.is_some()) {
            transactions_section(&mut h, &group);
        }
        let mut lines = Vec::new();
        for (i, r) in group.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            lines.push(Line {
                label: format!("{} produced", r.target.name),
                color,
                dash: "",
                points: r
                    .series
                    .iter()
                    .map(|s| (s.t_s, s.produced_bytes_per_s / 1e6))
                    .collect(),
            });
            lines.push(Line {
                label: format!("{} consumed", r.target.name),
                color,
                dash: "5,3",
                points: r
                    .series
                    .iter()
                    .map(|s| (s.t_s, s.consumed_bytes_per_s / 1e6))
                    .collect(),
            });
        }
        let max_t = group
            .iter()
            .flat_map(|r| r.series.last())
            .map(|s| s.t_s)
            .fold(0.0, f64::max);
        let step = (max_t / 8.0).ceil().max(1.0);
        let x_ticks: Vec<(f64, String)> = (0..=8)
            .map(|i| (f64::from(i) * step, format!("{}s", f64::from(i) * step)))
            .collect();
        h.push_str(&chart(
            "Throughput over time (MB/s)",
            &lines,
            false,
            &x_ticks,
            &|v| format!("{v:.0}"),
        ));
        for (title, pick) in [
            (
                "Publish latency over time (per second: p50 dotted, p99 solid, p99.9 dashed)",
                (|s: &Sample| s.publish_latency.as_ref()) as fn(&Sample) -> Option<&SecondLatency>,
            ),
            (
                "End-to-end latency over time (per second: p50 dotted, p99 solid, p99.9 dashed)",
                |s: &Sample| s.end_to_end_latency.as_ref(),
            ),
        ] {
            let lines = timeline_lines(&group, pick);
            if !lines.is_empty() {
                h.push_str(&chart(title, &lines, true, &x_ticks, &|v| human_us(v)));
            }
        }
        let p_ticks: Vec<(f64, String)> = [50.0, 90.0, 99.0, 99.9, 99.99, 99.999, 99.9999]
            .iter()
            .map(|&p| (nines(p), format!("p{p}")))
            .collect();
        h.push_str(&chart(
            "Publish latency by percentile",
            &latency_lines(&group, |r| &r.summary.publish_latency),
            true,
            &p_ticks,
            &|v| human_us(v),
        ));
        h.push_str(&chart(
            "End-to-end latency by percentile",
            &latency_lines(&group, |r| &r.summary.end_to_end_latency),
            true,
            &p_ticks,
            &|v| human_us(v),
        ));
    }
    h.push_str("<h2>Machines</h2><table><tr><th>target</th><th>CPU</th><th>cores</th><th>memory</th><th>kernel</th><th>disk</th><th>command</th></tr>");
    for r in runs {
        let m = &r.machine;
        let _ = write!(h, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} GiB</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&r.target.name), esc(&m.cpu_model), m.cores, m.memory_bytes as f64 / (1u64 << 30) as f64, esc(&m.kernel), esc(&m.disk), esc(&r.command_line.join(" ")));
    }
    h.push_str("</table>");
    if let Some(c) = ceilings.or_else(|| runs.iter().find_map(|r| r.ceilings.as_ref())) {
        let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("not measured".into(), f);
        let _ = write!(h, "<h2>Ceilings measured in the same session</h2><table><tr><td>loopback TCP (iperf3, one stream)</td><td>{}</td></tr><tr><td>O_DIRECT sequential write (fio)</td><td>{}</td></tr><tr><td>fdatasync after a write, p50 / p99 (fio)</td><td>{} / {}</td></tr></table><p>Percentages next to throughput are fractions of the loopback ceiling.</p>",
            opt(c.loopback_bytes_per_s, &|v| format!("{:.0} MB/s", v / 1e6)), opt(c.disk_write_bytes_per_s, &|v| format!("{:.0} MB/s", v / 1e6)),
            opt(c.fdatasync_p50_us, &|v| human_us(v)), opt(c.fdatasync_p99_us, &|v| human_us(v)));
    }
    h.push_str("</body></html>\n");
    h
}
