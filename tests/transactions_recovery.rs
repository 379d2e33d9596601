//! Transactions across crashes and time, over raw TCP against the real binary: transactional
//! offsets (TxnOffsetCommit) kept in `__consumer_offsets` under the producer and settled by the
//! transaction's end even across kill -9; a transaction left open by a crash or a silent
//! producer aborted by the coordinator after its timeout (the producer fenced, read_committed
//! past it); idle transactional ids removed after `transactional.id.expiration.ms`; Produce to
//! internal topics refused as Kafka refuses it.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod txn_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::kafka::{create_topic, Conn};
use harness::loop_fs::{fill_disk, restart_on_small_disk};
use harness::Broker;
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::*;
use txn_support::*;

const INVALID_TOPIC_EXCEPTION: i16 = 17;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const UNSTABLE_OFFSET_COMMIT: i16 = 88;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;
const KAFKA_STORAGE_ERROR: i16 = 56;

/// Calls `f` until it answers something other than a retriable coordinator error (loading,
/// concurrent transactions), for up to 30 s.
fn retry(mut f: impl FnMut() -> i16) -> i16 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = f();
        if !matches!(e, COORDINATOR_LOAD_IN_PROGRESS | CONCURRENT_TRANSACTIONS)
            || Instant::now() > deadline
        {
            return e;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn add_offsets(c: &mut Conn, id: &str, p: (i64, i16), group: &str) -> i16 {
    c.call(
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_producer_id(ProducerId(p.0))
            .with_producer_epoch(p.1)
            .with_group_id(GroupId(s(group))),
        3,
    )
    .error_code
}

/// TxnOffsetCommit v3 of `offset` for `t`-0 in `group`; the partition's error code.
fn txn_commit(c: &mut Conn, id: &str, p: (i64, i16), group: &str, offset: i64) -> i16 {
    txn_commit_as(c, id, p, group, offset, (-1, ""))
}

/// [`txn_commit`] naming a group member: (generation, member id).
fn txn_commit_as(
    c: &mut Conn,
    id: &str,
    p: (i64, i16),
    group: &str,
    offset: i64,
    (generation, member): (i32, &str),
) -> i16 {
    let r = c.call(
        &TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(s(id)))
            .with_group_id(GroupId(s(group)))
            .with_producer_id(ProducerId(p.0))
            .with_producer_epoch(p.1)
            .with_generation_id(generation)
            .with_member_id(s(member))
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]),
        3,
    );
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch v7 (require_stable) of `t`-0 in `group`: (error code, committed offset).
fn fetch_offset(c: &mut Conn, group: &str) -> (i16, i64) {
    let r = c.call(
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_require_stable(true)
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes(vec![0])])),
        7,
    );
    if r.error_code != NONE {
        return (r.error_code, -1);
    }
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.committed_offset)
}

/// OffsetFetch after a restart: retried while the group's partition is still loading.
fn fetch_offset_loaded(b: &Broker, group: &str) -> (i16, i64) {
    let mut c = Conn::connect(b.bootstrap_addr());
    let mut out = (0, 0);
    retry(|| {
        out = fetch_offset(&mut c, group);
        out.0
    });
    out
}

#[test]
fn transactional_offsets_survive_a_crash_and_settle_with_the_transaction() {
    let mut b = Broker::start("txn-offsets-durable", &["--cores", "2"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let (id, group) = ("tx-offsets", "g-offsets");
    let (mut c, p) = start_producer(&b, id, 60_000);

    // Committed transaction, with a crash between TxnOffsetCommit and EndTxn.
    assert_eq!(add_offsets(&mut c, id, p, group), NONE);
    assert_eq!(txn_commit(&mut boot, id, p, group, 5), NONE);
    assert_eq!(
        fetch_offset(&mut boot, group),
        (UNSTABLE_OFFSET_COMMIT, -1),
        "pending until the transaction ends"
    );
    b.crash_restart();
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (UNSTABLE_OFFSET_COMMIT, -1),
        "still pending after the restart: the offsets were in the log"
    );
    let mut c = coordinator(&b, id);
    assert_eq!(retry(|| end_txn(&mut c, id, p, true, 3)), NONE);
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (NONE, 5),
        "visible on commit"
    );

    // Aborted transaction, same crash: the group keeps 5.
    assert_eq!(add_offsets(&mut c, id, p, group), NONE);
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(txn_commit(&mut boot, id, p, group, 9), NONE);
    b.crash_restart();
    assert_eq!(fetch_offset_loaded(&b, group), (UNSTABLE_OFFSET_COMMIT, -1));
    let mut c = coordinator(&b, id);
    assert_eq!(retry(|| end_txn(&mut c, id, p, false, 3)), NONE);
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (NONE, 5),
        "dropped on abort"
    );

    // Replay applies the committed one at its marker and drops the aborted one.
    b.restart();
    assert_eq!(fetch_offset_loaded(&b, group), (NONE, 5));
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// A plain OffsetCommit v8 (no member: a simple consumer's) of `offset` for `t`-0 in `group`.
fn plain_commit(c: &mut Conn, group: &str, offset: i64) -> i16 {
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    let r = c.call(
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])]),
        8,
    );
    r.topics[0].partitions[0].error_code
}

