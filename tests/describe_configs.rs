//! DescribeConfigs' values, sources and synonyms on the wire, against Kafka 4.2's
//! `ConfigHelper`: a topic config lists its own override, then its broker config set for the
//! broker answering, for the cluster default, by a flag, and Kafka's default, in that order,
//! dropping what precedes the first entry named as the broker config; a BROKER resource lists
//! the broker configs with their current values and sources.
#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

mod harness;

use harness::kafka::{create_topic_with, Conn};
use harness::Broker;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kafka_protocol::protocol::StrBytes;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Kafka 4's GROUP config resource (KIP-848).
const GROUP: i8 = 32;
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DYNAMIC_BROKER: i8 = 2;
const SOURCE_DYNAMIC_DEFAULT: i8 = 3;
const SOURCE_STATIC: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn set_broker_config(c: &mut Conn, broker: &str, name: &str, value: &str) {
    let r = c.call(
        &IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(BROKER)
                .with_resource_name(s(broker))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(name))
                    .with_config_operation(0)
                    .with_value(Some(s(value)))]),
        ]),
        1,
    );
    assert_eq!(r.responses[0].error_code, 0, "{r:?}");
}

/// DescribeConfigs (v4) of one resource, every config or `keys`.
fn describe(
    c: &mut Conn,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
    synonyms: bool,
) -> Vec<DescribeConfigsResourceResult> {
    let r = c.call(
        &DescribeConfigsRequest::default()
            .with_include_synonyms(synonyms)
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configuration_keys(
                    keys.map(|k| k.iter().map(|n| s(n)).collect()),
                )]),
        4,
    );
    let result = r.results.into_iter().next().unwrap();
    assert_eq!(result.error_code, 0, "{:?}", result.error_message);
    result.configs
}

type Row = (String, String, i8);

/// (value, source) of `name` and its synonyms as (name, value, source).
fn entry(configs: &[DescribeConfigsResourceResult], name: &str) -> ((String, i8), Vec<Row>) {
    let e = configs
        .iter()
        .find(|e| e.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not described"));
    let synonyms = e
        .synonyms
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.value.as_deref().unwrap_or_default().to_string(),
                s.source,
            )
        })
        .collect();
    (
        (
            e.value.as_deref().unwrap_or_default().to_string(),
            e.config_source,
        ),
        synonyms,
    )
}

fn row(name: &str, value: &str, source: i8) -> Row {
    (name.to_string(), value.to_string(), source)
}

#[test]
fn topic_configs_list_kafkas_synonyms_in_precedence_order() {
    let b = Broker::start(
        "describe-synonyms",
        &[
            "--cores",
            "1",
            "--log-message-timestamp-type",
            "LogAppendTime",
        ],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, &[("retention.ms", "5000")]);
    set_broker_config(&mut c, "0", "log.retention.ms", "3600000");
    set_broker_config(&mut c, "", "log.retention.ms", "7200000");

    let keys = [
        "retention.ms",
        "message.timestamp.type",
        "segment.ms",
        "segment.bytes",
    ];
    let t = describe(&mut c, TOPIC, "t", Some(&keys), true);
    assert_eq!(
        entry(&t, "retention.ms"),
        (
            ("5000".into(), SOURCE_TOPIC),
            vec![
                row("retention.ms", "5000", SOURCE_TOPIC),
                row("log.retention.ms", "3600000", SOURCE_DYNAMIC_BROKER),
                row("log.retention.ms", "7200000", SOURCE_DYNAMIC_DEFAULT),
                row("log.retention.hours", "168", SOURCE_DEFAULT),
            ]
        )
    );
    assert_eq!(
        entry(&t, "message.timestamp.type"),
        (
            ("LogAppendTime".into(), SOURCE_STATIC),
            vec![
                row("log.message.timestamp.type", "LogAppendTime", SOURCE_STATIC),
                row("log.message.timestamp.type", "CreateTime", SOURCE_DEFAULT),
            ]
        )
    );
    // Nothing set: log.roll.ms has no default of its own (log.roll.hours has), so Kafka's drop
    // rule leaves no synonyms.
    assert_eq!(
        entry(&t, "segment.ms"),
        (("604800000".into(), SOURCE_DEFAULT), vec![])
    );
    assert_eq!(
        entry(&t, "segment.bytes"),
        (
            ("1073741824".into(), SOURCE_DEFAULT),
            vec![row("log.segment.bytes", "1073741824", SOURCE_DEFAULT)]
        )
    );
    // Not asked for: no synonyms, the same sources.
    let plain = describe(&mut c, TOPIC, "t", Some(&keys), false);
    assert!(plain.iter().all(|e| e.synonyms.is_empty()));
    assert_eq!(
        entry(&plain, "retention.ms").0,
        ("5000".into(), SOURCE_TOPIC)
    );
    // Without its own value, the topic follows the broker's dynamic value.
    create_topic_with(&mut c, "plain", 1, &[]);
    let p = describe(&mut c, TOPIC, "plain", Some(&["retention.ms"]), true);
    assert_eq!(
        entry(&p, "retention.ms").0,
        ("3600000".into(), SOURCE_DYNAMIC_BROKER)
    );
}

