//! `sluice-bench run | compare | report`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bench_harness::report::result::{Ceilings, RunResult};
use bench_harness::report::{compare, html};
use bench_harness::run::{run, RunConfig};
use bench_harness::workload::{Codec, DriverSettings, Workload};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sluice-bench",
    version,
    about = "OpenMessaging Benchmark workloads against any Kafka-compatible broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one workload against one broker and write a JSON result.
    Run(Box<RunArgs>),
    /// Read an existing topic from offset 0 to its current ends, checking every record, and
    /// print how fast (JSON): a backlog drain, e.g. after a broker restart (catch-up reads).
    Drain(DrainArgs),
    /// Print a ratio table of results against the first one.
    Compare {
        /// Also print the runs' per-second latency side by side (publish p50 / p99 / p99.9 /
        /// max, and end-to-end p99), so a stall in one run lines up against the other.
        #[arg(long)]
        timeline: bool,
        files: Vec<PathBuf>,
    },
    /// Share-group (KIP-932) workers draining a backlog: throughput and ShareFetch latency.
    Share(ShareArgs),
    /// Write an HTML report placing the results side by side.
    Report {
        #[arg(long, short)]
        output: PathBuf,
        /// Ceilings measured in the same session (JSON, as bench-compare.sh writes it).
        #[arg(long)]
        ceilings: Option<PathBuf>,
        files: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct ShareArgs {
    /// host:port of any broker.
    #[arg(long, short)]
    bootstrap: String,
    /// Share workers (threads, each its own member and connections).
    #[arg(long, default_value_t = 4)]
    workers: usize,
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Backlog written before the workers start.
    #[arg(long, default_value_t = 100_000)]
    messages: u64,
    #[arg(long, default_value_t = 100)]
    message_size: usize,
    /// Give up the drain after this long: 60s, 2m.
    #[arg(long, default_value = "120s")]
    deadline: String,
    /// The topic (created; must not exist) and the share group.
    #[arg(long, default_value = "share-bench")]
    topic: String,
    #[arg(long, default_value = "share-bench")]
    group: String,
    /// Where the JSON result goes (else only the summary line).
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn cmd_share(a: &ShareArgs) -> Result<bool> {
    let cfg = bench_harness::share::ShareConfig {
        bootstrap: a.bootstrap.clone(),
        topic: a.topic.clone(),
        partitions: a.partitions,
        workers: a.workers,
        messages: a.messages,
        message_bytes: a.message_size,
        deadline: parse_duration(&a.deadline)?,
        group: a.group.clone(),
    };
    let r = bench_harness::share::run_share(&cfg)?;
    println!("{}", bench_harness::share::summary(&r));
    if let Some(out) = &a.output {
        std::fs::write(out, serde_json::to_string_pretty(&r)?)?;
    }
    Ok(r.complete)
}

#[derive(clap::Args)]
struct RunArgs {
    /// OMB workload YAML.
    #[arg(long, short)]
    workload: PathBuf,
    /// OMB Kafka driver YAML (producerConfig / consumerConfig properties); flags override it.
    #[arg(long, short)]
    driver: Option<PathBuf>,
    /// host:port of any broker (else commonConfig's bootstrap.servers).
    #[arg(long, short)]
    bootstrap: Option<String>,
    /// 0, 1 or all.
    #[arg(long)]
    acks: Option<String>,
    #[arg(long)]
    linger_ms: Option<u64>,
    #[arg(long)]
    batch_size: Option<usize>,
    /// Most records per batch (librdkafka's batch.num.messages). `--batch-num-messages 1
    /// --linger-ms 0 --rate R` is the latency mode: one message per batch, sent when due.
    #[arg(long)]
    batch_num_messages: Option<usize>,
    /// none, gzip, snappy, lz4, zstd.
    #[arg(long)]
    compression: Option<String>,
    /// Produce requests in flight per connection.
    #[arg(long)]
    in_flight: Option<usize>,
    #[arg(long)]
    replication_factor: Option<i16>,
    /// Transactional producers (Kafka's transactional.id, used as a prefix: producer worker W
    /// is `ID-W`); consumers then read with read_committed. Implies acks=all.
    #[arg(long, value_name = "ID")]
    transactional_id: Option<String>,
    /// Records per transaction, spread over every partition of the topic (the driver's
    /// transaction.records; default 100).
    #[arg(long, value_name = "N")]
    transaction_records: Option<usize>,
    /// Overrides testDurationMinutes: 5s, 2m, 1500ms.
    #[arg(long)]
    duration: Option<String>,
    /// Overrides warmupDurationMinutes.
    #[arg(long)]
    warmup: Option<String>,
    /// Overrides producerRate (msg/s, 0 = max).
    #[arg(long)]
    rate: Option<f64>,
    /// Overrides consumerBacklogSizeGB.
    #[arg(long)]
    backlog_gb: Option<f64>,
    /// The target's name in results and reports.
    #[arg(long, default_value = "broker")]
    name: String,
    #[arg(long, default_value = "unknown")]
    broker_version: String,
    /// How broker and harness share the CPUs, recorded in the result.
    #[arg(long, default_value = "shared (not pinned)")]
    placement: String,
    /// The broker's durability mode, recorded in the result.
    #[arg(long, default_value = "unknown")]
    durability: String,
    #[arg(long, default_value = "bench")]
    topic_prefix: String,
    /// Where the result goes (default: results/<name>-<workload>.json).
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[arg(long)]
    ceilings: Option<PathBuf>,
    /// The broker's data directory: the machine section describes its disk.
    #[arg(long, default_value = ".")]
    data_dir: PathBuf,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    /// Connect with TLS (a broker's SSL listener), trusting the CA certificates in this PEM
    /// file (librdkafka's ssl.ca.location).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Authenticate every connection with SASL (a SASL_PLAINTEXT listener; SASL_SSL with
    /// --tls-ca): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512. Needs --sasl-username and a password.
    #[arg(long, value_name = "MECHANISM", requires = "sasl_username")]
    sasl_mechanism: Option<String>,
    /// The SASL user name.
    #[arg(long, value_name = "NAME", requires = "sasl_mechanism")]
    sasl_username: Option<String>,
    /// The SASL password: this file's first line (`-`: stdin's); default: the
    /// SLUICE_SASL_PASSWORD environment variable. Never a command-line argument.
    #[arg(long, value_name = "FILE", requires = "sasl_mechanism")]
    sasl_password_file: Option<PathBuf>,
}

#[derive(clap::Args)]
struct DrainArgs {
    /// host:port of any broker.
    #[arg(long, short)]
    bootstrap: String,
    /// The topic to drain.
    #[arg(
        long,
        conflicts_with = "topic_prefix",
        required_unless_present = "topic_prefix"
    )]
    topic: Option<String>,
    /// Drain the one topic named PREFIX-* (as `run --topic-prefix PREFIX` names them).
    #[arg(long)]
    topic_prefix: Option<String>,
    /// Consumer connections per partition leader.
    #[arg(long, default_value_t = 1)]
    consumers: u32,
    /// OMB Kafka driver YAML (its consumerConfig: fetch sizes and waits).
    #[arg(long, short)]
    driver: Option<PathBuf>,
    /// Fail if the drain has not finished by then: 60s, 5m.
    #[arg(long, default_value = "10m")]
    timeout: String,
    /// Where the JSON result goes (default: stdout).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

fn cmd_drain(a: &DrainArgs) -> Result<bool> {
    let driver = match &a.driver {
        Some(p) => {
            DriverSettings::from_yaml(
                &std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
            )
            .with_context(|| format!("driver {}", p.display()))?
            .0
        }
        None => DriverSettings::default(),
    };
    driver.validate()?;
    let (topic, prefix) = match (&a.topic, &a.topic_prefix) {
        (Some(t), _) => (t.clone(), false),
        (None, Some(p)) => (p.clone(), true),
        (None, None) => bail!("--topic or --topic-prefix"),
    };
    let cfg = bench_harness::drain::DrainConfig {
        bootstrap: a.bootstrap.clone(),
        topic,
        prefix,
        consumers: a.consumers,
        driver,
        timeout: parse_duration(&a.timeout)?,
        progress: !a.quiet,
    };
    let result = bench_harness::drain::drain(&cfg)?;
    let json = serde_json::to_string_pretty(&result)?;
    match &a.output {
        Some(out) => std::fs::write(out, json)?,
        None => println!("{json}"),
    }
    eprintln!(
        "drained {} records ({:.1} MB of values) from {} partitions in {:.2} s: {:.1} MB/s",
        result.records,
        result.value_bytes as f64 / 1e6,
        result.partitions,
        result.seconds,
        result.value_bytes_per_s / 1e6
    );
    if !result.ok {
        eprintln!("VERIFICATION FAILED:");
        for d in &result.details {
            eprintln!("  {d}");
        }
    }
    Ok(result.ok)
}

/// The run's SASL settings from `--sasl-*`, if any.
fn sasl_config(a: &RunArgs) -> Result<Option<sluice_client::sasl::SaslConfig>> {
    use sluice_client::sasl::{SaslConfig, SaslMechanism};
    let (Some(m), Some(user)) = (&a.sasl_mechanism, &a.sasl_username) else {
        return Ok(None);
    };
    let mechanism = SaslMechanism::from_name(m)
        .with_context(|| format!("--sasl-mechanism {m}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"))?;
    let password = match &a.sasl_password_file {
        Some(f) if f == Path::new("-") => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the SASL password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("read {}", f.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        None => std::env::var("SLUICE_SASL_PASSWORD").map_err(|_| {
            anyhow::anyhow!(
                "SASL needs a password: --sasl-password-file FILE or SLUICE_SASL_PASSWORD"
            )
        })?,
    };
    Ok(Some(
        SaslConfig::new(mechanism, user.clone(), password).map_err(|e| anyhow::anyhow!("{e}"))?,
    ))
}

fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .with_context(|| format!("duration {s:?}: use 5s, 2m, 500ms"))?;
    if !(v >= 0.0 && v.is_finite()) {
        bail!("duration {s:?} must be ≥ 0");
    }
    Ok(Duration::from_secs_f64(v * mult))
}

fn slug(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    out.trim_matches('-').to_string()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

fn cmd_run(a: &RunArgs) -> Result<bool> {
    if let Some(ca) = &a.tls_ca {
        let tls =
            sluice_client::tls::ClientTls::new(ca, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        bench_harness::cluster::use_tls(tls);
    }
    if let Some(sasl) = sasl_config(a)? {
        bench_harness::cluster::use_sasl(sasl);
    }
    let mut workload = Workload::load(&a.workload)?;
    let (mut driver, driver_bootstrap) = match &a.driver {
        Some(p) => DriverSettings::from_yaml(
            &std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
        )
        .with_context(|| format!("driver {}", p.display()))?,
        None => (DriverSettings::default(), None),
    };
    if let Some(v) = &a.acks {
        driver.acks = match v.as_str() {
            "all" | "-1" => -1,
            "1" => 1,
            "0" => 0,
            other => bail!("--acks {other}: use 0, 1 or all"),
        };
    }
    if let Some(v) = a.linger_ms {
        driver.linger_ms = v;
    }
    if let Some(v) = a.batch_size {
        driver.batch_bytes = v;
    }
    if let Some(v) = a.batch_num_messages {
        driver.batch_num_messages = v;
    }
    if let Some(v) = &a.compression {
        driver.compression = Codec::parse(v)?;
    }
    if let Some(v) = a.in_flight {
        driver.in_flight = v;
    }
    if let Some(v) = a.replication_factor {
        driver.replication_factor = v;
    }
    if let Some(id) = &a.transactional_id {
        driver.transactional_id = Some(id.clone());
        if a.acks.is_none() {
            driver.acks = -1;
        }
    }
    if let Some(n) = a.transaction_records {
        driver.transaction_records = n;
    }
    driver.validate()?;
    if let Some(r) = a.rate {
        workload.producer_rate = r;
    }
    if let Some(b) = a.backlog_gb {
        workload.consumer_backlog_size_gb = b;
    }
    workload.validate()?;
    let bootstrap = a
        .bootstrap
        .clone()
        .or_else(|| {
            driver_bootstrap.map(|s| s.split(',').next().unwrap_or_default().trim().to_string())
        })
        .context(
            "no broker: pass --bootstrap host:port or set bootstrap.servers in the driver file",
        )?;
    let warmup = match &a.warmup {
        Some(s) => parse_duration(s)?,
        None => workload.warmup_duration(),
    };
    let duration = match &a.duration {
        Some(s) => parse_duration(s)?,
        None => workload.test_duration(),
    };
    if duration.is_zero() {
        bail!("the measured duration must be > 0");
    }
    let ceilings: Option<Ceilings> = a.ceilings.as_deref().map(read_json).transpose()?;
    let cfg = RunConfig {
        bootstrap,
        workload: workload.clone(),
        workload_file: Some(a.workload.clone()),
        driver,
        warmup,
        duration,
        target_name: a.name.clone(),
        target_version: a.broker_version.clone(),
        placement: a.placement.clone(),
        durability: a.durability.clone(),
        topic_prefix: a.topic_prefix.clone(),
        progress: !a.quiet,
        command_line: std::env::args().collect(),
        ceilings,
        data_dir: a.data_dir.clone(),
    };
    let result = run(&cfg)?;
    let out = a.output.clone().unwrap_or_else(|| {
        PathBuf::from("results").join(format!("{}-{}.json", slug(&a.name), slug(&workload.name)))
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&result)?)?;
    print!("{}", compare::table(std::slice::from_ref(&result)));
    eprintln!("result written to {}", out.display());
    let v = &result.verification;
    if !v.ok {
        eprintln!(
            "VERIFICATION FAILED: {} acknowledged, {} of {} expected consumed, {} missing, {} ordering violations, {} produce errors",
            v.acknowledged_msgs, v.consumed_msgs, v.expected_consumed_msgs, v.missing_msgs, v.violations, v.produce_errors
        );
        for d in &v.details {
            eprintln!("  {d}");
        }
    }
    Ok(v.ok)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Share(a) => cmd_share(a),
        Command::Drain(a) => cmd_drain(a),
        Command::Compare { files, timeline } => files
            .iter()
            .map(|f| read_json::<RunResult>(f))
            .collect::<Result<Vec<_>>>()
            .map(|runs| {
                print!("{}", compare::table(&runs));
                if *timeline {
                    print!("{}", compare::timeline(&runs));
                }
                true
            }),
        Command::Report {
            output,
            ceilings,
            files,
        } => (|| {
            let runs = files
                .iter()
                .map(|f| read_json::<RunResult>(f))
                .collect::<Result<Vec<_>>>()?;
            let ceilings: Option<Ceilings> = ceilings.as_deref().map(read_json).transpose()?;
            std::fs::write(output, html::render(&runs, ceilings.as_ref()))?;
            eprintln!("report written to {}", output.display());
            Ok(true)
        })(),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("sluice-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
