//! Kafka 4.2's group configs (`GroupConfig`): the names a GROUP config resource
//! (DescribeConfigs resource type 32) lists, with the broker defaults they fall back to.
//!
//! Sluice coordinates classic groups only, which none of these govern (a classic member
//! sends its own session timeout), and keeps no per-group overrides: every value is the
//! default, source DEFAULT_CONFIG, as a Kafka 4.2 broker with default `group.consumer.*`,
//! `group.share.*` and `group.streams.*` settings describes a group without overrides.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_and_unique() {
        assert!(GROUP_CONFIGS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
