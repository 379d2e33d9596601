//! Cluster discovery and topic creation: Metadata names the brokers (for Sluice, one per core)
//! and each partition's leader; CreateTopics goes to the controller Metadata names.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::conn::Conn;
use crate::limits::TOPIC_READY_TIMEOUT_MS;

const TOPIC_ALREADY_EXISTS: i16 = 36;

#[derive(Debug, Clone, Default)]
pub struct ClusterMeta {
    /// node id → "host:port"
    pub brokers: BTreeMap<i32, String>,
    pub controller: i32,
    /// topic → leader node id per partition (index = partition), -1 when leaderless.
    pub leaders: BTreeMap<String, Vec<i32>>,
}

pub fn metadata(conn: &mut Conn, topics: &[String]) -> Result<ClusterMeta> {
    let req = MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect(),
        ))
        .with_allow_auto_topic_creation(false);
    let resp = conn.call(&req, conn.versions.metadata)?;
    let mut meta = ClusterMeta {
        controller: resp.controller_id.0,
        ..Default::default()
    };
    for b in &resp.brokers {
        meta.brokers
            .insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
    }
    for t in &resp.topics {
        let Some(name) = &t.name else { continue };
        if t.error_code != 0 {
            continue; // not there yet (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE)
        }
        let n = t
            .partitions
            .iter()
            .map(|p| p.partition_index + 1)
            .max()
            .unwrap_or(0)
            .max(0) as usize;
        let mut leaders = vec![-1; n];
        for p in &t.partitions {
            if p.error_code == 0 && p.partition_index >= 0 {
                leaders[p.partition_index as usize] = p.leader_id.0;
            }
        }
        meta.leaders.insert(name.0.as_str().to_string(), leaders);
    }
    Ok(meta)
}

/// Creates the topics on the controller; a topic that already exists is fine.
pub fn create_topics(
    bootstrap: &mut Conn,
    topics: &[String],
    partitions: u32,
    replication_factor: i16,
    configs: &BTreeMap<String, String>,
) -> Result<()> {
    let meta = metadata(bootstrap, &[])?;
    let controller_addr = meta
        .brokers
        .get(&meta.controller)
        .cloned()
        .unwrap_or_else(|| bootstrap.addr.clone());
    let mut controller = if controller_addr == bootstrap.addr {
        None
    } else {
        Some(
            Conn::connect(&controller_addr)
                .with_context(|| format!("controller {controller_addr}"))?,
        )
    };
    let conn = controller.as_mut().unwrap_or(bootstrap);
    // One request per chunk keeps requests modest with many topics.
    for chunk in topics.chunks(100) {
        let req = CreateTopicsRequest::default()
            .with_topics(
                chunk
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.clone())))
                            .with_num_partitions(partitions as i32)
                            .with_replication_factor(replication_factor)
                            .with_configs(
                                configs
                                    .iter()
                                    .map(|(k, v)| {
                                        CreatableTopicConfig::default()
                                            .with_name(StrBytes::from_string(k.clone()))
                                            .with_value(Some(StrBytes::from_string(v.clone())))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
            .with_timeout_ms(30_000);
        let resp = conn.call(&req, conn.versions.create_topics)?;
        for r in &resp.topics {
            if r.error_code != 0 && r.error_code != TOPIC_ALREADY_EXISTS {
                bail!(
                    "CreateTopics {}: error {} {}",
                    r.name.0.as_str(),
                    r.error_code,
                    r.error_message.as_ref().map(|m| m.as_str()).unwrap_or("")
                );
            }
        }
    }
    Ok(())
}

/// Polls Metadata until every partition of every topic has a leader the broker list names.
pub fn wait_for_leaders(
    bootstrap: &mut Conn,
    topics: &[String],
    partitions: u32,
) -> Result<ClusterMeta> {
    let deadline = Instant::now() + Duration::from_millis(TOPIC_READY_TIMEOUT_MS);
    loop {
        let meta = metadata(bootstrap, topics)?;
        let ready = topics.iter().all(|t| {
            meta.leaders.get(t).is_some_and(|l| {
                l.len() == partitions as usize && l.iter().all(|id| meta.brokers.contains_key(id))
            })
        });
        if ready {
            ensure!(!meta.brokers.is_empty(), "Metadata lists no brokers");
            return Ok(meta);
        }
        if Instant::now() > deadline {
            bail!(
                "topics have no leaders after {TOPIC_READY_TIMEOUT_MS} ms: {:?}",
                meta.leaders
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
