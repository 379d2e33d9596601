//! The transaction coordinator of one shard: every transactional id whose `__transaction_state`
//! partition this shard owns, persisted in that partition and replayed before first use.
//!
//! Lives on its shard (`Shard::txns`, `!Send`). Requests reach it through [`route`], which runs
//! them on the id's coordinator shard (inline when that is this one, else forwarded and
//! counted). One operation per transactional id at a time: an id is marked busy for the whole
//! of an operation that awaits (a persist, markers), and a request that finds it busy gets
//! CONCURRENT_TRANSACTIONS, which clients retry.
//!
//! Ending a transaction is Kafka's two-phase sequence: PREPARE_COMMIT / PREPARE_ABORT is
//! persisted, the markers are appended (durably) to every partition of the transaction on
//! their owner shards through the cross-core path, then COMPLETE_* is persisted. A restart that
//! finds a PREPARE_* without its COMPLETE sends the markers again (appending a marker twice is
//! harmless: the second ends nothing).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;

use super::records::{self, TxnStatus, TxnValue};
use super::{
    txn_partition_for, TxnError, MARKER_RETRY_BACKOFF_MS, TXN_TOPIC, TXN_TOPIC_PARTITIONS,
};
use crate::limits::TXN_PARTITIONS_MAX;
use crate::log::now_ms;
use crate::protocol::errors::PartitionError;
use crate::shard::offsets_topic::OFFSETS_TOPIC;
use crate::shard::Shard;

/// One shard's transaction coordinator. Lives on that shard.
#[derive(Default)]
pub struct TxnCoordinator {
    txns: RefCell<HashMap<String, TxnValue>>,
    /// `__transaction_state` partitions replayed into `txns`.
    loaded: RefCell<HashSet<i32>>,
    /// Partitions being replayed (requests for their ids get COORDINATOR_LOAD_IN_PROGRESS).
    loading: RefCell<HashSet<i32>>,
    /// Ids with an operation in flight.
    busy: RefCell<HashSet<String>>,
    started: Cell<bool>,
}

/// An id marked busy; unmarked when dropped.
struct Busy<'a> {
    c: &'a TxnCoordinator,
    id: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.c.busy.borrow_mut().remove(&self.id);
    }
}

impl TxnCoordinator {
    fn lock(&self, id: &str) -> Result<Busy<'_>, TxnError> {
        if !self.busy.borrow_mut().insert(id.to_string()) {
            return Err(TxnError::ConcurrentTransactions);
        }
        Ok(Busy {
            c: self,
            id: id.to_string(),
        })
    }

    fn get(&self, id: &str) -> Option<TxnValue> {
        self.txns.borrow().get(id).cloned()
    }

    /// The state of `id`, if this shard coordinates it.
    pub fn describe(&self, id: &str) -> Option<TxnValue> {
        self.get(id)
    }

    /// Every id this shard coordinates, with its state, by id.
    pub fn list(&self) -> Vec<(String, TxnValue)> {
        let mut v: Vec<(String, TxnValue)> = self
            .txns
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// Run `f` on the coordinator shard of `transactional_id`, after that shard has loaded the
/// id's partition. Creates `__transaction_state` on first use.
pub async fn route<R, F, Fut>(
    shard: &Rc<Shard>,
    transactional_id: &str,
    f: F,
) -> Result<R, TxnError>
where
    R: Send + 'static,
    F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    let partition = txn_partition_for(transactional_id);
    let owner = coordinator_shard(shard, partition).await?;
    let load = move |s: Rc<Shard>| async move { ensure_loaded(&s, partition).await };
    crate::shard::coordinator::on_owner_loaded(
        shard,
        owner,
        load,
        f,
        TxnError::CoordinatorNotAvailable,
    )
    .await
}

/// The shard coordinating the ids of `__transaction_state` partition `partition`.
pub async fn coordinator_shard(shard: &Rc<Shard>, partition: i32) -> Result<u32, TxnError> {
    shard
        .ensure_txn_topic()
        .await
        .map_err(|_| TxnError::CoordinatorNotAvailable)?;
    shard
        .snapshot()
        .partition(TXN_TOPIC, partition)
        .map(|m| m.owner)
        .ok_or(TxnError::CoordinatorNotAvailable)
}

