//! Regression tests for what the request fuzzer found (FUZZING.md lists each finding), as
//! raw-protocol requests against the real binary.

mod harness;

use std::time::{Duration, Instant};

use harness::kafka::{create_topic, Conn};
use harness::Broker;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    alter_configs_request, incremental_alter_configs_request, AlterConfigsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;

const INVALID_REQUEST: i16 = 42;
const RESOURCE_TOPIC: i8 = 2;
/// Copies of one resource in the request: what the fuzzer's huge arrays sent.
const COPIES: usize = 3_000;
/// Well above a normal answer, well below what 3,000 metadata persists took (over 10 s).
const ANSWER_WITHIN: Duration = Duration::from_secs(3);

fn retention_ms(conn: &mut Conn, topic: &str) -> Option<String> {
    let resp = conn.call(
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(RESOURCE_TOPIC)
            .with_resource_name(StrBytes::from_string(topic.to_string()))
            .with_configuration_keys(None)]),
        4,
    );
    resp.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == "retention.ms")
        .and_then(|c| c.value.as_ref().map(|v| v.to_string()))
}

/// Finding 1: AlterConfigs / IncrementalAlterConfigs naming one existing topic 3,000 times ran
/// 3,000 controller operations (each persisting the metadata) and answered after more than 10 s,
/// holding the controller meanwhile. Kafka answers every copy of a duplicated resource with
/// INVALID_REQUEST and applies none.
#[test]
fn duplicated_config_resources_are_refused_at_once() {
    let b = Broker::start("finding-dup-configs", &["--cores", "2"]);
    let topic = "dup-configs";
    let mut conn = Conn::connect(b.shard_addr(0));
    create_topic(&mut conn, topic, 1);
    let before = retention_ms(&mut conn, topic);

    let name = StrBytes::from_static_str(topic);
    let legacy = alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(name.clone())
        .with_configs(vec![alter_configs_request::AlterableConfig::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("86400000")))]);
    let started = Instant::now();
    let resp = conn.call(
        &AlterConfigsRequest::default().with_resources(vec![legacy.clone(); COPIES]),
        2,
    );
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "AlterConfigs took {:?}",
        started.elapsed()
    );
    assert_eq!(resp.responses.len(), COPIES);
    assert!(resp
        .responses
        .iter()
        .all(|r| r.error_code == INVALID_REQUEST));

    let incremental = incremental_alter_configs_request::AlterConfigsResource::default()
        .with_resource_type(RESOURCE_TOPIC)
        .with_resource_name(name)
        .with_configs(vec![
            incremental_alter_configs_request::AlterableConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_static_str("86400000"))),
        ]);
    let started = Instant::now();
    let resp = conn.call(
        &IncrementalAlterConfigsRequest::default()
            .with_resources(vec![incremental.clone(); COPIES]),
        1,
    );
    assert!(
        started.elapsed() < ANSWER_WITHIN,
        "IncrementalAlterConfigs took {:?}",
        started.elapsed()
    );
    assert_eq!(resp.responses.len(), COPIES);
    assert!(resp
        .responses
        .iter()
        .all(|r| r.error_code == INVALID_REQUEST));
    assert_eq!(
        retention_ms(&mut conn, topic),
        before,
        "a refused duplicate changed the topic"
    );

    // Named once, the same change applies.
    let resp = conn.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![incremental]),
        1,
    );
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
    assert_eq!(retention_ms(&mut conn, topic).as_deref(), Some("86400000"));
    let resp = conn.call(
        &AlterConfigsRequest::default().with_resources(vec![legacy]),
        2,
    );
    assert_eq!(resp.responses[0].error_code, 0, "{resp:?}");
}
