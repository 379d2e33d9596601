//! Log compaction end to end against the real binary: a compacted topic read from offset 0
//! after the cleaner ran holds exactly the latest value of every key, offsets ascending;
//! tombstones stay for `delete.retention.ms` and then go; a small key map
//! (`--log-cleaner-dedupe-buffer-size`) cleans in several passes; kill -9 at every step of a
//! cleaned segment's swap loses nothing and leaves no mix of old and new.
//!
//! Readiness is polled with a bounded timeout (the log read back, the cleaner's metrics),
//! never slept for.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::kafka::{create_topic_with, fetch, Conn};
use harness::Broker;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use sluice_client::records::{encode_batch, Compression, NewRecord};

/// Bounded wait for the cleaner.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

/// The broker flags of every test here: one shard, the cleaner looking every 50 ms.
const FLAGS: &[&str] = &["--cores", "1", "--log-cleaner-backoff-ms", "50"];

/// (key, value) — value None is a tombstone.
type Rec = (String, Option<String>);

/// Produce one batch of `records` with acks=all; must be appended.
fn produce(conn: &mut Conn, topic: &str, records: &[Rec], compression: Compression) {
    let batch: Vec<NewRecord> = records
        .iter()
        .map(|(k, v)| NewRecord {
            key: Some(Bytes::from(k.clone())),
            value: v.clone().map(Bytes::from),
            headers: Vec::new(),
            timestamp: sluice_now_ms(),
        })
        .collect();
    let r = conn.call(
        &ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(encode_batch(&batch, compression).unwrap()))])]),
        9,
    );
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "{p:?}");
}

fn sluice_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Every record of partition 0 from offset 0 to the high watermark: (offset, key, value).
fn read_all(conn: &mut Conn, topic: &str) -> Vec<(i64, String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    for _ in 0..10_000 {
        let r = conn.call(&fetch(topic, &[(0, offset)], 1 << 20, 0), 11);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch at {offset}: {p:?}");
        let bytes = p.records.clone().unwrap_or_default();
        let d = sluice_client::records::decode_batches(bytes).unwrap();
        for c in d.records {
            let key = String::from_utf8(c.key.unwrap().to_vec()).unwrap();
            let value = c.value.map(|v| String::from_utf8(v.to_vec()).unwrap());
            out.push((c.offset, key, value));
        }
        match d.next_offset {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
        if offset >= p.high_watermark {
            break;
        }
    }
    let offsets: Vec<i64> = out.iter().map(|r| r.0).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets ascend: {offsets:?}"
    );
    out
}

/// Whether `log` holds exactly one record per key of `latest`, with its latest value (and
/// nothing else); tombstoned keys (None) must be present as a tombstone when `tombstones`,
/// absent otherwise.
fn exactly_latest(
    log: &[(i64, String, Option<String>)],
    latest: &BTreeMap<String, Option<String>>,
    tombstones: bool,
) -> Result<(), String> {
    let mut seen: BTreeMap<&str, &Option<String>> = BTreeMap::new();
    for (offset, k, v) in log {
        if seen.insert(k, v).is_some() {
            return Err(format!("key {k} twice (again at {offset})"));
        }
    }
    for (k, v) in latest {
        match (seen.get(k.as_str()), v) {
            (Some(got), want) if *got == want && (want.is_some() || tombstones) => {}
            (None, None) if !tombstones => {}
            (got, want) => return Err(format!("key {k}: got {got:?}, want {want:?}")),
        }
    }
    if seen.len()
        != latest
            .iter()
            .filter(|(_, v)| v.is_some() || tombstones)
            .count()
    {
        return Err(format!("{} keys read, not the expected set", seen.len()));
    }
    Ok(())
}

/// Every latest value of `latest` is in `log` (nothing that must be kept is lost), whatever
/// else is still there.
fn nothing_lost(log: &[(i64, String, Option<String>)], latest: &BTreeMap<String, Option<String>>) {
    let mut last: BTreeMap<&str, &Option<String>> = BTreeMap::new();
    for (_, k, v) in log {
        last.insert(k, v);
    }
    for (k, v) in latest {
        assert_eq!(
            last.get(k.as_str()).copied(),
            Some(v),
            "latest value of {k}"
        );
    }
}

