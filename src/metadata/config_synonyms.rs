//! DescribeConfigs' config sources and synonyms, as Kafka 4.2's `ConfigHelper` builds them.
//!
//! A topic config's value comes from the first of: the topic's own override
//! (DYNAMIC_TOPIC_CONFIG), then its broker synonym (`retention.ms` → `log.retention.ms`) set
//! for this broker (DYNAMIC_BROKER_CONFIG), for the cluster default
//! (DYNAMIC_DEFAULT_BROKER_CONFIG), by a serve flag (STATIC_BROKER_CONFIG), else Kafka's default
//! of the broker config (DEFAULT_CONFIG). With `include_synonyms` every level that holds a value
//! is listed, in that order. Kafka lists, after the main broker config, its alternative spellings
//! that have a default (`log.retention.hours=168` behind `log.retention.ms`) and then drops every
//! synonym before the first one named as the main broker config: so a `retention.ms` that no
//! level sets lists no synonyms (its main broker config has no default; the hours one does).
//!
//! A serve flag counts as set (STATIC_BROKER_CONFIG) when its value differs from Kafka's
//! effective default: Sluice cannot tell a flag given at its default from one not given, and a
//! Sluice default that differs from Kafka's (the cleaner's buffer, say) is a static setting of
//! this broker, not Kafka's default.
//!
//! Pure data and functions; used by the handlers on whichever shard answers.

use crate::metadata::broker_configs::{BrokerConfigs, Level};

/// Kafka's ConfigSource ids.
pub const SOURCE_TOPIC: i8 = 1;
pub const SOURCE_DYNAMIC_BROKER: i8 = 2;
pub const SOURCE_DYNAMIC_DEFAULT_BROKER: i8 = 3;
pub const SOURCE_STATIC_BROKER: i8 = 4;
pub const SOURCE_DEFAULT: i8 = 5;

/// A broker config as DescribeConfigs' synonyms need it.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfigDef {
    pub name: &'static str,
    /// Kafka's declared default (None: declared without one, another spelling holds it).
    pub kafka_default: Option<&'static str>,
    /// The value Kafka runs with when nothing is set (what a flag is compared with).
    pub effective_default: &'static str,
    /// An alternative spelling with a default, listed after the main one (Kafka's
    /// `log.retention.hours` behind `log.retention.ms`).
    pub defaulted_synonym: Option<(&'static str, &'static str)>,
}

const fn def(name: &'static str, default: &'static str) -> BrokerConfigDef {
    BrokerConfigDef {
        name,
        kafka_default: Some(default),
        effective_default: default,
        defaulted_synonym: None,
    }
}

const fn via(
    name: &'static str,
    effective_default: &'static str,
    synonym: &'static str,
    synonym_default: &'static str,
) -> BrokerConfigDef {
    BrokerConfigDef {
        name,
        kafka_default: None,
        effective_default,
        defaulted_synonym: Some((synonym, synonym_default)),
    }
}

const LONG_MAX: &str = "9223372036854775807";

