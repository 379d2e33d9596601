//! Transactions over raw TCP: the fencing error codes per version (KIP-588), invalid timeouts
//! and states, KIP-890 part 1's refusal of a transactional produce to a partition not in the
//! transaction (per Produce version), the last stable offset and aborted transactions seen by
//! read_committed Fetch and ListOffsets, and a restart that finds a PREPARE_COMMIT without its
//! COMPLETE and finishes the commit.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod txn_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::kafka::{create_topic, Conn};
use harness::Broker;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::*;

use txn_support::*;

const FLAGS: &[&str] = &["--cores", "2"];

#[test]
fn fencing_timeouts_and_states_answer_per_version() {
    let b = Broker::start("txn-fencing", FLAGS);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 2);
    let id = "tx-fencing";
    let mut c = coordinator(&b, id);
    let (e, pid, epoch) = init(&mut c, id, 60_000, (-1, -1), 3);
    assert_eq!((e, epoch), (NONE, 0));
    assert!(pid >= 0);
    // A second producer with the id: same producer id, next epoch; the first is a zombie.
    assert_eq!(init(&mut c, id, 60_000, (-1, -1), 3), (NONE, pid, 1));
    let zombie = (pid, 0);
    // KIP-588: PRODUCER_FENCED from AddPartitionsToTxn v2 / EndTxn v2 / InitProducerId v4.
    assert_eq!(
        add_partitions(&mut c, id, zombie, &[("t", 0)], 1),
        vec![INVALID_PRODUCER_EPOCH]
    );
    assert_eq!(
        add_partitions(&mut c, id, zombie, &[("t", 0)], 2),
        vec![PRODUCER_FENCED]
    );
    assert_eq!(
        add_partitions(&mut c, id, zombie, &[("t", 0)], 3),
        vec![PRODUCER_FENCED]
    );
    assert_eq!(end_txn(&mut c, id, zombie, true, 1), INVALID_PRODUCER_EPOCH);
    assert_eq!(end_txn(&mut c, id, zombie, true, 3), PRODUCER_FENCED);
    assert_eq!(
        init(&mut c, id, 60_000, zombie, 3).0,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(init(&mut c, id, 60_000, zombie, 4).0, PRODUCER_FENCED);
    // transaction.timeout.ms must be within (0, transaction.max.timeout.ms].
    assert_eq!(
        init(&mut c, id, 0, (-1, -1), 3).0,
        INVALID_TRANSACTION_TIMEOUT
    );
    assert_eq!(
        init(&mut c, id, 900_001, (-1, -1), 3).0,
        INVALID_TRANSACTION_TIMEOUT
    );
    // Nothing to end.
    assert_eq!(end_txn(&mut c, id, (pid, 1), true, 3), INVALID_TXN_STATE);
    // An unknown partition fails alone; the others are not attempted (OPERATION_NOT_ATTEMPTED).
    assert_eq!(
        add_partitions(&mut c, id, (pid, 1), &[("t", 0), ("t", 9)], 3),
        vec![55, UNKNOWN_TOPIC_OR_PARTITION]
    );
    // DescribeTransactions (routed to the coordinator) and ListTransactions (this shard's).
    let r = boot.call(
        &DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![TransactionalId(s(id)), TransactionalId(s("nobody"))]),
        0,
    );
    let (known, unknown) = (&r.transaction_states[0], &r.transaction_states[1]);
    assert_eq!(known.error_code, NONE);
    assert_eq!(known.transaction_state.as_str(), "Empty");
    assert_eq!((known.producer_id.0, known.producer_epoch), (pid, 1));
    assert_eq!(unknown.error_code, 105, "TRANSACTIONAL_ID_NOT_FOUND");
    let list = |c: &mut Conn, states: &[&str]| {
        c.call(
            &ListTransactionsRequest::default()
                .with_state_filters(states.iter().map(|v| s(v)).collect())
                .with_duration_filter(-1),
            1,
        )
    };
    let r = list(&mut c, &[]);
    assert!(r
        .transaction_states
        .iter()
        .any(|t| t.transactional_id.0.as_str() == id && t.transaction_state.as_str() == "Empty"));
    let r = list(&mut c, &["Ongoing", "Nonsense"]);
    assert!(r.transaction_states.is_empty(), "{r:?}");
    assert_eq!(r.unknown_state_filters, vec![s("Nonsense")]);
    // TXN_PARTITIONS_MAX (10,000): a request naming more is refused whole.
    let many: Vec<i32> = (0..10_001).collect();
    let r = c.call(
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(TransactionalId(s(id)))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(1)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("t")))
                .with_partitions(many)]),
        3,
    );
    let codes = &r.results_by_topic_v3_and_below[0].results_by_partition;
    assert_eq!(codes.len(), 10_001);
    assert!(codes
        .iter()
        .all(|p| p.partition_error_code == INVALID_TXN_STATE));
    // Batched coordinator keys (v4+) for transactional ids.
    let r = boot.call(
        &FindCoordinatorRequest::default()
            .with_key_type(KEY_TYPE_TRANSACTION)
            .with_coordinator_keys(vec![s("a"), s("polygenelubricants")]),
        6,
    );
    assert_eq!(r.coordinators.len(), 2);
    assert!(r.coordinators.iter().all(|c| c.error_code == NONE), "{r:?}");
}

