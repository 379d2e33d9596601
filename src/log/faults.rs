//! Storage fault injection under [`super::file_ops`], compiled for tests only: a simulated
//! disk that knows, for every file the log touches, its durable image (what a completed
//! fdatasync covered, or a durable create / remove / replace) beside the real file, which holds
//! the volatile image (every completed write).
//!
//! Fault model:
//! - **Power loss** at a chosen mutating operation (the N-th create, write, truncate,
//!   fdatasync, remove or replace): that operation and every later one fail, in-flight ones
//!   included, so nothing after the crash point reaches the durable images. [`SimDisk::restore`]
//!   then rewrites every file from its durable image, and what happened to the unsynced bytes
//!   is chosen per file: all lost, a prefix of them persisted (in order), any subset of
//!   512-byte sectors persisted (out of order), and — with tearing — garbage in a sector past
//!   the durable end; whether the file size change persisted is chosen too (an unpersisted
//!   extension reads as zeros). Bytes a completed fdatasync covered never change.
//! - Namespace operations (create, remove, the atomic replace of the log-start-offset file)
//!   are durable once they complete, in order — ext4's journal commits them that way; a
//!   model of lost directory entries would need the log to fsync its directory at every roll.
//! - **fdatasync returning EIO**, and afterwards the Linux behaviour that makes a retry
//!   worthless: a later fdatasync of the same file reports success and makes nothing durable.
//! - **Write failures** (EIO before any byte reached the file).
//! - **fdatasync skipped**: every fdatasync succeeds and makes nothing durable (a broker that
//!   never syncs), to prove the power-loss test detects lost acknowledged records.
//!
//! One disk per thread (each glommio executor is one thread): [`install`] puts it under every
//! log opened on that thread; with none installed the hooks do nothing.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use rand::rngs::StdRng;
use rand::Rng;

/// A mutating file operation (a possible crash point).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Create,
    Write,
    Truncate,
    Sync,
    Remove,
    Replace,
}

/// Sector size assumed for torn and partial writes.
pub const SECTOR_BYTES: usize = 512;

#[derive(Default)]
pub struct SimDisk {
    /// Mutating operations seen.
    events: Cell<u64>,
    /// The operation number at which the power fails, if set.
    crash_at: Cell<Option<u64>>,
    crashed: Cell<bool>,
    /// The operation and file name suffix the crash hit.
    crashed_on: Cell<Option<(Op, &'static str)>>,
    /// Operations started and not yet finished (the real I/O may still be in flight).
    in_flight: Cell<u64>,
    /// Per file: its durable image (None: durably absent).
    durable: RefCell<BTreeMap<PathBuf, Option<Vec<u8>>>>,
    /// Per file: the start number of the fdatasync whose image is durable. Syncs of one file
    /// may overlap and complete out of order; a completion never makes an older image durable
    /// over a newer one.
    durable_sync: RefCell<BTreeMap<PathBuf, u64>>,
    syncs_started: Cell<u64>,
    /// Files whose fdatasync failed: a later fdatasync makes nothing of them durable.
    poisoned: RefCell<HashSet<PathBuf>>,
    fail_syncs: Cell<u32>,
    fail_writes: Cell<u32>,
    syncs_are_noops: Cell<bool>,
    syncs_failed: Cell<u64>,
    syncs_completed: Cell<u64>,
}

// Test-only thread-locals (this module is `cfg(test)`): the simulated disk sits under
// `file_ops`' calls, which production code makes without a test handle; a thread-local lets a
// test put it under an unchanged code path instead of threading a test-only parameter through
// every file operation. Each test's executor is its own thread, so tests never share a disk.
thread_local! {
    static DISK: RefCell<Option<Rc<SimDisk>>> = const { RefCell::new(None) };
}

/// Put a fresh simulated disk under this thread's logs.
pub fn install() -> Rc<SimDisk> {
    let d = Rc::new(SimDisk::default());
    DISK.with(|c| *c.borrow_mut() = Some(d.clone()));
    d
}

/// Remove this thread's simulated disk.
pub fn uninstall() {
    DISK.with(|c| *c.borrow_mut() = None);
}

fn disk() -> Option<Rc<SimDisk>> {
    DISK.with(|c| c.borrow().clone())
}

/// `SLUICE_FAULTS_TRACE=1`: every operation and every restored file on stderr.
fn trace() -> bool {
    std::env::var_os("SLUICE_FAULTS_TRACE").is_some()
}

fn crash_error() -> io::Error {
    io::Error::other("simulated power loss")
}

fn eio() -> io::Error {
    io::Error::from_raw_os_error(libc::EIO)
}

fn kind(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("log") => "log",
        Some("index") => "index",
        Some("timeindex") => "timeindex",
        _ => "other",
    }
}

