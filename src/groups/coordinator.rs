//! The group coordinator of one shard: every group whose `__consumer_offsets` partition this
//! shard owns, the JoinGroup/SyncGroup requests parked on them, their timers, and their
//! persistence (records appended to the shard's offsets partitions, replayed before first use).
//!
//! Lives on its shard (`Shard::groups`, `!Send`). Requests reach it through [`route`], which
//! runs them on the group's coordinator shard (inline when that is this one, else forwarded and
//! counted). Concurrency: every call to the state machine runs without awaiting in between, so
//! a group's transitions are atomic; the only awaits are appends and parked requests.

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};

use super::records::{self, RecordKey};
use super::state::{
    CommittedOffset, Event, Group, GroupState, JoinOutcome, JoinParams, JoinResult, Now,
    SyncOutcome, SyncResult,
};
use super::{offsets_partition_for, GroupConfig};
use crate::protocol::errors::GroupError;
use crate::shard::offsets_topic::{OFFSETS_TOPIC, OFFSETS_TOPIC_PARTITIONS};
use crate::shard::Shard;

type Key = (String, String);

enum Load {
    Loading(Vec<oneshot::Sender<()>>),
    Loaded,
}

struct Slot {
    group: Group,
    /// The deadline this group has in the timer heap (entries with another time are stale).
    scheduled: Option<u64>,
    /// The newest group-record write asked for (coordinator-wide sequence; 0: none). A queued
    /// write that is no longer the newest is dropped, so the log never ends on a stale record.
    persist_seq: u64,
}

/// One shard's coordinator. Lives on that shard.
pub struct Coordinator {
    pub config: GroupConfig,
    groups: RefCell<HashMap<String, Slot>>,
    join_waiters: RefCell<HashMap<Key, oneshot::Sender<JoinResult>>>,
    sync_waiters: RefCell<HashMap<Key, oneshot::Sender<SyncResult>>>,
    loads: RefCell<HashMap<i32, Load>>,
    timers: RefCell<BinaryHeap<Reverse<(u64, String)>>>,
    wake: mpsc::UnboundedSender<()>,
    wake_rx: RefCell<Option<mpsc::UnboundedReceiver<()>>>,
    started: Cell<bool>,
    /// Source of `Slot::persist_seq`.
    persist_seq: Cell<u64>,
    epoch: Instant,
}

/// One member, as DescribeGroups shows it.
#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

pub type PartitionResults = Vec<(String, i32, Result<(), GroupError>)>;

/// Committed offsets by topic: (partition, offset if any).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

