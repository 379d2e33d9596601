//! Reading whole stored batches back from a segment file with O_DIRECT (aligned reads done by
//! glommio), checking each returned batch's length and CRC32C: a corrupt batch is an error,
//! never data.
//!
//! Runs on the partition's owner shard.

use super::file_ops::File;
use super::format::{
    self, BatchHeader, BATCH_HEADER_BYTES, BATCH_LENGTH_AT, BATCH_LOG_OVERHEAD_BYTES,
};
use super::{Chunk, LogError, ReadResult};

pub use crate::limits::READ_CHUNK_BYTES_MIN;

pub use crate::limits::READ_CHUNK_BYTES_MAX;

const _: () = assert!(READ_CHUNK_BYTES_MIN >= BATCH_HEADER_BYTES);

/// The DMA buffer a read of up to `max_bytes` allocates at first (more only for a batch larger
/// than it): what a fetch reserves for the read besides the bytes it returns.
pub fn read_buffer_bytes(max_bytes: usize) -> usize {
    max_bytes.clamp(READ_CHUNK_BYTES_MIN, READ_CHUNK_BYTES_MAX) + READ_CHUNK_BYTES_MIN
}

pub use crate::limits::DISK_READS_IN_FLIGHT_MAX;

/// One shard's O_DIRECT read slots (in its [`super::ShardStorage`]). Lives on its shard.
pub struct DiskReads {
    slots: glommio::sync::Semaphore,
    /// Reads in flight now and the most seen, for the limit's test.
    in_flight: std::cell::Cell<(usize, usize)>,
}

impl Default for DiskReads {
    fn default() -> Self {
        DiskReads {
            slots: glommio::sync::Semaphore::new(DISK_READS_IN_FLIGHT_MAX as u64),
            in_flight: std::cell::Cell::new((0, 0)),
        }
    }
}

impl DiskReads {
    /// One O_DIRECT read within this shard's [`DISK_READS_IN_FLIGHT_MAX`].
    async fn read_at(
        &self,
        file: &File,
        pos: u64,
        len: usize,
    ) -> Result<glommio::io::ReadResult, std::io::Error> {
        let _slot = self
            .slots
            .acquire_permit(1)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let (now, peak) = self.in_flight.get();
        assert!(now < DISK_READS_IN_FLIGHT_MAX, "a read past the limit");
        self.in_flight.set((now + 1, peak.max(now + 1)));
        let r = file.read_at(pos, len).await;
        let (now, peak) = self.in_flight.get();
        self.in_flight.set((now - 1, peak));
        r
    }

    /// The most O_DIRECT reads this shard has had in flight at once.
    pub fn in_flight_peak(&self) -> usize {
        self.in_flight.get().1
    }
}

/// A segment to read: its file, the logical size (bytes past it are not data) and base offset,
/// and the shard's read slots the reads go through.
pub struct SegmentFile<'a> {
    pub reads: &'a DiskReads,
    pub file: &'a File,
    pub size: u64,
    pub base_offset: i64,
}

