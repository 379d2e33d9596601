//! Dynamic broker configs: the broker configs Kafka lets AlterConfigs /
//! IncrementalAlterConfigs change at run time and Sluice applies at run time, set for the
//! cluster default resource (BROKER, name `""`: Kafka's DYNAMIC_DEFAULT_BROKER_CONFIG) or for
//! one broker id (DYNAMIC_BROKER_CONFIG).
//!
//! Every shard advertises itself as a broker, so a broker id is a shard, and a per-broker
//! value means what it means in Kafka: that broker's default, for the partitions it hosts
//! (here: the partitions its shard owns) and the connections it accepts. A partition's owner
//! shard is fixed until `--cores` changes, which reassigns partitions; README says so.
//! (librdkafka cannot name the cluster default, its config resources need a name, so its
//! users set broker configs per broker id.)
//!
//! Stored by the controller (shard 0) in `<data-dir>/meta/broker-configs.json`, written whole
//! and durably before a new snapshot is published (as `client-quotas.json`):
//!
//! ```text
//! { "cluster_default": { "log.retention.ms": "3600000" },
//!   "per_broker": { "1": { "log.segment.bytes": "1048576" } } }
//! ```
//!
//! A broker's value overrides the cluster default, which overrides the serve flag behind
//! it; a topic's own config overrides them all (`BrokerConfig::topic_config_default`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a dynamic broker config's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A LONG at least `min`.
    Long { min: i64 },
    /// An INT at least `min`.
    Int { min: i64 },
    /// One of these strings (case-sensitive, as Kafka's `ValidString`).
    OneOf(&'static [&'static str]),
}

/// (broker config, the topic config it is the default of, its kind), by name. Each is dynamic
/// in Kafka 4.2 (`DynamicBrokerConfig`: log cleaner/retention defaults, `max.connections`)
/// and applied by Sluice without a restart: topic defaults when each shard adopts the
/// snapshot, `max.connections` at the next accept.
pub const DYNAMIC_BROKER_CONFIGS: &[(&str, Option<&str>, Kind)] = &[
    (
        "log.flush.interval.messages",
        Some("flush.messages"),
        Kind::Long { min: 1 },
    ),
    (
        "log.flush.interval.ms",
        Some("flush.ms"),
        Kind::Long { min: 0 },
    ),
    (
        "log.index.interval.bytes",
        Some("index.interval.bytes"),
        Kind::Int { min: 0 },
    ),
    (
        "log.message.timestamp.type",
        Some("message.timestamp.type"),
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    (
        "log.retention.bytes",
        Some("retention.bytes"),
        Kind::Long { min: i64::MIN },
    ),
    (
        "log.retention.ms",
        Some("retention.ms"),
        Kind::Long { min: -1 },
    ),
    ("log.roll.ms", Some("segment.ms"), Kind::Long { min: 1 }),
    (
        "log.preallocate",
        Some("preallocate"),
        Kind::OneOf(&["true", "false"]),
    ),
    (
        "log.segment.bytes",
        Some("segment.bytes"),
        Kind::Int { min: 14 },
    ),
    ("max.connections", None, Kind::Int { min: 0 }),
    (
        "min.insync.replicas",
        Some("min.insync.replicas"),
        Kind::Int { min: 1 },
    ),
    (
        "message.max.bytes",
        Some("max.message.bytes"),
        Kind::Int { min: 0 },
    ),
];

/// Broker configs Kafka 4.2 treats as dynamic that Sluice cannot change at run time: refused
/// with a message saying so (set the serve flag and restart), rather than stored and ignored.
const DYNAMIC_IN_KAFKA_NOT_HERE: &[&str] = &[
    "log.retention.hours",
    "log.retention.minutes",
    "log.roll.hours",
    "log.roll.jitter.ms",
    "log.roll.jitter.hours",
    "log.cleanup.policy",
    "log.cleaner.threads",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.cleaner.backoff.ms",
    "log.cleaner.min.cleanable.ratio",
    "log.cleaner.delete.retention.ms",
    "log.cleaner.min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms",
    "log.index.size.max.bytes",
    "log.message.timestamp.before.max.ms",
    "log.message.timestamp.after.max.ms",
    "compression.type",
    "unclean.leader.election.enable",
    "num.io.threads",
    "num.network.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "background.threads",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "max.connection.creation.rate",
    "log.local.retention.ms",
    "log.local.retention.bytes",
];

/// Why a change of broker configs is refused: Kafka's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfigError {
    pub code: i16,
    pub message: String,
}

