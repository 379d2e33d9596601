//! sluice-bench: OpenMessaging Benchmark workloads against any Kafka-compatible broker, speaking
//! the Kafka protocol itself, with a JSON result per run and a side-by-side HTML report.

pub mod actors;
pub mod cluster;
pub mod drain;
pub mod limits;
pub mod metrics;
pub mod report;
pub mod run;
pub mod share;
pub mod stamp;
pub mod workload;
