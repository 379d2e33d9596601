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