/// Kafka's INVALID_CONFIG and INVALID_REQUEST codes.
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

/// The cluster default dynamic broker configs (one immutable generation, in the snapshot).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerConfigs {
    /// Set for the cluster default resource `""`, by broker config name.
    #[serde(default)]
    pub cluster_default: BTreeMap<String, String>,
    /// Set for one broker id (a shard), by broker id, then name.
    #[serde(default)]
    pub per_broker: BTreeMap<u32, BTreeMap<String, String>>,
}

/// Where a broker's value of a dynamic config comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Set for this broker id (Kafka's DYNAMIC_BROKER_CONFIG).
    Broker,
    /// Set for the cluster default (DYNAMIC_DEFAULT_BROKER_CONFIG).
    ClusterDefault,
}

/// The row of a dynamic broker config Sluice applies.
pub fn dynamic(name: &str) -> Option<&'static (&'static str, Option<&'static str>, Kind)> {
    DYNAMIC_BROKER_CONFIGS.iter().find(|(n, _, _)| *n == name)
}

/// The broker config that is the default of topic config `topic_config`, if dynamic here.
pub fn for_topic_config(topic_config: &str) -> Option<&'static str> {
    DYNAMIC_BROKER_CONFIGS
        .iter()
        .find(|(_, t, _)| *t == Some(topic_config))
        .map(|(n, _, _)| *n)
}

/// Is `value` a valid value of dynamic broker config `name`? Kafka's messages.
pub fn validate(name: &str, value: &str) -> Result<(), BrokerConfigError> {
    let Some((_, _, kind)) = dynamic(name) else {
        return Err(refusal(name));
    };
    let invalid = |why: &str| BrokerConfigError {
        code: INVALID_CONFIG,
        message: format!("Invalid value {value} for configuration {name}: {why}"),
    };
    match kind {
        Kind::Long { min } => match value.trim().parse::<i64>() {
            Err(_) => Err(invalid("Not a number of type LONG")),
            Ok(v) if v < *min => Err(invalid(&format!("Value must be at least {min}"))),
            Ok(_) => Ok(()),
        },
        Kind::Int { min } => match value.trim().parse::<i32>() {
            Err(_) => Err(invalid("Not a number of type INT")),
            Ok(v) if i64::from(v) < *min => Err(invalid(&format!("Value must be at least {min}"))),
            Ok(_) => Ok(()),
        },
        Kind::OneOf(allowed) => {
            if allowed.contains(&value.trim()) {
                Ok(())
            } else {
                Err(invalid(&format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )))
            }
        }
    }
}

/// The refusal of broker config `name` for the cluster default resource: Kafka's "Cannot
/// update these configs dynamically" for a static config, Sluice's reason for the others.
pub fn refusal(name: &str) -> BrokerConfigError {
    refusal_for("", name)
}

/// As [`refusal`], naming the resource (`""` or a broker id) as Kafka's message does.
pub fn refusal_for(resource: &str, name: &str) -> BrokerConfigError {
    let why = if DYNAMIC_IN_KAFKA_NOT_HERE.contains(&name) {
        format!(
            "Sluice cannot change {name} at run time; set it with its serve flag (where it has \
             one) and restart"
        )
    } else if crate::metadata::configs::default_of(name).is_some() {
        format!("{name} is a topic config, not a broker config")
    } else {
        format!("Cannot update these configs dynamically: Set({name})")
    };
    BrokerConfigError {
        code: INVALID_REQUEST,
        message: format!(
            "Invalid config value for resource ConfigResource(type=BROKER, name='{resource}'): {why}"
        ),
    }
}