/// Start this shard's coordinator task: replay its `__transaction_state` partitions (finishing
/// what a crash interrupted), then, until shutdown, abort transactions past their timeout
/// (every `--transaction-abort-timed-out-transaction-cleanup-interval-ms`) and remove expired
/// transactional ids (every `--transaction-remove-expired-transaction-cleanup-interval-ms`).
pub fn start(shard: &Rc<Shard>) {
    if shard.txns.started.replace(true) {
        return;
    }
    let shard = shard.clone();
    glommio::spawn_local(async move {
        for p in 0..TXN_TOPIC_PARTITIONS {
            if shard.local_partition(TXN_TOPIC, p).is_some() {
                if let Err(e) = ensure_loaded(&shard, p).await {
                    tracing::warn!(partition = p, error = ?e, "loading transactions");
                }
            }
        }
        let cfg = shard.config.txns;
        let mut next_abort = cfg.abort_check_interval_ms;
        let mut next_expire = cfg.remove_expired_interval_ms;
        loop {
            let wait = next_abort.min(next_expire);
            let sleep = glommio::timer::sleep(Duration::from_millis(wait)).fuse();
            let shutdown = shard.shutdown.wait().fuse();
            futures::pin_mut!(sleep, shutdown);
            futures::select! {
                _ = sleep => {}
                _ = shutdown => break,
            }
            next_abort -= wait;
            next_expire -= wait;
            if next_abort == 0 {
                abort_timed_out(&shard).await;
                next_abort = cfg.abort_check_interval_ms;
            }
            if next_expire == 0 {
                remove_expired(&shard).await;
                next_expire = cfg.remove_expired_interval_ms;
            }
        }
    })
    .detach();
}

/// Replay `__transaction_state` partition `p` into this shard's coordinator once.
async fn ensure_loaded(shard: &Rc<Shard>, p: i32) -> Result<(), TxnError> {
    let c = &shard.txns;
    if c.loaded.borrow().contains(&p) {
        return Ok(());
    }
    if shard.local_partition(TXN_TOPIC, p).is_none() {
        return Err(TxnError::NotCoordinator);
    }
    if !c.loading.borrow_mut().insert(p) {
        return Err(TxnError::CoordinatorLoadInProgress);
    }
    let mut replayed: HashMap<String, Option<TxnValue>> = HashMap::new();
    let mut bad = 0u64;
    let r = shard
        .replay_internal_partition(TXN_TOPIC, p, |key, value| {
            let Ok(id) = records::decode_key(key) else {
                bad += 1;
                return;
            };
            match value.map(records::decode_value) {
                None => {
                    replayed.insert(id, None);
                }
                Some(Ok(v)) => {
                    replayed.insert(id, Some(v));
                }
                Some(Err(_)) => bad += 1,
            }
        })
        .await;
    c.loading.borrow_mut().remove(&p);
    if let Err(e) = r {
        tracing::error!(partition = p, error = ?e, "replaying __transaction_state");
        return Err(TxnError::CoordinatorLoadInProgress);
    }
    if bad > 0 {
        tracing::warn!(
            partition = p,
            records = bad,
            "skipped undecodable __transaction_state records"
        );
    }
    let mut unfinished = Vec::new();
    let mut ongoing = Vec::new();
    {
        let mut txns = c.txns.borrow_mut();
        for (id, v) in replayed {
            let Some(v) = v else {
                txns.remove(&id);
                continue;
            };
            match v.status {
                TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => unfinished.push(id.clone()),
                TxnStatus::Ongoing => ongoing.push(v.clone()),
                _ => {}
            }
            txns.insert(id, v);
        }
    }
    c.loaded.borrow_mut().insert(p);
    if !unfinished.is_empty() || !ongoing.is_empty() {
        tracing::info!(
            shard = shard.id,
            partition = p,
            unfinished = unfinished.len(),
            ongoing = ongoing.len(),
            "transactions loaded"
        );
    }
    // Open transactions go on: their partitions learn again which producer they belong to.
    for v in ongoing {
        let parts: Vec<(String, i32)> = v.partitions.iter().cloned().collect();
        if let Err(e) = register(shard, v.producer_id, v.producer_epoch, parts).await {
            tracing::warn!(error = ?e, "re-registering an ongoing transaction's partitions");
        }
    }
    for id in unfinished {
        spawn_retry_complete(shard, id, 0);
    }
    Ok(())
}

