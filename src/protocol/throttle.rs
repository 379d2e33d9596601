//! `throttle_time_ms` of a `request_percentage` quota, written into an encoded response.
//!
//! Kafka answers a request that put its client over a `request_percentage` quota at once, with
//! the throttle time in the response's `ThrottleTimeMs`, and then mutes the connection for that
//! long (KIP-219); a client that understands the field backs off by itself, and librdkafka
//! reports it (`throttle_cb`, `stats.throttle`). The quota is measured around the handler, so
//! the response is already encoded when the throttle is known: this module writes the field
//! into the encoded bytes (the larger of what the handler put there — a byte-rate throttle —
//! and the request quota's, as Kafka's `max(bandwidth, request)` does).
//!
//! Where it can: responses whose first body field is `ThrottleTimeMs`, which is every served
//! API's from the version that added the field, except Produce (the field follows the
//! partition responses), ApiVersions (after the error code and API list), OffsetDelete (after
//! the error code) and the SASL APIs, which have none. Those, and a Fetch reply written as
//! chunks, are muted without the field, as before. The table is checked against the
//! kafka-protocol crate's encoders for every served version (tests below).
//!
//! Pure functions; run on the shard that handled the request.

use kafka_protocol::messages::ApiKey;

/// The first version of `key`'s response whose first body field is `ThrottleTimeMs`; None
/// where no version has it first.
pub fn throttle_first_from(key: ApiKey) -> Option<i16> {
    use ApiKey::*;
    Some(match key {
        Fetch | Heartbeat | LeaveGroup | SyncGroup | DescribeGroups | ListGroups
        | FindCoordinator | DeleteTopics => 1,
        ListOffsets | JoinGroup | CreateTopics | OffsetForLeaderEpoch => 2,
        Metadata | OffsetCommit | OffsetFetch => 3,
        DeleteRecords
        | InitProducerId
        | AddPartitionsToTxn
        | AddOffsetsToTxn
        | EndTxn
        | TxnOffsetCommit
        | DescribeAcls
        | CreateAcls
        | DeleteAcls
        | DescribeConfigs
        | AlterConfigs
        | DescribeLogDirs
        | CreatePartitions
        | DeleteGroups
        | IncrementalAlterConfigs
        | DescribeClientQuotas
        | AlterClientQuotas
        | DescribeUserScramCredentials
        | AlterUserScramCredentials
        | DescribeProducers
        | DescribeCluster
        | DescribeTransactions
        | ListTransactions
        | DescribeTopicPartitions
        | ConsumerGroupHeartbeat
        | ConsumerGroupDescribe
        | ShareGroupHeartbeat
        | ShareGroupDescribe
        | ShareFetch
        | ShareAcknowledge
        | DescribeShareGroupOffsets
        | AlterShareGroupOffsets
        | DeleteShareGroupOffsets => 0,
        _ => return None,
    })
}

/// Where `ThrottleTimeMs` sits in a length-prefixed response frame of `key` at `version`, if it
/// is the body's first field: after the length, the correlation id and (response header v1)
/// the header's tagged fields, which Sluice always writes empty (one zero byte).
fn throttle_offset(frame: &[u8], key: ApiKey, version: i16) -> Option<usize> {
    if version < throttle_first_from(key)? {
        return None;
    }
    let at = match key.response_header_version(version) {
        0 => 8,
        _ => {
            // Header tagged fields: only the empty set is expected; anything else, leave alone.
            if *frame.get(8)? != 0 {
                return None;
            }
            9
        }
    };
    (frame.len() >= at + 4).then_some(at)
}

