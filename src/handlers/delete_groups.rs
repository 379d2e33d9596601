//! DeleteGroups (key 42): remove empty groups and their committed offsets (tombstones in
//! `__consumer_offsets`), or empty share groups (KIP-932). A group with members gets
//! NON_EMPTY_GROUP.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, RequestHeader};

use super::{encode, Reply, Versions};
use crate::groups::{check_group_id, coordinator};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::Authz;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DeleteGroups,
    min: 0,
    max: 2,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let version = header.request_api_version;
    let request = DeleteGroupsRequest::try_decode(body, version)?;
    let authz = Authz::new(shard, session);
    let mut results = Vec::with_capacity(request.groups_names.len());
    for id in &request.groups_names {
        let group_id = id.0.to_string();
        if !authz.group(AclOperation::Delete, &group_id) {
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code()),
            );
            continue;
        }
        let g = group_id.clone();
        let r: Result<(), i16> = match check_group_id(&group_id, true) {
            Err(e) => Err(e.code()),
            Ok(()) => coordinator::route(shard, &group_id, move |s| async move {
                if crate::share::coordinator::share_group_exists(&s, &g) {
                    return Ok(crate::share::coordinator::delete(&s, &g)
                        .await
                        .map_err(|e| e.code()));
                }
                coordinator::delete_group(s, g).await.map(Ok)
            })
            .await
            .and_then(|r| r)
            .map_err(|e| e.code())
            .and_then(|r| r),
        };
        results.push(
            DeletableGroupResult::default()
                .with_group_id(id.clone())
                .with_error_code(r.err().unwrap_or(0)),
        );
    }
    Ok(encode(
        &shard.metrics,
        header,
        &DeleteGroupsResponse::default().with_results(results),
    ))
}
