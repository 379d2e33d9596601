//! `sluice-client`: Sluice's blocking Kafka client library, for the `sluice` client commands,
//! sluice-bench and the integration tests: connection (framing, bounded response frames,
//! ApiVersions negotiation, a second handle for pipelining), cluster view (bootstrap, metadata,
//! leader and coordinator routing, one connection per broker), admin calls, record batches
//! (one encoder, one walker), the hand-built Produce frame of the bench's hot path, the Java
//! client's partitioner, group membership and the consumer protocol's layouts. It speaks plain
//! Kafka, so it works against any Kafka-compatible broker, not only Sluice.
//!
//! Runs on a client process's threads; never inside a broker (the broker uses only its pure
//! pieces: `records` for its `__consumer_offsets` batches, `consumer_protocol` and
//! `error::error_name`).

pub mod admin;
pub mod codec;
pub mod conn;
pub mod consumer_protocol;
pub mod error;
pub mod frame;
pub mod group_member;
pub mod groups;
pub mod limits;
pub mod partitioner;
pub mod produce_frame;
pub mod records;
pub mod sasl;
pub mod share_member;
pub mod tls;
pub mod txn;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

pub use conn::Conn;
pub use error::ClientError;

/// Newest Metadata version this client fills in (v12: topic ids, no cluster-authorized ops).
const METADATA_VERSION_MAX: i16 = 12;
/// Newest FindCoordinator version this client fills in (v4+ batches keys).
const FIND_COORDINATOR_VERSION_MAX: i16 = 6;
/// FindCoordinator key types (v1+): a group, a transactional id.
pub const KEY_TYPE_GROUP: i8 = 0;
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// One partition as Metadata describes it.
#[derive(Debug, Clone)]
pub struct PartitionInfo {
    pub index: i32,
    /// Node id of the leader; -1 if none. On Sluice the node id is the owner shard.
    pub leader: i32,
    pub leader_epoch: i32,
    pub error_code: i16,
}

/// One topic as Metadata describes it.
#[derive(Debug, Clone)]
pub struct TopicInfo {
    pub name: String,
    pub id: Uuid,
    pub internal: bool,
    pub error_code: i16,
    pub partitions: Vec<PartitionInfo>,
}

/// Connections to a cluster, opened on first use.
pub struct Client {
    bootstrap: Vec<String>,
    timeout: Duration,
    bootstrap_conn: Option<Conn>,
    nodes: HashMap<i32, Conn>,
    /// node id → "host:port", from the last Metadata.
    brokers: BTreeMap<i32, String>,
    controller: Option<i32>,
    /// (key type, key) → its coordinator's node id, as FindCoordinator last said (dropped when
    /// the coordinator answers as if it were not, see `groups::with_coordinator`): groups
    /// (key type 0) and transactional ids (1).
    coordinators: HashMap<(i8, String), i32>,
    pub cluster_id: Option<String>,
    /// TLS for every connection (an SSL or SASL_SSL listener), if set.
    tls: Option<tls::ClientTls>,
    /// SASL for every connection (a SASL_PLAINTEXT or SASL_SSL listener), if set.
    sasl: Option<sasl::SaslConfig>,
    /// The client id of every connection's requests.
    client_id: &'static str,
}

