//! Client connections: framing, in-order pipelined replies, frame limits.

pub mod connection;
pub mod idle;
pub mod send;
pub mod tls;
