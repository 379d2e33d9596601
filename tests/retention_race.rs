//! Retention deleting sealed segments while readers open them: the broker stays up and keeps
//! answering. glommio 0.9's open stats the path after opening it and panics if the file was
//! unlinked in between, so retention (like the cleaner's swap) unlinks a segment only while no
//! open of a sealed file of that log is under way (`log::file_moves`); a read that then finds its
//! segment gone reads again from the new segment map, without calling the segment's index
//! files unusable (they went with it).
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::kafka::{create_topic_with, decode_records, fetch, produce, Conn};
use harness::Broker;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, ListOffsetsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

const OFFSET_OUT_OF_RANGE: i16 = 1;
/// Batches the producer writes: 1 KB each, ~3 per 4 KiB segment, so ~130 segments roll and
/// almost all of them are deleted by retention (8 KiB) while the readers read.
const BATCHES: usize = 400;
const READERS: usize = 3;
/// Every loop here ends by this deadline at the latest.
const DEADLINE: Duration = Duration::from_secs(90);

/// ListOffsets (v7) of `timestamp` on `topic`-0: (error, offset).
fn list(c: &mut Conn, topic: &str, timestamp: i64) -> (i16, i64) {
    let r = c.call(
        &ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(timestamp)
                    .with_current_leader_epoch(-1)])]),
        7,
    );
    let p = &r.topics[0].partitions[0];
    (p.error_code, p.offset)
}

#[test]
fn retention_deleting_segments_under_readers_keeps_the_broker_up() {
    let b = Broker::start(
        "retention-race",
        &[
            "--cores",
            "1",
            // Every read goes to the segment files, none is served from memory.
            "--tail-cache-bytes",
            "1",
            "--log-retention-check-interval-ms",
            "10",
        ],
    );
    let addr = b.shard_addr(0);
    let topic = "race";
    create_topic_with(
        &mut Conn::connect(addr),
        topic,
        1,
        &[("segment.bytes", "4096"), ("retention.bytes", "8192")],
    );
    let done = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + DEADLINE;
    let readers: Vec<_> = (0..READERS)
        .map(|i| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                let (mut reads, mut with_data) = (0u64, 0u64);
                while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                    // The oldest records: the segment retention deletes next.
                    let (err, start) = list(&mut c, topic, -2);
                    assert_eq!(err, 0);
                    let r = c.call(&fetch(topic, &[(0, start)], 64 << 10, 0), 11);
                    let p = &r.responses[0].partitions[0];
                    assert!(
                        p.error_code == 0 || p.error_code == OFFSET_OUT_OF_RANGE,
                        "reader {i}: fetch at {start}: error {}",
                        p.error_code
                    );
                    if !decode_records(p.records.clone()).is_empty() {
                        with_data += 1;
                    }
                    // A time lookup opens the oldest sealed segment's time index.
                    let (err, _) = list(&mut c, topic, 0);
                    assert_eq!(err, 0);
                    reads += 1;
                }
                (reads, with_data)
            })
        })
        .collect();

    let mut c = Conn::connect(addr);
    let value = [b'v'; 1000];
    for _ in 0..BATCHES {
        assert!(Instant::now() < deadline, "producing took too long");
        produce(&mut c, topic, 0, &[&value]);
    }
    done.store(true, Ordering::Relaxed);
    let mut with_data = 0;
    for r in readers {
        let (reads, data) = r.join().unwrap();
        assert!(reads > 0);
        with_data += data;
    }
    assert!(with_data > 0, "no read found data");

    // Retention ran under the readers: the log start moved far on, and the broker answers.
    let (err, start) = list(&mut c, topic, -2);
    assert_eq!(err, 0);
    assert!(start > 0, "retention deleted nothing");
    let (err, end) = list(&mut c, topic, -1);
    assert_eq!((err, end), (0, BATCHES as i64));
    let r = c.call(&fetch(topic, &[(0, end - 1)], 64 << 10, 0), 11);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    assert!(b.panics().is_empty(), "{}", b.stderr_tail(40));
    // A segment deleted under a reader is the race, not a damaged index: nothing says so.
    let log = b.stderr_text();
    assert!(log.contains("segment deleted"), "retention ran");
    assert!(
        !log.contains("sealed segment index unusable"),
        "{}",
        b.stderr_tail(40)
    );
}
