//! A minimal Kafka client for benchmarking: framing and version negotiation, admin calls, and
//! record batches built and walked without per-record allocation.

pub mod admin;
pub mod batch;
pub mod conn;
