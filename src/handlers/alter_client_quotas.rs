//! AlterClientQuotas (key 49), v0-1: set or remove quota values of user / client-id entities
//! (`validate_only`: check, change nothing). Run on the controller (`shard::quota_control`):
//! persisted, then published to every shard, then answered; one result per entry.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey, RequestHeader,
};

use super::{encode, str_bytes, Reply, Versions};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::security::authz::AclOperation;
use crate::security::authz_helpers::{Authz, Denied};
use crate::security::session::Session;
use crate::shard::quota_control::QuotaAlteration;
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::AlterClientQuotas,
    min: 0,
    max: 1,
};

pub async fn handle(
    shard: &Rc<Shard>,
    session: &Rc<Session>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let request = AlterClientQuotasRequest::try_decode(body, header.request_api_version)?;
    // Kafka: ALTER_CONFIGS on the cluster, or every entry fails with it.
    let denied = (!Authz::new(shard, session).cluster(AclOperation::AlterConfigs))
        .then_some(Denied::Cluster);
    let alterations: Vec<QuotaAlteration> = request
        .entries
        .iter()
        .map(|e| QuotaAlteration {
            entity: e
                .entity
                .iter()
                .map(|d| {
                    (
                        d.entity_type.to_string(),
                        d.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect(),
            ops: e
                .ops
                .iter()
                .map(|o| (o.key.to_string(), (!o.remove).then_some(o.value)))
                .collect(),
        })
        .collect();
    let results = match denied {
        Some(_) => Vec::new(),
        None => {
            shard
                .alter_client_quotas(alterations, request.validate_only)
                .await
        }
    };
    let results = results.into_iter().map(Some).chain(std::iter::repeat(None));
    let entries = request
        .entries
        .iter()
        .zip(results)
        .map(|(e, r)| {
            let entry = EntryData::default().with_entity(
                e.entity
                    .iter()
                    .map(|d| {
                        EntityData::default()
                            .with_entity_type(d.entity_type.clone())
                            .with_entity_name(d.entity_name.clone())
                    })
                    .collect(),
            );
            match (r, denied) {
                (_, Some(d)) => entry
                    .with_error_code(d.code())
                    .with_error_message(Some(str_bytes(d.message()))),
                (Some(Ok(())), None) => entry,
                (Some(Err(err)), None) => entry
                    .with_error_code(err.code.code())
                    .with_error_message(Some(str_bytes(&err.message))),
                (None, None) => entry.with_error_code(
                    kafka_protocol::error::ResponseError::UnknownServerError.code(),
                ),
            }
        })
        .collect();
    let response = AlterClientQuotasResponse::default().with_entries(entries);
    Ok(encode(&shard.metrics, header, &response))
}