/// Persist `v` as `id`'s state, then adopt it.
async fn persist(shard: &Rc<Shard>, id: &str, v: TxnValue) -> Result<(), TxnError> {
    shard
        .append_internal_records(
            TXN_TOPIC,
            txn_partition_for(id),
            vec![(records::key(id), Some(records::value(&v)))],
        )
        .await
        .map_err(|e| {
            tracing::warn!(transactional_id = %id, error = ?e, "persisting transaction state");
            TxnError::from(e)
        })?;
    shard.txns.txns.borrow_mut().insert(id.to_string(), v);
    Ok(())
}

/// InitProducerId with a transactional id: a producer id and a new epoch for it, fencing every
/// older producer of the id; a transaction it left open is aborted first.
pub async fn init_producer_id(
    shard: Rc<Shard>,
    id: String,
    timeout_ms: i32,
    expected: Option<(i64, i16)>,
) -> Result<(i64, i16), TxnError> {
    if timeout_ms <= 0 || timeout_ms > shard.config.txns.max_timeout_ms {
        return Err(TxnError::InvalidTransactionTimeout);
    }
    let c = &shard.txns;
    let _busy = c.lock(&id)?;
    let now = now_ms();
    let mut v = match c.get(&id) {
        None => {
            let pid = allocate_producer_id(&shard).await?;
            TxnValue {
                producer_id: pid,
                producer_epoch: 0,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                last_update_ms: now,
                start_ms: -1,
            }
        }
        Some(mut v) => {
            // KIP-360: a producer that names its id and epoch must be the current one.
            if let Some((pid, epoch)) = expected.filter(|(pid, _)| *pid >= 0) {
                if pid != v.producer_id || epoch != v.producer_epoch {
                    return Err(TxnError::ProducerFenced);
                }
            }
            match v.status {
                TxnStatus::PrepareCommit
                | TxnStatus::PrepareAbort
                | TxnStatus::PrepareEpochFence => return Err(TxnError::ConcurrentTransactions),
                TxnStatus::Ongoing => {
                    // The old producer's transaction is aborted under a bumped epoch, which
                    // fences it in every partition; the new producer continues at that epoch.
                    v.producer_epoch = v.producer_epoch.saturating_add(1);
                    complete(&shard, &id, v.clone(), false).await?;
                }
                TxnStatus::Empty
                | TxnStatus::CompleteCommit
                | TxnStatus::CompleteAbort
                | TxnStatus::Dead => {
                    v.producer_epoch = v.producer_epoch.saturating_add(1);
                }
            }
            if v.producer_epoch >= i16::MAX - 1 {
                // Epochs exhausted: a new producer id, as Kafka does.
                v.producer_id = allocate_producer_id(&shard).await?;
                v.producer_epoch = 0;
            }
            v.timeout_ms = timeout_ms;
            v.status = TxnStatus::Empty;
            v.partitions.clear();
            v.last_update_ms = now;
            v.start_ms = -1;
            v
        }
    };
    v.timeout_ms = timeout_ms;
    let answer = (v.producer_id, v.producer_epoch);
    persist(&shard, &id, v).await?;
    Ok(answer)
}

async fn allocate_producer_id(shard: &Shard) -> Result<i64, TxnError> {
    shard.producer_ids.allocate().await.map_err(|e| {
        tracing::error!(error = %e, "persisting the producer id high-water mark");
        TxnError::KafkaStorageError
    })
}

/// The current state of `id` if `producer_id` / `epoch` are its current producer's.
fn check_producer(
    c: &TxnCoordinator,
    id: &str,
    producer_id: i64,
    epoch: i16,
) -> Result<TxnValue, TxnError> {
    let v = c.get(id).ok_or(TxnError::InvalidProducerIdMapping)?;
    if v.producer_id != producer_id {
        return Err(TxnError::InvalidProducerIdMapping);
    }
    if v.producer_epoch != epoch {
        return Err(TxnError::ProducerFenced);
    }
    Ok(v)
}

