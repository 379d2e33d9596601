//! sluice-bench's transactional producers (driver `transactional.id`) against the in-memory
//! two-node broker, whose transaction side refuses what Kafka would (a batch to a partition not
//! added, out of sequence, without the request's transactional id): every record counts only
//! once its transaction committed, read_committed consumers read exactly those, and commit
//! latency is reported in the JSON, the comparison table and the HTML. No timing assertions.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::time::Duration;

use bench_harness::run::{run, RunConfig};
use bench_harness::workload::{DriverSettings, Workload};
use common::{Fault, MockBroker};

const RECORDS_PER_TXN: usize = 30;

fn config(bootstrap: String, rate: f64, records: usize) -> RunConfig {
    let yaml = format!(
        "name: mock txn\ntopics: 1\npartitionsPerTopic: 6\nmessageSize: 200\nproducerRate: {rate}\n\
         producersPerTopic: 2\nsubscriptionsPerTopic: 1\nconsumerPerSubscription: 2\n\
         testDurationMinutes: 1\n"
    );
    RunConfig {
        bootstrap,
        workload: Workload::from_yaml(&yaml).unwrap(),
        workload_file: None,
        driver: DriverSettings {
            acks: -1,
            transactional_id: Some("bench-tx".into()),
            transaction_records: records,
            batch_bytes: 4096,
            fetch_max_wait_ms: 50,
            ..DriverSettings::default()
        },
        warmup: Duration::from_millis(500),
        duration: Duration::from_millis(1500),
        target_name: "mock".into(),
        target_version: "0".into(),
        placement: "shared".into(),
        durability: "memory".into(),
        topic_prefix: "tx".into(),
        progress: false,
        command_line: vec![],
        ceilings: None,
        data_dir: ".".into(),
    }
}

#[test]
fn transactional_producers_commit_every_record_and_report_commit_latency() {
    for rate in [3000.0, 0.0] {
        let broker = MockBroker::start(Fault::None);
        let r = run(&config(broker.bootstrap(), rate, RECORDS_PER_TXN)).unwrap();
        let v = &r.verification;
        assert!(v.ok, "rate {rate}: {v:#?}");
        // Producers stop between transactions: everything stored was committed, and counted.
        assert!(v.acknowledged_msgs > 0);
        assert_eq!(v.acknowledged_msgs as i64, broker.stored_records());
        assert_eq!(
            v.consumed_msgs, v.acknowledged_msgs,
            "read_committed reads each once"
        );
        let t = r.summary.transactions.clone().expect("a transactional run");
        assert_eq!(t.transactional_id, "bench-tx");
        assert_eq!(
            (t.records_per_transaction, t.partitions_per_transaction),
            (RECORDS_PER_TXN, 6)
        );
        assert_eq!(t.committed, broker.committed_transactions());
        assert_eq!(v.acknowledged_msgs, t.committed * RECORDS_PER_TXN as u64);
        // Warm-up excluded: measured commits are some, not all, and one per transaction.
        let c = &t.commit_latency;
        assert!(c.count > 0 && c.count <= t.committed, "{c:?}");
        assert_eq!(t.transaction_latency.count, c.count);
        assert!(
            c.max_us <= t.transaction_latency.max_us,
            "a commit is part of its transaction"
        );
        assert!(r.summary.publish_latency.count > 0);
        let json = serde_json::to_string(&r).unwrap();
        let back: bench_harness::report::result::RunResult = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let table = bench_harness::report::compare::table(std::slice::from_ref(&r));
        assert!(table.contains("commit p99"), "{table}");
        let html = bench_harness::report::html::render(&[r], None);
        assert!(html.contains("Commit latency (EndTxn round trip)"));
    }
}

#[test]
fn a_transaction_must_reach_every_partition() {
    let broker = MockBroker::start(Fault::None);
    let e = run(&config(broker.bootstrap(), 1000.0, 5)).unwrap_err();
    assert!(format!("{e:#}").contains("transaction.records"), "{e:#}");
}
