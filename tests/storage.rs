//! Storage you can trust, end to end against the real binary: kill -9 during acks=all
//! produce, damaged log tails, corruption inside a sealed segment, a full disk, a change of
//! `--cores`, idempotent duplicates, indexes after a restart. Retention, DeleteRecords, config
//! changes and topic deletion are in storage_lifecycle.rs; the helpers both use in
//! storage_common/.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;
mod storage_common;

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::kafka::{create_topic_with as create, Conn};
use harness::loop_fs::{fill_disk, restart_on_small_disk};
use harness::Broker;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{MetadataRequest, ProduceRequest};
use kafka_protocol::records::Compression;

use storage_common::*;

#[test]
fn kill_9_during_acks_all_produce_loses_nothing_acknowledged() {
    const ROUNDS: usize = 20;
    const PARTITIONS: i32 = 4;
    const IN_FLIGHT: usize = 16;
    let mut b = Broker::start("kill9", &["--cores", "2"]);
    let topic = "crash";
    create(&mut Conn::connect(b.shard_addr(0)), topic, PARTITIONS, &[]);
    let owners = leaders(&mut Conn::connect(b.bootstrap_addr()), topic);
    assert_eq!(
        owners.values().collect::<HashSet<_>>().len(),
        2,
        "partitions on both shards: {owners:?}"
    );
    // Acknowledged values per partition, in offset order.
    let mut acked: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for round in 0..ROUNDS {
        let mut conns: Vec<Conn> = (0..2).map(|s| Conn::connect(b.shard_addr(s))).collect();
        // Pipeline IN_FLIGHT one-record batches per partition, read a round-dependent number of
        // answers, then kill -9 with the rest in flight.
        let mut sent = Vec::new();
        for i in 0..IN_FLIGHT {
            for p in 0..PARTITIONS {
                let v = value(&format!("r{round}-p{p}"), i);
                let conn = &mut conns[owners[&p]];
                let id = conn.send(&produce_req(topic, p, &[&v], -1), 9);
                sent.push((p, id, v));
            }
        }
        let read = (round * 7) % (sent.len() + 1);
        for (p, id, v) in sent.iter().take(read) {
            let conn = &mut conns[owners[p]];
            let r = conn.recv::<ProduceRequest>(*id, 9);
            let resp = &r.responses[0].partition_responses[0];
            assert_eq!(resp.error_code, 0, "round {round}: {resp:?}");
            acked
                .entry(*p)
                .or_default()
                .push((resp.base_offset, v.clone()));
        }
        b.kill9();
        b.restart();
        let mut conns: Vec<Conn> = (0..2).map(|s| Conn::connect(b.shard_addr(s))).collect();
        for p in 0..PARTITIONS {
            let got = fetch_all(&mut conns[owners[&p]], topic, p, 0);
            for (i, (o, _)) in got.iter().enumerate() {
                assert_eq!(
                    *o, i as i64,
                    "round {round} p{p}: offsets contiguous from 0"
                );
            }
            let values: Vec<&[u8]> = got.iter().map(|(_, v)| &v[..]).collect();
            let unique: HashSet<&[u8]> = values.iter().copied().collect();
            assert_eq!(
                unique.len(),
                values.len(),
                "round {round} p{p}: a value stored twice"
            );
            for (o, v) in acked.get(&p).into_iter().flatten() {
                let stored = got.get(*o as usize).map(|(_, s)| &s[..]);
                assert_eq!(
                    stored,
                    Some(&v[..]),
                    "round {round} p{p}: acknowledged offset {o} lost or changed"
                );
            }
        }
    }
    assert!(
        acked.values().map(Vec::len).sum::<usize>() > 100,
        "the test acknowledged enough to mean something"
    );
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// Offset-index entries in an index file: non-zero 8-byte entries after the 16-byte header.
fn index_entries(path: &std::path::Path) -> (usize, u64) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"SLIX", "{}", path.display());
    let entries = bytes[16..]
        .chunks_exact(8)
        .enumerate()
        .take_while(|(i, e)| *i == 0 || e.iter().any(|b| *b != 0))
        .count();
    (entries, bytes.len() as u64)
}

