//! How the log cleaner replaces a group of sealed segments with their cleaned copy, crash-safe
//! at every step (Kafka's `.cleaned` → `.swap` → rename, with the commit point made explicit).
//!
//! Files in a partition directory, for a group of segments with bases `B1 < … < Bk` whose
//! offsets end (exclusive) at `E`:
//!
//! | step | on disk                                                             | a crash here leaves             |
//! |-----:|---------------------------------------------------------------------|---------------------------------|
//! | 1    | `B1.log.cleaned`, `B1.index.cleaned`, `B1.timeindex.cleaned` (and `B1.txnindex.cleaned` when a segment of the group has a `.txnindex`) written and fdatasynced | old segments; recovery deletes the `.cleaned` files |
//! | 2    | manifest `B1.swap` written whole and durably (tmp, fsync, rename, directory fsync): **the commit point** | recovery finishes the swap (3–4) |
//! | 3    | each `.cleaned` renamed over its final name (indexes first, log last; an empty `.txnindex` is then removed); every other segment with a base in (B1, E) removed, its `.txnindex` too; directory fsynced | recovery redoes 3 (idempotent) |
//! | 4    | manifest removed, directory fsynced                                  | the cleaned segment             |
//!
//! Manifest layout (text, one line): `sluice-swap 1 <B1> <E> <1 if a cleaned segment replaces
//! B1, 0 if the whole group emptied>\n`. A manifest that does not parse was never committed
//! (`replace_file` makes it appear whole): it and the group's `.cleaned` files are removed.
//!
//! So recovery finds either the old segments or the new one, never a mix: before step 2 the
//! old files are untouched, and from step 2 on every restart completes the same swap. The
//! aborted-transaction entries of the group's `.txnindex` files move with it: merged, in
//! marker order, into the cleaned segment's, minus those of transactions the cleaning left
//! no data of ([`write_cleaned_txn_index`]); a file that can't be trusted makes the merged
//! one a single byte, which the next open takes as torn and rebuilds from the log.
//!
//! Lives on the partition's owner shard; the file-system calls run on its blocking pool.

use std::io;
use std::path::{Path, PathBuf};

use super::file_ops;
use super::segment::{self, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use super::txn_index::{self, TXN_INDEX_SUFFIX};
use crate::shard::blocking::BlockingPool;

/// Suffix of a cleaned file not yet committed.
pub const CLEANED_SUFFIX: &str = "cleaned";
/// Suffix of a committed swap's manifest.
pub const SWAP_SUFFIX: &str = "swap";
const MANIFEST_MAGIC: &str = "sluice-swap 1";

/// One committed replacement: segments with bases in [first, end) become the cleaned
/// segment `first` (or nothing, when `has_output` is false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Swap {
    pub first: i64,
    pub end: i64,
    pub has_output: bool,
}

impl Swap {
    fn encode(&self) -> Vec<u8> {
        format!(
            "{MANIFEST_MAGIC} {} {} {}\n",
            self.first,
            self.end,
            u8::from(self.has_output)
        )
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<Swap> {
        let text = std::str::from_utf8(bytes).ok()?;
        let rest = text.strip_prefix(MANIFEST_MAGIC)?.strip_suffix('\n')?;
        let mut f = rest.split_whitespace();
        let first = f.next()?.parse().ok()?;
        let end = f.next()?.parse().ok()?;
        let has_output = match f.next()? {
            "1" => true,
            "0" => false,
            _ => return None,
        };
        (f.next().is_none() && first < end).then_some(Swap {
            first,
            end,
            has_output,
        })
    }
}

/// The path of segment `base`'s cleaned `suffix` file.
pub fn cleaned_path(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!(
        "{}.{CLEANED_SUFFIX}",
        segment::file_name(base, suffix)
    ))
}

fn manifest_name(first: i64) -> String {
    format!("{first:020}.{SWAP_SUFFIX}")
}