/// (topic config, its broker config), Kafka 4.2's `ServerTopicConfigSynonyms`. Topic configs
/// not listed have no broker synonym (tiered-storage switches, replication throttles).
pub const TOPIC_CONFIG_SYNONYMS: &[(&str, BrokerConfigDef)] = &[
    ("cleanup.policy", def("log.cleanup.policy", "delete")),
    ("compression.type", def("compression.type", "producer")),
    (
        "delete.retention.ms",
        def("log.cleaner.delete.retention.ms", "86400000"),
    ),
    (
        "file.delete.delay.ms",
        def("log.segment.delete.delay.ms", "60000"),
    ),
    (
        "flush.messages",
        def("log.flush.interval.messages", LONG_MAX),
    ),
    (
        "flush.ms",
        via(
            "log.flush.interval.ms",
            LONG_MAX,
            "log.flush.scheduler.interval.ms",
            LONG_MAX,
        ),
    ),
    (
        "index.interval.bytes",
        def("log.index.interval.bytes", "4096"),
    ),
    (
        "local.retention.bytes",
        def("log.local.retention.bytes", "-2"),
    ),
    ("local.retention.ms", def("log.local.retention.ms", "-2")),
    (
        "max.compaction.lag.ms",
        def("log.cleaner.max.compaction.lag.ms", LONG_MAX),
    ),
    ("max.message.bytes", def("message.max.bytes", "1048588")),
    (
        "message.timestamp.after.max.ms",
        def("log.message.timestamp.after.max.ms", "3600000"),
    ),
    (
        "message.timestamp.before.max.ms",
        def("log.message.timestamp.before.max.ms", LONG_MAX),
    ),
    (
        "message.timestamp.type",
        def("log.message.timestamp.type", "CreateTime"),
    ),
    (
        "min.cleanable.dirty.ratio",
        def("log.cleaner.min.cleanable.ratio", "0.5"),
    ),
    (
        "min.compaction.lag.ms",
        def("log.cleaner.min.compaction.lag.ms", "0"),
    ),
    ("min.insync.replicas", def("min.insync.replicas", "1")),
    ("preallocate", def("log.preallocate", "false")),
    ("retention.bytes", def("log.retention.bytes", "-1")),
    (
        "retention.ms",
        via(
            "log.retention.ms",
            "604800000",
            "log.retention.hours",
            "168",
        ),
    ),
    ("segment.bytes", def("log.segment.bytes", "1073741824")),
    (
        "segment.index.bytes",
        def("log.index.size.max.bytes", "10485760"),
    ),
    (
        "segment.jitter.ms",
        via("log.roll.jitter.ms", "0", "log.roll.jitter.hours", "0"),
    ),
    (
        "segment.ms",
        via("log.roll.ms", "604800000", "log.roll.hours", "168"),
    ),
    (
        "unclean.leader.election.enable",
        def("unclean.leader.election.enable", "false"),
    ),
];

/// Broker configs DescribeConfigs lists for a broker that are not a topic config's synonym.
pub const OTHER_BROKER_CONFIGS: &[BrokerConfigDef] = &[
    def("auto.create.topics.enable", "true"),
    def("default.replication.factor", "1"),
    def("log.cleaner.backoff.ms", "15000"),
    def("log.cleaner.dedupe.buffer.size", "134217728"),
    def("log.cleaner.enable", "true"),
    def(
        "log.cleaner.io.max.bytes.per.second",
        "1.7976931348623157E308",
    ),
    def("log.retention.check.interval.ms", "300000"),
    def("max.connections", "2147483647"),
    def("num.partitions", "1"),
    def("offsets.topic.num.partitions", "50"),
    def("socket.request.max.bytes", "104857600"),
];

/// The broker config behind topic config `topic_config`, if it has one.
pub fn broker_synonym_of(topic_config: &str) -> Option<&'static BrokerConfigDef> {
    TOPIC_CONFIG_SYNONYMS
        .iter()
        .find(|(t, _)| *t == topic_config)
        .map(|(_, b)| b)
}

/// Broker config `name`'s definition, if DescribeConfigs knows it.
pub fn broker_config(name: &str) -> Option<&'static BrokerConfigDef> {
    TOPIC_CONFIG_SYNONYMS
        .iter()
        .map(|(_, b)| b)
        .chain(OTHER_BROKER_CONFIGS)
        .find(|b| b.name == name)
}

/// One synonym: (name, value, source).
pub type Synonym = (String, String, i8);