impl Coordinator {
    pub fn new(config: GroupConfig) -> Coordinator {
        let (wake, wake_rx) = mpsc::unbounded();
        Coordinator {
            config,
            groups: RefCell::new(HashMap::new()),
            join_waiters: RefCell::new(HashMap::new()),
            sync_waiters: RefCell::new(HashMap::new()),
            loads: RefCell::new(HashMap::new()),
            timers: RefCell::new(BinaryHeap::new()),
            wake,
            wake_rx: RefCell::new(Some(wake_rx)),
            started: Cell::new(false),
            persist_seq: Cell::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn now(&self) -> Now {
        Now {
            mono_ms: self.epoch.elapsed().as_millis() as u64,
            wall_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        }
    }
}

/// Run `f` on the coordinator shard of `group_id`, after that shard has loaded the group's
/// offsets partition. Creates `__consumer_offsets` on first use.
pub async fn route<R, F, Fut>(shard: &Rc<Shard>, group_id: &str, f: F) -> Result<R, GroupError>
where
    R: Send + 'static,
    F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    let partition = offsets_partition_for(group_id);
    let owner = coordinator_shard(shard, partition).await?;
    if owner != shard.id {
        shard.metrics.forwarded.fetch_add(1, Ordering::Relaxed);
    }
    shard
        .on_shard(owner, move |s| async move {
            ensure_loaded(&s, partition).await?;
            Ok(f(s).await)
        })
        .await
        .unwrap_or(Err(GroupError::CoordinatorNotAvailable))
}

/// The shard coordinating the groups of offsets partition `partition`.
pub async fn coordinator_shard(shard: &Rc<Shard>, partition: i32) -> Result<u32, GroupError> {
    shard
        .ensure_offsets_topic()
        .await
        .map_err(|_| GroupError::CoordinatorNotAvailable)?;
    shard
        .offsets_partition_owner(partition)
        .ok_or(GroupError::CoordinatorNotAvailable)
}

/// Start the coordinator's background task on this shard: replay its offsets partitions, then
/// run group timers and offset retention until shutdown.
pub fn start(shard: &Rc<Shard>) {
    let c = &shard.groups;
    if c.started.replace(true) {
        return;
    }
    let Some(mut wake_rx) = c.wake_rx.borrow_mut().take() else {
        return;
    };
    let shard = shard.clone();
    glommio::spawn_local(async move {
        load_all_local(&shard).await;
        let interval = shard
            .groups
            .config
            .offsets_retention_check_interval_ms
            .max(1);
        let mut next_retention = shard.groups.now().mono_ms.saturating_add(interval);
        loop {
            let now = shard.groups.now().mono_ms;
            let next_timer = shard
                .groups
                .timers
                .borrow()
                .peek()
                .map(|Reverse((t, _))| *t);
            let until = next_timer.unwrap_or(u64::MAX).min(next_retention);
            let sleep =
                glommio::timer::sleep(Duration::from_millis(until.saturating_sub(now))).fuse();
            let woken = wake_rx.next().fuse();
            let shutdown = shard.shutdown.wait().fuse();
            futures::pin_mut!(sleep, woken, shutdown);
            futures::select! {
                _ = sleep => {}
                w = woken => if w.is_none() { break },
                _ = shutdown => break,
            }
            run_due_timers(&shard);
            if shard.groups.now().mono_ms >= next_retention {
                expire_offsets(&shard).await;
                next_retention = shard.groups.now().mono_ms.saturating_add(interval);
            }
        }
    })
    .detach();
}

// --- loading ----------------------------------------------------------------------------------

async fn load_all_local(shard: &Rc<Shard>) {
    for p in 0..OFFSETS_TOPIC_PARTITIONS {
        if shard.local_partition(OFFSETS_TOPIC, p).is_some() {
            if let Err(e) = ensure_loaded(shard, p).await {
                tracing::warn!(partition = p, error = ?e, "loading groups");
            }
        }
    }
}

/// Replay offsets partition `p` into this shard's coordinator once; concurrent callers wait.
async fn ensure_loaded(shard: &Rc<Shard>, p: i32) -> Result<(), GroupError> {
    loop {
        let wait = {
            let mut loads = shard.groups.loads.borrow_mut();
            match loads.get_mut(&p) {
                Some(Load::Loaded) => return Ok(()),
                Some(Load::Loading(waiters)) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                None => {
                    loads.insert(p, Load::Loading(Vec::new()));
                    None
                }
            }
        };
        match wait {
            Some(rx) => {
                let _ = rx.await;
            }
            None => {
                let result = load_partition(shard, p).await;
                let previous = match &result {
                    Ok(()) => shard.groups.loads.borrow_mut().insert(p, Load::Loaded),
                    Err(_) => shard.groups.loads.borrow_mut().remove(&p),
                };
                if let Some(Load::Loading(waiters)) = previous {
                    for w in waiters {
                        let _ = w.send(());
                    }
                }
                return result;
            }
        }
    }
}

#[derive(Default)]
struct Replayed {
    meta: Option<super::state::GroupSnapshot>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
}

async fn load_partition(shard: &Rc<Shard>, p: i32) -> Result<(), GroupError> {
    if shard.local_partition(OFFSETS_TOPIC, p).is_none() {
        return Err(GroupError::NotCoordinator);
    }
    let mut replayed: HashMap<String, Replayed> = HashMap::new();
    let mut bad = 0u64;
    let r = shard
        .replay_offsets_partition(p, |key, value| {
            let key = match records::decode_key(key) {
                Ok(k) => k,
                Err(_) => {
                    bad += 1;
                    return;
                }
            };
            let entry = replayed.entry(key.group().to_string()).or_default();
            match (key, value) {
                (
                    RecordKey::Offset {
                        topic, partition, ..
                    },
                    Some(v),
                ) => match records::decode_offset_value(v) {
                    Ok(o) => {
                        entry.offsets.insert((topic, partition), o);
                    }
                    Err(_) => bad += 1,
                },
                (
                    RecordKey::Offset {
                        topic, partition, ..
                    },
                    None,
                ) => {
                    entry.offsets.remove(&(topic, partition));
                }
                (RecordKey::Group { .. }, Some(v)) => match records::decode_group_value(v) {
                    Ok(g) => entry.meta = Some(g),
                    Err(_) => bad += 1,
                },
                (RecordKey::Group { .. }, None) => entry.meta = None,
            }
        })
        .await;
    if let Err(e) = r {
        tracing::error!(partition = p, error = ?e, "replaying __consumer_offsets");
        return Err(GroupError::CoordinatorLoadInProgress);
    }
    if bad > 0 {
        tracing::warn!(
            partition = p,
            records = bad,
            "skipped undecodable __consumer_offsets records"
        );
    }
    let c = &shard.groups;
    let now = c.now();
    let count = replayed.len();
    for (id, r) in replayed {
        let mut group = match r.meta {
            Some(meta) => Group::from_snapshot(&id, c.config, meta, now),
            None if !r.offsets.is_empty() => Group::new(&id, c.config, now),
            None => continue,
        };
        group.offsets = r.offsets;
        c.groups.borrow_mut().insert(
            id.clone(),
            Slot {
                group,
                scheduled: None,
                persist_seq: 0,
            },
        );
        schedule(c, &id);
    }
    if count > 0 {
        tracing::info!(
            shard = shard.id,
            partition = p,
            groups = count,
            "groups loaded"
        );
    }
    Ok(())
}

// --- after every state-machine call -------------------------------------------------------

/// Deliver the group's events, persist it if asked, reschedule its timers.
fn after(shard: &Rc<Shard>, group_id: &str) {
    let c = &shard.groups;
    let events = match c.groups.borrow_mut().get_mut(group_id) {
        Some(slot) => slot.group.drain_events(),
        None => return,
    };
    let mut persist = false;
    for e in events {
        match e {
            Event::Join(member, r) => {
                if let Some(tx) = c
                    .join_waiters
                    .borrow_mut()
                    .remove(&(group_id.to_string(), member))
                {
                    let _ = tx.send(r);
                }
            }
            Event::Sync(member, r) => {
                if let Some(tx) = c
                    .sync_waiters
                    .borrow_mut()
                    .remove(&(group_id.to_string(), member))
                {
                    let _ = tx.send(r);
                }
            }
            Event::PersistGroup => persist = true,
        }
    }
    if persist {
        let queued = c.groups.borrow_mut().get_mut(group_id).map(|s| {
            let seq = next_persist_seq(c, s);
            (seq, records::group_value(&s.group.snapshot(None)))
        });
        if let Some((seq, value)) = queued {
            let shard = shard.clone();
            let id = group_id.to_string();
            glommio::spawn_local(async move {
                // Appends take log offsets in the order they are first polled: checking here,
                // right before the append, keeps group records in the order they were asked for.
                let newest = shard.groups.groups.borrow().get(&id).map(|s| s.persist_seq);
                if newest != Some(seq) {
                    return;
                }
                let p = offsets_partition_for(&id);
                let key = records::group_key(&id);
                if let Err(e) = shard
                    .append_offsets_records(p, vec![(key, Some(value))])
                    .await
                {
                    tracing::warn!(group = %id, error = ?e, "persisting group metadata");
                }
            })
            .detach();
        }
    }
    schedule(c, group_id);
}

/// Mark a group-record write as the newest for this group (it appends before any later one).
fn next_persist_seq(c: &Coordinator, slot: &mut Slot) -> u64 {
    let seq = c.persist_seq.get() + 1;
    c.persist_seq.set(seq);
    slot.persist_seq = seq;
    seq
}

fn schedule(c: &Coordinator, group_id: &str) {
    let mut groups = c.groups.borrow_mut();
    let Some(slot) = groups.get_mut(group_id) else {
        return;
    };
    let Some(d) = slot.group.next_deadline() else {
        return;
    };
    if slot.scheduled.is_some_and(|s| s <= d) {
        return;
    }
    slot.scheduled = Some(d);
    let mut timers = c.timers.borrow_mut();
    let earliest = timers.peek().is_none_or(|Reverse((t, _))| d < *t);
    timers.push(Reverse((d, group_id.to_string())));
    if earliest {
        let _ = c.wake.unbounded_send(());
    }
}

fn run_due_timers(shard: &Rc<Shard>) {
    let c = &shard.groups;
    let now = c.now();
    loop {
        let due = {
            let mut timers = c.timers.borrow_mut();
            match timers.peek() {
                Some(Reverse((t, _))) if *t <= now.mono_ms => timers.pop().map(|Reverse(e)| e),
                _ => None,
            }
        };
        let Some((t, id)) = due else {
            return;
        };
        let ticked = match c.groups.borrow_mut().get_mut(&id) {
            Some(slot) if slot.scheduled == Some(t) => {
                slot.scheduled = None;
                slot.group.tick(now);
                true
            }
            _ => false,
        };
        if ticked {
            after(shard, &id);
        }
    }
}

fn with_group<R>(c: &Coordinator, group_id: &str, f: impl FnOnce(&mut Group) -> R) -> Option<R> {
    c.groups
        .borrow_mut()
        .get_mut(group_id)
        .map(|s| f(&mut s.group))
}

// --- operations (run on the coordinator shard, through `route`) ------------------------------

pub async fn join(shard: Rc<Shard>, group_id: String, p: JoinParams) -> JoinResult {
    let c = &shard.groups;
    let now = c.now();
    if !c.groups.borrow().contains_key(&group_id) {
        if !p.member_id.is_empty() {
            return JoinResult::error(GroupError::UnknownMemberId, &p.member_id);
        }
        c.groups.borrow_mut().insert(
            group_id.clone(),
            Slot {
                group: Group::new(&group_id, c.config, now),
                scheduled: None,
                persist_seq: 0,
            },
        );
    }
    let Some(outcome) = with_group(c, &group_id, |g| g.join(p, now)) else {
        return JoinResult::error(GroupError::CoordinatorNotAvailable, "");
    };
    let rx = match outcome {
        JoinOutcome::Done(r) => {
            after(&shard, &group_id);
            drop_if_unused(c, &group_id);
            return r;
        }
        JoinOutcome::Waiting { member_id } => {
            let (tx, rx) = oneshot::channel();
            let key = (group_id.clone(), member_id.clone());
            if let Some(old) = c.join_waiters.borrow_mut().insert(key, tx) {
                let _ = old.send(JoinResult::error(
                    GroupError::RebalanceInProgress,
                    &member_id,
                ));
            }
            after(&shard, &group_id);
            rx
        }
    };
    rx.await
        .unwrap_or_else(|_| JoinResult::error(GroupError::CoordinatorNotAvailable, ""))
}

/// A group created by a join that was refused holds nothing: don't keep it.
fn drop_if_unused(c: &Coordinator, group_id: &str) {
    let mut groups = c.groups.borrow_mut();
    if groups.get(group_id).is_some_and(|s| {
        s.group.is_disposable() && s.group.generation() == 0 && s.group.state() == GroupState::Empty
    }) {
        groups.remove(group_id);
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per field of the request it serves; a struct would only rename them"
)]
pub async fn sync(
    shard: Rc<Shard>,
    group_id: String,
    member_id: String,
    instance_id: Option<String>,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    assignments: Vec<(String, Bytes)>,
) -> SyncResult {
    let c = &shard.groups;
    let now = c.now();
    let outcome = with_group(c, &group_id, |g| {
        g.sync(
            &member_id,
            instance_id.as_deref(),
            generation,
            protocol_type.as_deref(),
            protocol_name.as_deref(),
            assignments,
            now,
        )
    });
    let outcome = match outcome {
        None => return SyncResult::error(GroupError::UnknownMemberId),
        Some(SyncOutcome::Done(r)) => {
            after(&shard, &group_id);
            return r;
        }
        Some(o) => o,
    };
    let (tx, rx) = oneshot::channel();
    let key = (group_id.clone(), member_id.clone());
    if let Some(old) = c.sync_waiters.borrow_mut().insert(key, tx) {
        let _ = old.send(SyncResult::error(GroupError::RebalanceInProgress));
    }
    if let SyncOutcome::Persist {
        generation,
        assignments,
    } = outcome
    {
        let value = c.groups.borrow_mut().get_mut(&group_id).map(|s| {
            next_persist_seq(c, s);
            records::group_value(&s.group.snapshot(Some(&assignments)))
        });
        after(&shard, &group_id);
        let persisted = match value {
            Some(v) => shard
                .append_offsets_records(
                    offsets_partition_for(&group_id),
                    vec![(records::group_key(&group_id), Some(v))],
                )
                .await
                .map_err(GroupError::from),
            None => Err(GroupError::CoordinatorNotAvailable),
        };
        let now = c.now();
        with_group(c, &group_id, |g| {
            g.complete_sync(generation, assignments, persisted, now)
        });
    }
    after(&shard, &group_id);
    rx.await
        .unwrap_or_else(|_| SyncResult::error(GroupError::CoordinatorNotAvailable))
}

pub fn heartbeat(
    shard: &Rc<Shard>,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Result<(), GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let r = with_group(c, group_id, |g| {
        g.heartbeat(member_id, instance_id, generation, now)
    })
    .unwrap_or(Err(GroupError::UnknownMemberId));
    after(shard, group_id);
    r
}

pub fn leave(
    shard: &Rc<Shard>,
    group_id: &str,
    members: &[(String, Option<String>)],
) -> Result<Vec<Result<(), GroupError>>, GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let r = with_group(c, group_id, |g| g.leave(members, now)).unwrap_or_else(|| {
        Ok(members
            .iter()
            .map(|_| Err(GroupError::UnknownMemberId))
            .collect())
    });
    after(shard, group_id);
    r
}

