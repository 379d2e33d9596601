//! Read-ahead for consumers catching up from disk. A consumer draining a backlog sends a fetch,
//! waits for the broker's O_DIRECT reads, processes the answer, and only then asks for what
//! follows: the disk idles while the client works and the client idles while the disk reads
//! (measured: both CPUs two-thirds idle, the disk at a third of its ceiling; BENCHMARKS.md).
//! Kafka gets the overlap from the page cache's read-ahead; O_DIRECT has none, so the log does
//! it: when a read from disk stops short of the log's end, the log starts reading what follows
//! (at most [`READ_AHEAD_READ_BYTES_MAX`]) in the shard's catch-up task queue, and the next read
//! that starts exactly there is answered from it.
//!
//! Bounds: one read-ahead per log; [`READ_AHEADS_IN_FLIGHT_MAX`] reading at once per shard (their
//! own slots, so a fetch that holds a catch-up slot while it waits for a read-ahead never waits
//! for its own slot); [`READ_AHEAD_BYTES_MAX`] of buffers held per shard, counted whole. A
//! read-ahead is only ever used for the exact offset it starts at, is trimmed to the reader's
//! end offset and byte limit like any read (the rest stays for the next read), and is dropped
//! when the cleaner has swapped files since it started (`swap_epoch`): compaction may have
//! removed records or aborted transactions' data it holds.
//!
//! Lives on the log's owner shard.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use futures::channel::oneshot;

use super::format::BatchHeader;
use super::read::ReadResult;
use super::storage::ShardStorage;
use super::{Chunk, Log};
use crate::limits::{READ_AHEADS_IN_FLIGHT_MAX, READ_AHEAD_BYTES_MAX, READ_AHEAD_READ_BYTES_MAX};

/// One shard's read-ahead budget and slots, on [`ShardStorage`]. Lives on its shard.
pub struct ReadAheads {
    slots: glommio::sync::Semaphore,
    /// Bytes reserved by read-aheads reading or held (buffers counted whole).
    held: Cell<usize>,
    /// Read-aheads started, reads answered from one, read-aheads dropped unused.
    counts: Cell<ReadAheadCounts>,
}

/// What the shard's read-aheads did since start (metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAheadCounts {
    pub started: u64,
    pub hits: u64,
    pub dropped: u64,
}

impl Default for ReadAheads {
    fn default() -> Self {
        ReadAheads {
            slots: glommio::sync::Semaphore::new(READ_AHEADS_IN_FLIGHT_MAX as u64),
            held: Cell::new(0),
            counts: Cell::new(ReadAheadCounts::default()),
        }
    }
}

impl ReadAheads {
    pub fn counts(&self) -> ReadAheadCounts {
        self.counts.get()
    }

    /// Bytes read-aheads reserve now (at most [`READ_AHEAD_BYTES_MAX`]).
    pub fn held_bytes(&self) -> usize {
        self.held.get()
    }

    fn count(&self, f: impl FnOnce(&mut ReadAheadCounts)) {
        let mut c = self.counts.get();
        f(&mut c);
        self.counts.set(c);
    }
}

/// Bytes of the shard's read-ahead budget, given back on drop. Lives on its shard.
struct Reserved {
    storage: Weak<ShardStorage>,
    bytes: usize,
}

impl Reserved {
    fn try_new(storage: &Rc<ShardStorage>, bytes: usize) -> Option<Reserved> {
        let ahead = &storage.read_aheads;
        let held = ahead.held.get().checked_add(bytes)?;
        if held > READ_AHEAD_BYTES_MAX {
            return None;
        }
        ahead.held.set(held);
        Some(Reserved {
            storage: Rc::downgrade(storage),
            bytes,
        })
    }

