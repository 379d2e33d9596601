//! The log cleaner and transactions: records of an aborted transaction are removed and never
//! make the cleaner drop the committed value they would have replaced; nothing at or past the
//! last stable offset is cleaned while a transaction is open; a merged segment's `.txnindex`
//! files merge with it; markers of transactions with no data left go after
//! `delete.retention.ms`.
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
    read_log(conn).0
}

/// Every data record of `c`-0 (read_uncommitted) whose key starts with `k`, and the base
/// offsets of its control batches.
fn read_log(conn: &mut Conn) -> (Vec<(String, String)>, Vec<i64>) {
    let mut out = Vec::new();
    let mut controls = Vec::new();
    let mut offset = 0i64;
    for _ in 0..10_000 {
        let r = conn.call(&fetch_request("c", &[(0, offset)], 1 << 20, 0), 11);
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch at {offset}: {p:?}");
        let raw = p.records.clone().unwrap_or_default();
        controls.extend(control_batches(&raw));
        let d = sluice_client::records::decode_batches(raw).unwrap();
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
    (out, controls)
}

/// Base offsets of the control batches in `raw` (whole batches, walked by their lengths).
fn control_batches(raw: &[u8]) -> Vec<i64> {
    const CONTROL_FLAG: u8 = 0x20;
    let mut out = Vec::new();
    let mut at = 0usize;
    while let (Some(base), Some(len), Some(attributes)) = (
        raw.get(at..at + 8),
        raw.get(at + 8..at + 12),
        raw.get(at + 22),
    ) {
        if attributes & CONTROL_FLAG != 0 {
            out.push(i64::from_be_bytes(base.try_into().unwrap()));
        }
        at += 12 + i32::from_be_bytes(len.try_into().unwrap()).max(0) as usize;
    }
    out
}

/// A transactional producer of `id`: its coordinator connection and (id, epoch).
fn start_txn_producer(b: &Broker, id: &str) -> (Conn, (i64, i16)) {
    start_producer(b, id, 600_000)
}

/// One transaction of `p` writing `value` for `keys` of `c`-0, committed or aborted.
#[expect(clippy::too_many_arguments, reason = "a test helper naming each part")]
fn txn(
    c: &mut Conn,
    boot: &mut Conn,
    id: &str,
    p: (i64, i16),
    seq: i32,
    keys: &[String],
    value: &str,
    commit: Option<bool>,
) {
    assert_eq!(add_partitions(c, id, p, &[("c", 0)], 3), vec![NONE]);
    assert_eq!(
        produce_raw(
            boot,
            Some(id),
            "c",
            0,
            keyed(keys, value, txn_producer(p, seq)),
            9
        ),
        NONE
    );
    if let Some(commit) = commit {
        assert_eq!(end_txn(c, id, p, commit, 3), NONE);
    }
}

/// `rounds` batches of plain records rewriting keys `f0-*`..`f2-*`: they roll segments and
/// give the cleaner duplicates to remove.
fn fill(boot: &mut Conn, rounds: usize) {
    for i in 0..rounds {
        let fill: Vec<String> = (0..10).map(|j| format!("f{}-{j}", i % 3)).collect();
        assert_eq!(
            produce_raw(
                boot,
                None,
                "c",
                0,
                keyed(&fill, &"f".repeat(40), ProducerFields::NONE),
                9
            ),
            NONE
        );
    }
}

/// Filler records of `c`-0 as read_uncommitted sees them.
fn fillers(conn: &mut Conn) -> usize {
    let mut offset = 0i64;
    let mut n = 0;
    for _ in 0..10_000 {
        let r = conn.call(&fetch_request("c", &[(0, offset)], 1 << 20, 0), 11);
        let p = &r.responses[0].partitions[0];
        let d =
            sluice_client::records::decode_batches(p.records.clone().unwrap_or_default()).unwrap();
        n += d
            .records
            .iter()
            .filter(|r| r.key.as_ref().is_some_and(|k| k.starts_with(b"f")))
            .count();
        match d.next_offset {
            Some(next) if next > offset && next < p.high_watermark => offset = next,
            _ => break,
        }
    }
    n
}

fn wait_for_passes(b: &Broker, passes: f64) {
    // Shards publish their counters once a second: a pass may have ended before that.
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.metric_sum("sluice_log_cleaner_passes_total", &[]) < passes {
        assert!(
            Instant::now() < deadline,
            "fewer than {passes} cleaner passes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn compacted(c: &mut Conn, extra: &[(&str, &str)]) {
    let mut configs = vec![
        ("cleanup.policy", "compact"),
        ("segment.bytes", "4096"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ];
    configs.extend_from_slice(extra);
    create_topic_with(c, "c", 1, &configs);
}

#[test]
fn aborted_records_are_cleaned_away_and_superseded_nothing() {
    let b = Broker::start("compact-txn", FLAGS);
    let mut c = Conn::connect(b.shard_addr(0));
    compacted(&mut c, &[]);
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
    let (mut ca, a) = start_txn_producer(&b, "tx-aborted");
    txn(
        &mut ca,
        &mut c,
        "tx-aborted",
        a,
        0,
        &keys,
        "aborted",
        Some(false),
    );
    // Fillers roll all of it into sealed segments; the same keys rewritten keep the cleaner busy.
    fill(&mut c, 60);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = read_all(&mut c);
        if !log.iter().any(|(_, v)| v == "aborted") {
            let committed = log.iter().filter(|(_, v)| v == "committed").count();
            assert_eq!(
                committed, 10,
                "an aborted value superseded nothing: {log:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "aborted records never cleaned");
        std::thread::sleep(Duration::from_millis(100));
    }
    wait_for_passes(&b, 1.0);
    // With its data gone, the aborted range is no longer listed (Kafka drops its index entry
    // with the data); read_committed and read_uncommitted read the same.
    let (hw, lso, aborted, n) = fetch(&mut c, "c", 0, true);
    assert_eq!(hw, lso);
    assert_eq!(
        aborted,
        vec![],
        "nothing of the aborted transaction is left"
    );
    // (Record counts of the two isolation levels are not compared: the cleaner goes on with
    // the fillers between the two fetches.)
    assert!(n > 0);
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// Kafka bounds cleaning by the last stable offset: while a transaction is open, nothing at
/// or past its first offset is cleaned — its own records, and the duplicates written after
/// it too — though the cleaner runs below it; once it commits, cleaning goes on.
#[test]
fn nothing_at_or_past_the_last_stable_offset_is_cleaned() {
    let b = Broker::start("compact-txn-lso", FLAGS);
    let mut c = Conn::connect(b.shard_addr(0));
    compacted(&mut c, &[]);
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
    // Duplicates below the open transaction: a pass has work there.
    fill(&mut c, 30);
    let (mut co, o) = start_txn_producer(&b, "tx-open");
    txn(&mut co, &mut c, "tx-open", o, 0, &keys[..5], "open", None);
    let lso = fetch(&mut c, "c", 0, true).1;
    // Past the LSO: more duplicates, and newer plain values of the open transaction's keys.
    fill(&mut c, 30);
    assert_eq!(
        produce_raw(
            &mut c,
            None,
            "c",
            0,
            keyed(&keys[..5], "newer", ProducerFields::NONE),
            9
        ),
        NONE
    );
    fill(&mut c, 30);
    assert_eq!(
        fetch(&mut c, "c", 0, true).1,
        lso,
        "held by the open transaction"
    );
    let past_lso = |conn: &mut Conn| -> usize {
        let r = conn.call(&fetch_request("c", &[(0, lso)], 64 << 20, 0), 11);
        let p = &r.responses[0].partitions[0];
        let mut n = 0;
        let mut raw = p.records.clone().unwrap_or_default();
        // Only whole batches from the LSO on: count their records.
        while raw.len() >= 61 {
            let len = i32::from_be_bytes(raw[8..12].try_into().unwrap()) as usize;
            let count = i32::from_be_bytes(raw[57..61].try_into().unwrap());
            n += count.max(0) as usize;
            let step = (12 + len).min(raw.len());
            bytes::Buf::advance(&mut raw, step);
        }
        n
    };
    let before = past_lso(&mut c);
    // The cleaner cleans below the LSO meanwhile.
    let deadline = Instant::now() + Duration::from_secs(60);
    while fillers(&mut c) >= 30 * 10 + 60 * 10 {
        assert!(
            Instant::now() < deadline,
            "nothing below the LSO was cleaned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // That pass has ended (the old cleaner cleaned past the LSO in the same pass).
    wait_for_passes(&b, 1.0);
    let log = read_all(&mut c);
    assert_eq!(
        log.iter().filter(|(_, v)| v == "open").count(),
        5,
        "{log:?}"
    );
    assert_eq!(
        past_lso(&mut c),
        before,
        "every record at or past the LSO is still there"
    );
    // The transaction commits: its records are read_committed data, then superseded by the
    // newer plain values written after them, which the cleaner now may act on.
    assert_eq!(end_txn(&mut co, "tx-open", o, true, 3), NONE);
    let (hw, lso_after, _, _) = fetch(&mut c, "c", 0, true);
    assert_eq!(hw, lso_after);
    // One more batch rolls the segment holding the last fillers.
    fill(&mut c, 30);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let log = read_all(&mut c);
        if !log.iter().any(|(_, v)| v == "open") {
            let newer = log.iter().filter(|(_, v)| v == "newer").count();
            assert_eq!(newer, 5, "{log:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "past the old LSO nothing was cleaned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// `.txnindex` files of the segments a cleaning merges go with them (none stays behind),
/// read_committed still filters what is aborted after cleaning and across a restart, and the
/// markers of transactions the cleaner emptied go once `delete.retention.ms` has passed
/// (Kafka's two steps), while a marker whose transaction still has data stays.
#[test]
fn merged_txn_indexes_and_markers_of_emptied_transactions_go() {
    let mut b = Broker::start("compact-txn-index", FLAGS);
    let mut c = Conn::connect(b.shard_addr(0));
    compacted(&mut c, &[("delete.retention.ms", "200")]);
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let id = "tx-index";
    let (mut ct, p) = start_txn_producer(&b, id);
    // Two aborted transactions, a committed one, fillers between them rolling segments.
    txn(&mut ct, &mut c, id, p, 0, &keys, "aborted-1", Some(false));
    fill(&mut c, 20);
    txn(&mut ct, &mut c, id, p, 10, &keys, "aborted-2", Some(false));
    fill(&mut c, 20);
    txn(&mut ct, &mut c, id, p, 20, &keys, "committed", Some(true));
    fill(&mut c, 40);
    // A last abort in the active segment: its data stays, filtered by read_committed.
    txn(
        &mut ct,
        &mut c,
        id,
        p,
        30,
        &keys[..2],
        "aborted-3",
        Some(false),
    );
    let (_, controls) = read_log(&mut c);
    // Four markers were written; the cleaner, already at work, may have removed some.
    assert!((2..=4).contains(&controls.len()), "{controls:?}");
    let last_abort = *controls.last().unwrap();
    // (The cleaner may be at work already: the aborted ranges listed shrink as it goes.)
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (log, controls) = read_log(&mut c);
        let gone = !log
            .iter()
            .any(|(_, v)| v == "aborted-1" || v == "aborted-2");
        if gone && controls.len() == 2 {
            assert_eq!(log.iter().filter(|(_, v)| v == "committed").count(), 10);
            assert_eq!(log.iter().filter(|(_, v)| v == "aborted-3").count(), 2);
            assert_eq!(controls[1], last_abort, "the active segment's marker stays");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "emptied transactions' markers never went: {controls:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let check = |b: &Broker, c: &mut Conn| {
        let dir = b.data_dir.join("c-0");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        for n in names.iter().filter(|n| n.ends_with(".txnindex")) {
            let log = n.replace(".txnindex", ".log");
            assert!(names.contains(&log), "a stray {n}: {names:?}");
        }
        let (hw, lso, aborted, _) = fetch(c, "c", 0, true);
        assert_eq!(hw, lso);
        assert_eq!(
            aborted,
            vec![(p.0, last_abort - 2)],
            "only the last abort is listed"
        );
    };
    check(&b, &mut c);
    b.crash_restart();
    let mut c = Conn::connect(b.shard_addr(0));
    check(&b, &mut c);
    let log = read_all(&mut c);
    assert_eq!(log.iter().filter(|(_, v)| v == "committed").count(), 10);
    assert!(!log
        .iter()
        .any(|(_, v)| v == "aborted-1" || v == "aborted-2"));
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}
