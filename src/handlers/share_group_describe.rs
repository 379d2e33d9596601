//! ShareGroupDescribe (key 77, v1): share groups' members, epochs and assignments, from each
//! group's coordinator shard.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ApiKey, RequestHeader, ShareGroupDescribeRequest, ShareGroupDescribeResponse,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::coordinator as groups;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::{AclOperation, ResourceType};
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;
use crate::share::{coordinator, ShareError};

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ShareGroupDescribe,
    min: 1,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = ShareGroupDescribeRequest::try_decode(body, header.request_api_version)?;
    let authz = Authz::new(shard, session);
    let mut out = Vec::with_capacity(request.group_ids.len());
    for g in &request.group_ids {
        let group_id = g.0.to_string();
        let mut d = DescribedGroup::default().with_group_id(g.clone());
        if !authz.group(AclOperation::Describe, &group_id) {
            out.push(d.with_error_code(ResponseError::GroupAuthorizationFailed.code()));
            continue;
        }
        let id = group_id.clone();
        let described = groups::route(shard, &group_id, move |s| async move {
            coordinator::describe(&s, &id)
        })
        .await
        .map_err(ShareError::from)
        .and_then(|r| r);
        match described {
            Ok(group) => {
                d = d
                    .with_group_state(str_bytes(group.state))
                    .with_group_epoch(group.epoch)
                    .with_assignment_epoch(group.assignment_epoch)
                    .with_assignor_name(str_bytes("simple"))
                    .with_members(
                        group
                            .members
                            .into_iter()
                            .map(|m| {
                                Member::default()
                                    .with_member_id(str_bytes(&m.member_id))
                                    .with_rack_id(m.rack.as_deref().map(str_bytes))
                                    .with_member_epoch(m.member_epoch)
                                    .with_client_id(str_bytes(&m.client_id))
                                    .with_client_host(str_bytes(&m.client_host))
                                    .with_subscribed_topic_names(
                                        m.topics.iter().map(|t| str_bytes(t).into()).collect(),
                                    )
                                    .with_assignment(
                                        Assignment::default().with_topic_partitions(
                                            m.assignment
                                                .into_iter()
                                                .map(|(id, name, ps)| {
                                                    TopicPartitions::default()
                                                        .with_topic_id(id)
                                                        .with_topic_name(str_bytes(&name).into())
                                                        .with_partitions(ps)
                                                })
                                                .collect(),
                                        ),
                                    )
                            })
                            .collect(),
                    );
                if request.include_authorized_operations {
                    d = d.with_authorized_operations(
                        authz.operations(ResourceType::Group, &group_id),
                    );
                }
            }
            Err(e) => {
                d = d
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(&format!("Group {group_id} not found."))))
            }
        }
        out.push(d);
    }
    let response = ShareGroupDescribeResponse::default().with_groups(out);
    Ok(encode(&shard.metrics, header, &response))
}
