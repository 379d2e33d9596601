//! The active segment's `.index` and `.timeindex` files, kept closed between writes: the
//! entries live in the segment's in-memory indexes and are appended to the files (open, write,
//! close, within the shard's transient-file slots) once the log has grown
//! [`INDEX_UNPERSISTED_LOG_BYTES_MAX`] past the last persist — only the entries of synced
//! batches — and in full when the segment is sealed or the log closed. A partition therefore
//! holds one descriptor (its active `.log`). Nothing here asks for a sync: after a crash,
//! recovery scans from the last entry of synced data, which for acks=0/1 data without
//! `flush.*` can be the start of the active segment (as Kafka recovers from its recovery point).
//!
//! Lives on the partition's owner shard, owned by the log's writer.

use std::path::{Path, PathBuf};

use super::appender::DmaAppender;
use super::index::{self, OffsetEntry, TimeEntry, INDEX_HEADER_BYTES};
use super::segment::{self, Segment, INDEX_SUFFIX, TIME_INDEX_SUFFIX};
use super::{LogError, ShardStorage};
use std::rc::Rc;

pub use crate::limits::INDEX_UNPERSISTED_LOG_BYTES_MAX;

/// How much of the active segment's indexes is on disk.
pub struct ActiveIndex {
    /// The shard's storage: transient-file slots for the appends.
    storage: Rc<ShardStorage>,
    dir: PathBuf,
    base_offset: i64,
    /// Offset-index / time-index entries already in the files.
    offsets_persisted: usize,
    times_persisted: usize,
    /// Log bytes written when the entries were last persisted.
    persisted_at_log_bytes: u64,
}

/// Entries of `seg` whose batches lie within the first `written` bytes and below offset
/// `synced_end`, from `from` on.
///
/// Only entries of synced batches go to disk: a power loss may keep a later unsynced write
/// and lose an earlier one, and recovery trusts the last index entry whose batch is there
/// without reading what lies before it — an entry for an unsynced batch could lead it past a
/// hole (`power_loss::recovery_does_not_trust_an_index_entry_past_a_hole`).
fn written_entries(
    seg: &Segment,
    written: u64,
    synced_end: i64,
    offsets_from: usize,
    times_from: usize,
) -> (Vec<OffsetEntry>, Vec<TimeEntry>) {
    let offsets_end = seg.index.partition_point(|e| {
        u64::from(e.position) < written
            && seg.base_offset + i64::from(e.relative_offset) < synced_end
    });
    // Time-index entries are only made next to offset-index entries (same relative offset):
    // one is written when its offset-index twin is.
    let last_written = offsets_end
        .checked_sub(1)
        .map(|i| seg.index[i].relative_offset);
    let times_end = last_written.map_or(0, |r| {
        seg.time_index.partition_point(|t| t.relative_offset <= r)
    });
    (
        seg.index[offsets_from.min(offsets_end)..offsets_end].to_vec(),
        seg.time_index[times_from.min(times_end)..times_end].to_vec(),
    )
}

async fn append_to(
    storage: &ShardStorage,
    path: &Path,
    logical_len: u64,
    bytes: &[u8],
    finish: bool,
) -> Result<(), LogError> {
    let _slot = storage.transient.slot().await?;
    let mut file = DmaAppender::open(path, logical_len).await?;
    let result = async {
        file.append(&[bytes]).await?;
        if finish {
            file.truncate_to_len().await?;
            file.sync().await?;
        }
        Ok::<(), std::io::Error>(())
    }
    .await;
    let closed = file.close().await;
    result?;
    closed?;
    Ok(())
}

impl ActiveIndex {
    /// Create both index files of a new segment (header only).
    pub async fn create(
        storage: &Rc<ShardStorage>,
        dir: &Path,
        base_offset: i64,
    ) -> Result<ActiveIndex, LogError> {
        let seg = Segment::new(base_offset);
        Self::rewrite(storage, dir, &seg).await
    }

