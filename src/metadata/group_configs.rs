//! Kafka 4.2's group configs (`GroupConfig`): the names a GROUP config resource
//! (DescribeConfigs resource type 32) lists, with the broker defaults they fall back to.
//!
//! A group's own values are set with IncrementalAlterConfigs / AlterConfigs on its GROUP
//! resource (whether or not the group exists yet, as Kafka allows) for the configs Sluice
//! applies per group ([`APPLIED`]: `share.auto.offset.reset` and `share.isolation.level`);
//! the others are refused with a message saying so rather than stored and ignored. Stored by
//! the controller beside the dynamic broker configs (`broker_configs::BrokerConfigs::per_group`)
//! and published in the snapshot. A config without a group value is the broker default,
//! source DEFAULT_CONFIG, as a Kafka 4.2 broker with default `group.consumer.*`,
//! `group.share.*` and `group.streams.*` settings describes it.

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

/// Group configs Sluice applies per group, with the values each accepts (Kafka's). Kafka 4.2
/// also accepts `by_duration:<ISO-8601 duration>` for `share.auto.offset.reset`; Sluice does
/// not (yet) and says so.
pub const APPLIED: &[(&str, &[&str])] = &[
    ("share.auto.offset.reset", &["earliest", "latest"]),
    (
        "share.isolation.level",
        &["read_committed", "read_uncommitted"],
    ),
];

/// Kafka's INVALID_CONFIG and INVALID_REQUEST codes.
const INVALID_CONFIG: i16 = 40;
const INVALID_REQUEST: i16 = 42;

/// Whether group config `name` may be set to `value` on group `group`: (code, message) when
/// not. Unknown names get Kafka's INVALID_CONFIG; known ones Sluice doesn't apply per group
/// INVALID_REQUEST with the reason.
pub fn validate(group: &str, name: &str, value: Option<&str>) -> Result<(), (i16, String)> {
    let Some((_, allowed)) = APPLIED.iter().find(|(n, _)| *n == name) else {
        if GROUP_CONFIGS.iter().any(|(n, _, _)| *n == name) {
            return Err((
                INVALID_REQUEST,
                format!(
                    "Invalid config value for resource ConfigResource(type=GROUP, name='{group}'): \
                     Sluice applies only {} per group; {name} is the broker's setting",
                    APPLIED
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            ));
        }
        return Err((INVALID_CONFIG, format!("Unknown group config name: {name}")));
    };
    match value {
        None => Ok(()),
        Some(v) if allowed.contains(&v.trim()) => Ok(()),
        Some(v) => Err((
            INVALID_CONFIG,
            format!(
                "Invalid value {v} for configuration {name}: String must be one of: {}",
                allowed.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_applied_configs_with_kafka_values_are_accepted() {
        assert!(validate("g", "share.auto.offset.reset", Some("earliest")).is_ok());
        assert!(validate("g", "share.isolation.level", Some("read_committed")).is_ok());
        assert!(validate("g", "share.isolation.level", None).is_ok());
        assert_eq!(
            validate("g", "share.auto.offset.reset", Some("oldest"))
                .unwrap_err()
                .0,
            40
        );
        assert_eq!(
            validate("g", "no.such.config", Some("1")).unwrap_err().0,
            40
        );
        assert_eq!(
            validate("g", "consumer.session.timeout.ms", Some("50000"))
                .unwrap_err()
                .0,
            42
        );
        assert!(APPLIED
            .iter()
            .all(|(n, _)| GROUP_CONFIGS.iter().any(|(g, _, _)| g == n)));
    }

    #[test]
    fn names_are_sorted_and_unique() {
        assert!(GROUP_CONFIGS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