#[test]
fn unadded_partitions_are_refused_and_read_committed_stops_at_the_open_transaction() {
    let b = Broker::start("txn-kip890", FLAGS);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 1);
    let id = "tx-kip890";
    let (mut c, p) = start_producer(&b, id, 60_000);
    let pid = p.0;
    // KIP-890 part 1: not added yet.
    assert_eq!(
        produce_raw(&mut boot, Some(id), "t", 0, txn_batch(p, 0, 2), 9),
        INVALID_TXN_STATE
    );
    assert_eq!(
        produce_raw(&mut boot, Some(id), "t", 0, txn_batch(p, 0, 2), 11),
        TRANSACTION_ABORTABLE
    );
    assert_eq!(add_partitions(&mut c, id, p, &[("t", 0)], 3), vec![NONE]);
    assert_eq!(
        produce_raw(&mut boot, Some(id), "t", 0, txn_batch(p, 0, 2), 9),
        NONE
    );
    // A plain record after the open transaction.
    harness::kafka::produce(&mut boot, "t", 0, &[b"plain"]);
    assert_eq!(fetch(&mut boot, "t", 0, false), (3, 0, vec![], 3));
    assert_eq!(fetch(&mut boot, "t", 0, true), (3, 0, vec![], 0));
    assert_eq!(latest(&mut boot, "t", 0, false), 3);
    assert_eq!(latest(&mut boot, "t", 0, true), 0);
    // Abort: the marker at offset 3, everything stable, the aborted range reported.
    assert_eq!(end_txn(&mut c, id, p, false, 3), NONE);
    let (hw, lso, aborted, n) = fetch(&mut boot, "t", 0, true);
    assert_eq!((hw, lso, aborted), (4, 4, vec![(pid, 0)]));
    // Every batch is returned (the client drops the aborted ones), the marker's control record
    // included.
    assert_eq!(n, 4);
    assert_eq!(latest(&mut boot, "t", 0, true), 4);
    // The marker ended the transaction here: a further batch must be added again.
    assert_eq!(
        produce_raw(&mut boot, Some(id), "t", 0, txn_batch(p, 2, 1), 9),
        INVALID_TXN_STATE
    );
}

/// Java's String.hashCode, for the id's `__transaction_state` partition.
fn txn_partition(id: &str) -> i32 {
    let h = id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    (if h == i32::MIN { 0 } else { h.abs() }) % 50
}

/// Kafka's TransactionLog value v0 for a prepared commit of `parts` (all of one topic).
fn prepare_commit_value(p: (i64, i16), topic: &str, parts: &[i32]) -> Bytes {
    let mut v = Vec::new();
    v.extend(0i16.to_be_bytes());
    v.extend(p.0.to_be_bytes());
    v.extend(p.1.to_be_bytes());
    v.extend(60_000i32.to_be_bytes());
    v.push(2); // PrepareCommit
    v.extend(1i32.to_be_bytes());
    v.extend((topic.len() as i16).to_be_bytes());
    v.extend(topic.as_bytes());
    v.extend((parts.len() as i32).to_be_bytes());
    for p in parts {
        v.extend(p.to_be_bytes());
    }
    v.extend(1_700_000_000_000i64.to_be_bytes());
    v.extend(1_700_000_000_000i64.to_be_bytes());
    Bytes::from(v)
}

#[test]
fn a_restart_finishes_a_prepared_commit() {
    let mut b = Broker::start("txn-restart", FLAGS);
    let mut boot = Conn::connect(b.bootstrap_addr());
    create_topic(&mut boot, "t", 2);
    let id = "tx-restart";
    let (mut c, p) = start_producer(&b, id, 60_000);
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
    }
    // The coordinator "crashed" right after persisting PREPARE_COMMIT: write that record as it
    // would have, then kill the broker before any marker.
    let record = sluice_client::records::NewRecord {
        key: Some(Bytes::from(
            [
                &[0u8, 0][..],
                &(id.len() as i16).to_be_bytes(),
                id.as_bytes(),
            ]
            .concat(),
        )),
        value: Some(prepare_commit_value(p, "t", &[0, 1])),
        headers: Vec::new(),
        timestamp: 1_700_000_000_000,
    };
    let batch =
        sluice_client::records::encode_batch(&[record], sluice_client::records::Compression::None)
            .unwrap();
    // Kafka lets only its own admin client id write an internal topic.
    let mut admin = Conn::connect(b.bootstrap_addr()).with_client_id("__admin_client");
    assert_eq!(
        produce_raw(
            &mut admin,
            None,
            "__transaction_state",
            txn_partition(id),
            batch,
            9
        ),
        NONE
    );
    assert_eq!(
        fetch(&mut boot, "t", 0, true).1,
        0,
        "still open before the restart"
    );
    b.crash_restart();

    // Recovery rebuilds the open transactions; the coordinator sends the markers.
    let mut boot = Conn::connect(b.bootstrap_addr());
    let deadline = Instant::now() + Duration::from_secs(30);
    for part in 0..2 {
        loop {
            let (hw, lso, aborted, n) = fetch(&mut boot, "t", part, true);
            if lso == 3 {
                // Two records and the COMMIT marker's control record.
                assert_eq!((hw, aborted, n), (3, vec![], 3), "partition {part}");
                break;
            }
            assert_eq!(
                lso, 0,
                "partition {part}: stable only once the marker is in"
            );
            assert!(
                Instant::now() < deadline,
                "partition {part} never committed"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    // Completed: the producer's id can be initialised again (next epoch).
    let mut c = coordinator(&b, id);
    assert_eq!(
        init(&mut c, id, 60_000, (-1, -1), 3),
        (NONE, pid, epoch + 1)
    );
}
