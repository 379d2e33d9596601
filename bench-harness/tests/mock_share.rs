//! `sluice-bench share` end to end against the in-memory mock broker: the backlog is written,
//! the group started at the log start, every worker drains its part and every message is
//! accepted exactly once and counted. No timing assertions.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod common;

use std::time::Duration;

use bench_harness::share::{run_share, ShareConfig};
use common::{Fault, MockBroker};

fn config(bootstrap: String, partitions: i32, workers: usize) -> ShareConfig {
    ShareConfig {
        bootstrap,
        topic: "q".into(),
        partitions,
        workers,
        messages: 3_000,
        message_bytes: 64,
        deadline: Duration::from_secs(60),
        group: "g".into(),
    }
}

#[test]
fn share_workers_drain_the_backlog_once() {
    for (partitions, workers) in [(1, 1), (1, 4), (4, 4)] {
        let broker = MockBroker::start(Fault::None);
        let r = run_share(&config(broker.bootstrap(), partitions, workers)).unwrap();
        assert!(r.complete, "{r:#?}");
        assert_eq!(r.accepted, 3_000);
        assert_eq!(broker.stored_records(), 3_000);
        assert_eq!(r.redelivered as i64, broker.share_redelivered(), "{r:#?}");
        assert!((1..=workers).contains(&r.workers_with_records), "{r:#?}");
        assert!(r.share_fetch_latency.count > 0, "{r:#?}");
        assert!(r.msgs_per_sec > 0.0 && r.drain_seconds > 0.0, "{r:#?}");
    }
}
