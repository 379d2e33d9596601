//! Log tests that need a glommio executor and real O_DIRECT files.

use std::rc::Rc;

use bytes::Bytes;

use super::format::{tests::hand_batch, BatchHeader};
use super::{index_cache, Log, LogConfig, ShardStorage};
use crate::shard::nudge::on_executor;

/// A log of `batches` one-record batches of ~3 KB, one per 4 KiB segment: every batch but the
/// last sits in a sealed segment.
async fn sealed_log(storage: &Rc<ShardStorage>, dir: &std::path::Path, batches: usize) -> Rc<Log> {
    let config = LogConfig {
        segment_bytes: super::segment::SEGMENT_BYTES_MIN,
        ..LogConfig::default()
    };
    let log = Log::open(dir, config, storage).await.expect("open");
    for i in 0..batches {
        let batch = Bytes::from(hand_batch(1, 3000, 1000 + i as i64));
        let header = BatchHeader::try_parse(&batch).expect("header");
        let (base, written) = log.append(&batch, &header, 0);
        assert_eq!(base, i as i64);
        written.await.expect("written");
    }
    log
}

/// 64 concurrent reads of sealed segments (each opened for its read) all return their batch,
/// with never more than TRANSIENT_FILES_OPEN_MAX files open for them at once.
#[test]
fn concurrent_reads_of_sealed_segments_stay_within_the_transient_file_slots() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let storage = ShardStorage::for_test();
        let log = sealed_log(&storage, dir.path(), 32).await;
        let reads = (0..64i64).map(|i| {
            let log = log.clone();
            async move {
                let offset = i % 31;
                let r = log.read(offset, 32, 1 << 20, true).await.expect("read");
                let first = r.chunks.first().expect("a batch");
                let h = BatchHeader::try_parse(first).expect("header");
                assert_eq!(h.base_offset, offset, "read {i}");
            }
        });
        futures::future::join_all(reads).await;
        assert_eq!(
            storage.transient.open_peak(),
            super::transient::TRANSIENT_FILES_OPEN_MAX,
            "64 reads fill every slot, never more"
        );
        log.close().await.expect("close");
    });
}

/// A disk read returns slices of its O_DIRECT buffer (no copy), counted whole in
/// `held_bytes`; the fetch encoder passes them on as they are; `into_send` copies them for
/// another shard with the same bytes.
#[test]
fn disk_reads_are_slices_of_their_read_buffer_up_to_the_response() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let log = sealed_log(&ShardStorage::for_test(), dir.path(), 4).await;
        let r = log.read(1, 4, 1 << 20, true).await.expect("read");
        assert!(!r.chunks.is_empty());
        assert!(
            r.chunks
                .iter()
                .all(|c| matches!(c, super::Chunk::Direct { .. })),
            "disk reads are direct chunks"
        );
        assert!(r.held_bytes() >= r.bytes);
        let first = r.chunks[0].as_ptr();
        let copy: Vec<u8> = r.chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let topics = [crate::protocol::fetch_response::TopicOut {
            name: "t",
            topic_id: [0; 16],
            partitions: vec![crate::protocol::fetch_response::PartitionOut {
                partition: 0,
                error_code: 0,
                high_watermark: 4,
                last_stable_offset: 4,
                log_start_offset: 0,
                aborted: Vec::new(),
                records: r.chunks.clone(),
            }],
        }];
        let response = crate::protocol::fetch_response::encode(
            &crate::metrics::ShardMetrics::new(0),
            1,
            12,
            &topics,
        );
        assert!(
            response.iter().any(|c| c.as_ptr() == first),
            "the read buffer itself is in the response"
        );
        let sent = r.into_send();
        let sent_bytes: Vec<u8> = sent.chunks.concat();
        assert_eq!(sent_bytes, copy);
        log.close().await.expect("close");
    });
}

