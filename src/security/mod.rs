//! Listeners, per-connection sessions and authentication (issue 14).
//!
//! - [`listener`]: Kafka's listener model (`--listeners` and friends), parsed at start-up.
//! - [`session`]: one [`session::Session`] per connection, on the shard that accepted it.

pub mod listener;
pub mod session;