// Test-only, for the same reason as `DISK`: counted under `file_ops` for a stuck test's report.
thread_local! {
    /// Calls on the executor's blocking pool started and not finished (started, finished).
    static BLOCKING: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Counts a call on the blocking pool while it runs (for a stuck test to report).
pub struct BlockingCall;

impl BlockingCall {
    pub fn start() -> BlockingCall {
        BLOCKING.with(|b| b.set((b.get().0 + 1, b.get().1)));
        BlockingCall
    }
}

impl Drop for BlockingCall {
    fn drop(&mut self) {
        BLOCKING.with(|b| b.set((b.get().0, b.get().1 + 1)));
    }
}

/// (blocking-pool calls started, finished) on this thread.
pub fn blocking_calls() -> (u64, u64) {
    BLOCKING.with(Cell::get)
}

/// Kept while an operation that passed its check runs; the disk counts it in flight.
pub struct InFlight(Rc<SimDisk>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
    }
}

/// Before a mutating operation on `path`: fails once the power is off (or at the crash point),
/// or as injected; starts tracking the file's durable image.
pub fn check(op: Op, path: &Path) -> io::Result<Option<InFlight>> {
    let Some(d) = disk() else { return Ok(None) };
    if d.crashed.get() {
        return Err(crash_error());
    }
    let n = d.events.get() + 1;
    d.events.set(n);
    if d.crash_at.get() == Some(n) {
        d.crashed.set(true);
        d.crashed_on.set(Some((op, kind(path))));
        return Err(crash_error());
    }
    d.track(op, path);
    if trace() {
        eprintln!("op {n} {op:?} {}", path.display());
    }
    if op == Op::Write && d.fail_writes.get() > 0 {
        d.fail_writes.set(d.fail_writes.get() - 1);
        return Err(eio());
    }
    d.in_flight.set(d.in_flight.get() + 1);
    Ok(Some(InFlight(d)))
}

/// Before a read: fails once the power is off.
pub fn check_read(_path: &Path) -> io::Result<()> {
    match disk() {
        Some(d) if d.crashed.get() => Err(crash_error()),
        _ => Ok(()),
    }
}

/// An fdatasync in flight: what it will make durable.
pub struct SyncStarted {
    _in_flight: Option<InFlight>,
    /// Syncs started on this disk before this one, plus one.
    number: u64,
    path: PathBuf,
    /// The file as written when the sync started; None: the sync makes nothing durable.
    image: Option<Vec<u8>>,
}

pub fn sync_started(path: &Path) -> io::Result<SyncStarted> {
    let in_flight = check(Op::Sync, path)?;
    let Some(d) = disk() else {
        return Ok(SyncStarted {
            _in_flight: in_flight,
            number: 0,
            path: path.to_path_buf(),
            image: None,
        });
    };
    if d.fail_syncs.get() > 0 {
        d.fail_syncs.set(d.fail_syncs.get() - 1);
        d.syncs_failed.set(d.syncs_failed.get() + 1);
        d.poisoned.borrow_mut().insert(path.to_path_buf());
        return Err(eio());
    }
    let trusted = !d.syncs_are_noops.get() && !d.poisoned.borrow().contains(path);
    let number = d.syncs_started.get() + 1;
    d.syncs_started.set(number);
    Ok(SyncStarted {
        _in_flight: in_flight,
        number,
        path: path.to_path_buf(),
        image: if trusted {
            std::fs::read(path).ok()
        } else {
            None
        },
    })
}