/// 32 syncs of 8 logs issued together share the shard's flush cycles: one fdatasync per log
/// (not per call), and every log's synced end covers all it had written. (The first call may
/// start a cycle before the others join: those share the next one.)
#[test]
fn syncs_across_logs_share_one_flush_cycle() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let storage = ShardStorage::for_test();
        let mut logs = Vec::new();
        for i in 0..8 {
            let log = Log::open(
                &dir.path().join(format!("p{i}")),
                LogConfig::default(),
                &storage,
            )
            .await
            .expect("open");
            let batch = Bytes::from(hand_batch(3, 100, 1000));
            let header = BatchHeader::try_parse(&batch).expect("header");
            let (_, written) = log.append(&batch, &header, 0);
            written.await.expect("written");
            assert!(log.synced_end_offset() < log.log_end_offset());
            logs.push(log);
        }
        let before = storage.sync_cycle.stats();
        let syncs = (0..32).map(|i| {
            let log = logs[i % 8].clone();
            async move { log.sync().await.expect("sync") }
        });
        futures::future::join_all(syncs).await;
        let after = storage.sync_cycle.stats();
        let (cycles, fdatasyncs) = (after.0 - before.0, after.1 - before.1);
        assert!((1..=2).contains(&cycles), "{cycles} cycles");
        assert_eq!(fdatasyncs, 8, "one fdatasync per log");
        for log in &logs {
            assert_eq!(log.synced_end_offset(), log.log_end_offset());
            log.close().await.expect("close");
        }
    });
}

/// Batches in the index tests: one record of ~1 KB each, timestamp `TS_BASE + offset`.
const TS_BASE: i64 = 1_000_000;

/// A log of `batches` one-record batches of 1,061 bytes in 16 KiB segments (15 batches each),
/// an offset-index entry every ~3 batches: most segments sealed, with several entries each.
async fn indexed_log(dir: &std::path::Path, batches: i64) -> Rc<Log> {
    let log = Log::open(dir, indexed_config(), &ShardStorage::for_test())
        .await
        .expect("open");
    for i in 0..batches {
        let batch = Bytes::from(hand_batch(1, 1000, TS_BASE + i));
        let header = BatchHeader::try_parse(&batch).expect("header");
        let (base, written) = log.append(&batch, &header, 0);
        assert_eq!(base, i);
        written.await.expect("written");
    }
    log
}

/// Every offset reads back as its own batch, and every timestamp finds its batch.
async fn check_every_offset_and_timestamp(log: &Log, batches: i64) {
    for offset in 0..batches {
        let r = log.read(offset, batches, 1, true).await.expect("read");
        let first = r.chunks.first().expect("a batch");
        let h = BatchHeader::try_parse(first).expect("header");
        assert_eq!(h.base_offset, offset, "read at {offset}");
        let found = log
            .offset_for_timestamp(TS_BASE + offset)
            .await
            .expect("seek");
        assert_eq!(
            found,
            Some((offset, TS_BASE + offset)),
            "timestamp of {offset}"
        );
    }
}

fn sealed_segments_hold_no_index(log: &Log) -> bool {
    let segments = log.segments.borrow();
    let sealed = segments.len() - 1;
    segments
        .values()
        .take(sealed)
        .all(|s| s.indexes_held() == (0, 0))
}

/// Sealed segments keep only their summary on the heap, after a seal and after recovery; reads
/// and timestamp seeks load their indexes into the shard's cache (misses), then hit it.
#[test]
fn sealed_segments_hold_no_index_and_reads_use_the_shard_cache() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let n = 300;
        let log = indexed_log(dir.path(), n).await;
        assert!(
            log.segment_count() >= 20,
            "{} segments",
            log.segment_count()
        );
        assert!(sealed_segments_hold_no_index(&log), "dropped at seal");
        let active = log
            .segments
            .borrow()
            .values()
            .next_back()
            .map(|s| s.indexes_held());
        assert!(
            active.is_some_and(|(o, _)| o > 0),
            "the active segment keeps its index"
        );
        let before = log.storage.index_cache.stats();
        check_every_offset_and_timestamp(&log, n).await;
        let after = log.storage.index_cache.stats();
        assert!(after.misses > before.misses, "indexes were loaded");
        assert!(after.hits > before.hits, "and then found in the cache");
        assert_eq!(
            after.fallbacks, before.fallbacks,
            "all index files were usable"
        );
        assert!(after.entries >= log.segment_count() - 1);
        log.close().await.expect("close");
        assert_eq!(
            log.storage.index_cache.stats().entries,
            0,
            "a closed log leaves nothing cached"
        );

        let log = Log::open(dir.path(), indexed_config(), &log.storage)
            .await
            .expect("reopen");
        assert!(
            sealed_segments_hold_no_index(&log),
            "recovery keeps none either"
        );
        check_every_offset_and_timestamp(&log, n).await;
        assert_eq!(log.storage.index_cache.stats().fallbacks, before.fallbacks);
        log.close().await.expect("close");
    });
}

