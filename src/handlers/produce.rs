//! Produce (key 0): each partition's record set goes to its owner shard's log — locally when
//! the client connected to the owner (the normal case), forwarded otherwise (counted).

use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, RequestHeader, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{encode, Reply, Versions};
use crate::log::validate::Refusal;
use crate::metadata::quotas::QuotaKind;
use crate::partition::Appended;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::PartitionError;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::router::{self, Router, Run};
use crate::shard::Shard;

/// v0-2 carry message formats v0/v1, which Sluice does not store; ApiVersions still advertises
/// v0 (see api_versions::PRODUCE_ADVERTISED_MIN).
pub const VERSIONS: Versions = Versions {
    key: ApiKey::Produce,
    min: 3,
    max: 11,
};

/// Every partition has one replica, its leader, always in sync (README: "Replication factor").
const IN_SYNC_REPLICAS: i64 = 1;

/// Whether `topic`'s `min.insync.replicas` on broker (shard) `owner`, its leader, is above the
/// partition's in-sync replicas. Read from this shard's snapshot, as every routing decision is.
fn below_min_insync(shard: &Shard, topic: &str, owner: u32) -> bool {
    shard
        .snapshot()
        .topic(topic)
        .is_some_and(|t| shard.min_insync_replicas_for(t, owner) > IN_SYNC_REPLICAS)
}

/// The client id Kafka lets write to internal topics (`__consumer_offsets`,
/// `__transaction_state`): its AdminUtils.ADMIN_CLIENT_ID. Any other producer gets
/// INVALID_TOPIC_EXCEPTION for them, as Kafka's ReplicaManager answers (`internalTopicsAllowed`).
pub const INTERNAL_TOPICS_CLIENT_ID: &str = "__admin_client";

/// First Produce version allowed to carry zstd batches (KIP-110).
const ZSTD_PRODUCE_VERSION_MIN: i16 = 7;
const COMPRESSION_ZSTD: i16 = 4;

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    // What a `producer_byte_rate` quota counts: the request's size (Kafka's), header aside.
    let request_bytes = body.len();
    let request = ProduceRequest::try_decode(body, version)?;
    // Counted on arrival, not once appended (Kafka counts at the response, but handles one
    // request per connection at a time): the mute a throttle starts then holds the requests a
    // client pipelined behind this one, instead of letting them all in first.
    let throttle = shard.quota_record(
        session,
        header.client_id.as_deref(),
        QuotaKind::Produce,
        request_bytes as f64,
    );
    let acks = request.acks;
    let snapshot = shard.snapshot();
    let sync = acks == -1 && shard.config.acks_all_fsync;
    let authz = Authz::new(shard, session);
    // Transactional batches need WRITE on the transactional id; without it Kafka fails every
    // partition of the request. (Idempotent batches need nothing more than WRITE on their
    // topic since KIP-679.)
    let transactional_denied = request
        .topic_data
        .iter()
        .flat_map(|t| &t.partition_data)
        .any(|p| p.records.as_deref().is_some_and(is_transactional))
        && !request
            .transactional_id
            .as_deref()
            .is_some_and(|id| authz.transactional_id(AclOperation::Write, id));

    // Each partition's outcome, in request order: refused here, or appended by its owner
    // shard (`shard::router`: this one, or one cross-core call per other owner).
    let mut outcomes: Vec<Option<Result<Appended, Refused>>> = Vec::new();
    let mut routed_slots = Vec::new();
    let mut router = Router::new(shard);
    for topic in &request.topic_data {
        let name = topic.name.0.as_str();
        // One decision per topic, on this shard, before any partition is routed.
        let denied = if transactional_denied {
            Some(ResponseError::TransactionalIdAuthorizationFailed)
        } else if !authz.topic(AclOperation::Write, name) {
            Some(ResponseError::TopicAuthorizationFailed)
        } else if snapshot.topic(name).is_some_and(|t| t.internal)
            && header.client_id.as_deref() != Some(INTERNAL_TOPICS_CLIENT_ID)
        {
            // Kafka's ReplicaManager: clients don't write the coordinators' logs.
            Some(ResponseError::InvalidTopicException)
        } else {
            None
        };
        let mut shared_name: Option<Arc<str>> = None;
        // min.insync.replicas is per topic and leader (owner shard): decided once per owner.
        let mut below_min_insync_on: Vec<(u32, bool)> = Vec::new();
        for p in &topic.partition_data {
            let slot = outcomes.len();
            let owner = router::owner(&snapshot, name, p.index);
            let refused = if let Some(denied) = denied {
                Some(Refused::Code(denied.code()))
            } else if let (-1, Some(o)) = (acks, owner) {
                // Kafka checks the in-sync replicas on the leader before appending: with
                // acks=all and fewer of them than min.insync.replicas nothing is appended.
                let below = match below_min_insync_on.iter().find(|(x, _)| *x == o) {
                    Some((_, below)) => *below,
                    None => {
                        let below = below_min_insync(shard, name, o);
                        below_min_insync_on.push((o, below));
                        below
                    }
                };
                below.then(|| Refused::Code(ResponseError::NotEnoughReplicas.code()))
            } else {
                None
            };
            let routed = match refused {
                Some(r) => Err(r),
                None => check(owner, p.records.as_ref(), acks, version).map_err(Refused::Partition),
            };
            let (owner, records) = match routed {
                Ok(routed) => routed,
                Err(refused) => {
                    outcomes.push(Some(Err(refused)));
                    continue;
                }
            };
            outcomes.push(None);
            routed_slots.push(slot);
            let topic = shared_name.get_or_insert_with(|| Arc::from(name));
            router.route(Some(owner), topic, p.index, records);
        }
    }
    let appended = router
        .run(
            shard,
            Run::Concurrently,
            move |p, records: Bytes| async move { p.produce(&records, sync).await },
        )
        .await;
    for (slot, r) in routed_slots.into_iter().zip(appended) {
        if let Some(o) = outcomes.get_mut(slot) {
            *o = Some(r.map_err(Refused::Partition));
        }
    }
    // Every slot is filled above; an empty one would be a bug, answered as Kafka answers one.
    let mut results = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Err(Refused::Code(ResponseError::UnknownServerError.code()))));
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|p| {
                    let r = PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_log_append_time_ms(-1);
                    match results.next() {
                        Some(Ok(Appended {
                            base_offset,
                            log_start_offset,
                            log_append_time_ms,
                        })) => {
                            shard
                                .metrics
                                .records_batches_in
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            r.with_base_offset(base_offset)
                                .with_log_start_offset(log_start_offset)
                                .with_log_append_time_ms(log_append_time_ms)
                        }
                        Some(Err(refused)) => {
                            let r = r
                                .with_error_code(refused.code(version))
                                .with_base_offset(-1)
                                .with_log_start_offset(-1);
                            match refused {
                                Refused::Partition(PartitionError::Refused(refusal))
                                    if version >= RECORD_ERRORS_VERSION_MIN =>
                                {
                                    with_record_errors(r, *refusal)
                                }
                                _ => r,
                            }
                        }
                        None => r.with_error_code(ResponseError::UnknownServerError.code()),
                    }
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(TopicName(topic.name.0.clone()))
                .with_partition_responses(partitions)
        })
        .collect();
    let response = ProduceResponse::default()
        .with_responses(responses)
        .with_throttle_time_ms(i32::try_from(throttle).unwrap_or(i32::MAX));
    if acks == 0 {
        // No answer, but what went wrong still counts.
        super::count_errors(&shard.metrics, header, &response);
        return Ok(Reply::None);
    }
    Ok(encode(&shard.metrics, header, &response))
}

