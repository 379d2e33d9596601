//! File-system calls a shard must not make on its own thread: the ones io_uring does not cover
//! (directory fsync, recursive listing and deletion, `canonicalize`, `statvfs`) and the small
//! synchronous writes of `<data-dir>/meta`. They run on glommio's blocking pool, so a slow disk
//! holds up the task that asked, never the shard's other clients.
//!
//! glommio's pool is one thread per executor, bound to the executor's CPU: one shard's calls
//! run one at a time, in the order they were made. Each shard has one [`BlockingPool`] (in its
//! `ShardStorage`, `Shard::storage.blocking`), the one way its code reaches that pool. Long work (deleting a topic's files) is
//! therefore split into one call per file, so a metadata write or a producer-id block queued
//! behind it waits for one unlink, not for the whole topic.
//!
//! A panic inside a call would end the pool's only thread and leave every later call waiting
//! forever (glommio does not catch it), so each call runs under `catch_unwind` and a panic
//! comes back as an error.
//!
//! Shutdown: a pool thread that finishes a call after its executor is gone panics ("failed to
//! send response"), so a shard [`drain`]s its calls before its executor ends: new calls are
//! refused and the ones in flight are waited for. Each call's wait runs in its own detached
//! task, so a caller dropped mid-call can't make the count lie. The count is per shard because
//! glommio's pool is: one per executor. Lives on its shard (`!Send`).

use std::cell::Cell;
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// One shard's calls on its executor's blocking pool. Lives on its shard (`!Send`).
#[derive(Default)]
pub struct BlockingPool {
    /// Calls submitted to this executor's pool and not yet answered.
    in_flight: Rc<Cell<usize>>,
    /// Set by [`BlockingPool::drain`]: no new call is submitted.
    draining: Cell<bool>,
}

impl BlockingPool {
    /// Run `f` on the blocking pool of this shard's executor and wait for it. Refused once the
    /// shard drains (shutdown).
    pub async fn run<R, F>(&self, f: F) -> io::Result<R>
    where
        R: Send + 'static,
        F: FnOnce() -> io::Result<R> + Send + 'static,
    {
        if self.draining.get() {
            return Err(io::Error::other("the shard is shutting down"));
        }
        self.in_flight.set(self.in_flight.get() + 1);
        let in_flight = self.in_flight.clone();
        let (tx, rx) = futures::channel::oneshot::channel();
        glommio::spawn_local(async move {
            let r = glommio::executor()
                .spawn_blocking(move || std::panic::catch_unwind(AssertUnwindSafe(f)))
                .await;
            in_flight.set(in_flight.get() - 1);
            let _ = tx.send(r);
        })
        .detach();
        match rx.await {
            Ok(Ok(r)) => r,
            Ok(Err(_panic)) => Err(io::Error::other("a blocking file-system call panicked")),
            Err(_) => Err(io::Error::other("the shard is shutting down")),
        }
    }

    /// A `<data-dir>/meta` file replaced durably by `image` (`metadata::file::replace_durably`)
    /// on the pool; `image` is the serialized content, or why it could not be serialized.
    pub async fn replace_durably(
        &self,
        path: PathBuf,
        image: io::Result<Vec<u8>>,
    ) -> io::Result<()> {
        let image = image?;
        self.run(move || crate::metadata::file::replace_durably(&path, &image))
            .await
    }