pub fn sync_completed(s: SyncStarted, result: io::Result<()>) -> io::Result<()> {
    let Some(d) = disk() else { return result };
    if d.crashed.get() {
        return Err(crash_error());
    }
    if trace() {
        eprintln!(
            "sync {} done: {:?}, image {:?}",
            s.path.display(),
            result.as_ref().map_err(|e| e.to_string()),
            s.image.as_ref().map(Vec::len)
        );
    }
    if result.is_ok() {
        d.syncs_completed.set(d.syncs_completed.get() + 1);
        let newer = d
            .durable_sync
            .borrow()
            .get(&s.path)
            .is_none_or(|&n| s.number > n);
        if let (Some(image), true) = (s.image, newer) {
            d.durable_sync.borrow_mut().insert(s.path.clone(), s.number);
            d.durable.borrow_mut().insert(s.path, Some(image));
        }
    }
    result
}

/// After a completed remove of `path`: durably gone.
pub fn removed(path: &Path, result: &io::Result<()>) {
    if let Some(d) = disk() {
        if result.is_ok() && !d.crashed.get() {
            d.durable.borrow_mut().insert(path.to_path_buf(), None);
        }
    }
}

/// After an atomic replace of `path` with `bytes`: durable once it completed before the crash.
pub fn replaced(path: &Path, bytes: Vec<u8>, result: io::Result<()>) -> io::Result<()> {
    let Some(d) = disk() else { return result };
    if d.crashed.get() {
        return Err(crash_error());
    }
    if result.is_ok() {
        d.durable
            .borrow_mut()
            .insert(path.to_path_buf(), Some(bytes));
    }
    result
}

/// What [`SimDisk::restore`] did with one file's unsynced bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fate {
    /// Every unsynced byte lost.
    Lost,
    /// The unsynced bytes persisted up to a point, in order.
    Prefix,
    /// Any subset of the unsynced sectors persisted.
    Scattered,
    /// A prefix persisted and the sector after it holds garbage.
    Torn,
}

impl SimDisk {
    /// Start tracking `path` (its current contents are durable: nothing of this life touched
    /// it yet); a create makes an absent file durably present and empty.
    fn track(&self, op: Op, path: &Path) {
        let mut durable = self.durable.borrow_mut();
        let entry = durable
            .entry(path.to_path_buf())
            .or_insert_with(|| std::fs::read(path).ok());
        if op == Op::Create && entry.is_none() {
            *entry = Some(Vec::new());
        }
    }

    /// Fail the power at the `n`-th mutating operation from now (1: the next one).
    pub fn crash_after(&self, n: u64) {
        assert!(n >= 1);
        self.crash_at.set(Some(self.events.get() + n));
    }

    /// Fail the power now.
    pub fn crash_now(&self) {
        self.crashed.set(true);
    }

    pub fn crashed(&self) -> bool {
        self.crashed.get()
    }

    /// (operation, file kind) the crash point hit; None if it came from [`SimDisk::crash_now`].
    pub fn crashed_on(&self) -> Option<(Op, &'static str)> {
        self.crashed_on.get()
    }

    pub fn in_flight(&self) -> u64 {
        self.in_flight.get()
    }

    pub fn events(&self) -> u64 {
        self.events.get()
    }

    /// The next `n` fdatasyncs fail with EIO (and poison their files).
    pub fn fail_next_syncs(&self, n: u32) {
        self.fail_syncs.set(n);
    }

    /// The next `n` writes fail with EIO before any byte reaches the file.
    pub fn fail_next_writes(&self, n: u32) {
        self.fail_writes.set(n);
    }

    /// Every fdatasync succeeds and makes nothing durable.
    pub fn skip_syncs(&self, skip: bool) {
        self.syncs_are_noops.set(skip);
    }

    /// (fdatasyncs failed, fdatasyncs completed).
    pub fn sync_counts(&self) -> (u64, u64) {
        (self.syncs_failed.get(), self.syncs_completed.get())
    }