/// The checks a partition's record set passes before it is routed: valid acks, an owner,
/// a non-empty record set, no zstd before Produce v7. The owner and the records if it passed.
fn check(
    owner: Option<u32>,
    records: Option<&Bytes>,
    acks: i16,
    version: i16,
) -> Result<(u32, Bytes), PartitionError> {
    if !matches!(acks, -1..=1) {
        return Err(PartitionError::InvalidRequest);
    }
    let Some(owner) = owner else {
        return Err(PartitionError::UnknownTopicOrPartition);
    };
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Err(PartitionError::Batch(crate::log::BatchError::Truncated));
    };
    if version < ZSTD_PRODUCE_VERSION_MIN && compression_of(records) == Some(COMPRESSION_ZSTD) {
        return Err(PartitionError::UnsupportedCompression);
    }
    Ok((owner, records.clone()))
}

/// Why one partition of the request was not appended.
enum Refused {
    /// Refused before routing (authorization).
    Code(i16),
    Partition(PartitionError),
}

impl Refused {
    fn code(&self, version: i16) -> i16 {
        match self {
            Refused::Code(code) => *code,
            Refused::Partition(e) => produce_error_code(e, version),
        }
    }
}

/// First Produce version whose response carries per-record errors and an error message
/// (KIP-467).
const RECORD_ERRORS_VERSION_MIN: i16 = 8;

/// KIP-467: the records refused by the log validator, by their index in the batch, and
/// Kafka's message for the partition. (A malformed batch has neither, as in Kafka.)
fn with_record_errors(r: PartitionProduceResponse, refusal: Refusal) -> PartitionProduceResponse {
    match refusal {
        Refusal::Records {
            message, errors, ..
        } => r
            .with_error_message(Some(StrBytes::from_string(message)))
            .with_record_errors(
                errors
                    .into_iter()
                    .map(|e| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(e.batch_index)
                            .with_batch_index_error_message(Some(StrBytes::from_string(e.message)))
                    })
                    .collect(),
            ),
        Refusal::Malformed(_) => r,
    }
}

/// A refused partition's code: KIP-890's refusal of a transactional batch for a partition not
/// in the transaction is TRANSACTION_ABORTABLE from Produce v11 (clients before it only know
/// INVALID_TXN_STATE).
fn produce_error_code(e: &PartitionError, version: i16) -> i16 {
    const TRANSACTION_ABORTABLE_SINCE: i16 = 11;
    match e {
        PartitionError::InvalidTxnState if version >= TRANSACTION_ABORTABLE_SINCE => {
            ResponseError::TransactionAbortable.code()
        }
        _ => e.code(),
    }
}

/// The compression codec in a v2 batch's attributes (bytes 21..23), without parsing the rest.
fn compression_of(records: &[u8]) -> Option<i16> {
    let a = records.get(21..23)?;
    Some(i16::from_be_bytes([a[0], a[1]]) & 0x7)
}

/// Whether a v2 batch is transactional (attributes bit 4), without parsing the rest.
fn is_transactional(records: &[u8]) -> bool {
    const TRANSACTIONAL_FLAG: u8 = 0x10;
    records.get(22).is_some_and(|a| a & TRANSACTIONAL_FLAG != 0)
}