pub async fn commit(
    shard: Rc<Shard>,
    group_id: String,
    member_id: String,
    instance_id: Option<String>,
    generation: i32,
    retention_ms: Option<i64>,
    partitions: Vec<CommitPartition>,
) -> PartitionResults {
    let c = &shard.groups;
    let now = c.now();
    let snapshot = shard.snapshot();
    let mut results: PartitionResults = Vec::with_capacity(partitions.len());
    let mut valid = Vec::new();
    for p in partitions {
        let r = if snapshot.partition(&p.topic, p.partition).is_none() {
            Err(GroupError::UnknownTopicOrPartition)
        } else if p.metadata.as_ref().map_or(0, String::len) > c.config.offset_metadata_bytes_max {
            Err(GroupError::OffsetMetadataTooLarge)
        } else {
            Ok(())
        };
        match r {
            Ok(()) => valid.push(p),
            Err(e) => results.push((p.topic, p.partition, Err(e))),
        }
    }
    if !c.groups.borrow().contains_key(&group_id) {
        if generation >= 0 {
            results.extend(
                valid
                    .into_iter()
                    .map(|p| (p.topic, p.partition, Err(GroupError::IllegalGeneration))),
            );
            return results;
        }
        c.groups.borrow_mut().insert(
            group_id.clone(),
            Slot {
                group: Group::new(&group_id, c.config, now),
                scheduled: None,
                persist_seq: 0,
            },
        );
    }
    let allowed = with_group(c, &group_id, |g| {
        g.validate_commit(&member_id, instance_id.as_deref(), generation, now)
    })
    .unwrap_or(Err(GroupError::CoordinatorNotAvailable));
    after(&shard, &group_id);
    if let Err(e) = allowed {
        results.extend(valid.into_iter().map(|p| (p.topic, p.partition, Err(e))));
        return results;
    }
    if valid.is_empty() {
        return results;
    }
    let offsets: Vec<(CommitPartition, CommittedOffset)> = valid
        .into_iter()
        .map(|p| {
            let o = CommittedOffset {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata: p.metadata.clone().unwrap_or_default(),
                commit_timestamp_ms: now.wall_ms,
                expire_timestamp_ms: retention_ms
                    .filter(|r| *r >= 0)
                    .map(|r| now.wall_ms.saturating_add(r)),
            };
            (p, o)
        })
        .collect();
    let recs = offsets
        .iter()
        .map(|(p, o)| {
            (
                records::offset_key(&group_id, &p.topic, p.partition),
                Some(records::offset_value(o)),
            )
        })
        .collect();
    let appended = shard
        .append_offsets_records(offsets_partition_for(&group_id), recs)
        .await
        .map_err(|e| {
            tracing::warn!(group = %group_id, error = ?e, "storing committed offsets");
            GroupError::from(e)
        });
    if appended.is_ok() {
        with_group(c, &group_id, |g| {
            for (p, o) in &offsets {
                g.commit(p.topic.clone(), p.partition, o.clone());
            }
        });
    }
    results.extend(
        offsets
            .into_iter()
            .map(|(p, _)| (p.topic, p.partition, appended)),
    );
    results
}

