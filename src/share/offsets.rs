//! The share-group offset admin APIs (DescribeShareGroupOffsets, AlterShareGroupOffsets,
//! DeleteShareGroupOffsets): the coordinator's checks (run on the group's coordinator shard,
//! the owner of its `__consumer_offsets` partition) and each share-partition's part (run on
//! the partition's owner shard, where its state lives, `owner`).
//!
//! A share-partition's "offset" is its start offset (SPSO): every record before it is done.
//! Altering it moves the start (forgetting the states of the records in between, as Kafka's
//! reinitialization does); deleting a topic's offsets removes the group's state of every
//! partition of the topic, so the next assignment starts afresh at `share.auto.offset.reset`.

use std::rc::Rc;

use super::owner::{self, AutoReset};
use super::{ShareError, ShareKey};
use crate::log::file_ops;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::shard::Shard;

/// Kafka's start offset of a share-partition that has no state (`PartitionFactory`'s
/// UNINITIALIZED_START_OFFSET), and its lag then.
pub const UNINITIALIZED: i64 = -1;

/// One share-partition as DescribeShareGroupOffsets shows it (Send: crosses shards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Described {
    pub start_offset: i64,
    pub leader_epoch: i32,
    /// KIP-1226 (v1): records from the start to the high watermark not yet acknowledged or
    /// archived; -1 without state.
    pub lag: i64,
}

/// Whether the coordinator may change the offsets of `group`: it must be a share group (or
/// no group yet: Kafka's AlterShareGroupOffsets creates an empty one) without members.
/// On the coordinator shard.
pub fn check_empty(shard: &Rc<Shard>, group: &str, create: bool) -> Result<(), ShareError> {
    if crate::groups::coordinator::describe(shard, group).state
        != crate::groups::types::GroupState::Dead.name()
    {
        // The id is a classic or consumer group's: not a share group (Kafka's answer).
        return Err(ShareError::GroupIdNotFound);
    }
    let mut groups = shard.share.groups.borrow_mut();
    match groups.get(group) {
        Some(g) if !g.members.is_empty() => Err(ShareError::NonEmptyGroup),
        Some(_) => Ok(()),
        None if create => {
            groups.insert(
                group.to_string(),
                super::group::ShareGroup::new(group.to_string()),
            );
            Ok(())
        }
        None => Err(ShareError::GroupIdNotFound),
    }
}

/// What AlterShareGroupOffsets and DeleteShareGroupOffsets check before touching any
/// share-partition: a group id, the principal's `operation` on the group, and (on the group's
/// coordinator shard) [`check_empty`], creating the group if `create`. Err: the top-level
/// error code and message to answer with; `verb` ("altered", "deleted") words it.
pub async fn admit(
    shard: &Rc<Shard>,
    authz: &Authz<'_>,
    group: &str,
    operation: AclOperation,
    create: bool,
    verb: &str,
) -> Result<(), (i16, String)> {
    if group.is_empty() {
        return Err((
            ShareError::InvalidGroupId.code(),
            "The group id must not be empty.".into(),
        ));
    }
    if !authz.group(operation, group) {
        return Err((
            kafka_protocol::error::ResponseError::GroupAuthorizationFailed.code(),
            format!("Group {group} is not authorized."),
        ));
    }
    let id = group.to_string();
    let checked = crate::groups::coordinator::route(shard, group, move |s| async move {
        check_empty(&s, &id, create)?;
        // A group created here is durable before its offsets change.
        super::persist::persist(&s, &id).await
    })
    .await
    .map_err(ShareError::from)
    .and_then(|r| r);
    checked.map_err(|e| {
        let message = match e {
            ShareError::NonEmptyGroup => {
                format!("The group {group} has active members: its offsets can't be {verb}.")
            }
            ShareError::GroupIdNotFound => format!("Group {group} not found."),
            _ => format!("{e:?}"),
        };
        (e.code(), message)
    })
}

/// Whether `group` is a share group coordinated here (DescribeShareGroupOffsets' check).
pub fn check_exists(shard: &Rc<Shard>, group: &str) -> Result<(), ShareError> {
    if super::coordinator::share_group_exists(shard, group) {
        Ok(())
    } else {
        Err(ShareError::GroupIdNotFound)
    }
}