/// Test-only crash points (`SLUICE_TEST_CLEANER_CRASH_AT=<point>`): the process kills itself
/// with SIGKILL there, exactly like `kill -9`, so tests/compaction.rs can stop a broker at each
/// step of a swap. Points: `cleaned` (step 1 done), `manifest` (step 2 done), `swap` (within
/// step 3: the log renamed, other segments not yet removed), `checkpoint` (swap done, the
/// cleaner checkpoint not yet moved). Unset in production.
pub fn crash_point(point: &str) {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("SLUICE_TEST_CLEANER_CRASH_AT").ok());
    if at.as_deref() == Some(point) {
        tracing::error!(point, "SLUICE_TEST_CLEANER_CRASH_AT: killing the process");
        // SAFETY: kill(2) on our own pid with a valid signal has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Step 3 and 4 of `swap` in `dir` (blocking; idempotent).
fn apply(dir: &Path, swap: Swap) -> io::Result<()> {
    let b = swap.first;
    if swap.has_output {
        for suffix in SEGMENT_SUFFIXES {
            let cleaned = cleaned_path(dir, b, suffix);
            if cleaned.exists() {
                std::fs::rename(&cleaned, segment::path(dir, b, suffix))?;
            }
        }
        // A merged index left without entries is no file at all.
        let txn_index = segment::path(dir, b, TXN_INDEX_SUFFIX);
        if std::fs::metadata(&txn_index).is_ok_and(|m| m.len() == 0) {
            remove_if_present(&txn_index)?;
        }
    } else {
        for suffix in SEGMENT_SUFFIXES {
            remove_if_present(&segment::path(dir, b, suffix))?;
        }
    }
    crash_point("swap");
    let mut doomed: Vec<i64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| segment::parse_log_file_name(&e.file_name().to_string_lossy()))
        .filter(|&base| base > b && base < swap.end)
        .collect();
    doomed.sort_unstable();
    for base in doomed {
        // The log file last: a segment is listed by its .log, so it is listed until all is gone.
        for suffix in SEGMENT_SUFFIXES {
            remove_if_present(&segment::path(dir, base, suffix))?;
        }
    }
    sync_dir(dir)?;
    remove_if_present(&dir.join(manifest_name(b)))?;
    sync_dir(dir)
}

/// A segment's files a swap replaces or removes, the log file last.
const SEGMENT_SUFFIXES: [&str; 4] = [
    INDEX_SUFFIX,
    TIME_INDEX_SUFFIX,
    TXN_INDEX_SUFFIX,
    LOG_SUFFIX,
];

