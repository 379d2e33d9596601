//! Where each response type carries its Kafka error codes, so the one response encoder
//! (`handlers::encode`) can count every code a handler answers with (`/metrics`'
//! `sluice_request_errors_total`) without each handler counting by hand.
//!
//! A response type must implement [`ResponseErrors`] to be encoded: a new handler can't forget
//! its errors. Codes are visited once per place that carries one (partition, group, resource),
//! as Kafka's `errorCounts()` does; 0 (NONE) is visited too and skipped by the caller.
//!
//! Fetch is encoded by hand (`fetch_response`, as chunks) and counts its topics' codes there.

use kafka_protocol::messages::*;

use super::fetch_response::TopicOut;

/// A response whose error codes can be visited.
pub trait ResponseErrors {
    /// Call `f` with every error code in the response, 0 included.
    fn each_error(&self, f: &mut dyn FnMut(i16));
}

/// `errors!(Type, |response, f| body)`: implement [`ResponseErrors`] with `body`.
macro_rules! errors {
    ($($t:ty, |$r:ident, $f:ident| $body:expr;)*) => {
        $(
            impl ResponseErrors for $t {
                fn each_error(&self, $f: &mut dyn FnMut(i16)) {
                    let $r = self;
                    $body
                }
            }
        )*
    };
}

