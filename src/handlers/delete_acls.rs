//! DeleteAcls (key 31), v1–3: delete the bindings each filter matches, on the controller
//! (`shard::acl_control`); each filter's result lists what it matched. Needs ALTER on the
//! cluster (else CLUSTER_AUTHORIZATION_FAILED for every filter); without an authorizer every
//! filter gets SECURITY_DISABLED, as Kafka answers; a filter with UNKNOWN codes is
//! INVALID_REQUEST alone.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{ApiKey, DeleteAclsRequest, DeleteAclsResponse, RequestHeader};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::acl::AclFilter;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::acl_api_refusal;
use crate::security::session::Session;
use crate::shard::control::ControlError;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DeleteAcls,
    min: 1,
    max: 3,
};

fn failed(code: i16, message: &str) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(code)
        .with_error_message(Some(str_bytes(message)))
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DeleteAclsRequest::try_decode(body, header.request_api_version)?;
    let n = request.filters.len();
    let refuse = |code: ResponseError, message: &str| {
        DeleteAclsResponse::default()
            .with_filter_results((0..n).map(|_| failed(code.code(), message)).collect())
    };
    if let Some((code, message)) = acl_api_refusal(shard, session, AclOperation::Alter) {
        let response = refuse(code, message);
        return Ok(encode(&shard.metrics, header, &response));
    }
    let filters = request
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_codes(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
            .map_err(|message| ControlError {
                code: ResponseError::InvalidRequest.code(),
                message,
            })
        })
        .collect();
    let results = shard.delete_acls(filters).await;
    let response = DeleteAclsResponse::default().with_filter_results(
        results
            .into_iter()
            .map(|r| match r {
                Ok(matched) => DeleteAclsFilterResult::default().with_matching_acls(
                    matched
                        .iter()
                        .map(|b| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(b.resource_type as i8)
                                .with_resource_name(str_bytes(&b.name))
                                .with_pattern_type(b.pattern_type as i8)
                                .with_principal(str_bytes(&b.principal))
                                .with_host(str_bytes(&b.host))
                                .with_operation(b.operation as i8)
                                .with_permission_type(b.permission as i8)
                        })
                        .collect(),
                ),
                Err(e) => failed(e.code, &e.message),
            })
            .collect(),
    );
    Ok(encode(&shard.metrics, header, &response))
}
