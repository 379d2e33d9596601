//! Timestamp lookups (ListOffsets by timestamp, and MAX_TIMESTAMP), to the record as Kafka
//! answers them: the offset of the first record whose timestamp is at or past the target,
//! looking inside the batch the time index leads to (decompressing it, within a bound).
//!
//! The search: segments whose largest timestamp reaches the target, in order; in each, from
//! the time index's entry, batch headers until one whose max timestamp reaches it; in that
//! batch, its records in order. A batch whose header promised such a record but holds none
//! (a client's header can disagree with its records) sends the search on to the next batch,
//! as Kafka's does. A LogAppendTime batch's records all carry its max timestamp.
//!
//! Lives on the partition's owner shard.

use bytes::{Bytes, BytesMut};

use super::format::BatchHeader;
use super::{index, reader, Log, LogError};

/// The answer to a timestamp lookup: (offset, timestamp) of the record found.
pub type Found = (i64, i64);

/// Why a record walk stopped early: found the record, or the records could not be read.
enum Walk {
    Found(Found),
    Unreadable(sluice_client::error::ClientError),
}

impl From<sluice_client::error::ClientError> for Walk {
    fn from(e: sluice_client::error::ClientError) -> Walk {
        Walk::Unreadable(e)
    }
}

impl Log {
    /// The first record at or after the log start whose timestamp is >= `timestamp`: its offset
    /// and timestamp; None past the last one.
    /// A segment retention deleted, or the cleaner replaced, while the lookup was on its way to
    /// it fails to open: the lookup starts again from the new segment map (a few times at
    /// most, as `Log::read` does), instead of answering KAFKA_STORAGE_ERROR.
    pub async fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<Found>, LogError> {
        let mut retries = 3u32;
        'again: loop {
            let epoch = self.swap_epoch.get();
            let candidates: Vec<(i64, u64)> = {
                let start = self.start_offset.get();
                self.segments
                    .borrow()
                    .values()
                    .filter(|s| s.max_timestamp >= timestamp && s.next_offset > start)
                    .map(|s| (s.base_offset, s.size))
                    .collect()
            };
            for (base, size) in candidates {
                match self.timestamp_in_segment(base, size, timestamp).await {
                    Ok(Some(found)) => return Ok(Some(found)),
                    Ok(None) => {}
                    Err(_) if retries > 0 && self.swapped_under(epoch, base, size) => {
                        retries -= 1;
                        self.swap_settled().await;
                        continue 'again;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(None);
        }
    }

    /// The largest timestamp stored and the offset of the first record carrying it (ListOffsets
    /// MAX_TIMESTAMP, KIP-734), or None for a log without timestamps.
    pub async fn max_timestamp(&self) -> Result<Option<Found>, LogError> {
        let largest = self
            .segments
            .borrow()
            .values()
            .filter(|s| s.max_timestamp >= 0)
            .map(|s| s.max_timestamp)
            .max();
        match largest {
            // No record is later than the largest: the first at or past it carries it.
            Some(ts) => self.offset_for_timestamp(ts).await,
            None => Ok(None),
        }
    }

    /// [`Log::offset_for_timestamp`] within segment `base` (logical size `size`).
    async fn timestamp_in_segment(
        &self,
        base: i64,
        size: u64,
        timestamp: i64,
    ) -> Result<Option<Found>, LogError> {
        // The index is looked up before the segment is opened: a load from disk takes a
        // transient-file slot of its own, never while this one is held.
        let (position, expected) = self.start_for_timestamp(base, size, timestamp).await;
        let open = self.segment_file(base, size).await?;
        let seg = reader::SegmentFile {
            reads: &self.storage.disk_reads,
            file: &open.file,
            size: open.size,
            base_offset: base,
        };
        let start = self.start_offset.get();
        // The first batch from `from` that may hold the record, and the first batch seen.
        let next_batch = |from: u64| {
            let seg = &seg;
            async move {
                let mut found = None;
                let mut first_base = None;
                reader::scan_headers(seg, from, |position, h| {
                    first_base.get_or_insert(h.base_offset);
                    if h.max_timestamp >= timestamp && h.next_offset() > start {
                        found = Some((position, *h));
                        return false;
                    }
                    true
                })
                .await
                .map(|()| (found, first_base))
            }
        };
        let r = next_batch(position).await;
        let misled = match &r {
            Ok((_, first_base)) => first_base.is_some_and(|b| b != expected),
            Err(_) => true,
        };
        let mut batch = if position > 0 && misled {
            tracing::warn!(dir = %self.dir.display(), segment = base, timestamp, position, "index entry does not match the log; scanning the segment from its start");
            if base < self.active_file.borrow().base_offset {
                self.storage.index_cache.distrust(self.id, base);
            }
            next_batch(0).await?.0
        } else {
            r?.0
        };
        while let Some((position, header)) = batch {
            if let Some(found) = self
                .record_in_batch(&seg, position, &header, timestamp, start)
                .await?
            {
                return Ok(Some(found));
            }
            let Some(total) = header.total_bytes() else {
                break;
            };
            batch = next_batch(position + total as u64).await?.0;
        }
        Ok(None)
    }

    /// The first record of the batch at `position` (header `h`) at or past `timestamp` and
    /// the log start `start`.
    async fn record_in_batch(
        &self,
        seg: &reader::SegmentFile<'_>,
        position: u64,
        h: &BatchHeader,
        timestamp: i64,
        start: i64,
    ) -> Result<Option<Found>, LogError> {
        let at_batch = (h.base_offset.max(start), h.max_timestamp);
        if h.is_log_append_time() || h.is_control() {
            // LogAppendTime: every record carries the batch's time. A control batch's one
            // marker record is at its base offset.
            return Ok(Some(at_batch));
        }
        let Some(total) = h.total_bytes() else {
            return Ok(Some(at_batch));
        };
        let read = reader::read_batches(seg, position, h.base_offset, h.next_offset(), total, true)
            .await?;
        let mut bytes = BytesMut::with_capacity(read.bytes);
        for chunk in &read.chunks {
            bytes.extend_from_slice(chunk);
        }
        let bytes: Bytes = bytes.freeze();
        // Decompressing may take up to the bound: one at a time per shard.
        let _slot = if h.compression() != Some(super::format::Compression::None) {
            Some(
                self.storage
                    .decompressions
                    .acquire_permit(1)
                    .await
                    .map_err(|e| LogError::Io(std::io::Error::other(e.to_string())))?,
            )
        } else {
            None
        };
        let walked = sluice_client::records::walk_batches(&bytes, |r| {
            if r.offset >= start && r.timestamp >= timestamp {
                return Err(Walk::Found((r.offset, r.timestamp)));
            }
            Ok(())
        });
        match walked {
            Err(Walk::Found(found)) => Ok(Some(found)),
            Ok(_) => Ok(None),
            Err(Walk::Unreadable(e)) => {
                // Stored as sent, CRC intact, but its records can't be read (a producer's
                // malformed compressed payload, or past the decompression bound): answer at
                // the batch, as before record-level lookups.
                tracing::warn!(dir = %self.dir.display(), offset = h.base_offset, error = %e, "timestamp lookup could not read a batch's records; answering with the batch's base offset");
                Ok(Some(at_batch))
            }
        }
    }

    /// Where a timestamp seek in segment `base` starts (as [`Log::start_for`]).
    async fn start_for_timestamp(&self, base: i64, size: u64, timestamp: i64) -> (u64, i64) {
        if base >= self.active_file.borrow().base_offset {
            return self
                .segments
                .borrow()
                .get(&base)
                .map_or((0, base), |s| s.start_for_timestamp(timestamp));
        }
        let sealed = self.sealed_index(base, size).await;
        index::start_for_timestamp(&sealed.offsets, &sealed.times, base, timestamp)
    }
}
