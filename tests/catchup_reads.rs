//! Catch-up reads against the real binary: fetches the tail cache answers (reads one after
//! another) and the same fetches after a restart, answered from the segment files with
//! several partition reads in flight, must be the same responses — the same batches per
//! partition, the same limits (`max_bytes`, `partition_max_bytes`, KIP-74's one batch), the
//! same errors. And the concurrency limits are reached, never passed.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use harness::kafka::{create_topic, decode_records, produce, Conn};
use harness::Broker;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

const PARTITIONS: i32 = 24;
/// src/limits.rs
const FETCH_PARTITION_READS_IN_FLIGHT_MAX: f64 = 16.0;
const CATCHUP_READS_IN_FLIGHT_MAX: f64 = 2.0;
const DISK_READS_IN_FLIGHT_MAX: f64 = 8.0;
/// Partition 1 starts with a batch larger than the limits some fetches give it.
const BIG_BATCH_BYTES: usize = 40_000;

/// One partition of a fetch: (partition, offset, partition_max_bytes, current_leader_epoch).
type Want = (i32, i64, i32, i32);

fn fetch_of(max_bytes: i32, parts: &[Want]) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(
                parts
                    .iter()
                    .map(|&(p, offset, max, epoch)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(max)
                            .with_current_leader_epoch(epoch)
                            .with_last_fetched_epoch(-1)
                    })
                    .collect(),
            )])
}

/// What a response says per partition: error, high watermark, bytes and offsets returned.
fn summary(r: &FetchResponse) -> Vec<(i32, i16, i64, usize, Vec<i64>)> {
    r.responses[0]
        .partitions
        .iter()
        .map(|p| {
            let bytes = p.records.as_ref().map_or(0, |b| b.len());
            let offsets = decode_records(p.records.clone())
                .into_iter()
                .map(|(o, _, _)| o)
                .collect();
            (
                p.partition_index,
                p.error_code,
                p.high_watermark,
                bytes,
                offsets,
            )
        })
        .collect()
}

/// The fetches compared, each with what it must show besides matching.
fn cases() -> Vec<(&'static str, i32, Vec<Want>)> {
    let all = |max: i32| -> Vec<Want> { (0..PARTITIONS).map(|p| (p, 0, max, -1)).collect() };
    let mut oversized_first = all(16_000);
    oversized_first.rotate_left(1); // partition 1 (its first batch 40 KB) is asked first
    let mut after_a_failure = all(16_000);
    // The first partition asked for fails (a leader epoch from the future), so partition 1,
    // started ahead of it finishing, is the first with data: one whole batch, past its limit.
    after_a_failure[0].3 = 999;
    vec![
        // Room in max_bytes for more than FETCH_PARTITION_READS_IN_FLIGHT_MAX partitions of 1 MiB.
        ("everything fits", 50 << 20, all(1 << 20)),
        ("max_bytes runs out part way", 60_000, all(8_000)),
        (
            "the first batch is past its limit",
            100_000,
            oversized_first,
        ),
        (
            "one batch for the first with data",
            100_000,
            after_a_failure,
        ),
        (
            "mixed limits and offsets",
            50_000,
            (0..PARTITIONS)
                .map(|p| (p, i64::from(p % 4), [0, 3_000, 20_000][p as usize % 3], -1))
                .collect(),
        ),
    ]
}

#[test]
fn disk_fetches_with_reads_in_flight_answer_as_sequential_cache_reads_do() {
    let mut b = Broker::start("catchup", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "t", PARTITIONS);
    for p in 0..PARTITIONS {
        if p == 1 {
            produce(&mut c, "t", p, &[&vec![b'b'; BIG_BATCH_BYTES]]);
        }
        for n in 0..6usize {
            let size = 500 + (p as usize * 37 + n * 1_013) % 3_000;
            let values: Vec<Vec<u8>> = (0..3).map(|i| vec![b'a' + (i as u8); size]).collect();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            produce(&mut c, "t", p, &refs);
        }
    }
    let version = 11;
    let from_cache: Vec<_> = cases()
        .iter()
        .map(|(_, max, parts)| summary(&c.call(&fetch_of(*max, parts), version)))
        .collect();
    assert_eq!(b.metric_sum("sluice_fetch_reads_in_flight_peak", &[]), 0.0);

    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    for ((name, max, parts), cached) in cases().iter().zip(&from_cache) {
        let from_disk = summary(&c.call(&fetch_of(*max, parts), version));
        assert_eq!(&from_disk, cached, "{name}: disk and cache answers differ");
        let returned: usize = from_disk.iter().map(|p| p.3).sum();
        match *name {
            "everything fits" => assert!(from_disk.iter().all(|p| !p.4.is_empty())),
            "max_bytes runs out part way" => {
                assert!(returned <= *max as usize, "{returned}");
                assert!(from_disk.iter().any(|p| p.4.is_empty()), "budget ran out");
            }
            "the first batch is past its limit" | "one batch for the first with data" => {
                let p1 = from_disk.iter().find(|p| p.0 == 1).unwrap();
                assert_eq!(p1.4, vec![0], "partition 1: its one big batch");
                assert!(p1.3 > BIG_BATCH_BYTES);
            }
            _ => {}
        }
        if *name == "one batch for the first with data" {
            assert_ne!(from_disk[0].1, 0, "the first partition fails");
        }
    }
    let peak = |name: &str| b.metric_sum(name, &[]);
    // Metrics come from a snapshot taken every few hundred ms: wait for a fresh one.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while peak("sluice_fetch_reads_in_flight_peak") < FETCH_PARTITION_READS_IN_FLIGHT_MAX {
        assert!(std::time::Instant::now() < deadline, "no fresh snapshot");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        peak("sluice_fetch_reads_in_flight_peak"),
        FETCH_PARTITION_READS_IN_FLIGHT_MAX
    );
    assert_eq!(
        peak("sluice_catchup_reads_in_flight_peak"),
        CATCHUP_READS_IN_FLIGHT_MAX
    );
    let disk = peak("sluice_disk_reads_in_flight_peak");
    assert!(
        (CATCHUP_READS_IN_FLIGHT_MAX..=DISK_READS_IN_FLIGHT_MAX).contains(&disk),
        "{disk}"
    );
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(40));
}