/// AddPartitionsToTxn / AddOffsetsToTxn: add `partitions` to the producer's transaction
/// (starting it), persist, and tell each partition's owner that this producer may write there.
pub async fn add_partitions(
    shard: Rc<Shard>,
    id: String,
    producer_id: i64,
    epoch: i16,
    partitions: Vec<(String, i32)>,
) -> Result<(), TxnError> {
    let c = &shard.txns;
    let _busy = c.lock(&id)?;
    let mut v = check_producer(c, &id, producer_id, epoch)?;
    match v.status {
        TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => {
            return Err(TxnError::ConcurrentTransactions)
        }
        TxnStatus::Dead | TxnStatus::PrepareEpochFence => return Err(TxnError::InvalidTxnState),
        TxnStatus::Empty
        | TxnStatus::Ongoing
        | TxnStatus::CompleteCommit
        | TxnStatus::CompleteAbort => {}
    }
    let new: Vec<(String, i32)> = partitions
        .iter()
        .filter(|p| !v.partitions.contains(*p))
        .cloned()
        .collect();
    if v.status != TxnStatus::Ongoing || !new.is_empty() {
        if v.partitions.len() + new.len() > TXN_PARTITIONS_MAX {
            return Err(TxnError::InvalidTxnState);
        }
        let now = now_ms();
        if v.status != TxnStatus::Ongoing {
            v.status = TxnStatus::Ongoing;
            v.start_ms = now;
            v.partitions.clear();
        }
        v.partitions.extend(new);
        v.last_update_ms = now;
        persist(&shard, &id, v).await?;
    }
    register(&shard, producer_id, epoch, partitions).await
}

/// Tell the owners of `partitions` that `producer_id` at `epoch` may write transactional
/// batches there (KIP-890 part 1), through the cross-core path.
async fn register(
    shard: &Rc<Shard>,
    producer_id: i64,
    epoch: i16,
    partitions: Vec<(String, i32)>,
) -> Result<(), TxnError> {
    let calls = by_owner(shard, partitions)
        .into_iter()
        .map(|(owner, parts)| {
            shard.on_shard(owner, move |s| async move {
                for (t, p) in parts {
                    if let Some(part) = s.local_partition(&t, p) {
                        part.txn_add(&s.storage.blocking, producer_id, epoch)
                            .await?;
                    }
                }
                Ok::<(), PartitionError>(())
            })
        });
    for r in futures::future::join_all(calls).await {
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(TxnError::from(e)),
            None => return Err(TxnError::CoordinatorNotAvailable),
        }
    }
    Ok(())
}

/// Partitions grouped by owner shard (partitions of deleted topics left out).
fn by_owner(shard: &Shard, partitions: Vec<(String, i32)>) -> BTreeMap<u32, Vec<(String, i32)>> {
    let snapshot = shard.snapshot();
    let mut out: BTreeMap<u32, Vec<(String, i32)>> = BTreeMap::new();
    for (t, p) in partitions {
        if let Some(m) = snapshot.partition(&t, p) {
            out.entry(m.owner).or_default().push((t, p));
        }
    }
    out
}

