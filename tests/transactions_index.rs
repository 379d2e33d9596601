//! Transactions on disk, over raw TCP against the real binary: the per-segment `.txnindex`
//! (Kafka's 34-byte AbortedTxn entries) written as ABORT markers land, read at open (an entry
//! only the index knows is reported by read_committed Fetch), repaired after a crash lost its
//! last entry, rebuilt from the log when torn, and deleted with its segment by retention; and
//! a kill -9 while markers were written to only some of a transaction's partitions, finished by
//! the coordinator on restart.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod txn_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use harness::kafka::{create_topic, create_topic_with, Conn};
use harness::Broker;
use kafka_protocol::messages::*;
use txn_support::*;

const FLAGS: &[&str] = &["--cores", "2"];

/// One transaction of producer `p` on `topic`-0: added, `records` (first sequence, count),
/// committed or aborted.
fn one_txn(
    c: &mut Conn,
    boot: &mut Conn,
    id: &str,
    p: (i64, i16),
    topic: &str,
    (seq, n): (i32, usize),
    commit: bool,
) {
    assert_eq!(add_partitions(c, id, p, &[(topic, 0)], 3), vec![NONE]);
    assert_eq!(
        produce_raw(boot, Some(id), topic, 0, txn_batch(p, seq, n), 9),
        NONE
    );
    assert_eq!(end_txn(c, id, p, commit, 3), NONE);
}

/// Kafka's AbortedTxn entry: version 0, producer id, first offset, last offset, LSO.
fn entry(pid: i64, first: i64, last: i64, lso: i64) -> Vec<u8> {
    let mut e = 0i16.to_be_bytes().to_vec();
    for v in [pid, first, last, lso] {
        e.extend(v.to_be_bytes());
    }
    assert_eq!(e.len(), 34);
    e
}

fn txn_index(b: &Broker, topic: &str, base: i64) -> PathBuf {
    b.data_dir
        .join(format!("{topic}-0"))
        .join(format!("{base:020}.txnindex"))
}

#[test]
fn aborted_ranges_come_from_the_txnindex_across_kill_9() {
    let mut b = Broker::start("txn-index", FLAGS);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let id = "tx-index";
    let (mut c, p) = start_producer(&b, id, 60_000);
    let pid = p.0;
    // Aborted (data 0-1, marker 2), committed (3-4, 5), aborted (6-7, 8).
    one_txn(&mut c, &mut boot, id, p, "t", (0, 2), false);
    one_txn(&mut c, &mut boot, id, p, "t", (2, 2), true);
    one_txn(&mut c, &mut boot, id, p, "t", (4, 2), false);
    let path = txn_index(&b, "t", 0);
    // One entry per abort, in the segment holding its marker; the LSO after each marker is
    // the offset after it (nothing else open).
    let expected = [entry(pid, 0, 2, 3), entry(pid, 6, 8, 9)].concat();
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    let answer = (9, 9, vec![(pid, 0), (pid, 6)], 9);
    assert_eq!(fetch(&mut boot, "t", 0, true), answer);

    // kill -9: the ranges come back.
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(fetch(&mut boot, "t", 0, true), answer);
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    // Read from the index, not a rescan: a range only the index holds is reported.
    let mut forged = expected.clone();
    forged.extend(entry(4242, 3, 5, 9));
    std::fs::write(&path, &forged).unwrap();
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(
        fetch(&mut boot, "t", 0, true).2,
        vec![(pid, 0), (4242, 3), (pid, 6)]
    );

    // A crash lost the last entry (written after its marker was durable): the scan from the
    // previous entry's last stable offset finds the marker and appends the entry again.
    std::fs::write(&path, &expected[..34]).unwrap();
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(fetch(&mut boot, "t", 0, true), answer);
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    // A torn tail: the index is rebuilt from the whole log.
    let mut torn = expected.clone();
    torn.extend([7u8; 7]);
    std::fs::write(&path, &torn).unwrap();
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(fetch(&mut boot, "t", 0, true), answer);
    assert_eq!(std::fs::read(&path).unwrap(), expected);

    // The producer goes on; its next abort is appended.
    let mut c = coordinator(&b, id);
    let (e, pid2, epoch2) = init(&mut c, id, 60_000, (-1, -1), 3);
    assert_eq!((e, pid2), (NONE, pid));
    one_txn(&mut c, &mut boot, id, (pid, epoch2), "t", (0, 1), false);
    // Nothing was open, so InitProducerId wrote no marker: the new transaction's data is at
    // 9, its ABORT marker at 10.
    let (hw, lso, aborted, _) = fetch(&mut boot, "t", 0, true);
    assert_eq!((hw, lso), (11, 11));
    assert_eq!(aborted, vec![(pid, 0), (pid, 6), (pid, 9)]);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        [expected, entry(pid, 9, 10, 11)].concat()
    );
}

