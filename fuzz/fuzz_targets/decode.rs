//! Arbitrary bytes through Sluice's request decoders: as a whole frame (header, then the body
//! its key and version name), and as a body for a (key, version) picked by the first two bytes,
//! so every decoder at every version is reached without a valid header. A decoder may refuse
//! anything; it may not panic, abort or allocate past the input. Whatever it accepts must
//! re-encode (where the crate can) and decode again to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Encodable;
use libfuzzer_sys::fuzz_target;
use sluice::protocol::decode::{try_decode_header, TryDecode, DECODED};

fuzz_target!(|data: &[u8]| {
    let mut frame = Bytes::copy_from_slice(data);
    if let Ok(header) = try_decode_header(&mut frame) {
        body(header.request_api_key, header.request_api_version, frame);
    }
    if let [pick, version, rest @ ..] = data {
        if let Some((key, range)) = DECODED.get(usize::from(*pick) % DECODED.len()) {
            let span = u16::try_from(range.max - range.min + 1).unwrap_or(1);
            let version = range.min + (u16::from(*version) % span) as i16;
            body(*key as i16, version, Bytes::copy_from_slice(rest));
        }
    }
});

/// Decodes `buf` as `T` at `version`; on success, re-encodes and decodes again.
fn check<T: TryDecode + Encodable + PartialEq + std::fmt::Debug>(mut buf: Bytes, version: i16) {
    let Ok(first) = T::try_decode(&mut buf, version) else {
        return;
    };
    // Bytes after the body are ignored, as Kafka ignores them (`decode::check_consumed`).
    let mut encoded = BytesMut::new();
    if first.encode(&mut encoded, version).is_err() {
        return;
    }
    let again = T::try_decode(&mut encoded.freeze(), version).expect("re-encoding decodes");
    assert_eq!(first, again);
}

/// As [`check`], comparing the debug forms (for values holding floats, where NaN != NaN).
fn check_printed<T: TryDecode + Encodable + std::fmt::Debug>(mut buf: Bytes, version: i16) {
    let Ok(first) = T::try_decode(&mut buf, version) else {
        return;
    };
    // Bytes after the body are ignored, as Kafka ignores them (`decode::check_consumed`).
    let mut encoded = BytesMut::new();
    if first.encode(&mut encoded, version).is_err() {
        return;
    }
    let again = T::try_decode(&mut encoded.freeze(), version).expect("re-encoding decodes");
    assert_eq!(format!("{first:?}"), format!("{again:?}"));
}

fn body(key: i16, version: i16, buf: Bytes) {
    let Ok(api) = ApiKey::try_from(key) else {
        return;
    };
    match api {
        ApiKey::Produce => check::<ProduceRequest>(buf, version),
        ApiKey::Fetch => check::<FetchRequest>(buf, version),
        ApiKey::ListOffsets => check::<ListOffsetsRequest>(buf, version),
        ApiKey::Metadata => check::<MetadataRequest>(buf, version),
        ApiKey::OffsetCommit => check::<OffsetCommitRequest>(buf, version),
        ApiKey::OffsetFetch => check::<OffsetFetchRequest>(buf, version),
        ApiKey::FindCoordinator => check::<FindCoordinatorRequest>(buf, version),
        ApiKey::JoinGroup => check::<JoinGroupRequest>(buf, version),
        ApiKey::Heartbeat => check::<HeartbeatRequest>(buf, version),
        ApiKey::LeaveGroup => check::<LeaveGroupRequest>(buf, version),
        ApiKey::SyncGroup => check::<SyncGroupRequest>(buf, version),
        ApiKey::DescribeGroups => check::<DescribeGroupsRequest>(buf, version),
        ApiKey::ListGroups => check::<ListGroupsRequest>(buf, version),
        ApiKey::ApiVersions => check::<ApiVersionsRequest>(buf, version),
        ApiKey::CreateTopics => check::<CreateTopicsRequest>(buf, version),
        ApiKey::DeleteTopics => check::<DeleteTopicsRequest>(buf, version),
        ApiKey::DeleteRecords => check::<DeleteRecordsRequest>(buf, version),
        ApiKey::InitProducerId => check::<InitProducerIdRequest>(buf, version),
        ApiKey::OffsetForLeaderEpoch => check::<OffsetForLeaderEpochRequest>(buf, version),
        ApiKey::DescribeConfigs => check::<DescribeConfigsRequest>(buf, version),
        ApiKey::AlterConfigs => check::<AlterConfigsRequest>(buf, version),
        ApiKey::CreatePartitions => check::<CreatePartitionsRequest>(buf, version),
        ApiKey::DeleteGroups => check::<DeleteGroupsRequest>(buf, version),
        ApiKey::IncrementalAlterConfigs => check::<IncrementalAlterConfigsRequest>(buf, version),
        ApiKey::OffsetDelete => check::<OffsetDeleteRequest>(buf, version),
        ApiKey::DescribeCluster => check::<DescribeClusterRequest>(buf, version),
        ApiKey::DescribeLogDirs => check::<DescribeLogDirsRequest>(buf, version),
        ApiKey::DescribeProducers => check::<DescribeProducersRequest>(buf, version),
        ApiKey::DescribeClientQuotas => check::<DescribeClientQuotasRequest>(buf, version),
        // Its op values are f64: a NaN never equals itself, so compare the printed forms.
        ApiKey::AlterClientQuotas => check_printed::<AlterClientQuotasRequest>(buf, version),
        ApiKey::DescribeAcls => check::<DescribeAclsRequest>(buf, version),
        ApiKey::CreateAcls => check::<CreateAclsRequest>(buf, version),
        ApiKey::DeleteAcls => check::<DeleteAclsRequest>(buf, version),
        ApiKey::DescribeTopicPartitions => {
            check::<DescribeTopicPartitionsRequest>(buf, version)
        }
        ApiKey::AddPartitionsToTxn => check::<AddPartitionsToTxnRequest>(buf, version),
        ApiKey::AddOffsetsToTxn => check::<AddOffsetsToTxnRequest>(buf, version),
        ApiKey::EndTxn => check::<EndTxnRequest>(buf, version),
        ApiKey::TxnOffsetCommit => check::<TxnOffsetCommitRequest>(buf, version),
        ApiKey::DescribeTransactions => check::<DescribeTransactionsRequest>(buf, version),
        ApiKey::ListTransactions => check::<ListTransactionsRequest>(buf, version),
        ApiKey::ConsumerGroupHeartbeat => check::<ConsumerGroupHeartbeatRequest>(buf, version),
        ApiKey::ConsumerGroupDescribe => check::<ConsumerGroupDescribeRequest>(buf, version),
        _ => {}
    }
}