/// Poll `read_all` until `check` passes, within [`WAIT`]; the last error otherwise.
fn wait_for(
    conn: &mut Conn,
    topic: &str,
    check: impl Fn(&[(i64, String, Option<String>)]) -> Result<(), String>,
) {
    let deadline = Instant::now() + WAIT;
    let mut why = String::new();
    while Instant::now() < deadline {
        let log = read_all(conn, topic);
        match check(&log) {
            Ok(()) => return,
            Err(e) => why = e,
        }
        std::thread::sleep(POLL);
    }
    panic!("not compacted within {WAIT:?}: {why}");
}

/// `rounds` updates of keys `k0..k{keys}`, one batch of `per_batch` records at a time (in
/// round order), the last round's first `tombstones` keys deleted; then `fillers` records of
/// unique keys so that all of it lies in sealed segments. Returns each key's latest value.
fn write_updates(
    conn: &mut Conn,
    topic: &str,
    keys: usize,
    rounds: usize,
    tombstones: usize,
    compression: Compression,
) -> BTreeMap<String, Option<String>> {
    let mut latest = BTreeMap::new();
    for round in 0..rounds {
        let recs: Vec<Rec> = (0..keys)
            .map(|k| {
                let value = if round + 1 == rounds && k < tombstones {
                    None
                } else {
                    Some(format!("k{k}-round{round}-{}", "x".repeat(40)))
                };
                (format!("k{k}"), value)
            })
            .collect();
        for chunk in recs.chunks(10) {
            produce(conn, topic, chunk, compression);
        }
        for (k, v) in recs {
            latest.insert(k, v);
        }
    }
    // Fillers: unique keys, enough to roll past everything above.
    for i in 0..40 {
        let recs: Vec<Rec> = (0..10)
            .map(|j| (format!("filler-{i}-{j}"), Some("f".repeat(40))))
            .collect();
        produce(conn, topic, &recs, Compression::None);
        for (k, v) in recs {
            latest.insert(k, v);
        }
    }
    latest
}

fn alter_topic(conn: &mut Conn, topic: &str, name: &str, value: &str) {
    let r = conn.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(StrBytes::from_string(topic.to_string()))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(StrBytes::from_string(name.to_string()))
                    .with_config_operation(0)
                    .with_value(Some(StrBytes::from_string(value.to_string())))]),
        ]),
        1,
    );
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0]);
}

/// Compacted topics' settings for the tests: 4 KiB segments (the smallest), any dirt cleans.
const COMPACT: &[(&str, &str)] = &[
    ("cleanup.policy", "compact"),
    ("segment.bytes", "4096"),
    ("min.cleanable.dirty.ratio", "0.01"),
];

#[test]
fn a_compacted_topic_reads_back_the_latest_value_per_key() {
    let b = Broker::start("compact-latest", FLAGS);
    let mut c = Conn::connect(b.shard_addr(0));
    // Tombstones kept (an hour of delete.retention.ms) on one topic, removed at once on the
    // other; compressed batches on the second, cleaned and compressed again.
    let kept: Vec<(&str, &str)> = COMPACT
        .iter()
        .copied()
        .chain([("delete.retention.ms", "3600000")])
        .collect();
    create_topic_with(&mut c, "kept", 1, &kept);
    let gone: Vec<(&str, &str)> = COMPACT
        .iter()
        .copied()
        .chain([("delete.retention.ms", "0")])
        .collect();
    create_topic_with(&mut c, "gone", 1, &gone);
    let latest_kept = write_updates(&mut c, "kept", 40, 15, 5, Compression::None);
    let latest_gone = write_updates(&mut c, "gone", 40, 15, 5, Compression::Lz4);
    wait_for(&mut c, "kept", |log| {
        exactly_latest(log, &latest_kept, true)
    });
    wait_for(&mut c, "gone", |log| {
        exactly_latest(log, &latest_gone, false)
    });
    assert!(b.metric_sum("sluice_log_cleaner_passes_total", &[]) >= 2.0);
    assert!(b.metric_sum("sluice_log_cleaner_bytes_read_total", &[]) > 0.0);
    assert!(b.metric_sum("sluice_log_cleaner_bytes_reclaimed_total", &[]) > 0.0);
    // The cleaned log is what a restart opens: the same records, the gaps recovered as such.
    let before = read_all(&mut c, "kept");
    let mut b = b;
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    assert_eq!(read_all(&mut c, "kept"), before);
}

