//! OpenMessaging Benchmark workload files (same YAML keys, so OMB's workloads run unchanged) and
//! driver settings (OMB's Kafka driver file shape, or flags).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sluice_client::records::Compression;

use crate::limits::{
    BATCH_BYTES_MAX, BATCH_NUM_MESSAGES_MAX, IN_FLIGHT_REQUESTS_MAX, MESSAGE_BYTES_MAX,
    TOPIC_PARTITIONS_MAX, TRANSACTION_RECORDS_MAX, VALUE_HEADER_BYTES, WORKERS_MAX,
};

/// One OMB workload. Keys OMB has that the harness does not use are accepted and ignored, so a
/// file from OMB's `workloads/` directory parses as is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Workload {
    pub name: String,
    #[serde(default = "one")]
    pub topics: u32,
    #[serde(default = "one")]
    pub partitions_per_topic: u32,
    pub message_size: u32,
    #[serde(default)]
    pub payload_file: Option<String>,
    /// NO_KEY, KEY_ROUND_ROBIN or RANDOM_NANO (OMB's names). With a key, each record carries an
    /// 8-byte key; partitioning stays sticky per batch either way (see BENCHMARKS.md).
    #[serde(default)]
    pub key_distributor: Option<String>,
    #[serde(default = "one")]
    pub subscriptions_per_topic: u32,
    #[serde(default = "one")]
    pub consumer_per_subscription: u32,
    #[serde(default = "one")]
    pub producers_per_topic: u32,
    /// Messages per second across all producers; 0 = as fast as possible.
    #[serde(default)]
    pub producer_rate: f64,
    #[serde(default, rename = "consumerBacklogSizeGB")]
    pub consumer_backlog_size_gb: f64,
    #[serde(default = "warmup_default")]
    pub warmup_duration_minutes: f64,
    pub test_duration_minutes: f64,
}

fn one() -> u32 {
    1
}

fn warmup_default() -> f64 {
    1.0
}

impl Workload {
    pub fn from_yaml(text: &str) -> Result<Workload> {
        let workload: Workload = serde_yaml::from_str(text).context("parse workload YAML")?;
        workload.validate()?;
        Ok(workload)
    }

    pub fn load(path: &Path) -> Result<Workload> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read workload {}", path.display()))?;
        Workload::from_yaml(&text).with_context(|| format!("workload {}", path.display()))
    }

    pub fn validate(&self) -> Result<()> {
        if self.topics == 0 || self.partitions_per_topic == 0 {
            bail!("topics and partitionsPerTopic must be at least 1");
        }
        if self.partitions_per_topic as usize > TOPIC_PARTITIONS_MAX {
            bail!(
                "partitionsPerTopic {} > {TOPIC_PARTITIONS_MAX}",
                self.partitions_per_topic
            );
        }
        let size = self.message_size as usize;
        if !(VALUE_HEADER_BYTES..=MESSAGE_BYTES_MAX).contains(&size) {
            bail!(
                "messageSize {size} outside {VALUE_HEADER_BYTES}..={MESSAGE_BYTES_MAX} \
                 (each message carries a {VALUE_HEADER_BYTES}-byte stamp)"
            );
        }
        let producers = self.topics as usize * self.producers_per_topic as usize;
        let consumers = self.topics as usize
            * self.subscriptions_per_topic as usize
            * self.consumer_per_subscription as usize;
        if producers == 0 || producers > WORKERS_MAX || consumers > WORKERS_MAX {
            bail!("producers ({producers}) must be 1..={WORKERS_MAX}, consumers ({consumers}) ≤ {WORKERS_MAX}");
        }
        if !(self.producer_rate >= 0.0 && self.producer_rate.is_finite()) {
            bail!("producerRate must be ≥ 0");
        }
        if !(self.test_duration_minutes > 0.0 && self.warmup_duration_minutes >= 0.0) {
            bail!("testDurationMinutes must be > 0 and warmupDurationMinutes ≥ 0");
        }
        if !(self.consumer_backlog_size_gb >= 0.0 && self.consumer_backlog_size_gb.is_finite()) {
            bail!("consumerBacklogSizeGB must be ≥ 0");
        }
        match self.key_distributor.as_deref() {
            None | Some("NO_KEY") | Some("KEY_ROUND_ROBIN") | Some("RANDOM_NANO") => Ok(()),
            Some(other) => bail!("keyDistributor {other:?} is not one of OMB's"),
        }
    }

    pub fn has_keys(&self) -> bool {
        !matches!(self.key_distributor.as_deref(), None | Some("NO_KEY"))
    }

    pub fn test_duration(&self) -> Duration {
        Duration::from_secs_f64(self.test_duration_minutes * 60.0)
    }

    pub fn warmup_duration(&self) -> Duration {
        Duration::from_secs_f64(self.warmup_duration_minutes * 60.0)
    }

    pub fn backlog_bytes(&self) -> u64 {
        (self.consumer_backlog_size_gb * 1024.0 * 1024.0 * 1024.0) as u64
    }
}