/// Length of the batch whose header starts `buf`, if the 12-byte prefix is there; an
/// impossible length is corruption.
fn batch_total(buf: &[u8], offset_hint: i64) -> Result<Option<usize>, LogError> {
    let Some(len) = buf.get(BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    let total = usize::try_from(len)
        .ok()
        .map(|l| l + BATCH_LOG_OVERHEAD_BYTES);
    match total {
        Some(t) if t >= BATCH_HEADER_BYTES => Ok(Some(t)),
        _ => Err(LogError::Corrupt {
            offset: offset_hint,
            reason: format!("impossible batch length {len}"),
        }),
    }
}

/// Whole batches starting with the one that contains `offset`, scanning from file position
/// `start` (an index entry at or before it), below `end_offset`, up to `max_bytes` in total
/// (at least one batch when `min_one`).
pub async fn read_batches(
    seg: &SegmentFile<'_>,
    start: u64,
    offset: i64,
    end_offset: i64,
    max_bytes: usize,
    min_one: bool,
) -> Result<ReadResult, LogError> {
    let mut out = ReadResult::default();
    let mut pos = start;
    let mut chunk = read_buffer_bytes(max_bytes);
    while pos < seg.size {
        let want = chunk.min((seg.size - pos) as usize);
        let buf = seg.reads.read_at(seg.file, pos, want).await?;
        if buf.len() < want {
            return Err(LogError::Corrupt {
                offset,
                reason: format!(
                    "segment {} file is shorter than its logical size",
                    seg.base_offset
                ),
            });
        }
        let mut at = 0usize;
        // Bytes of this buffer to return: [take_from, take_to).
        let (mut take_from, mut take_to) = (None::<usize>, 0usize);
        let mut done = false;
        let mut need_bigger = false;
        while at < buf.len() {
            let rest = &buf[at..];
            let Some(total) = batch_total(rest, offset)? else {
                break;
            };
            if pos + (at + total) as u64 > seg.size {
                return Err(LogError::Corrupt {
                    offset,
                    reason: format!(
                        "batch at position {} runs past the segment end",
                        pos + at as u64
                    ),
                });
            }
            let Ok(header) = BatchHeader::try_parse(rest) else {
                break;
            };
            if header.next_offset() <= offset {
                at += total; // wholly before the wanted offset: skip without reading it all
                continue;
            }
            if header.base_offset >= end_offset {
                done = true;
                break;
            }
            let fits = out.bytes + total <= max_bytes;
            if !(fits || min_one && out.chunks.is_empty() && take_from.is_none()) {
                done = true;
                break;
            }
            let Some(batch) = rest.get(..total) else {
                // Wanted but cut by this read: read again from it, big enough to hold it.
                chunk = chunk.max(total);
                need_bigger = true;
                break;
            };
            format::check_stored(batch).map_err(|e| LogError::Corrupt {
                offset: header.base_offset,
                reason: e.to_string(),
            })?;
            take_from.get_or_insert(at);
            take_to = at + total;
            out.bytes += total;
            at += total;
        }
        if let Some(from) = take_from {
            // The batches go out as a slice of the read buffer: no copy.
            let data =
                glommio::io::ReadResult::slice(&buf, from, take_to - from).ok_or_else(|| {
                    LogError::Corrupt {
                        offset,
                        reason: "batch slice outside its read buffer".into(),
                    }
                })?;
            out.chunks.push(Chunk::Direct {
                data,
                buffer_bytes: buf.len(),
            });
        }
        if done {
            break;
        }
        if at == 0 && take_from.is_none() && !need_bigger {
            // Not even one header fits in what is left: the logical size ends mid-batch.
            return Err(LogError::Corrupt {
                offset,
                reason: format!("partial batch at position {pos}"),
            });
        }
        pos += at as u64;
    }
    Ok(out)
}

/// Headers of the batches from file position `start`, calling `visit(position, header)` for
/// each until it returns false. Checks lengths, not CRCs (used for timestamp seeks).
pub async fn scan_headers(
    seg: &SegmentFile<'_>,
    start: u64,
    mut visit: impl FnMut(u64, &BatchHeader) -> bool,
) -> Result<(), LogError> {
    let mut pos = start;
    while pos + BATCH_HEADER_BYTES as u64 <= seg.size {
        let want = READ_CHUNK_BYTES_MIN.min((seg.size - pos) as usize);
        let buf = seg.reads.read_at(seg.file, pos, want).await?;
        let mut at = 0usize;
        while let Ok(header) = BatchHeader::try_parse(&buf[at..]) {
            let total = header.total_bytes().ok_or_else(|| LogError::Corrupt {
                offset: header.base_offset,
                reason: "impossible batch length".into(),
            })?;
            if !visit(pos + at as u64, &header) {
                return Ok(());
            }
            at += total;
            if at >= buf.len() {
                break;
            }
        }
        if at == 0 {
            return Err(LogError::Corrupt {
                offset: -1,
                reason: format!("short read at position {pos}"),
            });
        }
        pos += at as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 32 concurrent reads of one file: all complete with the right bytes, never more than
    /// DISK_READS_IN_FLIGHT_MAX at once.
    #[test]
    fn concurrent_reads_stay_within_the_shard_limit_and_all_complete() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
                let path = dir.path().join("reads");
                let data: Vec<u8> = (0..(1usize << 20)).map(|i| (i % 251) as u8).collect();
                std::fs::write(&path, &data).expect("write");
                let file = std::rc::Rc::new(
                    crate::log::file_ops::open(&path, crate::log::file_ops::Mode::Read)
                        .await
                        .expect("open"),
                );
                let slots = DiskReads::default();
                let reads = (0..32u64).map(|i| {
                    let file = file.clone();
                    let slots = &slots;
                    async move {
                        let pos = (i % 16) * 65_536;
                        let buf = slots.read_at(&file, pos, 65_536).await.expect("read");
                        assert_eq!(&buf[..], &data_at(pos as usize, 65_536)[..]);
                    }
                });
                futures::future::join_all(reads).await;
                let peak = slots.in_flight_peak();
                assert_eq!(
                    peak, DISK_READS_IN_FLIGHT_MAX,
                    "32 reads fill every slot, never more"
                );
            })
            .expect("executor")
            .join()
            .expect("joined");
    }

    /// Reproduction attempt for the lost completion seen with ~30 concurrent 1 MiB O_DIRECT
    /// reads on one executor (see DISK_READS_IN_FLIGHT_MAX): rounds of READS concurrent reads
    /// straight through glommio (no slots), with O_DIRECT appends and fdatasyncs running
    /// alongside, each round bounded by a timer. Slow (256 MiB of disk, minutes): run by hand,
    /// `cargo test --release --lib -- --ignored concurrent_direct_reads_never_stall`.
    #[test]
    #[ignore]
    fn concurrent_direct_reads_never_stall() {
        const READS: u64 = 48;
        const ROUNDS: usize = 200;
        const FILE_BYTES: usize = 256 << 20;
        glommio::LocalExecutorBuilder::default()
            .io_memory(10 << 20)
            .spawn(|| async {
                let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
                crate::server::checks::prime_direct_io_probe(dir.path(), 0).await;
                let path = dir.path().join("reads");
                let data: Vec<u8> = (0..FILE_BYTES).map(|i| (i % 251) as u8).collect();
                std::fs::write(&path, &data).expect("write");
                let file = std::rc::Rc::new(
                    crate::log::file_ops::open(&path, crate::log::file_ops::Mode::Read)
                        .await
                        .expect("open"),
                );
                let stop = std::rc::Rc::new(std::cell::Cell::new(false));
                let writer = {
                    let stop = stop.clone();
                    let path = dir.path().join("appends");
                    glommio::spawn_local(async move {
                        let mut a = crate::log::appender::DmaAppender::create(&path)
                            .await
                            .expect("create");
                        let chunk = vec![7u8; 300_000];
                        while !stop.get() {
                            a.append(&[&chunk]).await.expect("append");
                            a.sync().await.expect("sync");
                        }
                        a.close().await.expect("close");
                    })
                };
                for round in 0..ROUNDS {
                    let reads = (0..READS).map(|i| {
                        let file = file.clone();
                        async move {
                            let pos = ((round as u64 * 7919 + i * 104_729) % 255) << 20;
                            let buf = file.read_at(pos, 1 << 20).await.expect("read");
                            assert_eq!(buf.len(), 1 << 20);
                            assert_eq!(buf[0], (pos % 251) as u8);
                        }
                    });
                    let all = futures::future::join_all(reads);
                    let timer = glommio::timer::sleep(std::time::Duration::from_secs(20));
                    futures::pin_mut!(all, timer);
                    if let futures::future::Either::Right(_) =
                        futures::future::select(all, timer).await
                    {
                        panic!("round {round}: {READS} concurrent reads did not complete in 20 s");
                    }
                }
                stop.set(true);
                writer.await;
            })
            .expect("executor")
            .join()
            .expect("joined");
    }

    fn data_at(pos: usize, len: usize) -> Vec<u8> {
        (pos..pos + len).map(|i| (i % 251) as u8).collect()
    }
}
