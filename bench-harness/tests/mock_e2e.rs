//! The whole harness (topic creation, pipelined producer lanes on two brokers, consumers,
//! verification, summary) against an in-memory two-node broker, including one that loses a
//! batch and one that duplicates a batch: the run must notice both. No timing assertions.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::time::Duration;

use bench_harness::metrics::{Sample, SecondLatency};
use bench_harness::run::{run, RunConfig};
use bench_harness::workload::{Codec, DriverSettings, Workload};
use common::{Fault, MockBroker};

fn config(bootstrap: String, rate: f64, driver: DriverSettings) -> RunConfig {
    let yaml = format!(
        "name: mock\ntopics: 1\npartitionsPerTopic: 6\nmessageSize: 200\nproducerRate: {rate}\n\
         subscriptionsPerTopic: 2\nconsumerPerSubscription: 2\ntestDurationMinutes: 1\n"
    );
    RunConfig {
        bootstrap,
        workload: Workload::from_yaml(&yaml).unwrap(),
        workload_file: None,
        driver,
        warmup: Duration::from_millis(500),
        duration: Duration::from_millis(1500),
        target_name: "mock".into(),
        target_version: "0".into(),
        placement: "shared".into(),
        durability: "memory".into(),
        topic_prefix: "t".into(),
        progress: false,
        command_line: vec![],
        ceilings: None,
        data_dir: ".".into(),
    }
}

fn small_batches() -> DriverSettings {
    // Small batches and few slots so many requests are pipelined and the windows fill.
    DriverSettings {
        batch_bytes: 4096,
        in_flight: 3,
        fetch_max_wait_ms: 50,
        ..DriverSettings::default()
    }
}

#[test]
fn fixed_rate_run_is_verified_and_measured() {
    let broker = MockBroker::start(Fault::None);
    let r = run(&config(broker.bootstrap(), 3000.0, small_batches())).unwrap();
    let v = &r.verification;
    assert!(v.ok, "{v:#?}");
    assert!(v.acknowledged_msgs > 0);
    assert_eq!(v.acknowledged_msgs as i64, broker.stored_records());
    // Two subscriptions each read everything once.
    assert_eq!(v.consumed_msgs, 2 * v.acknowledged_msgs);
    assert_eq!(r.target.brokers, 2);
    assert!(r.summary.latency_from_intended_time);
    assert!(r.summary.publish_latency.count > 0 && r.summary.end_to_end_latency.count > 0);
    // Warm-up excluded: fewer latencies than messages.
    assert!(r.summary.publish_latency.count < v.acknowledged_msgs);
    // Request round trips: one per produce request after the warm-up (fewer than messages),
    // and none longer than the longest publish latency, which contains its request's trip.
    let req = &r.summary.produce_request_latency;
    assert!(
        req.count > 0 && req.count <= r.summary.publish_latency.count,
        "{req:?}"
    );
    assert!(req.max_us <= r.summary.publish_latency.max_us, "{req:?}");
    assert!(r.series.iter().any(|s| s.warmup) && r.series.iter().any(|s| !s.warmup));
    // JSON round trip: what `compare` and `report` read back is what was written.
    let json = serde_json::to_string(&r).unwrap();
    let back: bench_harness::report::result::RunResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    let html = bench_harness::report::html::render(&[r.clone(), back], None);
    assert!(html.contains("<svg") && html.contains("mock"));
    let table = bench_harness::report::compare::table(&[r.clone(), r.clone()]);
    assert!(table.contains("×1.00"), "{table}");
    // The per-second timeline accounts for every measured latency, second by second.
    let per_second = |pick: fn(&Sample) -> Option<&SecondLatency>| -> u64 {
        r.series.iter().filter_map(pick).map(|l| l.count).sum()
    };
    assert_eq!(
        per_second(|s| s.publish_latency.as_ref()),
        r.summary.publish_latency.count
    );
    assert_eq!(
        per_second(|s| s.end_to_end_latency.as_ref()),
        r.summary.end_to_end_latency.count
    );
    let measured = r.series.iter().filter(|s| !s.warmup).count();
    let with_latency = r
        .series
        .iter()
        .filter(|s| !s.warmup && s.publish_latency.as_ref().is_some_and(|l| l.count > 0))
        .count();
    assert!(
        with_latency + 1 >= measured,
        "{with_latency} of {measured} seconds"
    );
    assert!(html.contains("Publish latency over time"), "timeline chart");
    let timeline = bench_harness::report::compare::timeline(&[r.clone(), r]);
    assert!(timeline.lines().count() >= measured + 2, "{timeline}");
}

/// `batch.num.messages` caps a batch's records even while linger would keep it open (~25
/// messages are due per 5 ms linger at this rate); 1 is the latency mode's setting.
#[test]
fn batch_num_messages_caps_every_batch() {
    let broker = MockBroker::start(Fault::None);
    let driver = DriverSettings {
        linger_ms: 5,
        batch_num_messages: 1,
        ..small_batches()
    };
    let r = run(&config(broker.bootstrap(), 5000.0, driver)).unwrap();
    assert!(r.verification.ok, "{:#?}", r.verification);
    assert!(broker.stored_records() > 100);
    assert_eq!(broker.largest_batch_records(), 1);
}

#[test]
fn max_rate_run_with_compression_and_keys_is_verified() {
    let broker = MockBroker::start(Fault::None);
    let mut cfg = config(
        broker.bootstrap(),
        0.0,
        DriverSettings {
            compression: Codec::Lz4,
            ..small_batches()
        },
    );
    cfg.workload.key_distributor = Some("KEY_ROUND_ROBIN".into());
    let r = run(&cfg).unwrap();
    assert!(r.verification.ok, "{:#?}", r.verification);
    assert!(!r.summary.latency_from_intended_time);
    assert_eq!(
        r.verification.acknowledged_msgs as i64,
        broker.stored_records()
    );
}

#[test]
fn acks_zero_run_is_verified() {
    let broker = MockBroker::start(Fault::None);
    let r = run(&config(
        broker.bootstrap(),
        2000.0,
        DriverSettings {
            acks: 0,
            ..small_batches()
        },
    ))
    .unwrap();
    assert!(r.verification.ok, "{:#?}", r.verification);
    assert_eq!(
        r.summary.publish_latency.count, 0,
        "nothing to time without acknowledgements"
    );
    assert_eq!(r.summary.produce_request_latency.count, 0);
}

#[test]
fn a_lost_batch_fails_the_run() {
    let broker = MockBroker::start(Fault::LoseBatch(5));
    let r = run(&config(broker.bootstrap(), 3000.0, small_batches())).unwrap();
    let v = &r.verification;
    assert!(!v.ok, "a lost batch went unnoticed: {v:#?}");
    assert!(v.missing_msgs > 0 || v.violations > 0, "{v:#?}");
}

#[test]
fn a_duplicated_batch_fails_the_run() {
    let broker = MockBroker::start(Fault::DuplicateBatch(5));
    let r = run(&config(broker.bootstrap(), 3000.0, small_batches())).unwrap();
    let v = &r.verification;
    assert!(!v.ok, "a duplicated batch went unnoticed: {v:#?}");
    assert!(v.violations > 0, "{v:#?}");
    assert!(
        v.details.iter().any(|d| d.contains("duplicate")),
        "{:?}",
        v.details
    );
}
