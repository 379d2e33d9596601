//! Resource limits hit on purpose against the real binary: the behaviour at the limit, never
//! a timing.

mod harness;

use harness::kafka::{batch, Conn};
use harness::Broker;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{CreateTopicsRequest, ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::Compression;

#[test]
fn inflight_request_budget_backpressures_and_loses_nothing() {
    // The budget is raised to one maximum frame (64 KiB); 48 pipelined ~20 KB produces on two
    // connections need ten times that in flight.
    let b = Broker::start(
        "budget",
        &[
            "--cores",
            "1",
            "--request-max-bytes",
            "65536",
            "--inflight-request-bytes",
            "1",
        ],
    );
    let mut admin = Conn::connect(b.shard_addr(0));
    let r = admin.call(
        &CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_num_partitions(1)
                .with_replication_factor(1)]),
        5,
    );
    assert_eq!(r.topics[0].error_code, 0);
    let value = vec![b'v'; 20_000];
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch(&[&value], Compression::None)))])]);
    let mut conns = [
        Conn::connect(b.shard_addr(0)),
        Conn::connect(b.shard_addr(0)),
    ];
    let mut sent = Vec::new();
    for i in 0..48 {
        let c = i % 2;
        sent.push((c, conns[c].send(&req, 9)));
    }
    let mut offsets = Vec::new();
    for (c, id) in sent {
        let r = conns[c].recv::<ProduceRequest>(id, 9);
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(p.error_code, 0, "{p:?}");
        offsets.push(p.base_offset);
    }
    offsets.sort_unstable();
    assert_eq!(
        offsets,
        (0..48).collect::<Vec<i64>>(),
        "every request answered, none lost"
    );
    let waits = b.metric_sum("sluice_request_budget_waits_total", &[]);
    assert!(
        waits > 0.0,
        "the budget was reached: frames waited before being read"
    );
    assert!(b.panics().is_empty());
}