/// Whether share-partition `key` has state on this shard: loaded, or a state file.
async fn has_state(shard: &Rc<Shard>, key: &ShareKey) -> Result<bool, ShareError> {
    if shard.share.partitions.borrow().contains_key(key) {
        return Ok(true);
    }
    let p = shard
        .local_partition(&key.1, key.2)
        .ok_or(ShareError::NotLeaderOrFollower)?;
    let path = p.log().dir().join(super::store::file_name(&key.0));
    match file_ops::run_fs(&shard.storage.blocking, move || Ok(path.exists())).await {
        Ok(exists) => Ok(exists),
        Err(_) => Err(ShareError::KafkaStorageError),
    }
}

/// Share-partition `key`'s start offset, leader epoch and lag (on its owner shard).
pub async fn describe(shard: &Rc<Shard>, key: ShareKey) -> Result<Described, ShareError> {
    let p = shard
        .local_partition(&key.1, key.2)
        .ok_or(ShareError::NotLeaderOrFollower)?;
    if !has_state(shard, &key).await? {
        return Ok(Described {
            start_offset: UNINITIALIZED,
            leader_epoch: p.leader_epoch(),
            lag: UNINITIALIZED,
        });
    }
    let slot = owner::slot(shard, &key, AutoReset::Latest).await?;
    let sp = slot.sp.borrow();
    let start = sp.start();
    let (_, _, done) = sp.state_counts();
    let hw = p.high_watermark();
    let done = i64::try_from(done).unwrap_or(i64::MAX);
    Ok(Described {
        start_offset: start,
        leader_epoch: p.leader_epoch(),
        lag: (hw - start - done).max(0),
    })
}

/// Every share-partition of `group` with state on this shard: (topic, partition, answer).
pub async fn describe_all(shard: &Rc<Shard>, group: &str) -> Vec<(String, i32, Described)> {
    let mut out = Vec::new();
    for p in shard.local_partitions() {
        let key: ShareKey = (group.to_string(), p.topic.clone(), p.index);
        if !matches!(has_state(shard, &key).await, Ok(true)) {
            continue;
        }
        if let Ok(d) = describe(shard, key).await {
            out.push((p.topic.clone(), p.index, d));
        }
    }
    out
}

/// Move share-partition `key`'s start to `offset` (created if it had no state), durably, on
/// its owner shard. Offsets before the log start become the log start.
pub async fn alter(shard: &Rc<Shard>, key: ShareKey, offset: i64) -> Result<(), ShareError> {
    if offset < 0 {
        return Err(ShareError::InvalidRequest);
    }
    let p = shard
        .local_partition(&key.1, key.2)
        .ok_or(ShareError::NotLeaderOrFollower)?;
    let slot = owner::slot(shard, &key, AutoReset::Latest).await?;
    slot.sp
        .borrow_mut()
        .reset_start(offset.max(p.log_start_offset()));
    slot.persist(shard).await
}

/// Forget share-partition `key`'s state (loaded and on disk), on its owner shard.
pub async fn delete(shard: &Rc<Shard>, key: ShareKey) -> Result<(), ShareError> {
    let p = shard
        .local_partition(&key.1, key.2)
        .ok_or(ShareError::NotLeaderOrFollower)?;
    // Serialized with first loads, so a concurrent load can't bring the file back to life.
    let _one = shard.share.loading.lock().await;
    shard.share.partitions.borrow_mut().remove(&key);
    let path = p.log().dir().join(super::store::file_name(&key.0));
    match file_ops::remove_file(&shard.storage.blocking, &path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            tracing::error!(path = %path.display(), "share state removal failed: {e}");
            Err(ShareError::KafkaStorageError)
        }
    }
}

/// Run `f` for share-partition `key` on the shard that owns its partition (None: the
/// partition does not exist).
pub async fn on_owner<R, F, Fut>(shard: &Rc<Shard>, key: ShareKey, f: F) -> Result<R, ShareError>
where
    R: Send + 'static,
    F: FnOnce(Rc<Shard>, ShareKey) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<R, ShareError>> + 'static,
{
    let owner = shard
        .snapshot()
        .partition(&key.1, key.2)
        .map(|m| m.owner)
        .ok_or(ShareError::UnknownTopicOrPartition)?;
    shard
        .on_shard(owner, move |s| async move { f(s, key).await })
        .await
        .unwrap_or(Err(ShareError::NotLeaderOrFollower))
}
