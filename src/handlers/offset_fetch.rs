//! OffsetFetch (key 9): committed offsets of a group (v8: of several groups, all coordinated by
//! the shard the client asked). Nothing committed: offset -1, metadata "", no error. v10
//! (Kafka 4.2) names topics by id: an id the broker does not know is answered
//! UNKNOWN_TOPIC_ID, and a topic without an id (deleted since) is left out of "all topics".

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, RequestHeader, TopicName,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::state::CommittedOffset;
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::OffsetFetch,
    min: 1,
    max: 10,
};

/// The first version that names topics by id (KIP-848, Kafka 4.2).
const TOPIC_IDS_VERSION: i16 = 10;

use crate::groups::coordinator::FetchedOffsets as Fetched;

/// One group's committed offsets, each topic with the error its partitions carry (0, or
/// TOPIC_AUTHORIZATION_FAILED for a named topic the principal may not DESCRIBE); `Err` is the
/// group's error code. Authorization is Kafka's: DESCRIBE on the group first; named topics
/// not describable are answered without asking the coordinator; when every topic is asked
/// for, the ones not describable are left out.
/// With `require_stable` (v7+), partitions with offsets staged by an open transaction are in
/// the returned set: they answer UNSTABLE_OFFSET_COMMIT (retriable), as in Kafka.
async fn fetch(
    shard: &Rc<Shard>,
    authz: Authz<'_>,
    group_id: String,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
    member: Option<(String, i32)>,
) -> Result<
    (
        Vec<(String, Vec<(i32, Option<CommittedOffset>)>, i16)>,
        Unstable,
    ),
    i16,
> {
    if !authz.group(AclOperation::Describe, &group_id) {
        return Err(ResponseError::GroupAuthorizationFailed.code());
    }
    check_group_id(&group_id, true).map_err(|e| e.code())?;
    let (asked, denied): (Option<Vec<_>>, Vec<_>) = match topics {
        None => (None, Vec::new()),
        Some(topics) => {
            let (allowed, denied): (Vec<_>, Vec<_>) = topics
                .into_iter()
                .partition(|(t, _)| authz.topic(AclOperation::Describe, t));
            (Some(allowed), denied)
        }
    };
    let all = asked.is_none();
    let g = group_id.clone();
    let (found, unstable): (Fetched, Unstable) =
        coordinator::route(shard, &group_id, move |s| async move {
            if let Some((m, epoch)) = member {
                coordinator::check_fetch_member(&s, &g, &m, epoch)?;
            }
            let found = coordinator::fetch_offsets(&s, &g, asked);
            let unstable = if require_stable {
                unstable_partitions(&s, &g, &found)
            } else {
                Unstable::new()
            };
            Ok::<_, crate::protocol::errors::GroupError>((found, unstable))
        })
        .await
        .and_then(|r| r)
        .map_err(|e| e.code())?;
    let denied_code = ResponseError::TopicAuthorizationFailed.code();
    let found = found
        .into_iter()
        .filter(|(t, _)| !all || authz.topic(AclOperation::Describe, t))
        .map(|(t, ps)| (t, ps, 0))
        .chain(denied.into_iter().map(|(t, ps)| {
            let ps = ps.into_iter().map(|p| (p, None)).collect();
            (t, ps, denied_code)
        }))
        .collect();
    Ok((found, unstable))
}

/// Partitions with transactional offsets staged for a group.
type Unstable = std::collections::HashSet<(String, i32)>;

/// Which of `found`'s partitions have a transactional offset commit pending (on the group's
/// coordinator shard).
fn unstable_partitions(shard: &Shard, group_id: &str, found: &Fetched) -> Unstable {
    let mut out = Unstable::new();
    for (t, ps) in found {
        for (p, _) in ps {
            if shard.txn_offsets.is_pending(group_id, t, *p) {
                out.insert((t.clone(), *p));
            }
        }
    }
    out
}

/// A partition's error: the topic's, else UNSTABLE_OFFSET_COMMIT if it is unstable.
fn partition_code(code: i16, unstable: &Unstable, topic: &str, partition: i32) -> i16 {
    if code == 0 && unstable.contains(&(topic.to_string(), partition)) {
        ResponseError::UnstableOffsetCommit.code()
    } else {
        code
    }
}

