//! DescribeAcls (key 29), v1–3: the bindings one filter matches, grouped by resource pattern,
//! from this shard's snapshot. Needs DESCRIBE on the cluster (else CLUSTER_AUTHORIZATION_FAILED);
//! without an authorizer SECURITY_DISABLED, as Kafka answers; a filter with UNKNOWN codes is
//! INVALID_REQUEST.

use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{ApiKey, DescribeAclsRequest, DescribeAclsResponse, RequestHeader};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::acl::AclFilter;
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::acl_api_refusal;
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeAcls,
    min: 1,
    max: 3,
};

fn failed(code: ResponseError, message: &str) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(code.code())
        .with_error_message(Some(str_bytes(message)))
}

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let r = DescribeAclsRequest::try_decode(body, header.request_api_version)?;
    if let Some((code, message)) = acl_api_refusal(shard, session, AclOperation::Describe) {
        let response = failed(code, message);
        return Ok(encode(&shard.metrics, header, &response));
    }
    let filter = match AclFilter::from_codes(
        r.resource_type_filter,
        r.resource_name_filter.as_deref(),
        r.pattern_type_filter,
        r.principal_filter.as_deref(),
        r.host_filter.as_deref(),
        r.operation,
        r.permission_type,
    ) {
        Ok(f) => f,
        Err(message) => {
            let response = failed(ResponseError::InvalidRequest, &message);
            return Ok(encode(&shard.metrics, header, &response));
        }
    };
    let snapshot = shard.snapshot();
    // One resource per pattern, its entries in the set's order.
    let mut resources: BTreeMap<(i8, i8, &str), Vec<AclDescription>> = BTreeMap::new();
    for b in snapshot.acls.matching(&filter) {
        resources
            .entry((b.resource_type as i8, b.pattern_type as i8, b.name.as_str()))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&b.principal))
                    .with_host(str_bytes(&b.host))
                    .with_operation(b.operation as i8)
                    .with_permission_type(b.permission as i8),
            );
    }
    let response = DescribeAclsResponse::default().with_resources(
        resources
            .into_iter()
            .map(|((rt, pt, name), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(rt)
                    .with_pattern_type(pt)
                    .with_resource_name(str_bytes(name))
                    .with_acls(acls)
            })
            .collect(),
    );
    Ok(encode(&shard.metrics, header, &response))
}
