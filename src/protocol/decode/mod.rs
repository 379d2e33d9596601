//! Sluice's own bounded request decoders.
//!
//! kafka-protocol's decoders reserve `Vec::with_capacity(count)` with a count read off the wire
//! before reading any element: a hostile count aborts the process. Every decoder here checks
//! each count and length against the bytes remaining and a `*_max` from `limits.rs` before it
//! sizes anything, and fails with a specific [`DecodeError`] instead.
//!
//! Decoders produce kafka-protocol's request structs, so handlers and tests share one model;
//! the crate's encoders serve as the oracle in this module's tests.

use bytes::Bytes;
use kafka_protocol::messages::RequestHeader;

/// Why a request could not be decoded. Every variant means "answer with an error or close the
/// connection"; none may panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ended before the field `what` was complete.
    Truncated { what: &'static str },
    /// A count or length exceeds what remains in the request or a configured maximum.
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// A negative length other than -1 (null) where one is not allowed.
    InvalidLength { what: &'static str, len: i64 },
    /// A string that is not UTF-8.
    InvalidUtf8 { what: &'static str },
    /// A varint longer than its type allows.
    InvalidVarint { what: &'static str },
    /// The API key is not one Sluice knows.
    UnknownApiKey(i16),
    /// The version is outside what this decoder supports.
    UnsupportedVersion { api_key: i16, version: i16 },
    /// Bytes left over after the body was decoded.
    TrailingBytes { len: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for DecodeError {}

/// Decode a request body of a given version from `buf`, consuming exactly its bytes.
pub trait TryDecode: Sized {
    fn try_decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// Decode the request header (its version follows from the api key and version that open it).
pub fn try_decode_header(buf: &mut Bytes) -> Result<RequestHeader, DecodeError> {
    temporary::header(buf)
}

/// Placeholder backed by the crate's decoders: being replaced by bounded decoders, one file per
/// request type. Nothing may call the crate's `Decodable` outside this module.
mod temporary {
    use super::*;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::Decodable;

    pub fn header(buf: &mut Bytes) -> Result<RequestHeader, DecodeError> {
        if buf.len() < 4 {
            return Err(DecodeError::Truncated { what: "header" });
        }
        let key = i16::from_be_bytes([buf[0], buf[1]]);
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let api = ApiKey::try_from(key).map_err(|_| DecodeError::UnknownApiKey(key))?;
        RequestHeader::decode(buf, api.request_header_version(version))
            .map_err(|_| DecodeError::Truncated { what: "header" })
    }

    macro_rules! via_crate {
        ($($t:ty),* $(,)?) => {$(
            impl TryDecode for $t {
                fn try_decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {
                    <$t as Decodable>::decode(buf, version)
                        .map_err(|_| DecodeError::Truncated { what: stringify!($t) })
                }
            }
        )*};
    }
    via_crate!(
        ApiVersionsRequest,
        MetadataRequest,
        ProduceRequest,
        FetchRequest,
        ListOffsetsRequest,
        CreateTopicsRequest,
        DeleteTopicsRequest,
        InitProducerIdRequest,
        OffsetForLeaderEpochRequest,
        DescribeConfigsRequest,
        DescribeClusterRequest,
        FindCoordinatorRequest,
        JoinGroupRequest,
        SyncGroupRequest,
        HeartbeatRequest,
        LeaveGroupRequest,
        OffsetCommitRequest,
        OffsetFetchRequest,
        ListGroupsRequest,
        DescribeGroupsRequest,
        DeleteGroupsRequest,
        OffsetDeleteRequest,
        IncrementalAlterConfigsRequest,
        AlterConfigsRequest,
        DeleteRecordsRequest,
        CreatePartitionsRequest,
    );
}
