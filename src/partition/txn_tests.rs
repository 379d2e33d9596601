//! A partition's transaction state across a reopen (after a storage error the shard's
//! housekeeping reopens the log and builds a fresh `Partition`): the producers the
//! coordinator added it for survive, so an open transaction's next batch is accepted.

use std::rc::Rc;

use bytes::Bytes;
use sluice_client::records::{encode_batch_as, Compression, NewRecord, ProducerFields};

use super::{Partition, Settings};
use crate::log::{Log, LogConfig, ShardStorage};
use crate::protocol::errors::PartitionError;
use crate::shard::nudge::on_executor;

fn txn_batch(producer_id: i64, epoch: i16, seq: i32) -> Bytes {
    let records = vec![NewRecord {
        key: Some(Bytes::from_static(b"k")),
        value: Some(Bytes::from_static(b"v")),
        headers: Vec::new(),
        timestamp: 1_700_000_000_000,
    }];
    let producer = ProducerFields {
        id: producer_id,
        epoch,
        base_sequence: seq,
        transactional: true,
    };
    encode_batch_as(&records, Compression::None, producer).expect("encode")
}

async fn open_log(dir: &std::path::Path, storage: &Rc<ShardStorage>) -> Rc<Log> {
    Log::open(dir, LogConfig::default(), storage)
        .await
        .expect("open")
}

#[test]
fn a_reopened_partition_keeps_the_producers_added_to_its_transactions() {
    on_executor(|| async {
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
        crate::server::checks::prime_direct_io_probe(tmp.path(), 0).await;
        let dir = tmp.path().join("t-0");
        let storage = ShardStorage::new(
            1 << 20,
            crate::log::index_cache::SEALED_INDEX_CACHE_BYTES_DEFAULT,
        );
        let log = open_log(&dir, &storage).await;
        let pool = log.blocking_rc();
        let p = Partition::new("t".into(), 0, 0, log.clone(), Settings::for_tests());
        let (pid, epoch) = (4_000, 2);
        assert!(matches!(
            p.produce(&txn_batch(pid, epoch, 0), true).await,
            Err(PartitionError::InvalidTxnState)
        ));
        p.txn_add(&pool, pid, epoch).await.expect("added");
        p.produce(&txn_batch(pid, epoch, 0), true)
            .await
            .expect("in the transaction");
        assert_eq!(p.txn_ongoing(), vec![(pid, 0)]);

        // A reopen as after a storage error: the log closed and opened again.
        log.close().await.expect("close");
        let log = open_log(&dir, &storage).await;
        let fresh = p.reopened(log.clone(), Settings::for_tests(), &pool).await;
        assert_eq!(fresh.txn_ongoing(), vec![(pid, 0)], "rebuilt from the log");
        fresh
            .produce(&txn_batch(pid, epoch, 1), true)
            .await
            .expect("the open transaction goes on after the reopen");
        assert!(
            matches!(
                fresh.produce(&txn_batch(pid, epoch - 1, 2), true).await,
                Err(PartitionError::InvalidProducerEpoch)
            ),
            "an older epoch is still fenced"
        );

        // Without what `reopened` carries over, the log alone can't tell.
        log.close().await.expect("close");
        let log = open_log(&dir, &storage).await;
        let bare = Partition::new("t".into(), 0, 0, log.clone(), Settings::for_tests());
        bare.rebuild_txn_state(&pool).await.expect("rebuilt");
        assert!(matches!(
            bare.produce(&txn_batch(pid, epoch, 2), true).await,
            Err(PartitionError::InvalidTxnState)
        ));
        // The marker ends the transaction here: nothing is carried over after it.
        let fresh2 = fresh
            .reopened(log.clone(), Settings::for_tests(), &pool)
            .await;
        fresh2
            .append_marker(pid, epoch, true, 0)
            .await
            .expect("marker");
        assert!(matches!(
            fresh2.produce(&txn_batch(pid, epoch, 2), true).await,
            Err(PartitionError::InvalidTxnState)
        ));
        log.close().await.expect("close");
    });
}
