//! The Kafka wire protocol: bounded request decoders, the versions Sluice serves, and the
//! mapping from Sluice's errors to Kafka error codes. No I/O happens here.

pub mod decode;
pub mod errors;
pub mod fetch_response;
pub mod response_errors;
pub mod throttle;
