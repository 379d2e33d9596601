//! DescribeGroups (key 15): state, protocol and members of each group (a group that does not
//! exist is Dead with no error, as in Kafka).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::{AclOperation, ResourceType};
use crate::security::authz_helpers::{Authz, AUTHORIZED_OPERATIONS_OMITTED};
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeGroups,
    min: 0,
    max: 5,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = DescribeGroupsRequest::try_decode(body, version)?;
    let authz = Authz::new(shard, session);
    let include_operations = version >= 3 && request.include_authorized_operations;
    let mut groups = Vec::with_capacity(request.groups.len());
    for id in &request.groups {
        let group_id = id.0.to_string();
        let described = DescribedGroup::default()
            .with_group_id(id.clone())
            .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
        if !authz.group(AclOperation::Describe, &group_id) {
            // Kafka's group error: unknown state, protocol type and protocol, no members.
            groups.push(
                described
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                    .with_group_state(str_bytes(""))
                    .with_protocol_type(str_bytes(""))
                    .with_protocol_data(str_bytes("")),
            );
            continue;
        }
        let g = group_id.clone();
        let r = match check_group_id(&group_id, true) {
            Err(e) => Err(e),
            Ok(()) => {
                coordinator::route(shard, &group_id, move |s| async move {
                    coordinator::describe(&s, &g)
                })
                .await
            }
        };
        groups.push(match r {
            Err(e) => described
                .with_error_code(e.code())
                .with_group_state(str_bytes("Dead")),
            Ok(d) => described
                .with_authorized_operations(if include_operations {
                    authz.operations(ResourceType::Group, &group_id)
                } else {
                    AUTHORIZED_OPERATIONS_OMITTED
                })
                .with_group_state(str_bytes(d.state))
                .with_protocol_type(str_bytes(&d.protocol_type))
                .with_protocol_data(str_bytes(&d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_group_instance_id(m.instance_id.map(|i| str_bytes(&i)))
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                ),
        });
    }
    Ok(encode(
        &shard.metrics,
        header,
        &DescribeGroupsResponse::default().with_groups(groups),
    ))
}