/// Committed offsets: for the partitions asked (None where nothing is committed), or for every
/// committed partition when `topics` is None.
pub fn fetch_offsets(
    shard: &Rc<Shard>,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
) -> FetchedOffsets {
    let c = &shard.groups;
    let groups = c.groups.borrow();
    let offsets = groups.get(group_id).map(|s| &s.group.offsets);
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(t, ps)| {
                let found = ps
                    .into_iter()
                    .map(|p| {
                        let o = offsets.and_then(|o| o.get(&(t.clone(), p)).cloned());
                        (p, o)
                    })
                    .collect();
                (t, found)
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> =
                BTreeMap::new();
            for ((t, p), o) in offsets.into_iter().flatten() {
                by_topic
                    .entry(t.clone())
                    .or_default()
                    .push((*p, Some(o.clone())));
            }
            by_topic.into_iter().collect()
        }
    }
}

pub fn describe(shard: &Rc<Shard>, group_id: &str) -> GroupDescription {
    let c = &shard.groups;
    let groups = c.groups.borrow();
    let Some(g) = groups.get(group_id).map(|s| &s.group) else {
        return GroupDescription {
            state: GroupState::Dead.name(),
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        };
    };
    let stable = g.state() == GroupState::Stable;
    let snapshot = g.snapshot(None);
    GroupDescription {
        state: g.state().name(),
        protocol_type: snapshot.protocol_type.clone(),
        protocol: if stable {
            snapshot.protocol.clone().unwrap_or_default()
        } else {
            String::new()
        },
        members: snapshot
            .members
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                metadata: if stable { m.subscription } else { Bytes::new() },
                assignment: if stable { m.assignment } else { Bytes::new() },
            })
            .collect(),
    }
}