/// Step 1 for the `.txnindex` files of a group with bases `bases` (in order): if any of them
/// has one, write `<first>.txnindex.cleaned` (fdatasynced) with all their entries, in marker
/// order, except those whose marker offset is in `emptied` (aborted transactions the
/// cleaning left no data of). The caller holds the log's `txn_index_lock` until the swap is
/// applied.
pub async fn write_cleaned_txn_index(
    pool: &BlockingPool,
    dir: &Path,
    bases: Vec<i64>,
    mut emptied: Vec<i64>,
) -> io::Result<()> {
    use std::io::{Read, Write};
    emptied.sort_unstable();
    let dir = dir.to_path_buf();
    file_ops::run_fs(pool, move || {
        let Some(&first) = bases.first() else {
            return Ok(());
        };
        let mut files = Vec::new();
        let mut trusted = true;
        for base in &bases {
            let f = match std::fs::File::open(segment::path(&dir, *base, TXN_INDEX_SUFFIX)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut bytes = Vec::new();
            let limit = txn_index::TXN_INDEX_FILE_BYTES_MAX as u64 + 1;
            f.take(limit).read_to_end(&mut bytes)?;
            match txn_index::decode(&bytes) {
                Ok(entries) => files.push(entries),
                Err(_) => trusted = false,
            }
        }
        if files.is_empty() && trusted {
            return Ok(());
        }
        let out: Vec<u8> = if trusted {
            files
                .into_iter()
                .flatten()
                .filter(|e| emptied.binary_search(&e.txn.last_offset).is_err())
                .flat_map(|e| e.encode())
                .collect()
        } else {
            // Torn on purpose: the next open rebuilds every index from the log.
            vec![0]
        };
        let mut f = std::fs::File::create(cleaned_path(&dir, first, TXN_INDEX_SUFFIX))?;
        f.write_all(&out)?;
        f.sync_data()
    })
    .await
}

/// Commit and apply `swap` in `dir`: its `.cleaned` files (if any) must be written and synced.
pub async fn commit(pool: &BlockingPool, dir: &Path, swap: Swap) -> io::Result<()> {
    file_ops::replace_file(pool, dir, &manifest_name(swap.first), swap.encode()).await?;
    crash_point("manifest");
    let dir = dir.to_path_buf();
    file_ops::run_fs(pool, move || apply(&dir, swap)).await
}

/// Remove the `.cleaned` files of an abandoned group (nothing was committed).
pub async fn discard(pool: &BlockingPool, dir: &Path, first: i64) -> io::Result<()> {
    let paths: Vec<PathBuf> = SEGMENT_SUFFIXES
        .iter()
        .map(|s| cleaned_path(dir, first, s))
        .collect();
    file_ops::run_fs(pool, move || {
        for p in paths {
            remove_if_present(&p)?;
        }
        Ok(())
    })
    .await
}

/// At log open, before the segments are listed: finish every committed swap, then remove what
/// uncommitted cleanings left (`.cleaned` files, unparsable manifests and their temporaries).
pub async fn finish_interrupted(pool: &BlockingPool, dir: &Path) -> io::Result<()> {
    let dir = dir.to_path_buf();
    file_ops::run_fs(pool, move || {
        let names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut swaps: Vec<Swap> = Vec::new();
        for name in &names {
            if !name.ends_with(&format!(".{SWAP_SUFFIX}")) {
                continue;
            }
            let path = dir.join(name);
            match std::fs::read(&path).ok().and_then(|b| Swap::decode(&b)) {
                Some(s) => swaps.push(s),
                None => {
                    tracing::warn!(file = %path.display(), "removing an unreadable cleaner swap manifest");
                    remove_if_present(&path)?;
                }
            }
        }
        swaps.sort_by_key(|s| s.first);
        for s in swaps {
            tracing::warn!(dir = %dir.display(), first = s.first, end = s.end, "finishing an interrupted cleaner swap");
            apply(&dir, s)?;
        }
        let mut removed = false;
        for name in &names {
            if name.ends_with(&format!(".{CLEANED_SUFFIX}"))
                || name.ends_with(&format!(".{SWAP_SUFFIX}.tmp"))
            {
                tracing::info!(dir = %dir.display(), file = %name, "removing an uncommitted cleaner file");
                remove_if_present(&dir.join(name))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&dir)?;
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_round_trip_and_refuse_garbage() {
        let s = Swap {
            first: 100,
            end: 250,
            has_output: true,
        };
        assert_eq!(Swap::decode(&s.encode()), Some(s));
        assert_eq!(
            Swap::decode(b"sluice-swap 1 100 250 1"),
            None,
            "no newline: torn"
        );
        assert_eq!(Swap::decode(b"sluice-swap 1 300 250 1\n"), None);
        assert_eq!(Swap::decode(b""), None);
    }

    fn touch(dir: &Path, name: &str, bytes: &[u8]) {
        std::fs::write(dir.join(name), bytes).expect("write");
    }

    fn entry(pid: i64, first: i64, last: i64) -> txn_index::Entry {
        txn_index::Entry {
            txn: crate::txn::partition_state::AbortedTxn {
                producer_id: pid,
                first_offset: first,
                last_offset: last,
            },
            last_stable_offset: last + 1,
        }
    }

    fn run<F, Fut>(f: F)
    where
        F: FnOnce(crate::shard::blocking::BlockingPool) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = io::Result<()>>,
    {
        glommio::LocalExecutorBuilder::default()
            .spawn(move || async move {
                let pool = crate::shard::blocking::BlockingPool::default();
                f(pool).await
            })
            .expect("spawn")
            .join()
            .expect("join")
            .expect("ok");
    }

    /// A group's `.txnindex` files become the cleaned segment's one, minus the entries of
    /// transactions left without data; no file of a merged-away segment stays behind.
    #[test]
    fn a_groups_txn_indexes_merge_into_the_cleaned_segment() {
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp");
        let dir = tmp.path().to_path_buf();
        for base in [0, 10, 20] {
            touch(&dir, &segment::file_name(base, LOG_SUFFIX), b"old");
        }
        let name = |base| segment::file_name(base, TXN_INDEX_SUFFIX);
        touch(&dir, &name(0), &entry(1, 2, 5).encode());
        let mut ten = entry(2, 8, 12).encode().to_vec();
        ten.extend(entry(3, 11, 15).encode());
        touch(&dir, &name(10), &ten);
        touch(&dir, &name(20), &entry(4, 21, 22).encode());
        touch(
            &dir,
            &format!("{}.cleaned", segment::file_name(0, LOG_SUFFIX)),
            b"new",
        );
        let d = dir.clone();
        run(move |pool| async move {
            write_cleaned_txn_index(&pool, &d, vec![0, 10], vec![12]).await?;
            let swap = Swap {
                first: 0,
                end: 20,
                has_output: true,
            };
            commit(&pool, &d, swap).await
        });
        let merged = std::fs::read(dir.join(name(0))).expect("merged");
        assert_eq!(
            txn_index::decode(&merged),
            Ok(vec![entry(1, 2, 5), entry(3, 11, 15)])
        );
        assert!(!dir.join(name(10)).exists(), "no stray .txnindex");
        assert!(dir.join(name(20)).exists(), "outside the group");
        // Every entry gone: no file at all; an untrusted file: torn on purpose.
        let d = dir.clone();
        touch(
            &dir,
            &format!("{}.cleaned", segment::file_name(0, LOG_SUFFIX)),
            b"new",
        );
        run(move |pool| async move {
            write_cleaned_txn_index(&pool, &d, vec![0], vec![5, 15]).await?;
            let swap = Swap {
                first: 0,
                end: 10,
                has_output: true,
            };
            commit(&pool, &d, swap).await
        });
        assert!(!dir.join(name(0)).exists());
        touch(&dir, &name(20), b"torn");
        let d = dir.clone();
        run(move |pool| async move { write_cleaned_txn_index(&pool, &d, vec![20], vec![]).await });
        let cleaned = std::fs::read(cleaned_path(&dir, 20, TXN_INDEX_SUFFIX)).expect("c");
        assert_eq!(
            txn_index::decode(&cleaned),
            Err(txn_index::IndexError::Torn)
        );
    }

    /// A swap interrupted after its commit point is finished at open; one interrupted before
    /// it is discarded: either way the directory holds old or new, never a mix.
    #[test]
    fn recovery_finishes_committed_swaps_and_drops_uncommitted_ones() {
        let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp");
        let dir = tmp.path();
        for base in [0, 10, 20, 30] {
            touch(dir, &segment::file_name(base, LOG_SUFFIX), b"old");
            touch(dir, &segment::file_name(base, INDEX_SUFFIX), b"old");
        }
        // Committed: segments 0 and 10 become a cleaned 0; crash before anything was renamed.
        touch(
            dir,
            &format!("{}.cleaned", segment::file_name(0, LOG_SUFFIX)),
            b"new",
        );
        let swap = Swap {
            first: 0,
            end: 20,
            has_output: true,
        };
        touch(dir, &manifest_name(0), &swap.encode());
        // Uncommitted: cleaned 20 without a manifest.
        touch(
            dir,
            &format!("{}.cleaned", segment::file_name(20, LOG_SUFFIX)),
            b"new",
        );
        glommio::LocalExecutorBuilder::default()
            .spawn({
                let dir = dir.to_path_buf();
                move || async move {
                    let pool = crate::shard::blocking::BlockingPool::default();
                    finish_interrupted(&pool, &dir).await.expect("recover");
                }
            })
            .expect("spawn")
            .join()
            .expect("join");
        let read = |name: String| std::fs::read(dir.join(name)).ok();
        assert_eq!(
            read(segment::file_name(0, LOG_SUFFIX)).as_deref(),
            Some(&b"new"[..])
        );
        assert_eq!(read(segment::file_name(10, LOG_SUFFIX)), None);
        assert_eq!(read(segment::file_name(10, INDEX_SUFFIX)), None);
        assert_eq!(
            read(segment::file_name(20, LOG_SUFFIX)).as_deref(),
            Some(&b"old"[..])
        );
        assert_eq!(
            read(segment::file_name(30, LOG_SUFFIX)).as_deref(),
            Some(&b"old"[..])
        );
        let left: Vec<String> = std::fs::read_dir(dir)
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