fn indexed_config() -> LogConfig {
    LogConfig {
        segment_bytes: 16 << 10,
        index_interval_bytes: 2048,
        ..LogConfig::default()
    }
}

/// With a budget of three segments' indexes the cache evicts (never holds more than its budget)
/// and every read is still right; deleting segments takes their entries out.
#[test]
fn a_tiny_index_cache_stays_within_its_budget_and_reads_stay_right() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let n = 300;
        let log = indexed_log(dir.path(), n).await;
        // Every sealed segment here has the same indexes: one's cost, measured.
        log.read(0, n, 1, true).await.expect("read");
        let one = log.storage.index_cache.stats().used_bytes;
        assert!(one > index_cache::ENTRY_OVERHEAD_BYTES);
        log.storage.index_cache.set_budget(3 * one);
        for offset in (0..n).rev() {
            let r = log.read(offset, n, 1, true).await.expect("read");
            let h = BatchHeader::try_parse(&r.chunks[0]).expect("header");
            assert_eq!(h.base_offset, offset);
            let s = log.storage.index_cache.stats();
            assert!(s.used_bytes <= s.budget_bytes, "{s:?}");
            assert!(s.entries <= 3, "{s:?}");
        }
        let s = log.storage.index_cache.stats();
        assert!(s.misses >= 19, "evicted indexes are loaded again: {s:?}");
        assert_eq!(s.entries, 3);
        check_every_offset_and_timestamp(&log, n).await;
        // DeleteRecords past the cached segments removes their entries.
        log.read(0, n, 1, true).await.expect("read");
        log.delete_records_before(100).await.expect("delete");
        let s = log.storage.index_cache.stats();
        assert_eq!(s.entries, 2, "segment 0 left the cache: {s:?}");
        log.close().await.expect("close");
    });
}

/// A sealed segment whose `.index` is gone, one whose `.timeindex` is garbage and one whose
/// `.index` entries point at the wrong batches all still read right: the lookup falls back to
/// the segment's start.
#[test]
fn missing_or_damaged_sealed_indexes_fall_back_to_a_scan() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let n = 300;
        let log = indexed_log(dir.path(), n).await;
        let bases: Vec<i64> = log.segments.borrow().keys().copied().collect();
        let path = |base: i64, suffix| super::segment::path(dir.path(), base, suffix);
        std::fs::remove_file(path(bases[1], super::segment::INDEX_SUFFIX)).expect("rm");
        std::fs::write(
            path(bases[2], super::segment::TIME_INDEX_SUFFIX),
            [0x5a; 64],
        )
        .expect("garbage");
        // Each entry of segment 3 takes the position of the next one: valid, ascending, wrong.
        let p = path(bases[3], super::segment::INDEX_SUFFIX);
        let raw = std::fs::read(&p).expect("index");
        let size = log.segments.borrow()[&bases[3]].size;
        let entries = super::index::decode_offset_index(&raw, bases[3], size).expect("decode");
        assert!(entries.len() >= 3);
        let mut forged = raw[..super::index::INDEX_HEADER_BYTES].to_vec();
        for w in entries.windows(2) {
            let e = super::index::OffsetEntry {
                relative_offset: w[0].relative_offset,
                position: w[1].position,
            };
            forged.extend_from_slice(&e.encode());
        }
        std::fs::write(&p, forged).expect("forge");
        let before = log.storage.index_cache.stats();
        check_every_offset_and_timestamp(&log, n).await;
        let after = log.storage.index_cache.stats();
        assert!(
            after.fallbacks >= before.fallbacks + 3,
            "each damaged index is counted: {after:?}"
        );
        log.close().await.expect("close");
    });
}

