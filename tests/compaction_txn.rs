//! The log cleaner and transactions: records of an aborted transaction are removed and never
//! make the cleaner drop the committed value they would have replaced; records of an open
//! transaction are left alone; markers stay.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod txn_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::kafka::{create_topic_with, fetch as fetch_request, Conn};
use harness::Broker;
use sluice_client::records::{encode_batch_as, Compression, NewRecord, ProducerFields};
use txn_support::*;

const FLAGS: &[&str] = &["--cores", "1", "--log-cleaner-backoff-ms", "50"];

/// One batch of `keys` with `value`, from `producer` (transactional when its id is set).
fn keyed(keys: &[String], value: &str, producer: ProducerFields) -> Bytes {
    let records: Vec<NewRecord> = keys
        .iter()
        .map(|k| NewRecord {
            key: Some(Bytes::from(k.clone())),
            value: Some(Bytes::from(value.to_string())),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000,
        })
        .collect();
    encode_batch_as(&records, Compression::None, producer).unwrap()
}

fn txn_producer(p: (i64, i16), seq: i32) -> ProducerFields {
    ProducerFields {
        id: p.0,
        epoch: p.1,
        base_sequence: seq,
        transactional: true,
    }
}

/// Every data record of `c`-0 (read_uncommitted): (key, value).
fn read_all(conn: &mut Conn) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    for _ in 0..10_000 {
        let r = conn.call(&fetch_request("c", &[(0, offset)], 1 << 20, 0), 11);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch at {offset}: {p:?}");
        let d =
            sluice_client::records::decode_batches(p.records.clone().unwrap_or_default()).unwrap();
        for r in d.records {
            let (Some(k), Some(v)) = (r.key, r.value) else {
                continue;
            };
            let k = String::from_utf8_lossy(&k).into_owned();
            if k.starts_with('k') {
                out.push((k, String::from_utf8_lossy(&v).into_owned()));
            }
        }
        match d.next_offset {
            Some(next) if next > offset => offset = next,
            _ => break,
        }
        if offset >= p.high_watermark {
            break;
        }
    }
    out
}

#[test]
fn aborted_records_are_cleaned_away_and_open_ones_kept() {
    let b = Broker::start("compact-txn", FLAGS);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(
        &mut c,
        "c",
        1,
        &[
            ("cleanup.policy", "compact"),
            ("segment.bytes", "4096"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ],
    );
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    assert_eq!(
        produce_raw(
            &mut c,
            None,
            "c",
            0,
            keyed(&keys, "committed", ProducerFields::NONE),
            9
        ),
        NONE
    );
    // Aborted: a newer value of every key, never to be seen.
    let mut ca = coordinator(&b, "tx-aborted");
    let (e, pid, epoch) = init(&mut ca, "tx-aborted", 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    let a = (pid, epoch);
    assert_eq!(
        add_partitions(&mut ca, "tx-aborted", a, &[("c", 0)], 3),
        vec![NONE]
    );
    assert_eq!(
        produce_raw(
            &mut c,
            Some("tx-aborted"),
            "c",
            0,
            keyed(&keys, "aborted", txn_producer(a, 0)),
            9
        ),
        NONE
    );
    assert_eq!(end_txn(&mut ca, "tx-aborted", a, false, 3), NONE);
    // Open: a newer value of k0..k4, its fate undecided while the cleaner runs.
    let mut co = coordinator(&b, "tx-open");
    let (e, pid, epoch) = init(&mut co, "tx-open", 600_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    let o = (pid, epoch);
    assert_eq!(
        add_partitions(&mut co, "tx-open", o, &[("c", 0)], 3),
        vec![NONE]
    );
    assert_eq!(
        produce_raw(
            &mut c,
            Some("tx-open"),
            "c",
            0,
            keyed(&keys[..5], "open", txn_producer(o, 0)),
            9
        ),
        NONE
    );
    // Fillers roll all of it into sealed segments; the same keys rewritten keep the cleaner busy.
    for i in 0..60 {
        let fill: Vec<String> = (0..10).map(|j| format!("f{}-{j}", i % 3)).collect();
        assert_eq!(
            produce_raw(
                &mut c,
                None,
                "c",
                0,
                keyed(&fill, &"f".repeat(40), ProducerFields::NONE),
                9
            ),
            NONE
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = read_all(&mut c);
        if !log.iter().any(|(_, v)| v == "aborted") {
            let committed = log.iter().filter(|(_, v)| v == "committed").count();
            let open = log.iter().filter(|(_, v)| v == "open").count();
            assert_eq!(
                committed, 10,
                "an aborted value superseded nothing: {log:?}"
            );
            assert_eq!(open, 5, "an open transaction's records stay: {log:?}");
            break;
        }
        assert!(Instant::now() < deadline, "aborted records never cleaned");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Shards publish their counters once a second: the pass may have ended before that.
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.metric_sum("sluice_log_cleaner_passes_total", &[]) < 1.0 {
        assert!(Instant::now() < deadline, "no cleaner pass counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The open transaction commits after cleaning: its records are read_committed data.
    assert_eq!(end_txn(&mut co, "tx-open", o, true, 3), NONE);
    let (hw, lso, aborted, _) = fetch(&mut c, "c", 0, true);
    assert_eq!(hw, lso);
    assert_eq!(
        aborted.len(),
        1,
        "the aborted range is still listed: {aborted:?}"
    );
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}