/// Every live group this shard coordinates (loaded ones), by id, for its metrics snapshot.
pub fn views(shard: &Rc<Shard>) -> Vec<crate::metrics::GroupView> {
    let groups = shard.groups.groups.borrow();
    let mut out: Vec<_> = groups
        .values()
        .filter(|s| s.group.state() != GroupState::Dead)
        .map(|s| super::view::view(&s.group))
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group));
    out
}

/// (group id, protocol type, state) of every live group this shard coordinates.
pub async fn list(shard: &Rc<Shard>) -> Vec<(String, String, &'static str)> {
    load_all_local(shard).await;
    let groups = shard.groups.groups.borrow();
    let mut out: Vec<_> = groups
        .values()
        .filter(|s| s.group.state() != GroupState::Dead)
        .map(|s| {
            (
                s.group.id.clone(),
                s.group.protocol_type().unwrap_or_default().to_string(),
                s.group.state().name(),
            )
        })
        .collect();
    out.sort();
    out
}

/// Tombstones for a group's offsets (and the group itself when `group_too`).
fn tombstones(
    group_id: &str,
    keys: &[(String, i32)],
    group_too: bool,
) -> Vec<(Bytes, Option<Bytes>)> {
    let mut recs: Vec<(Bytes, Option<Bytes>)> = keys
        .iter()
        .map(|(t, p)| (records::offset_key(group_id, t, *p), None))
        .collect();
    if group_too {
        recs.push((records::group_key(group_id), None));
    }
    recs
}