/// EndTxn: commit or abort the producer's transaction. Answers once the markers are written
/// (or, if some could not be, once PREPARE_* is durable: the commit is decided and a
/// background retry finishes it).
pub async fn end_txn(
    shard: Rc<Shard>,
    id: String,
    producer_id: i64,
    epoch: i16,
    commit: bool,
) -> Result<(), TxnError> {
    let c = &shard.txns;
    let _busy = c.lock(&id)?;
    let v = check_producer(c, &id, producer_id, epoch)?;
    match (v.status, commit) {
        (TxnStatus::Ongoing, _) => complete(&shard, &id, v, commit).await,
        // A retry of an EndTxn that completed.
        (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => Ok(()),
        (TxnStatus::PrepareCommit | TxnStatus::PrepareAbort, _) => {
            Err(TxnError::ConcurrentTransactions)
        }
        (
            TxnStatus::Empty
            | TxnStatus::CompleteCommit
            | TxnStatus::CompleteAbort
            | TxnStatus::Dead
            | TxnStatus::PrepareEpochFence,
            _,
        ) => Err(TxnError::InvalidTxnState),
    }
}

/// Persist PREPARE_*, write the markers, persist COMPLETE_*. The caller holds `id` busy.
async fn complete(
    shard: &Rc<Shard>,
    id: &str,
    mut v: TxnValue,
    commit: bool,
) -> Result<(), TxnError> {
    v.status = if commit {
        TxnStatus::PrepareCommit
    } else {
        TxnStatus::PrepareAbort
    };
    v.last_update_ms = now_ms();
    persist(shard, id, v.clone()).await?;
    if finish(shard, id, v).await.is_err() {
        spawn_retry_complete(shard, id.to_string(), MARKER_RETRY_BACKOFF_MS);
    }
    Ok(())
}

/// Markers for a prepared transaction `v`, then COMPLETE_*.
async fn finish(shard: &Rc<Shard>, id: &str, mut v: TxnValue) -> Result<(), TxnError> {
    let commit = match v.status {
        TxnStatus::PrepareCommit => true,
        TxnStatus::PrepareAbort => false,
        _ => return Ok(()),
    };
    let coordinator_epoch = shard
        .snapshot()
        .partition(TXN_TOPIC, txn_partition_for(id))
        .map_or(0, |m| m.leader_epoch);
    let partitions: Vec<(String, i32)> = v.partitions.iter().cloned().collect();
    write_markers(
        shard,
        v.producer_id,
        v.producer_epoch,
        commit,
        coordinator_epoch,
        partitions,
    )
    .await?;
    v.status = if commit {
        TxnStatus::CompleteCommit
    } else {
        TxnStatus::CompleteAbort
    };
    v.partitions.clear();
    v.last_update_ms = now_ms();
    persist(shard, id, v).await
}

/// Finish `id`'s prepared transaction in the background, retrying until it is done (or the
/// broker shuts down).
fn spawn_retry_complete(shard: &Rc<Shard>, id: String, first_delay_ms: u64) {
    let shard = shard.clone();
    glommio::spawn_local(async move {
        let mut delay = first_delay_ms;
        loop {
            if delay > 0 {
                let sleep = glommio::timer::sleep(Duration::from_millis(delay)).fuse();
                let shutdown = shard.shutdown.wait().fuse();
                futures::pin_mut!(sleep, shutdown);
                futures::select! {
                    _ = sleep => {}
                    _ = shutdown => return,
                }
            }
            delay = MARKER_RETRY_BACKOFF_MS;
            let Ok(_busy) = shard.txns.lock(&id) else {
                continue;
            };
            let Some(v) = shard.txns.get(&id) else {
                return;
            };
            match finish(&shard, &id, v).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(transactional_id = %id, error = ?e, "transaction markers; retrying");
                }
            }
        }
    })
    .detach();
}

/// Append the markers of `producer_id`'s transaction to every partition in `partitions`, on
/// their owner shards (one cross-core call per shard, its partitions' appends overlapping).
/// A `__consumer_offsets` partition gets its marker through the group side
/// (`groups::txn_offsets::complete`), which then applies or drops the producer's staged
/// offsets.
async fn write_markers(
    shard: &Rc<Shard>,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    mut partitions: Vec<(String, i32)>,
) -> Result<(), TxnError> {
    if partitions.len() > 1 && crash_point_armed("partial-markers") {
        // Test-only: the first partition's marker alone, durably, then the process dies.
        partitions.sort();
        let first = partitions.swap_remove(0);
        let one = vec![first];
        write_markers_to(shard, producer_id, epoch, commit, coordinator_epoch, one).await?;
        crash_now("partial-markers");
    }
    write_markers_to(
        shard,
        producer_id,
        epoch,
        commit,
        coordinator_epoch,
        partitions,
    )
    .await
}

/// Test-only crash points (`SLUICE_TEST_TXN_CRASH_AT=<point>`), like the cleaner's
/// (`log::cleaner_swap::crash_point`): `partial-markers` writes a transaction's first
/// partition's marker (partitions sorted by topic and index) and then kills the process with
/// SIGKILL, as `kill -9` would, leaving the others without theirs. Unset in production.
fn crash_point_armed(point: &str) -> bool {
    static AT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    AT.get_or_init(|| std::env::var("SLUICE_TEST_TXN_CRASH_AT").ok())
        .as_deref()
        == Some(point)
}

fn crash_now(point: &str) {
    tracing::error!(point, "SLUICE_TEST_TXN_CRASH_AT: killing the process");
    // SAFETY: kill(2) on our own pid with a valid signal has no memory effects.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
}