/// A v10 topic whose id the broker does not know: each partition UNKNOWN_TOPIC_ID.
fn unknown_topic_id(id: uuid::Uuid, partitions: &[i32]) -> OffsetFetchResponseTopics {
    OffsetFetchResponseTopics::default()
        .with_topic_id(id)
        .with_partitions(
            partitions
                .iter()
                .map(|p| {
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(*p)
                        .with_committed_offset(-1)
                        .with_committed_leader_epoch(-1)
                        .with_metadata(Some(str_bytes("")))
                        .with_error_code(ResponseError::UnknownTopicId.code())
                })
                .collect(),
        )
}

fn parts(o: Option<&CommittedOffset>) -> (i64, i32, String) {
    match o {
        Some(o) => (o.offset, o.leader_epoch, o.metadata.clone()),
        None => (-1, -1, String::new()),
    }
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = OffsetFetchRequest::try_decode(body, version)?;
    let authz = Authz::new(shard, session);
    if version >= 8 {
        let by_id = version >= TOPIC_IDS_VERSION;
        let snapshot = shard.snapshot();
        let id_of = |name: &str| snapshot.topics.get(name).map(|t| t.id);
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in &request.groups {
            // v10: ids resolved to names; the unknown ones answered UNKNOWN_TOPIC_ID.
            let mut unknown: Vec<OffsetFetchResponseTopics> = Vec::new();
            let topics = g.topics.as_ref().map(|ts| {
                ts.iter()
                    .filter_map(|t| {
                        if !by_id {
                            return Some((t.name.0.to_string(), t.partition_indexes.clone()));
                        }
                        match snapshot.topic_by_id(t.topic_id) {
                            Some(m) => Some((m.name.to_string(), t.partition_indexes.clone())),
                            None => {
                                unknown.push(unknown_topic_id(t.topic_id, &t.partition_indexes));
                                None
                            }
                        }
                    })
                    .collect()
            });
            let group = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
            let stable = request.require_stable;
            // v9: a KIP-848 member fetching its group's offsets names itself and its epoch.
            let member =
                (version >= 9 && (g.member_id.is_some() || g.member_epoch >= 0)).then(|| {
                    let id = g
                        .member_id
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    (id, g.member_epoch)
                });
            let group_id = g.group_id.0.to_string();
            groups.push(
                match fetch(shard, authz, group_id, topics, stable, member).await {
                    Err(code) => group.with_error_code(code),
                    Ok((found, unstable)) => group.with_topics(
                        found
                            .into_iter()
                            .filter(|(t, _, _)| !by_id || id_of(t).is_some())
                            .map(|(t, ps, code)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(str_bytes(&t)))
                                    .with_topic_id(id_of(&t).unwrap_or_default())
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|(p, o)| {
                                                let code = partition_code(code, &unstable, &t, p);
                                                let o = o.filter(|_| code == 0);
                                                let (offset, epoch, metadata) = parts(o.as_ref());
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(Some(str_bytes(&metadata)))
                                                    .with_error_code(code)
                                            })
                                            .collect(),
                                    )
                            })
                            .chain(unknown)
                            .collect(),
                    ),
                },
            );
        }
        return Ok(encode(
            &shard.metrics,
            header,
            &OffsetFetchResponse::default().with_groups(groups),
        ));
    }
    let asked: Option<Vec<(String, Vec<i32>)>> = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let GroupId(group_id) = request.group_id;
    let stable = version >= 7 && request.require_stable;
    let fetched = fetch(
        shard,
        authz,
        group_id.to_string(),
        asked.clone(),
        stable,
        None,
    )
    .await;
    let (found, unstable, error) = match fetched {
        Ok((found, unstable)) => (found, unstable, None),
        // v1 has no top-level error: each partition carries it.
        Err(code) => (
            asked
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, None)).collect(), 0))
                .collect(),
            Unstable::new(),
            Some(code),
        ),
    };
    let group_partition_error = if version < 2 { error.unwrap_or(0) } else { 0 };
    let topics = found
        .into_iter()
        .map(|(t, ps, topic_error)| {
            let partition_error = if topic_error != 0 {
                topic_error
            } else {
                group_partition_error
            };
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&t)))
                .with_partitions(
                    ps.into_iter()
                        .map(|(p, o)| {
                            let code = partition_code(partition_error, &unstable, &t, p);
                            let o = o.filter(|_| code == 0);
                            let (offset, epoch, metadata) = parts(o.as_ref());
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch)
                                .with_metadata(Some(str_bytes(&metadata)))
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    let mut response = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        response = response.with_error_code(error.unwrap_or(0));
    }
    Ok(encode(&shard.metrics, header, &response))
}
