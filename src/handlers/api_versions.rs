//! ApiVersions (key 18): the versions table, built from the handlers' own declarations, and
//! (v3+) the features Sluice implements: `group.version` level 1 (KIP-848's consumer group
//! protocol) when every API that protocol needs is in the table, at the versions it needs.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use super::{encode, encode_with_version, str_bytes, Reply, Versions, SERVED};
use crate::protocol::decode::{DecodeError, TryDecode};
use crate::shard::Shard;

pub const VERSIONS: Versions = Versions {
    key: ApiKey::ApiVersions,
    min: 0,
    max: 3,
};

/// Produce is advertised from v0 although only v3+ is served: older librdkafka only compresses
/// when v0 is in range (KAFKA-18659), and Kafka 4 does the same. v0-2 requests are refused.
pub const PRODUCE_ADVERTISED_MIN: i16 = 0;

fn api_list() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|v| {
            let min = if v.key == ApiKey::Produce {
                PRODUCE_ADVERTISED_MIN
            } else {
                v.min
            };
            ApiVersion::default()
                .with_api_key(v.key as i16)
                .with_min_version(min)
                .with_max_version(v.max)
        })
        .collect()
}

/// Kafka's `group.version` feature; level 1 enables the consumer group protocol (KIP-848).
pub const GROUP_VERSION_FEATURE: &str = "group.version";
pub const GROUP_VERSION_CONSUMER_PROTOCOL: i16 = 1;
/// The epoch of the finalized features: Sluice's never change while it runs (Kafka's moves
/// with its metadata log).
const FINALIZED_FEATURES_EPOCH: i64 = 1;

/// What KIP-848's protocol needs served, (API, lowest max version): the heartbeat and
/// describe APIs, commits and fetches carrying member epochs, ListGroups with group types.
const CONSUMER_PROTOCOL_APIS: &[(ApiKey, i16)] = &[
    (ApiKey::ConsumerGroupHeartbeat, 1),
    (ApiKey::ConsumerGroupDescribe, 1),
    (ApiKey::OffsetCommit, 9),
    (ApiKey::OffsetFetch, 9),
    (ApiKey::ListGroups, 5),
];

/// Is every API of [`CONSUMER_PROTOCOL_APIS`] served up to its version?
pub fn consumer_protocol_served(served: &[Versions]) -> bool {
    CONSUMER_PROTOCOL_APIS
        .iter()
        .all(|(key, max)| served.iter().any(|v| v.key == *key && v.max >= *max))
}

/// The features to advertise: only levels whose semantics Sluice implements.
fn with_features(response: ApiVersionsResponse) -> ApiVersionsResponse {
    if !consumer_protocol_served(SERVED) {
        return response;
    }
    response
        .with_supported_features(vec![SupportedFeatureKey::default()
            .with_name(str_bytes(GROUP_VERSION_FEATURE))
            .with_min_version(0)
            .with_max_version(GROUP_VERSION_CONSUMER_PROTOCOL)])
        .with_finalized_features_epoch(FINALIZED_FEATURES_EPOCH)
        .with_finalized_features(vec![FinalizedFeatureKey::default()
            .with_name(str_bytes(GROUP_VERSION_FEATURE))
            .with_min_version_level(GROUP_VERSION_CONSUMER_PROTOCOL)
            .with_max_version_level(GROUP_VERSION_CONSUMER_PROTOCOL)])
}

pub async fn handle(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let _request = ApiVersionsRequest::try_decode(body, header.request_api_version)?;
    let mut response = ApiVersionsResponse::default().with_api_keys(api_list());
    if header.request_api_version >= 3 {
        response = with_features(response);
    }
    Ok(encode(&shard.metrics, header, &response))
}

pub fn unsupported_version_reply(shard: &Shard, header: &RequestHeader) -> Reply {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_list());
    encode_with_version(&shard.metrics, header, &response, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_version_needs_every_consumer_protocol_api() {
        assert!(consumer_protocol_served(SERVED), "Sluice serves KIP-848");
        for (missing, _) in CONSUMER_PROTOCOL_APIS {
            let without: Vec<Versions> = SERVED
                .iter()
                .copied()
                .filter(|v| v.key != *missing)
                .collect();
            assert!(!consumer_protocol_served(&without), "{missing:?} missing");
        }
        let old_commit: Vec<Versions> = SERVED
            .iter()
            .map(|v| match v.key {
                ApiKey::OffsetCommit => Versions { max: 8, ..*v },
                _ => *v,
            })
            .collect();
        assert!(!consumer_protocol_served(&old_commit));
    }
}