/// The hand-encoded Fetch response's topics (its top-level error code is always NONE).
impl ResponseErrors for [TopicOut<'_>] {
    fn each_error(&self, f: &mut dyn FnMut(i16)) {
        for t in self {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    }
}

/// Count the non-zero error codes of `response` (to an `api_key` request) in `metrics` (the
/// answering shard's).
pub fn count(
    metrics: &crate::metrics::ShardMetrics,
    api_key: i16,
    response: &(impl ResponseErrors + ?Sized),
) {
    response.each_error(&mut |code| {
        if code != 0 {
            metrics.count_error_code(api_key, code);
        }
    });
}

errors! {
    ShareGroupHeartbeatResponse, |r, f| f(r.error_code);
    ShareGroupDescribeResponse, |r, f| r.groups.iter().for_each(|g| f(g.error_code));
    ShareFetchResponse, |r, f| {
        f(r.error_code);
        for t in &r.responses {
            for p in &t.partitions {
                f(p.error_code);
                f(p.acknowledge_error_code);
            }
        }
    };
    DescribeShareGroupOffsetsResponse, |r, f| {
        for g in &r.groups {
            f(g.error_code);
            for t in &g.topics {
                t.partitions.iter().for_each(|p| f(p.error_code));
            }
        }
    };
    AlterShareGroupOffsetsResponse, |r, f| {
        f(r.error_code);
        for t in &r.responses {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    DeleteShareGroupOffsetsResponse, |r, f| {
        f(r.error_code);
        r.responses.iter().for_each(|t| f(t.error_code));
    };
    ShareAcknowledgeResponse, |r, f| {
        f(r.error_code);
        for t in &r.responses {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    ProduceResponse, |r, f| {
        for t in &r.responses {
            t.partition_responses.iter().for_each(|p| f(p.error_code));
        }
    };
    FetchResponse, |r, f| {
        f(r.error_code);
        for t in &r.responses {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    ListOffsetsResponse, |r, f| {
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    MetadataResponse, |r, f| {
        f(r.error_code);
        for t in &r.topics {
            f(t.error_code);
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    ApiVersionsResponse, |r, f| f(r.error_code);
    CreateTopicsResponse, |r, f| r.topics.iter().for_each(|t| f(t.error_code));
    DeleteTopicsResponse, |r, f| r.responses.iter().for_each(|t| f(t.error_code));
    InitProducerIdResponse, |r, f| f(r.error_code);
    AddPartitionsToTxnResponse, |r, f| {
        for t in &r.results_by_topic_v3_and_below {
            t.results_by_partition.iter().for_each(|p| f(p.partition_error_code));
        }
    };
    AddOffsetsToTxnResponse, |r, f| f(r.error_code);
    DescribeTransactionsResponse, |r, f| r.transaction_states.iter().for_each(|t| f(t.error_code));
    ListTransactionsResponse, |r, f| f(r.error_code);
    EndTxnResponse, |r, f| f(r.error_code);
    TxnOffsetCommitResponse, |r, f| {
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    OffsetForLeaderEpochResponse, |r, f| {
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    DescribeConfigsResponse, |r, f| r.results.iter().for_each(|c| f(c.error_code));
    DescribeClusterResponse, |r, f| f(r.error_code);
    DescribeTopicPartitionsResponse, |r, f| {
        for t in &r.topics {
            f(t.error_code);
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    DescribeAclsResponse, |r, f| f(r.error_code);
    CreateAclsResponse, |r, f| r.results.iter().for_each(|c| f(c.error_code));
    DeleteAclsResponse, |r, f| {
        for filter in &r.filter_results {
            f(filter.error_code);
            filter.matching_acls.iter().for_each(|m| f(m.error_code));
        }
    };
    SaslHandshakeResponse, |r, f| f(r.error_code);
    SaslAuthenticateResponse, |r, f| f(r.error_code);
    DescribeUserScramCredentialsResponse, |r, f| {
        f(r.error_code);
        r.results.iter().for_each(|u| f(u.error_code));
    };
    AlterUserScramCredentialsResponse, |r, f| r.results.iter().for_each(|u| f(u.error_code));
    DescribeClientQuotasResponse, |r, f| f(r.error_code);
    AlterClientQuotasResponse, |r, f| r.entries.iter().for_each(|e| f(e.error_code));
    FindCoordinatorResponse, |r, f| {
        // v0-3 answer one key at the top level, v4+ one entry per key.
        if r.coordinators.is_empty() {
            f(r.error_code);
        }
        r.coordinators.iter().for_each(|c| f(c.error_code));
    };
    JoinGroupResponse, |r, f| f(r.error_code);
    SyncGroupResponse, |r, f| f(r.error_code);
    HeartbeatResponse, |r, f| f(r.error_code);
    ConsumerGroupHeartbeatResponse, |r, f| f(r.error_code);
    ConsumerGroupDescribeResponse, |r, f| r.groups.iter().for_each(|g| f(g.error_code));
    LeaveGroupResponse, |r, f| {
        f(r.error_code);
        r.members.iter().for_each(|m| f(m.error_code));
    };
    OffsetCommitResponse, |r, f| {
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    OffsetFetchResponse, |r, f| {
        f(r.error_code);
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
        for g in &r.groups {
            f(g.error_code);
            for t in &g.topics {
                t.partitions.iter().for_each(|p| f(p.error_code));
            }
        }
    };
    ListGroupsResponse, |r, f| f(r.error_code);
    DescribeGroupsResponse, |r, f| r.groups.iter().for_each(|g| f(g.error_code));
    DeleteGroupsResponse, |r, f| r.results.iter().for_each(|g| f(g.error_code));
    OffsetDeleteResponse, |r, f| {
        f(r.error_code);
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    IncrementalAlterConfigsResponse, |r, f| r.responses.iter().for_each(|c| f(c.error_code));
    AlterConfigsResponse, |r, f| r.responses.iter().for_each(|c| f(c.error_code));
    DeleteRecordsResponse, |r, f| {
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
    CreatePartitionsResponse, |r, f| r.results.iter().for_each(|t| f(t.error_code));
    DescribeLogDirsResponse, |r, f| {
        f(r.error_code);
        r.results.iter().for_each(|d| f(d.error_code));
    };
    DescribeProducersResponse, |r, f| {
        for t in &r.topics {
            t.partitions.iter().for_each(|p| f(p.error_code));
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(r: &impl ResponseErrors) -> Vec<i16> {
        let mut out = Vec::new();
        r.each_error(&mut |c| out.push(c));
        out.retain(|c| *c != 0);
        out
    }

    #[test]
    fn nested_codes_are_all_visited() {
        use kafka_protocol::messages::produce_response::{
            PartitionProduceResponse, TopicProduceResponse,
        };
        let r = ProduceResponse::default().with_responses(vec![
            TopicProduceResponse::default().with_partition_responses(vec![
                PartitionProduceResponse::default().with_error_code(3),
                PartitionProduceResponse::default(),
                PartitionProduceResponse::default().with_error_code(2),
            ]),
            TopicProduceResponse::default().with_partition_responses(vec![
                PartitionProduceResponse::default().with_error_code(3),
            ]),
        ]);
        assert_eq!(codes(&r), vec![3, 2, 3]);
        assert_eq!(
            codes(&HeartbeatResponse::default().with_error_code(27)),
            vec![27]
        );
    }
}
