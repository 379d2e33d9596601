//! What can go wrong talking to a broker, and how the CLI reports it: one line, the Kafka
//! error name first when the broker refused something, and an exit code per kind.

use kafka_protocol::error::ResponseError;

/// A failed client operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The broker answered with a Kafka error code.
    Kafka {
        code: i16,
        message: Option<String>,
        /// What was being done ("topic orders", "partition orders-3").
        context: String,
    },
    /// No broker reachable, a connection dropped, or an I/O timeout.
    Network(String),
    /// The broker's answer made no sense (bad framing, undecodable, unexpected content), or it
    /// serves no version of an API this command needs.
    Protocol(String),
    /// The command line or the input asked for something impossible.
    Usage(String),
    /// The operation did not finish in time (e.g. `consume -n` got fewer records).
    Timeout(String),
    /// Several independent parts failed (e.g. deleting three topics, two unknown): one line each.
    Several(Vec<ClientError>),
}

/// Exit codes scripts can rely on (README documents them).
pub mod exit {
    /// Everything asked for was done.
    pub const OK: i32 = 0;
    /// The broker refused (a Kafka error), or the operation timed out.
    pub const REFUSED: i32 = 1;
    /// Bad usage or input (clap uses 2 for its own usage errors too).
    pub const USAGE: i32 = 2;
    /// No broker reachable, or a protocol error talking to it.
    pub const UNREACHABLE: i32 = 3;
}

impl ClientError {
    pub fn kafka(code: i16, message: Option<&str>, context: impl Into<String>) -> ClientError {
        ClientError::Kafka {
            code,
            message: message.filter(|m| !m.is_empty()).map(str::to_string),
            context: context.into(),
        }
    }

    /// `Err` for a non-zero error code.
    pub fn check(
        code: i16,
        message: Option<&str>,
        context: impl Into<String>,
    ) -> Result<(), ClientError> {
        if code == 0 {
            Ok(())
        } else {
            Err(ClientError::kafka(code, message, context))
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Kafka { .. } | ClientError::Timeout(_) => exit::REFUSED,
            ClientError::Usage(_) => exit::USAGE,
            ClientError::Network(_) | ClientError::Protocol(_) => exit::UNREACHABLE,
            ClientError::Several(all) => all.first().map_or(exit::REFUSED, ClientError::exit_code),
        }
    }

    /// The Kafka error code, if the broker refused.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Retriable in Kafka's sense (stale metadata, leader moved, coordinator loading...).
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka { code, .. } => {
                ResponseError::try_from_code(*code).is_some_and(|e| e.is_retriable())
            }
            ClientError::Network(_) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Kafka {
                code,
                message,
                context,
            } => {
                write!(f, "{}: {context}", error_name(*code))?;
                match message {
                    Some(m) => write!(f, ": {m}"),
                    None => match error_description(*code) {
                        "" => Ok(()),
                        d => write!(f, ": {d}"),
                    },
                }
            }
            ClientError::Network(m) => write!(f, "NETWORK: {m}"),
            ClientError::Protocol(m) => write!(f, "PROTOCOL: {m}"),
            ClientError::Usage(m) => write!(f, "USAGE: {m}"),
            ClientError::Timeout(m) => write!(f, "TIMEOUT: {m}"),
            ClientError::Several(all) => {
                for (i, e) in all.iter().enumerate() {
                    if i > 0 {
                        f.write_str("\nsluice: ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        ClientError::Network(e.to_string())
    }
}

/// Kafka's name for an error code, as its tools and its `ErrorsPerSec` metric print it:
/// `TOPIC_ALREADY_EXISTS`.
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None => "NONE".to_string(),
        Some(ResponseError::Unknown(c)) => format!("UNKNOWN_ERROR_CODE_{c}"),
        Some(e) => screaming_snake(&format!("{e}")),
    }
}

/// `TopicAlreadyExists` → `TOPIC_ALREADY_EXISTS`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The crate's one-sentence description of a code (Kafka's own wording).
fn error_description(code: i16) -> &'static str {
    // The crate keeps descriptions only as doc comments; the few a CLI user meets most get a
    // message here, the rest print their name alone.
    match ResponseError::try_from_code(code) {
        Some(ResponseError::UnknownTopicOrPartition) => {
            "This server does not host this topic-partition."
        }
        Some(ResponseError::TopicAlreadyExists) => "Topic with this name already exists.",
        Some(ResponseError::InvalidPartitions) => "Number of partitions is below 1.",
        Some(ResponseError::GroupIdNotFound) => "The group id does not exist.",
        Some(ResponseError::NonEmptyGroup) => "The group is not empty.",
        Some(ResponseError::UnsupportedVersion) => "The version of API is not supported.",
        Some(ResponseError::InvalidConfig) => "Configuration is invalid.",
        Some(ResponseError::OffsetOutOfRange) => {
            "The requested offset is not within the range of offsets maintained by the server."
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_kafkas() {
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(17), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }

    #[test]
    fn one_line_with_name_context_and_message() {
        let e = ClientError::kafka(36, Some("Topic 'x' already exists."), "topic x");
        assert_eq!(
            e.to_string(),
            "TOPIC_ALREADY_EXISTS: topic x: Topic 'x' already exists."
        );
        assert_eq!(e.exit_code(), exit::REFUSED);
        let e = ClientError::kafka(3, None, "topic y");
        assert_eq!(
            e.to_string(),
            "UNKNOWN_TOPIC_OR_PARTITION: topic y: This server does not host this topic-partition."
        );
    }
}
