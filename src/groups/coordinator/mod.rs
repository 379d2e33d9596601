//! The group coordinator of one shard: every group whose `__consumer_offsets` partition this
//! shard owns, the JoinGroup/SyncGroup requests parked on them, their timers, and their
//! persistence (records appended to the shard's offsets partitions, replayed before first use).
//!
//! Lives on its shard (`Shard::groups`, `!Send`). Requests reach it through [`route`], which
//! runs them on the group's coordinator shard (inline when that is this one, else forwarded and
//! counted). Concurrency: every call to the state machine runs without awaiting in between, so
//! a group's transitions are atomic; the only awaits are appends and parked requests.

//!
//! Split by role: `load` (replay at first use), `classic` (JoinGroup/SyncGroup/Heartbeat/
//! LeaveGroup), `offsets` (commit, fetch, delete, retention), `admin` (describe, list, delete,
//! metrics views). This file holds the per-shard state, routing, and what runs after every
//! state-machine call (events, persistence, timers).

mod admin;
mod classic;
mod consumer;
mod load;
mod migration;
mod offsets;

pub use load::{PartitionReplay, Replayed};

pub use admin::{delete_group, describe, list, views};
pub use classic::{heartbeat, join, leave, sync};
pub use consumer::{
    check_fetch_member, consumer_describe, consumer_heartbeat, ConsumerDescription,
};
pub use offsets::{
    apply_txn_offsets, commit, delete_offsets, fetch_offsets, validate_txn_commit, CommitRequest,
};

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::{FutureExt, StreamExt};

use self::load::{ensure_loaded, load_all_local};
use self::offsets::expire_offsets;
use super::records::{self, Writes};
use super::state::{CommittedOffset, Event, Group, GroupState, JoinResult, Now, SyncResult};
use super::{offsets_partition_for, GroupConfig};
use crate::protocol::errors::GroupError;
use crate::shard::Shard;

type Key = (String, String);

enum Load {
    Loading(Vec<oneshot::Sender<()>>),
    Loaded,
}

struct Slot {
    /// The classic group, and the committed offsets of whichever kind the group is.
    group: Group,
    /// The KIP-848 consumer group of this id, if it is one (its classic side is then empty).
    consumer: Option<crate::groups::consumer::ConsumerGroup>,
    /// The deadline this group has in the timer heap (entries with another time are stale).
    scheduled: Option<u64>,
    /// The newest group-record write asked for (coordinator-wide sequence; 0: none). A queued
    /// write that is no longer the newest is dropped, so the log never ends on a stale record.
    persist_seq: u64,
    /// The consumer group's records as last written (encoded key → value): each change appends
    /// only what differs, and tombstones for keys that went.
    consumer_records: BTreeMap<Bytes, Bytes>,
}

impl Slot {
    fn new(group: Group) -> Slot {
        Slot {
            group,
            consumer: None,
            scheduled: None,
            persist_seq: 0,
            consumer_records: BTreeMap::new(),
        }
    }

    /// The group's earliest timer, classic or consumer.
    fn next_deadline(&self) -> Option<u64> {
        let consumer = self.consumer.as_ref().and_then(|c| c.next_deadline());
        match (self.group.next_deadline(), consumer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Topic name → what a consumer-group assignor needs of it, for one snapshot version.
type TopicInfos = Rc<BTreeMap<String, crate::groups::consumer::group::TopicInfo>>;

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
    /// Every topic by name as consumer-group subscriptions see them, with the metadata
    /// version it was built from.
    topics: RefCell<Option<(u64, TopicInfos)>>,
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
            topics: RefCell::new(None),
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
    let load = move |s: Rc<Shard>| async move { ensure_loaded(&s, partition).await };
    crate::shard::coordinator::on_owner_loaded(
        shard,
        owner,
        load,
        f,
        GroupError::CoordinatorNotAvailable,
    )
    .await
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

// --- after every state-machine call -------------------------------------------------------

/// What of `group_id`'s consumer-group records changed since they were last written: the new
/// values, and tombstones for the keys that went (all of them once the slot is no consumer
/// group, or is dead). Marks them written.
fn consumer_writes(c: &Coordinator, group_id: &str) -> Writes {
    let mut groups = c.groups.borrow_mut();
    let Some(slot) = groups.get_mut(group_id) else {
        return Writes::new();
    };
    if slot.group.state() == GroupState::Dead {
        slot.consumer = None;
    }
    let now = match &slot.consumer {
        Some(g) => g.records(group_id),
        None => BTreeMap::new(),
    };
    if now.is_empty() && slot.consumer_records.is_empty() {
        return Writes::new();
    }
    let before = std::mem::take(&mut slot.consumer_records);
    let writes = records::diff(&before, &now);
    slot.consumer_records = now;
    writes
}

/// Append a consumer group's record changes. On failure the group's written records are
/// forgotten, so its next change writes all of them again.
async fn write_consumer(
    shard: &Rc<Shard>,
    group_id: &str,
    writes: Writes,
) -> Result<(), GroupError> {
    if writes.is_empty() {
        return Ok(());
    }
    let r = shard
        .append_offsets_records(offsets_partition_for(group_id), writes)
        .await;
    if let Err(e) = &r {
        tracing::warn!(group = %group_id, error = ?e, "persisting consumer group");
        if let Some(slot) = shard.groups.groups.borrow_mut().get_mut(group_id) {
            slot.consumer_records.clear();
        }
    }
    r.map_err(GroupError::from)
}

/// Deliver the group's events, persist it if asked, reschedule its timers.
fn after(shard: &Rc<Shard>, group_id: &str) {
    let writes = consumer_writes(&shard.groups, group_id);
    if !writes.is_empty() {
        let shard = shard.clone();
        let id = group_id.to_string();
        // Appends take log offsets in the order they are first polled, so these follow any
        // write asked for earlier.
        glommio::spawn_local(async move {
            let _ = write_consumer(&shard, &id, writes).await;
        })
        .detach();
    }
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
    let Some(d) = slot.next_deadline() else {
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
                let fenced = slot.consumer.as_mut().is_some_and(|c| c.tick(now.mono_ms));
                Some(fenced)
            }
            _ => None,
        };
        if let Some(fenced) = ticked {
            if fenced {
                migration::maybe_downgrade(shard, &id);
            }
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