/// Broker config `b`'s synonyms on broker `shard`, highest precedence first, as Kafka's
/// `configSynonyms`: set for the broker, for the cluster default, by a flag (`flag_value`,
/// counted when it differs from Kafka's effective default), Kafka's default.
pub fn broker_synonyms(
    dynamic: &BrokerConfigs,
    shard: u32,
    b: &BrokerConfigDef,
    flag_value: &str,
) -> Vec<Synonym> {
    let mut out = Vec::new();
    if let Some(v) = dynamic.per_broker.get(&shard).and_then(|m| m.get(b.name)) {
        out.push((b.name.to_string(), v.clone(), SOURCE_DYNAMIC_BROKER));
    }
    if let Some(v) = dynamic.cluster_default.get(b.name) {
        out.push((b.name.to_string(), v.clone(), SOURCE_DYNAMIC_DEFAULT_BROKER));
    }
    if flag_value != b.effective_default {
        out.push((
            b.name.to_string(),
            flag_value.to_string(),
            SOURCE_STATIC_BROKER,
        ));
    }
    if let Some(d) = b.kafka_default {
        out.push((b.name.to_string(), d.to_string(), SOURCE_DEFAULT));
    }
    if let Some((n, d)) = b.defaulted_synonym {
        out.push((n.to_string(), d.to_string(), SOURCE_DEFAULT));
    }
    // Kafka drops what comes before the first synonym named as the config itself.
    match out.iter().position(|(n, _, _)| n == b.name) {
        Some(first) => out.split_off(first),
        None => Vec::new(),
    }
}

/// A topic config's synonyms: its own override (`topic_value`), then its broker config's.
pub fn topic_synonyms(
    dynamic: &BrokerConfigs,
    shard: u32,
    topic_config: &str,
    topic_value: Option<&str>,
    flag_value: &str,
) -> Vec<Synonym> {
    let mut out = Vec::new();
    if let Some(v) = topic_value {
        out.push((topic_config.to_string(), v.to_string(), SOURCE_TOPIC));
    }
    if let Some(b) = broker_synonym_of(topic_config) {
        out.extend(broker_synonyms(dynamic, shard, b, flag_value));
    }
    out
}

/// The source of an entry whose synonyms are `synonyms`: the first one's, else DEFAULT_CONFIG.
pub fn source_of(synonyms: &[Synonym]) -> i8 {
    synonyms.first().map_or(SOURCE_DEFAULT, |(_, _, s)| *s)
}

/// Kafka's ConfigSource for a dynamic broker config set at `level`.
pub fn dynamic_source(level: Level) -> i8 {
    match level {
        Level::Broker => SOURCE_DYNAMIC_BROKER,
        Level::ClusterDefault => SOURCE_DYNAMIC_DEFAULT_BROKER,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_synonym_names_a_known_topic_config() {
        for (t, b) in TOPIC_CONFIG_SYNONYMS {
            assert!(
                crate::metadata::configs::default_of(t).is_some(),
                "{t} is not a topic config"
            );
            assert!(
                b.kafka_default.is_some() || b.defaulted_synonym.is_some(),
                "{t}"
            );
        }
    }

    #[test]
    fn synonyms_follow_kafkas_precedence_and_drop_rule() {
        let mut d = BrokerConfigs::default();
        // Nothing set: the main config has no default of its own, so nothing is listed.
        assert_eq!(
            topic_synonyms(&d, 0, "retention.ms", None, "604800000"),
            vec![]
        );
        assert_eq!(
            topic_synonyms(&d, 0, "segment.bytes", None, "1073741824"),
            vec![(
                "log.segment.bytes".into(),
                "1073741824".into(),
                SOURCE_DEFAULT
            )]
        );
        d.cluster_default
            .insert("log.retention.ms".into(), "1000".into());
        d.per_broker.insert(
            1,
            BTreeMap::from([("log.retention.ms".to_string(), "2000".to_string())]),
        );
        let s = topic_synonyms(&d, 1, "retention.ms", Some("5"), "3000");
        let sources: Vec<_> = s
            .iter()
            .map(|(n, v, s)| (n.as_str(), v.as_str(), *s))
            .collect();
        assert_eq!(
            sources,
            vec![
                ("retention.ms", "5", SOURCE_TOPIC),
                ("log.retention.ms", "2000", SOURCE_DYNAMIC_BROKER),
                ("log.retention.ms", "1000", SOURCE_DYNAMIC_DEFAULT_BROKER),
                ("log.retention.ms", "3000", SOURCE_STATIC_BROKER),
                ("log.retention.hours", "168", SOURCE_DEFAULT),
            ]
        );
        assert_eq!(source_of(&s), SOURCE_TOPIC);
        assert_eq!(source_of(&s[1..]), SOURCE_DYNAMIC_BROKER);
        assert_eq!(source_of(&[]), SOURCE_DEFAULT);
    }
}
