//! ApiVersions (key 18): the versions table, built from the handlers' own declarations.

use std::rc::Rc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use super::{encode, encode_with_version, Reply, Versions, SERVED};
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

pub async fn handle(
    shard: &Rc<Shard>,
    header: &RequestHeader,
    body: &mut Bytes,
) -> Result<Reply, DecodeError> {
    let _request = ApiVersionsRequest::try_decode(body, header.request_api_version)?;
    let response = ApiVersionsResponse::default().with_api_keys(api_list());
    Ok(encode(&shard.metrics, header, &response))
}

pub fn unsupported_version_reply(shard: &Shard, header: &RequestHeader) -> Reply {
    let response = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_list());
    encode_with_version(&shard.metrics, header, &response, 0)
}
