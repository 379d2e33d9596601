//! Sluice's own bounded request decoders.
//!
//! kafka-protocol's decoders reserve `Vec::with_capacity(count)` with a count read off the wire
//! before reading any element: a hostile count aborts the process. Every decoder here checks
//! each count and length against the bytes remaining and a `*_max` from `limits.rs` before it
//! sizes anything, and fails with a specific [`DecodeError`] instead.
//!
//! Decoders produce kafka-protocol's request structs, so handlers and tests share one model;
//! the crate's encoders serve as the oracle in this module's tests.
//!
//! One file per request type, named after it; `reader` holds the wire primitives. Nothing
//! outside tests may call the crate's `Decodable`: its array decoders are what this replaces.

// Code here reads untrusted bytes: nothing may panic on them.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unreachable,
    clippy::todo
)]

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::VersionRange;

pub mod reader;

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_client_quotas;
mod alter_configs;
mod alter_share_group_offsets;
mod alter_user_scram_credentials;
mod api_versions;
mod commit_topics;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_share_group_offsets;
mod delete_topics;
mod describe_acls;
mod describe_client_quotas;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_share_group_offsets;
mod describe_topic_partitions;
mod describe_transactions;
mod describe_user_scram_credentials;
mod end_txn;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod sasl_authenticate;
mod sasl_handshake;
pub mod share_acknowledge;
mod share_acks;
pub mod share_fetch;
mod share_group_describe;
mod share_group_heartbeat;
mod sync_group;
mod txn_offset_commit;

#[cfg(test)]
mod testkit;

use reader::{try_get_i16, try_get_i32, try_get_nullable_string, try_get_unknown_tagged_fields};