#[test]
fn broker_resources_list_current_values_and_sources() {
    let b = Broker::start(
        "describe-broker",
        &[
            "--cores",
            "1",
            "--log-message-timestamp-type",
            "LogAppendTime",
            "--log-cleaner-min-cleanable-ratio",
            "0.25",
        ],
    );
    let mut c = Conn::connect(b.shard_addr(0));
    set_broker_config(&mut c, "", "log.retention.ms", "7200000");
    set_broker_config(&mut c, "0", "min.insync.replicas", "2");

    let all = describe(&mut c, BROKER, "0", None, true);
    for (name, value, source) in [
        ("log.message.timestamp.type", "LogAppendTime", SOURCE_STATIC),
        ("log.cleaner.min.cleanable.ratio", "0.25", SOURCE_STATIC),
        (
            "log.message.timestamp.before.max.ms",
            "9223372036854775807",
            SOURCE_DEFAULT,
        ),
        (
            "log.message.timestamp.after.max.ms",
            "3600000",
            SOURCE_DEFAULT,
        ),
        ("log.cleaner.enable", "true", SOURCE_DEFAULT),
        (
            "log.cleaner.delete.retention.ms",
            "86400000",
            SOURCE_DEFAULT,
        ),
        ("log.cleaner.backoff.ms", "15000", SOURCE_DEFAULT),
        ("log.retention.ms", "7200000", SOURCE_DYNAMIC_DEFAULT),
        ("min.insync.replicas", "2", SOURCE_DYNAMIC_BROKER),
    ] {
        assert_eq!(entry(&all, name).0, (value.to_string(), source), "{name}");
    }
    assert_eq!(
        entry(&all, "min.insync.replicas").1,
        vec![
            row("min.insync.replicas", "2", SOURCE_DYNAMIC_BROKER),
            row("min.insync.replicas", "1", SOURCE_DEFAULT),
        ]
    );
    assert_eq!(
        entry(&all, "log.retention.ms").1,
        vec![
            row("log.retention.ms", "7200000", SOURCE_DYNAMIC_DEFAULT),
            row("log.retention.hours", "168", SOURCE_DEFAULT),
        ]
    );
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "each config once, by name");

    // The cluster default resource: only what is set for it, its synonym alone.
    let defaults = describe(&mut c, BROKER, "", None, true);
    assert_eq!(defaults.len(), 1);
    assert_eq!(
        entry(&defaults, "log.retention.ms"),
        (
            ("7200000".into(), SOURCE_DYNAMIC_DEFAULT),
            vec![row("log.retention.ms", "7200000", SOURCE_DYNAMIC_DEFAULT)]
        )
    );
}

/// (value, source, synonyms) of `name` in `configs`, the value as it came: null stays None.
fn raw_entry(
    configs: &[DescribeConfigsResourceResult],
    name: &str,
) -> (Option<String>, i8, Vec<Row>) {
    let e = configs
        .iter()
        .find(|e| e.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} not described"));
    let synonyms = entry(configs, name).1;
    (
        e.value.as_deref().map(str::to_string),
        e.config_source,
        synonyms,
    )
}