    /// Change the reservation to `bytes`; false (reservation unchanged) if that would pass
    /// the budget.
    fn resize(&mut self, bytes: usize) -> bool {
        let Some(storage) = self.storage.upgrade() else {
            return false;
        };
        let ahead = &storage.read_aheads;
        let held = ahead.held.get() - self.bytes + bytes;
        if held > READ_AHEAD_BYTES_MAX {
            return false;
        }
        ahead.held.set(held);
        self.bytes = bytes;
        true
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(storage) = self.storage.upgrade() {
            let ahead = &storage.read_aheads;
            ahead.held.set(ahead.held.get() - self.bytes);
        }
    }
}

/// Batches read ahead, and the budget they hold.
struct Ahead {
    result: ReadResult,
    /// What the read-ahead's read covered: every whole batch from its start below `end`
    /// within its byte limit, of which `limit_left` bytes are not yet taken. A read asking
    /// past either gets the read-ahead's batches and then reads on from disk, so an answer
    /// never depends on whether a read-ahead served it.
    limit_left: usize,
    end: i64,
    _reserved: Reserved,
}

/// A log's one read-ahead: reading, or read. Lives on the log's owner shard.
enum ReadAhead {
    Reading {
        at: i64,
        epoch: u64,
        done: oneshot::Receiver<Option<Ahead>>,
    },
    Read {
        at: i64,
        epoch: u64,
        ahead: Ahead,
    },
}

/// The log's slot for its read-ahead.
#[derive(Default)]
pub(super) struct ReadAheadSlot(RefCell<Option<ReadAhead>>);

impl ReadAheadSlot {
    pub(super) fn clear(&self) {
        self.0.borrow_mut().take();
    }
}

