//! Kafka 4.2's group configs (`GroupConfig`): the names a GROUP config resource
//! (DescribeConfigs / IncrementalAlterConfigs resource type 32) has, with the broker defaults
//! they fall back to, and the per-group overrides set through IncrementalAlterConfigs.
//!
//! Overrides are stored by the controller (shard 0) in `<data-dir>/meta/group-configs.json`
//! (written whole, durably, before it is published) and published to every shard inside the
//! metadata [`Snapshot`](super::Snapshot) as an immutable [`GroupConfigs`]. Every name is
//! accepted and stored as Kafka accepts it; Sluice applies `consumer.session.timeout.ms` and
//! `consumer.heartbeat.interval.ms` (KIP-848 groups), each bounded by the broker's
//! `group.consumer.{min,max}.*` as Kafka bounds them. Pure data and rules here.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Kafka's `DescribeConfigsResponse` config types used here.
pub const CONFIG_TYPE_STRING: i8 = 2;
pub const CONFIG_TYPE_INT: i8 = 3;

/// (name, default value, config type), in name order as Kafka lists them.
pub const GROUP_CONFIGS: &[(&str, &str, i8)] = &[
    ("consumer.heartbeat.interval.ms", "5000", CONFIG_TYPE_INT),
    ("consumer.session.timeout.ms", "45000", CONFIG_TYPE_INT),
    ("share.auto.offset.reset", "latest", CONFIG_TYPE_STRING),
    ("share.heartbeat.interval.ms", "5000", CONFIG_TYPE_INT),
    (
        "share.isolation.level",
        "read_uncommitted",
        CONFIG_TYPE_STRING,
    ),
    ("share.record.lock.duration.ms", "30000", CONFIG_TYPE_INT),
    ("share.session.timeout.ms", "45000", CONFIG_TYPE_INT),
    ("streams.heartbeat.interval.ms", "5000", CONFIG_TYPE_INT),
    (
        "streams.initial.rebalance.delay.ms",
        "3000",
        CONFIG_TYPE_INT,
    ),
    ("streams.num.standby.replicas", "0", CONFIG_TYPE_INT),
    ("streams.session.timeout.ms", "45000", CONFIG_TYPE_INT),
];

pub const CONSUMER_SESSION_TIMEOUT_MS: &str = "consumer.session.timeout.ms";
pub const CONSUMER_HEARTBEAT_INTERVAL_MS: &str = "consumer.heartbeat.interval.ms";

/// Per-group overrides: group id → config name → value. Immutable once published; shared by
/// every shard (`Arc`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupConfigs {
    pub groups: BTreeMap<String, BTreeMap<String, String>>,
}

impl GroupConfigs {
    /// Load from `path`; an absent file is no overrides.
    pub fn load(path: &Path) -> std::io::Result<GroupConfigs> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GroupConfigs::default()),
            Err(e) => Err(e),
        }
    }

    /// The file's whole content.
    pub fn image(&self) -> std::io::Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(std::io::Error::other)
    }

    /// One group's overrides (empty: none).
    pub fn of(&self, group: &str) -> BTreeMap<String, String> {
        self.groups.get(group).cloned().unwrap_or_default()
    }

    /// These overrides with `group`'s replaced by `configs` (none: the group's entry goes).
    pub fn with_group(&self, group: &str, configs: BTreeMap<String, String>) -> GroupConfigs {
        let mut next = self.clone();
        if configs.is_empty() {
            next.groups.remove(group);
        } else {
            next.groups.insert(group.to_string(), configs);
        }
        next
    }

    /// An integer override of `group`, if set (values are validated before they are stored).
    pub fn get_u64(&self, group: &str, name: &str) -> Option<u64> {
        self.groups
            .get(group)
            .and_then(|c| c.get(name))
            .and_then(|v| v.parse().ok())
    }
}

/// The file the overrides persist to, under the data directory.
pub fn path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("meta").join("group-configs.json")
}

/// The broker settings a group's `consumer.*` overrides are checked against (Kafka's
/// `group.consumer.*` broker configs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerBounds {
    pub session_timeout_ms: u64,
    pub session_timeout_ms_min: u64,
    pub session_timeout_ms_max: u64,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_interval_ms_min: u64,
    pub heartbeat_interval_ms_max: u64,
}

/// Is `name` a group config Kafka knows?
pub fn is_known(name: &str) -> bool {
    GROUP_CONFIGS.iter().any(|(n, _, _)| *n == name)
}