pub async fn delete_group(shard: Rc<Shard>, group_id: String) -> Result<(), GroupError> {
    let c = &shard.groups;
    let now = c.now();
    let keys = {
        let mut groups = c.groups.borrow_mut();
        let slot = groups
            .get_mut(&group_id)
            .ok_or(GroupError::GroupIdNotFound)?;
        match slot.group.state() {
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return Err(GroupError::NonEmptyGroup),
        }
        let keys: Vec<(String, i32)> = slot.group.offsets.keys().cloned().collect();
        slot.group.mark_dead(now);
        keys
    };
    after(&shard, &group_id);
    c.groups.borrow_mut().remove(&group_id);
    shard
        .append_offsets_records(
            offsets_partition_for(&group_id),
            tombstones(&group_id, &keys, true),
        )
        .await
        .map_err(GroupError::from)
}

/// OffsetDelete: remove committed offsets the group no longer consumes.
pub async fn delete_offsets(
    shard: Rc<Shard>,
    group_id: String,
    partitions: Vec<(String, i32)>,
) -> Result<PartitionResults, GroupError> {
    let c = &shard.groups;
    let snapshot = shard.snapshot();
    let mut results: PartitionResults = Vec::new();
    let mut removed = Vec::new();
    {
        let mut groups = c.groups.borrow_mut();
        let g = &mut groups
            .get_mut(&group_id)
            .ok_or(GroupError::GroupIdNotFound)?
            .group;
        let subscribed = match g.state() {
            GroupState::Dead => return Err(GroupError::GroupIdNotFound),
            GroupState::Empty => None,
            _ if g.protocol_type() == Some(super::consumer_protocol::CONSUMER_PROTOCOL_TYPE) => {
                Some(g.subscribed_topics().unwrap_or_default())
            }
            _ => return Err(GroupError::NonEmptyGroup),
        };
        for (t, p) in partitions {
            if snapshot.partition(&t, p).is_none() {
                results.push((t, p, Err(GroupError::UnknownTopicOrPartition)));
            } else if subscribed.as_ref().is_some_and(|s| s.contains(&t)) {
                results.push((t, p, Err(GroupError::GroupSubscribedToTopic)));
            } else {
                if g.offsets.remove(&(t.clone(), p)).is_some() {
                    removed.push((t.clone(), p));
                }
                results.push((t, p, Ok(())));
            }
        }
    }
    if !removed.is_empty() {
        shard
            .append_offsets_records(
                offsets_partition_for(&group_id),
                tombstones(&group_id, &removed, false),
            )
            .await
            .map_err(GroupError::from)?;
    }
    Ok(results)
}

