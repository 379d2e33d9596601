//! sluice-bench against a SASL_PLAINTEXT listener (its own test binary: the run's SASL setting
//! is process-wide): a short workload with SCRAM-SHA-512 on every connection (the broker has
//! no other listener), every acknowledged message consumed once. Finds the binary as `sluice_e2e.rs` does; skips (saying so) only when there is none.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_harness::run::{run, RunConfig};
use bench_harness::workload::{DriverSettings, Workload};
use sluice_client::sasl::{SaslConfig, SaslMechanism};

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

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_workload_runs_over_scram_sha_512() {
    let Some(bin) = sluice_bin() else {
        eprintln!("SKIPPED: no sluice binary (cargo build --release, or SLUICE_BIN)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ports = dir.path().join("ports.json");
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "bench-secret\n").unwrap();
    let child = Command::new(bin)
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--listeners", "SASL_PLAINTEXT://127.0.0.1:0"])
        .args(["--admin-listen", "127.0.0.1:0", "--bootstrap-user", "bench"])
        .arg("--bootstrap-password-file")
        .arg(&pw)
        .arg("--ports-file")
        .arg(&ports)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let _broker = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let bootstrap = loop {
        if let Some(v) = std::fs::read_to_string(&ports)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        {
            break format!("{}:{}", v["host"].as_str().unwrap(), v["bootstrap"]);
        }
        assert!(Instant::now() < deadline, "no ports file");
        std::thread::sleep(Duration::from_millis(20));
    };
    bench_harness::cluster::use_sasl(
        SaslConfig::new(SaslMechanism::ScramSha512, "bench", "bench-secret").unwrap(),
    );
    let workload = Workload::from_yaml(
        "name: sasl e2e\ntopics: 1\npartitionsPerTopic: 2\nmessageSize: 256\nproducerRate: 2000\n\
         subscriptionsPerTopic: 1\nconsumerPerSubscription: 1\nproducersPerTopic: 1\ntestDurationMinutes: 1\n",
    )
    .unwrap();
    let cfg = RunConfig {
        bootstrap,
        workload,
        workload_file: None,
        driver: DriverSettings::default(),
        warmup: Duration::from_secs(0),
        duration: Duration::from_secs(2),
        target_name: "sluice".into(),
        target_version: "sasl-e2e".into(),
        placement: "shared".into(),
        durability: "default".into(),
        topic_prefix: "sasl".into(),
        progress: false,
        command_line: vec![],
        ceilings: None,
        data_dir: dir.path().to_path_buf(),
    };
    let r = run(&cfg).expect("run over SASL");
    let v = &r.verification;
    assert!(v.ok, "{v:#?}");
    assert!(v.acknowledged_msgs > 0);
    assert_eq!(v.consumed_msgs, v.acknowledged_msgs);
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}
