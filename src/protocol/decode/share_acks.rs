//! The acknowledgement batches that ShareFetch and ShareAcknowledge both carry (the same
//! fields, in two crate types), decoded by one function for both.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::reader::*;

/// Least bytes of an acknowledgement batch: two offsets, an empty type array, no tags.
const ACK_BATCH_BYTES_MIN: usize = 8 + 8 + 1 + 1;

/// One batch's fields: first offset, last offset, acknowledge types, unknown tagged fields.
pub(super) struct AckBatch {
    pub first_offset: i64,
    pub last_offset: i64,
    pub acknowledge_types: Vec<i8>,
    pub unknown_tagged_fields: BTreeMap<i32, Bytes>,
}

/// A partition's `AcknowledgementBatches` array (compact), each batch built by `make`.
pub(super) fn ack_batches<A>(b: &mut Bytes, make: impl Fn(AckBatch) -> A) -> Result<Vec<A>> {
    try_get_array(
        b,
        true,
        ACK_BATCH_BYTES_MIN,
        "acknowledgement_batches",
        |b| {
            let first_offset = try_get_i64(b, "first_offset")?;
            let last_offset = try_get_i64(b, "last_offset")?;
            let acknowledge_types = try_get_array(b, true, 1, "acknowledge_types", |b| {
                try_get_i8(b, "acknowledge_types")
            })?;
            let unknown_tagged_fields = try_get_unknown_tagged_fields(b, "acknowledgement_batch")?;
            Ok(make(AckBatch {
                first_offset,
                last_offset,
                acknowledge_types,
                unknown_tagged_fields,
            }))
        },
    )
}