/// Why a request could not be decoded. Every variant means "answer with an error or close the
/// connection"; none may panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended before the field `what` was complete.
    Truncated { what: &'static str },
    /// A count or length exceeds what remains in the request or a configured maximum.
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A negative length other than -1 (null) where one is not allowed.
    InvalidLength { what: &'static str, len: i64 },
    /// A string that is not UTF-8.
    InvalidUtf8 { what: &'static str },
    /// A varint longer than its type allows.
    InvalidVarint { what: &'static str },
    /// The API key is not one Sluice knows.
    UnknownApiKey(i16),
    /// The version is outside what this decoder supports.
    UnsupportedVersion { api_key: i16, version: i16 },
    /// Bytes left over after the body (or a tagged field) was decoded.
    TrailingBytes { len: usize },
    /// A tag the message defines, sent in a version that does not have it.
    InvalidTag { what: &'static str, tag: u32 },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DecodeError {}

/// Decode a request body of a given version from `buf`, consuming exactly its bytes.
pub trait TryDecode: Sized {
    fn try_decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// Decode the request header. Its version follows from the API key and version that open it
/// (`ApiKey::request_header_version`): v0 has no client id, v1 adds a nullable client id, v2
/// adds a tagged-field section. The version itself is not checked here: the caller decides
/// what it serves, and Kafka answers an ApiVersions of a version it does not know (v3 and up
/// have a v2 header, whatever their number) rather than dropping it.
pub fn try_decode_header(buf: &mut Bytes) -> Result<RequestHeader, DecodeError> {
    let key = buf
        .get(..2)
        .and_then(|s| s.try_into().ok())
        .map(i16::from_be_bytes)
        .ok_or(DecodeError::Truncated {
            what: "request_api_key",
        })?;
    let version = buf
        .get(2..4)
        .and_then(|s| s.try_into().ok())
        .map(i16::from_be_bytes)
        .ok_or(DecodeError::Truncated {
            what: "request_api_version",
        })?;
    let api = ApiKey::try_from(key).map_err(|_| DecodeError::UnknownApiKey(key))?;
    let before = buf.clone();
    decode_header(buf, api.request_header_version(version)).inspect_err(|_| *buf = before)
}

fn decode_header(buf: &mut Bytes, header_version: i16) -> Result<RequestHeader, DecodeError> {
    let mut header = RequestHeader::default();
    header.request_api_key = try_get_i16(buf, "request_api_key")?;
    header.request_api_version = try_get_i16(buf, "request_api_version")?;
    header.correlation_id = try_get_i32(buf, "correlation_id")?;
    if header_version >= 1 {
        // Not compact even in v2: the header must parse the same before the version is known.
        header.client_id = try_get_nullable_string(buf, false, "client_id")?;
    }
    if header_version >= 2 {
        header.unknown_tagged_fields = try_get_unknown_tagged_fields(buf, "request_header")?;
    }
    Ok(header)
}

/// `UnsupportedVersion` unless `version` is in `range` (a decoder's versions).
fn check_version(key: ApiKey, range: VersionRange, version: i16) -> Result<(), DecodeError> {
    if (range.min..=range.max).contains(&version) {
        Ok(())
    } else {
        Err(DecodeError::UnsupportedVersion {
            api_key: key as i16,
            version,
        })
    }
}

/// Bytes left after a body are ignored, as Apache Kafka ignores them: librdkafka 2.16 sends
/// three extra bytes after a Metadata v12 body asking for all topics, and refusing them
/// would close every librdkafka admin connection. Nothing after the body is ever read.
fn check_consumed(buf: &Bytes) -> Result<(), DecodeError> {
    if !buf.is_empty() {
        tracing::trace!(len = buf.len(), "ignoring bytes after the request body");
    }
    Ok(())
}

/// Implements [`TryDecode`] for a request type from its version range and a `decode(buf,
/// version)` in the calling file: version check first, the whole body consumed after.
macro_rules! try_decode_impl {
    ($request:ty, $key:expr, $min:literal ..= $max:literal) => {
        /// The versions this file decodes.
        pub const VERSIONS: kafka_protocol::protocol::VersionRange =
            kafka_protocol::protocol::VersionRange {
                min: $min,
                max: $max,
            };

        impl $crate::protocol::decode::TryDecode for $request {
            fn try_decode(
                buf: &mut bytes::Bytes,
                version: i16,
            ) -> ::std::result::Result<Self, $crate::protocol::decode::DecodeError> {
                $crate::protocol::decode::check_version($key, VERSIONS, version)?;
                let request = decode(buf, version)?;
                $crate::protocol::decode::check_consumed(buf)?;
                Ok(request)
            }
        }
    };
}
use try_decode_impl;

/// Every API this module decodes, with the versions it decodes (for the fuzzer and tests).
pub const DECODED: &[(ApiKey, VersionRange)] = &[
    (ApiKey::Produce, produce::VERSIONS),
    (ApiKey::Fetch, fetch::VERSIONS),
    (ApiKey::ListOffsets, list_offsets::VERSIONS),
    (ApiKey::Metadata, metadata::VERSIONS),
    (ApiKey::OffsetCommit, offset_commit::VERSIONS),
    (ApiKey::OffsetFetch, offset_fetch::VERSIONS),
    (ApiKey::FindCoordinator, find_coordinator::VERSIONS),
    (ApiKey::JoinGroup, join_group::VERSIONS),
    (ApiKey::Heartbeat, heartbeat::VERSIONS),
    (ApiKey::LeaveGroup, leave_group::VERSIONS),
    (ApiKey::SyncGroup, sync_group::VERSIONS),
    (ApiKey::DescribeGroups, describe_groups::VERSIONS),
    (ApiKey::ListGroups, list_groups::VERSIONS),
    (ApiKey::ApiVersions, api_versions::VERSIONS),
    (ApiKey::CreateTopics, create_topics::VERSIONS),
    (ApiKey::DeleteTopics, delete_topics::VERSIONS),
    (ApiKey::DeleteRecords, delete_records::VERSIONS),
    (ApiKey::InitProducerId, init_producer_id::VERSIONS),
    (
        ApiKey::OffsetForLeaderEpoch,
        offset_for_leader_epoch::VERSIONS,
    ),
    (ApiKey::DescribeConfigs, describe_configs::VERSIONS),
    (ApiKey::AlterConfigs, alter_configs::VERSIONS),
    (ApiKey::CreatePartitions, create_partitions::VERSIONS),
    (ApiKey::DeleteGroups, delete_groups::VERSIONS),
    (
        ApiKey::IncrementalAlterConfigs,
        incremental_alter_configs::VERSIONS,
    ),
    (ApiKey::OffsetDelete, offset_delete::VERSIONS),
    (ApiKey::DescribeCluster, describe_cluster::VERSIONS),
    (ApiKey::DescribeLogDirs, describe_log_dirs::VERSIONS),
    (ApiKey::DescribeProducers, describe_producers::VERSIONS),
    (ApiKey::SaslHandshake, sasl_handshake::VERSIONS),
    (ApiKey::SaslAuthenticate, sasl_authenticate::VERSIONS),
    (
        ApiKey::DescribeUserScramCredentials,
        describe_user_scram_credentials::VERSIONS,
    ),
    (
        ApiKey::AlterUserScramCredentials,
        alter_user_scram_credentials::VERSIONS,
    ),
    (
        ApiKey::DescribeClientQuotas,
        describe_client_quotas::VERSIONS,
    ),
    (ApiKey::AlterClientQuotas, alter_client_quotas::VERSIONS),
    (ApiKey::DescribeAcls, describe_acls::VERSIONS),
    (ApiKey::CreateAcls, create_acls::VERSIONS),
    (ApiKey::DeleteAcls, delete_acls::VERSIONS),
    (
        ApiKey::DescribeTopicPartitions,
        describe_topic_partitions::VERSIONS,
    ),
    (ApiKey::AddPartitionsToTxn, add_partitions_to_txn::VERSIONS),
    (ApiKey::AddOffsetsToTxn, add_offsets_to_txn::VERSIONS),
    (ApiKey::EndTxn, end_txn::VERSIONS),
    (ApiKey::TxnOffsetCommit, txn_offset_commit::VERSIONS),
    (
        ApiKey::DescribeTransactions,
        describe_transactions::VERSIONS,
    ),
    (ApiKey::ListTransactions, list_transactions::VERSIONS),
    (
        ApiKey::ConsumerGroupHeartbeat,
        consumer_group_heartbeat::VERSIONS,
    ),
    (
        ApiKey::ConsumerGroupDescribe,
        consumer_group_describe::VERSIONS,
    ),
    (ApiKey::ShareGroupHeartbeat, share_group_heartbeat::VERSIONS),
    (ApiKey::ShareGroupDescribe, share_group_describe::VERSIONS),
    (ApiKey::ShareFetch, share_fetch::VERSIONS),
    (ApiKey::ShareAcknowledge, share_acknowledge::VERSIONS),
    (
        ApiKey::DescribeShareGroupOffsets,
        describe_share_group_offsets::VERSIONS,
    ),
    (
        ApiKey::AlterShareGroupOffsets,
        alter_share_group_offsets::VERSIONS,
    ),
    (
        ApiKey::DeleteShareGroupOffsets,
        delete_share_group_offsets::VERSIONS,
    ),
];

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests"
)]
mod tests {
    use super::*;
    use crate::handlers::SERVED;
    use kafka_protocol::protocol::{Message, StrBytes};
    use testkit::{encode, largest_allocation, rng, string, tags, Rng};

    fn header(key: ApiKey, version: i16) -> RequestHeader {
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(0x0102_0304)
    }

    #[test]
    fn header_v0_has_no_client_id() {
        // No API of Kafka 4 uses header v0 any more (ControlledShutdown v0 did), so it is
        // reached only here: key, version, correlation id, nothing else.
        let mut buf = Bytes::from_static(&[0, 7, 0, 0, 0, 0, 0, 9, 0xaa]);
        let h = decode_header(&mut buf, 0).unwrap();
        assert_eq!(
            (h.request_api_key, h.request_api_version, h.correlation_id),
            (7, 0, 9)
        );
        assert_eq!(h.client_id, RequestHeader::default().client_id);
        assert_eq!(&buf[..], &[0xaa]);
        let mut short = Bytes::from_static(&[0, 7, 0, 0, 0, 0, 0]);
        assert!(decode_header(&mut short, 0).is_err());
    }

    #[test]
    fn header_v1_and_v2_match_the_crate_and_leave_the_body() {
        let mut rng = rng(1);
        for (key, version, header_version) in [
            (ApiKey::Metadata, 1, 1),
            (ApiKey::Produce, 8, 1),
            (ApiKey::Produce, 9, 2),
            (ApiKey::ApiVersions, 2, 1),
            (ApiKey::ApiVersions, 3, 2),
            (ApiKey::DescribeCluster, 0, 2),
        ] {
            assert_eq!(key.request_header_version(version), header_version);
            for _ in 0..50 {
                let mut h = header(key, version);
                h.client_id = rng.gen_bool(0.8).then(|| string(&mut rng));
                h.unknown_tagged_fields = tags(&mut rng, header_version >= 2);
                let mut frame = encode(&h, header_version).to_vec();
                frame.extend_from_slice(b"body");
                let mut buf = Bytes::from(frame.clone());
                assert_eq!(try_decode_header(&mut buf).unwrap(), h);
                assert_eq!(&buf[..], b"body");
                for end in 0..frame.len() - 4 {
                    let mut cut = Bytes::copy_from_slice(&frame[..end]);
                    assert!(try_decode_header(&mut cut).is_err(), "cut at {end}");
                    assert_eq!(cut.len(), end, "a failed header read consumes nothing");
                }
            }
        }
    }

    #[test]
    fn header_of_an_api_versions_version_nobody_knows_still_decodes() {
        // Kafka answers it (with UNSUPPORTED_VERSION and its ranges), so it must parse: v3 and
        // up use header v2 whatever their number.
        let mut h = header(ApiKey::ApiVersions, 127);
        h.client_id = Some(StrBytes::from_static_str("future-client"));
        let mut buf = encode(&h, 2);
        assert_eq!(try_decode_header(&mut buf).unwrap(), h);
        assert!(buf.is_empty());
    }

    #[test]
    fn header_refuses_unknown_keys_and_hostile_lengths() {
        let mut buf = Bytes::from_static(&[0x7f, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            try_decode_header(&mut buf),
            Err(DecodeError::UnknownApiKey(0x7f00))
        );
        assert_eq!(
            try_decode_header(&mut Bytes::from_static(&[0, 3])),
            Err(DecodeError::Truncated {
                what: "request_api_version"
            })
        );
        // client_id of i16::MAX bytes in a 10-byte frame; tag count of u32::MAX in header v2.
        let mut buf = Bytes::from_static(&[0, 3, 0, 1, 0, 0, 0, 0, 0x7f, 0xff]);
        let (result, largest) = largest_allocation(|| try_decode_header(&mut buf));
        assert!(matches!(
            result,
            Err(DecodeError::TooLarge {
                what: "client_id",
                ..
            })
        ));
        assert!(largest < 1024);
        let mut buf = Bytes::from_static(&[
            0, 18, 0, 3, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ]);
        let (result, largest) = largest_allocation(|| try_decode_header(&mut buf));
        assert!(
            matches!(result, Err(DecodeError::TooLarge { .. })),
            "{result:?}"
        );
        assert!(largest < 1024);
    }

    #[test]
    fn every_decoded_range_is_within_the_crate_and_covers_what_handlers_serve() {
        for served in SERVED {
            let decoded = DECODED.iter().find(|(key, _)| *key == served.key);
            let (_, range) = decoded.unwrap_or_else(|| panic!("{:?} not decoded", served.key));
            assert!(
                range.min <= served.min && served.max <= range.max,
                "{:?}",
                served.key
            );
        }
        let crate_range = |key: ApiKey| -> VersionRange {
            use kafka_protocol::messages::*;
            match key {
                ApiKey::Produce => ProduceRequest::VERSIONS,
                ApiKey::Fetch => FetchRequest::VERSIONS,
                ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
                ApiKey::Metadata => MetadataRequest::VERSIONS,
                ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
                ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
                ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
                ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
                ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
                ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
                ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
                ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
                ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
                ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
                ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
                ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
                ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
                ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
                ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
                ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
                ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
                ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
                ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
                ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
                ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
                ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
                ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
                ApiKey::DescribeProducers => DescribeProducersRequest::VERSIONS,
                ApiKey::SaslHandshake => SaslHandshakeRequest::VERSIONS,
                ApiKey::SaslAuthenticate => SaslAuthenticateRequest::VERSIONS,
                ApiKey::DescribeUserScramCredentials => {
                    DescribeUserScramCredentialsRequest::VERSIONS
                }
                ApiKey::AlterUserScramCredentials => AlterUserScramCredentialsRequest::VERSIONS,
                ApiKey::DescribeClientQuotas => DescribeClientQuotasRequest::VERSIONS,
                ApiKey::AlterClientQuotas => AlterClientQuotasRequest::VERSIONS,
                ApiKey::DescribeAcls => DescribeAclsRequest::VERSIONS,
                ApiKey::AddPartitionsToTxn => AddPartitionsToTxnRequest::VERSIONS,
                ApiKey::AddOffsetsToTxn => AddOffsetsToTxnRequest::VERSIONS,
                ApiKey::EndTxn => EndTxnRequest::VERSIONS,
                ApiKey::TxnOffsetCommit => TxnOffsetCommitRequest::VERSIONS,
                ApiKey::DescribeTransactions => DescribeTransactionsRequest::VERSIONS,
                ApiKey::ListTransactions => ListTransactionsRequest::VERSIONS,
                ApiKey::CreateAcls => CreateAclsRequest::VERSIONS,
                ApiKey::DeleteAcls => DeleteAclsRequest::VERSIONS,
                ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
                ApiKey::ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::VERSIONS,
                ApiKey::ConsumerGroupDescribe => ConsumerGroupDescribeRequest::VERSIONS,
                ApiKey::ShareGroupHeartbeat => ShareGroupHeartbeatRequest::VERSIONS,
                ApiKey::ShareGroupDescribe => ShareGroupDescribeRequest::VERSIONS,
                ApiKey::ShareFetch => ShareFetchRequest::VERSIONS,
                ApiKey::ShareAcknowledge => ShareAcknowledgeRequest::VERSIONS,
                ApiKey::DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest::VERSIONS,
                ApiKey::AlterShareGroupOffsets => AlterShareGroupOffsetsRequest::VERSIONS,
                ApiKey::DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest::VERSIONS,
                other => panic!("{other:?} is not in the table"),
            }
        };
        for (key, range) in DECODED {
            let theirs = crate_range(*key);
            // The exceptions: ListOffsets v11 has v10's layout (the crate stops at v10);
            // ShareFetch and ShareAcknowledge v2 add fields the crate's v1 lacks (KIP-1206,
            // KIP-1222), decoded and tested in their files; DescribeShareGroupOffsets v1 has
            // v0's request layout (KIP-1226 changed the response only); OffsetCommit and
            // OffsetFetch v10 name topics by id (the crate's request types stop at v9; their
            // decoders and tests are in their files).
            let past_crate = i16::from(matches!(
                key,
                ApiKey::ListOffsets
                    | ApiKey::ShareFetch
                    | ApiKey::ShareAcknowledge
                    | ApiKey::DescribeShareGroupOffsets
                    | ApiKey::OffsetCommit
                    | ApiKey::OffsetFetch
            ));
            assert!(
                theirs.min <= range.min && range.max <= theirs.max + past_crate,
                "{key:?}"
            );
        }
        assert_eq!(DECODED.len(), 53);
    }
}
