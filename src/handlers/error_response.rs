//! A request's own error response, as Kafka's `AbstractRequest.getErrorResponse` builds it: the
//! response type of the request's API, carrying one error code (and its message where the
//! response has one) at the top level, or on every topic, partition, group or resource the
//! request named, with Kafka's "unknown" values in the other fields.
//!
//! Used where Kafka answers a request with an error instead of handling it: a request other
//! than SaslAuthenticate after the SASL handshake gets ILLEGAL_SASL_STATE this way before the
//! connection is closed (Kafka's `SaslServerAuthenticator`). The request is decoded first, as
//! Kafka parses it first: one that does not decode gets no answer.
//!
//! Pure functions of the request; run on the shard that got it.

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::{encode, encode_with_version, Reply};
use crate::metrics::ShardMetrics;
use crate::protocol::decode::{DecodeError, TryDecode};

/// Kafka's "no offset" and "no timestamp".
const UNKNOWN: i64 = -1;

/// Kafka's name of an API (`ApiKeys`' enum constant: PRODUCE, LIST_OFFSETS, ...), as its
/// messages name requests.
pub fn kafka_api_name(key: ApiKey) -> String {
    let mut out = String::new();
    for (i, c) in format!("{key:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The error response with `code` and `message` of the request `header` heads (its body in
/// `body`, at a version Sluice serves). Ok(None): Kafka sends none (a Produce with acks=0) or
/// Sluice builds none for that API; the caller closes the connection either way.
pub fn error_response(
    metrics: &ShardMetrics,
    header: &RequestHeader,
    body: &mut Bytes,
    code: i16,
    message: &str,
) -> Result<Option<Reply>, DecodeError> {
    let v = header.request_api_version;
    let msg = || Some(StrBytes::from_string(message.to_string()));
    // Whether the response has a field added at version `added` (the crate refuses to encode
    // a value in a version without its field).
    let since = |added: i16| v >= added;
    let Ok(key) = ApiKey::try_from(header.request_api_key) else {
        return Ok(None);
    };
    // The response `r`, encoded at the request's version.
    macro_rules! send {
        ($r:expr) => {
            encode(metrics, header, &$r)
        };
    }
    // Decoded (as Kafka parses it), answered with the response's top-level error code.
    macro_rules! top_level {
        ($req:ty, $resp:ty) => {{
            <$req>::try_decode(body, v)?;
            send!(<$resp>::default().with_error_code(code))
        }};
        ($req:ty, $resp:ty, message) => {{
            <$req>::try_decode(body, v)?;
            send!(<$resp>::default()
                .with_error_code(code)
                .with_error_message(msg()))
        }};
    }
    let reply = match key {
        ApiKey::ApiVersions => top_level!(ApiVersionsRequest, ApiVersionsResponse),
        ApiKey::Heartbeat => top_level!(HeartbeatRequest, HeartbeatResponse),
        ApiKey::LeaveGroup => top_level!(LeaveGroupRequest, LeaveGroupResponse),
        ApiKey::SyncGroup => top_level!(SyncGroupRequest, SyncGroupResponse),
        ApiKey::ListGroups => top_level!(ListGroupsRequest, ListGroupsResponse),
        ApiKey::InitProducerId => top_level!(InitProducerIdRequest, InitProducerIdResponse),
        ApiKey::AddOffsetsToTxn => top_level!(AddOffsetsToTxnRequest, AddOffsetsToTxnResponse),
        ApiKey::EndTxn => top_level!(EndTxnRequest, EndTxnResponse),
        ApiKey::OffsetDelete => top_level!(OffsetDeleteRequest, OffsetDeleteResponse),
        ApiKey::ListTransactions => {
            top_level!(ListTransactionsRequest, ListTransactionsResponse)
        }
        // The top-level code exists from v3; before, an empty answer.
        ApiKey::DescribeLogDirs => {
            DescribeLogDirsRequest::try_decode(body, v)?;
            let r =
                DescribeLogDirsResponse::default().with_error_code(if since(3) { code } else { 0 });
            send!(r)
        }
        // v2 has v1's layout (`share_fetch`).
        ApiKey::ShareFetch => {
            crate::protocol::decode::share_fetch::ShareFetch::try_decode(body, v)?;
            let r = ShareFetchResponse::default()
                .with_error_code(code)
                .with_error_message(msg());
            encode_with_version(metrics, header, &r, v.min(1))
        }
        // v2 is v1's bytes with the lock timeout inserted after a null top-level message
        // (`share_acknowledge::v2_from_v1`).
        ApiKey::ShareAcknowledge => {
            crate::protocol::decode::share_acknowledge::ShareAcknowledge::try_decode(body, v)?;
            let r = ShareAcknowledgeResponse::default()
                .with_error_code(code)
                .with_error_message(None);
            match (v, encode_with_version(metrics, header, &r, 1)) {
                (2, Reply::Send(frame)) => match super::share_acknowledge::v2_from_v1(&frame, 0) {
                    Some(f) => Reply::Send(f),
                    None => return Ok(None),
                },
                (_, reply) => reply,
            }
        }
        ApiKey::DescribeAcls => top_level!(DescribeAclsRequest, DescribeAclsResponse, message),
        ApiKey::DescribeClientQuotas => top_level!(
            DescribeClientQuotasRequest,
            DescribeClientQuotasResponse,
            message
        ),
        ApiKey::DescribeUserScramCredentials => top_level!(
            DescribeUserScramCredentialsRequest,
            DescribeUserScramCredentialsResponse,
            message
        ),
        ApiKey::DescribeCluster => {
            top_level!(DescribeClusterRequest, DescribeClusterResponse, message)
        }
        ApiKey::ConsumerGroupHeartbeat => top_level!(
            ConsumerGroupHeartbeatRequest,
            ConsumerGroupHeartbeatResponse,
            message
        ),
        ApiKey::ShareGroupHeartbeat => top_level!(
            ShareGroupHeartbeatRequest,
            ShareGroupHeartbeatResponse,
            message
        ),
        ApiKey::JoinGroup => {
            JoinGroupRequest::try_decode(body, v)?;
            // Kafka: unknown generation, member and leader; no protocol name from v7.
            let r = JoinGroupResponse::default()
                .with_error_code(code)
                .with_generation_id(-1)
                .with_protocol_name((v < 7).then(StrBytes::default));
            send!(r)
        }
        ApiKey::Produce => {
            let req = ProduceRequest::try_decode(body, v)?;
            if req.acks == 0 {
                return Ok(None);
            }
            let topics = per_partition(
                &req.topic_data,
                |t| &t.partition_data,
                |p| {
                    produce_response::PartitionProduceResponse::default()
                        .with_index(p.index)
                        .with_error_code(code)
                        .with_error_message(since(8).then(msg).flatten())
                        .with_base_offset(UNKNOWN)
                        .with_log_append_time_ms(UNKNOWN)
                        .with_log_start_offset(UNKNOWN)
                },
                |t, ps| {
                    produce_response::TopicProduceResponse::default()
                        .with_name(t.name.clone())
                        .with_topic_id(t.topic_id)
                        .with_partition_responses(ps)
                },
            );
            send!(ProduceResponse::default().with_responses(topics))
        }
        ApiKey::Fetch => {
            let req = FetchRequest::try_decode(body, v)?;
            // From v13 the top-level code says it all; before, every partition carries it.
            let topics = if v >= 13 {
                Vec::new()
            } else {
                per_partition(
                    &req.topics,
                    |t| &t.partitions,
                    |p| {
                        fetch_response::PartitionData::default()
                            .with_partition_index(p.partition)
                            .with_error_code(code)
                            .with_high_watermark(UNKNOWN)
                            .with_records(Some(Bytes::new()))
                    },
                    |t, ps| {
                        fetch_response::FetchableTopicResponse::default()
                            .with_topic(t.topic.clone())
                            .with_topic_id(t.topic_id)
                            .with_partitions(ps)
                    },
                )
            };
            // The top-level code exists from v7; before, the partitions carry it alone.
            send!(FetchResponse::default()
                .with_error_code(if since(7) { code } else { 0 })
                .with_session_id(req.session_id)
                .with_responses(topics))
        }
        ApiKey::Metadata => {
            let req = MetadataRequest::try_decode(body, v)?;
            let topics = each(req.topics.iter().flatten(), |t| {
                metadata_response::MetadataResponseTopic::default()
                    .with_name(Some(t.name.clone().unwrap_or_default()))
                    .with_topic_id(t.topic_id)
                    .with_error_code(code)
            });
            send!(MetadataResponse::default().with_topics(topics))
        }
        ApiKey::ListOffsets => {
            let req = ListOffsetsRequest::try_decode(body, v)?;
            let topics = per_partition(
                &req.topics,
                |t| &t.partitions,
                |p| {
                    list_offsets_response::ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                        .with_offset(UNKNOWN)
                        .with_timestamp(UNKNOWN)
                },
                |t, ps| {
                    list_offsets_response::ListOffsetsTopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(ps)
                },
            );
            // v11 has v10's layout (`list_offsets`).
            let r = ListOffsetsResponse::default().with_topics(topics);
            encode_with_version(metrics, header, &r, v.min(10))
        }
        ApiKey::FindCoordinator => {
            let req = FindCoordinatorRequest::try_decode(body, v)?;
            let r = FindCoordinatorResponse::default();
            send!(if v < 4 {
                r.with_error_code(code)
                    .with_error_message(since(1).then(msg).flatten())
            } else {
                r.with_coordinators(each(&req.coordinator_keys, |k| {
                    find_coordinator_response::Coordinator::default()
                        .with_key(k.clone())
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code)
                        .with_error_message(msg())
                }))
            })
        }
        ApiKey::OffsetCommit => {
            let req = OffsetCommitRequest::try_decode(body, v)?;
            let topics = per_partition(
                &req.topics,
                |t| &t.partitions,
                |p| {
                    offset_commit_response::OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                },
                |t, ps| {
                    offset_commit_response::OffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_topic_id(t.topic_id)
                        .with_partitions(ps)
                },
            );
            send!(OffsetCommitResponse::default().with_topics(topics))
        }
        ApiKey::DescribeGroups => {
            let req = DescribeGroupsRequest::try_decode(body, v)?;
            let groups = each(&req.groups, |g| {
                describe_groups_response::DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
                    .with_error_message(since(6).then(msg).flatten())
            });
            send!(DescribeGroupsResponse::default().with_groups(groups))
        }
        ApiKey::DeleteGroups => {
            let req = DeleteGroupsRequest::try_decode(body, v)?;
            let results = each(&req.groups_names, |g| {
                delete_groups_response::DeletableGroupResult::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
            });
            send!(DeleteGroupsResponse::default().with_results(results))
        }
        ApiKey::CreateTopics => {
            let req = CreateTopicsRequest::try_decode(body, v)?;
            let topics = each(&req.topics, |t| {
                create_topics_response::CreatableTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(CreateTopicsResponse::default().with_topics(topics))
        }
        ApiKey::DeleteTopics => {
            let req = DeleteTopicsRequest::try_decode(body, v)?;
            let named = req.topic_names.iter().map(|n| (Some(n.clone()), None));
            let by_state = req
                .topics
                .iter()
                .map(|t| (t.name.clone(), Some(t.topic_id)));
            let responses = each(named.chain(by_state), |(name, id)| {
                delete_topics_response::DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id.unwrap_or_default())
                    .with_error_code(code)
                    .with_error_message(since(5).then(msg).flatten())
            });
            send!(DeleteTopicsResponse::default().with_responses(responses))
        }
        ApiKey::DescribeConfigs => {
            let req = DescribeConfigsRequest::try_decode(body, v)?;
            let results = each(&req.resources, |r| {
                describe_configs_response::DescribeConfigsResult::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(DescribeConfigsResponse::default().with_results(results))
        }
        ApiKey::AlterConfigs => {
            let req = AlterConfigsRequest::try_decode(body, v)?;
            let responses = each(&req.resources, |r| {
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(AlterConfigsResponse::default().with_responses(responses))
        }
        ApiKey::IncrementalAlterConfigs => {
            let req = IncrementalAlterConfigsRequest::try_decode(body, v)?;
            let responses = each(&req.resources, |r| {
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(IncrementalAlterConfigsResponse::default().with_responses(responses))
        }
        ApiKey::DeleteRecords => {
            let req = DeleteRecordsRequest::try_decode(body, v)?;
            let topics = per_partition(
                &req.topics,
                |t| &t.partitions,
                |p| {
                    delete_records_response::DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(UNKNOWN)
                        .with_error_code(code)
                },
                |t, ps| {
                    delete_records_response::DeleteRecordsTopicResult::default()
                        .with_name(t.name.clone())
                        .with_partitions(ps)
                },
            );
            send!(DeleteRecordsResponse::default().with_topics(topics))
        }
        ApiKey::OffsetForLeaderEpoch => {
            let req = OffsetForLeaderEpochRequest::try_decode(body, v)?;
            let topics = per_partition(
                &req.topics,
                |t| &t.partitions,
                |p| {
                    offset_for_leader_epoch_response::EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_error_code(code)
                        .with_leader_epoch(-1)
                        .with_end_offset(UNKNOWN)
                },
                |t, ps| {
                    offset_for_leader_epoch_response::OffsetForLeaderTopicResult::default()
                        .with_topic(t.topic.clone())
                        .with_partitions(ps)
                },
            );
            send!(OffsetForLeaderEpochResponse::default().with_topics(topics))
        }
        ApiKey::TxnOffsetCommit => {
            let req = TxnOffsetCommitRequest::try_decode(body, v)?;
            let topics = per_partition(
                &req.topics,
                |t| &t.partitions,
                |p| {
                    txn_offset_commit_response::TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                },
                |t, ps| {
                    txn_offset_commit_response::TxnOffsetCommitResponseTopic::default()
                        .with_name(t.name.clone())
                        .with_partitions(ps)
                },
            );
            send!(TxnOffsetCommitResponse::default().with_topics(topics))
        }
        ApiKey::DescribeProducers => {
            let req = DescribeProducersRequest::try_decode(body, v)?;
            let topics = per_partition(
                &req.topics,
                |t| &t.partition_indexes,
                |&p| {
                    describe_producers_response::PartitionResponse::default()
                        .with_partition_index(p)
                        .with_error_code(code)
                        .with_error_message(msg())
                },
                |t, ps| {
                    describe_producers_response::TopicResponse::default()
                        .with_name(t.name.clone())
                        .with_partitions(ps)
                },
            );
            send!(DescribeProducersResponse::default().with_topics(topics))
        }
        ApiKey::CreatePartitions => {
            let req = CreatePartitionsRequest::try_decode(body, v)?;
            let results = each(&req.topics, |t| {
                create_partitions_response::CreatePartitionsTopicResult::default()
                    .with_name(t.name.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(CreatePartitionsResponse::default().with_results(results))
        }
        ApiKey::CreateAcls => {
            let req = CreateAclsRequest::try_decode(body, v)?;
            let results = each(&req.creations, |_| {
                create_acls_response::AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(CreateAclsResponse::default().with_results(results))
        }
        ApiKey::DeleteAcls => {
            let req = DeleteAclsRequest::try_decode(body, v)?;
            let results = each(&req.filters, |_| {
                delete_acls_response::DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(DeleteAclsResponse::default().with_filter_results(results))
        }
        ApiKey::AlterClientQuotas => {
            let req = AlterClientQuotasRequest::try_decode(body, v)?;
            let entries = each(&req.entries, |e| {
                let entity = each(&e.entity, |x| {
                    alter_client_quotas_response::EntityData::default()
                        .with_entity_type(x.entity_type.clone())
                        .with_entity_name(x.entity_name.clone())
                });
                alter_client_quotas_response::EntryData::default()
                    .with_error_code(code)
                    .with_error_message(msg())
                    .with_entity(entity)
            });
            send!(AlterClientQuotasResponse::default().with_entries(entries))
        }
        ApiKey::AlterUserScramCredentials => {
            let req = AlterUserScramCredentialsRequest::try_decode(body, v)?;
            let users = req
                .deletions
                .iter()
                .map(|d| &d.name)
                .chain(req.upsertions.iter().map(|u| &u.name));
            let results = each(users, |user| {
                alter_user_scram_credentials_response::AlterUserScramCredentialsResult::default()
                    .with_user(user.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(AlterUserScramCredentialsResponse::default().with_results(results))
        }
        ApiKey::DescribeTransactions => {
            let req = DescribeTransactionsRequest::try_decode(body, v)?;
            let states = each(&req.transactional_ids, |id| {
                describe_transactions_response::TransactionState::default()
                    .with_transactional_id(id.clone())
                    .with_error_code(code)
            });
            send!(DescribeTransactionsResponse::default().with_transaction_states(states))
        }
        ApiKey::ConsumerGroupDescribe => {
            let req = ConsumerGroupDescribeRequest::try_decode(body, v)?;
            let groups = each(&req.group_ids, |g| {
                consumer_group_describe_response::DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(ConsumerGroupDescribeResponse::default().with_groups(groups))
        }
        ApiKey::ShareGroupDescribe => {
            let req = ShareGroupDescribeRequest::try_decode(body, v)?;
            let groups = each(&req.group_ids, |g| {
                share_group_describe_response::DescribedGroup::default()
                    .with_group_id(g.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            send!(ShareGroupDescribeResponse::default().with_groups(groups))
        }
        ApiKey::AlterShareGroupOffsets => top_level!(
            AlterShareGroupOffsetsRequest,
            AlterShareGroupOffsetsResponse,
            message
        ),
        ApiKey::DeleteShareGroupOffsets => top_level!(
            DeleteShareGroupOffsetsRequest,
            DeleteShareGroupOffsetsResponse,
            message
        ),
        ApiKey::DescribeShareGroupOffsets => {
            let req = DescribeShareGroupOffsetsRequest::try_decode(body, v)?;
            let groups = each(&req.groups, |g| {
                describe_share_group_offsets_response::DescribeShareGroupOffsetsResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_error_code(code)
                    .with_error_message(msg())
            });
            let response = DescribeShareGroupOffsetsResponse::default().with_groups(groups);
            // v1 is written by its handler's encoder (the crate writes v0 only); no partitions,
            // so no lags.
            if v >= 1 {
                let v1 = super::describe_share_group_offsets::V1 {
                    response,
                    lags: Vec::new(),
                };
                encode_with_version(metrics, header, &v1, 1)
            } else {
                send!(response)
            }
        }
        ApiKey::OffsetFetch => {
            let req = OffsetFetchRequest::try_decode(body, v)?;
            let r = OffsetFetchResponse::default();
            send!(if v >= 8 {
                r.with_groups(each(&req.groups, |g| {
                    offset_fetch_response::OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_error_code(code)
                }))
            } else if v >= 2 {
                r.with_error_code(code)
            } else {
                // v1 has no top-level code: every partition asked for carries it.
                r.with_topics(per_partition(
                    req.topics.as_deref().unwrap_or_default(),
                    |t| &t.partition_indexes,
                    |&p| {
                        offset_fetch_response::OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(UNKNOWN)
                            .with_metadata(Some(StrBytes::default()))
                            .with_error_code(code)
                    },
                    |t, ps| {
                        offset_fetch_response::OffsetFetchResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(ps)
                    },
                ))
            })
        }
        ApiKey::AddPartitionsToTxn => {
            let req = AddPartitionsToTxnRequest::try_decode(body, v)?;
            let r = AddPartitionsToTxnResponse::default();
            // Served up to v3: per partition (v4's top-level answer has no v3 form).
            send!(if v >= 4 {
                r.with_error_code(code)
            } else {
                r.with_results_by_topic_v3_and_below(per_partition(
                    &req.v3_and_below_topics,
                    |t| &t.partitions,
                    |&p| {
                        add_partitions_to_txn_response::AddPartitionsToTxnPartitionResult::default()
                            .with_partition_index(p)
                            .with_partition_error_code(code)
                    },
                    |t, ps| {
                        add_partitions_to_txn_response::AddPartitionsToTxnTopicResult::default()
                            .with_name(t.name.clone())
                            .with_results_by_partition(ps)
                    },
                ))
            })
        }
        ApiKey::DescribeTopicPartitions => {
            let req = DescribeTopicPartitionsRequest::try_decode(body, v)?;
            let topics = each(&req.topics, |t| {
                describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic::default()
                    .with_name(Some(t.name.clone()))
                    .with_error_code(code)
            });
            send!(DescribeTopicPartitionsResponse::default().with_topics(topics))
        }
        // The SASL APIs answer for themselves (their handlers); an unknown one: no answer.
        _ => return Ok(None),
    };
    Ok(Some(reply))
}

/// Each of `items` answered by `answer`.
fn each<I: IntoIterator, R>(items: I, answer: impl FnMut(I::Item) -> R) -> Vec<R> {
    items.into_iter().map(answer).collect()
}

/// Each of `topics` answered by `topic`, given the answers (by `partition`) to each of its
/// `partitions`.
fn per_partition<'a, T, P: 'a, TR, PR>(
    topics: &'a [T],
    partitions: impl Fn(&'a T) -> &'a [P],
    partition: impl FnMut(&'a P) -> PR,
    mut topic: impl FnMut(&'a T, Vec<PR>) -> TR,
) -> Vec<TR> {
    let mut partition = partition;
    topics
        .iter()
        .map(|t| {
            let answers = partitions(t).iter().map(&mut partition).collect();
            topic(t, answers)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// The frame of `reply`, checked to carry its own length (what the response encoder's
    /// debug assertion checks), after the response header (v1: correlation id, no tags).
    fn body_of(reply: Reply) -> Bytes {
        let Reply::Send(frame) = reply else {
            panic!("no frame");
        };
        let len = i32::from_be_bytes(frame[..4].try_into().unwrap());
        assert_eq!(len as usize, frame.len() - 4, "length prefix");
        assert_eq!(&frame[4..9], &[0, 0, 0, 5, 0], "response header v1");
        frame.slice(9..)
    }

    /// The share-group offset APIs (90-92) get their ILLEGAL_SASL_STATE answer, framed with
    /// its length, for requests naming nothing and requests naming groups, topics and
    /// partitions.
    #[test]
    fn share_group_offset_answers_carry_their_length() {
        let metrics = ShardMetrics::new(0);
        let describe = |named: bool| {
            DescribeShareGroupOffsetsRequest::default().with_groups(if named {
                vec![describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                    .with_group_id(StrBytes::from_static_str("g").into())
                    .with_topics(Some(vec![
                        describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                            .with_topic_name(StrBytes::from_static_str("t").into())
                            .with_partitions(vec![0, 1]),
                    ]))]
            } else {
                Vec::new()
            })
        };
        let alter = |named: bool| {
            AlterShareGroupOffsetsRequest::default()
                .with_group_id(StrBytes::from_static_str("g").into())
                .with_topics(if named {
                    vec![alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(StrBytes::from_static_str("t").into())
                        .with_partitions(vec![
                            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default(),
                        ])]
                } else {
                    Vec::new()
                })
        };
        let delete = |named: bool| {
            DeleteShareGroupOffsetsRequest::default()
                .with_group_id(StrBytes::from_static_str("g").into())
                .with_topics(if named {
                    vec![delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(StrBytes::from_static_str("t").into())]
                } else {
                    Vec::new()
                })
        };
        let message = "Unexpected Kafka request during SASL authentication.";
        for named in [false, true] {
            for (key, version) in [
                (ApiKey::DescribeShareGroupOffsets, 0),
                (ApiKey::DescribeShareGroupOffsets, 1),
                (ApiKey::AlterShareGroupOffsets, 0),
                (ApiKey::DeleteShareGroupOffsets, 0),
            ] {
                let mut request = BytesMut::new();
                match key {
                    ApiKey::DescribeShareGroupOffsets => describe(named).encode(&mut request, 0),
                    ApiKey::AlterShareGroupOffsets => alter(named).encode(&mut request, 0),
                    _ => delete(named).encode(&mut request, 0),
                }
                .unwrap();
                let header = RequestHeader::default()
                    .with_request_api_key(key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(5);
                let reply = error_response(&metrics, &header, &mut request.freeze(), 34, message)
                    .unwrap()
                    .unwrap();
                let what = format!("{key:?} v{version}, named {named}");
                let mut body = body_of(reply);
                match (key, version) {
                    (ApiKey::DescribeShareGroupOffsets, 0) => {
                        let r = DescribeShareGroupOffsetsResponse::decode(&mut body, 0).unwrap();
                        assert_eq!(r.groups.len(), usize::from(named), "{what}");
                        assert!(r.groups.iter().all(|g| g.error_code == 34), "{what}");
                    }
                    (ApiKey::AlterShareGroupOffsets, _) => {
                        let r = AlterShareGroupOffsetsResponse::decode(&mut body, 0).unwrap();
                        assert_eq!(r.error_code, 34, "{what}");
                        assert_eq!(r.error_message.as_deref(), Some(message), "{what}");
                    }
                    (ApiKey::DeleteShareGroupOffsets, _) => {
                        let r = DeleteShareGroupOffsetsResponse::decode(&mut body, 0).unwrap();
                        assert_eq!(r.error_code, 34, "{what}");
                        assert_eq!(r.error_message.as_deref(), Some(message), "{what}");
                    }
                    // v1: the handler's own encoder (its bytes are tested there).
                    _ => assert!(!body.is_empty(), "{what}"),
                }
                assert!(body.is_empty() || version == 1, "{what}: bytes left over");
            }
        }
    }

    #[test]
    fn api_names_are_kafkas() {
        assert_eq!(kafka_api_name(ApiKey::Produce), "PRODUCE");
        assert_eq!(kafka_api_name(ApiKey::ListOffsets), "LIST_OFFSETS");
        assert_eq!(
            kafka_api_name(ApiKey::DescribeUserScramCredentials),
            "DESCRIBE_USER_SCRAM_CREDENTIALS"
        );
    }
}