/// Compression codecs a producer may use (Kafka's `compression.type`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    pub fn parse(name: &str) -> Result<Codec> {
        Ok(match name.trim() {
            "none" | "" => Codec::None,
            "gzip" => Codec::Gzip,
            "snappy" => Codec::Snappy,
            "lz4" => Codec::Lz4,
            "zstd" => Codec::Zstd,
            other => bail!("unknown compression {other:?}"),
        })
    }

    /// The codec as sluice-client's batch encoder names it.
    pub fn compression(self) -> Compression {
        match self {
            Codec::None => Compression::None,
            Codec::Gzip => Compression::Gzip,
            Codec::Snappy => Compression::Snappy,
            Codec::Lz4 => Compression::Lz4,
            Codec::Zstd => Compression::Zstd,
        }
    }
}

fn default_batch_num_messages() -> usize {
    BATCH_NUM_MESSAGES_MAX
}

/// Records per transaction when `transaction.records` is not set.
pub const TRANSACTION_RECORDS_DEFAULT: usize = 100;
/// Kafka producer's `transaction.timeout.ms` default.
pub const TRANSACTION_TIMEOUT_MS_DEFAULT: i32 = 60_000;

fn default_transaction_records() -> usize {
    TRANSACTION_RECORDS_DEFAULT
}

fn default_transaction_timeout_ms() -> i32 {
    TRANSACTION_TIMEOUT_MS_DEFAULT
}

/// Producer and consumer settings: what OMB keeps in a driver file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DriverSettings {
    /// 0, 1 or -1 (all).
    pub acks: i16,
    pub linger_ms: u64,
    pub batch_bytes: usize,
    /// Most records in one batch (librdkafka's `batch.num.messages`); 1 with `linger.ms=0`
    /// and a fixed rate is the latency mode: one message per batch, sent as soon as it is due.
    #[serde(default = "default_batch_num_messages")]
    pub batch_num_messages: usize,
    pub compression: Codec,
    pub in_flight: usize,
    pub replication_factor: i16,
    pub fetch_min_bytes: i32,
    pub fetch_max_wait_ms: i32,
    pub partition_fetch_bytes: i32,
    pub request_timeout_ms: i32,
    /// Topic configs sent with CreateTopics.
    pub topic_config: BTreeMap<String, String>,
    /// `transactional.id` (producerConfig): with it every producer worker is a transactional
    /// producer, id `<transactional.id>-<worker>`, and consumers read with read_committed.
    /// Absent: plain producers.
    #[serde(default)]
    pub transactional_id: Option<String>,
    /// `transaction.records` (producerConfig; sluice-bench's own key, OMB's Kafka driver has
    /// none): records per transaction, spread over every partition of the topic.
    #[serde(default = "default_transaction_records")]
    pub transaction_records: usize,
    /// `transaction.timeout.ms` (producerConfig, Kafka's name).
    #[serde(default = "default_transaction_timeout_ms")]
    pub transaction_timeout_ms: i32,
}

