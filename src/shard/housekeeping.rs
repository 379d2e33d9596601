//! Periodic per-shard storage chores: retention (whole segments past `retention.ms` /
//! `retention.bytes`) and `flush.ms` syncs, for the partitions this shard owns.
//!
//! Runs as one task on every shard; never touches another shard's partitions.

use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;

use super::Shard;

/// How often `flush.ms` is checked; a shorter `flush.ms` is honoured at this granularity.
pub const FLUSH_CHECK_INTERVAL_MS: u64 = 100;

impl Shard {
    /// The shard's housekeeping loop, until shutdown.
    pub async fn run_housekeeping(self: Rc<Self>) {
        let retention_every = self.config.retention_check_interval_ms.max(1);
        let mut since_retention = 0u64;
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
            since_retention += tick;
            if since_retention >= retention_every {
                since_retention = 0;
                self.apply_retention(now);
            }
        }
    }

    /// One retention pass over this shard's partitions.
    pub fn apply_retention(&self, now_ms: i64) {
        for p in self.local_partitions() {
            let retention = p.settings().retention;
            match p.log().apply_retention(retention, now_ms) {
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
