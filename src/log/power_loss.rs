//! Simulated power loss (issue 12). `kill -9` cannot test fdatasync (completed O_DIRECT writes
//! survive a process crash), so this drives the log and partition in-process on a glommio
//! executor over the simulated disk of [`super::faults`]: random crash points across produce
//! at acks=1 and acks=all, segment rolls (small `segment.bytes`), index persists (every few
//! KiB of log), retention and DeleteRecords; after each crash the unsynced bytes are settled
//! (lost, partly persisted, scattered, torn) and the log is reopened on what is left.
//!
//! Invariants checked after every crash:
//! - recovery starts (`Log::open` succeeds on whatever the crash left);
//! - every batch acknowledged at acks=all is present at its offset (unless DeleteRecords or
//!   retention removed it on purpose);
//! - the log from its start to its end is contiguous offsets of CRC-valid batches, each one
//!   this test produced (intact: record count and size), in the order they were produced, at
//!   the offset its producer was told when it was acknowledged — nothing unacknowledged or
//!   foreign appears in the middle;
//! - the log start never passes what DeleteRecords or retention asked for.
//!
//! Runs: `power_loss_short` (CI, [`CRASHES_SHORT`] crash points), `power_loss_long` (ignored;
//! `scripts/power-loss.sh N`), and `power_loss_without_fdatasync_loses_acknowledged_records`,
//! which proves the test can fail: with every fdatasync skipped it must find lost records.
//! `SLUICE_POWER_LOSS_SEED` replays a run; `SLUICE_POWER_LOSS_CRASHES` sets the long form's
//! count.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::faults;
use super::format::{self, tests::fix_crc, tests::hand_batch, BatchHeader, BATCH_HEADER_BYTES};
use super::{now_ms, segment, Log, LogConfig, Retention, ShardStorage};
use crate::partition::{Partition, Settings};

/// Crash points of the CI form.
pub const CRASHES_SHORT: usize = 150;

/// Crash points of the long form when `SLUICE_POWER_LOSS_CRASHES` is not set.
pub const CRASHES_LONG_DEFAULT: usize = 1000;

/// A crash point is armed 1..=this many mutating file operations into a life.
const CRASH_OPS_MAX: u64 = 120;

/// Workload steps after which a life ends with a crash even if the armed point was not
/// reached (a life of only reads and refused appends).
const STEPS_PER_LIFE_MAX: usize = 400;

/// Produced batches carry their id in their max timestamp, past this.
const ID_TIMESTAMP_BASE: i64 = 1_000_000;

/// Index entries persisted every this many bytes of log (production: 1 MiB), so crash
/// points land in index persists with segments of a few KiB.
const INDEX_PERSIST_EVERY_BYTES: u64 = 2048;

/// A life that does not settle within this after its crash has a task stuck on the dead disk.
const QUIESCE_TIMEOUT: Duration = Duration::from_secs(20);

/// An open, a verification or a workload step that takes longer than this is stuck (a lost
/// wake-up, a leaked permit): the test fails saying where, instead of hanging.
const PHASE_TIMEOUT: Duration = Duration::from_secs(120);

