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
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

const PARTITIONS: i32 = 24;
/// Fetch version of every request here (v11: topics named, not by id).
const FETCH_VERSION: i16 = 11;
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

/// What a response says of one partition: index, error, high watermark, bytes and offsets
/// returned.
type Summary = (i32, i16, i64, usize, Vec<i64>);

/// What a response says per partition.
fn summary(r: &FetchResponse) -> Vec<Summary> {
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

/// The fetches compared, each with what it must show besides matching; `ids[k]` is the k-th
/// partition of the topic they read (`ids[1]` starts with the big batch).
fn cases(ids: &[i32]) -> Vec<(&'static str, i32, Vec<Want>)> {
    assert_eq!(ids.len(), PARTITIONS as usize);
    let all = |max: i32| -> Vec<Want> { ids.iter().map(|&p| (p, 0, max, -1)).collect() };
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
                .map(|k| {
                    let p = ids[k as usize];
                    (p, i64::from(k % 4), [0, 3_000, 20_000][k as usize % 3], -1)
                })
                .collect(),
        ),
    ]
}

/// Writes the partitions `ids` (through `conns[k]`, a connection to the owner of `ids[k]`):
/// `ids[1]` starts with one big batch, then each gets six batches of three records.
fn fill(conns: &mut [Conn], ids: &[i32]) {
    for (k, &p) in ids.iter().enumerate() {
        let c = &mut conns[k];
        if k == 1 {
            produce(c, "t", p, &[&vec![b'b'; BIG_BATCH_BYTES]]);
        }
        for n in 0..6usize {
            let size = 500 + (k * 37 + n * 1_013) % 3_000;
            let values: Vec<Vec<u8>> = (0..3).map(|i| vec![b'a' + (i as u8); size]).collect();
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            produce(c, "t", p, &refs);
        }
    }
}

/// Fills the partitions `ids` through connections to `owner` (the shard that leads them), then
/// asks every case through `c` while all of it is in the tail cache: the answers the disk's
/// must equal. No fetch has read the disk yet.
fn fill_and_read_from_cache(
    b: &Broker,
    c: &mut Conn,
    ids: &[i32],
    owner: usize,
) -> Vec<Vec<Summary>> {
    let mut conns: Vec<Conn> = ids
        .iter()
        .map(|_| Conn::connect(b.shard_addr(owner)))
        .collect();
    fill(&mut conns, ids);
    drop(conns);
    let from_cache = cases(ids)
        .iter()
        .map(|(_, max, parts)| summary(&c.call(&fetch_of(*max, parts), FETCH_VERSION)))
        .collect();
    assert_eq!(b.metric_sum("sluice_fetch_reads_in_flight_peak", &[]), 0.0);
    from_cache
}

/// Asks each case of `from_cache` again (through `c`, after a restart: from disk) and checks
/// the answers are the same, and what each case must show.
fn check_from_disk(c: &mut Conn, ids: &[i32], from_cache: &[Vec<Summary>]) {
    for ((name, max, parts), cached) in cases(ids).iter().zip(from_cache) {
        let from_disk = summary(&c.call(&fetch_of(*max, parts), FETCH_VERSION));
        assert_eq!(&from_disk, cached, "{name}: disk and cache answers differ");
        let returned: usize = from_disk.iter().map(|p| p.3).sum();
        match *name {
            "everything fits" => assert!(from_disk.iter().all(|p| !p.4.is_empty())),
            "max_bytes runs out part way" => {
                assert!(returned <= *max as usize, "{returned}");
                assert!(from_disk.iter().any(|p| p.4.is_empty()), "budget ran out");
            }
            "the first batch is past its limit" | "one batch for the first with data" => {
                let p1 = from_disk.iter().find(|p| p.0 == ids[1]).unwrap();
                assert_eq!(p1.4, vec![0], "partition {}: its one big batch", ids[1]);
                assert!(p1.3 > BIG_BATCH_BYTES);
            }
            _ => {}
        }
        if *name == "one batch for the first with data" {
            assert_ne!(from_disk[0].1, 0, "the first partition fails");
        }
    }
}

/// Waits until `name` (of shard `shard`, from a fresh metrics snapshot) reaches `at_least`.
fn wait_for_metric(b: &Broker, name: &str, shard: &str, at_least: f64) -> f64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let v = b.metric_sum(name, &[("shard", shard)]);
        if v >= at_least {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: {v}, no fresh snapshot"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn disk_fetches_with_reads_in_flight_answer_as_sequential_cache_reads_do() {
    let mut b = Broker::start("catchup", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "t", PARTITIONS);
    let ids: Vec<i32> = (0..PARTITIONS).collect();
    let from_cache = fill_and_read_from_cache(&b, &mut c, &ids, 0);

    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    check_from_disk(&mut c, &ids, &from_cache);
    let peak = |name: &str| b.metric_sum(name, &[]);
    // Metrics come from a snapshot taken every few hundred ms: wait for a fresh one.
    wait_for_metric(
        &b,
        "sluice_fetch_reads_in_flight_peak",
        "0",
        FETCH_PARTITION_READS_IN_FLIGHT_MAX,
    );
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

/// A fetch sent to a shard that owns none of its partitions: the owner reads them from disk
/// several at once, and the answers are the ones it gave reading them one after another from
/// its tail cache.
#[test]
fn forwarded_disk_fetches_with_reads_in_flight_answer_as_sequential_cache_reads_do() {
    let mut b = Broker::start("catchup-forwarded", &["--cores", "2"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic(&mut c, "t", 2 * PARTITIONS);
    let md = c.call(
        &MetadataRequest::default().with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))])),
        12,
    );
    let mut ids: Vec<i32> = md.topics[0]
        .partitions
        .iter()
        .filter(|p| p.leader_id.0 == 1)
        .map(|p| p.partition_index)
        .collect();
    ids.sort_unstable();
    assert!(ids.len() >= PARTITIONS as usize, "shard 1 leads {ids:?}");
    ids.truncate(PARTITIONS as usize);
    // Asked of shard 0: every partition is forwarded to shard 1.
    let from_cache = fill_and_read_from_cache(&b, &mut c, &ids, 1);

    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let forwarded_before = b.metric_sum("sluice_forwarded_requests_total", &[("shard", "0")]);
    check_from_disk(&mut c, &ids, &from_cache);
    wait_for_metric(
        &b,
        "sluice_forwarded_requests_total",
        "0",
        forwarded_before + 1.0,
    );
    let peak = wait_for_metric(
        &b,
        "sluice_fetch_reads_in_flight_peak",
        "1",
        FETCH_PARTITION_READS_IN_FLIGHT_MAX,
    );
    assert_eq!(
        peak, FETCH_PARTITION_READS_IN_FLIGHT_MAX,
        "the owner's reads"
    );
    assert_eq!(
        b.metric_sum("sluice_fetch_reads_in_flight_peak", &[("shard", "0")]),
        0.0,
        "shard 0 owns none of them"
    );
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(40));
}
