//! Sluice: a Kafka-compatible event streaming broker, thread-per-core on io_uring.
//!
//! See ARCHITECTURE.md for the bird's-eye view and the code map.

pub mod cli;
pub mod limits;
pub mod log;
pub mod protocol;