#[test]
fn the_active_index_is_persisted_every_mib_and_whole_at_close() {
    // 40 batches of ~30 KB (each one index entry, index.interval.bytes 4096): ~1.2 MB, past
    // the 1 MiB after which entries are appended to the closed index file.
    const BATCHES: usize = 40;
    let mut b = Broker::start("index-persist", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    let value = |i: usize| format!("{i:06}").repeat(1_700).into_bytes();
    for i in 0..BATCHES {
        let vs: Vec<Vec<u8>> = (0..3).map(|j| value(i * 3 + j)).collect();
        let refs: Vec<&[u8]> = vs.iter().map(|v| &v[..]).collect();
        assert_eq!(produce(&mut c, "t", 0, &refs), (0, (i * 3) as i64));
    }
    let index = b.data_dir.join("t-0").join(format!("{:020}.index", 0));
    let (persisted, _) = index_entries(&index);
    assert!(
        (30..BATCHES).contains(&persisted),
        "entries up to the first MiB are on disk, later ones not yet: {persisted}"
    );
    b.kill9();
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let got = fetch_all(&mut c, "t", 0, 0);
    assert_eq!(
        got.len(),
        BATCHES * 3,
        "recovery scanned past the persisted entries"
    );
    for (i, (o, v)) in got.iter().enumerate() {
        assert_eq!((*o, &v[..]), (i as i64, &value(i)[..]), "record {i}");
    }
    assert_eq!(
        produce(&mut c, "t", 0, &[b"one more"]),
        (0, (BATCHES * 3) as i64)
    );
    b.stop();
    let (entries, len) = index_entries(&index);
    assert_eq!(entries, BATCHES + 1, "a clean close persists every entry");
    assert_eq!(
        len,
        16 + 8 * entries as u64,
        "and cuts the file to its exact size"
    );
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// acks=1 never makes the broker fdatasync (Kafka's contract: durability comes from
/// `flush.*`, roll and close), so no index entry of the active segment reaches the disk, and a
/// crash makes recovery scan the segment from its start: every acknowledged record is back.
#[test]
fn acks_1_asks_for_no_fsync_and_recovery_scans_the_whole_active_segment() {
    // 40 batches of ~30 KB: ~1.2 MB, past the 1 MiB at which the writer persists index
    // entries (of synced batches only: none here).
    const BATCHES: usize = 40;
    let mut b = Broker::start("acks1-no-sync", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    create(&mut c, "marker", 1, &[]);
    let value = |i: usize| format!("{i:06}").repeat(1_700).into_bytes();
    for i in 0..BATCHES {
        let vs: Vec<Vec<u8>> = (0..3).map(|j| value(i * 3 + j)).collect();
        let refs: Vec<&[u8]> = vs.iter().map(|v| &v[..]).collect();
        let r = c.call(&produce_req("t", 0, &refs, 1), 9);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, (i * 3) as i64));
    }
    // The marker's own produce is acks=all: one fdatasync, of the marker's log.
    let text = metrics_after(&b, &mut c);
    assert_eq!(
        harness::metric_sum(&text, "sluice_fsync_duration_seconds_count", &[]),
        1.0,
        "acks=1 asked for an fdatasync"
    );
    let index = b.data_dir.join("t-0").join(format!("{:020}.index", 0));
    // The first entry (offset 0 at position 0) is all zeros, like the padding after the header:
    // any later entry on disk would be counted.
    let (persisted, _) = index_entries(&index);
    assert!(
        persisted <= 1,
        "{persisted} index entries of unsynced batches reached the disk"
    );
    b.kill9();
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let got = fetch_all(&mut c, "t", 0, 0);
    assert_eq!(got.len(), BATCHES * 3, "recovery scanned the whole segment");
    for (i, (o, v)) in got.iter().enumerate() {
        assert_eq!((*o, &v[..]), (i as i64, &value(i)[..]), "record {i}");
    }
    b.stop();
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// Damages the single segment's tail with `damage`, restarts, and checks that the records
/// before the damage (`keep` of them) survive and new writes follow them.
fn check_tail_damage(tag: &str, damage: impl FnOnce(&mut std::fs::File, u64)) -> Broker {
    let (mut b, values) = broker_with_data(tag, 10);
    let log = segments(&b, "t", 0).pop().expect("a segment");
    let len = std::fs::metadata(&log).expect("segment").len();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&log)
        .expect("open segment");
    damage(&mut f, len);
    drop(f);
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let got = fetch_all(&mut c, "t", 0, 0);
    let keep = got.len();
    assert!(
        keep == 27 || keep == 30,
        "{tag}: everything before the damage survives: {keep}"
    );
    for (i, (o, v)) in got.iter().enumerate() {
        assert_eq!(
            (*o, &v[..]),
            (i as i64, &values[i][..]),
            "{tag}: record {i}"
        );
    }
    let (err, base) = produce(&mut c, "t", 0, &[b"after"]);
    assert_eq!(
        (err, base),
        (0, keep as i64),
        "{tag}: new writes follow the kept data"
    );
    let got = fetch_all(&mut c, "t", 0, keep as i64);
    assert_eq!(got, vec![(keep as i64, Bytes::from_static(b"after"))]);
    assert!(b.panics().is_empty(), "{:?}", b.panics());
    b
}

#[test]
fn appended_garbage_is_cut_off() {
    let b = check_tail_damage("garbage", |f, len| {
        f.seek(SeekFrom::Start(len)).expect("seek");
        f.write_all(b"this is not a record batch at all, just garbage bytes")
            .expect("write");
    });
    assert!(
        b.stderr_text().contains("recovery truncated"),
        "the truncation is logged"
    );
}

#[test]
fn a_batch_cut_in_half_is_cut_off() {
    check_tail_damage("half", |f, len| {
        // The last batch is 3 records of ~12 bytes: well over 40 bytes; cut 40 off it.
        f.set_len(len - 40).expect("truncate");
    });
}

#[test]
fn a_flipped_byte_in_the_last_batch_is_cut_off() {
    check_tail_damage("flip", |f, len| {
        f.seek(SeekFrom::Start(len - 3)).expect("seek");
        f.write_all(&[0xa5]).expect("write");
    });
}

#[test]
fn a_zero_filled_tail_block_is_ignored() {
    check_tail_damage("zeros", |f, len| {
        f.seek(SeekFrom::Start(len)).expect("seek");
        f.write_all(&[0u8; 4096]).expect("write");
    });
}

#[test]
fn corruption_inside_a_sealed_segment_is_a_storage_error_never_data() {
    let mut b = Broker::start("sealed", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    // Small segments, an index entry per batch: recovery scans only each segment's last batch.
    create(
        &mut c,
        "t",
        1,
        &[("segment.bytes", "4096"), ("index.interval.bytes", "1")],
    );
    let big = vec![b'x'; 1000];
    for i in 0..12 {
        let v = [&big[..], format!("{i}").as_bytes()].concat();
        assert_eq!(produce(&mut c, "t", 0, &[&v]).0, 0);
    }
    b.stop();
    let logs = segments(&b, "t", 0);
    assert!(logs.len() >= 3, "several segments: {logs:?}");
    // Flip a byte in the records of the first batch of the first (sealed) segment.
    let mut f = OpenOptions::new().write(true).open(&logs[0]).expect("open");
    f.seek(SeekFrom::Start(500)).expect("seek");
    f.write_all(&[0x42]).expect("write");
    drop(f);
    b.restart();
    let mut c = Conn::connect(b.shard_addr(0));
    let (err, _, recs) = fetch(&mut c, "t", 0, 0);
    assert_eq!(err, KAFKA_STORAGE_ERROR, "corrupt batch reported");
    assert!(recs.is_empty(), "never served as data");
    assert!(b.stderr_text().contains("corrupt batch"), "and logged");
    // Later data is still served.
    let (err, _, recs) = fetch(&mut c, "t", 0, 11);
    assert_eq!(err, 0);
    assert_eq!(recs.first().map(|r| r.0), Some(11));
}

#[test]
fn disk_full_is_a_storage_error_and_writes_resume_when_space_returns() {
    let mut b = Broker::start("diskfull", &["--cores", "1"]);
    let Some(_fs) = restart_on_small_disk(&mut b, 16) else {
        return;
    };
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    let big = vec![b'z'; 8192];
    for i in 0..20 {
        let v = [&big[..], &value("before", i)].concat();
        assert_eq!(produce(&mut c, "t", 0, &[&v]), (0, i as i64));
    }
    let filler = fill_disk(&b.data_dir);
    let mut refused = false;
    for i in 0..64 {
        let v = [&big[..], &value("full", i)].concat();
        let (err, _) = produce(&mut c, "t", 0, &[&v]);
        if err == KAFKA_STORAGE_ERROR {
            refused = true;
            break;
        }
        assert_eq!(
            err, 0,
            "only success or KAFKA_STORAGE_ERROR while the disk fills"
        );
    }
    assert!(refused, "a full disk refuses the produce");
    assert!(b.is_running(), "the broker stays up");
    let before = fetch_all(&mut c, "t", 0, 0);
    assert!(before.len() >= 20, "stored data is still served");
    // Space returns: within a bounded time produce works again and offsets stay contiguous.
    std::fs::remove_file(&filler).expect("remove filler");
    let deadline = Instant::now() + WAIT;
    let offset = loop {
        let (err, base) = produce(&mut c, "t", 0, &[b"after"]);
        if err == 0 {
            break base;
        }
        assert_eq!(err, KAFKA_STORAGE_ERROR);
        assert!(Instant::now() < deadline, "writes never resumed");
        std::thread::sleep(Duration::from_millis(200));
    };
    let all = fetch_all(&mut c, "t", 0, 0);
    for (i, (o, _)) in all.iter().enumerate() {
        assert_eq!(*o, i as i64, "offsets contiguous");
    }
    assert_eq!(
        all.last().map(|r| (r.0, r.1.clone())),
        Some((offset, Bytes::from_static(b"after")))
    );
    for (i, (_, v)) in all.iter().take(20).enumerate() {
        assert!(v.ends_with(&value("before", i)), "record {i} intact");
    }
    b.stop();
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

#[test]
fn changing_cores_reassigns_partitions_bumps_epochs_and_keeps_data() {
    let mut b = Broker::start("recore", &["--cores", "2"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 4, &[]);
    let owners = leaders(&mut Conn::connect(b.bootstrap_addr()), "t");
    for p in 0..4 {
        let mut conn = Conn::connect(b.shard_addr(owners[&p]));
        let v = value("core", p as usize);
        assert_eq!(produce(&mut conn, "t", p, &[&v]), (0, 0));
    }
    let epochs = |b: &Broker| -> BTreeMap<i32, (i32, i32)> {
        let mut c = Conn::connect(b.bootstrap_addr());
        let r = c.call(
            &MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(name("t"))),
            ])),
            9,
        );
        r.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, (p.leader_id.0, p.leader_epoch)))
            .collect()
    };
    let mut before = epochs(&b);
    for shards in [1usize, 2] {
        b.extra_args = vec!["--cores".into(), shards.to_string()];
        b.restart();
        let after = epochs(&b);
        let mut moved = 0;
        for p in 0..4 {
            let (leader, epoch) = after[&p];
            let (old_leader, old_epoch) = before[&p];
            assert!(
                (leader as usize) < shards,
                "p{p} led by a live shard: {after:?}"
            );
            if leader != old_leader {
                moved += 1;
                assert!(
                    epoch > old_epoch,
                    "p{p} moved shards: its epoch must grow: {after:?}"
                );
            } else {
                assert!(epoch >= old_epoch, "p{p}: epochs never go back: {after:?}");
            }
            let mut conn = Conn::connect(b.shard_addr(leader as usize));
            let got = fetch_all(&mut conn, "t", p, 0);
            assert_eq!(
                got,
                vec![(0, Bytes::from(value("core", p as usize)))],
                "p{p} data kept"
            );
        }
        // Shrinking must move the partitions of the shards that are gone; growing may keep
        // every owner (they are all still valid), which is what happens today.
        if shards == 1 {
            assert!(
                moved > 0,
                "changing --cores to 1 moved partitions off shard 1"
            );
        }
        before = after;
    }
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}

