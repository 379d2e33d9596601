//! DescribeClientQuotas (key 48), v0-1: the configured quota entities matching a filter
//! (EXACT / DEFAULT / ANY components, `strict`), from this shard's snapshot — the controller
//! publishes every change to all shards before AlterClientQuotas answers.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{
    ApiKey, DescribeClientQuotasRequest, DescribeClientQuotasResponse, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::{Authz, Denied};
use crate::security::session::Session;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::DescribeClientQuotas,
    min: 0,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = DescribeClientQuotasRequest::try_decode(body, header.request_api_version)?;
    // Kafka: DESCRIBE_CONFIGS on the cluster.
    if !Authz::new(shard, session).cluster(AclOperation::DescribeConfigs) {
        let denied = Denied::Cluster;
        let response = DescribeClientQuotasResponse::default()
            .with_error_code(denied.code())
            .with_error_message(Some(str_bytes(denied.message())));
        return Ok(encode(&shard.metrics, header, &response));
    }
    let components: Vec<(String, i8, Option<String>)> = request
        .components
        .iter()
        .map(|c| {
            (
                c.entity_type.to_string(),
                c.match_type,
                c._match.as_ref().map(|m| m.to_string()),
            )
        })
        .collect();
    let snapshot = shard.snapshot();
    let response = match snapshot.quotas.describe(&components, request.strict) {
        Ok(entries) => DescribeClientQuotasResponse::default().with_entries(Some(
            entries
                .into_iter()
                .map(|e| {
                    EntryData::default()
                        .with_entity(
                            e.entity
                                .iter()
                                .map(|(t, n)| {
                                    EntityData::default()
                                        .with_entity_type(str_bytes(t))
                                        .with_entity_name(n.as_deref().map(str_bytes))
                                })
                                .collect(),
                        )
                        .with_values(
                            e.values
                                .iter()
                                .map(|(k, v)| {
                                    ValueData::default().with_key(str_bytes(k)).with_value(*v)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )),
        Err(e) => DescribeClientQuotasResponse::default()
            .with_error_code(e.code.code())
            .with_error_message(Some(str_bytes(&e.message)))
            .with_entries(None),
    };
    Ok(encode(&shard.metrics, header, &response))
}