/// A reader on its way to a sealed segment that retention deletes meanwhile (it waited out the
/// file-move window) loads nothing and counts no unusable index: the files went with their
/// segment, they are not damaged. The cache's own guard likewise: a load whose segment is gone
/// once read is not counted, one whose segment is still there is.
#[test]
fn a_segment_deleted_under_a_reader_is_not_an_unusable_index() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let storage = ShardStorage::for_test();
        let log = sealed_log(&storage, dir.path(), 8).await;
        let (base, size) = log
            .segments
            .borrow()
            .iter()
            .next()
            .map(|(&b, s)| (b, s.size))
            .expect("a segment");
        log.delete_records_before(3).await.expect("delete");
        assert!(log.segment_changed(base, size), "segment {base} deleted");
        let before = storage.index_cache.stats();
        assert_eq!(log.start_for(base, size, base).await, (0, base));
        let after = storage.index_cache.stats();
        assert_eq!(after.fallbacks, before.fallbacks, "no unusable index");
        assert_eq!(after.misses, before.misses, "nothing loaded");

        let gone = storage
            .index_cache
            .get(&storage.transient, u64::MAX, dir.path(), base, size, || {
                false
            })
            .await;
        assert!(gone.offsets.is_empty() && gone.times.is_empty());
        assert_eq!(storage.index_cache.stats().fallbacks, before.fallbacks);
        storage
            .index_cache
            .get(&storage.transient, u64::MAX, dir.path(), base, size, || {
                true
            })
            .await;
        assert_eq!(
            storage.index_cache.stats().fallbacks,
            before.fallbacks + 2,
            "both files missing under a segment still there: counted"
        );
        storage.index_cache.forget_log(u64::MAX);
        log.close().await.expect("close");
    });
}

/// An idempotent one-record batch of producer `pid`, sequence `seq`.
fn idempotent_batch(pid: i64, seq: i32) -> Bytes {
    use super::format::{tests::fix_crc, BASE_SEQUENCE_AT, PRODUCER_EPOCH_AT, PRODUCER_ID_AT};
    let mut b = hand_batch(1, 8, 1000);
    b[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&pid.to_be_bytes());
    b[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&0i16.to_be_bytes());
    b[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&seq.to_be_bytes());
    fix_crc(&mut b);
    Bytes::from(b)
}

/// acks=1 writes never ask for a sync, so after a crash recovery scans the whole active
/// segment; what it keeps for producer state is the newest RECOVERY_PRODUCER_BATCHES_MAX
/// idempotent batch headers, not one per batch scanned.
#[test]
fn unsynced_writes_persist_no_index_and_recovery_keeps_a_bounded_tail() {
    use super::recovery::RECOVERY_PRODUCER_BATCHES_MAX;
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let storage = ShardStorage::for_test();
        storage.index_persist_every_bytes.set(4096);
        let config = || LogConfig {
            index_interval_bytes: 1024,
            ..LogConfig::default()
        };
        let log_dir = dir.path().join("t-0");
        let log = Log::open(&log_dir, config(), &storage).await.expect("open");
        let idempotent = RECOVERY_PRODUCER_BATCHES_MAX + 500;
        let mut writes = Vec::new();
        // Every fourth batch is plain (no producer id): scanned, not kept.
        let total = idempotent + idempotent / 3;
        let mut seq = 0i32;
        for i in 0..total {
            let batch = if i % 4 == 3 {
                Bytes::from(hand_batch(1, 8, 1000))
            } else {
                seq += 1;
                idempotent_batch(7, seq - 1)
            };
            let header = BatchHeader::try_parse(&batch).expect("header");
            let (base, written) = log.append(&batch, &header, 0);
            assert_eq!(base, i as i64);
            writes.push(written);
        }
        for w in futures::future::join_all(writes).await {
            w.expect("written");
        }
        assert_eq!(seq as usize, idempotent);
        assert_eq!(
            log.synced_end_offset(),
            0,
            "acks=1 writes asked for no sync"
        );
        assert_eq!(storage.sync_cycle.stats().1, 0, "no fdatasync at all");
        let index = std::fs::read(super::segment::path(
            &log_dir,
            0,
            super::segment::INDEX_SUFFIX,
        ))
        .expect("index file");
        let entries = super::index::decode_offset_index(&index, 0, u64::MAX).expect("index");
        assert!(
            entries.iter().all(|e| e.position == 0),
            "no entry of an unsynced batch on disk: {} entries",
            entries.len()
        );
        // A crash: the log is dropped, never closed.
        drop(log);
        let log = Log::open(&log_dir, config(), &storage)
            .await
            .expect("reopen");
        assert_eq!(
            log.log_end_offset(),
            total as i64,
            "the scan found every batch"
        );
        let tail = log.recovered_tail();
        assert_eq!(tail.len(), RECOVERY_PRODUCER_BATCHES_MAX);
        assert!(tail.iter().all(|h| h.producer_id == 7));
        let seqs: Vec<i32> = tail.iter().map(|h| h.base_sequence).collect();
        let first = (idempotent - RECOVERY_PRODUCER_BATCHES_MAX) as i32;
        assert_eq!(
            seqs,
            (first..idempotent as i32).collect::<Vec<_>>(),
            "the newest, in order"
        );
        log.close().await.expect("close");
    });
}
