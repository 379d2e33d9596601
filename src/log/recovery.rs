//! Start-up recovery of one segment: load its sparse indexes (refusing damaged ones), verify
//! the batch at the last index entry, then scan only the tail from there — every batch's length,
//! magic, offsets and CRC32C — and cut the file at the first bad or partial byte.
//!
//! Runs on the partition's owner shard while the log is opened.

use std::collections::VecDeque;
use std::path::Path;

use super::file_ops::{self, File, Mode};
use super::format::{self, BatchHeader, BATCH_LENGTH_AT, BATCH_LOG_OVERHEAD_BYTES};
use super::index::{self, OffsetEntry};
use super::segment::{self, Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use super::transient::TransientFiles;
use super::LogError;
use crate::limits::DMA_ALIGNMENT_BYTES;

pub use crate::limits::{RECOVERY_PRODUCER_BATCHES_MAX, RECOVERY_SCAN_READ_BYTES_MIN};

/// What recovering a segment found.
pub struct Recovered {
    pub segment: Segment,
    /// Headers of the idempotent batches the tail scan checked, in order: the newest
    /// [`RECOVERY_PRODUCER_BATCHES_MAX`] (producer state is rebuilt from them when no
    /// snapshot is usable).
    pub scanned: Vec<BatchHeader>,
    /// Bytes cut off the end of the file (damage, not counting zero padding).
    pub truncated_bytes: u64,
    /// Why the scan stopped early, if it found damage.
    pub damage: Option<String>,
    /// The index files on disk don't match `segment` and must be rewritten.
    pub indexes_stale: bool,
}

async fn read_whole(transient: &TransientFiles, path: &Path) -> Option<Vec<u8>> {
    let _slot = transient.slot().await.ok()?;
    let file = file_ops::open(path, Mode::Read).await.ok()?;
    let len = file.size().await.ok()? as usize;
    let read = file.read_at(0, len).await.ok();
    let _ = file.close().await;
    read.map(|r| r.to_vec())
}

/// Whether a CRC-valid batch with base offset `expected` starts at `position`.
async fn batch_at(file: &File, file_len: u64, position: u64, expected: i64) -> bool {
    let Ok(head) = file.read_at(position, format::BATCH_HEADER_BYTES).await else {
        return false;
    };
    let Ok(h) = BatchHeader::try_parse(&head) else {
        return false;
    };
    let Some(total) = h.total_bytes() else {
        return false;
    };
    if h.base_offset != expected || position + total as u64 > file_len {
        return false;
    }
    match file.read_at(position, total).await {
        Ok(b) => b.len() == total && format::check_stored(&b).is_ok(),
        Err(_) => false,
    }
}

/// Recover the segment with base offset `base` in `dir`. `batch_bytes_max` bounds any length
/// the scan will believe. `gaps_allowed`: a sealed segment may have offset gaps between its
/// batches (the log cleaner dropped records, `log::cleaner`); in the active segment, which is
/// never cleaned, a gap is damage.
pub async fn recover_segment(
    transient: &TransientFiles,
    dir: &Path,
    base: i64,
    index_interval_bytes: u64,
    batch_bytes_max: usize,
    gaps_allowed: bool,
) -> Result<Recovered, LogError> {
    let log_path = segment::path(dir, base, LOG_SUFFIX);
    // The index files are read (each in its own transient-file slot) before the log is opened
    // in another: a recovery never waits for a slot while holding one.
    let index_bytes = read_whole(transient, &segment::path(dir, base, INDEX_SUFFIX)).await;
    let time_index_bytes =
        read_whole(transient, &segment::path(dir, base, TIME_INDEX_SUFFIX)).await;
    let _slot = transient.slot().await?;
    let file = file_ops::open(&log_path, Mode::Write).await?;
    let file_len = file.size().await?;

    let mut indexes_stale = false;
    let mut index = match index_bytes {
        Some(buf) => index::decode_offset_index(&buf, base, file_len).unwrap_or_else(|e| {
            tracing::warn!(segment = %log_path.display(), error = ?e, "offset index damaged; rebuilding it");
            indexes_stale = true;
            Vec::new()
        }),
        None => {
            indexes_stale = true;
            Vec::new()
        }
    };
    let mut time_index = match time_index_bytes {
        Some(buf) => index::decode_time_index(&buf, base).unwrap_or_else(|e| {
            tracing::warn!(segment = %log_path.display(), error = ?e, "time index damaged; rebuilding it");
            indexes_stale = true;
            Vec::new()
        }),
        None => {
            indexes_stale = true;
            Vec::new()
        }
    };

    let (disk_index_len, disk_time_len) = (index.len(), time_index.len());
    // The newest index entry whose batch is really there is where the scan starts.
    let mut start: Option<OffsetEntry> = None;
    while let Some(e) = index.last().copied() {
        if batch_at(
            &file,
            file_len,
            u64::from(e.position),
            base + i64::from(e.relative_offset),
        )
        .await
        {
            start = Some(e);
            break;
        }
        indexes_stale = true;
        index.pop();
    }
    let (start_pos, start_offset) = match start {
        Some(e) => {
            index.pop(); // re-added by the scan
            (u64::from(e.position), base + i64::from(e.relative_offset))
        }
        None => (0, base),
    };
    let start_relative = (start_offset - base) as u32;
    time_index.retain(|t| t.relative_offset < start_relative);
    let (max_ts, max_ts_offset) = time_index.last().map_or((-1, -1), |t| {
        (t.timestamp, base + i64::from(t.relative_offset))
    });
    let mut seg = Segment::resume(
        base,
        start_offset,
        start_pos,
        index,
        time_index,
        max_ts,
        max_ts_offset,
    );

    // Scan the tail.
    let mut scanned = VecDeque::new();
    let mut pos = start_pos;
    let mut chunk = RECOVERY_SCAN_READ_BYTES_MIN;
    let mut damage: Option<String> = None;
    let mut padding_only = false;
    let now_ms = crate::log::now_ms();
    'scan: while pos < file_len {
        let want = chunk.min((file_len - pos) as usize);
        let buf = file.read_at(pos, want).await?;
        let mut at = 0usize;
        let mut need_bigger = false;
        while at < buf.len() {
            let rest = &buf[at..];
            let Some(len) = rest.get(BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4) else {
                if pos + (at + rest.len()) as u64 >= file_len {
                    padding_only = rest.iter().all(|b| *b == 0);
                    damage = Some("partial batch header".into());
                    pos += at as u64;
                    break 'scan;
                }
                break;
            };
            let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
            let total = usize::try_from(len).map_or(0, |l| l + BATCH_LOG_OVERHEAD_BYTES);
            if total < format::BATCH_HEADER_BYTES || total > batch_bytes_max {
                let tail_from = pos + at as u64;
                padding_only = rest.iter().all(|b| *b == 0)
                    && (file_len - tail_from < DMA_ALIGNMENT_BYTES as u64 + rest.len() as u64
                        || (file_len - tail_from <= PREALLOCATED_TAIL_BYTES_MAX
                            && zeros_to_end(&file, pos + buf.len() as u64, file_len).await?));
                damage = Some(format!("impossible batch length {len}"));
                pos += at as u64;
                break 'scan;
            }
            if pos + (at + total) as u64 > file_len {
                damage = Some(format!(
                    "partial batch: {total} bytes, {} in the file",
                    file_len - pos - at as u64
                ));
                pos += at as u64;
                break 'scan;
            }
            let Some(batch) = rest.get(..total) else {
                chunk = chunk.max(total);
                need_bigger = true;
                break;
            };
            let header = match format::check_stored(batch) {
                Ok(h) => h,
                Err(e) => {
                    damage = Some(format!("bad batch: {e}"));
                    pos += at as u64;
                    break 'scan;
                }
            };
            let in_order = if gaps_allowed {
                header.base_offset >= seg.next_offset
            } else {
                header.base_offset == seg.next_offset
            };
            if !in_order {
                damage = Some(format!(
                    "offset gap: expected {}, found {}",
                    seg.next_offset, header.base_offset
                ));
                pos += at as u64;
                break 'scan;
            }
            seg.add_batch(
                header.base_offset,
                header.next_offset(),
                total as u64,
                header.max_timestamp,
                index_interval_bytes,
                now_ms,
            );
            if header.producer_id >= 0 && header.base_sequence >= 0 {
                if scanned.len() == RECOVERY_PRODUCER_BATCHES_MAX {
                    scanned.pop_front();
                }
                scanned.push_back(header);
            }
            at += total;
        }
        if at == 0 && !need_bigger {
            damage = Some("unreadable tail".into());
            break;
        }
        pos += at as u64;
    }
    assert_eq!(pos, seg.size, "the scan ends where the valid batches end");

    let truncated_bytes = file_len - pos;
    if truncated_bytes > 0 {
        if padding_only {
            // The zero padding of the last O_DIRECT block: not damage.
            damage = None;
        } else {
            indexes_stale = true;
        }
        file.truncate(pos).await?;
    } else {
        damage = None;
    }
    let _ = file.close().await;
    indexes_stale |= seg.index.len() != disk_index_len || seg.time_index.len() != disk_time_len;
    Ok(Recovered {
        segment: seg,
        scanned: scanned.into(),
        truncated_bytes: if padding_only { 0 } else { truncated_bytes },
        damage,
        indexes_stale,
    })
}

/// The longest all-zero tail recovery takes for preallocation (zeros written ahead of the log's
/// end, `log::appender`), not damage: what one zero write and one append can leave past the
/// last whole batch, plus a block.
pub(super) const PREALLOCATED_TAIL_BYTES_MAX: u64 = (crate::limits::SEGMENT_PREALLOCATE_BYTES
    + crate::limits::APPEND_WRITE_BYTES_MAX
    + DMA_ALIGNMENT_BYTES) as u64;

/// Whether `file` holds only zeros from `from` to `end`.
async fn zeros_to_end(file: &File, from: u64, end: u64) -> std::io::Result<bool> {
    let mut pos = from;
    while pos < end {
        let want = (end - pos).min(RECOVERY_SCAN_READ_BYTES_MIN as u64) as usize;
        let buf = file.read_at(pos, want).await?;
        if buf.is_empty() {
            break;
        }
        if buf.iter().any(|b| *b != 0) {
            return Ok(false);
        }
        pos += buf.len() as u64;
    }
    Ok(true)
}
