//! The JSON result of one run: everything needed to compare it with another run on another
//! broker or machine, and to know whether the comparison is fair.

use serde::{Deserialize, Serialize};

use crate::metrics::{Percentiles, Sample};
use crate::workload::{DriverSettings, Workload};

pub const RESULT_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunResult {
    pub schema: u32,
    pub tool: String,
    pub target: Target,
    pub workload: Workload,
    pub workload_file: Option<String>,
    pub driver: DriverSettings,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub command_line: Vec<String>,
    pub started_unix_ms: i64,
    pub machine: Machine,
    #[serde(default)]
    pub ceilings: Option<Ceilings>,
    pub summary: Summary,
    pub series: Vec<Sample>,
    pub verification: Verification,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Target {
    /// What the operator called it ("sluice", "tansu", "kafka-3.9").
    pub name: String,
    pub version: String,
    pub bootstrap: String,
    /// Brokers Metadata listed (for Sluice: one per core).
    pub brokers: usize,
    /// Where broker and harness ran, e.g. "broker cpus 0, harness cpus 1" or "shared".
    pub placement: String,
    /// e.g. "acks=all waits for fdatasync" or "acks=all without fsync".
    pub durability: String,
    /// API versions negotiated with the bootstrap broker.
    pub produce_version: i16,
    pub fetch_version: i16,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Machine {
    pub cpu_model: String,
    pub cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    /// Filesystem and device holding the working directory (where a started broker's data lives).
    pub disk: String,
    pub hostname: String,
}

/// The machine's physical limits, measured in the same session (scripts/bench-compare.sh).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ceilings {
    pub loopback_bytes_per_s: Option<f64>,
    pub disk_write_bytes_per_s: Option<f64>,
    pub fdatasync_p50_us: Option<f64>,
    pub fdatasync_p99_us: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Length of the measured window (warm-up excluded), seconds.
    pub measured_s: f64,
    pub produced_msgs_per_s: f64,
    pub produced_bytes_per_s: f64,
    pub consumed_msgs_per_s: f64,
    pub consumed_bytes_per_s: f64,
    /// Totals for the whole run, warm-up included.
    pub produced_msgs: u64,
    pub consumed_msgs: u64,
    pub publish_latency: Percentiles,
    pub end_to_end_latency: Percentiles,
    /// Produce request round trips, from the request written to its response read (no linger
    /// and no wait for an in-flight slot): publish latency minus the producer's own queueing.
    /// Absent from results written before it existed.
    #[serde(default)]
    pub produce_request_latency: Percentiles,
    /// Whether latency was measured from intended send times (fixed rate: corrected for
    /// coordinated omission) or from actual sends (max rate).
    pub latency_from_intended_time: bool,
    /// The harness's own CPU time (user + system) per message produced or consumed, in the
    /// measured window: shows the harness is not the bottleneck.
    pub harness_cpu_ns_per_msg: f64,
    /// Cores the harness kept busy on average in the measured window.
    pub harness_cpu_cores: f64,
    /// Backlog workloads: seconds from consumers starting until they caught up.
    pub backlog_drain_s: Option<f64>,
    /// Transactional producers (driver `transactional.id`): what a transaction cost. Absent
    /// for plain producers and from results written before it existed.
    #[serde(default)]
    pub transactions: Option<TxnSummary>,
}

/// The transactions of a run with transactional producers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TxnSummary {
    /// The driver's `transactional.id`: each producer's id is `<it>-<worker>`.
    pub transactional_id: String,
    pub records_per_transaction: usize,
    /// Every transaction writes every partition of its topic.
    pub partitions_per_transaction: u32,
    /// Transactions committed in the whole run, warm-up included.
    pub committed: u64,
    /// EndTxn(commit) round trips, warm-up excluded.
    pub commit_latency: Percentiles,
    /// A transaction's AddPartitionsToTxn sent → its EndTxn answered (its produce requests
    /// included), warm-up excluded.
    pub transaction_latency: Percentiles,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Verification {
    pub ok: bool,
    pub acknowledged_msgs: u64,
    /// Summed over subscriptions: each subscription reads every message once.
    pub consumed_msgs: u64,
    pub expected_consumed_msgs: u64,
    pub missing_msgs: u64,
    pub violations: u64,
    pub produce_errors: u64,
    pub details: Vec<String>,
}