/// `fut`, or a panic naming `what` if it has not finished within [`PHASE_TIMEOUT`].
async fn within<T>(what: impl FnOnce() -> String, fut: impl std::future::Future<Output = T>) -> T {
    let timer = glommio::timer::sleep(PHASE_TIMEOUT);
    futures::pin_mut!(fut, timer);
    match futures::future::select(fut, timer).await {
        futures::future::Either::Left((v, _)) => v,
        futures::future::Either::Right(_) => panic!("stuck for {PHASE_TIMEOUT:?}: {}", what()),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub crashes: usize,
    pub seed: u64,
    /// Every fdatasync succeeds without making anything durable.
    pub skip_syncs: bool,
    /// Unsynced sectors may be torn (garbage) after a crash.
    pub tear: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    pub crashes: usize,
    /// Crashes whose point fell inside recovery itself (the log was reopened again).
    pub crashes_in_recovery: usize,
    pub produced: u64,
    pub acked_all: u64,
    pub acked_one: u64,
    pub refused: u64,
    pub delete_records: u64,
    pub retention_passes: u64,
    /// Acknowledged acks=all batches missing after a crash.
    pub lost_acked_all: Vec<String>,
    /// Every other broken invariant.
    pub violations: Vec<String>,
    /// Where the crash points fell: operation and file kind.
    pub crash_points: BTreeMap<String, usize>,
    /// What happened to files with unsynced bytes at the crashes.
    pub fates: BTreeMap<String, usize>,
    pub elapsed: Duration,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} crash points ({} inside recovery) in {:.1} s: {} batches produced, {} acknowledged at acks=all, {} at acks=1, {} refused; {} DeleteRecords, {} retention passes",
            self.crashes,
            self.crashes_in_recovery,
            self.elapsed.as_secs_f64(),
            self.produced,
            self.acked_all,
            self.acked_one,
            self.refused,
            self.delete_records,
            self.retention_passes
        )?;
        writeln!(f, "crash points by operation: {:?}", self.crash_points)?;
        writeln!(f, "unsynced bytes after a crash: {:?}", self.fates)?;
        writeln!(
            f,
            "acknowledged acks=all batches lost: {}; other violations: {}",
            self.lost_acked_all.len(),
            self.violations.len()
        )?;
        for v in self
            .violations
            .iter()
            .take(10)
            .chain(self.lost_acked_all.iter().take(10))
        {
            writeln!(f, "  {v}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    records: i32,
    payload: usize,
}

/// What the test knows: every batch it produced, where the acknowledged ones went.
#[derive(Default)]
struct Model {
    next_id: u64,
    specs: HashMap<u64, Spec>,
    /// Base offset each acknowledged batch (either acks) was given.
    acked_at: HashMap<u64, i64>,
    /// Acknowledged at acks=all and not yet deleted on purpose: id → base offset.
    acked_all: BTreeMap<u64, i64>,
    /// The furthest any DeleteRecords or retention pass may have moved the log start.
    start_bound: i64,
    /// This life's share of acks=all produces: lives of mostly acks=1 leave long stretches
    /// written and unsynced, lives of mostly acks=all sync at every step.
    acks_all_ratio: f64,
}

fn batch(id: u64, spec: Spec) -> Bytes {
    let mut b = hand_batch(spec.records, spec.payload, ID_TIMESTAMP_BASE + id as i64);
    // Each batch's payload is its own, so bytes of one never pass for another's.
    for (i, byte) in b[BATCH_HEADER_BYTES..].iter_mut().enumerate() {
        *byte = (id as usize).wrapping_mul(31).wrapping_add(i) as u8;
    }
    fix_crc(&mut b);
    Bytes::from(b)
}

fn config(rng: &mut StdRng) -> LogConfig {
    LogConfig {
        segment_bytes: segment::SEGMENT_BYTES_MIN * rng.gen_range(1..=4),
        index_interval_bytes: 512,
        ..LogConfig::default()
    }
}

/// Run `opts.crashes` crash points in `dir` (on ext4: O_DIRECT).
pub async fn run(dir: &Path, opts: Options) -> Report {
    let started = Instant::now();
    crate::server::checks::prime_direct_io_probe(dir, 0).await;
    let sim = faults::install();
    sim.skip_syncs(opts.skip_syncs);
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut m = Model::default();
    let mut report = Report::default();
    let log_dir = dir.join("topic-0");
    // One shard's storage for every life, as a restarted broker's shard would have anew: its
    // slots and flush cycle must come out of each crash free.
    let storage = ShardStorage::for_test();
    storage
        .index_persist_every_bytes
        .set(INDEX_PERSIST_EVERY_BYTES);
    loop {
        // Power on. Sometimes the power fails again during recovery.
        let in_recovery = report.crashes < opts.crashes && rng.gen_bool(0.1);
        if in_recovery {
            sim.crash_after(rng.gen_range(1..=12));
        }
        let crash = report.crashes;
        let opened = within(
            || format!("Log::open after crash {crash}"),
            Log::open(&log_dir, config(&mut rng), &storage),
        )
        .await;
        let log = match opened {
            Ok(log) if !sim.crashed() => log,
            Ok(log) => {
                // Open finished but a crash hit on the way (an ignored remove): power off.
                report.crashes_in_recovery += 1;
                crash_and_restore(&sim, log, &mut rng, &mut report, opts).await;
                continue;
            }
            Err(e) if sim.crashed() => {
                report.crashes_in_recovery += 1;
                let _ = e;
                quiesce(&sim, None).await;
                restore(&sim, &mut rng, &mut report, opts);
                continue;
            }
            Err(e) => {
                report
                    .violations
                    .push(format!("crash {}: recovery failed: {e}", report.crashes));
                break;
            }
        };
        within(
            || format!("verify after crash {crash}"),
            verify(&log, &mut m, &mut report),
        )
        .await;
        if report.crashes >= opts.crashes {
            let _ = log.close().await;
            break;
        }
        if !in_recovery {
            sim.crash_after(rng.gen_range(1..=CRASH_OPS_MAX));
        }
        m.acks_all_ratio = [0.0, 0.2, 0.5, 0.9][rng.gen_range(0..4)];
        let p = Partition::new("t".into(), 0, 0, log.clone(), Settings::for_tests());
        let mut steps = 0;
        while !sim.crashed() {
            if steps == STEPS_PER_LIFE_MAX {
                sim.crash_now();
                break;
            }
            steps += 1;
            let kind = rng.gen_range(0..100);
            within(
                || {
                    format!(
                        "step {steps} (kind {kind}) of life {crash}: {}",
                        debug_state(&p, &sim)
                    )
                },
                step(kind, &p, &mut rng, &mut m, &mut report),
            )
            .await;
        }
        drop(p);
        crash_and_restore(&sim, log, &mut rng, &mut report, opts).await;
    }
    faults::uninstall();
    report.elapsed = started.elapsed();
    report
}

async fn crash_and_restore(
    sim: &Rc<faults::SimDisk>,
    log: Rc<Log>,
    rng: &mut StdRng,
    report: &mut Report,
    opts: Options,
) {
    sim.crash_now();
    quiesce(sim, Some(log)).await;
    restore(sim, rng, report, opts);
}

/// What a stuck step was waiting for, as far as the log, the flush cycle and the disk tell.
fn debug_state(p: &Partition, sim: &faults::SimDisk) -> String {
    let log = p.log();
    format!(
        "log: start {} synced {} written {} end {} hw {} failed {} writer_running {} pending {} write_waiters {} sync_queued {}; {}; transient files open {}; blocking calls (started, finished) {:?}; disk: events {} in flight {} crashed {}",
        log.start_offset.get(),
        log.synced_end.get(),
        log.written_end.get(),
        log.end_offset.get(),
        p.high_watermark(),
        log.failed.get(),
        log.writer_running.get(),
        log.pending.borrow().len(),
        log.write_waiters.borrow().len(),
        log.sync_queued.get(),
        log.storage.sync_cycle.debug_state(),
        log.storage.transient.open_now(),
        faults::blocking_calls(),
        sim.events(),
        sim.in_flight(),
        sim.crashed()
    )
}

/// Wait until nothing of the dead life runs: no task holds its log, no I/O is in flight.
async fn quiesce(sim: &faults::SimDisk, log: Option<Rc<Log>>) {
    let weak = log.as_ref().map(Rc::downgrade);
    drop(log);
    let deadline = Instant::now() + QUIESCE_TIMEOUT;
    while weak.as_ref().is_some_and(|w| w.upgrade().is_some()) || sim.in_flight() > 0 {
        assert!(
            Instant::now() < deadline,
            "the log's tasks did not finish after the power loss"
        );
        glommio::timer::sleep(Duration::from_millis(1)).await;
    }
}

fn restore(sim: &faults::SimDisk, rng: &mut StdRng, report: &mut Report, opts: Options) {
    let point = match sim.crashed_on() {
        Some((op, kind)) => format!("{op:?} {kind}"),
        None => "end of life".to_string(),
    };
    *report.crash_points.entry(point).or_default() += 1;
    for (_, fate) in sim.restore(rng, opts.tear) {
        *report.fates.entry(format!("{fate:?}")).or_default() += 1;
    }
    report.crashes += 1;
}

/// One workload step: a burst of concurrent produces, a DeleteRecords, a retention pass or
/// a flush.
async fn step(kind: u32, p: &Rc<Partition>, rng: &mut StdRng, m: &mut Model, report: &mut Report) {
    match kind {
        0..=79 => {
            let mut tasks = Vec::new();
            for _ in 0..rng.gen_range(1..=6) {
                let id = m.next_id;
                m.next_id += 1;
                let spec = Spec {
                    records: rng.gen_range(1..=4),
                    payload: rng.gen_range(40..=1200),
                };
                m.specs.insert(id, spec);
                let acks_all = rng.gen_bool(m.acks_all_ratio);
                let records = batch(id, spec);
                let p = p.clone();
                report.produced += 1;
                tasks.push(glommio::spawn_local(async move {
                    (id, acks_all, p.produce(&records, acks_all).await)
                }));
            }
            for t in tasks {
                let (id, acks_all, r) = t.await;
                match r {
                    Ok(a) => {
                        if std::env::var_os("SLUICE_FAULTS_TRACE").is_some() {
                            eprintln!("acked {id} at {} acks_all {acks_all}", a.base_offset);
                        }
                        m.acked_at.insert(id, a.base_offset);
                        if acks_all {
                            report.acked_all += 1;
                            m.acked_all.insert(id, a.base_offset);
                        } else {
                            report.acked_one += 1;
                        }
                    }
                    Err(_) => report.refused += 1,
                }
            }
        }
        80..=87 => {
            let (start, hw) = (p.log_start_offset(), p.high_watermark());
            if hw > start {
                let target = rng.gen_range(start..=hw);
                m.start_bound = m.start_bound.max(target);
                report.delete_records += 1;
                let _ = p.log().delete_records_before(target).await;
            }
        }
        88..=95 => {
            // Only sealed (synced) segments go: the start moves at most to the synced end.
            m.start_bound = m.start_bound.max(p.log().synced_end_offset());
            report.retention_passes += 1;
            let retention = Retention {
                retention_ms: -1,
                retention_bytes: rng.gen_range(8..=48) << 10,
            };
            let _ = p.log().apply_retention(retention, now_ms()).await;
        }
        _ => {
            let _ = p.log().sync().await;
        }
    }
}

/// Check the reopened log against the model; forget what was deleted on purpose.
async fn verify(log: &Rc<Log>, m: &mut Model, report: &mut Report) {
    let crash = report.crashes;
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    if start > m.start_bound {
        report.violations.push(format!(
            "crash {crash}: log start {start} is past any deletion asked for ({})",
            m.start_bound
        ));
    }
    let mut seen: HashMap<u64, i64> = HashMap::new();
    let mut at = start;
    let mut last_id: Option<u64> = None;
    let mut first = true;
    'scan: while at < end {
        let r = match log.read(at, end, 256 << 10, true).await {
            Ok(r) => r,
            Err(e) => {
                report.violations.push(format!(
                    "crash {crash}: read at {at} of [{start}, {end}): {e}"
                ));
                break;
            }
        };
        if r.bytes == 0 {
            report.violations.push(format!(
                "crash {crash}: read at {at} returned nothing below the end {end}"
            ));
            break;
        }
        let buf = r.into_contiguous();
        let mut pos = 0usize;
        while pos < buf.len() {
            let total = BatchHeader::try_parse(&buf[pos..])
                .ok()
                .and_then(|h| h.total_bytes())
                .filter(|&t| pos + t <= buf.len());
            let Some(total) = total else {
                report
                    .violations
                    .push(format!("crash {crash}: unparsable batch at offset {at}"));
                break 'scan;
            };
            let h = match format::check_stored(&buf[pos..pos + total]) {
                Ok(h) => h,
                Err(e) => {
                    report
                        .violations
                        .push(format!("crash {crash}: bad batch at offset {at}: {e}"));
                    break 'scan;
                }
            };
            let contiguous = if first {
                h.base_offset <= at && at < h.next_offset()
            } else {
                h.base_offset == at
            };
            if !contiguous {
                report.violations.push(format!(
                    "crash {crash}: batch at {} where offset {at} was expected",
                    h.base_offset
                ));
                break 'scan;
            }
            first = false;
            let id = (h.max_timestamp - ID_TIMESTAMP_BASE) as u64;
            match m.specs.get(&id) {
                None => report.violations.push(format!(
                    "crash {crash}: batch at {} was never produced (id {id})",
                    h.base_offset
                )),
                Some(s) => {
                    if i64::from(s.records) != h.next_offset() - h.base_offset
                        || total != BATCH_HEADER_BYTES + s.payload * s.records as usize
                    {
                        report.violations.push(format!(
                            "crash {crash}: batch {id} at {} is not the batch produced",
                            h.base_offset
                        ));
                    }
                }
            }
            if let Some(&b) = m.acked_at.get(&id) {
                if b != h.base_offset {
                    report.violations.push(format!(
                        "crash {crash}: batch {id} at {}, acknowledged at {b}",
                        h.base_offset
                    ));
                }
            }
            if last_id.is_some_and(|l| id <= l) {
                report.violations.push(format!(
                    "crash {crash}: batch {id} at {} follows batch {last_id:?}: out of produce order",
                    h.base_offset
                ));
            }
            last_id = Some(id);
            seen.insert(id, h.base_offset);
            at = h.next_offset();
            pos += total;
        }
    }
    let mut lost = Vec::new();
    for (&id, &base) in &m.acked_all {
        let next = base + i64::from(m.specs[&id].records);
        if next > start && seen.get(&id) != Some(&base) {
            lost.push(id);
            report.lost_acked_all.push(format!(
                "crash {crash}: batch {id} acknowledged at acks=all at offset {base} is missing (log [{start}, {end}))"
            ));
        }
    }
    // Each loss is reported once.
    for id in lost {
        m.acked_all.remove(&id);
        m.acked_at.remove(&id);
    }
    // Whatever lies below the start was deleted on purpose, and whatever is past the end is
    // gone: later lives reuse those offsets for new batches.
    m.acked_all
        .retain(|id, base| *base + i64::from(m.specs[id].records) > start && *base < end);
    m.acked_at
        .retain(|id, base| *base + i64::from(m.specs[id].records) > start && *base < end);
}

