//! Starts the real `sluice` binary and runs a 5-second workload through the harness: every
//! acknowledged message must be consumed exactly once, in order per partition. No timing
//! assertions. Finds the binary via `SLUICE_BIN`, else `../target/{release,debug}/sluice`;
//! skips (saying so) only when there is no binary.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_harness::run::{run, RunConfig};
use bench_harness::workload::{DriverSettings, Workload};

fn sluice_bin() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SLUICE_BIN") {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    ["release", "debug"]
        .iter()
        .map(|p| root.join("target").join(p).join("sluice"))
        .find(|p| p.is_file())
}

/// The broker process: killed and reaped on drop; its data dir is kept if the test failed.
struct Broker {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let kept =
                std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir")).keep();
            eprintln!(
                "test failed: broker data dir and stderr kept in {}",
                kept.display()
            );
        }
    }
}

impl Broker {
    fn start(bin: &Path) -> (Broker, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let ports = dir.path().join("ports.json");
        let stderr = File::create(dir.path().join("stderr.log")).expect("stderr file");
        let child = Command::new(bin)
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--ports-file"])
            .arg(&ports)
            .args(["--admin-listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn sluice");
        let mut broker = Broker { child, dir };
        // Readiness is the ports file (written once every listener is up), never a sleep.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = broker.child.try_wait().expect("try_wait") {
                panic!(
                    "sluice exited before it was ready ({status}): {}",
                    broker.stderr()
                );
            }
            if let Ok(text) = std::fs::read_to_string(&ports) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    let host = v["host"].as_str().unwrap_or("127.0.0.1").to_string();
                    if let Some(port) = v["bootstrap"].as_u64() {
                        return (broker, format!("{host}:{port}"));
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no ports file after 30 s: {}",
                broker.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// A run of `workload` against this broker; what differs between the tests is passed in,
    /// the rest (target labels, no progress, no ceilings) is the same for all of them.
    fn run_config(
        &self,
        bootstrap: &str,
        workload: Workload,
        topic_prefix: &str,
        driver: DriverSettings,
        warmup: Duration,
        duration: Duration,
    ) -> RunConfig {
        RunConfig {
            bootstrap: bootstrap.to_string(),
            workload,
            workload_file: None,
            driver,
            warmup,
            duration,
            target_name: "sluice".into(),
            target_version: "e2e".into(),
            placement: "shared".into(),
            durability: "default".into(),
            topic_prefix: topic_prefix.into(),
            progress: false,
            command_line: vec![],
            ceilings: None,
            data_dir: self.dir.path().to_path_buf(),
        }
    }
}

/// The started broker and its bootstrap address, or `None` (saying so) when there is no
/// binary to start.
fn start_broker() -> Option<(Broker, String)> {
    let Some(bin) = sluice_bin().filter(|p| p.is_file()) else {
        eprintln!(
            "SKIPPED: no sluice binary (build it with `cargo build --release`, or set SLUICE_BIN)"
        );
        return None;
    };
    Some(Broker::start(&bin))
}

#[test]
fn five_second_workload_is_consumed_once_in_order() {
    let Some((broker, bootstrap)) = start_broker() else {
        return;
    };
    let workload = Workload::from_yaml(
        "name: sluice e2e\ntopics: 1\npartitionsPerTopic: 8\nmessageSize: 512\nproducerRate: 20000\n\
         subscriptionsPerTopic: 1\nconsumerPerSubscription: 2\nproducersPerTopic: 2\ntestDurationMinutes: 1\n",
    )
    .unwrap();
    let cfg = broker.run_config(
        &bootstrap,
        workload,
        "e2e",
        DriverSettings {
            in_flight: 5,
            batch_bytes: 64 * 1024,
            ..DriverSettings::default()
        },
        Duration::from_secs(1),
        Duration::from_secs(4),
    );
    let r = run(&cfg).expect("run against sluice");
    let v = &r.verification;
    assert!(
        v.ok,
        "verification failed: {v:#?}\nbroker stderr:\n{}",
        broker.stderr()
    );
    assert!(v.acknowledged_msgs > 0);
    assert_eq!(
        v.consumed_msgs, v.acknowledged_msgs,
        "one subscription reads each message once"
    );
    assert_eq!((v.missing_msgs, v.violations, v.produce_errors), (0, 0, 0));
    assert!(r.target.brokers >= 1);
    let stderr = broker.stderr();
    assert!(!stderr.contains("panicked"), "broker panicked:\n{stderr}");
}

/// A topic filled by a run without consumers is read back whole by `drain`: every
/// acknowledged message once, in order per partition, each writer's sequence from 0.
#[test]
fn drain_reads_back_what_a_consumerless_run_wrote() {
    let Some((broker, bootstrap)) = start_broker() else {
        return;
    };
    let workload = Workload::from_yaml(
        "name: fill\ntopics: 1\npartitionsPerTopic: 6\nmessageSize: 300\nproducerRate: 20000\n\
         subscriptionsPerTopic: 0\nproducersPerTopic: 2\ntestDurationMinutes: 1\n",
    )
    .unwrap();
    let cfg = broker.run_config(
        &bootstrap,
        workload,
        "fill",
        DriverSettings::default(),
        Duration::ZERO,
        Duration::from_secs(2),
    );
    let r = run(&cfg).expect("fill");
    assert!(r.verification.ok, "{:#?}", r.verification);
    let acknowledged = r.verification.acknowledged_msgs;
    assert!(acknowledged > 0);
    let d = bench_harness::drain::drain(&bench_harness::drain::DrainConfig {
        bootstrap,
        topic: "fill".into(),
        prefix: true,
        consumers: 2,
        driver: DriverSettings {
            partition_fetch_bytes: 64 * 1024,
            ..DriverSettings::default()
        },
        timeout: Duration::from_secs(60),
        progress: false,
    })
    .expect("drain");
    assert!(d.ok, "{d:#?}");
    assert_eq!((d.records, d.violations), (acknowledged, 0));
    assert_eq!(d.partitions, 6);
    let stderr = broker.stderr();
    assert!(!stderr.contains("panicked"), "broker panicked:\n{stderr}");
}

/// Records of every partition of the topic named `prefix-*`, read from offset 0 with
/// isolation read_committed up to each partition's last stable offset, which must equal its
/// high watermark (no transaction left open). Independent of the run's own consumers.
fn read_committed_records(bootstrap: &str, prefix: &str) -> u64 {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{BrokerId, FetchRequest};
    let mut client = sluice_client::Client::new(bootstrap, Duration::from_secs(10)).unwrap();
    let topic = client
        .metadata(None, false)
        .unwrap()
        .into_iter()
        .find(|t| t.name.starts_with(prefix))
        .expect("the run's topic");
    let mut total = 0;
    for p in &topic.partitions {
        let conn = client.node(p.leader).unwrap();
        let mut offset = 0i64;
        loop {
            let req = FetchRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_isolation_level(1)
                .with_session_epoch(-1)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(sluice_client::topic_name(&topic.name))
                    .with_partitions(vec![FetchPartition::default()
                        .with_partition(p.index)
                        .with_current_leader_epoch(-1)
                        .with_fetch_offset(offset)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(1 << 20)])]);
            let r = conn.call_at(&req, 11).unwrap();
            let part = &r.responses[0].partitions[0];
            assert_eq!(part.error_code, 0, "{part:?}");
            assert_eq!(
                part.last_stable_offset, part.high_watermark,
                "{}-{}: a transaction left open",
                topic.name, p.index
            );
            let records = part.records.clone().unwrap_or_default();
            let walked = sluice_client::records::walk_batches::<sluice_client::ClientError>(
                &records,
                |_| Ok(()),
            )
            .unwrap();
            total += walked.records;
            match walked.next_offset {
                Some(next) if next > offset => offset = next,
                _ => break,
            }
            if offset >= part.last_stable_offset {
                break;
            }
        }
    }
    total
}