impl Client {
    /// `brokers`: comma-separated host:port list to bootstrap from. Nothing is connected yet.
    pub fn new(brokers: &str, timeout: Duration) -> Result<Client, ClientError> {
        let bootstrap: Vec<String> = brokers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.contains(':') {
                    s.to_string()
                } else {
                    format!("{s}:9092")
                }
            })
            .collect();
        if bootstrap.is_empty() {
            return Err(ClientError::Usage("--brokers names no broker".into()));
        }
        Ok(Client {
            bootstrap,
            timeout,
            bootstrap_conn: None,
            nodes: HashMap::new(),
            brokers: BTreeMap::new(),
            controller: None,
            coordinators: HashMap::new(),
            cluster_id: None,
            tls: None,
            sasl: None,
            client_id: conn::CLIENT_ID,
        })
    }

    /// Connect over TLS (to an SSL or SASL_SSL listener).
    pub fn with_tls(mut self, tls: tls::ClientTls) -> Client {
        self.tls = Some(tls);
        self
    }

    /// Authenticate every connection with SASL (a SASL_PLAINTEXT listener, or SASL_SSL with
    /// [`Client::with_tls`] too).
    pub fn with_sasl(mut self, sasl: sasl::SaslConfig) -> Client {
        self.sasl = Some(sasl);
        self
    }

    /// Open a connection to `addr` with this client's id, TLS and SASL settings.
    pub fn connect(&self, addr: &str) -> Result<Conn, ClientError> {
        Conn::connect_secured(
            addr,
            self.timeout,
            self.client_id,
            self.tls.as_ref(),
            self.sasl.as_ref(),
        )
    }

    /// The client id every connection sends (the CLI's by default).
    pub fn with_client_id(mut self, client_id: &'static str) -> Client {
        self.client_id = client_id;
        self
    }

    /// node id → "host:port" of every broker, as the last Metadata named them.
    pub fn brokers(&self) -> &BTreeMap<i32, String> {
        &self.brokers
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection to any broker (the first bootstrap address that answers).
    pub fn any(&mut self) -> Result<&mut Conn, ClientError> {
        if self
            .bootstrap_conn
            .as_ref()
            .is_some_and(Conn::session_expiring)
        {
            self.bootstrap_conn = None;
        }
        if self.bootstrap_conn.is_none() {
            let mut errors = Vec::new();
            for addr in &self.bootstrap {
                match self.connect(addr) {
                    Ok(c) => {
                        self.bootstrap_conn = Some(c);
                        break;
                    }
                    // The broker answered and refused (failed authentication, a mechanism
                    // it does not enable): another bootstrap address would say the same.
                    Err(e @ ClientError::Kafka { .. }) => return Err(e),
                    Err(e) => errors.push(e.to_string()),
                }
            }
            if self.bootstrap_conn.is_none() {
                return Err(ClientError::Network(format!(
                    "no broker reachable: {}",
                    errors.join("; ")
                )));
            }
        }
        Ok(self.bootstrap_conn.as_mut().expect("just connected"))
    }

    /// A connection to node `id` (as named in Metadata).
    pub fn node(&mut self, id: i32) -> Result<&mut Conn, ClientError> {
        if self.nodes.get(&id).is_some_and(Conn::session_expiring) {
            self.nodes.remove(&id);
        }
        if !self.nodes.contains_key(&id) {
            if !self.brokers.contains_key(&id) {
                self.metadata(Some(&[]), false)?;
            }
            let addr =
                self.brokers.get(&id).cloned().ok_or_else(|| {
                    ClientError::Protocol(format!("metadata names no broker {id}"))
                })?;
            let conn = self.connect(&addr)?;
            self.nodes.insert(id, conn);
        }
        Ok(self.nodes.get_mut(&id).expect("just inserted"))
    }

    /// Drop the connection to `id` (after a network error), so the next use reconnects.
    pub fn forget(&mut self, id: i32) {
        self.nodes.remove(&id);
    }

    /// Node ids of every broker in the cluster.
    pub fn broker_ids(&mut self) -> Result<Vec<i32>, ClientError> {
        if self.brokers.is_empty() {
            self.metadata(Some(&[]), false)?;
        }
        Ok(self.brokers.keys().copied().collect())
    }

    /// The controller, where admin requests go (as Kafka's admin clients send them).
    pub fn controller(&mut self) -> Result<&mut Conn, ClientError> {
        if self.controller.is_none() {
            self.metadata(Some(&[]), false)?;
        }
        match self.controller {
            Some(id) if id >= 0 => self.node(id),
            _ => self.any(),
        }
    }

    /// Metadata for `topics` (None: every topic; Some(&[]): none, brokers only). Refreshes the
    /// broker list and the controller. Per-topic errors are in each `TopicInfo`.
    pub fn metadata(
        &mut self,
        topics: Option<&[String]>,
        auto_create: bool,
    ) -> Result<Vec<TopicInfo>, ClientError> {
        let request = MetadataRequest::default()
            .with_topics(topics.map(|t| {
                t.iter()
                    .map(|n| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    })
                    .collect()
            }))
            .with_allow_auto_topic_creation(auto_create);
        let (_, response) = self.any()?.call(&request, METADATA_VERSION_MAX)?;
        self.brokers = response
            .brokers
            .iter()
            .map(|b| {
                // An IPv6 host goes in brackets before its port.
                let host = b.host.as_str();
                let addr = if host.contains(':') && !host.starts_with('[') {
                    format!("[{host}]:{}", b.port)
                } else {
                    format!("{host}:{}", b.port)
                };
                (b.node_id.0, addr)
            })
            .collect();
        self.controller = Some(response.controller_id.0);
        self.cluster_id = response.cluster_id.as_ref().map(|c| c.to_string());
        Ok(response
            .topics
            .iter()
            .map(|t| {
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        index: p.partition_index,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        error_code: p.error_code,
                    })
                    .collect();
                partitions.sort_by_key(|p| p.index);
                TopicInfo {
                    name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    id: t.topic_id,
                    internal: t.is_internal,
                    error_code: t.error_code,
                    partitions,
                }
            })
            .collect())
    }

    /// Metadata of one topic that must exist (auto-created first if `auto_create`).
    pub fn topic(&mut self, name: &str, auto_create: bool) -> Result<TopicInfo, ClientError> {
        let mut last = None;
        // A just auto-created topic may come back LEADER_NOT_AVAILABLE once (Kafka does that).
        for _ in 0..20 {
            let found = self
                .metadata(Some(&[name.to_string()]), auto_create)?
                .into_iter()
                .find(|t| t.name == name);
            match found {
                Some(t) if t.error_code == 0 && !t.partitions.is_empty() => return Ok(t),
                Some(t)
                    if t.error_code == 0
                        || ClientError::kafka(t.error_code, None, "").is_retriable()
                            && auto_create =>
                {
                    last = Some(t.error_code);
                    std::thread::sleep(Duration::from_millis(100));
                }
                Some(t) => {
                    return Err(ClientError::kafka(
                        t.error_code,
                        None,
                        format!("topic {name}"),
                    ))
                }
                None => {
                    return Err(ClientError::Protocol(format!(
                        "metadata did not answer for topic {name}"
                    )))
                }
            }
        }
        Err(ClientError::kafka(
            last.unwrap_or(5),
            None,
            format!("topic {name}"),
        ))
    }

    /// Node id of the coordinator of `group`: the one found last, else asked with
    /// FindCoordinator (a group member asks once, not before every heartbeat and commit).
    pub fn coordinator(&mut self, group: &str) -> Result<i32, ClientError> {
        self.coordinator_of(KEY_TYPE_GROUP, group)
    }

    /// Forget `group`'s coordinator, so the next use asks FindCoordinator again.
    pub fn forget_coordinator(&mut self, group: &str) {
        self.coordinators
            .remove(&(KEY_TYPE_GROUP, group.to_string()));
    }

    /// Node id of the transaction coordinator of `transactional_id` (found once, as for
    /// groups).
    pub fn transaction_coordinator(&mut self, transactional_id: &str) -> Result<i32, ClientError> {
        self.coordinator_of(KEY_TYPE_TRANSACTION, transactional_id)
    }

    /// Forget `transactional_id`'s coordinator, so the next use asks again.
    pub fn forget_transaction_coordinator(&mut self, transactional_id: &str) {
        self.coordinators
            .remove(&(KEY_TYPE_TRANSACTION, transactional_id.to_string()));
    }

    fn coordinator_of(&mut self, key_type: i8, key: &str) -> Result<i32, ClientError> {
        if let Some(node) = self.coordinators.get(&(key_type, key.to_string())) {
            return Ok(*node);
        }
        let node = self.find_coordinator(key_type, key)?;
        self.coordinators.insert((key_type, key.to_string()), node);
        Ok(node)
    }

    fn find_coordinator(&mut self, key_type: i8, group: &str) -> Result<i32, ClientError> {
        let conn = self.any()?;
        let version = conn.version::<FindCoordinatorRequest>(FIND_COORDINATOR_VERSION_MAX)?;
        if key_type != KEY_TYPE_GROUP && version < 1 {
            return Err(ClientError::Protocol(
                "the broker's FindCoordinator v0 knows only groups".into(),
            ));
        }
        let key = StrBytes::from_string(group.to_string());
        let request = if version >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(key_type)
                .with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default()
                .with_key_type(key_type)
                .with_key(key)
        };
        let what = if key_type == KEY_TYPE_GROUP {
            "group"
        } else {
            "transactional id"
        };
        let mut last = ClientError::Protocol("no coordinator".into());
        for _ in 0..50 {
            let response = self.any()?.call_at(&request, version)?;
            let (code, message, node) = if version >= 4 {
                let c = response.coordinators.first().ok_or_else(|| {
                    ClientError::Protocol("FindCoordinator answered no key".into())
                })?;
                (
                    c.error_code,
                    c.error_message.as_ref().map(|m| m.to_string()),
                    c.node_id.0,
                )
            } else {
                (
                    response.error_code,
                    response.error_message.as_ref().map(|m| m.to_string()),
                    response.node_id.0,
                )
            };
            match ClientError::check(
                code,
                message.as_deref(),
                format!("coordinator of {what} {group}"),
            ) {
                Ok(()) => return Ok(node),
                Err(e) if e.is_retriable() => {
                    last = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

/// Newest ListOffsets version this client fills in.
const LIST_OFFSETS_VERSION_MAX: i16 = 8;

/// ListOffsets' special timestamps.
pub const OFFSET_LATEST: i64 = -1;
pub const OFFSET_EARLIEST: i64 = -2;

/// A topic name for a request.
pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

impl Client {
    /// The offset of each of `partitions` of `topic` for `timestamp` (OFFSET_LATEST: the high
    /// watermark, OFFSET_EARLIEST: the log start, else the first offset at or after that
    /// time, -1 if none), asked of each partition's leader.
    pub fn list_offsets(
        &mut self,
        topic: &TopicInfo,
        partitions: &[i32],
        timestamp: i64,
    ) -> Result<BTreeMap<i32, i64>, ClientError> {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::{BrokerId, ListOffsetsRequest};
        let mut by_leader: BTreeMap<i32, Vec<&PartitionInfo>> = BTreeMap::new();
        for &p in partitions {
            let info = topic
                .partitions
                .iter()
                .find(|i| i.index == p)
                .ok_or_else(|| {
                    ClientError::kafka(3, None, format!("partition {}-{p}", topic.name))
                })?;
            by_leader.entry(info.leader).or_default().push(info);
        }
        let mut out = BTreeMap::new();
        for (leader, parts) in by_leader {
            let request = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name(&topic.name))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p.index)
                                    .with_timestamp(timestamp)
                                    .with_current_leader_epoch(p.leader_epoch)
                            })
                            .collect(),
                    )]);
            let (_, response) = self
                .node(leader)?
                .call(&request, LIST_OFFSETS_VERSION_MAX)?;
            for t in &response.topics {
                for p in &t.partitions {
                    ClientError::check(
                        p.error_code,
                        None,
                        format!("partition {}-{}", topic.name, p.partition_index),
                    )?;
                    out.insert(p.partition_index, p.offset);
                }
            }
        }
        Ok(out)
    }
}