/// ListOffsets earliest of `topic`-0.
fn earliest(c: &mut Conn, topic: &str) -> i64 {
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let r = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-2)])]),
        5,
    );
    r.topics[0].partitions[0].offset
}

#[test]
fn retention_deletes_a_segments_txnindex_with_it() {
    let mut b = Broker::start(
        "txn-index-retention",
        &["--cores", "1", "--log-retention-check-interval-ms", "100"],
    );
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic_with(
        &mut boot,
        "r",
        1,
        &[("segment.bytes", "4096"), ("retention.bytes", "8192")],
    );
    let id = "tx-index-retention";
    let mut c = coordinator(&b, id);
    let (e, pid, epoch) = init(&mut c, id, 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    one_txn(&mut c, &mut boot, id, (pid, epoch), "r", (0, 2), false);
    let path = txn_index(&b, "r", 0);
    assert_eq!(std::fs::read(&path).unwrap(), entry(pid, 0, 2, 3));
    // Plain records roll segments until retention deletes the first one.
    let value = vec![b'x'; 1000];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut produced = 0;
    while earliest(&mut boot, "r") <= 2 {
        assert!(
            Instant::now() < deadline,
            "retention never deleted segment 0"
        );
        if produced < 40 {
            harness::kafka::produce(&mut boot, "r", 0, &[&value]);
            produced += 1;
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // The index went with its segment (removed in the same pass as the .log).
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} outlived its segment",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let start = earliest(&mut boot, "r");
    let fetch_from_start = |boot: &mut Conn| {
        let r = boot.call(
            &harness::kafka::fetch("r", &[(0, start)], 1 << 20, 0).with_isolation_level(1),
            11,
        );
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, NONE, "{p:?}");
        p.aborted_transactions.clone().unwrap_or_default().len()
    };
    assert_eq!(fetch_from_start(&mut boot), 0);
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(fetch_from_start(&mut boot), 0);
    assert!(!path.exists());
}

/// Batches in the first segment of a partition directory (walked by their lengths; the file
/// is padded with zeros to its 4 KiB blocks).
fn batches_in(b: &Broker, dir: &str) -> usize {
    let log = std::fs::read(b.data_dir.join(dir).join(format!("{:020}.log", 0))).unwrap();
    let mut at = 0usize;
    let mut n = 0;
    while let Some(len) = log.get(at + 8..at + 12) {
        let len = i32::from_be_bytes(len.try_into().unwrap());
        if len <= 0 {
            break;
        }
        n += 1;
        at += 12 + len as usize;
    }
    n
}

#[test]
fn a_crash_between_markers_is_finished_by_the_coordinator() {
    let mut b = Broker::start("txn-partial-markers", FLAGS);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "m", 2);
    let id = "tx-partial";
    let (mut c, p) = start_producer(&b, id, 60_000);
    let (pid, epoch) = p;
    assert_eq!(
        add_partitions(&mut c, id, p, &[("m", 0), ("m", 1)], 3),
        vec![NONE, NONE]
    );
    for part in 0..2 {
        assert_eq!(
            produce_raw(&mut boot, Some(id), "m", part, txn_batch(p, 0, 2), 9),
            NONE
        );
    }
    // The next start kills itself after m-0's COMMIT marker is durable, before m-1's.
    b.envs = vec![(
        "SLUICE_TEST_TXN_CRASH_AT".to_string(),
        "partial-markers".to_string(),
    )];
    b.crash_restart();
    let mut c = coordinator(&b, id);
    // The broker dies inside EndTxn: no answer comes.
    let _ = c.send(
        &EndTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(true),
        3,
    );
    let exited = b.wait_exit(Duration::from_secs(30));
    assert!(exited.is_some(), "the crash point was not reached");
    assert_eq!(
        (batches_in(&b, "m-0"), batches_in(&b, "m-1")),
        (2, 1),
        "m-0 got its marker, m-1 did not"
    );
    // Restart without the crash point: PREPARE_COMMIT is found, the markers re-sent.
    b.envs.clear();
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    let deadline = Instant::now() + Duration::from_secs(30);
    for part in 0..2 {
        loop {
            let (hw, lso, aborted, n) = fetch(&mut boot, "m", part, true);
            if lso == hw && lso >= 3 {
                assert_eq!(aborted, vec![], "partition {part}");
                // Two records and at least one COMMIT marker, none aborted.
                assert!(n >= 3, "partition {part}: {n}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "partition {part} never committed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // COMPLETE_COMMIT: the id describes as such and the producer can go on.
    let mut c = coordinator(&b, id);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = c.call(
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s(id))]),
            0,
        );
        let state = r.transaction_states[0].transaction_state.to_string();
        if state == "CompleteCommit" {
            break;
        }
        assert!(Instant::now() < deadline, "state stays {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        init(&mut c, id, 60_000, (-1, -1), 3),
        (NONE, pid, epoch + 1)
    );
}

/// DescribeProducers v0 of `topic`-0: (producer id, epoch, last sequence).
fn producers(c: &mut Conn, topic: &str) -> Vec<(i64, i16, i32)> {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    let r = c.call(
        &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(TopicName(s(topic)))
            .with_partition_indexes(vec![0])]),
        0,
    );
    let p = &r.topics[0].partitions[0];
    assert_eq!(p.error_code, NONE, "{p:?}");
    p.active_producers
        .iter()
        .map(|a| (a.producer_id.0, a.producer_epoch as i16, a.last_sequence))
        .collect()
}