/// Transactional producers (driver `transactional.id`) against the real broker: every
/// record the run counted is committed — the run's read_committed consumers read exactly
/// those, and so does an independent read_committed read afterwards, with no transaction
/// left open — and commit latency is measured. No timing assertions.
#[test]
fn transactional_workload_commits_every_record() {
    let Some((broker, bootstrap)) = start_broker() else {
        return;
    };
    let workload = Workload::from_yaml(
        "name: sluice txn e2e\ntopics: 1\npartitionsPerTopic: 8\nmessageSize: 512\nproducerRate: 4000\n\
         subscriptionsPerTopic: 1\nconsumerPerSubscription: 2\nproducersPerTopic: 2\ntestDurationMinutes: 1\n",
    )
    .unwrap();
    let records_per_txn = 40;
    let cfg = broker.run_config(
        &bootstrap,
        workload,
        "e2etx",
        DriverSettings {
            acks: -1,
            transactional_id: Some("e2e-tx".into()),
            transaction_records: records_per_txn,
            batch_bytes: 64 * 1024,
            fetch_max_wait_ms: 100,
            ..DriverSettings::default()
        },
        Duration::from_secs(1),
        Duration::from_secs(3),
    );
    let r = run(&cfg).expect("transactional run against sluice");
    let v = &r.verification;
    assert!(
        v.ok,
        "verification failed: {v:#?}\nbroker stderr:\n{}",
        broker.stderr()
    );
    let t = r
        .summary
        .transactions
        .clone()
        .expect("transactions summary");
    assert!(t.committed > 0);
    assert_eq!(v.acknowledged_msgs, t.committed * records_per_txn as u64);
    assert_eq!(v.consumed_msgs, v.acknowledged_msgs);
    assert!(t.commit_latency.count > 0 && t.transaction_latency.count > 0);
    assert_eq!(
        read_committed_records(&bootstrap, "e2etx-"),
        v.acknowledged_msgs,
        "a read_committed consumer reads exactly what was committed"
    );
    let stderr = broker.stderr();
    assert!(!stderr.contains("panicked"), "broker panicked:\n{stderr}");
}