    /// After a crash, with no operation in flight: rewrite every file the disk tracked from its
    /// durable image, the unsynced bytes settled as the fault model says (`tear`: garbage may
    /// follow), then power on again with everything on disk durable. Returns each changed
    /// file's fate.
    pub fn restore(&self, rng: &mut StdRng, tear: bool) -> Vec<(PathBuf, Fate)> {
        assert!(self.crashed.get(), "restore after a crash only");
        assert_eq!(self.in_flight.get(), 0, "no I/O in flight at restore");
        let mut fates = Vec::new();
        let durable = std::mem::take(&mut *self.durable.borrow_mut());
        self.durable_sync.borrow_mut().clear();
        for (path, image) in durable {
            let volatile = std::fs::read(&path).ok();
            match (image, volatile) {
                (None, None) => {}
                (None, Some(_)) => {
                    let _ = std::fs::remove_file(&path);
                }
                (Some(d), None) => std::fs::write(&path, d).expect("restore a removed file"),
                (Some(d), Some(v)) => {
                    if d == v {
                        continue;
                    }
                    let (bytes, fate) = settle(&d, &v, rng, tear);
                    if trace() {
                        eprintln!(
                            "restore {}: durable {} volatile {} -> {} ({fate:?})",
                            path.display(),
                            d.len(),
                            v.len(),
                            bytes.len()
                        );
                    }
                    std::fs::write(&path, bytes).expect("restore a file");
                    fates.push((path, fate));
                }
            }
        }
        self.poisoned.borrow_mut().clear();
        self.crash_at.set(None);
        self.crashed.set(false);
        self.crashed_on.set(None);
        self.fail_syncs.set(0);
        self.fail_writes.set(0);
        fates
    }
}

/// What a file holds after a power loss, given its durable and volatile images.
fn settle(d: &[u8], v: &[u8], rng: &mut StdRng, tear: bool) -> (Vec<u8>, Fate) {
    let common = d.iter().zip(v).take_while(|(a, b)| a == b).count();
    let fate = match rng.gen_range(0..10) {
        0..=3 => Fate::Lost,
        4..=6 => Fate::Prefix,
        7..=8 => Fate::Scattered,
        _ if tear => Fate::Torn,
        _ => Fate::Scattered,
    };
    // Did the size change reach the disk?
    let len = if rng.gen_bool(0.5) { d.len() } else { v.len() };
    let sectors_from = common / SECTOR_BYTES;
    let sectors_to = len.div_ceil(SECTOR_BYTES);
    let cut = rng.gen_range(sectors_from..=sectors_to.max(sectors_from));
    let mut out = vec![0u8; len];
    let n = common.min(len);
    out[..n].copy_from_slice(&d[..n]);
    let from = |img: &[u8], at: usize, out: &mut [u8]| {
        for (i, b) in out.iter_mut().enumerate() {
            *b = img.get(at + i).copied().unwrap_or(0);
        }
    };
    for s in sectors_from..sectors_to {
        let start = (s * SECTOR_BYTES).max(common);
        let end = ((s + 1) * SECTOR_BYTES).min(len);
        if start >= end {
            continue;
        }
        let persisted = match fate {
            Fate::Lost => false,
            Fate::Prefix | Fate::Torn => s < cut,
            Fate::Scattered => rng.gen_bool(0.5),
        };
        // Only sectors that were being written can hold new bytes or garbage: past the
        // volatile end (an unsynced truncate) the durable bytes stay, or the file is shorter.
        let written_end = end.min(v.len()).max(start);
        let (new, old) = out[start..end].split_at_mut(written_end - start);
        from(d, written_end, old);
        if fate == Fate::Torn && s == cut {
            rng.fill(new);
        } else if persisted {
            from(v, start, new);
        } else {
            from(d, start, new);
        }
    }
    assert_eq!(
        &out[..n],
        &d[..n],
        "bytes a completed fdatasync covered never change"
    );
    let kept = len.min(d.len());
    assert!(
        (v.len()..kept).all(|i| out[i] == d[i]),
        "past an unsynced truncate the durable bytes stay"
    );
    (out, fate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Whatever the fate, the durable bytes survive and every other byte is durable, volatile,
    /// zero or (torn) garbage past the common prefix.
    #[test]
    fn settling_never_changes_durable_bytes() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let dl = rng.gen_range(0..3000);
            let vl = rng.gen_range(0..3000);
            let d: Vec<u8> = (0..dl).map(|i| (i % 251) as u8).collect();
            let mut v: Vec<u8> = (0..vl).map(|i| (i % 251) as u8).collect();
            let diverge = rng.gen_range(0..=vl);
            for b in &mut v[diverge..] {
                *b = 0xAB;
            }
            let (out, _) = settle(&d, &v, &mut rng, true);
            assert!(out.len() == d.len() || out.len() == v.len());
            let common = d.iter().zip(&v).take_while(|(a, b)| a == b).count();
            let n = common.min(out.len());
            assert_eq!(&out[..n], &d[..n]);
        }
    }
}