/// Order: a transactional offset commit whose COMMIT marker comes after a plain OffsetCommit
/// of the same partition must not overwrite it when the plain one was written later in the log
/// (Kafka compares the two records' log positions); one written before the transactional
/// record is overwritten by it. The same answer live (the marker path) and after a restart
/// (replay).
#[test]
fn a_plain_commit_written_after_a_transactional_one_wins_live_and_on_replay() {
    let mut b = Broker::start("txn-offsets-replay-order", &["--cores", "2"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let (id, group) = ("tx-replay-order", "g-replay-order");
    let (mut c, p) = start_producer(&b, id, 60_000);
    // Log: plain 3, transactional 5, plain 7, COMMIT marker.
    assert_eq!(plain_commit(&mut boot, group, 3), NONE);
    assert_eq!(add_offsets(&mut c, id, p, group), NONE);
    assert_eq!(txn_commit(&mut boot, id, p, group, 5), NONE);
    assert_eq!(plain_commit(&mut boot, group, 7), NONE);
    assert_eq!(
        fetch_offset(&mut boot, group),
        (UNSTABLE_OFFSET_COMMIT, -1),
        "the transaction is still open on the partition"
    );
    assert_eq!(retry(|| end_txn(&mut c, id, p, true, 3)), NONE);
    assert_eq!(
        fetch_offset(&mut boot, group),
        (NONE, 7),
        "live: the plain commit written after the transactional one wins"
    );
    b.restart();
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (NONE, 7),
        "the plain commit written after the transactional one wins"
    );
    // Log: ..., transactional 9, COMMIT marker: now the transaction's is the latest.
    let mut c = coordinator(&b, id);
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(retry(|| add_offsets(&mut c, id, p, group)), NONE);
    assert_eq!(txn_commit(&mut boot, id, p, group, 9), NONE);
    assert_eq!(retry(|| end_txn(&mut c, id, p, true, 3)), NONE);
    b.crash_restart();
    assert_eq!(fetch_offset_loaded(&b, group), (NONE, 9));
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// A transaction still open across a restart, whose offset a later plain commit superseded:
/// OffsetFetch with require_stable still answers UNSTABLE_OFFSET_COMMIT for the partition
/// until the transaction ends (Kafka tracks open transactions per partition), and its COMMIT
/// then leaves the plain offset in place.
#[test]
fn a_superseded_offset_of_an_open_transaction_stays_unstable_after_a_restart() {
    let mut b = Broker::start("txn-offsets-superseded", &["--cores", "2"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let (id, group) = ("tx-superseded", "g-superseded");
    let (mut c, p) = start_producer(&b, id, 60_000);
    assert_eq!(add_offsets(&mut c, id, p, group), NONE);
    assert_eq!(txn_commit(&mut boot, id, p, group, 5), NONE);
    assert_eq!(plain_commit(&mut boot, group, 7), NONE);
    b.crash_restart();
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (UNSTABLE_OFFSET_COMMIT, -1),
        "the open transaction's offset is pending after the restart, superseded or not"
    );
    let mut c = coordinator(&b, id);
    assert_eq!(retry(|| end_txn(&mut c, id, p, true, 3)), NONE);
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (NONE, 7),
        "the commit leaves the later plain offset"
    );
    b.restart();
    assert_eq!(
        fetch_offset_loaded(&b, group),
        (NONE, 7),
        "and so does replay"
    );
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

#[test]
fn txn_offset_commit_needs_add_offsets_to_txn() {
    let b = Broker::start("txn-offsets-unadded", &["--cores", "2"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let (id, group) = ("tx-unadded", "g-unadded");
    let mut c = coordinator(&b, id);
    let (e, pid, epoch) = init(&mut c, id, 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    assert_eq!(
        txn_commit(&mut boot, id, (pid, epoch), group, 3),
        INVALID_TXN_STATE,
        "the group's offsets partition is not in the transaction"
    );
    assert_eq!(fetch_offset(&mut boot, group), (NONE, -1));
}

#[test]
fn txn_offset_commit_checks_the_member_it_names() {
    const ILLEGAL_GENERATION: i16 = 22;
    let b = Broker::start("txn-offsets-member", &["--cores", "2"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let (id, group) = ("tx-member", "g-member");
    let (mut c, p) = start_producer(&b, id, 60_000);
    assert_eq!(retry(|| add_offsets(&mut c, id, p, group)), NONE);
    // Kafka 4: a generation on a group that does not exist is ILLEGAL_GENERATION; nothing is
    // staged.
    assert_eq!(
        txn_commit_as(&mut boot, id, p, group, 3, (5, "m-1")),
        ILLEGAL_GENERATION
    );
    assert_eq!(fetch_offset(&mut boot, group), (NONE, -1));
    // Without member fields the commit is staged, and visible once the transaction commits.
    assert_eq!(txn_commit(&mut boot, id, p, group, 3), NONE);
    assert_eq!(fetch_offset(&mut boot, group).0, UNSTABLE_OFFSET_COMMIT);
    assert_eq!(end_txn(&mut c, id, p, true, 3), NONE);
    assert_eq!(fetch_offset(&mut boot, group), (NONE, 3));
}

/// Waits until read_committed Fetch of `t`-`part` shows the last stable offset at the high
/// watermark; (high watermark, aborted transactions).
fn wait_stable(b: &Broker, part: i32) -> (i64, Vec<(i64, i64)>) {
    let mut c = Conn::connect(b.bootstrap_addr());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (hw, lso, aborted, _) = fetch(&mut c, "t", part, true);
        if lso == hw {
            return (hw, aborted);
        }
        assert!(
            Instant::now() < deadline,
            "partition {part}: last stable offset stuck at {lso}, high watermark {hw}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Flags: a short abort sweep, so a 1 s transaction timeout is acted on within ~1.2 s.
const SWEEP: &[&str] = &[
    "--cores",
    "2",
    "--transaction-abort-timed-out-transaction-cleanup-interval-ms",
    "200",
];

#[test]
fn a_transaction_left_open_is_aborted_after_its_timeout() {
    let b = Broker::start("txn-timeout", SWEEP);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 2);
    let id = "tx-timeout";
    let (mut c, p) = start_producer(&b, id, 1_000);
    let (pid, epoch) = p;
    assert_eq!(
        add_partitions(&mut c, id, p, &[("t", 0), ("t", 1)], 3),
        vec![NONE, NONE]
    );
    for part in 0..2 {
        assert_eq!(
            produce_raw(&mut boot, Some(id), "t", part, txn_batch(p, 0, 2), 9),
            NONE
        );
        assert_eq!(latest(&mut boot, "t", part, true), 0, "open: LSO held back");
    }
    // The producer goes silent; the coordinator aborts under a bumped epoch.
    for part in 0..2 {
        let (hw, aborted) = wait_stable(&b, part);
        assert_eq!((hw, aborted), (3, vec![(pid, 0)]), "partition {part}");
    }
    // The old producer is fenced (Kafka's transaction version 1 behaviour).
    assert_eq!(end_txn(&mut c, id, p, true, 3), PRODUCER_FENCED);
    assert_eq!(end_txn(&mut c, id, p, true, 1), INVALID_PRODUCER_EPOCH);
    assert_eq!(
        produce_raw(&mut boot, Some(id), "t", 0, txn_batch(p, 2, 1), 9),
        INVALID_TXN_STATE,
        "the aborted transaction's partitions take nothing more from it"
    );
    // A new producer of the id goes on, one epoch past the abort's.
    assert_eq!(
        init(&mut c, id, 60_000, (-1, -1), 3),
        (NONE, pid, epoch + 2)
    );
    let max = Broker::start(
        "txn-max-timeout",
        &["--cores", "1", "--transaction-max-timeout-ms", "5000"],
    );
    let mut c = coordinator(&max, "tx-max");
    assert_eq!(
        init(&mut c, "tx-max", 5_001, (-1, -1), 3).0,
        INVALID_TRANSACTION_TIMEOUT
    );
    assert_eq!(init(&mut c, "tx-max", 5_000, (-1, -1), 3).0, NONE);
}

#[test]
fn a_crash_before_end_txn_leaves_the_transaction_to_its_timeout() {
    let mut b = Broker::start("txn-crash-open", SWEEP);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 2);
    let id = "tx-crash-open";
    let (mut c, p) = start_producer(&b, id, 2_000);
    let pid = p.0;
    assert_eq!(
        add_partitions(&mut c, id, p, &[("t", 0), ("t", 1)], 3),
        vec![NONE, NONE]
    );
    for part in 0..2 {
        assert_eq!(
            produce_raw(&mut boot, Some(id), "t", part, txn_batch(p, 0, 3), 9),
            NONE
        );
    }
    b.crash_restart();
    // After the restart the transaction is open again (rebuilt from both logs), then aborted
    // by the restarted coordinator once its timeout has passed.
    for part in 0..2 {
        let (hw, aborted) = wait_stable(&b, part);
        assert_eq!((hw, aborted), (4, vec![(pid, 0)]), "partition {part}");
    }
    let mut c = coordinator(&b, id);
    assert_eq!(end_txn(&mut c, id, p, true, 3), PRODUCER_FENCED);
    // The producer starts over and commits; read_committed sees its records, the aborted
    // ones stay listed as aborted.
    let (e, pid2, epoch2) = init(&mut c, id, 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    let p2 = (pid2, epoch2);
    assert_eq!(add_partitions(&mut c, id, p2, &[("t", 0)], 3), vec![NONE]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    assert_eq!(
        produce_raw(&mut boot, Some(id), "t", 0, txn_batch(p2, 0, 2), 9),
        NONE
    );
    assert_eq!(end_txn(&mut c, id, p2, true, 3), NONE);
    let (hw, lso, aborted, _) = fetch(&mut boot, "t", 0, true);
    assert_eq!((hw, lso, aborted), (7, 7, vec![(pid, 0)]));
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

fn describe_state(c: &mut Conn, id: &str) -> (i16, String) {
    let r = c.call(
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s(id))]),
        0,
    );
    let t = &r.transaction_states[0];
    (t.error_code, t.transaction_state.to_string())
}

#[test]
fn idle_transactional_ids_expire() {
    let mut b = Broker::start(
        "txn-id-expiry",
        &[
            "--cores",
            "2",
            "--transactional-id-expiration-ms",
            "1000",
            "--transaction-remove-expired-transaction-cleanup-interval-ms",
            "200",
        ],
    );
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let (idle, busy) = ("tx-idle", "tx-busy");
    let mut ci = coordinator(&b, idle);
    let (e, idle_pid, _) = init(&mut ci, idle, 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    let mut cb = coordinator(&b, busy);
    let (e, pid, epoch) = init(&mut cb, busy, 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    assert_eq!(
        add_partitions(&mut cb, busy, (pid, epoch), &[("t", 0)], 3),
        vec![NONE]
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while describe_state(&mut ci, idle).0 != TRANSACTIONAL_ID_NOT_FOUND {
        assert!(Instant::now() < deadline, "the idle id never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        describe_state(&mut cb, busy),
        (NONE, "Ongoing".to_string()),
        "an open transaction's id does not expire"
    );
    // The tombstone holds across a restart; the id starts over with a new producer id.
    b.restart();
    let mut ci = coordinator(&b, idle);
    assert_eq!(
        retry(|| describe_state(&mut ci, idle).0),
        TRANSACTIONAL_ID_NOT_FOUND
    );
    let (e, new_pid, new_epoch) = init(&mut ci, idle, 60_000, (-1, -1), 3);
    assert_eq!(e, NONE);
    assert_ne!(new_pid, idle_pid, "a removed id gets a new producer id");
    assert_eq!(new_epoch, 0);
}

#[test]
fn clients_cannot_write_internal_topics() {
    let b = Broker::start("txn-internal-write", &["--cores", "1"]);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    // Creates both internal topics.
    let mut c = coordinator(&b, "tx-internal");
    assert_eq!(init(&mut c, "tx-internal", 60_000, (-1, -1), 3).0, NONE);
    let mut g = Conn::connect(b.bootstrap_addr());
    let r = g.call(
        &FindCoordinatorRequest::default().with_key(s("g-internal")),
        1,
    );
    assert_eq!(r.error_code, NONE);
    let batch = || {
        sluice_client::records::encode_batch(
            &[sluice_client::records::NewRecord {
                key: Some(bytes::Bytes::from_static(b"\0\x09junk")),
                value: Some(bytes::Bytes::from_static(b"junk")),
                headers: Vec::new(),
                timestamp: 1_700_000_000_000,
            }],
            sluice_client::records::Compression::None,
        )
        .unwrap()
    };
    for topic in ["__consumer_offsets", "__transaction_state"] {
        for version in [3, 9] {
            assert_eq!(
                produce_raw(&mut boot, None, topic, 0, batch(), version),
                INVALID_TOPIC_EXCEPTION,
                "{topic} v{version}"
            );
        }
    }
    assert_eq!(produce_raw(&mut boot, None, "t", 0, batch(), 9), NONE);
}

/// A transactional batch of `n` records of ~4 KiB each (sequence first, so each is distinct).
fn big_txn_batch(p: (i64, i16), seq: i32, n: usize) -> Bytes {
    producer_batch(p, seq, n, true, |s| {
        let mut v = format!("{s}:").into_bytes();
        v.resize(4096, b'x');
        Bytes::from(v)
    })
}

/// The values' sequence prefixes a read_committed consumer of `topic`-0 reads up to `end`,
/// the high watermark after a COMMIT marker (the last offset).
fn read_committed_values(c: &mut Conn, topic: &str, end: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < end {
        let before = offset;
        let r = c.call(
            &harness::kafka::fetch(topic, &[(0, offset)], 1 << 20, 0).with_isolation_level(1),
            11,
        );
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, NONE, "{p:?}");
        let records = harness::kafka::decode_records(p.records.clone());
        assert!(!records.is_empty(), "no progress at offset {offset}");
        // The COMMIT marker takes the last offset: only data before it.
        for (o, _, v) in records.into_iter().filter(|r| r.0 < end - 1) {
            let v = v.unwrap();
            let prefix = v.split(|b| *b == b':').next().unwrap();
            out.push(String::from_utf8(prefix.to_vec()).unwrap());
            offset = o + 1;
        }
        if offset >= end - 1 {
            break;
        }
        assert!(offset > before, "no data read at offset {before}");
    }
    out
}

/// A real storage failure in the middle of a transaction: the partition's disk (a loop-mounted
/// ext4) fills and its produce is refused (KAFKA_STORAGE_ERROR); once space returns the open
/// transaction's next batch is accepted, the transaction commits, and read_committed sees
/// every record of it.
#[test]
fn a_transaction_goes_on_across_a_full_disk() {
    let mut b = Broker::start("txn-disk-full", &["--cores", "1"]);
    let Some(_fs) = restart_on_small_disk(&mut b, 24) else {
        return;
    };
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let id = "tx-disk-full";
    let (mut c, p) = start_producer(&b, id, 300_000);
    assert_eq!(add_partitions(&mut c, id, p, &[("t", 0)], 3), vec![NONE]);
    let mut data = Conn::connect(b.shard_addr(0));
    let mut seq = 0i32;
    assert_eq!(
        produce_raw(&mut data, Some(id), "t", 0, big_txn_batch(p, seq, 2), 9),
        NONE
    );
    seq += 2;
    let filler = fill_disk(&b.data_dir);
    let mut refused = false;
    for _ in 0..256 {
        match produce_raw(&mut data, Some(id), "t", 0, big_txn_batch(p, seq, 2), 9) {
            NONE => seq += 2,
            KAFKA_STORAGE_ERROR => {
                refused = true;
                break;
            }
            other => panic!("only success or KAFKA_STORAGE_ERROR while the disk fills: {other}"),
        }
    }
    assert!(refused, "a full disk refuses the produce");
    assert!(b.is_running(), "the broker stays up");
    // Space returns: the partition is reopened and the same batch goes through.
    std::fs::remove_file(&filler).expect("remove filler");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match produce_raw(&mut data, Some(id), "t", 0, big_txn_batch(p, seq, 2), 9) {
            NONE => break,
            KAFKA_STORAGE_ERROR => {
                assert!(Instant::now() < deadline, "writes never resumed");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => panic!("the open transaction's batch after the reopen: error {other}"),
        }
    }
    seq += 2;
    // Not asserted: that the log was fenced and `Partition::reopened` ran. A full disk here
    // refused the batch (KAFKA_STORAGE_ERROR) without the broker logging a reopen, so this
    // test covers a transaction across a full disk, not yet the reopen path itself.
    assert_eq!(
        produce_raw(&mut data, Some(id), "t", 0, big_txn_batch(p, seq, 2), 9),
        NONE
    );
    seq += 2;
    let (hw, lso, _, _) = fetch(&mut data, "t", 0, true);
    assert!(lso < hw, "open transaction: read_committed stops before it");
    assert_eq!(retry(|| end_txn(&mut c, id, p, true, 3)), NONE);
    let (hw, lso, aborted, _) = fetch(&mut data, "t", 0, true);
    assert_eq!(
        (lso, hw),
        (hw, i64::from(seq) + 1),
        "records plus the COMMIT marker"
    );
    assert!(aborted.is_empty());
    assert_eq!(
        read_committed_values(&mut data, "t", lso),
        (0..seq).map(|s| format!("{s}")).collect::<Vec<_>>(),
        "every record of the transaction, once, in order"
    );
    b.stop();
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}
