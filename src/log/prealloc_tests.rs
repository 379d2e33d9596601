//! Preallocation (`preallocate`): the active segment is zeroed ahead of its end, the zeros
//! are cut off at seal and close, and recovery after a crash reads them as padding, not damage.

use std::rc::Rc;

use bytes::Bytes;

use super::format::{tests::hand_batch, BatchHeader};
use super::segment::{self, LOG_SUFFIX};
use super::{recovery, Log, LogConfig, ShardStorage};
use crate::limits::SEGMENT_PREALLOCATE_BYTES;
use crate::shard::nudge::on_executor;

/// ~1 KB batches; `n` of them appended and synced to a preallocating log in `dir`.
async fn preallocated_log(storage: &Rc<ShardStorage>, dir: &std::path::Path, n: i64) -> Rc<Log> {
    let config = LogConfig {
        preallocate: true,
        ..LogConfig::default()
    };
    let log = Log::open(dir, config, storage).await.expect("open");
    for i in 0..n {
        let batch = Bytes::from(hand_batch(1, 1000, 1_000 + i));
        let header = BatchHeader::try_parse(&batch).expect("header");
        let (base, written) = log.append(&batch, &header, 0);
        assert_eq!(base, i);
        written.await.expect("written");
    }
    log.sync().await.expect("sync");
    log
}

/// Recovery of the (only, active) segment of the log in `dir`.
async fn recover(storage: &ShardStorage, dir: &std::path::Path) -> recovery::Recovered {
    recovery::recover_segment(
        &storage.transient,
        dir,
        0,
        crate::limits::INDEX_INTERVAL_BYTES,
        crate::limits::REQUEST_BYTES_MAX_DEFAULT,
        false,
    )
    .await
    .expect("recover")
}

fn file_len(dir: &std::path::Path) -> u64 {
    std::fs::metadata(segment::path(dir, 0, LOG_SUFFIX))
        .expect("log file")
        .len()
}

async fn every_record_reads_back(log: &Log, n: i64) {
    for offset in 0..n {
        let r = log.read(offset, n, 1, true).await.expect("read");
        let first = r.chunks.first().expect("a batch");
        let h = BatchHeader::try_parse(first).expect("header");
        assert_eq!(h.base_offset, offset, "read at {offset}");
    }
}

#[test]
fn the_active_segment_is_zeroed_ahead_and_cut_to_its_contents_at_close() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let storage = ShardStorage::for_test();
        let n = 3_000; // ~3.3 MB: more than half a zeroing chunk, so a second one starts
        let log = preallocated_log(&storage, dir.path(), n).await;
        let logical = log.segments.borrow().values().map(|s| s.size).sum::<u64>();
        // Wait for the zero write under way (the next append or the seal would).
        let ahead = file_len(dir.path());
        assert!(
            ahead > logical,
            "the file ({ahead} bytes) runs ahead of the log ({logical} bytes)"
        );
        assert!(ahead <= logical + 2 * SEGMENT_PREALLOCATE_BYTES as u64);
        every_record_reads_back(&log, n).await;
        log.close().await.expect("close");
        assert_eq!(
            file_len(dir.path()),
            logical,
            "closed: exactly its contents"
        );

        // Reopened: the same records, and appends go on from the end.
        let log = preallocated_log(&storage, dir.path(), 0).await;
        every_record_reads_back(&log, n).await;
        let batch = Bytes::from(hand_batch(1, 1000, 99));
        let header = BatchHeader::try_parse(&batch).expect("header");
        let (base, written) = log.append(&batch, &header, 0);
        assert_eq!(base, n);
        written.await.expect("written");
        log.close().await.expect("close");
    });
}

#[test]
#[expect(
    clippy::await_holding_refcell_ref,
    reason = "the test waits for the zero write with the log's active files borrowed; nothing else runs"
)]
fn after_a_crash_the_zeroed_tail_is_padding_not_damage() {
    on_executor(|| async {
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
        let storage = ShardStorage::for_test();
        let n = 3_000;
        let log = preallocated_log(&storage, dir.path(), n).await;
        let logical = log.segments.borrow().values().map(|s| s.size).sum::<u64>();
        // Let the zero write under way finish, then "crash": no seal, no close.
        log.active
            .borrow()
            .as_ref()
            .expect("active")
            .log
            .zeroing_done()
            .await;
        let before = file_len(dir.path());
        assert!(
            before > logical,
            "zeros past the end ({before} vs {logical})"
        );
        drop(log);

        let r = recover(&storage, dir.path()).await;
        assert_eq!(r.damage, None, "an all-zero tail is padding");
        assert_eq!(r.truncated_bytes, 0);
        assert_eq!(r.segment.next_offset, n, "every batch kept");
        assert_eq!(file_len(dir.path()), logical, "the zeros are cut off");

        // A torn batch in front of the zeros is still damage.
        let log = preallocated_log(&storage, dir.path(), 0).await;
        every_record_reads_back(&log, n).await;
        drop(log);
        let path = segment::path(dir.path(), 0, LOG_SUFFIX);
        let mut bytes = std::fs::read(&path).expect("read");
        let len = bytes.len();
        bytes.truncate(len - 100); // the last batch torn
        bytes.resize(len + 4096, 0); // then zeros
        std::fs::write(&path, &bytes).expect("write");
        let r = recover(&storage, dir.path()).await;
        assert!(r.damage.is_some(), "a torn batch is damage");
        assert_eq!(r.segment.next_offset, n - 1, "the torn batch is cut");

        // Zeros beyond what preallocation can leave are damage too (reported), though every
        // whole batch before them is kept.
        let mut bytes = std::fs::read(&path).expect("read");
        let kept = bytes.len();
        bytes.resize(
            kept + recovery::PREALLOCATED_TAIL_BYTES_MAX as usize + 4096,
            0,
        );
        std::fs::write(&path, &bytes).expect("write");
        let r = recover(&storage, dir.path()).await;
        assert!(
            r.damage.is_some(),
            "a zero tail longer than any preallocation"
        );
        assert_eq!(r.segment.next_offset, n - 1, "every whole batch kept");
        assert_eq!(file_len(dir.path()), kept as u64);
    });
}
