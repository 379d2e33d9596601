//! CreateAcls (key 30), v1–3: add ACL bindings on the controller (`shard::acl_control`).
//! Needs ALTER on the cluster (else CLUSTER_AUTHORIZATION_FAILED for every creation); without
//! an authorizer every creation gets SECURITY_DISABLED, as Kafka answers. Each creation is
//! checked alone (INVALID_REQUEST with Kafka's message for unknown or filter-only types, an
//! empty name, a principal without `Type:`).

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, CreateAclsResponse, RequestHeader};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::acl::AclBinding;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::acl_api_refusal;
use crate::security::session::Session;
use crate::shard::control::ControlError;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::CreateAcls,
    min: 1,
    max: 3,
};

fn failed(code: ResponseError, message: &str) -> AclCreationResult {
    AclCreationResult::default()
        .with_error_code(code.code())
        .with_error_message(Some(str_bytes(message)))
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = CreateAclsRequest::try_decode(body, header.request_api_version)?;
    let n = request.creations.len();
    let refuse = |code: ResponseError, message: &str| {
        CreateAclsResponse::default().with_results((0..n).map(|_| failed(code, message)).collect())
    };
    if let Some((code, message)) = acl_api_refusal(shard, session, AclOperation::Alter) {
        let response = refuse(code, message);
        return Ok(encode(&shard.metrics, header, &response));
    }
    let creations = request
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_codes(
                c.resource_type,
                c.resource_name.as_str(),
                c.resource_pattern_type,
                c.principal.as_str(),
                c.host.as_str(),
                c.operation,
                c.permission_type,
            )
            .map_err(|message| ControlError {
                code: ResponseError::InvalidRequest.code(),
                message,
            })
        })
        .collect();
    let results = shard.create_acls(creations).await;
    let response = CreateAclsResponse::default().with_results(
        results
            .into_iter()
            .map(|r| match r {
                Ok(()) => AclCreationResult::default(),
                Err(e) => AclCreationResult::default()
                    .with_error_code(e.code)
                    .with_error_message(Some(str_bytes(&e.message))),
            })
            .collect(),
    );
    Ok(encode(&shard.metrics, header, &response))
}
