//! The log's one narrow interface to the file system. Every file operation under `log/` —
//! DMA opens and creates, `write_at`, `read_at`, fdatasync, truncate, close, remove, the
//! directory listing at open, the `log-start-offset` file — goes through this module, so that
//! tests can put a simulated disk under it (`faults`, compiled for tests only) that drops
//! unsynced writes, tears blocks and fails fdatasyncs.
//!
//! Production is glommio's DMA file calls (io_uring); the calls glommio has no asynchronous
//! form for (`create_dir_all`, `read_dir`, `unlink`, the small write-fsync-rename of the
//! log-start-offset file) run on the executor's blocking thread pool (`spawn_blocking`), so a
//! slow disk or a large deletion never stalls the shard's other clients.
//!
//! Lives on the shard that owns the files (glommio files are per executor).

use crate::shard::blocking::BlockingPool;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use glommio::io::{DmaBuffer, DmaFile, OpenOptions, ReadResult};

#[cfg(test)]
use super::faults::{self, Op};

/// An open O_DIRECT file of a log (a segment's `.log`, `.index` or `.timeindex`).
pub struct File {
    inner: DmaFile,
    path: PathBuf,
}

/// How [`open`] opens a file for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    Write,
    /// Read and write, created if missing.
    WriteCreate,
    /// Read and write, created if missing, emptied if not.
    Create,
}

/// Open `path` as an O_DIRECT file.
pub async fn open(path: &Path, mode: Mode) -> io::Result<File> {
    #[cfg(test)]
    let _op = match mode {
        Mode::Read | Mode::Write => faults::check_read(path).map(|()| None)?,
        Mode::WriteCreate | Mode::Create => faults::check(Op::Create, path)?,
    };
    let inner = match mode {
        Mode::Read => DmaFile::open(path).await,
        Mode::Write | Mode::WriteCreate | Mode::Create => {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(mode != Mode::Write)
                .truncate(mode == Mode::Create)
                .dma_open(path)
                .await
        }
    }
    .map_err(io::Error::from)?;
    Ok(File {
        inner,
        path: path.to_path_buf(),
    })
}

impl File {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A buffer aligned for this file's O_DIRECT writes.
    pub fn alloc_dma_buffer(&self, size: usize) -> DmaBuffer {
        self.inner.alloc_dma_buffer(size)
    }

    /// Write the whole aligned buffer at aligned position `pos`; the bytes written.
    pub async fn write_rc_at(&self, buf: Rc<DmaBuffer>, pos: u64) -> io::Result<usize> {
        #[cfg(test)]
        let _op = faults::check(Op::Write, &self.path)?;
        self.inner
            .write_rc_at(buf, pos)
            .await
            .map_err(io::Error::from)
    }

    /// Up to `len` bytes from `pos` (fewer at the end of the file).
    pub async fn read_at(&self, pos: u64, len: usize) -> io::Result<ReadResult> {
        #[cfg(test)]
        faults::check_read(&self.path)?;
        self.inner.read_at(pos, len).await.map_err(io::Error::from)
    }

    /// As [`File::read_at`], for an aligned position and length (no bounce buffer).
    pub async fn read_at_aligned(&self, pos: u64, len: usize) -> io::Result<ReadResult> {
        #[cfg(test)]
        faults::check_read(&self.path)?;
        self.inner
            .read_at_aligned(pos, len)
            .await
            .map_err(io::Error::from)
    }

    /// fdatasync: every write completed before the call is durable once it returns Ok. After
    /// an Err nothing about the file's durability can be trusted, not even a later Ok (the
    /// kernel may have dropped the pages it failed to write): callers must not retry and trust.
    pub async fn fdatasync(&self) -> io::Result<()> {
        #[cfg(test)]
        let started = faults::sync_started(&self.path)?;
        let result = self.inner.fdatasync().await.map_err(io::Error::from);
        #[cfg(test)]
        let result = faults::sync_completed(started, result);
        result
    }

    /// Cut (or extend with zeros) the file to `len` bytes.
    pub async fn truncate(&self, len: u64) -> io::Result<()> {
        #[cfg(test)]
        let _op = faults::check(Op::Truncate, &self.path)?;
        self.inner.truncate(len).await.map_err(io::Error::from)
    }

    /// The file's size in bytes.
    pub async fn size(&self) -> io::Result<u64> {
        #[cfg(test)]
        faults::check_read(&self.path)?;
        self.inner.file_size().await.map_err(io::Error::from)
    }

    pub async fn close(self) -> io::Result<()> {
        self.inner.close().await.map_err(io::Error::from)
    }
}

/// Run a blocking file-system call on the executor's blocking pool, off the shard thread.
async fn off_shard<R: Send + 'static>(
    pool: &BlockingPool,
    f: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    #[cfg(test)]
    let _pending = faults::BlockingCall::start();
    // The shard's one way onto the pool: panics caught, drained at shutdown.
    pool.run(f).await
}

/// Create `dir` and its parents if missing.
pub async fn create_dir_all(pool: &BlockingPool, dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    off_shard(pool, move || std::fs::create_dir_all(dir)).await
}

/// The names of the entries of `dir` (those that are valid UTF-8 or not, lossily).
pub async fn list_dir(pool: &BlockingPool, dir: &Path) -> io::Result<Vec<String>> {
    #[cfg(test)]
    faults::check_read(dir)?;
    let dir = dir.to_path_buf();
    off_shard(pool, move || {
        Ok(std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    })
    .await
}

/// Remove the file at `path`.
pub async fn remove_file(pool: &BlockingPool, path: &Path) -> io::Result<()> {
    #[cfg(test)]
    let _op = faults::check(Op::Remove, path)?;
    let owned = path.to_path_buf();
    let result = off_shard(pool, move || std::fs::remove_file(owned)).await;
    #[cfg(test)]
    faults::removed(path, &result);
    result
}

/// Replace file `name` in `dir` with `bytes`, durably and atomically: written to a temporary
/// file, synced, renamed over the old one, directory synced. A crash leaves the old contents
/// or the new, never a mix.
pub async fn replace_file(
    pool: &BlockingPool,
    dir: &Path,
    name: &str,
    bytes: Vec<u8>,
) -> io::Result<()> {
    let path = dir.join(name);
    #[cfg(test)]
    let _op = faults::check(Op::Replace, &path)?;
    let (dir, target) = (dir.to_path_buf(), path.clone());
    let tmp = dir.join(format!("{name}.tmp"));
    #[cfg(test)]
    let durable = bytes.clone();
    let result = off_shard(pool, move || {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, &target)?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await;
    #[cfg(test)]
    let result = faults::replaced(&path, durable, result);
    result
}

/// A small file's whole contents (read off the shard thread).
pub async fn read_small_file(pool: &BlockingPool, path: &Path) -> io::Result<Vec<u8>> {
    #[cfg(test)]
    faults::check_read(path)?;
    let path = path.to_path_buf();
    off_shard(pool, move || std::fs::read(path)).await
}

/// Run `f` (plain `std::fs` calls: renames, removals, directory syncs) on the blocking pool.
/// The log cleaner's swap (`cleaner_swap`) is such a sequence; it is not modelled by the test
/// disk (`faults`), and kill -9 tests cover it instead (tests/compaction.rs).
pub async fn run_fs<R: Send + 'static>(
    pool: &BlockingPool,
    f: impl FnOnce() -> io::Result<R> + Send + 'static,
) -> io::Result<R> {
    off_shard(pool, f).await
}
