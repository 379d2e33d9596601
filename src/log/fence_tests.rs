//! A failed fdatasync fences the partition (issue 12): the producer gets KAFKA_STORAGE_ERROR,
//! no fetch sees anything past what was durable before the failure, no fdatasync is retried
//! and trusted, and a reopen recovers the log from what is on disk. Also: a write that fails
//! before any byte reached the file is refused without fencing.

use std::rc::Rc;

use bytes::Bytes;

use super::faults;
use super::format::{tests::hand_batch, BatchHeader};
use super::{Log, LogConfig, ShardStorage};
use crate::partition::{Partition, Settings};
use crate::protocol::errors::PartitionError;
use crate::shard::nudge::on_executor;

fn records(max_timestamp: i64) -> Bytes {
    Bytes::from(hand_batch(2, 300, max_timestamp))
}

async fn open(dir: &std::path::Path) -> (Rc<Log>, Rc<Partition>) {
    let log = Log::open(
        dir,
        LogConfig::default(),
        &ShardStorage::new(
            1 << 20,
            super::index_cache::SEALED_INDEX_CACHE_BYTES_DEFAULT,
        ),
    )
    .await
    .expect("open");
    let p = Partition::new("t".into(), 0, 0, log.clone(), Settings::for_tests());
    (log, p)
}

/// Base offsets of the batches a fetch from `offset` returns.
async fn fetched_bases(p: &Partition, offset: i64) -> Result<Vec<i64>, PartitionError> {
    let f = p.fetch(offset, 1 << 20, true, false).await?;
    let buf = f.records.into_contiguous();
    let mut bases = Vec::new();
    let mut at = 0;
    while let Ok(h) = BatchHeader::try_parse(&buf[at..]) {
        bases.push(h.base_offset);
        at += h.total_bytes().expect("length");
        if at >= buf.len() {
            break;
        }
    }
    Ok(bases)
}

#[test]
fn failed_fdatasync_fences_the_partition_until_it_is_reopened() {
    on_executor(|| async {
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(tmp.path(), 0).await;
        let dir = tmp.path().join("t-0");
        let sim = faults::install();
        let (log, p) = open(&dir).await;

        let a = p.produce(&records(1), true).await.expect("acks=all");
        assert_eq!(a.base_offset, 0);
        let b = p.produce(&records(2), false).await.expect("acks=1");
        assert_eq!(b.base_offset, 2);
        assert_eq!(
            log.synced_end_offset(),
            2,
            "the acks=1 batch is written, not synced"
        );
        assert_eq!(
            p.high_watermark(),
            4,
            "acks=1 data is readable once written"
        );
        let (_, synced_before) = sim.sync_counts();

        // The next fdatasync fails: the acks=all producer gets KAFKA_STORAGE_ERROR.
        sim.fail_next_syncs(1);
        let c = p.produce(&records(3), true).await;
        assert!(matches!(c, Err(PartitionError::Storage)), "{c:?}");
        assert!(p.is_fenced() && log.is_failed());
        assert_eq!(log.fenced_at(), Some(2), "fenced at the last synced end");

        // No reads past what was durable before the failure; the high watermark is frozen.
        assert_eq!(p.high_watermark(), 2);
        assert_eq!(fetched_bases(&p, 0).await.expect("fetch"), vec![0]);
        for offset in [2, 4, 6] {
            let r = fetched_bases(&p, offset).await;
            assert!(
                matches!(r, Err(PartitionError::Storage)),
                "fetch at {offset}: {r:?}"
            );
        }
        // No appends, and no fdatasync retried (and trusted) on the poisoned file.
        let d = p.produce(&records(4), true).await;
        assert!(matches!(d, Err(PartitionError::Storage)), "{d:?}");
        assert!(log.sync().await.is_err());
        let e = p.produce(&records(5), false).await;
        assert!(matches!(e, Err(PartitionError::Storage)), "{e:?}");
        assert_eq!(
            sim.sync_counts().1,
            synced_before,
            "no fdatasync after the failure"
        );
        assert_eq!(log.synced_end_offset(), 2);
        assert_eq!(p.high_watermark(), 2);

        // Housekeeping's reopen: close (refused: failed), open, recover from the disk.
        assert!(log.close().await.is_err());
        drop((p, log));
        faults::uninstall();
        let (log, p) = open(&dir).await;
        // The disk holds all three writes (the fdatasync failed, the writes did not), so the
        // recovered log has them, contiguous and CRC-valid, and serves them again.
        assert_eq!(log.log_end_offset(), 6);
        assert_eq!(p.high_watermark(), 6);
        assert!(!p.is_fenced());
        assert_eq!(fetched_bases(&p, 0).await.expect("fetch"), vec![0, 2, 4]);
        let f = p
            .produce(&records(6), true)
            .await
            .expect("appends work again");
        assert_eq!(f.base_offset, 6);
        log.close().await.expect("close");
    });
}

#[test]
fn a_write_that_reached_nothing_is_refused_without_fencing() {
    on_executor(|| async {
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(tmp.path(), 0).await;
        let dir = tmp.path().join("t-0");
        let sim = faults::install();
        let (log, p) = open(&dir).await;
        p.produce(&records(1), true).await.expect("first");
        sim.fail_next_writes(1);
        let r = p.produce(&records(2), true).await;
        assert!(matches!(r, Err(PartitionError::Storage)), "{r:?}");
        assert!(
            !p.is_fenced(),
            "nothing reached the file: rolled back, not fenced"
        );
        assert_eq!(log.log_end_offset(), 2, "its offsets are given again");
        let again = p.produce(&records(3), true).await.expect("next append");
        assert_eq!(again.base_offset, 2);
        assert_eq!(fetched_bases(&p, 0).await.expect("fetch"), vec![0, 2]);
        log.close().await.expect("close");
        faults::uninstall();
    });
}
