//! Client connections: framing, in-order pipelined replies, frame limits.

// The request path: what a client sends must never panic a shard (a panic would end its
// thread). Invariant checks use assert! with a message; these catch the accidental kinds.
#![deny(
    clippy::panic,
    clippy::unwrap_used,
    clippy::todo,
    clippy::unimplemented
)]

pub mod connection;
pub mod frame;
pub mod idle;
pub mod send;
pub mod tls;
