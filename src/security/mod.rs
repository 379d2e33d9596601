//! Listeners, per-connection sessions and authentication (issue 14).
//!
//! - [`listener`]: Kafka's listener model (`--listeners` and friends), parsed at start-up.
//! - [`session`]: one [`session::Session`] per connection, on the shard that accepted it.
//! - [`sasl`]: the SASL state machine; [`scram`] and [`credentials`] its SCRAM parts.
//! - [`acl`]: Kafka's ACL authorizer: bindings, matching, per-connection decision cache.
//! - [`authz`]: the authorization question handlers ask (`authorize`), Kafka's operation codes.
//! - [`authz_helpers`]: the handlers' side of it: one request's questions ([`authz_helpers::Authz`]),
//!   authorized-operations fields, Kafka's error texts.
//! - [`scram_admin`]: Describe/AlterUserScramCredentials' semantics over the credentials.

pub mod acl;
pub mod authz;
pub mod authz_helpers;
pub mod credentials;
pub mod listener;
pub mod sasl;
pub mod scram;
pub mod scram_admin;
pub mod session;