/// A batch from idempotent producer `pid` (epoch 0) with sequences `first..first + n`.
fn idempotent_batch(pid: i64, first: i32, n: i32) -> Bytes {
    use sluice_client::records::{encode_batch_as, NewRecord, ProducerFields};
    let records: Vec<NewRecord> = (first..first + n)
        .map(|seq| NewRecord {
            key: None,
            value: Some(Bytes::from(format!("seq-{seq}"))),
            headers: Vec::new(),
            timestamp: 1_700_000_000_000 + i64::from(seq),
        })
        .collect();
    let producer = ProducerFields {
        id: pid,
        epoch: 0,
        base_sequence: first,
        transactional: false,
    };
    encode_batch_as(&records, Compression::None, producer).expect("encode")
}

#[test]
fn idempotent_duplicates_get_their_offset_and_describe_producers_lists_the_producer() {
    use kafka_protocol::messages::describe_producers_request::TopicRequest;
    use kafka_protocol::messages::DescribeProducersRequest;
    let b = Broker::start("producers", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    let send = |c: &mut Conn, records: Bytes| {
        let r = c.call(
            &ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(name("t"))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records))])]),
            9,
        );
        let p = &r.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    };
    let first = idempotent_batch(7, 0, 3);
    assert_eq!(send(&mut c, first.clone()), (0, 0));
    assert_eq!(send(&mut c, idempotent_batch(7, 3, 3)), (0, 3));
    assert_eq!(
        send(&mut c, first),
        (0, 0),
        "a duplicate is answered with its original offset"
    );
    const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
    assert_eq!(
        send(&mut c, idempotent_batch(7, 9, 1)).0,
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a gap"
    );
    assert_eq!(
        fetch_all(&mut c, "t", 0, 0).len(),
        6,
        "the duplicate was not stored"
    );
    let r = c.call(
        &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
            .with_name(name("t"))
            .with_partition_indexes(vec![0, 5])]),
        0,
    );
    let parts = &r.topics[0].partitions;
    assert_eq!(parts[0].error_code, 0);
    let p = &parts[0].active_producers;
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(
        (p[0].producer_id.0, p[0].producer_epoch, p[0].last_sequence),
        (7, 0, 5)
    );
    assert_eq!(p[0].last_timestamp, 1_700_000_000_005);
    assert_eq!(
        parts[1].error_code, 3,
        "unknown partition: UNKNOWN_TOPIC_OR_PARTITION"
    );
}