/// Kafka declares `log.retention.ms` and `log.roll.ms` without a default (their hours
/// spellings hold it: 168), so a broker resource lists them as null, source DEFAULT_CONFIG, no
/// synonyms, until some level sets them; the hours spellings are listed with their defaults.
/// Once set, the value, its source, and the hours default behind it as a synonym.
#[test]
fn broker_time_configs_without_a_default_are_null_until_set() {
    let b = Broker::start("describe-null-broker", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    let keys = [
        "log.retention.ms",
        "log.retention.hours",
        "log.roll.ms",
        "log.roll.hours",
        "log.roll.jitter.ms",
        "log.flush.interval.ms",
    ];
    let all = describe(&mut c, BROKER, "0", Some(&keys), true);
    assert_eq!(all.len(), keys.len(), "each one described");
    for name in [
        "log.retention.ms",
        "log.roll.ms",
        "log.roll.jitter.ms",
        "log.flush.interval.ms",
    ] {
        assert_eq!(
            raw_entry(&all, name),
            (None, SOURCE_DEFAULT, vec![]),
            "{name}"
        );
    }
    for name in ["log.retention.hours", "log.roll.hours"] {
        assert_eq!(
            raw_entry(&all, name),
            (
                Some("168".into()),
                SOURCE_DEFAULT,
                vec![row(name, "168", SOURCE_DEFAULT)]
            ),
            "{name}"
        );
    }
    let hours = all
        .iter()
        .find(|e| e.name.as_str() == "log.retention.hours")
        .unwrap();
    assert!(hours.read_only, "only log.retention.ms changes at run time");
    // Listing every config (no keys asked) says the same of them.
    let listed = describe(&mut c, BROKER, "0", None, false);
    for (name, value) in [
        ("log.retention.ms", None),
        ("log.roll.ms", None),
        ("log.retention.hours", Some("168")),
        ("log.roll.hours", Some("168")),
    ] {
        let (got, source, _) = raw_entry(&listed, name);
        assert_eq!(
            (got.as_deref(), source),
            (value, SOURCE_DEFAULT),
            "{name} in the full listing"
        );
    }

    set_broker_config(&mut c, "0", "log.roll.ms", "3600000");
    let all = describe(&mut c, BROKER, "0", Some(&keys), true);
    assert_eq!(
        raw_entry(&all, "log.roll.ms"),
        (
            Some("3600000".into()),
            SOURCE_DYNAMIC_BROKER,
            vec![
                row("log.roll.ms", "3600000", SOURCE_DYNAMIC_BROKER),
                row("log.roll.hours", "168", SOURCE_DEFAULT),
            ]
        )
    );
    assert_eq!(
        raw_entry(&all, "log.roll.hours").0.as_deref(),
        Some("168"),
        "the hours spelling keeps its own default"
    );
    assert_eq!(
        raw_entry(&all, "log.retention.ms"),
        (None, SOURCE_DEFAULT, vec![])
    );
}

/// Error messages as Kafka 4.2 answers them: a successful AlterConfigs or
/// IncrementalAlterConfigs resource carries a null message (Kafka's `ApiError.NONE`); a
/// DescribeConfigs result keeps the schema's default, an empty string, on success and for an
/// unknown topic; an invalid topic name is INVALID_TOPIC_EXCEPTION with Kafka's message; a
/// refused change carries its message.
#[test]
fn config_responses_carry_kafkas_error_messages() {
    use kafka_protocol::messages::alter_configs_request::{
        AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
    };
    use kafka_protocol::messages::AlterConfigsRequest;

    let b = Broker::start("config-messages", &["--cores", "1"]);
    let mut c = Conn::connect(b.shard_addr(0));
    create_topic_with(&mut c, "t", 1, &[]);
    let incremental = |resource_type: i8, name: &str, config: &str, value: &str| {
        IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s(config))
                    .with_config_operation(0)
                    .with_value(Some(s(value)))]),
        ])
    };
    for version in 0..=1 {
        for (resource_type, name, config, value) in [
            (TOPIC, "t", "retention.ms", "60000"),
            (BROKER, "", "log.retention.ms", "7200000"),
            (BROKER, "0", "log.roll.ms", "3600000"),
            (GROUP, "g", "share.auto.offset.reset", "earliest"),
        ] {
            let r = c.call(&incremental(resource_type, name, config, value), version);
            let p = &r.responses[0];
            assert_eq!(
                (p.error_code, &p.error_message),
                (0, &None),
                "v{version} {name}"
            );
        }
        let r = c.call(&incremental(TOPIC, "t", "no.such.config", "1"), version);
        let p = &r.responses[0];
        assert_ne!(p.error_code, 0);
        assert!(
            p.error_message.as_deref().is_some_and(|m| !m.is_empty()),
            "a refusal says why: {p:?}"
        );
    }
    for version in 0..=2 {
        let r = c.call(
            &AlterConfigsRequest::default().with_resources(vec![LegacyResource::default()
                .with_resource_type(TOPIC)
                .with_resource_name(s("t"))
                .with_configs(vec![LegacyConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("120000")))])]),
            version,
        );
        let p = &r.responses[0];
        assert_eq!((p.error_code, &p.error_message), (0, &None), "v{version}");
    }
    for version in 1..=4 {
        let r = c.call(
            &DescribeConfigsRequest::default().with_resources(
                [
                    (TOPIC, "t"),
                    (BROKER, "0"),
                    (TOPIC, "missing"),
                    (TOPIC, "bad/name"),
                ]
                .into_iter()
                .map(|(t, n)| {
                    DescribeConfigsResource::default()
                        .with_resource_type(t)
                        .with_resource_name(s(n))
                        .with_configuration_keys(None)
                })
                .collect(),
            ),
            version,
        );
        let got: Vec<(i16, Option<&str>)> = r
            .results
            .iter()
            .map(|x| (x.error_code, x.error_message.as_deref()))
            .collect();
        assert_eq!(
            &got[..3],
            &[(0, Some("")), (0, Some("")), (3, Some(""))],
            "v{version}"
        );
        assert_eq!(got[3].0, 17, "INVALID_TOPIC_EXCEPTION");
        assert!(
            got[3].1.is_some_and(|m| m.contains("illegal")),
            "Kafka's message: {:?}",
            got[3].1
        );
    }
}