impl Log {
    /// The batches a read-ahead holds for a read at exactly `offset`, trimmed to `end_offset`
    /// and `max_bytes` (at least one batch when `min_one`) as any read is; what is left stays
    /// for the next read. None when there is none for `offset` (a read-ahead for another
    /// offset is dropped), it failed, or the cleaner swapped files since it started.
    pub(super) async fn take_read_ahead(
        &self,
        offset: i64,
        end_offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Option<ReadResult> {
        let taken = self.read_ahead.0.borrow_mut().take()?;
        let storage = &self.storage.read_aheads;
        let (at, epoch, ahead) = match taken {
            ReadAhead::Read { at, epoch, ahead } => (at, epoch, Some(ahead)),
            ReadAhead::Reading { at, epoch, done } if at == offset => {
                (at, epoch, done.await.ok().flatten())
            }
            ReadAhead::Reading { .. } => (i64::MIN, 0, None),
        };
        let current = at == offset && epoch == self.swap_epoch.get() && epoch % 2 == 0;
        let Some(mut ahead) = ahead.filter(|_| current) else {
            storage.count(|c| c.dropped += 1);
            return None;
        };
        let (mut head, rest_at) = split_batches(&mut ahead.result, end_offset, max_bytes, min_one);
        if head.chunks.is_empty() {
            // Nothing fits this read (its limit is below the first batch): keep it all.
            *self.read_ahead.0.borrow_mut() = Some(ReadAhead::Read { at, epoch, ahead });
            return Some(head);
        }
        storage.count(|c| c.hits += 1);
        ahead.limit_left = ahead.limit_left.saturating_sub(head.bytes);
        if let Some(rest_at) = rest_at.filter(|_| !ahead.result.chunks.is_empty()) {
            *self.read_ahead.0.borrow_mut() = Some(ReadAhead::Read {
                at: rest_at,
                epoch,
                ahead,
            });
            return Some(head);
        }
        // All of it taken: where this read asks for more than the read-ahead covered, read on.
        let next = self.next_offset_after(&head)?;
        let budget = max_bytes.saturating_sub(head.bytes);
        let short = budget > ahead.limit_left || (next >= ahead.end && end_offset > ahead.end);
        if next < end_offset && budget > 0 && short {
            let more = self.read_disk(next, end_offset, budget, false).await.ok()?;
            head.bytes += more.bytes;
            head.chunks.extend(more.chunks);
        }
        Some(head)
    }

    /// After a read from disk that ended at `next` short of `end_offset`: start reading what
    /// follows, if the log has no read-ahead, the tail cache doesn't hold `next`, and the
    /// shard's budget allows.
    pub(super) fn start_read_ahead(&self, next: i64, end_offset: i64, max_bytes: usize) {
        if next >= end_offset
            || self.closed.get()
            || self.cache.holds(next)
            || self.read_ahead.0.borrow().is_some()
            || self.swap_epoch.get() % 2 == 1
        {
            return;
        }
        let Some(me) = self.me.upgrade() else { return };
        let bytes = max_bytes.clamp(1, READ_AHEAD_READ_BYTES_MAX);
        let Some(reserved) = Reserved::try_new(&self.storage, bytes) else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        let epoch = self.swap_epoch.get();
        let queue = self.storage.catchup.queue();
        let task = glommio::spawn_local_into(
            async move {
                let result = me.read_ahead_task(next, end_offset, reserved).await;
                let _ = tx.send(result); // the reader may have moved on: then it's dropped
            },
            queue,
        );
        match task {
            Ok(task) => {
                task.detach();
                self.storage.read_aheads.count(|c| c.started += 1);
                *self.read_ahead.0.borrow_mut() = Some(ReadAhead::Reading {
                    at: next,
                    epoch,
                    done: rx,
                });
            }
            Err(e) => tracing::warn!(error = %e, "could not start a read-ahead"),
        }
    }

    async fn read_ahead_task(
        &self,
        at: i64,
        end_offset: i64,
        mut reserved: Reserved,
    ) -> Option<Ahead> {
        let _slot = self
            .storage
            .read_aheads
            .slots
            .acquire_permit(1)
            .await
            .ok()?;
        self.storage.catchup.yield_to_writes().await;
        if self.closed.get() {
            return None;
        }
        // A panic here would end the shard's thread: reads return errors, never panic, and
        // a failed read-ahead is only a read the next fetch does itself.
        let limit = reserved.bytes;
        let result = self.read_disk(at, end_offset, limit, false).await.ok()?;
        if result.chunks.is_empty() || !reserved.resize(result.held_bytes()) {
            return None;
        }
        Some(Ahead {
            result,
            limit_left: limit,
            end: end_offset,
            _reserved: reserved,
        })
    }
}

/// Split off the leading whole batches of `r` that a read would return: batches below
/// `end_offset`, within `max_bytes` in total (the first one whatever its size when
/// `min_one`). `r` keeps the rest; also returned: the offset the rest starts at.
fn split_batches(
    r: &mut ReadResult,
    end_offset: i64,
    max_bytes: usize,
    min_one: bool,
) -> (ReadResult, Option<i64>) {
    let mut head = ReadResult::default();
    let mut rest = ReadResult::default();
    let mut rest_at = None;
    for chunk in std::mem::take(&mut r.chunks) {
        if rest_at.is_some() {
            rest.bytes += chunk.len();
            rest.chunks.push(chunk);
            continue;
        }
        // Whole batches of this chunk the read takes.
        let mut cut = 0usize;
        while cut < chunk.len() {
            let Ok(h) = BatchHeader::try_parse(&chunk[cut..]) else {
                break;
            };
            let Some(len) = h.total_bytes() else { break };
            let first = head.bytes == 0 && cut == 0;
            let fits = head.bytes + cut + len <= max_bytes || (first && min_one);
            if h.base_offset >= end_offset || !fits || cut + len > chunk.len() {
                rest_at = Some(h.base_offset);
                break;
            }
            cut += len;
        }
        let (taken, left) = split_chunk(chunk, cut);
        if let Some(t) = taken {
            head.bytes += t.len();
            head.chunks.push(t);
        }
        if let Some(l) = left {
            rest_at = rest_at.or(Some(i64::MAX)); // unparseable: dropped below
            rest.bytes += l.len();
            rest.chunks.push(l);
        }
    }
    if rest_at == Some(i64::MAX) {
        rest = ReadResult::default();
        rest_at = None;
    }
    *r = rest;
    (head, rest_at)
}

/// `chunk` cut at `at`: the part before and the part from it (None for an empty part).
fn split_chunk(chunk: Chunk, at: usize) -> (Option<Chunk>, Option<Chunk>) {
    let len = chunk.len();
    if at == 0 {
        return (None, Some(chunk));
    }
    if at >= len {
        return (Some(chunk), None);
    }
    match chunk {
        Chunk::Shared(b) => (
            Some(Chunk::Shared(b.slice(..at))),
            Some(Chunk::Shared(b.slice(at..))),
        ),
        Chunk::Direct { data, buffer_bytes } => {
            let head = glommio::io::ReadResult::slice(&data, 0, at);
            let tail = glommio::io::ReadResult::slice(&data, at, len - at);
            (
                head.map(|data| Chunk::Direct { data, buffer_bytes }),
                tail.map(|data| Chunk::Direct { data, buffer_bytes }),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::log::format::tests::hand_batch;

    fn batches(n: usize, size: usize) -> (ReadResult, Vec<usize>) {
        let mut all = Vec::new();
        let mut lens = Vec::new();
        for i in 0..n {
            let mut b = hand_batch(1, size, 1000 + i as i64);
            // Offsets i (hand_batch makes base offset 0).
            b[0..8].copy_from_slice(&(i as i64).to_be_bytes());
            lens.push(b.len());
            all.extend_from_slice(&b);
        }
        let bytes = all.len();
        (
            ReadResult {
                chunks: vec![Chunk::Shared(Bytes::from(all))],
                bytes,
            },
            lens,
        )
    }

    #[test]
    fn a_read_ahead_splits_at_the_byte_limit_and_keeps_the_rest() {
        let (mut r, lens) = batches(4, 100);
        let (head, rest_at) = split_batches(&mut r, 100, lens[0] + lens[1], false);
        assert_eq!(head.bytes, lens[0] + lens[1]);
        assert_eq!(rest_at, Some(2));
        assert_eq!(r.bytes, lens[2] + lens[3]);
        let first = BatchHeader::try_parse(&r.chunks[0]).expect("header");
        assert_eq!(first.base_offset, 2);
    }

    #[test]
    fn a_read_ahead_stops_at_the_end_offset() {
        let (mut r, lens) = batches(4, 100);
        let (head, rest_at) = split_batches(&mut r, 3, usize::MAX, false);
        assert_eq!(head.bytes, lens[0] + lens[1] + lens[2]);
        assert_eq!(rest_at, Some(3));
        assert_eq!(r.bytes, lens[3]);
    }

    #[test]
    fn min_one_takes_a_first_batch_past_the_limit_and_without_it_nothing() {
        let (mut r, lens) = batches(2, 500);
        let (head, rest_at) = split_batches(&mut r, 100, 10, false);
        assert!(head.chunks.is_empty());
        assert_eq!(rest_at, Some(0));
        assert_eq!(r.bytes, lens[0] + lens[1], "all kept");
        let (head, rest_at) = split_batches(&mut r, 100, 10, true);
        assert_eq!(head.bytes, lens[0]);
        assert_eq!(rest_at, Some(1));
    }

    #[test]
    fn everything_taken_leaves_nothing() {
        let (mut r, lens) = batches(3, 50);
        let (head, rest_at) = split_batches(&mut r, 100, usize::MAX, false);
        assert_eq!(head.bytes, lens.iter().sum::<usize>());
        assert_eq!(rest_at, None);
        assert!(r.chunks.is_empty());
    }

    /// A log of `n` one-record batches of ~3 KB in 4 KiB segments, with no tail cache: every
    /// read goes to disk.
    async fn disk_log(dir: &std::path::Path, n: i64) -> (Rc<ShardStorage>, Rc<Log>) {
        crate::server::checks::prime_direct_io_probe(dir, 0).await;
        let storage = ShardStorage::for_test();
        let config = crate::log::LogConfig {
            segment_bytes: crate::log::segment::SEGMENT_BYTES_MIN,
            ..crate::log::LogConfig::default()
        };
        let log = Log::open(dir, config, &storage).await.expect("open");
        for i in 0..n {
            let batch = Bytes::from(hand_batch(1, 3000, 1000 + i));
            let header = BatchHeader::try_parse(&batch).expect("header");
            let (base, written) = log.append(&batch, &header, 0);
            assert_eq!(base, i);
            written.await.expect("written");
        }
        (storage, log)
    }

    fn base_offsets(r: &ReadResult) -> Vec<i64> {
        let mut out = Vec::new();
        for c in &r.chunks {
            let mut at = 0;
            while at < c.len() {
                let h = BatchHeader::try_parse(&c[at..]).expect("header");
                out.push(h.base_offset);
                at += h.total_bytes().expect("length");
            }
        }
        out
    }

    /// A consumer reading a log from disk front to back, with read limits that don't match
    /// the read-ahead's: every batch once, in order, most reads answered from read-aheads,
    /// and the budget given back.
    #[test]
    fn a_sequential_reader_is_served_from_read_aheads_with_every_batch_in_order() {
        crate::shard::nudge::on_executor(|| async {
            let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
            let (storage, log) = disk_log(dir.path(), 60).await;
            let mut seen = Vec::new();
            let mut offset = 0;
            let mut reads = 0;
            while offset < 60 {
                let limit = [7_000, 10_000, 20_000][reads % 3];
                let r = log.read(offset, 60, limit, true).await.expect("read");
                let got = base_offsets(&r);
                assert!(!got.is_empty(), "a read at {offset} returned nothing");
                assert!(
                    r.bytes <= limit.max(3100),
                    "{} bytes for a limit of {limit}",
                    r.bytes
                );
                offset = got.last().expect("a batch") + 1;
                seen.extend(got);
                reads += 1;
                assert!(storage.read_aheads.held_bytes() <= READ_AHEAD_BYTES_MAX);
            }
            assert_eq!(seen, (0..60).collect::<Vec<_>>());
            let counts = storage.read_aheads.counts();
            assert!(
                counts.started > 0 && counts.hits >= reads as u64 / 2,
                "{counts:?} after {reads} reads"
            );
            log.close().await.expect("close");
            assert_eq!(
                storage.read_aheads.held_bytes(),
                0,
                "closing gives the budget back"
            );
        });
    }

    /// A read at another offset than the read-ahead's drops it and reads from disk; a read
    /// that ends below the read-ahead's batches (a lower end offset) gets only what is below it.
    #[test]
    fn a_read_elsewhere_drops_the_read_ahead_and_end_offsets_are_respected() {
        crate::shard::nudge::on_executor(|| async {
            let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
            let (storage, log) = disk_log(dir.path(), 20).await;
            let r = log.read(0, 20, 7_000, false).await.expect("read");
            assert_eq!(base_offsets(&r), vec![0, 1]);
            // The read-ahead starts at 2: a read at 5 drops it.
            let r = log.read(5, 20, 7_000, false).await.expect("read");
            assert_eq!(base_offsets(&r), vec![5, 6]);
            assert_eq!(storage.read_aheads.counts().dropped, 1);
            // The read-ahead from 7 holds more than a read ending at 8 may return.
            let r = log.read(7, 8, 1 << 20, false).await.expect("read");
            assert_eq!(base_offsets(&r), vec![7]);
            assert_eq!(storage.read_aheads.counts().hits, 1);
            let r = log.read(8, 20, 1 << 20, false).await.expect("read");
            assert_eq!(base_offsets(&r), (8..20).collect::<Vec<_>>());
            log.close().await.expect("close");
            assert_eq!(storage.read_aheads.held_bytes(), 0);
        });
    }
}