/// Append the markers to `partitions` on their owner shards, concurrently.
async fn write_markers_to(
    shard: &Rc<Shard>,
    producer_id: i64,
    epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    partitions: Vec<(String, i32)>,
) -> Result<(), TxnError> {
    let calls = by_owner(shard, partitions)
        .into_iter()
        .map(|(owner, parts)| {
            shard.on_shard(owner, move |s| async move {
                let appends = parts.into_iter().map(|(t, p)| {
                    let s = s.clone();
                    async move {
                        if t == OFFSETS_TOPIC {
                            return crate::groups::txn_offsets::complete(
                                &s,
                                p,
                                producer_id,
                                epoch,
                                commit,
                                coordinator_epoch,
                            )
                            .await;
                        }
                        match s.local_partition(&t, p) {
                            Some(part) => part
                                .append_marker(producer_id, epoch, commit, coordinator_epoch)
                                .await
                                .map(|_| ()),
                            None => Err(PartitionError::NotLeader),
                        }
                    }
                });
                let results = futures::future::join_all(appends).await;
                results.into_iter().collect::<Result<(), PartitionError>>()
            })
        });
    for r in futures::future::join_all(calls).await {
        match r {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(TxnError::from(e)),
            None => return Err(TxnError::CoordinatorNotAvailable),
        }
    }
    Ok(())
}

/// Abort every ongoing transaction of this shard past its timeout, under a bumped epoch (the
/// producer is fenced, as Kafka does).
async fn abort_timed_out(shard: &Rc<Shard>) {
    let now = now_ms();
    let expired: Vec<String> = shard
        .txns
        .txns
        .borrow()
        .iter()
        .filter(|(_, v)| {
            v.status == TxnStatus::Ongoing
                && v.start_ms.saturating_add(i64::from(v.timeout_ms)) < now
        })
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired {
        let Ok(_busy) = shard.txns.lock(&id) else {
            continue;
        };
        let Some(mut v) = shard.txns.get(&id) else {
            continue;
        };
        if v.status != TxnStatus::Ongoing {
            continue;
        }
        tracing::info!(transactional_id = %id, producer_id = v.producer_id, "aborting a transaction past its timeout");
        v.producer_epoch = v.producer_epoch.saturating_add(1);
        if let Err(e) = complete(shard, &id, v, false).await {
            tracing::warn!(transactional_id = %id, error = ?e, "aborting a timed-out transaction");
        }
    }
}

/// Remove every transactional id of this shard idle past `transactional.id.expiration.ms`
/// (no transaction open or being finished), as Kafka's coordinator does: a tombstone in
/// `__transaction_state`, then the id is forgotten. A producer that comes back with it gets
/// INVALID_PRODUCER_ID_MAPPING and starts over with InitProducerId.
async fn remove_expired(shard: &Rc<Shard>) {
    let now = now_ms();
    let expiration = shard.config.txns.id_expiration_ms;
    let expired: Vec<String> = shard
        .txns
        .txns
        .borrow()
        .iter()
        .filter(|(_, v)| is_expired(v, now, expiration))
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired {
        let Ok(_busy) = shard.txns.lock(&id) else {
            continue;
        };
        if !shard
            .txns
            .get(&id)
            .is_some_and(|v| is_expired(&v, now, expiration))
        {
            continue;
        }
        let written = shard
            .append_internal_records(
                TXN_TOPIC,
                txn_partition_for(&id),
                vec![(records::key(&id), None)],
            )
            .await;
        match written {
            Ok(()) => {
                tracing::info!(transactional_id = %id, "removed an expired transactional id");
                shard.txns.txns.borrow_mut().remove(&id);
            }
            Err(e) => {
                tracing::warn!(transactional_id = %id, error = ?e, "removing an expired transactional id");
            }
        }
    }
}

/// Kafka's rule: an id expires when its state is Empty, CompleteCommit or CompleteAbort and its
/// last update is `expiration_ms` old.
fn is_expired(v: &TxnValue, now: i64, expiration_ms: i64) -> bool {
    matches!(
        v.status,
        TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
    ) && v.last_update_ms.saturating_add(expiration_ms) <= now
}