#[test]
fn disk_reads_at_the_tail_never_see_unwritten_bytes() {
    // Tail cache off: every fetch reads the file while later batches are still being written.
    let b = Broker::start("tailread", &["--cores", "1", "--tail-cache-bytes", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[]);
    let mut producer = Conn::connect(b.shard_addr(0));
    let mut consumer = Conn::connect(b.shard_addr(0));
    const N: usize = 400;
    let mut got: Vec<(i64, Bytes)> = Vec::new();
    let mut sent = Vec::new();
    for i in 0..N {
        let v = value("tail", i);
        sent.push(producer.send(&produce_req("t", 0, &[&v], 1), 9));
        // Read whatever is readable now, from the end of what was read so far.
        let at = got.last().map_or(0, |r| r.0 + 1);
        let (err, _, recs) = fetch(&mut consumer, "t", 0, at);
        assert_eq!(err, 0, "fetch at {at} while writes are in flight");
        got.extend(recs);
    }
    for id in sent {
        let r = producer.recv::<ProduceRequest>(id, 9);
        assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    }
    let at = got.last().map_or(0, |r| r.0 + 1);
    got.extend(fetch_all(&mut consumer, "t", 0, at));
    assert_eq!(got.len(), N);
    for (i, (o, v)) in got.iter().enumerate() {
        assert_eq!((*o, &v[..]), (i as i64, &value("tail", i)[..]));
    }
}

/// A produce of one batch whose records all carry timestamp `timestamp`; its base offset.
fn produce_at(conn: &mut Conn, topic: &str, values: &[&[u8]], timestamp: i64) -> i64 {
    let records: Vec<sluice_client::records::NewRecord> = values
        .iter()
        .map(|v| sluice_client::records::NewRecord {
            key: None,
            value: Some(Bytes::copy_from_slice(v)),
            headers: Vec::new(),
            timestamp,
        })
        .collect();
    let batch = sluice_client::records::encode_batch(&records, Compression::None).expect("encode");
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let r = conn.call(&req, 9);
    let p = &r.responses[0].partition_responses[0];
    assert_eq!(p.error_code, 0, "produce at {timestamp}");
    p.base_offset
}

/// The /metrics text once the shards' snapshots (published once a second) were taken after
/// this call: a record is appended to the one-partition marker topic `marker`, and the text
/// read again until that partition's high watermark shows it. A shard's counters and gauges
/// come from one snapshot, so every one in that text counts all that came before the call.
fn metrics_after(b: &Broker, c: &mut Conn) -> String {
    let (err, base) = produce(c, "marker", 0, &[b"m"]);
    assert_eq!(err, 0, "marker produce");
    let deadline = Instant::now() + WAIT;
    loop {
        let text = b.metrics_text();
        let hw = harness::metric_sum(
            &text,
            "sluice_partition_high_watermark",
            &[("topic", "marker")],
        );
        if hw > base as f64 {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot showed marker offset {base} in {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Many 4 KiB segments, restarted (recovery keeps no sealed index on the heap): every record
/// reads back from offset 0 and every batch is found by its timestamp, the sealed segments'
/// indexes coming from the shard's index cache (misses first, hits on a second pass).
#[test]
fn sealed_segment_indexes_load_on_demand_after_a_restart() {
    const BATCHES: usize = 120;
    const T0: i64 = 1_700_000_000_000;
    let mut b = Broker::start("index-cache", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create(&mut c, "t", 1, &[("segment.bytes", "4096")]);
    create(&mut c, "marker", 1, &[]);
    let value = |i: usize| format!("{i:06}").repeat(50).into_bytes();
    for i in 0..BATCHES {
        let vs: Vec<Vec<u8>> = (0..3).map(|j| value(i * 3 + j)).collect();
        let refs: Vec<&[u8]> = vs.iter().map(|v| &v[..]).collect();
        let base = produce_at(&mut c, "t", &refs, T0 + 10 * i as i64);
        assert_eq!(base, (i * 3) as i64);
    }
    b.restart();
    assert!(
        segments(&b, "t", 0).len() >= 30,
        "{} segments",
        segments(&b, "t", 0).len()
    );
    assert!(b.metric_sum("sluice_index_cache_budget_bytes", &[]) > 0.0);
    let mut c = Conn::connect(b.shard_addr(0));
    let check = |c: &mut Conn| {
        let got = fetch_all(c, "t", 0, 0);
        assert_eq!(got.len(), BATCHES * 3);
        for (i, (o, v)) in got.iter().enumerate() {
            assert_eq!((*o, &v[..]), (i as i64, &value(i)[..]), "record {i}");
        }
        for i in 0..BATCHES {
            let ts = T0 + 10 * i as i64;
            assert_eq!(list_offset(c, "t", 0, ts), (0, (i * 3) as i64), "at {ts}");
            assert_eq!(
                list_offset(c, "t", 0, ts - 5),
                (0, (i * 3) as i64),
                "before {ts}"
            );
        }
    };
    check(&mut c);
    let text = metrics_after(&b, &mut c);
    let misses = harness::metric_sum(&text, "sluice_index_cache_misses_total", &[]);
    let hits = harness::metric_sum(&text, "sluice_index_cache_hits_total", &[]);
    assert!(
        misses > 0.0,
        "the first pass loaded the sealed indexes from disk"
    );
    assert!(harness::metric_sum(&text, "sluice_index_cache_used_bytes", &[]) > 0.0);
    check(&mut c);
    let text = metrics_after(&b, &mut c);
    assert!(
        harness::metric_sum(&text, "sluice_index_cache_hits_total", &[]) > hits,
        "the second pass found them in the cache"
    );
    assert_eq!(
        harness::metric_sum(&text, "sluice_index_cache_misses_total", &[]),
        misses,
        "and loaded none again"
    );
    assert_eq!(
        harness::metric_sum(&text, "sluice_index_cache_fallbacks_total", &[]),
        0.0
    );
    b.stop();
    assert!(b.panics().is_empty(), "{:?}", b.panics());
}