    /// Write both index files of `seg` whole from its in-memory indexes (every entry's batch
    /// must be written), truncating what was there.
    pub async fn rewrite(
        storage: &Rc<ShardStorage>,
        dir: &Path,
        seg: &Segment,
    ) -> Result<ActiveIndex, LogError> {
        let base = seg.base_offset;
        for (suffix, bytes) in [
            (INDEX_SUFFIX, encode_offsets(base, &seg.index, true)),
            (TIME_INDEX_SUFFIX, encode_times(base, &seg.time_index, true)),
        ] {
            let _slot = storage.transient.slot().await?;
            let mut f = DmaAppender::create(&segment::path(dir, base, suffix)).await?;
            let r = f.append(&[&bytes]).await;
            let closed = f.close().await;
            r?;
            closed?;
        }
        Ok(ActiveIndex {
            storage: storage.clone(),
            dir: dir.to_path_buf(),
            base_offset: base,
            offsets_persisted: seg.index.len(),
            times_persisted: seg.time_index.len(),
            persisted_at_log_bytes: seg.size,
        })
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Whether `written` log bytes are far enough past the last persist to persist again.
    pub fn due(&self, written: u64) -> bool {
        written.saturating_sub(self.persisted_at_log_bytes)
            >= self.storage.index_persist_every_bytes.get()
    }

    /// The entries to append now for a log with `written` bytes on disk, of which the batches
    /// below offset `synced_end` are synced.
    pub fn unpersisted(
        &self,
        seg: &Segment,
        written: u64,
        synced_end: i64,
    ) -> (Vec<OffsetEntry>, Vec<TimeEntry>) {
        written_entries(
            seg,
            written,
            synced_end,
            self.offsets_persisted,
            self.times_persisted,
        )
    }

    /// Append `offsets` / `times` (from [`ActiveIndex::unpersisted`] at `written` bytes); with
    /// `finish`, also cut both files to their exact size and sync them (sealing). On error the
    /// entries stay unpersisted and are retried by the next call (each append rewrites from
    /// the last persisted entry on), or rebuilt by recovery.
    pub async fn persist(
        &mut self,
        offsets: &[OffsetEntry],
        times: &[TimeEntry],
        written: u64,
        finish: bool,
    ) -> Result<(), LogError> {
        let base = self.base_offset;
        if !offsets.is_empty() || finish {
            let len =
                (INDEX_HEADER_BYTES + self.offsets_persisted * index::OFFSET_ENTRY_BYTES) as u64;
            let path = segment::path(&self.dir, base, INDEX_SUFFIX);
            append_to(
                &self.storage,
                &path,
                len,
                &encode_offsets(base, offsets, false),
                finish,
            )
            .await?;
            self.offsets_persisted += offsets.len();
        }
        if !times.is_empty() || finish {
            let len = (INDEX_HEADER_BYTES + self.times_persisted * index::TIME_ENTRY_BYTES) as u64;
            let path = segment::path(&self.dir, base, TIME_INDEX_SUFFIX);
            append_to(
                &self.storage,
                &path,
                len,
                &encode_times(base, times, false),
                finish,
            )
            .await?;
            self.times_persisted += times.len();
        }
        self.persisted_at_log_bytes = written;
        Ok(())
    }

    /// After the segment was truncated in memory to `seg` (unwritten batches rolled back):
    /// persisted entries beyond it can't exist (only written batches are persisted), but never
    /// count past what the segment holds.
    pub fn clamp_to(&mut self, seg: &Segment) {
        self.offsets_persisted = self.offsets_persisted.min(seg.index.len());
        self.times_persisted = self.times_persisted.min(seg.time_index.len());
    }
}

/// An offset index's bytes: the header (for a whole file) and `entries`.
pub(super) fn encode_offsets(base: i64, entries: &[OffsetEntry], header: bool) -> Vec<u8> {
    let header = header
        .then(|| index::encode_header(index::OFFSET_INDEX_MAGIC, index::OFFSET_ENTRY_BYTES, base));
    encode_file(header, entries.iter().map(OffsetEntry::encode))
}

/// A time index's bytes: the header (for a whole file) and `entries`.
pub(super) fn encode_times(base: i64, entries: &[TimeEntry], header: bool) -> Vec<u8> {
    let header = header
        .then(|| index::encode_header(index::TIME_INDEX_MAGIC, index::TIME_ENTRY_BYTES, base));
    encode_file(header, entries.iter().map(TimeEntry::encode))
}

fn encode_file<const N: usize>(
    header: Option<[u8; INDEX_HEADER_BYTES]>,
    entries: impl ExactSizeIterator<Item = [u8; N]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(INDEX_HEADER_BYTES + entries.len() * N);
    out.extend(header.iter().flatten());
    for e in entries {
        out.extend_from_slice(&e);
    }
    out
}
