//! Periodic per-shard storage chores: retention (whole segments past `retention.ms` /
//! `retention.bytes`) and `flush.ms` syncs, for the partitions this shard owns.
//!
//! Runs as one task on every shard; never touches another shard's partitions.

use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;

use super::Shard;

pub use crate::limits::FLUSH_CHECK_INTERVAL_MS;

pub use crate::limits::FAILED_REOPEN_INTERVAL_MS;

impl Shard {
    /// The shard's housekeeping loop, until shutdown.
    pub async fn run_housekeeping(self: Rc<Self>) {
        let retention_every = self.config.retention_check_interval_ms.max(1);
        let mut since_retention = 0u64;
        let mut since_reopen = 0u64;
        loop {
            let tick = FLUSH_CHECK_INTERVAL_MS.min(retention_every);
            let sleep = glommio::timer::sleep(Duration::from_millis(tick)).fuse();
            let stop = self.shutdown.wait().fuse();
            futures::pin_mut!(sleep, stop);
            futures::select! {
                _ = sleep => {},
                _ = stop => return,
            }
            let now = crate::log::now_ms();
            for p in self.local_partitions() {
                p.flush_if_due(now).await;
            }
            since_reopen += tick;
            if since_reopen >= FAILED_REOPEN_INTERVAL_MS {
                since_reopen = 0;
                self.reopen_failed_partitions().await;
            }
            since_retention += tick;
            if since_retention >= retention_every {
                since_retention = 0;
                self.apply_retention(now).await;
            }
        }
    }

    /// Reopen every partition whose log failed; one that still can't open stays failed (its
    /// produces get KAFKA_STORAGE_ERROR) and is tried again next time.
    pub async fn reopen_failed_partitions(&self) {
        for p in self.local_partitions() {
            if !p.log().is_failed() {
                continue;
            }
            let _ = p.log().close().await;
            let snapshot = self.snapshot();
            let Some(topic) = snapshot.topic(&p.topic) else {
                continue;
            };
            let config = self.log_config_for(topic);
            match crate::log::Log::open(p.log().dir(), config, &self.storage).await {
                Ok(log) => {
                    let fresh = crate::partition::Partition::new(
                        p.topic.clone(),
                        p.index,
                        p.leader_epoch(),
                        log,
                        self.partition_settings_for(topic),
                    );
                    self.replace_partition(fresh);
                    tracing::info!(topic = %p.topic, partition = p.index, "partition reopened after a storage error");
                }
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "partition still failing; will retry");
                }
            }
        }
    }

    /// One retention pass over this shard's partitions.
    pub async fn apply_retention(&self, now_ms: i64) {
        for p in self.local_partitions() {
            let retention = p.settings().retention;
            match p.log().apply_retention(retention, now_ms).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    topic = %p.topic,
                    partition = p.index,
                    segments = n,
                    log_start_offset = p.log_start_offset(),
                    "retention deleted segments"
                ),
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention")
                }
            }
        }
    }
}
