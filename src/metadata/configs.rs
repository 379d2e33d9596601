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
    // Kafka 4's default (KIP-1030). message.timestamp.difference.max.ms was removed in 4.0:
    // like Kafka 4, Sluice refuses it as an unknown name.
    ("message.timestamp.after.max.ms", "3600000", true),
    (
        "message.timestamp.before.max.ms",
        "9223372036854775807",
        true,
    ),
    ("message.timestamp.type", "CreateTime", true),
    ("min.cleanable.dirty.ratio", "0.5", true),
    ("min.compaction.lag.ms", "0", true),
    // One replica per partition: above 1, acks=all produces fail with NOT_ENOUGH_REPLICAS.
    ("min.insync.replicas", "1", true),
    ("preallocate", "false", true),
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

/// A boolean config's value as Kafka's ConfigDef parses it (`true` / `false`, any case).
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
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
            | "message.timestamp.before.max.ms"
            | "message.timestamp.after.max.ms"
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
    if matches!(
        name,
        "message.timestamp.before.max.ms" | "message.timestamp.after.max.ms"
    ) && value.trim().parse::<i64>().is_ok_and(|v| v < 0)
    {
        return Err(format!(
            "Invalid value {value} for configuration {name}: Value must be at least 0"
        ));
    }
    if name == "min.insync.replicas"
        && value
            .trim()
            .parse::<i64>()
            .is_ok_and(|v| !(1..=i64::from(i32::MAX)).contains(&v))
    {
        return Err(format!(
            "Invalid value {value} for configuration min.insync.replicas: Value must be at least 1"
        ));
    }
    if name == "preallocate" && parse_bool(value).is_none() {
        return Err(format!(
            "Invalid value {value} for configuration preallocate: Expected value to be either true or false"
        ));
    }
    if name == "message.timestamp.type"
        && crate::log::validate::TimestampType::parse(value).is_none()
    {
        return Err(format!(
            "Invalid value {value} for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"
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

    /// README's topic config table lists exactly these configs, defaults and marks.
    #[test]
    fn readme_table_matches() {
        let readme = include_str!("../../README.md");
        let rows: Vec<(String, String, bool)> = readme
            .lines()
            .filter(|l| l.starts_with("| `") && (l.ends_with("| yes |") || l.ends_with("| no |")))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                let name = cells[0].trim_matches('`').to_string();
                let default = match cells[1] {
                    "(empty)" => String::new(),
                    d => d.trim_matches('`').to_string(),
                };
                (name, default, cells[2] == "yes")
            })
            .collect();
        let ours: Vec<(String, String, bool)> = TOPIC_CONFIGS
            .iter()
            .map(|(n, d, i)| (n.to_string(), d.to_string(), *i))
            .collect();
        assert_eq!(
            rows, ours,
            "README's topic config table and TOPIC_CONFIGS differ"
        );
    }
}
