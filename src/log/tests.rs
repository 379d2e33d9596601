//! Log tests that need a glommio executor and real O_DIRECT files.

use std::rc::Rc;

use bytes::Bytes;

use super::format::{tests::hand_batch, BatchHeader};
use super::{transient, Log, LogConfig, TailCache};

fn on_executor<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .spawn(f)
        .expect("executor")
        .join()
        .expect("joined");
}

/// A log of `batches` one-record batches of ~3 KB, one per 4 KiB segment: every batch but the
/// last sits in a sealed segment.
async fn sealed_log(dir: &std::path::Path, batches: usize) -> Rc<Log> {
    let config = LogConfig {
        segment_bytes: super::segment::SEGMENT_BYTES_FLOOR,
        ..LogConfig::default()
    };
    let log = Log::open(dir, config, TailCache::new(0).for_log())
        .await
        .expect("open");
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
        let log = sealed_log(dir.path(), 32).await;
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
            transient::open_peak(),
            transient::TRANSIENT_FILES_OPEN_MAX,
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
        let log = sealed_log(dir.path(), 4).await;
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
                records: Some(r.chunks.clone()),
            }],
        }];
        let response = crate::protocol::fetch_response::encode(1, 12, &topics);
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
        let mut logs = Vec::new();
        for i in 0..8 {
            let log = Log::open(
                &dir.path().join(format!("p{i}")),
                LogConfig::default(),
                TailCache::new(0).for_log(),
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
        let before = super::sync_cycle::stats();
        let syncs = (0..32).map(|i| {
            let log = logs[i % 8].clone();
            async move { log.sync().await.expect("sync") }
        });
        futures::future::join_all(syncs).await;
        let after = super::sync_cycle::stats();
        let (cycles, fdatasyncs) = (after.0 - before.0, after.1 - before.1);
        assert!((1..=2).contains(&cycles), "{cycles} cycles");
        assert_eq!(fdatasyncs, 8, "one fdatasync per log");
        for log in &logs {
            assert_eq!(log.synced_end_offset(), log.log_end_offset());
            log.close().await.expect("close");
        }
    });
}
