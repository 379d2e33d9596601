//! ListGroups (key 16): the groups this shard coordinates (each shard is a broker; clients ask
//! every broker and merge, as with Kafka). v4 filters by state, v5 by group type (KIP-848),
//! both case-insensitively. A group's type is "classic", "consumer" (KIP-848) or "share"
//! (KIP-932, protocol type "share"), as in Kafka.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::groups::coordinator;
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ListGroups,
    min: 0,
    max: 5,
};

/// Kafka's name for a share group's type and protocol type (`Group.GroupType.SHARE`).
const SHARE: &str = "share";

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = ListGroupsRequest::try_decode(body, version)?;
    let filter: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    // Every group with DESCRIBE on the cluster, else only those the principal may DESCRIBE.
    let authz = Authz::new(shard, session);
    let all = authz.cluster(AclOperation::Describe);
    let share_listed = types.is_empty() || types.iter().any(|t| t == SHARE);
    let mut groups: Vec<ListedGroup> = coordinator::list(shard)
        .await
        .into_iter()
        .filter(|(_, _, _, kind)| types.is_empty() || types.iter().any(|t| t == kind))
        .filter(|(_, _, state, _)| {
            filter.is_empty() || filter.contains(&state.to_ascii_lowercase())
        })
        .filter(|(id, _, _, _)| all || authz.group(AclOperation::Describe, id))
        .map(|(id, protocol_type, state, kind)| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(&protocol_type))
                .with_group_state(str_bytes(state))
                .with_group_type(str_bytes(kind))
        })
        .collect();
    groups.extend(
        crate::share::coordinator::list(shard)
            .into_iter()
            .filter(|_| share_listed)
            .filter(|(_, state)| filter.is_empty() || filter.contains(&state.to_ascii_lowercase()))
            .filter(|(id, _)| all || authz.group(AclOperation::Describe, id))
            .map(|(id, state)| {
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(&id)))
                    .with_protocol_type(str_bytes(SHARE))
                    .with_group_state(str_bytes(state))
                    .with_group_type(str_bytes(SHARE))
            }),
    );
    Ok(encode(
        &shard.metrics,
        header,
        &ListGroupsResponse::default().with_groups(groups),
    ))
}
