//! Every limit the harness enforces, in one place, units last. Relationships between them are
//! checked at compile time so changing one cannot silently break another. The largest response
//! frame is sluice-client's `CLIENT_RESPONSE_BYTES_MAX` (it reads every response).

use sluice_client::limits::CLIENT_RESPONSE_BYTES_MAX;

/// Largest produce request the harness builds (Kafka's `max.request.size` is 1 MiB; brokers
/// accept up to `socket.request.max.bytes` = 100 MiB). Batches are closed before a frame
/// would outgrow it.
pub const PRODUCE_REQUEST_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Largest record batch (`batch.size`) a driver file may ask for: Kafka's default
/// `message.max.bytes` is ~1 MiB, and a batch must fit a produce request.
pub const BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Records in one batch, and the default (librdkafka's `batch.num.messages` allows up to
/// 1,000,000; its default of 10,000 would cap small-message batches below `batch.size`, so the
/// harness defaults to the largest and lets `batch.size` decide).
pub const BATCH_NUM_MESSAGES_MAX: usize = 1_000_000;

/// Records in one transaction (`transaction.records`): a transaction holds back the last
/// stable offset while open, and Kafka's `transaction.timeout.ms` (1 minute) bounds it anyway.
pub const TRANSACTION_RECORDS_MAX: usize = 10_000_000;

/// Pipelined requests per connection. Kafka's `max.in.flight.requests.per.connection` is
/// unbounded in principle; past a few dozen it only adds queueing inside the broker.
pub const IN_FLIGHT_REQUESTS_MAX: usize = 128;

/// Bytes of each record value the harness owns: writer id (u32), per-partition sequence (u64),
/// send time (u64 ns since the run's epoch), reserved (u32). Smaller messages cannot carry the
/// verification and end-to-end latency stamp.
pub const VALUE_HEADER_BYTES: usize = 24;

/// Largest `messageSize` accepted: one message must fit a batch.
pub const MESSAGE_BYTES_MAX: usize = BATCH_BYTES_MAX - BATCH_OVERHEAD_BYTES_MAX;

/// Record batch header (61 bytes) plus one record's framing (length, attributes, deltas, key,
/// header count as varints) — an upper bound, used to size the message ceiling.
pub const BATCH_OVERHEAD_BYTES_MAX: usize = 61 + 64;

/// Partitions per topic a workload may ask for (Kafka's practical ceiling is far lower).
pub const TOPIC_PARTITIONS_MAX: usize = 100_000;

/// Producer and consumer workers in one run: each holds a connection per broker and threads.
pub const WORKERS_MAX: usize = 1_024;

/// How long a connection attempt or a single blocking read may take before the run fails.
pub const SOCKET_TIMEOUT_MS: u64 = 30_000;

/// How long topics may take to get leaders after CreateTopics.
pub const TOPIC_READY_TIMEOUT_MS: u64 = 30_000;

/// After producers stop, consumers must make progress at least this often or the run fails
/// with a loss report (rather than hanging forever on a message that never arrives).
pub const DRAIN_STALL_TIMEOUT_MS: u64 = 30_000;

/// Fetch response size the harness asks for (Kafka consumer's `fetch.max.bytes` default).
pub const FETCH_BYTES_MAX: usize = 50 * 1024 * 1024;

/// Highest latency the histograms track (one hour in ns); slower values are clamped to it.
pub const LATENCY_NS_MAX: u64 = 3_600_000_000_000;

/// Seconds of per-second latency (the timeline) a run keeps: a day, as percentiles (40 bytes a
/// second); a longer run keeps its first day in the timeline and all of it in the run's
/// percentiles.
pub const TIMELINE_SECONDS_MAX: usize = 86_400;

/// Newest seconds of the timeline kept as histograms (~37 KiB each, per kind) while actors may
/// still add to them; an actor flushes a second when its first completion of a later second
/// arrives, so this is how late an actor may be.
pub const TIMELINE_OPEN_SECONDS: u64 = 8;

/// Loss/ordering problems listed in detail in a result (the counts are always complete).
pub const VERIFICATION_DETAILS_MAX: usize = 20;

const _: () = assert!(BATCH_BYTES_MAX < PRODUCE_REQUEST_BYTES_MAX);
// Responses are read by sluice-client, whose frame limit must hold the largest fetch asked for.
const _: () = assert!(FETCH_BYTES_MAX < CLIENT_RESPONSE_BYTES_MAX);
const _: () = assert!(VALUE_HEADER_BYTES < MESSAGE_BYTES_MAX);
const _: () = assert!(PRODUCE_REQUEST_BYTES_MAX <= i32::MAX as usize);
const _: () =
    assert!(TIMELINE_OPEN_SECONDS >= 2 && (TIMELINE_OPEN_SECONDS as usize) < TIMELINE_SECONDS_MAX);