/// Is `value` a valid value for group config `name` on its own (Kafka's `GroupConfig`
/// definitions)? Unknown names are refused. The message is INVALID_CONFIG's.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let Some((_, _, config_type)) = GROUP_CONFIGS.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("Unknown group config name: {name}"));
    };
    let v = value.trim();
    let ok = match (name, *config_type) {
        ("share.auto.offset.reset", _) => {
            matches!(v, "latest" | "earliest") || v.starts_with("by_duration:")
        }
        ("share.isolation.level", _) => matches!(v, "read_committed" | "read_uncommitted"),
        ("streams.num.standby.replicas" | "streams.initial.rebalance.delay.ms", _) => {
            v.parse::<i32>().is_ok_and(|n| n >= 0)
        }
        (_, CONFIG_TYPE_INT) => v.parse::<i32>().is_ok_and(|n| n >= 1),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("Invalid value {value} for configuration {name}"))
    }
}

/// Kafka's `GroupConfig.validate` for the `consumer.*` overrides of one group (`configs`, after
/// the change): each within the broker's bounds, the heartbeat below the session timeout (the
/// broker's value standing in for one not overridden).
pub fn check_consumer(
    configs: &BTreeMap<String, String>,
    b: &ConsumerBounds,
) -> Result<(), String> {
    let get = |name: &str, default: u64| {
        configs
            .get(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(default)
    };
    let session = get(CONSUMER_SESSION_TIMEOUT_MS, b.session_timeout_ms);
    let heartbeat = get(CONSUMER_HEARTBEAT_INTERVAL_MS, b.heartbeat_interval_ms);
    let checks = [
        (
            heartbeat < b.heartbeat_interval_ms_min,
            format!("{CONSUMER_HEARTBEAT_INTERVAL_MS} must be greater than or equal to group.consumer.min.heartbeat.interval.ms"),
        ),
        (
            heartbeat > b.heartbeat_interval_ms_max,
            format!("{CONSUMER_HEARTBEAT_INTERVAL_MS} must be less than or equal to group.consumer.max.heartbeat.interval.ms"),
        ),
        (
            session < b.session_timeout_ms_min,
            format!("{CONSUMER_SESSION_TIMEOUT_MS} must be greater than or equal to group.consumer.min.session.timeout.ms"),
        ),
        (
            session > b.session_timeout_ms_max,
            format!("{CONSUMER_SESSION_TIMEOUT_MS} must be less than or equal to group.consumer.max.session.timeout.ms"),
        ),
        (
            heartbeat >= session,
            format!("{CONSUMER_HEARTBEAT_INTERVAL_MS} must be less than {CONSUMER_SESSION_TIMEOUT_MS}"),
        ),
    ];
    match checks.into_iter().find(|(bad, _)| *bad) {
        Some((_, message)) => Err(message),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: ConsumerBounds = ConsumerBounds {
        session_timeout_ms: 45_000,
        session_timeout_ms_min: 45_000,
        session_timeout_ms_max: 60_000,
        heartbeat_interval_ms: 5_000,
        heartbeat_interval_ms_min: 5_000,
        heartbeat_interval_ms_max: 15_000,
    };

    fn one(name: &str, v: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(name.to_string(), v.to_string())])
    }

    #[test]
    fn values_and_bounds() {
        assert!(validate("consumer.session.timeout.ms", "50000").is_ok());
        assert!(validate("consumer.session.timeout.ms", "0").is_err());
        assert!(validate("consumer.session.timeout.ms", "x").is_err());
        assert!(validate("share.isolation.level", "read_committed").is_ok());
        assert!(validate("share.isolation.level", "dirty").is_err());
        assert!(validate("no.such", "1").is_err());
        assert!(check_consumer(&one(CONSUMER_SESSION_TIMEOUT_MS, "60000"), &BOUNDS).is_ok());
        assert!(check_consumer(&one(CONSUMER_SESSION_TIMEOUT_MS, "60001"), &BOUNDS).is_err());
        assert!(check_consumer(&one(CONSUMER_SESSION_TIMEOUT_MS, "44999"), &BOUNDS).is_err());
        assert!(check_consumer(&one(CONSUMER_HEARTBEAT_INTERVAL_MS, "15000"), &BOUNDS).is_ok());
        assert!(check_consumer(&one(CONSUMER_HEARTBEAT_INTERVAL_MS, "4999"), &BOUNDS).is_err());
        let wide = ConsumerBounds {
            heartbeat_interval_ms_max: 100_000,
            ..BOUNDS
        };
        let e = check_consumer(&one(CONSUMER_HEARTBEAT_INTERVAL_MS, "45000"), &wide).unwrap_err();
        assert!(
            e.contains("must be less than consumer.session.timeout.ms"),
            "{e}"
        );
    }

    #[test]
    fn share_configs_take_kafkas_values() {
        assert!(validate("share.auto.offset.reset", "earliest").is_ok());
        assert!(validate("share.auto.offset.reset", "latest").is_ok());
        assert!(validate("share.auto.offset.reset", "oldest").is_err());
        assert!(validate("share.isolation.level", "read_uncommitted").is_ok());
    }

    #[test]
    fn names_are_sorted_and_unique() {
        assert!(GROUP_CONFIGS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