    /// Refuse new blocking calls on this shard and wait until none is in flight (each is one
    /// file operation: a metadata write, one unlink). Called last at shutdown, so the executor
    /// ends with an idle pool. Background deletions stop at their next file; start-up finishes
    /// them.
    pub async fn drain(&self) {
        self.draining.set(true);
        while self.in_flight.get() > 0 {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Whether [`BlockingPool::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining.get()
    }
}

/// Suffix of a directory whose deletion is under way (Kafka's `-delete`). A partition
/// directory always ends in `-<digits>`, so a name with this suffix can never be taken for one.
pub const DELETING_SUFFIX: &str = "-delete";

/// Take `dir` out of the way at once (a rename, so a topic recreated under the same name opens a
/// fresh directory) and return where it went, for [`remove_dirs_in_background`]; None if it
/// did not exist (a partition whose log never opened). A crash before the files are gone leaves
/// a `*-delete` directory that [`remove_leftover_deletions`] finishes.
pub async fn retire_dir(
    pool: &BlockingPool,
    dir: PathBuf,
    unique: &str,
) -> io::Result<Option<PathBuf>> {
    let mut name = dir.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{unique}{DELETING_SUFFIX}"));
    let doomed = dir.with_file_name(name);
    let target = doomed.clone();
    match pool.run(move || std::fs::rename(&dir, &target)).await {
        Ok(()) => Ok(Some(doomed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Delete `dirs` one after another in a background task, one blocking call per file: the pool
/// never holds more than one of these calls, so other blocking calls of the shard (a metadata
/// write, the next rename) wait for at most one unlink.
pub fn remove_dirs_in_background(pool: Rc<BlockingPool>, dirs: Vec<PathBuf>) {
    if dirs.is_empty() {
        return;
    }
    glommio::spawn_local(async move {
        for dir in dirs {
            if let Err(e) = remove_dir_gradually(&pool, &dir).await {
                if pool.is_draining() {
                    // Shutdown: the next start finishes what is left.
                    return;
                }
                tracing::warn!(dir = %dir.display(), error = %e, "removing a deleted partition's files");
            }
        }
    })
    .detach();
}

/// Delete what start-up finds of deletions a crash interrupted (`*-delete` directories directly
/// under `data_dir`), in the background.
pub async fn remove_leftover_deletions(pool: Rc<BlockingPool>, data_dir: PathBuf) {
    let listed = pool
        .run(move || {
            let mut found = Vec::new();
            for entry in std::fs::read_dir(&data_dir)? {
                let entry = entry?;
                let deleting = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.ends_with(DELETING_SUFFIX));
                if deleting && entry.file_type()?.is_dir() {
                    found.push(entry.path());
                }
            }
            Ok(found)
        })
        .await;
    match listed {
        Ok(dirs) => {
            for dir in dirs {
                if let Err(e) = remove_dir_gradually(&pool, &dir).await {
                    if pool.is_draining() {
                        return;
                    }
                    tracing::warn!(dir = %dir.display(), error = %e, "removing a deleted partition's files");
                }
            }
        }
        Err(_) if pool.is_draining() => {}
        Err(e) => tracing::warn!(error = %e, "listing the data directory for unfinished deletions"),
    }
}

/// Remove `dir` and everything in it, one blocking call per entry.
pub async fn remove_dir_gradually(pool: &BlockingPool, dir: &Path) -> io::Result<()> {
    let listed = dir.to_path_buf();
    let entries = pool
        .run(move || {
            let mut entries = Vec::new();
            for entry in std::fs::read_dir(&listed)? {
                let entry = entry?;
                entries.push((entry.path(), entry.file_type()?.is_dir()));
            }
            Ok(entries)
        })
        .await?;
    for (path, is_dir) in entries {
        // Partition directories hold only files; a subdirectory is not ours to walk lazily.
        pool.run(move || {
            if is_dir {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
        })
        .await?;
    }
    let dir = dir.to_path_buf();
    pool.run(move || std::fs::remove_dir(&dir)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::nudge::on_executor;

    #[test]
    fn a_panic_in_a_blocking_call_is_an_error_and_the_pool_keeps_working() {
        on_executor(|| async {
            let pool = BlockingPool::default();
            let r: io::Result<()> = pool.run(|| panic!("on purpose")).await;
            assert!(r.is_err());
            assert_eq!(
                pool.run(|| Ok(7)).await.unwrap(),
                7,
                "the pool still answers"
            );
        });
    }

    #[test]
    fn drain_waits_for_calls_in_flight_even_abandoned_ones_and_refuses_new_ones() {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done_there = done.clone();
        on_executor(move || async move {
            let pool = BlockingPool::default();
            let slow = pool.run(move || {
                std::thread::sleep(std::time::Duration::from_millis(200));
                done_there.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            });
            // Polled once (submitted), then dropped: its caller gave up.
            let mut slow = Box::pin(slow);
            assert!(futures::poll!(&mut slow).is_pending());
            drop(slow);
            pool.drain().await;
            assert!(
                done.load(std::sync::atomic::Ordering::Relaxed),
                "drained only after the call in flight finished"
            );
            assert!(
                pool.run(|| Ok(())).await.is_err(),
                "no new call after drain"
            );
        });
    }

    #[test]
    fn a_retired_directory_is_out_of_the_way_at_once_and_gone_soon_after() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().to_path_buf();
        on_executor(move || async move {
            let pool = Rc::new(BlockingPool::default());
            let dir = data.join("t-0");
            std::fs::create_dir(&dir).unwrap();
            for i in 0..50 {
                std::fs::write(dir.join(format!("{i:020}.log")), b"x").unwrap();
            }
            let doomed = retire_dir(&pool, dir.clone(), "abc").await.unwrap();
            assert!(!dir.exists(), "the name is free for a recreated topic");
            remove_dirs_in_background(pool.clone(), doomed.into_iter().collect());
            std::fs::create_dir(&dir).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while data.join("t-0.abc-delete").exists() {
                assert!(std::time::Instant::now() < deadline, "never deleted");
                glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
            }
            assert!(dir.exists(), "the new directory is untouched");
            // A missing directory (its log never opened) is not an error.
            assert_eq!(
                retire_dir(&pool, data.join("t-9"), "abc").await.unwrap(),
                None
            );
            // A crash mid-deletion leaves a `-delete` directory: start-up finishes it.
            let left = data.join("u-3.def-delete");
            std::fs::create_dir(&left).unwrap();
            std::fs::write(left.join("00000000000000000000.log"), b"x").unwrap();
            remove_leftover_deletions(pool.clone(), data.clone()).await;
            assert!(!left.exists());
            assert!(dir.exists());
        });
    }
}
