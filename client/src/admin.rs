//! Admin calls shared by the `sluice topic` commands and sluice-bench: topic creation on the
//! controller (where Kafka's admin clients send it) and waiting until new topics have leaders.

use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::CreateTopicsRequest;
use kafka_protocol::protocol::StrBytes;

use crate::{topic_name, Client, ClientError, TopicInfo};

/// Newest CreateTopics version this client fills in.
pub const CREATE_TOPICS_VERSION_MAX: i16 = 7;

/// How often [`Client::wait_for_leaders`] asks Metadata again.
const LEADERS_POLL_INTERVAL_MS: u64 = 100;

/// A topic to create; `None` leaves partitions or replication factor to the broker's default.
pub fn new_topic<K: AsRef<str>, V: AsRef<str>>(
    name: &str,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    configs: impl IntoIterator<Item = (K, V)>,
) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(topic_name(name))
        .with_num_partitions(partitions.unwrap_or(-1))
        .with_replication_factor(replication_factor.unwrap_or(-1))
        .with_configs(
            configs
                .into_iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.as_ref().to_string()))
                        .with_value(Some(StrBytes::from_string(v.as_ref().to_string())))
                })
                .collect(),
        )
}

impl Client {
    /// CreateTopics of `topics` on the controller: the version spoken and each topic's result
    /// (error codes are the caller's to judge: an existing topic may be fine).
    pub fn create_topics(
        &mut self,
        topics: Vec<CreatableTopic>,
        timeout_ms: i32,
    ) -> Result<(i16, Vec<CreatableTopicResult>), ClientError> {
        let request = CreateTopicsRequest::default()
            .with_topics(topics)
            .with_timeout_ms(timeout_ms);
        let (version, response) = self
            .controller()?
            .call(&request, CREATE_TOPICS_VERSION_MAX)?;
        Ok((version, response.topics))
    }

    /// Polls Metadata until each of `topics` has `partitions` partitions, each led by a broker
    /// the broker list names; their metadata then. Fails after `timeout`.
    pub fn wait_for_leaders(
        &mut self,
        topics: &[String],
        partitions: usize,
        timeout: Duration,
    ) -> Result<Vec<TopicInfo>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.metadata(Some(topics), false)?;
            let brokers = self.brokers();
            let led = |t: &TopicInfo| {
                t.error_code == 0
                    && t.partitions.len() == partitions
                    && t.partitions
                        .iter()
                        .all(|p| p.error_code == 0 && brokers.contains_key(&p.leader))
            };
            let ready = topics
                .iter()
                .all(|name| found.iter().any(|t| &t.name == name && led(t)));
            if ready {
                return Ok(found);
            }
            if Instant::now() > deadline {
                let waiting: Vec<&str> = topics
                    .iter()
                    .filter(|name| !found.iter().any(|t| &t.name == *name && led(t)))
                    .map(String::as_str)
                    .collect();
                return Err(ClientError::Timeout(format!(
                    "topics without a leader for every partition after {timeout:?}: {}",
                    waiting.join(", ")
                )));
            }
            std::thread::sleep(Duration::from_millis(LEADERS_POLL_INTERVAL_MS));
        }
    }
}
