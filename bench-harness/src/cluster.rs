//! The harness's side of sluice-client: its client id, the versions it speaks, connections,
//! and the topics of a run (created on the controller, waited for until every partition has a
//! leader). Everything on the wire is sluice-client's; what is here is the bench's choice.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kafka_protocol::messages::{FetchRequest, ProduceRequest};
use sluice_client::admin::new_topic;
use sluice_client::produce_frame::PRODUCE_FRAME_VERSION_MAX;
use sluice_client::sasl::SaslConfig;
use sluice_client::tls::ClientTls;
use sluice_client::{Client, Conn};

use crate::limits::{SOCKET_TIMEOUT_MS, TOPIC_READY_TIMEOUT_MS};

pub const CLIENT_ID: &str = "sluice-bench";

/// Fetch stops at 11, the last non-flexible version: it has everything the harness reads, and
/// no tagged fields for a peer to get wrong (Tansu 0.6 answers Fetch v12 with a v16-only tag,
/// which a strict decoder refuses). Produce stops at the hand-built frame's newest version.
pub const FETCH_VERSION_MAX: i16 = 11;
pub const PRODUCE_VERSION_MAX: i16 = PRODUCE_FRAME_VERSION_MAX;

/// CreateTopics requests carry at most this many topics, so many-topic workloads send
/// modest requests.
const CREATE_TOPICS_PER_REQUEST_MAX: usize = 100;

const TOPIC_ALREADY_EXISTS: i16 = 36;

fn timeout() -> Duration {
    Duration::from_millis(SOCKET_TIMEOUT_MS)
}

/// TLS for every connection of the run (`sluice-bench run --tls-ca`), set once at start.
static TLS: std::sync::OnceLock<ClientTls> = std::sync::OnceLock::new();

/// Make every later connection TLS, trusting `tls`'s CA (an SSL listener).
pub fn use_tls(tls: ClientTls) {
    let _ = TLS.set(tls);
}

/// SASL for every connection of the run (`sluice-bench run --sasl-mechanism`), set once at
/// start.
static SASL: std::sync::OnceLock<SaslConfig> = std::sync::OnceLock::new();

/// Make every later connection authenticate with `sasl` (a SASL_PLAINTEXT listener, or
/// SASL_SSL with [`use_tls`] too).
pub fn use_sasl(sasl: SaslConfig) {
    let _ = SASL.set(sasl);
}

/// A connection to `addr`, versions negotiated (and authenticated, with [`use_sasl`]).
pub fn connect(addr: &str) -> Result<Conn> {
    Conn::connect_secured(addr, timeout(), CLIENT_ID, TLS.get(), SASL.get())
        .with_context(|| format!("connect to {addr}"))
}

/// A cluster client bootstrapping from `bootstrap`, with the run's TLS and SASL (coordinator
/// lookups, topic creation).
pub fn client(bootstrap: &str) -> Result<Client> {
    let mut client = Client::new(bootstrap, timeout())?.with_client_id(CLIENT_ID);
    if let Some(tls) = TLS.get() {
        client = client.with_tls(tls.clone());
    }
    if let Some(sasl) = SASL.get() {
        client = client.with_sasl(sasl.clone());
    }
    Ok(client)
}

/// The versions chosen with one broker: the highest both sides speak.
pub fn produce_version(conn: &Conn) -> Result<i16> {
    Ok(conn.version::<ProduceRequest>(PRODUCE_VERSION_MAX)?)
}

pub fn fetch_version(conn: &Conn) -> Result<i16> {
    Ok(conn.version::<FetchRequest>(FETCH_VERSION_MAX)?)
}

/// Where a run's partitions live.
#[derive(Debug, Clone, Default)]
pub struct ClusterMeta {
    /// node id → "host:port"
    pub brokers: BTreeMap<i32, String>,
    /// topic → leader node id per partition (index = partition).
    pub leaders: BTreeMap<String, Vec<i32>>,
}

/// Creates `topics` (an existing one is fine) and waits until every partition has a leader.
pub fn create_topics(
    bootstrap: &str,
    topics: &[String],
    partitions: u32,
    replication_factor: i16,
    configs: &BTreeMap<String, String>,
) -> Result<ClusterMeta> {
    let mut client = client(bootstrap)?;
    for chunk in topics.chunks(CREATE_TOPICS_PER_REQUEST_MAX) {
        let wanted = chunk
            .iter()
            .map(|t| {
                new_topic(
                    t,
                    Some(partitions as i32),
                    Some(replication_factor),
                    configs,
                )
            })
            .collect();
        let timeout_ms = SOCKET_TIMEOUT_MS as i32;
        let (_, results) = client.create_topics(wanted, timeout_ms)?;
        for r in &results {
            if r.error_code != 0 && r.error_code != TOPIC_ALREADY_EXISTS {
                bail!(
                    "CreateTopics {}: error {} {}",
                    r.name.0.as_str(),
                    sluice_client::error::error_name(r.error_code),
                    r.error_message.as_deref().unwrap_or("")
                );
            }
        }
    }
    let found = client.wait_for_leaders(
        topics,
        partitions as usize,
        Duration::from_millis(TOPIC_READY_TIMEOUT_MS),
    )?;
    let leaders = found
        .into_iter()
        .map(|t| (t.name, t.partitions.iter().map(|p| p.leader).collect()))
        .collect();
    let brokers = client.brokers().clone();
    if brokers.is_empty() {
        bail!("Metadata lists no brokers");
    }
    Ok(ClusterMeta { brokers, leaders })
}
