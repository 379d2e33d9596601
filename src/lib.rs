//! Sluice: a Kafka-compatible event streaming broker, thread-per-core on io_uring.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the code map.

pub mod admin;
pub mod cli;
pub mod groups;
pub mod handlers;
pub mod limits;
pub mod log;
pub mod memory;
pub mod metadata;
pub mod metrics;
pub mod net;
pub mod partition;
pub mod protocol;
pub mod quota;
pub mod security;
pub mod server;
pub mod shard;
pub mod share;
pub mod txn;
