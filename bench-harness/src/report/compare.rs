//! `sluice-bench compare a.json b.json ...`: a ratio table in the terminal, each run against the
//! first one given (the baseline).

use std::fmt::Write;

use super::html::{human_rate, human_us};
use super::result::RunResult;

/// A metric: its name, how to read it, whether higher is better, and how to print it.
type Metric = (&'static str, fn(&RunResult) -> f64, bool, fn(f64) -> String);

/// A latency row: lower is better, printed in µs / ms / s.
fn latency(name: &'static str, get: fn(&RunResult) -> f64) -> Metric {
    (name, get, false, human_us)
}

fn metrics() -> Vec<Metric> {
    let rate: fn(f64) -> String = |v| format!("{}msg/s", human_rate(v));
    let mbps: fn(f64) -> String = |v| format!("{:.1} MB/s", v / 1e6);
    let ns: fn(f64) -> String = |v| format!("{v:.0} ns");
    vec![
        (
            "produced msg/s",
            |r| r.summary.produced_msgs_per_s,
            true,
            rate,
        ),
        (
            "produced MB/s",
            |r| r.summary.produced_bytes_per_s,
            true,
            mbps,
        ),
        (
            "consumed msg/s",
            |r| r.summary.consumed_msgs_per_s,
            true,
            rate,
        ),
        (
            "consumed MB/s",
            |r| r.summary.consumed_bytes_per_s,
            true,
            mbps,
        ),
        latency("publish p50", |r| r.summary.publish_latency.p50_us),
        latency("publish p99", |r| r.summary.publish_latency.p99_us),
        latency("publish p99.9", |r| r.summary.publish_latency.p999_us),
        latency("publish p99.99", |r| r.summary.publish_latency.p9999_us),
        latency("publish max", |r| r.summary.publish_latency.max_us),
        latency("request p50", |r| r.summary.produce_request_latency.p50_us),
        latency("request p99", |r| r.summary.produce_request_latency.p99_us),
        latency("request p99.9", |r| {
            r.summary.produce_request_latency.p999_us
        }),
        latency("request max", |r| r.summary.produce_request_latency.max_us),
        latency("end-to-end p50", |r| r.summary.end_to_end_latency.p50_us),
        latency("end-to-end p99", |r| r.summary.end_to_end_latency.p99_us),
        latency("end-to-end p99.9", |r| r.summary.end_to_end_latency.p999_us),
        latency("end-to-end p99.99", |r| {
            r.summary.end_to_end_latency.p9999_us
        }),
        latency("end-to-end max", |r| r.summary.end_to_end_latency.max_us),
        (
            "harness CPU/msg",
            |r| r.summary.harness_cpu_ns_per_msg,
            false,
            ns,
        ),
    ]
}

/// Transactional runs' rows: commit (EndTxn round trip) and whole-transaction latency.
fn txn_metrics() -> Vec<Metric> {
    fn pick(r: &RunResult, f: fn(&crate::report::result::TxnSummary) -> f64) -> f64 {
        r.summary.transactions.as_ref().map_or(0.0, f)
    }
    vec![
        latency("commit p50", |r| pick(r, |t| t.commit_latency.p50_us)),
        latency("commit p99", |r| pick(r, |t| t.commit_latency.p99_us)),
        latency("commit max", |r| pick(r, |t| t.commit_latency.max_us)),
        latency("transaction p50", |r| {
            pick(r, |t| t.transaction_latency.p50_us)
        }),
        latency("transaction p99", |r| {
            pick(r, |t| t.transaction_latency.p99_us)
        }),
    ]
}

/// Renders the table. Ratios are value / baseline; "better" marks which way is good.
pub fn table(runs: &[RunResult]) -> String {
    let mut out = String::new();
    let Some(base) = runs.first() else { return out };
    let names: Vec<String> = runs
        .iter()
        .map(|r| {
            format!("{} {}", r.target.name, r.target.version)
                .trim()
                .to_string()
        })
        .collect();
    let workloads: Vec<&str> = runs.iter().map(|r| r.workload.name.as_str()).collect();
    if workloads.iter().any(|w| *w != workloads[0]) {
        let _ = writeln!(out, "warning: comparing different workloads: {workloads:?}");
    }
    let col = 24;
    let _ = write!(out, "{:<20}", "metric");
    for (i, n) in names.iter().enumerate() {
        let head = if i == 0 {
            format!("{n} (base)")
        } else {
            n.clone()
        };
        let _ = write!(out, "{head:>col$}");
    }
    out.push('\n');
    let mut rows = metrics();
    if runs.iter().any(|r| r.summary.transactions.is_some()) {
        rows.extend(txn_metrics());
    }
    for (label, get, higher_better, fmt) in rows {
        let b = get(base);
        let _ = write!(out, "{label:<20}{:>col$}", fmt(b));
        for r in &runs[1..] {
            let v = get(r);
            let cell = if b > 0.0 && v > 0.0 {
                let ratio = v / b;
                let better = if higher_better {
                    ratio > 1.0
                } else {
                    ratio < 1.0
                };
                format!(
                    "{} ×{ratio:.2}{}",
                    fmt(v),
                    if (ratio - 1.0).abs() < 0.005 {
                        " "
                    } else if better {
                        "+"
                    } else {
                        "-"
                    }
                )
            } else {
                fmt(v)
            };
            let _ = write!(out, "{cell:>col$}");
        }
        out.push('\n');
    }
    let _ = write!(out, "{:<20}", "verified");
    for r in runs {
        let v = &r.verification;
        let cell = if v.ok {
            format!("ok ({})", v.consumed_msgs)
        } else {
            format!("FAILED ({} missing)", v.missing_msgs)
        };
        let _ = write!(out, "{cell:>col$}");
    }
    out.push_str("\n(×ratio against the base; + better, - worse)\n");
    out
}

/// Per-second latency of every run side by side: one row per second of the longest run, one
/// column per run with publish p50 / p99 / p99.9 / max and end-to-end p99. Warm-up seconds are
/// marked; "—" where a run had no completion in that second.
pub fn timeline(runs: &[RunResult]) -> String {
    let mut out = String::new();
    let seconds = runs.iter().map(|r| r.series.len()).max().unwrap_or(0);
    let col = 44;
    let _ = write!(out, "\n{:<8}", "second");
    for r in runs {
        let head = format!("{} publish p50/p99/p99.9/max | e2e p99", r.target.name);
        let _ = write!(out, "{head:>col$}");
    }
    out.push('\n');
    for i in 0..seconds {
        let warm = runs
            .iter()
            .any(|r| r.series.get(i).is_some_and(|s| s.warmup));
        let t = runs
            .iter()
            .find_map(|r| r.series.get(i).map(|s| s.t_s))
            .unwrap_or((i + 1) as f64);
        let _ = write!(
            out,
            "{:<8}",
            format!("{t:.0}{}", if warm { "w" } else { "" })
        );
        for r in runs {
            let s = r.series.get(i);
            let publish =
                s.and_then(|s| s.publish_latency.as_ref())
                    .map_or("—".to_string(), |l| {
                        format!(
                            "{}/{}/{}/{}",
                            human_us(l.p50_us),
                            human_us(l.p99_us),
                            human_us(l.p999_us),
                            human_us(l.max_us)
                        )
                    });
            let e2e = s
                .and_then(|s| s.end_to_end_latency.as_ref())
                .map_or("—".to_string(), |l| human_us(l.p99_us));
            let cell = format!("{publish} | {e2e}");
            let _ = write!(out, "{cell:>col$}");
        }
        out.push('\n');
    }
    out.push_str("(w: warm-up second, not measured)\n");
    out
}