/// Raise the `ThrottleTimeMs` of the encoded response `frame` (length prefix included) to
/// `ms`. False where the field is not the body's first (nothing written).
pub fn raise_throttle(frame: &mut [u8], key: ApiKey, version: i16, ms: i32) -> bool {
    let Some(at) = throttle_offset(frame, key, version) else {
        return false;
    };
    let current = i32::from_be_bytes([frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]);
    if ms > current {
        frame[at..at + 4].copy_from_slice(&ms.to_be_bytes());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::ResponseHeader;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Encodable;

    const SENTINEL: i32 = 0x1234_5678;

    /// `body` as a frame of `key` at `v` (None: a version newer than the crate's encoder,
    /// e.g. ListOffsets v11, whose layout the handler derives from the one before).
    fn try_frame<T: Encodable>(key: ApiKey, v: i16, body: &T) -> Option<Vec<u8>> {
        let mut probe = BytesMut::new();
        body.encode(&mut probe, v).ok()?;
        Some(frame(key, v, body))
    }

    fn frame<T: Encodable>(key: ApiKey, v: i16, body: &T) -> Vec<u8> {
        let mut b = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(7)
            .encode(&mut b, key.response_header_version(v))
            .unwrap();
        body.encode(&mut b, v)
            .unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"));
        let mut out = (b.len() as i32).to_be_bytes().to_vec();
        out.extend_from_slice(&b);
        out
    }

    /// Every served API and version: the table says "first" exactly where the crate's encoder
    /// puts `ThrottleTimeMs` first, and `raise_throttle` then writes exactly those 4 bytes.
    #[test]
    fn the_table_matches_the_encoders_for_every_served_version() {
        let mut checked = std::collections::BTreeSet::new();
        macro_rules! check {
            ($($key:ident => $ty:ty),* $(,)?) => {$(
                if let Some(served) = crate::handlers::served(ApiKey::$key as i16) {
                    checked.insert(ApiKey::$key as i16);
                    for v in served.min..=served.max {
                        let mut r = <$ty>::default();
                        r.throttle_time_ms = SENTINEL;
                        let Some(f) = try_frame(ApiKey::$key, v, &r) else {
                            assert!(v > served.min, "{:?} v{v}: the crate encodes none", ApiKey::$key);
                            continue;
                        };
                        let hdr = if ApiKey::$key.response_header_version(v) == 0 { 8 } else { 9 };
                        let first = f.get(hdr..hdr + 4) == Some(&SENTINEL.to_be_bytes()[..]);
                        let at = throttle_offset(&f, ApiKey::$key, v);
                        assert_eq!(
                            at.is_some(),
                            first,
                            "{:?} v{v}: table says first={}, encoder says {first}",
                            ApiKey::$key,
                            at.is_some()
                        );
                        // Written where the field is: a zero throttle raised to 5 decodes as 5.
                        let mut zero = <$ty>::default();
                        zero.throttle_time_ms = 0;
                        let mut g = frame(ApiKey::$key, v, &zero);
                        let wrote = raise_throttle(&mut g, ApiKey::$key, v, 5);
                        assert_eq!(wrote, first);
                        if wrote {
                            let mut expect = <$ty>::default();
                            expect.throttle_time_ms = 5;
                            assert_eq!(g, frame(ApiKey::$key, v, &expect), "{:?} v{v}", ApiKey::$key);
                            // Never lowered: a larger throttle already there stays.
                            let mut big = <$ty>::default();
                            big.throttle_time_ms = 9;
                            let mut h = frame(ApiKey::$key, v, &big);
                            raise_throttle(&mut h, ApiKey::$key, v, 5);
                            assert_eq!(h, frame(ApiKey::$key, v, &big));
                        }
                    }
                }
            )*};
        }
        check!(
            Produce => ProduceResponse,
            Fetch => FetchResponse,
            ListOffsets => ListOffsetsResponse,
            Metadata => MetadataResponse,
            OffsetCommit => OffsetCommitResponse,
            OffsetFetch => OffsetFetchResponse,
            FindCoordinator => FindCoordinatorResponse,
            JoinGroup => JoinGroupResponse,
            Heartbeat => HeartbeatResponse,
            LeaveGroup => LeaveGroupResponse,
            SyncGroup => SyncGroupResponse,
            DescribeGroups => DescribeGroupsResponse,
            ListGroups => ListGroupsResponse,
            ApiVersions => ApiVersionsResponse,
            CreateTopics => CreateTopicsResponse,
            DeleteTopics => DeleteTopicsResponse,
            DeleteRecords => DeleteRecordsResponse,
            InitProducerId => InitProducerIdResponse,
            OffsetForLeaderEpoch => OffsetForLeaderEpochResponse,
            AddPartitionsToTxn => AddPartitionsToTxnResponse,
            AddOffsetsToTxn => AddOffsetsToTxnResponse,
            EndTxn => EndTxnResponse,
            TxnOffsetCommit => TxnOffsetCommitResponse,
            DescribeAcls => DescribeAclsResponse,
            CreateAcls => CreateAclsResponse,
            DeleteAcls => DeleteAclsResponse,
            DescribeConfigs => DescribeConfigsResponse,
            AlterConfigs => AlterConfigsResponse,
            DescribeLogDirs => DescribeLogDirsResponse,
            CreatePartitions => CreatePartitionsResponse,
            DeleteGroups => DeleteGroupsResponse,
            IncrementalAlterConfigs => IncrementalAlterConfigsResponse,
            OffsetDelete => OffsetDeleteResponse,
            DescribeClientQuotas => DescribeClientQuotasResponse,
            AlterClientQuotas => AlterClientQuotasResponse,
            DescribeUserScramCredentials => DescribeUserScramCredentialsResponse,
            AlterUserScramCredentials => AlterUserScramCredentialsResponse,
            DescribeProducers => DescribeProducersResponse,
            DescribeCluster => DescribeClusterResponse,
            DescribeTransactions => DescribeTransactionsResponse,
            ListTransactions => ListTransactionsResponse,
            DescribeTopicPartitions => DescribeTopicPartitionsResponse,
            ConsumerGroupHeartbeat => ConsumerGroupHeartbeatResponse,
            ConsumerGroupDescribe => ConsumerGroupDescribeResponse,
            ShareGroupHeartbeat => ShareGroupHeartbeatResponse,
            ShareGroupDescribe => ShareGroupDescribeResponse,
            ShareFetch => ShareFetchResponse,
            ShareAcknowledge => ShareAcknowledgeResponse,
            DescribeShareGroupOffsets => DescribeShareGroupOffsetsResponse,
            AlterShareGroupOffsets => AlterShareGroupOffsetsResponse,
            DeleteShareGroupOffsets => DeleteShareGroupOffsetsResponse,
        );
        // The APIs without the field at all: nothing to write.
        for key in [ApiKey::SaslHandshake, ApiKey::SaslAuthenticate] {
            assert_eq!(throttle_first_from(key), None);
            checked.insert(key as i16);
        }
        // A new served API must be classified here before it ships.
        for served in crate::handlers::SERVED {
            assert!(
                checked.contains(&(served.key as i16)),
                "{:?} is served but not checked for ThrottleTimeMs",
                served.key
            );
        }
    }
}
