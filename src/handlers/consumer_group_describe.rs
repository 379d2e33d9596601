//! ConsumerGroupDescribe (key 69, KIP-848): a consumer group's epochs, assignor and members,
//! each with its current and target assignment. Any other kind of group is GROUP_ID_NOT_FOUND.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::consumer::Assignment as Partitions;
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::protocol::errors::GroupError;
use crate::security::authz::{AclOperation, ResourceType};
use crate::security::authz_helpers::{Authz, AUTHORIZED_OPERATIONS_OMITTED};
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ConsumerGroupDescribe,
    min: 0,
    max: 1,
};

/// Kafka's `member_type` of a member speaking the consumer protocol (v1).
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn assignment(
    a: &Partitions,
    names: &std::collections::BTreeMap<uuid::Uuid, String>,
) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.iter()
            .map(|(id, ps)| {
                TopicPartitions::default()
                    .with_topic_id(*id)
                    .with_topic_name(str_bytes(names.get(id).map_or("", String::as_str)).into())
                    .with_partitions(ps.iter().copied().collect())
            })
            .collect(),
    )
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = ConsumerGroupDescribeRequest::try_decode(body, version)?;
    let authz = Authz::new(shard, session);
    let mut groups = Vec::with_capacity(request.group_ids.len());
    for id in &request.group_ids {
        let group_id = id.0.to_string();
        let described = DescribedGroup::default()
            .with_group_id(id.clone())
            .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
        if !authz.group(AclOperation::Describe, &group_id) {
            groups.push(described.with_error_code(ResponseError::GroupAuthorizationFailed.code()));
            continue;
        }
        let g = group_id.clone();
        let r = match check_group_id(&group_id, true) {
            Err(e) => Err(e),
            Ok(()) => coordinator::route(shard, &group_id, move |s| async move {
                coordinator::consumer_describe(&s, &g)
            })
            .await
            .and_then(|r| r),
        };
        groups.push(match r {
            Err(e) => {
                let message = match e {
                    GroupError::GroupIdNotFound => {
                        format!("Group {group_id} is not a consumer group.")
                    }
                    other => format!("{other:?}"),
                };
                described
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&message)))
            }
            Ok(d) => described
                .with_authorized_operations(if request.include_authorized_operations {
                    authz.operations(ResourceType::Group, &group_id)
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                })
                .with_group_state(str_bytes(d.state))
                .with_group_epoch(d.group_epoch)
                .with_assignment_epoch(d.assignment_epoch)
                .with_assignor_name(str_bytes(d.assignor))
                .with_members(
                    d.members
                        .iter()
                        .map(|(m, target)| {
                            let mut member = Member::default()
                                .with_member_id(str_bytes(&m.id))
                                .with_instance_id(m.instance_id.as_deref().map(str_bytes))
                                .with_rack_id(m.rack_id.as_deref().map(str_bytes))
                                .with_member_epoch(m.epoch)
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_subscribed_topic_names(
                                    m.topic_names.iter().map(|t| str_bytes(t).into()).collect(),
                                )
                                .with_subscribed_topic_regex(
                                    m.topic_regex.as_deref().map(str_bytes),
                                )
                                .with_assignment(assignment(&m.assigned, &d.topic_names))
                                .with_target_assignment(assignment(target, &d.topic_names));
                            if version >= 1 {
                                member.member_type = MEMBER_TYPE_CONSUMER;
                            }
                            member
                        })
                        .collect(),
                ),
        });
    }
    Ok(encode(
        &shard.metrics,
        header,
        &ConsumerGroupDescribeResponse::default().with_groups(groups),
    ))
}