#[test]
fn a_delete_topic_is_never_compacted_and_compact_delete_is() {
    let b = Broker::start("compact-policy", FLAGS);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(
        &mut c,
        "plain",
        1,
        &[
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let both: Vec<(&str, &str)> = COMPACT
        .iter()
        .copied()
        .map(|(k, v)| {
            if k == "cleanup.policy" {
                (k, "compact,delete")
            } else {
                (k, v)
            }
        })
        .collect();
    create_topic_with(&mut c, "both", 1, &both);
    let latest = write_updates(&mut c, "both", 20, 10, 0, Compression::None);
    write_updates(&mut c, "plain", 20, 10, 0, Compression::None);
    wait_for(&mut c, "both", |log| exactly_latest(log, &latest, true));
    assert_eq!(
        read_all(&mut c, "plain").len(),
        20 * 10 + 400,
        "delete policy keeps every record"
    );
}

/// `--log-cleaner-dedupe-buffer-size` 1 KiB maps 32 keys a pass: 300 keys clean in passes,
/// and the result is the same.
#[test]
fn a_full_key_map_cleans_in_several_passes() {
    let mut flags = FLAGS.to_vec();
    flags.extend(["--log-cleaner-dedupe-buffer-size", "1024"]);
    let b = Broker::start("compact-passes", &flags);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, COMPACT);
    let latest = write_updates(&mut c, "t", 300, 4, 0, Compression::None);
    wait_for(&mut c, "t", |log| exactly_latest(log, &latest, true));
    assert!(
        b.metric_sum("sluice_log_cleaner_map_full_passes_total", &[]) >= 1.0,
        "the key map limit was hit"
    );
    assert!(b.metric_sum("sluice_log_cleaner_passes_total", &[]) >= 3.0);
}

/// kill -9 at each step of a cleaning swap (the broker kills itself there, through a test-only
/// switch), restart: every latest value is there at once, and the log compacts to exactly
/// the latest values.
#[test]
fn kill_9_during_a_cleaning_swap_loses_nothing() {
    for point in ["cleaned", "manifest", "swap", "checkpoint"] {
        let mut b = Broker::start(&format!("compact-crash-{point}"), FLAGS);
        let mut c = Conn::connect(b.shard_addr(0));
        // Nothing is cleanable until the lag is lowered: the data goes in whole first.
        let mut configs = COMPACT.to_vec();
        configs.push(("min.compaction.lag.ms", "3600000"));
        create_topic_with(&mut c, "t", 1, &configs);
        let latest = write_updates(&mut c, "t", 30, 10, 3, Compression::Gzip);
        b.envs = vec![("SLUICE_TEST_CLEANER_CRASH_AT".into(), point.into())];
        b.restart();
        let mut c = Conn::connect(b.shard_addr(0));
        alter_topic(&mut c, "t", "min.compaction.lag.ms", "0");
        let status = b.wait_exit(WAIT);
        assert!(
            status.is_some(),
            "{point}: the broker did not stop at the crash point"
        );
        assert!(
            b.stderr_text().contains("SLUICE_TEST_CLEANER_CRASH_AT"),
            "{point}: stopped elsewhere:\n{}",
            b.stderr_tail(30)
        );
        // Restarted with the cleaner off first: recovery alone must leave old or new whole.
        b.envs.clear();
        b.extra_args
            .extend(["--log-cleaner-enable".into(), "false".into()]);
        b.crash_restart();
        let leftovers: Vec<String> = std::fs::read_dir(b.data_dir.join("t-0"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(leftovers.is_empty(), "{point}: {leftovers:?}");
        let recovered = match point {
            "cleaned" => "removing an uncommitted cleaner file",
            "manifest" | "swap" => "finishing an interrupted cleaner swap",
            _ => "",
        };
        assert!(
            b.stderr_text().contains(recovered),
            "{point}: recovery did not say {recovered:?}"
        );
        let mut c = Conn::connect(b.shard_addr(0));
        let log = read_all(&mut c, "t");
        nothing_lost(&log, &latest);
        // Then with it on: the log compacts to exactly the latest values.
        b.extra_args.truncate(b.extra_args.len() - 2);
        b.restart();
        let mut c = Conn::connect(b.shard_addr(0));
        wait_for(&mut c, "t", |log| exactly_latest(log, &latest, true));
    }
}
