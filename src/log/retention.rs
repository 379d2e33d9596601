//! Retention and DeleteRecords: whole sealed segments deleted on the owner shard, the log
//! start offset moved and persisted (`start_offset`).
//!
//! Lives on the partition's owner shard.

use super::{
    file_ops, segment, start_offset, Log, LogError, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};

/// Retention settings for one pass (topic configs resolved against broker defaults).
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Delete segments whose newest batch is older than this (`retention.ms`; -1: keep).
    pub retention_ms: i64,
    /// Delete the oldest segments while the log is larger than this (`retention.bytes`; -1: keep).
    pub retention_bytes: i64,
}

impl Log {
    /// Move the log start offset to `offset` (DeleteRecords), which must not pass the log end;
    /// whole segments below it are deleted. Returns the new log start offset.
    pub async fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        let end = self.written_end.get();
        if offset > end || offset < 0 {
            return Err(LogError::OffsetOutOfRange {
                offset,
                start: self.start_offset.get(),
                end,
            });
        }
        let _moving = self.moving_start().await?;
        if offset > self.start_offset.get() {
            start_offset::store(&self.storage.blocking, &self.dir, offset).await?;
            self.start_offset.set(offset.max(self.start_offset.get()));
            self.cache.drop_before(offset);
            self.delete_segments_below_start().await;
        }
        Ok(self.start_offset.get())
    }

    /// One retention pass: delete whole sealed segments that are too old or beyond the size
    /// limit (the active segment is never deleted). Returns how many were deleted.
    pub async fn apply_retention(
        &self,
        retention: Retention,
        now_ms: i64,
    ) -> Result<usize, LogError> {
        let _moving = self.moving_start().await?;
        let doomed: Vec<i64> = {
            let segments = self.segments.borrow();
            let mut total: u64 = segments.values().map(|s| s.size).sum();
            let sealed = self.sealed_count(&segments);
            let mut doomed = Vec::new();
            for s in segments.values().take(sealed) {
                let too_old = retention.retention_ms >= 0
                    && s.max_timestamp >= 0
                    && now_ms.saturating_sub(s.max_timestamp) > retention.retention_ms;
                let too_big = retention.retention_bytes >= 0
                    && total.saturating_sub(s.size) >= retention.retention_bytes as u64
                    && total > retention.retention_bytes as u64;
                if !(too_old || too_big) {
                    break;
                }
                total -= s.size;
                doomed.push(s.base_offset);
            }
            doomed
        };
        let Some(&last) = doomed.last() else {
            return Ok(0);
        };
        let new_start = self
            .segments
            .borrow()
            .get(&last)
            .map_or(self.start_offset.get(), |s| s.next_offset);
        if new_start > self.start_offset.get() {
            start_offset::store(&self.storage.blocking, &self.dir, new_start).await?;
            self.start_offset
                .set(new_start.max(self.start_offset.get()));
            self.cache.drop_before(new_start);
        }
        Ok(self.delete_segments_below_start().await)
    }

    /// Segments that are sealed: below the one the writer writes. A segment rolled to by an
    /// append is the last in the map before the writer has finished, synced and sealed the
    /// one before it; that one is not sealed yet and must not be deleted.
    fn sealed_count(&self, segments: &std::collections::BTreeMap<i64, super::Segment>) -> usize {
        let active = self.active_file.borrow().base_offset;
        segments.range(..active).count()
    }

    /// One move of the log start offset at a time: a slower store of an older offset must not
    /// land after a newer one (the file would go back while memory moved on).
    pub(super) async fn moving_start(&self) -> Result<glommio::sync::Permit<'_>, LogError> {
        self.start_offset_moves
            .acquire_permit(1)
            .await
            .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))
    }

    /// Delete sealed segments that end at or before the log start offset.
    async fn delete_segments_below_start(&self) -> usize {
        let start = self.start_offset.get();
        let doomed: Vec<i64> = {
            let segments = self.segments.borrow();
            let sealed = self.sealed_count(&segments);
            segments
                .values()
                .take(sealed)
                .filter(|s| s.next_offset <= start)
                .map(|s| s.base_offset)
                .collect()
        };
        if doomed.is_empty() {
            return 0;
        }
        // No open of a sealed file may be under way while one is unlinked (`file_moves`).
        let _moving = self.files_moving().await;
        for base in &doomed {
            self.segments.borrow_mut().remove(base);
            self.storage.index_cache.forget(self.id, *base);
            // The segment's aborted transactions go with it (most segments have no
            // `.txnindex`: only those holding an ABORT marker).
            for suffix in [
                LOG_SUFFIX,
                INDEX_SUFFIX,
                TIME_INDEX_SUFFIX,
                super::txn_index::TXN_INDEX_SUFFIX,
            ] {
                let path = segment::path(&self.dir, *base, suffix);
                let result = file_ops::remove_file(&self.storage.blocking, &path).await;
                if suffix == super::txn_index::TXN_INDEX_SUFFIX
                    && result
                        .as_ref()
                        .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
                {
                    continue;
                }
                if let Err(e) = result {
                    tracing::warn!(dir = %self.dir.display(), segment = base, error = %e, "removing segment file");
                }
            }
            tracing::info!(dir = %self.dir.display(), segment = base, log_start_offset = start, "segment deleted");
        }
        doomed.len()
    }
}
