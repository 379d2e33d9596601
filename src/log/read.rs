//! Reads of a log: whole stored batches from the tail cache or the segment files (O_DIRECT,
//! a sealed segment opened for the read only), the sparse index lookups that say where a read
//! starts (the active segment's in memory, sealed ones' through the shard's index cache), and
//! the re-reads when the cleaner or retention moved files under a read (`file_moves`).
//!
//! Lives on the partition's owner shard.

use std::rc::Rc;

use bytes::{Bytes, BytesMut};

use super::file_ops::{self, File};
use super::format::BatchHeader;
use super::{index, index_cache, reader, segment, transient, Chunk, Log, LogError, LOG_SUFFIX};

/// What a read returns: whole stored batches, in offset order, as several chunks whose
/// concatenation is the batches (a cached batch is two chunks: its stamped prefix and the rest;
/// a disk read is a slice of its O_DIRECT buffer). `!Send`: see [`ReadResult::into_send`].
#[derive(Debug, Default)]
pub struct ReadResult {
    pub chunks: Vec<Chunk>,
    pub bytes: usize,
}

/// A [`ReadResult`] that may cross to another shard: every chunk shared bytes.
#[derive(Debug, Default)]
pub struct SendReadResult {
    pub chunks: Vec<Bytes>,
    pub bytes: usize,
}

impl ReadResult {
    /// The batches as one contiguous buffer (no copy when there is a single shared chunk).
    pub fn into_contiguous(self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => self
                .chunks
                .into_iter()
                .next()
                .map(Chunk::into_shared)
                .unwrap_or_default(),
            _ => {
                let mut b = BytesMut::with_capacity(self.bytes);
                for c in &self.chunks {
                    b.extend_from_slice(c);
                }
                b.freeze()
            }
        }
    }

    /// Memory the chunks keep alive (read buffers count whole).
    pub fn held_bytes(&self) -> usize {
        self.chunks.iter().map(Chunk::held_bytes).sum()
    }

    /// For another shard: direct chunks are copied out of their read buffers, which stay here.
    pub fn into_send(self) -> SendReadResult {
        SendReadResult {
            chunks: self.chunks.into_iter().map(Chunk::into_shared).collect(),
            bytes: self.bytes,
        }
    }
}

impl SendReadResult {
    pub fn into_local(self) -> ReadResult {
        ReadResult {
            chunks: self.chunks.into_iter().map(Chunk::Shared).collect(),
            bytes: self.bytes,
        }
    }
}

/// A segment's file opened for a read, with how many of its bytes the read may cover. A
/// sealed segment's file is open only for the read and holds a transient-file slot.
pub(super) struct OpenSegment {
    pub(super) file: Rc<File>,
    pub(super) size: u64,
    _slot: Option<transient::Slot>,
}

impl Log {
    /// Whole batches starting with the one containing `offset`, up to `max_bytes` in total, but
    /// at least one batch (even if larger) when `min_one` (KIP-74). Never past `end_offset`.
    /// Served from the tail cache when it holds `offset`, else read from the segment files.
    pub async fn read(
        &self,
        offset: i64,
        end_offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        let start = self.start_offset.get();
        // Fenced: only what a completed fdatasync covered may be read.
        let readable = self.fenced_at().unwrap_or(self.written_end.get());
        if offset < start || offset > readable {
            return Err(LogError::OffsetOutOfRange {
                offset,
                start,
                end: readable,
            });
        }
        let end_offset = end_offset.min(readable);
        if offset >= end_offset {
            return Ok(ReadResult::default());
        }
        if let Some(hit) = self.cache.read(offset, end_offset, max_bytes, min_one) {
            return Ok(hit);
        }
        let out = match self
            .take_read_ahead(offset, end_offset, max_bytes, min_one)
            .await
        {
            Some(ahead) => ahead,
            None => {
                self.read_disk(offset, end_offset, max_bytes, min_one)
                    .await?
            }
        };
        if let Some(next) = self.next_offset_after(&out) {
            self.start_read_ahead(next, end_offset, max_bytes);
        }
        Ok(out)
    }

    /// [`Log::read`] from the segment files: the segment holding `offset`, then following
    /// segments while budget remains.
    pub(super) async fn read_disk(
        &self,
        offset: i64,
        end_offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        let mut out = ReadResult::default();
        let mut at = offset;
        let mut swap_retries = 3u32;
        loop {
            let found = {
                let segments = self.segments.borrow();
                segments
                    .range(..=at)
                    .next_back()
                    .filter(|(_, s)| s.next_offset > at)
                    .map(|(&b, s)| (b, s.size, true))
                    .or_else(|| {
                        // The next segment with data (the cleaner may leave an empty first one).
                        segments
                            .range(at..)
                            .find(|(_, s)| s.size > 0)
                            .map(|(&b, s)| (b, s.size, false))
                    })
            };
            let Some((base, size, holds_at)) = found else {
                break;
            };
            let epoch = self.swap_epoch.get();
            let (position, _) = if holds_at {
                self.start_for(base, size, at).await
            } else {
                (0, base)
            };
            let remaining = max_bytes.saturating_sub(out.bytes);
            let min_one_here = min_one && out.chunks.is_empty();
            let read = |position| {
                self.read_segment(
                    base,
                    size,
                    position,
                    at,
                    end_offset,
                    remaining,
                    min_one_here,
                )
            };
            let mut r = read(position).await;
            if position > 0 && index_misled(&r, at) {
                // Correctness never depends on the index: an entry that does not lead to the
                // batch holding `at` is distrusted, and the segment scanned from its start.
                tracing::warn!(dir = %self.dir.display(), segment = base, offset = at, position, "index entry does not match the log; scanning the segment from its start");
                if base < self.active_file.borrow().base_offset {
                    self.storage.index_cache.distrust(self.id, base);
                }
                r = read(0).await;
            }
            let r = match r {
                // The cleaner swapped the segment while this read had it open or was opening
                // it (`cleaner::Log::segment_changed`): read again from the new segment map.
                Err(_) if swap_retries > 0 && self.swapped_under(epoch, base, size) => {
                    swap_retries -= 1;
                    self.swap_settled().await;
                    continue;
                }
                r => r?,
            };
            let Some(next) = self.next_offset_after(&r) else {
                break;
            };
            out.bytes += r.bytes;
            out.chunks.extend(r.chunks);
            at = next;
            if at >= end_offset || out.bytes >= max_bytes {
                break;
            }
        }
        Ok(out)
    }