/// Offset retention: remove expired offsets, then empty groups left with none (Kafka's
/// `cleanupGroupMetadata`), writing tombstones for both.
async fn expire_offsets(shard: &Rc<Shard>) {
    let c = &shard.groups;
    let now = c.now();
    let mut writes: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
    let mut dead = Vec::new();
    for (id, slot) in c.groups.borrow_mut().iter_mut() {
        let g = &mut slot.group;
        let expired = g.expire_offsets(now, c.config.offsets_retention_ms);
        let gone = g.state() == GroupState::Empty && g.is_disposable();
        if gone {
            g.mark_dead(now);
            dead.push(id.clone());
        }
        if !expired.is_empty() || gone {
            writes
                .entry(offsets_partition_for(id))
                .or_default()
                .extend(tombstones(id, &expired, gone));
        }
    }
    for id in &dead {
        after(shard, id);
        c.groups.borrow_mut().remove(id);
    }
    for (p, recs) in writes {
        let n = recs.len();
        if let Err(e) = shard.append_offsets_records(p, recs).await {
            tracing::warn!(partition = p, error = ?e, "writing expired-offset tombstones");
        } else {
            tracing::info!(
                partition = p,
                records = n,
                "expired offsets and groups removed"
            );
        }
    }
}

/// Offsets a committed transaction wrote for `group_id` (TxnOffsetCommit), already appended to
/// the offsets partition: the group sees them now (`groups::txn_offsets`).
pub fn apply_committed_offsets(
    shard: &Rc<Shard>,
    group_id: &str,
    offsets: Vec<(String, i32, CommittedOffset)>,
) {
    let c = &shard.groups;
    let now = c.now();
    c.groups
        .borrow_mut()
        .entry(group_id.to_string())
        .or_insert_with(|| Slot {
            group: Group::new(group_id, c.config, now),
            scheduled: None,
            persist_seq: 0,
        });
    with_group(c, group_id, |g| {
        for (t, p, o) in offsets {
            g.commit(t, p, o);
        }
    });
}