/// The run's seed: `SLUICE_POWER_LOSS_SEED`, else a random one (printed, to replay it).
fn seed() -> u64 {
    std::env::var("SLUICE_POWER_LOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

fn run_on_executor(opts: Options) -> Report {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            // As on a shard: without it a task glommio left unrun waits for the next timer.
            glommio::spawn_local(crate::shard::nudge::run()).detach();
            // On the repository's file system (ext4 here): tmpfs would not exercise O_DIRECT.
            let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
            run(dir.path(), opts).await
        })
        .expect("executor")
        .join()
        .expect("joined")
}

fn check(name: &str, opts: Options) {
    eprintln!(
        "{name}: seed {} (SLUICE_POWER_LOSS_SEED replays it)",
        opts.seed
    );
    let report = run_on_executor(opts);
    eprintln!("{name}: seed {}: {report}", opts.seed);
    assert!(report.crashes >= opts.crashes);
    assert!(
        report.lost_acked_all.is_empty() && report.violations.is_empty(),
        "{name}: seed {}: {report}",
        opts.seed
    );
    assert!(
        report.acked_all > 0 && report.delete_records > 0 && report.retention_passes > 0,
        "the workload covers acks=all, DeleteRecords and retention"
    );
}

/// CI form: [`CRASHES_SHORT`] random crash points, 0 acknowledged acks=all batches lost.
#[test]
fn power_loss_short() {
    check(
        "power_loss_short",
        Options {
            crashes: CRASHES_SHORT,
            seed: seed(),
            skip_syncs: false,
            tear: true,
        },
    );
}

