//! Kafka topic configs: every name Apache Kafka accepts, its default, and whether Sluice
//! implements its behaviour yet (README lists the ones it only stores).

/// (name, Kafka's default value, implemented by Sluice)
pub const TOPIC_CONFIGS: &[(&str, &str, bool)] = &[
    ("cleanup.policy", "delete", true),
    ("compression.type", "producer", false),
    ("delete.retention.ms", "86400000", true),
    ("file.delete.delay.ms", "60000", false),
    ("flush.messages", "9223372036854775807", true),
    ("flush.ms", "9223372036854775807", true),
    ("follower.replication.throttled.replicas", "", false),
    ("index.interval.bytes", "4096", true),
    ("leader.replication.throttled.replicas", "", false),
    ("local.retention.bytes", "-2", false),
    ("local.retention.ms", "-2", false),
    ("max.compaction.lag.ms", "9223372036854775807", true),
    ("max.message.bytes", "1048588", true),
    ("message.downconversion.enable", "true", false),
    ("message.format.version", "3.0-IV1", false),
    (
        "message.timestamp.after.max.ms",
        "9223372036854775807",
        false,
    ),
    (
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        false,
    ),
    (
        "message.timestamp.difference.max.ms",
        "9223372036854775807",
        false,
    ),
    ("message.timestamp.type", "CreateTime", false),
    ("min.cleanable.dirty.ratio", "0.5", true),
    ("min.compaction.lag.ms", "0", true),
    ("min.insync.replicas", "1", true),
    ("preallocate", "false", false),
    ("remote.log.copy.disable", "false", false),
    ("remote.log.delete.on.disable", "false", false),
    ("remote.storage.enable", "false", false),
    ("retention.bytes", "-1", true),
    ("retention.ms", "604800000", true),
    ("segment.bytes", "1073741824", true),
    ("segment.index.bytes", "10485760", false),
    ("segment.jitter.ms", "0", false),
    ("segment.ms", "604800000", true),
    ("unclean.leader.election.enable", "false", false),
];

/// Kafka's default for a topic config, or None for a name Kafka doesn't know.
pub fn default_of(name: &str) -> Option<&'static str> {
    TOPIC_CONFIGS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, d, _)| *d)
}

/// Why a config value was refused (INVALID_CONFIG with this message).
pub fn validate(name: &str, value: Option<&str>) -> Result<(), String> {
    if default_of(name).is_none() {
        return Err(format!("Unknown topic config name: {name}"));
    }
    let Some(value) = value else { return Ok(()) };
    let numeric = matches!(
        name,
        "segment.bytes"
            | "segment.ms"
            | "retention.ms"
            | "retention.bytes"
            | "max.message.bytes"
            | "flush.messages"
            | "flush.ms"
            | "index.interval.bytes"
            | "min.insync.replicas"
            | "delete.retention.ms"
            | "segment.index.bytes"
            | "segment.jitter.ms"
            | "min.compaction.lag.ms"
            | "max.compaction.lag.ms"
    );
    if numeric && value.trim().parse::<i64>().is_err() {
        return Err(format!(
            "Invalid value {value} for configuration {name}: not a number"
        ));
    }
    if name == "segment.bytes" && value.trim().parse::<i64>().is_ok_and(|v| v < 14) {
        return Err(format!(
            "Invalid value {value} for configuration segment.bytes: must be at least 14"
        ));
    }
    if name == "min.cleanable.dirty.ratio"
        && !value
            .trim()
            .parse::<f64>()
            .is_ok_and(|r| (0.0..=1.0).contains(&r))
    {
        return Err(format!(
            "Invalid value {value} for configuration min.cleanable.dirty.ratio: Value must be between 0 and 1"
        ));
    }
    if name == "cleanup.policy"
        && !value
            .split(',')
            .all(|p| matches!(p.trim(), "delete" | "compact"))
    {
        return Err(format!(
            "Invalid value {value} for configuration cleanup.policy"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_names() {
        assert!(validate("retention.ms", Some("1000")).is_ok());
        assert!(validate("retention.ms", Some("soon")).is_err());
        assert!(validate("no.such.config", Some("1")).is_err());
        assert_eq!(default_of("segment.bytes"), Some("1073741824"));
    }
}