fn snapshots(b: &Broker, topic: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(b.data_dir.join(format!("{topic}-0")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .collect();
    v.sort();
    v
}

#[test]
fn producer_state_comes_back_from_the_snapshot_and_a_torn_one_falls_back() {
    let mut b = Broker::start("producer-snapshot", &["--cores", "1"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic_with(&mut boot, "s", 1, &[("segment.bytes", "4096")]);
    let r = boot.call(
        &InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(-1)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
        4,
    );
    assert_eq!(r.error_code, NONE);
    let p1 = (r.producer_id.0, r.producer_epoch);
    // Six idempotent batches of ~1 KB (segments of three), then plain ones that roll on, so
    // the producer's last batch ends up in a sealed segment that recovery does not scan.
    for seq in 0..6 {
        let batch = idempotent_batch(p1, seq, 1, 1000);
        assert_eq!(produce_raw(&mut boot, None, "s", 0, batch, 9), NONE);
    }
    for _ in 0..4 {
        harness::kafka::produce(&mut boot, "s", 0, &[&[b'x'; 1000]]);
    }
    assert_eq!(producers(&mut boot, "s"), vec![(p1.0, p1.1, 5)]);
    // Snapshots are written in the background at each roll; the two newest are kept.
    let deadline = Instant::now() + Duration::from_secs(10);
    while snapshots(&b, "s").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no snapshots: {:?}",
            snapshots(&b, "s")
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(
        producers(&mut boot, "s"),
        vec![(p1.0, p1.1, 5)],
        "restored from the snapshot"
    );

    // Torn snapshots are ignored: open falls back to recovery's scan of the active segment,
    // which holds none of the producer's batches.
    b.kill9();
    for path in snapshots(&b, "s") {
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    }
    b.crash_restart();
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(producers(&mut boot, "s"), vec![]);
    // The broker serves on: the producer, unknown here now, is accepted as Kafka accepts one.
    let batch = idempotent_batch(p1, 6, 1, 10);
    assert_eq!(produce_raw(&mut boot, None, "s", 0, batch, 9), NONE);
}