/// Long form (`scripts/power-loss.sh N`): `SLUICE_POWER_LOSS_CRASHES` crash points.
#[test]
#[ignore]
fn power_loss_long() {
    let crashes = std::env::var("SLUICE_POWER_LOSS_CRASHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CRASHES_LONG_DEFAULT);
    check(
        "power_loss_long",
        Options {
            crashes,
            seed: seed(),
            skip_syncs: false,
            tear: true,
        },
    );
}

/// The test can fail: with every fdatasync skipped (a broker that acknowledges acks=all
/// without syncing), crashes lose acknowledged records and the checks report them.
#[test]
fn power_loss_without_fdatasync_loses_acknowledged_records() {
    let seed = seed();
    let report = run_on_executor(Options {
        crashes: 60,
        seed,
        skip_syncs: true,
        tear: false,
    });
    eprintln!("power_loss_without_fdatasync: seed {seed}: {report}");
    assert!(
        !report.lost_acked_all.is_empty(),
        "seed {seed}: skipping fdatasync must lose acknowledged records: {report}"
    );
}

/// A power loss can persist a later unsynced write and lose an earlier one, and recovery
/// trusts the last index entry whose batch is there without reading what lies before it: an
/// entry for an unsynced batch could lead it past a hole. So an index entry reaches the disk
/// only once its batch is synced: read the index file, then the synced end, after every
/// append of batches that are written and not yet synced.
#[test]
fn index_entries_reach_the_disk_only_for_synced_batches() {
    glommio::LocalExecutorBuilder::default()
        .spawn(|| async {
            let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).expect("tmp dir");
            crate::server::checks::prime_direct_io_probe(tmp.path(), 0).await;
            let dir = tmp.path().join("t-0");
            let config = LogConfig {
                index_interval_bytes: 1,
                ..LogConfig::default()
            };
            let storage = ShardStorage::for_test();
            storage.index_persist_every_bytes.set(1);
            let log = Log::open(&dir, config, &storage).await.expect("open");
            let index_path = segment::path(&dir, 0, segment::INDEX_SUFFIX);
            let mut persisted_max = 0;
            for id in 0..40u64 {
                let b = batch(
                    id,
                    Spec {
                        records: 1,
                        payload: 300,
                    },
                );
                let h = BatchHeader::try_parse(&b).expect("header");
                let (_, written) = log.append(&b, &h, 0);
                written.await.expect("written");
                // A sync now and then, so entries do get persisted however slowly the
                // background flushes run (a debug build on a loaded machine saw none in 40
                // appends), while most appends still leave written, unsynced batches behind.
                if id % 8 == 7 {
                    log.sync().await.expect("sync");
                }
                let bytes = std::fs::read(&index_path).expect("index");
                let synced = log.synced_end_offset();
                let entries = super::index::decode_offset_index(&bytes, 0, u64::MAX)
                    .expect("a valid index file");
                // Zero padding reads as an entry (0, 0): always true, whatever was synced.
                for e in entries.iter().filter(|e| e.position > 0) {
                    assert!(
                        i64::from(e.relative_offset) < synced,
                        "index entry for offset {} on disk, synced end {synced}",
                        e.relative_offset
                    );
                }
                persisted_max = persisted_max.max(entries.len());
            }
            assert!(persisted_max > 1, "entries do reach the disk once synced");
            log.close().await.expect("close");
        })
        .expect("executor")
        .join()
        .expect("joined");
}