impl BrokerConfigs {
    /// Broker `broker`'s value of broker config `name` and where it is set, if anywhere.
    pub fn get(&self, broker: u32, name: &str) -> Option<(&str, Level)> {
        if let Some(v) = self.per_broker.get(&broker).and_then(|m| m.get(name)) {
            return Some((v, Level::Broker));
        }
        self.cluster_default
            .get(name)
            .map(|v| (v.as_str(), Level::ClusterDefault))
    }

    /// Broker `broker`'s value of the broker config behind topic config `topic_config`.
    pub fn topic_default(&self, broker: u32, topic_config: &str) -> Option<(&str, Level)> {
        for_topic_config(topic_config).and_then(|n| self.get(broker, n))
    }

    /// Broker `broker`'s i64 value of `name`, if set (validated on the way in, so it parses).
    pub fn get_i64(&self, broker: u32, name: &str) -> Option<i64> {
        self.get(broker, name)
            .and_then(|(v, _)| v.trim().parse().ok())
    }

    /// The configs set at one level: the cluster default (None) or a broker id.
    pub fn level(&self, broker: Option<u32>) -> BTreeMap<String, String> {
        match broker {
            None => self.cluster_default.clone(),
            Some(id) => self.per_broker.get(&id).cloned().unwrap_or_default(),
        }
    }

    /// These configs with one level replaced by `configs` (an empty map removes it).
    pub fn with_level(&self, broker: Option<u32>, configs: BTreeMap<String, String>) -> Self {
        let mut next = self.clone();
        match broker {
            None => next.cluster_default = configs,
            Some(id) if configs.is_empty() => {
                next.per_broker.remove(&id);
            }
            Some(id) => {
                next.per_broker.insert(id, configs);
            }
        }
        next
    }

    /// Load from `path`; an absent file is no dynamic configs.
    pub fn load(path: &Path) -> std::io::Result<BrokerConfigs> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BrokerConfigs::default()),
            Err(e) => Err(e),
        }
    }

    /// The file's whole content.
    pub fn image(&self) -> std::io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(std::io::Error::other)
    }
}

/// The file the dynamic broker configs persist to, under the data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("meta").join("broker-configs.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_kafka_types_them() {
        assert!(validate("log.retention.ms", "-1").is_ok());
        assert_eq!(validate("log.retention.ms", "-2").unwrap_err().code, 40);
        assert_eq!(validate("log.segment.bytes", "13").unwrap_err().code, 40);
        assert_eq!(
            validate("log.segment.bytes", "4294967296")
                .unwrap_err()
                .message,
            "Invalid value 4294967296 for configuration log.segment.bytes: Not a number of type INT"
        );
        assert!(validate("log.message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("log.message.timestamp.type", "logappendtime").is_err());
        assert_eq!(validate("num.partitions", "3").unwrap_err().code, 42);
        assert!(refusal("num.partitions")
            .message
            .ends_with("Cannot update these configs dynamically: Set(num.partitions)"));
    }

    #[test]
    fn topic_defaults_come_from_their_broker_config() {
        let mut c = BrokerConfigs::default();
        c.cluster_default
            .insert("log.segment.bytes".into(), "1024".into());
        c.per_broker.insert(
            1,
            BTreeMap::from([("log.segment.bytes".to_string(), "2048".to_string())]),
        );
        assert_eq!(
            c.topic_default(0, "segment.bytes"),
            Some(("1024", Level::ClusterDefault))
        );
        assert_eq!(
            c.topic_default(1, "segment.bytes"),
            Some(("2048", Level::Broker))
        );
        assert_eq!(c.topic_default(0, "retention.ms"), None);
        let image = c.image().unwrap();
        let back: BrokerConfigs = serde_json::from_slice(&image).unwrap();
        assert_eq!(back, c);
    }
}