impl Default for DriverSettings {
    /// OMB's Kafka driver defaults (kafka-throughput.yaml), not the Java client's.
    fn default() -> Self {
        DriverSettings {
            acks: 1,
            linger_ms: 1,
            batch_bytes: 1024 * 1024,
            batch_num_messages: BATCH_NUM_MESSAGES_MAX,
            compression: Codec::None,
            in_flight: 5,
            replication_factor: 1,
            fetch_min_bytes: 1,
            fetch_max_wait_ms: 500,
            partition_fetch_bytes: 1024 * 1024,
            request_timeout_ms: 30_000,
            topic_config: BTreeMap::new(),
            transactional_id: None,
            transaction_records: TRANSACTION_RECORDS_DEFAULT,
            transaction_timeout_ms: TRANSACTION_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// OMB's Kafka driver file: properties embedded as multi-line strings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OmbDriverFile {
    #[serde(default)]
    replication_factor: Option<i16>,
    #[serde(default)]
    topic_config: Option<String>,
    #[serde(default)]
    common_config: Option<String>,
    #[serde(default)]
    producer_config: Option<String>,
    #[serde(default)]
    consumer_config: Option<String>,
}

fn properties(text: Option<&str>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.unwrap_or("").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    map
}

impl DriverSettings {
    /// Reads an OMB Kafka driver file. Returns the settings and `bootstrap.servers` if set.
    pub fn from_yaml(text: &str) -> Result<(DriverSettings, Option<String>)> {
        let file: OmbDriverFile = serde_yaml::from_str(text).context("parse driver YAML")?;
        let mut d = DriverSettings::default();
        if let Some(rf) = file.replication_factor {
            d.replication_factor = rf;
        }
        d.topic_config = properties(file.topic_config.as_deref());
        let common = properties(file.common_config.as_deref());
        let producer = properties(file.producer_config.as_deref());
        let consumer = properties(file.consumer_config.as_deref());
        let num = |k: &str, v: &str| -> Result<i64> {
            v.parse::<i64>()
                .with_context(|| format!("{k}={v} is not a number"))
        };
        for (k, v) in common.iter().chain(producer.iter()) {
            match k.as_str() {
                "acks" => d.acks = if v == "all" { -1 } else { num(k, v)? as i16 },
                "linger.ms" => d.linger_ms = num(k, v)? as u64,
                "batch.size" => d.batch_bytes = num(k, v)? as usize,
                "batch.num.messages" => d.batch_num_messages = num(k, v)?.max(0) as usize,
                "compression.type" => d.compression = Codec::parse(v)?,
                "max.in.flight.requests.per.connection" => d.in_flight = num(k, v)? as usize,
                "request.timeout.ms" => d.request_timeout_ms = num(k, v)? as i32,
                "transactional.id" => d.transactional_id = Some(v.clone()),
                "transaction.records" => d.transaction_records = num(k, v)?.max(0) as usize,
                "transaction.timeout.ms" => d.transaction_timeout_ms = num(k, v)? as i32,
                _ => {}
            }
        }
        // As Kafka's producer: a transactional one defaults to acks=all (and refuses others).
        if d.transactional_id.is_some()
            && !common.contains_key("acks")
            && !producer.contains_key("acks")
        {
            d.acks = -1;
        }
        for (k, v) in &consumer {
            match k.as_str() {
                "fetch.min.bytes" => d.fetch_min_bytes = num(k, v)? as i32,
                "fetch.max.wait.ms" => d.fetch_max_wait_ms = num(k, v)? as i32,
                "max.partition.fetch.bytes" => d.partition_fetch_bytes = num(k, v)? as i32,
                _ => {}
            }
        }
        d.validate()?;
        Ok((d, common.get("bootstrap.servers").cloned()))
    }

    pub fn validate(&self) -> Result<()> {
        if ![0, 1, -1].contains(&self.acks) {
            bail!("acks must be 0, 1 or all (-1), not {}", self.acks);
        }
        if !(1..=IN_FLIGHT_REQUESTS_MAX).contains(&self.in_flight) {
            bail!("in-flight must be 1..={IN_FLIGHT_REQUESTS_MAX}");
        }
        if !(1024..=BATCH_BYTES_MAX).contains(&self.batch_bytes) {
            bail!("batch size must be 1024..={BATCH_BYTES_MAX} bytes");
        }
        if !(1..=BATCH_NUM_MESSAGES_MAX).contains(&self.batch_num_messages) {
            bail!("batch.num.messages must be 1..={BATCH_NUM_MESSAGES_MAX}");
        }
        if let Some(id) = &self.transactional_id {
            if id.is_empty() {
                bail!("transactional.id must not be empty");
            }
            if self.acks != -1 {
                bail!("transactional.id needs acks=all, as Kafka's producer requires");
            }
            if !(1..=TRANSACTION_RECORDS_MAX).contains(&self.transaction_records) {
                bail!("transaction.records must be 1..={TRANSACTION_RECORDS_MAX}");
            }
            if self.transaction_timeout_ms <= 0 {
                bail!("transaction.timeout.ms must be > 0");
            }
        }
        if self.replication_factor < 1 {
            bail!("replication factor must be ≥ 1");
        }
        if self.partition_fetch_bytes < 1024
            || self.fetch_min_bytes < 0
            || self.fetch_max_wait_ms < 0
        {
            bail!("fetch settings out of range");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of OMB's own example workloads (workloads/1-topic-1-partition-1kb.yaml style),
    /// including keys this harness ignores.
    const OMB_SHAPED: &str = r#"
name: 1 topic / 16 partitions / 1kb

topics: 1
partitionsPerTopic: 16
keyDistributor: "NO_KEY"
messageSize: 1024
useRandomizedPayloads: false
payloadFile: "payload/payload-1Kb.data"
subscriptionsPerTopic: 1
consumerPerSubscription: 1
producersPerTopic: 1
producerRate: 50000
consumerBacklogSizeGB: 0
testDurationMinutes: 15
"#;

    #[test]
    fn parses_omb_workload_shape() {
        let w = Workload::from_yaml(OMB_SHAPED).unwrap();
        assert_eq!(w.name, "1 topic / 16 partitions / 1kb");
        assert_eq!(w.partitions_per_topic, 16);
        assert_eq!(w.message_size, 1024);
        assert_eq!(w.payload_file.as_deref(), Some("payload/payload-1Kb.data"));
        assert_eq!(w.producer_rate, 50_000.0);
        assert_eq!(w.consumer_backlog_size_gb, 0.0);
        assert_eq!(w.test_duration(), Duration::from_secs(900));
        // OMB's default warm-up when the file says nothing is one minute.
        assert_eq!(w.warmup_duration(), Duration::from_secs(60));
        assert!(!w.has_keys());
    }

    #[test]
    fn rejects_what_cannot_be_run() {
        let small = OMB_SHAPED.replace("messageSize: 1024", "messageSize: 8");
        assert!(
            Workload::from_yaml(&small).is_err(),
            "8-byte messages cannot carry the stamp"
        );
        let keys = OMB_SHAPED.replace("\"NO_KEY\"", "\"SOMETHING\"");
        assert!(Workload::from_yaml(&keys).is_err());
        assert!(
            Workload::from_yaml("name: x\n").is_err(),
            "messageSize is required"
        );
    }

    #[test]
    fn every_shipped_workload_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml")
                && !path.to_string_lossy().contains("driver")
            {
                Workload::load(&path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 6, "only {seen} workloads shipped");
    }

    #[test]
    fn parses_omb_kafka_driver_shape() {
        let text = r#"
name: Kafka
driverClass: io.openmessaging.benchmark.driver.kafka.KafkaBenchmarkDriver
replicationFactor: 1
topicConfig: |
  min.insync.replicas=1
commonConfig: |
  bootstrap.servers=127.0.0.1:9092
producerConfig: |
  acks=all
  linger.ms=5
  batch.size=131072
  compression.type=lz4
  max.in.flight.requests.per.connection=8
consumerConfig: |
  auto.offset.reset=earliest
  fetch.max.wait.ms=100
"#;
        let (d, bootstrap) = DriverSettings::from_yaml(text).unwrap();
        assert_eq!(d.acks, -1);
        assert_eq!(d.linger_ms, 5);
        assert_eq!(d.batch_bytes, 131_072);
        assert_eq!(d.compression, Codec::Lz4);
        assert_eq!(d.in_flight, 8);
        assert_eq!(d.fetch_max_wait_ms, 100);
        assert_eq!(
            d.topic_config
                .get("min.insync.replicas")
                .map(String::as_str),
            Some("1")
        );
        assert_eq!(bootstrap.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(d.transactional_id, None);
    }

    #[test]
    fn parses_transactional_producer_config() {
        let text = "producerConfig: |\n  transactional.id=bench-tx\n  transaction.records=250\n  transaction.timeout.ms=30000\n";
        let (d, _) = DriverSettings::from_yaml(text).unwrap();
        assert_eq!(d.transactional_id.as_deref(), Some("bench-tx"));
        assert_eq!(
            (d.transaction_records, d.transaction_timeout_ms),
            (250, 30_000)
        );
        assert_eq!(d.acks, -1, "transactional producers default to acks=all");
        let acks1 = "producerConfig: |\n  transactional.id=bench-tx\n  acks=1\n";
        assert!(
            DriverSettings::from_yaml(acks1).is_err(),
            "Kafka refuses a transactional producer with acks=1"
        );
        let none = "producerConfig: |\n  transactional.id=bench-tx\n  transaction.records=0\n";
        assert!(DriverSettings::from_yaml(none).is_err());
        // The shipped transactional driver file parses.
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("workloads/driver-txn.yaml"),
        )
        .unwrap();
        let (d, _) = DriverSettings::from_yaml(&shipped).unwrap();
        assert!(d.transactional_id.is_some());
    }
}
