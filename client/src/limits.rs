//! Every limit of the client library, named with units last; relationships const-asserted.
//! Each bounds what a broker (any broker: the client trusts none) can make a client process
//! allocate or wait for.

/// Largest response frame the client commands read. A broker's length prefix is checked
/// against it before anything is allocated, so a broken or hostile peer can't make the CLI
/// reserve gigabytes; it covers the largest Fetch the client asks for with room to spare.
pub const CLIENT_RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;

/// Fetch `max_bytes` the consumer command asks for per request (Kafka's fetch.max.bytes is
/// 50 MiB; a terminal consumer needs far less, and smaller responses arrive sooner).
pub const CLIENT_FETCH_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Fetch `partition_max_bytes` per partition (Kafka's max.partition.fetch.bytes default).
pub const CLIENT_FETCH_PARTITION_BYTES_MAX: usize = 1024 * 1024;

/// Bytes of encoded records `sluice produce` puts in one batch before sending it. Below the
/// broker's default `message.max.bytes`, so a batch of small lines is never refused as a whole.
pub const CLIENT_PRODUCE_BATCH_BYTES_MAX: usize = 512 * 1024;

/// Records `sluice produce` puts in one batch at most.
pub const CLIENT_PRODUCE_BATCH_RECORDS_MAX: usize = 10_000;

/// Longest stdin line `sluice produce` accepts: one record's key and value. Without a bound a
/// stream with no newline would be buffered whole; past it the command fails with the line number.
/// Kafka's default `message.max.bytes` (the broker asserts the two are equal).
pub const CLIENT_PRODUCE_LINE_BYTES_MAX: usize = 1_048_588;

/// Bytes one batch's records may decompress to when the client reads them: a few compressed
/// bytes can claim gigabytes, and a client trusts no broker. 64 MiB is far above any real
/// batch (a 1 MiB batch at a 50:1 ratio).
pub const CLIENT_DECOMPRESSED_BATCH_BYTES_MAX: usize = 64 * 1024 * 1024;

/// How long the client waits for a connection or a response (besides a fetch's long poll).
pub const CLIENT_REQUEST_TIMEOUT_MS: u64 = 30_000;

/// Fewest SCRAM iterations the client accepts from a broker (Kafka's minimum): fewer would
/// make the proof it sends cheap to attack offline.
pub const CLIENT_SCRAM_ITERATIONS_MIN: u32 = 4096;
/// Most SCRAM iterations the client computes for a broker (Kafka's maximum): a broker asking
/// for more could make every connection burn seconds of CPU.
pub const CLIENT_SCRAM_ITERATIONS_MAX: u32 = 16_384;

/// Attempts at a transaction coordinator call that keeps answering retriably (loading, not
/// the coordinator, CONCURRENT_TRANSACTIONS while an earlier transaction completes), each
/// after `CLIENT_TXN_RETRY_BACKOFF_MS`: 10 s in all, then the error is the caller's.
pub const CLIENT_TXN_ATTEMPTS_MAX: usize = 200;
pub const CLIENT_TXN_RETRY_BACKOFF_MS: u64 = 50;

const _: () = assert!(CLIENT_FETCH_BYTES_MAX < CLIENT_RESPONSE_BYTES_MAX);
const _: () = assert!(CLIENT_FETCH_PARTITION_BYTES_MAX <= CLIENT_DECOMPRESSED_BATCH_BYTES_MAX);
const _: () = assert!(CLIENT_SCRAM_ITERATIONS_MIN <= CLIENT_SCRAM_ITERATIONS_MAX);
const _: () = assert!(CLIENT_FETCH_PARTITION_BYTES_MAX <= CLIENT_FETCH_BYTES_MAX);
const _: () = assert!(CLIENT_PRODUCE_BATCH_BYTES_MAX <= CLIENT_PRODUCE_LINE_BYTES_MAX);
