//! Periodic per-shard storage chores: retention (whole segments past `retention.ms` /
//! `retention.bytes`, for topics whose `cleanup.policy` has `delete`), `flush.ms` syncs, and
//! the log cleaner (compaction of topics whose policy has `compact`, `log::cleaner`), for the
//! partitions this shard owns.
//!
//! Runs as two tasks on every shard: the housekeeping loop in the default queue, and the
//! cleaner in its own task queue with [`CLEANER_TASK_QUEUE_SHARES`] (a tenth of the default
//! queue's), so produce and fetch come first; it cleans one partition at a time, within the
//! shard's key-map memory and disk bandwidth limits. Never touches another shard's partitions.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::FutureExt;

use super::Shard;
use crate::limits::CLEANER_TASK_QUEUE_SHARES;
use crate::log::cleaner::{CleanState, Throttle};

pub use crate::limits::FLUSH_CHECK_INTERVAL_MS;

pub use crate::limits::FAILED_REOPEN_INTERVAL_MS;

impl Shard {
    /// The shard's housekeeping loop, until shutdown.
    pub async fn run_housekeeping(self: Rc<Self>) {
        self.start_cleaner();
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
                    // Its transactions and producers, as at any open, and the producers the
                    // coordinator added it for.
                    let fresh = p
                        .reopened(
                            log,
                            self.partition_settings_for(topic),
                            &self.storage.blocking,
                        )
                        .await;
                    self.replace_partition(fresh);
                    tracing::info!(topic = %p.topic, partition = p.index, "partition reopened after a storage error");
                }
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "partition still failing; will retry");
                }
            }
        }
    }

    /// One retention pass over this shard's partitions (those whose topic's cleanup.policy
    /// has `delete`: a compact-only topic keeps its segments, as in Kafka).
    pub async fn apply_retention(&self, now_ms: i64) {
        let snapshot = self.snapshot();
        for p in self.local_partitions() {
            if snapshot
                .topic(&p.topic)
                .is_some_and(|t| !self.cleanup_policy_for(t).delete)
            {
                continue;
            }
            let retention = p.settings().retention;
            match p.log().apply_retention(retention, now_ms).await {
                Ok(0) => {}
                Ok(n) => {
                    p.txn_trim();
                    tracing::info!(
                        topic = %p.topic,
                        partition = p.index,
                        segments = n,
                        log_start_offset = p.log_start_offset(),
                        "retention deleted segments"
                    )
                }
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention")
                }
            }
        }
    }
}

impl Shard {
    /// Spawn the shard's cleaner task in its low-priority task queue (if `log.cleaner.enable`).
    fn start_cleaner(self: &Rc<Self>) {
        if !self.config.cleaner.enable {
            return;
        }
        let queue = glommio::executor().create_task_queue(
            glommio::Shares::Static(CLEANER_TASK_QUEUE_SHARES),
            glommio::Latency::NotImportant,
            "log-cleaner",
        );
        match glommio::spawn_local_into(self.clone().run_cleaner(), queue) {
            Ok(task) => {
                task.detach();
            }
            Err(e) => tracing::error!(error = %e, "could not start the log cleaner"),
        }
    }

    /// The cleaner loop, until shutdown: passes over the compacted partitions this shard owns,
    /// one partition at a time; sleeps `log.cleaner.backoff.ms` when none was due.
    async fn run_cleaner(self: Rc<Self>) {
        let mut states: HashMap<std::path::PathBuf, CleanState> = HashMap::new();
        let limits = self.config.cleaner.limits;
        let mut throttle = Throttle::new(
            limits.io_bytes_per_second,
            self.metrics.cleaner.io_bytes.clone(),
        );
        loop {
            let mut worked = false;
            let mut max_ratio: f64 = 0.0;
            let snapshot = self.snapshot();
            let mut live = std::collections::HashSet::new();
            for p in self.local_partitions() {
                if self.shutdown.is_set() {
                    return;
                }
                let Some(topic) = snapshot.topic(&p.topic) else {
                    continue;
                };
                if !self.cleanup_policy_for(topic).compact {
                    continue;
                }
                let settings = self.cleaner_settings_for(topic);
                let log = p.log().clone();
                let dir = log.dir().to_path_buf();
                live.insert(dir.clone());
                let state = states.entry(dir).or_default();
                let started = std::time::Instant::now();
                let now = crate::log::now_ms();
                let txns = p.cleaner_txn_view();
                match log
                    .clean(state, &settings, &limits, &mut throttle, now, &txns)
                    .await
                {
                    Ok(None) => {}
                    Ok(Some(stats)) => {
                        worked = true;
                        p.txn_forget_aborted(&stats.aborts_emptied);
                        let took = started.elapsed();
                        let m = &self.metrics.cleaner;
                        m.passes.fetch_add(1, Relaxed);
                        m.map_full_passes
                            .fetch_add(u64::from(stats.map_full), Relaxed);
                        m.bytes_read.fetch_add(stats.bytes_read, Relaxed);
                        m.bytes_written.fetch_add(stats.bytes_written, Relaxed);
                        m.bytes_reclaimed.fetch_add(stats.bytes_reclaimed, Relaxed);
                        m.last_pass_ms
                            .store(u64::try_from(took.as_millis()).unwrap_or(u64::MAX), Relaxed);
                        tracing::info!(
                            topic = %p.topic,
                            partition = p.index,
                            bytes_read = stats.bytes_read,
                            bytes_written = stats.bytes_written,
                            groups = stats.groups,
                            map_full = stats.map_full,
                            took_ms = took.as_millis() as u64,
                            "log cleaner pass"
                        );
                    }
                    Err(_) if self.shutdown.is_set() => return,
                    Err(e) => {
                        tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "log cleaner pass failed");
                    }
                }
                max_ratio = max_ratio.max(state.dirty_ratio);
            }
            // Partitions gone (deleted, moved) are forgotten.
            states.retain(|dir, _| live.contains(dir));
            self.metrics
                .cleaner
                .max_dirty_ratio_permille
                .store((max_ratio * 1000.0) as u64, Relaxed);
            if worked {
                // Another look at once: a pass cut short by the key map continues.
                glommio::yield_if_needed().await;
                continue;
            }
            let sleep =
                glommio::timer::sleep(Duration::from_millis(self.config.cleaner.backoff_ms)).fuse();
            let stop = self.shutdown.wait().fuse();
            futures::pin_mut!(sleep, stop);
            futures::select! {
                _ = sleep => {},
                _ = stop => return,
            }
        }
    }
}