    /// Where a read of segment `base` (`size` bytes) starts for `offset`, and the base offset
    /// of the batch there: from the in-memory index for the active segment (and any rolled to
    /// but not yet written), from the shard's index cache for a sealed one.
    pub(super) async fn start_for(&self, base: i64, size: u64, offset: i64) -> (u64, i64) {
        if base >= self.active_file.borrow().base_offset {
            return self
                .segments
                .borrow()
                .get(&base)
                .map_or((0, base), |s| s.start_for(offset));
        }
        let sealed = self.sealed_index(base, size).await;
        index::start_for_offset(&sealed.offsets, base, offset)
    }

    /// Sealed segment `base`'s indexes from the shard's cache (loaded on a miss; kept only
    /// while the segment still exists). A segment that retention deleted, or the cleaner
    /// replaced, while the caller was on its way here (it waited for the file-move window,
    /// `file_moves`) gets empty indexes without a load: its files are gone or new, not damaged,
    /// and the caller's read of it fails and starts again from the new segment map.
    pub(super) async fn sealed_index(&self, base: i64, size: u64) -> Rc<index_cache::SealedIndex> {
        let _opening = self.open_guard().await;
        let current = || !self.closed.get() && !self.segment_changed(base, size);
        if !current() {
            return Rc::new(index_cache::SealedIndex::default());
        }
        self.storage
            .index_cache
            .get(
                &self.storage.transient,
                self.id,
                &self.dir,
                base,
                size,
                current,
            )
            .await
    }

    pub(super) fn next_offset_after(&self, r: &ReadResult) -> Option<i64> {
        let last = r.chunks.last()?;
        // The last batch of the last chunk: walk the chunk's headers to find it.
        let mut at = 0usize;
        let mut next = None;
        while let Ok(h) = BatchHeader::try_parse(&last[at..]) {
            next = Some(h.next_offset());
            at += h.total_bytes()?;
            if at >= last.len() {
                break;
            }
        }
        next
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "a read is described by its segment, range, limits and destination: each is needed"
    )]
    pub(super) async fn read_segment(
        &self,
        base: i64,
        size: u64,
        position: u64,
        offset: i64,
        end_offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        let open = self.segment_file(base, size).await?;
        let seg = reader::SegmentFile {
            reads: &self.storage.disk_reads,
            file: &open.file,
            size: open.size,
            base_offset: base,
        };
        let r = reader::read_batches(&seg, position, offset, end_offset, max_bytes, min_one).await;
        if let Err(LogError::Corrupt { offset, reason }) = &r {
            if self.segment_changed(base, size) || self.swap_epoch.get() % 2 == 1 {
                return r; // the cleaner swapped it meanwhile: `read` reads again
            }
            tracing::error!(dir = %self.dir.display(), segment = base, offset, reason = %reason, "corrupt batch in log");
        }
        r
    }

    /// The file of segment `base` (logical size `size`) and how many of its bytes a read may
    /// cover: all of a sealed segment (opened for this read; sealed segments stay closed), the
    /// completed writes of the active one, nothing of a segment rolled to but not yet created.
    pub(super) async fn segment_file(&self, base: i64, size: u64) -> Result<OpenSegment, LogError> {
        let active = self.active_file.borrow().clone();
        if base == active.base_offset {
            return Ok(OpenSegment {
                file: active.file,
                size: active.written_bytes.min(size),
                _slot: None,
            });
        }
        if base > active.base_offset {
            return Ok(OpenSegment {
                file: active.file,
                size: 0,
                _slot: None,
            });
        }
        let slot = self.storage.transient.slot().await?;
        let opening = self.open_guard().await;
        let file = file_ops::open(
            &segment::path(&self.dir, base, LOG_SUFFIX),
            file_ops::Mode::Read,
        )
        .await;
        drop(opening);
        let file = file?;
        Ok(OpenSegment {
            file: Rc::new(file),
            size,
            _slot: Some(slot),
        })
    }
}

/// Whether a read that started at an index entry's position went wrong because of the entry:
/// the batch there is not a batch (corrupt), or comes after `offset` (the entry points past it).
pub(super) fn index_misled(r: &Result<ReadResult, LogError>, offset: i64) -> bool {
    match r {
        Err(LogError::Corrupt { .. }) => true,
        Err(_) => false,
        Ok(r) => r
            .chunks
            .first()
            .and_then(|c| BatchHeader::try_parse(c).ok())
            .is_some_and(|h| h.base_offset > offset),
    }
}
