//! Kafka record batch v2 header: parsing and validation without walking records.

/// The fixed 61-byte header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

/// Why a batch was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    Truncated,
    BadLength,
    BadMagic(i8),
    CrcMismatch,
    InvalidOffsetDelta,
    NonZeroBaseOffset,
    TooLarge { len: usize, max: usize },
    MoreThanOneBatch,
    UnknownCompression(u8),
}

/// Validate a Produce partition's record set (placeholder until the log module lands).
pub fn validate_produced(
    record_set: &[u8],
    message_max_bytes: usize,
) -> Result<BatchHeader, BatchError> {
    let _ = (record_set, message_max_bytes);
    unimplemented!("log helper")
}
