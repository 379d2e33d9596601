//! Arbitrary bytes through what Sluice reads back from its internal topics at start-up: the
//! `__consumer_offsets` record decoders (offset commits, classic group metadata, KIP-848
//! consumer groups, share groups) and `__transaction_state`'s, the replay of whole stored
//! batches (CRC resealed or not; transactional offsets held until their marker), and the groups
//! rebuilt from what replay kept. A decoder may refuse anything; it may not panic, abort,
//! allocate past its input or loop, and what it accepts must re-encode to the same value. The
//! checks live in `tests/harness/internal_records_check.rs`, shared with the CI test
//! `tests/internal_records.rs`.
#![no_main]

#[path = "../../tests/harness/internal_records_check.rs"]
mod internal_records_check;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| internal_records_check::check(data));
