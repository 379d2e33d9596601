//! Every limit Sluice enforces, in one place. Units come last in each name; relationships
//! between limits are checked at compile time so a change to one cannot silently break another.

/// Largest request frame accepted (Kafka's `socket.request.max.bytes`). A larger length prefix
/// closes the connection before anything is allocated for it.
pub const REQUEST_BYTES_MAX_DEFAULT: usize = 104_857_600;

/// Hard ceiling for `--request-max-bytes`: the frame length is an i32 on the wire.
pub const REQUEST_BYTES_MAX_CEILING: usize = i32::MAX as usize;

/// Largest record batch accepted on produce (Kafka's `message.max.bytes`).
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 1_048_588;

/// Smallest legal request: api_key(2) + api_version(2) + correlation_id(4) + client_id len(2).
pub const REQUEST_HEADER_BYTES_MIN: usize = 10;

/// Requests in flight on one connection (read, not yet answered). Past this the connection
/// stops reading its socket, so a pipelining client gets TCP backpressure, not unbounded queues.
pub const CONNECTION_INFLIGHT_REQUESTS_MAX: usize = 128;

/// Default `--max-connections`: open client connections per process. Each costs a task, a
/// read buffer and socket buffers; RLIMIT_NOFILE must cover it too.
pub const CONNECTIONS_MAX_DEFAULT: usize = 10_000;

/// Default `--connections-max-idle-ms` (Kafka's `connections.max.idle.ms`, 10 min): a connection
/// with no socket progress for this long, and no request being handled, is closed; so is one
/// whose reply write made no progress for this long. Without it a client that vanished without
/// a FIN, or one that never reads its socket, holds its connection slot, its read buffer and
/// the reply it is not reading (a Fetch's share of the shard's fetch buffers) forever.
pub const CONNECTIONS_IDLE_MS_MAX_DEFAULT: u64 = 600_000;

/// Ceiling of `--connections-max-idle-ms` (one year): longer is never for a socket, and every
/// idle deadline is an `Instant` plus this, which stays far from overflow.
pub const CONNECTIONS_IDLE_MS_MAX_CEILING: u64 = 365 * 24 * 60 * 60 * 1000;

/// How long a request frame's body may take to arrive once its 4-byte length has (capped at
/// `--connections-max-idle-ms`): past it the connection is closed and what the frame reserved
/// of `--inflight-request-bytes` is freed (`net::idle`). Without it a client that announces a
/// large frame and then dribbles a byte now and then keeps its reservation forever, idle rule
/// or not. A body still arriving after a minute belongs to a request its client has already
/// given up on (Kafka clients' request timeout is 30 s; librdkafka's socket.timeout.ms 60 s).
pub const REQUEST_BODY_READ_TIMEOUT_MS: u64 = 60_000;

/// File descriptors one open partition keeps: its active segment's log file. Its index files
/// are opened only to append a batch of entries and sealed segments only for a read (both
/// transient, `log::transient`).
pub const PARTITION_FDS: u64 = 1;

/// File descriptors kept aside for everything but partitions, connections and transient files:
/// io_uring rings, listeners, the data-dir lock, metadata files.
pub const FDS_RESERVED: u64 = 256;

/// Descriptors kept aside for a process of `shards` shards: [`FDS_RESERVED`] plus every
/// shard's transient files (sealed segments being read, index files being appended).
pub const fn fds_reserved(shards: u32) -> u64 {
    FDS_RESERVED + shards as u64 * TRANSIENT_FILES_OPEN_MAX as u64
}

/// Elements in any one array of a request (topics, partitions, configs...). Decoders refuse a
/// larger count before reserving anything for it.
pub const REQUEST_ARRAY_ELEMENTS_MAX: usize = 1_000_000;

/// Longest string in a request (topic names are far shorter; client ids and configs fit).
pub const REQUEST_STRING_BYTES_MAX: usize = 32_767;

/// Kafka's topic name length limit (249 = 255 minus room for "-partition" suffixes on disk).
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Partitions a single CreateTopics / CreatePartitions may ask for per topic.
pub const TOPIC_PARTITIONS_MAX: usize = 100_000;

/// The most partitions one DescribeTopicPartitions response describes (Kafka's
/// `max.request.partition.size.limit`, default 2000): a client asking for more (or for all
/// topics) gets a cursor to continue from. Without it one response for a broker with
/// `TOPIC_PARTITIONS_MAX`-partition topics would be built whole in memory.
pub const DESCRIBE_TOPIC_PARTITIONS_RESPONSE_PARTITIONS_MAX: usize = 2000;

/// Shards one process may run. Producer ids are allocated `k * SHARDS_MAX + shard`, so this
/// must never change once data exists: it keeps ids unique across restarts with other `--cores`.
pub const SHARDS_MAX: usize = 1024;

/// Cross-shard channel capacity (messages). A full channel makes the forwarding shard wait,
/// which backs up into its connections' sockets.
pub const SHARD_CHANNEL_MESSAGES_MAX: usize = 1024;

/// How long a cross-shard call (`Shard::on_shard`: a forwarded request, a control-plane
/// operation on shard 0, a snapshot publication) waits for room in the target's channel, and
/// for a sign of life from the target while its task runs, before the caller gives up with a
/// retriable error (NOT_LEADER_OR_FOLLOWER, NOT_CONTROLLER, COORDINATOR_NOT_AVAILABLE). It is
/// a liveness deadline (`shard::call`), not a limit on the work: a long poll or a parked
/// JoinGroup is waited for as long as its shard runs. Far above any stall of a healthy shard
/// (its longest synchronous stretches, such as checking a maximum-size produce's CRC, take
/// tens of ms; file-system calls run off its thread); well below clients' request timeouts
/// (30 s: Kafka's `request.timeout.ms`), so a client behind a wedged shard gets an error it
/// can retry on instead of a connection that hangs.
pub const SHARD_CALL_TIMEOUT_MS: u64 = 5_000;

/// Fetch long-poll ceiling: a client asking for a longer max_wait_ms is capped here so a
/// shutdown never waits on a parked fetch for long.
pub const FETCH_WAIT_MS_MAX: u64 = 30_000;

/// Response bytes one Fetch may return (the client's max_bytes is capped at this too).
pub const FETCH_RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Default `segment.bytes` (Kafka's: 1 GiB).
pub const SEGMENT_BYTES_DEFAULT: u64 = 1 << 30;

/// Largest `segment.bytes` honoured (a larger config is clamped): positions in the offset
/// index are u32, and Kafka's own segment.bytes is an int.
pub const SEGMENT_BYTES_MAX: u64 = i32::MAX as u64;

/// Smallest `segment.bytes` honoured (a smaller config is clamped; Kafka's minimum is 14 bytes,
/// but one batch header is 61 and a segment smaller than a DMA block would roll on every write).
pub const SEGMENT_BYTES_MIN: u64 = 4096;

/// Default `segment.ms` (Kafka's: 7 days): a segment older than this is rolled.
pub const SEGMENT_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default `retention.ms` (Kafka's log.retention.hours=168).
pub const RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default period of the retention pass (Kafka's log.retention.check.interval.ms).
pub const RETENTION_CHECK_INTERVAL_MS_DEFAULT: u64 = 300_000;

// --- Memory ------------------------------------------------------------------------------

/// Sixteenths of each shard's share of `--memory` (`server::memory_budget`), in order: tail
/// cache (4), in-flight requests (4), fetch buffers (2), connection read buffers, which bound
/// the shard's connections (2), O_DIRECT write buffers, the copies of in-flight batches being
/// written (2), sealed segments' sparse indexes (1; without a bound they grow with the data on
/// disk, ~0.5 % of it). The last sixteenth is headroom for what is bounded but not reserved
/// byte by byte: per-partition state, glommio's registered I/O memory, the allocator's slack.
/// The in-flight share is never below one maximum request (or that request could never be
/// read), nor the write share below one [`APPEND_WRITE_BYTES_MAX`]; `--tail-cache-bytes` and
/// the other budget flags override their share.
pub const MEMORY_BUDGET_SIXTEENTHS: (usize, usize, usize, usize, usize, usize) = (4, 4, 2, 2, 2, 1);
const _: () = assert!(
    MEMORY_BUDGET_SIXTEENTHS.0
        + MEMORY_BUDGET_SIXTEENTHS.1
        + MEMORY_BUDGET_SIXTEENTHS.2
        + MEMORY_BUDGET_SIXTEENTHS.3
        + MEMORY_BUDGET_SIXTEENTHS.4
        + MEMORY_BUDGET_SIXTEENTHS.5
        + 1
        == 16
);

// --- Storage (per shard, `log::ShardStorage`) ---------------------------------------------

/// Transient files one shard has open at most (`log::transient`); more wait their turn.
pub const TRANSIENT_FILES_OPEN_MAX: usize = 16;

/// Smallest O_DIRECT read issued while looking for batches (`log::reader`; one index interval
/// and then some).
pub const READ_CHUNK_BYTES_MIN: usize = 64 * 1024;

/// Largest O_DIRECT read issued at once (`log::reader`); a bigger single batch is read alone
/// at its exact size.
pub const READ_CHUNK_BYTES_MAX: usize = 8 << 20;

/// O_DIRECT reads one shard has in flight at most (`log::reader`), across all its fetches,
/// the cleaner and timestamp lookups; more wait their turn. Enough to keep the disk busy (its
/// sequential read ceiling here is reached with ~8 reads of 1 MiB queued); more would only
/// hold more read buffers. An earlier attempt at concurrent fetch reads saw a shard's fetches
/// stop under load; the causes found since are a panic (an empty `select_all`) and glommio's
/// lost wake-up (`shard::nudge`), not these reads (`concurrent_direct_reads_never_stall`).
pub const DISK_READS_IN_FLIGHT_MAX: usize = 8;

/// Partition reads one Fetch has started and not yet taken (`handlers::fetch::read_local`).
/// A consumer catching up reads each partition from disk; one read at a time, a fetch of 16
/// partitions waited for 16 reads in turn (~0.37 GB/s). Reads started ahead of the earlier
/// ones finishing overlap their disk time; each holds its partition's reservation of the
/// fetch budget while it waits, so the bound keeps one fetch of many partitions from
/// reserving for all of them at once. Actual O_DIRECT reads stay within
/// [`DISK_READS_IN_FLIGHT_MAX`] per shard.
pub const FETCH_PARTITION_READS_IN_FLIGHT_MAX: usize = 16;
const _: () = assert!(FETCH_PARTITION_READS_IN_FLIGHT_MAX >= DISK_READS_IN_FLIGHT_MAX);

/// Catch-up partition reads (the tail cache can't answer them: the disk must) one shard runs at
/// once, across all its fetches (`log::storage::CatchUp`). Below [`DISK_READS_IN_FLIGHT_MAX`],
/// so a lagging consumer can never take every disk-read slot: the rest stay for the cleaner,
/// timestamp lookups and index loads, and the device queue stays short for produce's writes
/// (acks=1 waits for its O_DIRECT write, which queues behind these reads). Measured on a quiet
/// machine (BENCHMARKS.md, "catch-up reads and isolation, quiet"): with 6, publish p50 at
/// 100 MB/s rose from 1.0 to 3.0 ms while a drain ran, with 2 to 1.7 ms, with 1 to 1.4 ms;
/// the drain's speed alone was the same with 1 and 6 (the pipeline is latency-bound).
pub const CATCHUP_READS_IN_FLIGHT_MAX: usize = 2;
const _: () = assert!(CATCHUP_READS_IN_FLIGHT_MAX < DISK_READS_IN_FLIGHT_MAX);
const _: () = assert!(CATCHUP_READS_IN_FLIGHT_MAX > 0);

/// Moving average of the shard's O_DIRECT log writes (each new write weighs 1/8) above which
/// a catch-up read or read-ahead waits before it goes to the disk (`log::storage::CatchUp`):
/// acks=1 answers wait for their write, and on a shared device a backlog drain's reads
/// queue in front of it (BENCHMARKS.md, tenth session: publish p99 at 100 MB/s 11× its idle
/// value while a drain read 300 MB/s). Redpanda's anchor: foreground I/O outranks background.
pub const CATCHUP_WRITE_LATENCY_US_MAX: u64 = 2_000;

/// The longest one catch-up read or read-ahead waits for the writes to get fast again: a
/// consumer reading old data is slowed while producers need the disk, never starved.
pub const CATCHUP_YIELD_MS_MAX: u64 = 20;

/// How long after the shard's last log write its latency still counts as pressure: with no
/// producer writing, catch-up reads go at once.
pub const WRITE_PRESSURE_STALE_MS: u64 = 100;
const _: () = assert!(CATCHUP_YIELD_MS_MAX < WRITE_PRESSURE_STALE_MS);
const _: () = assert!(CATCHUP_WRITE_LATENCY_US_MAX > 0);

/// Read-aheads (`log::read_ahead`) one shard has reading at once: as many as catch-up reads,
/// so that a drain served from read-aheads keeps the same disk queue depth in front of
/// produce's writes.
pub const READ_AHEADS_IN_FLIGHT_MAX: usize = CATCHUP_READS_IN_FLIGHT_MAX;

/// The most one read-ahead reads: a consumer's usual per-partition fetch limit
/// (`max.partition.fetch.bytes`' default is 1 MiB); a larger limit still reads ahead this much.
pub const READ_AHEAD_READ_BYTES_MAX: usize = 1 << 20;

/// Read-ahead buffers one shard holds at most, counted whole (read or being read): eight
/// partitions' worth of catch-up.
pub const READ_AHEAD_BYTES_MAX: usize = 8 * READ_AHEAD_READ_BYTES_MAX;
const _: () = assert!(READ_AHEAD_BYTES_MAX >= 2 * READ_AHEAD_READ_BYTES_MAX);
const _: () = assert!(READ_AHEAD_READ_BYTES_MAX <= READ_CHUNK_BYTES_MAX);

/// The catch-up reads' glommio task queue shares (the default queue, where produce and
/// tail fetches run, has 1000): under contention, catch-up reads get about a sixth of the
/// shard's time (Redpanda's scheduling groups give background reads fewer shares the same way).
pub const CATCHUP_TASK_QUEUE_SHARES: usize = 200;

/// Bytes one stored batch's records may decompress to when the broker reads them (a timestamp
/// lookup inside a compressed batch): the client library's bound, as the bytes are a
/// producer's. Past it the lookup answers at the batch's base offset.
pub const DECOMPRESSED_BATCH_BYTES_MAX: usize =
    sluice_client::limits::CLIENT_DECOMPRESSED_BATCH_BYTES_MAX;

/// Batches one shard decompresses at once: memory for decompression stays within
/// `DECOMPRESSIONS_IN_FLIGHT_MAX × DECOMPRESSED_BATCH_BYTES_MAX` per shard.
pub const DECOMPRESSIONS_IN_FLIGHT_MAX: usize = 1;

/// Per-record errors one refused Produce partition answers with at most (KIP-467's
/// `record_errors`; `log::validate`). Kafka lists every bad record: a 1 MiB batch of tiny
/// records could then answer with tens of MB of messages. The error code and message still
/// count all of them.
pub const PRODUCE_RECORD_ERRORS_MAX: usize = 1024;

/// Kafka 4's default `message.timestamp.after.max.ms` / `log.message.timestamp.after.max.ms`
/// (one hour, KIP-1030): how far in the future a CreateTime record may be.
pub const MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT: i64 = 3_600_000;

/// fdatasyncs one flush cycle keeps in flight at most (`log::sync_cycle`; each may occupy an
/// io_uring worker thread).
pub const SYNCS_IN_FLIGHT_MAX: usize = 64;

/// Log bytes written past the last persist before the active segment's index entries of
/// synced batches are appended to its index files (`log::active_index`). Entries of unsynced
/// batches never go to disk, and nothing syncs acks=0/1 data but `flush.*`, roll and close:
/// after a crash recovery scans from the last entry of synced data — for a log synced by
/// acks=all at most about this much, for an acks=1 log without `flush.ms` the active segment
/// (Kafka's recovery of everything past its recovery point).
pub const INDEX_UNPERSISTED_LOG_BYTES_MAX: u64 = 1 << 20;

/// Batch headers recovery keeps from its scan of the active segment for producer state
/// (`log::recovery`; ~72 bytes each), the newest idempotent ones: the producer snapshot taken at
/// roll and the batches after it rebuild the state in full (`partition::producer_snapshot`);
/// these only stand in when no snapshot is usable. A scan of a whole 1 GiB segment of small
/// batches would otherwise hold millions.
pub const RECOVERY_PRODUCER_BATCHES_MAX: usize = 8192;

/// Largest single O_DIRECT `write_at` (`log::appender`): a bigger append is split, so one DMA
/// buffer never exceeds it.
pub const APPEND_WRITE_BYTES_MAX: usize = 4 << 20;

/// Bytes a preallocating log (`preallocate` / `log.preallocate`) zeroes ahead of its end in one
/// write (`log::appender`); one buffer of this size per shard, shared by its logs.
pub const SEGMENT_PREALLOCATE_BYTES: usize = 4 << 20;
const _: () = assert!(SEGMENT_PREALLOCATE_BYTES.is_multiple_of(DMA_ALIGNMENT_BYTES));
const _: () = assert!(SEGMENT_PREALLOCATE_BYTES >= APPEND_WRITE_BYTES_MAX);

/// Per-shard budget of the sealed-segment index cache when the shard sets none (tests,
/// tools): 8 MiB holds the indexes of ~1,000 segments of 4 MiB at `index.interval.bytes` 4096.
pub const SEALED_INDEX_CACHE_BYTES_DEFAULT: usize = 8 << 20;

/// Bytes read per step of recovery's tail scan (`log::recovery`); a larger batch is read
/// whole at its size.
pub const RECOVERY_SCAN_READ_BYTES_MIN: usize = 1 << 20;

const _: () = assert!(READ_CHUNK_BYTES_MIN <= READ_CHUNK_BYTES_MAX);
// A read never asks for more than one response, or one request, may carry.
const _: () = assert!(READ_CHUNK_BYTES_MAX <= FETCH_RESPONSE_BYTES_MAX);
const _: () = assert!(READ_CHUNK_BYTES_MAX <= REQUEST_BYTES_MAX_DEFAULT);
const _: () = assert!(READ_CHUNK_BYTES_MIN as u64 >= INDEX_INTERVAL_BYTES);
const _: () = assert!(APPEND_WRITE_BYTES_MAX.is_multiple_of(DMA_ALIGNMENT_BYTES));
const _: () = assert!(READ_CHUNK_BYTES_MIN.is_multiple_of(DMA_ALIGNMENT_BYTES));
const _: () = assert!(INDEX_UNPERSISTED_LOG_BYTES_MAX >= INDEX_INTERVAL_BYTES);
const _: () = assert!(SEGMENT_BYTES_MIN <= SEGMENT_BYTES_DEFAULT);
const _: () = assert!(SEGMENT_BYTES_DEFAULT <= SEGMENT_BYTES_MAX);
const _: () = assert!(SEGMENT_BYTES_MIN >= DMA_ALIGNMENT_BYTES as u64);
const _: () = assert!(MESSAGE_BYTES_MAX_DEFAULT as u64 <= SEGMENT_BYTES_MAX);

/// Bytes of log between two sparse offset-index entries (Kafka's `index.interval.bytes`).
pub const INDEX_INTERVAL_BYTES: u64 = 4096;

/// The direct-I/O block size: every write offset and length is a multiple of it.
pub const DMA_ALIGNMENT_BYTES: usize = 4096;

const _: () = assert!(MESSAGE_BYTES_MAX_DEFAULT <= REQUEST_BYTES_MAX_DEFAULT);
const _: () = assert!(CONNECTIONS_IDLE_MS_MAX_DEFAULT > 0);
const _: () = assert!(CONNECTIONS_IDLE_MS_MAX_DEFAULT <= CONNECTIONS_IDLE_MS_MAX_CEILING);
const _: () = assert!(REQUEST_BODY_READ_TIMEOUT_MS > 0);
const _: () = assert!(REQUEST_BODY_READ_TIMEOUT_MS <= CONNECTIONS_IDLE_MS_MAX_DEFAULT);
// A long poll is handled (not idle) however long it waits; the default still outlasts it, so
// a client that long-polls and then pauses briefly is never cut at the default.
const _: () = assert!(FETCH_WAIT_MS_MAX < CONNECTIONS_IDLE_MS_MAX_DEFAULT);
const _: () = assert!(REQUEST_BYTES_MAX_DEFAULT <= REQUEST_BYTES_MAX_CEILING);
const _: () = assert!(FETCH_RESPONSE_BYTES_MAX <= REQUEST_BYTES_MAX_CEILING);
const _: () = assert!(TOPIC_NAME_BYTES_MAX <= REQUEST_STRING_BYTES_MAX);
const _: () = assert!(INDEX_INTERVAL_BYTES as usize >= DMA_ALIGNMENT_BYTES);
const _: () = assert!(DMA_ALIGNMENT_BYTES.is_power_of_two());

/// Elements a decoder reserves room for before it has decoded any of them. A count is already
/// checked against the bytes left, but one element's in-memory struct can be tens of times its
/// smallest encoding (an empty compact string is 1 byte, a `StrBytes` 32): reserving the full
/// count would let a small frame claim a large allocation it never backs. Past this, a vector
/// grows only as elements actually decode.
pub const REQUEST_ARRAY_RESERVE_ELEMENTS_MAX: usize = 1024;

/// Tagged fields in one tagged-field section of a request. Kafka's messages define a handful
/// per struct; without a cap, a frame of two-byte empty fields would build a map entry (tens of
/// bytes) for every two bytes it sent.
pub const REQUEST_TAGGED_FIELDS_MAX: usize = 1024;

const _: () = assert!(REQUEST_ARRAY_RESERVE_ELEMENTS_MAX <= REQUEST_ARRAY_ELEMENTS_MAX);
const _: () = assert!(REQUEST_TAGGED_FIELDS_MAX <= REQUEST_ARRAY_ELEMENTS_MAX);

/// Kafka's `group.min.session.timeout.ms` default: a JoinGroup asking for a shorter session gets
/// INVALID_SESSION_TIMEOUT. Shorter sessions make the coordinator evict members that merely
/// paused (GC, slow poll) and rebalance needlessly.
pub const GROUP_SESSION_TIMEOUT_MS_MIN_DEFAULT: u64 = 6_000;

/// Kafka's `group.max.session.timeout.ms` default: longer sessions would keep a dead member's
/// partitions unconsumed for that long.
pub const GROUP_SESSION_TIMEOUT_MS_MAX_DEFAULT: u64 = 1_800_000;

/// Kafka's `group.initial.rebalance.delay.ms` default: the first rebalance of an empty group
/// waits this long (extended while members keep arriving) so a starting fleet of consumers
/// causes one rebalance, not one per member.
pub const GROUP_INITIAL_REBALANCE_DELAY_MS_DEFAULT: u64 = 3_000;

/// Kafka's `group.max.size` default (unbounded, as Kafka): members one group may hold; past it a
/// join gets GROUP_MAX_SIZE_REACHED.
pub const GROUP_MEMBERS_MAX_DEFAULT: usize = i32::MAX as usize;

/// How long a new member's first JoinGroup may wait for the rebalance to complete before the
/// member is dropped (Kafka's GroupCoordinator.NewMemberJoinTimeoutMs): a client that disconnected
/// mid-join must not hold up the group until its (possibly long) session timeout.
pub const GROUP_NEW_MEMBER_JOIN_TIMEOUT_MS: u64 = 300_000;

/// Kafka's `offset.metadata.max.bytes` default: a committed offset's metadata string longer than
/// this gets OFFSET_METADATA_TOO_LARGE, so clients can't grow `__consumer_offsets` without bound.
pub const OFFSET_METADATA_BYTES_MAX_DEFAULT: usize = 4096;

/// Kafka's `offsets.retention.minutes` default (7 days), in ms: committed offsets of a group that
/// has been empty this long (or a standalone consumer's offsets this old) are removed.
pub const OFFSETS_RETENTION_MS_DEFAULT: u64 = 7 * 24 * 60 * 60 * 1000;

/// Kafka's `offsets.retention.check.interval.ms` default: how often expired offsets are removed.
pub const OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT: u64 = 600_000;

/// Kafka's `group.consumer.heartbeat.interval.ms` default: how often a KIP-848 member
/// heartbeats; the heartbeat is also how it learns its next assignment step.
pub const GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 5_000;

/// Kafka's `group.consumer.session.timeout.ms` default: a KIP-848 member silent this long is
/// removed and its partitions go to the others.
pub const GROUP_CONSUMER_SESSION_TIMEOUT_MS_DEFAULT: u64 = 45_000;

/// Kafka's `group.consumer.min.session.timeout.ms` / `group.consumer.max.session.timeout.ms`
/// defaults: the broker's `group.consumer.session.timeout.ms` and every group's
/// `consumer.session.timeout.ms` override must lie in this range (too short and members are
/// dropped on a GC pause; too long and a dead member holds its partitions for that long).
pub const GROUP_CONSUMER_SESSION_TIMEOUT_MS_MIN_DEFAULT: u64 = 45_000;
pub const GROUP_CONSUMER_SESSION_TIMEOUT_MS_MAX_DEFAULT: u64 = 60_000;

/// Kafka's `group.consumer.min.heartbeat.interval.ms` / `...max...` defaults: the range of the
/// broker's heartbeat interval and of every group's `consumer.heartbeat.interval.ms` (too short
/// and heartbeats load the coordinator; too long and assignments move slowly).
pub const GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MIN_DEFAULT: u64 = 5_000;
pub const GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MAX_DEFAULT: u64 = 15_000;

const _: () = assert!(
    GROUP_CONSUMER_SESSION_TIMEOUT_MS_MIN_DEFAULT <= GROUP_CONSUMER_SESSION_TIMEOUT_MS_DEFAULT
        && GROUP_CONSUMER_SESSION_TIMEOUT_MS_DEFAULT
            <= GROUP_CONSUMER_SESSION_TIMEOUT_MS_MAX_DEFAULT
);
const _: () = assert!(
    GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MIN_DEFAULT
        <= GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_DEFAULT
        && GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_DEFAULT
            <= GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MAX_DEFAULT
);

/// Longest subscription regex a consumer group member may send: the broker evaluates it
/// against every topic name, so a huge pattern would cost every heartbeat.
pub const CONSUMER_GROUP_REGEX_BYTES_MAX: usize = 4_096;

/// Memory one compiled subscription regex may take (the `regex` crate's size limit): a short
/// pattern can still compile to a very large automaton (`a{1000}{1000}`).
pub const CONSUMER_GROUP_REGEX_COMPILED_BYTES_MAX: usize = 1 << 20;

const _: () = assert!(
    GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_DEFAULT < GROUP_CONSUMER_SESSION_TIMEOUT_MS_DEFAULT
);
const _: () = assert!(CONSUMER_GROUP_REGEX_BYTES_MAX <= REQUEST_STRING_BYTES_MAX);
const _: () = assert!(GROUP_SESSION_TIMEOUT_MS_MIN_DEFAULT <= GROUP_SESSION_TIMEOUT_MS_MAX_DEFAULT);
const _: () = assert!(GROUP_SESSION_TIMEOUT_MS_MAX_DEFAULT <= i32::MAX as u64);
const _: () = assert!(OFFSET_METADATA_BYTES_MAX_DEFAULT <= REQUEST_STRING_BYTES_MAX);
const _: () = assert!(GROUP_MEMBERS_MAX_DEFAULT <= i32::MAX as usize);
// Strings in `__consumer_offsets` records (group ids, member ids, metadata) are i16-length.
const _: () = assert!(REQUEST_STRING_BYTES_MAX <= i16::MAX as usize);

// --- Logs ----------------------------------------------------------------------------------

/// Client-error log lines (undecodable or unsupported requests) one shard writes per
/// [`CLIENT_ERROR_LOG_INTERVAL_MS`] at most; the rest are counted and reported in one
/// "suppressed" line when the interval ends. Without a bound, a client sending garbage in a
/// loop turns the broker's log into a disk-filling copy of its traffic.
pub const CLIENT_ERROR_LOG_LINES_MAX: u32 = 10;

/// The window of [`CLIENT_ERROR_LOG_LINES_MAX`].
pub const CLIENT_ERROR_LOG_INTERVAL_MS: u64 = 10_000;

// --- Shard health ----------------------------------------------------------------------------

/// How often each shard stamps its heartbeat (a task on its executor). The stamp is what the
/// admin thread's liveness check reads: a shard whose executor is wedged (a blocking call, a task
/// that never yields) stops stamping.
pub const SHARD_HEARTBEAT_INTERVAL_MS: u64 = 100;

/// A shard whose last heartbeat is older than this is reported down (`sluice_shard_up` 0,
/// `/v1/health` 503). Long enough that a busy but healthy executor (a burst of completions, a
/// large recovery step) never looks dead; short enough for a supervisor's probe to act on.
pub const SHARD_HEARTBEAT_STALE_MS: u64 = 2_000;

const _: () = assert!(SHARD_HEARTBEAT_STALE_MS >= 10 * SHARD_HEARTBEAT_INTERVAL_MS);
// A wedged shard is reported down (`/v1/health`) before the calls waiting on it fail, and a
// call never gives up on a shard that the health check still sees beating.
const _: () = assert!(SHARD_HEARTBEAT_STALE_MS < SHARD_CALL_TIMEOUT_MS);

/// How often each shard's executor is woken by a timer even when idle (`shard::nudge`): the
/// longest a task that glommio 0.9 scheduled but left unrun while its executor slept waits.
pub const EXECUTOR_NUDGE_INTERVAL_MS: u64 = 10;

const _: () = assert!(EXECUTOR_NUDGE_INTERVAL_MS < SHARD_HEARTBEAT_INTERVAL_MS);

// --- Process, connections, shards ------------------------------------------------------------

/// File descriptors Sluice wants at least (RLIMIT_NOFILE): connections, open segments,
/// io_uring rings; below it the broker refuses to start.
pub const NOFILE_MIN: u64 = 4096;

/// File descriptors Sluice raises RLIMIT_NOFILE to at most when it may raise the hard limit
/// (root), capped by the kernel's fs.nr_open. Each open partition keeps [`PARTITION_FDS`] and
/// each connection one, so 100,000 partitions and 10,000 connections fit with room to spare.
pub const NOFILE_MAX: u64 = 1 << 20;

/// glommio refuses to start below this much registered io memory per executor.
pub const IO_MEMORY_BYTES_MIN: usize = 512 * 1024;

/// What glommio registers per executor by default; more doesn't help Sluice.
pub const IO_MEMORY_BYTES_MAX: usize = 10 << 20;

/// Bounded wait for connections to finish their in-flight requests at shutdown.
pub const SHUTDOWN_DRAIN_MS_MAX: u64 = 5_000;

/// Bytes asked of the socket per read when no bigger frame is pending (`net::connection`):
/// each connection's read buffer, which the memory budget counts per connection
/// (`server::memory_budget`: the connection sixteenths divided by this bound the connections).
pub const CONNECTION_READ_BUFFER_BYTES_MIN: usize = 64 * 1024;

/// A request frame up to this long gets its whole body buffer at once when its length arrives
/// (`net::frame`): one allocation at its exact size, whose pages are only touched as its bytes
/// arrive. A longer one's buffer grows with its request-budget reservation instead (exactly to
/// what is reserved, a realloc each time), so a client announcing a 100 MB frame and stalling
/// makes the broker map 64 KiB, not 100 MB. Kafka clients' requests are at most ~1 MB
/// (`max.request.size`, librdkafka's `message.max.bytes`), so they take the one allocation.
pub const FRAME_BODY_PREALLOCATE_BYTES_MAX: usize = 1 << 20;

/// iovecs handed to one `sendmsg` call (`net::send`; the kernel's UIO_MAXIOV is 1024).
pub const SEND_IOVECS_MAX: usize = 64;

/// How often a long poll re-reads partitions owned by another shard when that shard can't
/// watch them for it (`shard::long_poll`: its watches are at `FETCH_REMOTE_WATCHES_MAX`, or the
/// call failed); share fetches poll at their own interval, at least this.
pub const FETCH_REMOTE_POLL_INTERVAL_MS: u64 = 5;

/// Partitions one shard watches at once for long polls parked on other shards
/// (`shard::long_poll`; units: partitions). Each watch holds a wake-up registration on its
/// partition until the poll ends; without a bound, clients parking fetches for many
/// partitions on the wrong shard would grow the owner's registrations without end. Past it a
/// waiter polls every `FETCH_REMOTE_POLL_INTERVAL_MS` instead.
pub const FETCH_REMOTE_WATCHES_MAX: usize = 4096;

/// Batches per producer whose sequence range is remembered for duplicate detection
/// (`partition`; Kafka keeps the last 5: `max.in.flight.requests.per.connection` ≤ 5 with
/// idempotence).
pub const PRODUCER_BATCHES_REMEMBERED_MAX: usize = 5;

/// How often `flush.ms` is checked (`shard::housekeeping`); a shorter `flush.ms` is honoured
/// at this granularity.
pub const FLUSH_CHECK_INTERVAL_MS: u64 = 100;

/// How often a partition whose log failed (disk full, I/O error) is reopened
/// (`shard::housekeeping`, counted in flush-check ticks): recovery cuts whatever the failed
/// write left, and appends work again once the disk does.
pub const FAILED_REOPEN_INTERVAL_MS: u64 = 1000;

/// Bytes read per step while replaying an offsets partition at start-up
/// (`shard::offsets_topic`; at least one batch, however large).
pub const OFFSETS_REPLAY_READ_BYTES_MAX: usize = 1 << 20;

/// Longest string read from a `__consumer_offsets` record in Kafka's flexible encoding (the
/// KIP-848 and share-group values' compact strings), as Kafka's generated readers refuse a
/// longer one. Without it a damaged or hostile record could carry a client id of any length,
/// and the broker re-encodes such strings in i16-length layouts (a consumer group downgraded
/// to a classic group writes its members' client ids, hosts and instance ids in the classic
/// group value), whose writer asserts they fit: a shard would panic on its coordinator timer.
pub const RECORD_STRING_BYTES_MAX: usize = 32_767;

/// Largest `.txnindex` file read at open (`log::txn_index`): 34 bytes per aborted
/// transaction whose marker is in the segment, so ~490,000 aborts in one segment. A larger
/// file is not trusted and the partition's aborted ranges are rebuilt from a log scan instead
/// (without it a corrupted length could size the read).
pub const TXN_INDEX_FILE_BYTES_MAX: usize = 16 << 20;

/// Largest producer-state snapshot read at open (`partition::producer_snapshot`): 10 bytes
/// plus 46 per producer, so ~730,000 producers on one partition. A larger file is not
/// trusted (open falls back to recovery's scan) rather than sizing a read by it.
pub const PRODUCER_SNAPSHOT_BYTES_MAX: usize = 32 << 20;

/// How often each shard publishes its `metrics::ShardSnapshot`. The status page's rates are
/// deltas between snapshots, so this is their resolution.
pub const METRICS_SNAPSHOT_INTERVAL_MS: u64 = 1_000;

const _: () = assert!(NOFILE_MIN <= NOFILE_MAX);
const _: () = assert!(FDS_RESERVED < NOFILE_MIN);
const _: () = assert!(IO_MEMORY_BYTES_MIN <= IO_MEMORY_BYTES_MAX);
const _: () = assert!(CONNECTION_READ_BUFFER_BYTES_MIN >= REQUEST_HEADER_BYTES_MIN);
const _: () = assert!(CONNECTION_READ_BUFFER_BYTES_MIN <= REQUEST_BYTES_MAX_DEFAULT);
// A frame that outgrows its read-ahead still fits its first allocation.
const _: () = assert!(CONNECTION_READ_BUFFER_BYTES_MIN <= FRAME_BODY_PREALLOCATE_BYTES_MAX);
const _: () = assert!(FRAME_BODY_PREALLOCATE_BYTES_MAX <= REQUEST_BYTES_MAX_DEFAULT);
const _: () = assert!(SEND_IOVECS_MAX <= 1024);
const _: () = assert!(FETCH_REMOTE_POLL_INTERVAL_MS < FETCH_WAIT_MS_MAX);
const _: () = assert!(PRODUCER_BATCHES_REMEMBERED_MAX > 0);
// The reopen interval is counted in flush-check ticks.
const _: () = assert!(FLUSH_CHECK_INTERVAL_MS <= FAILED_REOPEN_INTERVAL_MS);
const _: () = assert!(OFFSETS_REPLAY_READ_BYTES_MAX <= FETCH_RESPONSE_BYTES_MAX);
// Every string replayed from a record fits the i16-length layouts it may be written back in.
const _: () = assert!(RECORD_STRING_BYTES_MAX <= i16::MAX as usize);
// A snapshot is published well within the time the health check allows a shard.
const _: () = assert!(METRICS_SNAPSHOT_INTERVAL_MS < SHARD_HEARTBEAT_STALE_MS);

// --- The `sluice` client commands ----------------------------------------------------------

// Their limits live with the client library (`sluice_client::limits`); what relates them to
// the broker's is asserted here.
const _: () =
    assert!(sluice_client::limits::CLIENT_PRODUCE_BATCH_BYTES_MAX <= MESSAGE_BYTES_MAX_DEFAULT);
const _: () =
    assert!(sluice_client::limits::CLIENT_PRODUCE_LINE_BYTES_MAX == MESSAGE_BYTES_MAX_DEFAULT);
// A call to a wedged shard fails (after at most 1.25 timeouts) before a client gives up
// (the CLI's timeout is Kafka clients' default request.timeout.ms).
const _: () =
    assert!(SHARD_CALL_TIMEOUT_MS * 2 <= sluice_client::limits::CLIENT_REQUEST_TIMEOUT_MS);

// --- TLS (SSL and SASL_SSL listeners, `net::tls`) ---------------------------------------------

/// Ciphertext rustls may hold for one connection before it is sent (and plaintext before the
/// handshake): how much of a reply is encrypted before one `sendmsg` sends it. Larger means
/// fewer, larger writes; each open TLS connection may hold this much while its socket is full
/// (count it with the connection buffers when sizing `--memory`).
pub const TLS_SEND_BUFFER_BYTES: usize = 256 * 1024;

/// Ciphertext handed to glommio's waiting write when the socket is full (a copy, taken only
/// then).
pub const TLS_SEND_SPILL_BYTES: usize = 64 * 1024;

/// Each TLS connection's ciphertext read buffer (rustls adds its own record buffer, ≤ 18 KiB).
pub const TLS_READ_BUFFER_BYTES: usize = 64 * 1024;

/// A certificate, key or CA file larger than this is refused (read whole into memory).
pub const TLS_PEM_FILE_BYTES_MAX: u64 = 1024 * 1024;

/// How often the reload thread looks at the certificate and key files' mtimes and sizes (and
/// for a SIGHUP): the longest a replaced certificate waits before new connections get it.
pub const TLS_RELOAD_POLL_INTERVAL_MS: u64 = 1_000;

const _: () = assert!(TLS_SEND_SPILL_BYTES <= TLS_SEND_BUFFER_BYTES);
// A whole TLS record (16 KiB of plaintext and its overhead) fits the send buffer.
const _: () = assert!(TLS_SEND_BUFFER_BYTES >= 18 * 1024);

// --- Authentication (issue 14, SASL) ---------------------------------------------------------

/// Kafka's `connection.failed.authentication.delay.ms` default: how long a failed
/// authentication waits before it is answered and its connection closed.
pub const FAILED_AUTHENTICATION_DELAY_MS_DEFAULT: u64 = 100;
/// Longest `--connection-failed-authentication-delay-ms`: the connection is held (busy) that
/// long, and must stay below the idle timeout's floor of usefulness.
pub const FAILED_AUTHENTICATION_DELAY_MS_MAX: u64 = 60_000;
/// Longest user name (Kafka has none; a SCRAM user name is a config entity name, kept short).
pub const SCRAM_USER_NAME_BYTES_MAX: usize = 256;
/// Most SCRAM users a broker stores. The credentials are one file, rewritten whole (and
/// fsynced) on every change and copied in memory on every AlterUserScramCredentials: without a
/// bound, a client allowed to alter users could grow both without end. Kafka has no such limit.
pub const SCRAM_USERS_MAX: usize = 10_000;

// --- Moved from their modules (status page, TLS writes, Fetch framing) ------------------------

/// Status-page samples kept (`admin::status`): rates are averaged over this many intervals at
/// most.
pub const STATUS_SAMPLES_MAX: usize = 5;

/// Plaintext chunks handed to rustls at once (`net::tls::stream`; it encrypts across them into
/// full records).
pub const TLS_WRITE_IOVECS_MAX: usize = 64;

/// Fetch records chunks at most this long are copied into the framing buffer instead of
/// becoming a chunk of their own (`protocol::fetch_response`): a separate iovec costs more
/// than copying a few bytes (a cached batch's 16-byte stamped prefix).
pub const INLINE_CHUNK_BYTES_MAX: usize = 256;

const _: () = assert!(TLS_WRITE_IOVECS_MAX <= SEND_IOVECS_MAX);

/// Client quota entities the controller stores at most (AlterClientQuotas past it answers
/// POLICY_VIOLATION for the new entity). Each is published in every shard's snapshot and
/// scanned when a connection's quota is resolved, so the set must stay small.
pub const QUOTA_ENTITIES_MAX: usize = 10_000;

/// Quota accounting keys (user / client-id tags, per kind) one shard tracks at once. Past it
/// the least recently used one is forgotten: a flood of client ids under a `<default>` quota
/// can't grow a shard's memory, at the price of resetting the forgotten key's usage.
pub const QUOTA_TRACKED_KEYS_MAX: usize = 10_000;

/// Kafka's `quota.window.num`: samples a quota rate is measured over.
pub const QUOTA_WINDOW_NUM: u64 = 11;

/// Kafka's `quota.window.size.seconds`, in ms: one sample's span, and the most a request-quota
/// throttle lasts (Kafka's bound for `request_percentage`).
pub const QUOTA_WINDOW_MS: u64 = 1_000;

/// How often each shard publishes its quota usage and adopts the other shards' (the node-wide
/// combination) while quota'd clients are active on it. A client can overrun its quota by at
/// most about what it sends in two such intervals before every shard sees it: at 25 ms a
/// producer writing to both shards of this 2-core box ran 11 % over its quota across a
/// window-sized burst (BENCHMARKS.md, quota-bench), at 5 ms within the run-to-run spread.
pub const QUOTA_SYNC_INTERVAL_MS: u64 = 5;

/// The sync interval while no quota'd client is active on a shard (nothing to publish; only
/// the others' usage is read, for the first request of a key that arrives next).
pub const QUOTA_IDLE_SYNC_INTERVAL_MS: u64 = 100;

const _: () = assert!(QUOTA_SYNC_INTERVAL_MS * 4 <= QUOTA_WINDOW_MS);
const _: () = assert!(QUOTA_SYNC_INTERVAL_MS <= QUOTA_IDLE_SYNC_INTERVAL_MS);
const _: () = assert!(QUOTA_IDLE_SYNC_INTERVAL_MS * 4 <= QUOTA_WINDOW_MS);
const _: () = assert!(QUOTA_WINDOW_NUM >= 2);
// --- Authorization (issue 14, ACLs) ------------------------------------------------------------

/// ACL bindings the cluster holds at most (Kafka has no such limit). Every change rewrites
/// `meta/acls.json` whole and is published to every shard as a new set, and
/// `authorizeByResourceType` walks a resource type's bindings: without a bound, a client with
/// ALTER on the cluster could grow every shard's memory and each change's fsync without end.
/// Past it a creation fails alone (POLICY_VIOLATION, with this number in its message).
pub const ACL_BINDINGS_MAX: usize = 10_000;

/// Resources (type and name) one connection's authorization cache remembers decisions for
/// (`security::acl::cache`). At the bound the cache starts over: a client naming endless
/// topics costs ACL walks, never memory. 16 bytes plus the name per entry.
pub const ACL_DECISION_CACHE_ENTRIES_MAX: usize = 4_096;

/// Bytes the log cleaner's key map counts per entry: a 16-byte key hash and an 8-byte offset,
/// plus the hash table's control byte and load-factor slack. `log.cleaner.dedupe.buffer.size`
/// / this is how many keys one pass maps (`log::cleaner`).
pub const CLEANER_MAP_ENTRY_BYTES: usize = 32;
/// Dirty bytes one cleaner pass maps at most, whatever the key map holds: bounds one pass's
/// reading (and so how long a partition keeps the shard's cleaner), the rest waits for the
/// next pass.
pub const CLEANER_PASS_DIRTY_BYTES_MAX: u64 = 256 << 20;
/// Bytes the cleaner reads from a segment at a time (at least one whole batch); its output is
/// written per such chunk, so a pass holds about twice this, whatever the segment size.
pub const CLEANER_READ_BYTES: usize = 1 << 20;
/// Batch bytes the cleaner maps or rewrites in one turn before it yields the shard to produce
/// and fetch (unconditionally, whatever glommio's preemption timer says). Its task queue's low
/// shares decide who runs when both are busy; this bounds how long one turn holds the shard:
/// with whole 1 MiB reads a turn took milliseconds and produce p99.9 rose ~4x while cleaning
/// (BENCHMARKS.md). At least one whole batch per turn, so a larger batch is one turn.
pub const CLEANER_TURN_BYTES_MAX: usize = 64 << 10;
const _: () = assert!(CLEANER_TURN_BYTES_MAX <= CLEANER_READ_BYTES);
/// `log.cleaner.dedupe.buffer.size` default, per shard: Kafka's 128 MiB is for the whole
/// broker's cleaner threads; each shard maps its own partitions with this.
pub const CLEANER_DEDUPE_BUFFER_BYTES_DEFAULT: usize = 16 << 20;
/// Smallest key map a shard may be given: a pass must map at least one batch's keys.
pub const CLEANER_DEDUPE_BUFFER_BYTES_MIN: usize = 1024;
/// `log.cleaner.io.max.bytes.per.second` default (Kafka: unlimited); per shard, reads plus
/// writes.
pub const CLEANER_IO_BYTES_PER_SECOND_DEFAULT: u64 = 256 << 20;
/// `log.cleaner.backoff.ms` default: how long a shard's cleaner sleeps when no log was due.
pub const CLEANER_BACKOFF_MS_DEFAULT: u64 = 15_000;
/// The cleaner's glommio task queue shares (the default queue has 1000): under contention
/// the cleaner gets about a tenth of the shard's time next to produce and fetch.
pub const CLEANER_TASK_QUEUE_SHARES: usize = 100;
/// How long a read that failed during a cleaner swap waits for the swap to finish before it
/// reads again (its fsyncs and renames run on the blocking pool); past it the read's error
/// stands.
pub const CLEANER_SWAP_WAIT_MS_MAX: u64 = 5_000;

const _: () = assert!(CLEANER_DEDUPE_BUFFER_BYTES_MIN >= CLEANER_MAP_ENTRY_BYTES);
const _: () = assert!(CLEANER_READ_BYTES as u64 <= CLEANER_PASS_DIRTY_BYTES_MAX);

/// Partitions one transaction may hold: AddPartitionsToTxn refuses a request naming more, or
/// one that would take the transaction past it, with INVALID_TXN_STATE. Kafka has no such bound; Sluice needs one because
/// the whole set is one `__transaction_state` record and one marker write per partition at
/// EndTxn: 10,000 partitions is a ~50 KiB record, far under the topic's message size.
pub const TXN_PARTITIONS_MAX: usize = 10_000;

// ---- Share groups (KIP-932), the `group.share.*` broker configs ----

/// Kafka's `group.share.record.lock.duration.ms` default: how long a delivered record stays
/// with its member before it is offered again. Shorter redelivers records slow workers are
/// still processing; longer leaves a dead worker's records stuck.
pub const SHARE_RECORD_LOCK_DURATION_MS_DEFAULT: u64 = 30_000;
/// The shortest lock `--group-share-record-lock-duration-ms` accepts (Kafka's floor for
/// `group.share.min.record.lock.duration.ms`): below it a poll loop can't acknowledge in time.
pub const SHARE_RECORD_LOCK_DURATION_MS_MIN: u64 = 1_000;
/// The longest lock the flag accepts (Kafka's `group.share.max.record.lock.duration.ms` cap).
pub const SHARE_RECORD_LOCK_DURATION_MS_MAX: u64 = 3_600_000;

/// Kafka's `group.share.delivery.count.limit` default: a record delivered this many times and
/// released again (or timed out) is archived, so a poison record can't loop forever.
pub const SHARE_DELIVERY_COUNT_LIMIT_DEFAULT: u16 = 5;
/// Kafka's bounds on `group.share.delivery.count.limit`.
pub const SHARE_DELIVERY_COUNT_LIMIT_MIN: u16 = 2;
pub const SHARE_DELIVERY_COUNT_LIMIT_MAX: u16 = 10;

/// Kafka's `group.share.partition.max.record.locks` default: offsets one share-partition keeps
/// in flight (its memory and state file grow with it; past it fetches wait for acknowledgements).
pub const SHARE_PARTITION_RECORD_LOCKS_MAX_DEFAULT: usize = 2_000;
/// Kafka's bounds on `group.share.partition.max.record.locks`.
pub const SHARE_PARTITION_RECORD_LOCKS_MAX_MIN: usize = 100;
pub const SHARE_PARTITION_RECORD_LOCKS_MAX_MAX: usize = 10_000;

/// Kafka's `group.share.max.size` default: members one share group may hold; past it a
/// heartbeat gets GROUP_MAX_SIZE_REACHED.
pub const SHARE_GROUP_MEMBERS_MAX_DEFAULT: usize = 200;
/// Kafka's cap on `group.share.max.size`.
pub const SHARE_GROUP_MEMBERS_MAX_MAX: usize = 1_000;

/// Kafka's `group.share.heartbeat.interval.ms` default, told to members.
pub const SHARE_HEARTBEAT_INTERVAL_MS_DEFAULT: u64 = 5_000;
/// Kafka's `group.share.session.timeout.ms` default: a member silent this long is removed.
pub const SHARE_SESSION_TIMEOUT_MS_DEFAULT: u64 = 45_000;
/// How often each coordinator shard looks for share group members whose session ran out
/// (and releases their records). Without the sweep a dead member is only noticed when
/// another member of its group heartbeats, and its records wait for their locks to end.
pub const SHARE_MEMBER_SWEEP_INTERVAL_MS: u64 = 1_000;

/// Share sessions (ShareFetch sessions) one shard keeps (Kafka's
/// `group.share.max.share.sessions` per broker, 2000): past it a new session gets
/// SHARE_SESSION_LIMIT_REACHED. Each holds a member's partition list.
pub const SHARE_SESSIONS_MAX: usize = 2_000;
/// Partitions one share session may name: bounds the session's memory.
pub const SHARE_SESSION_PARTITIONS_MAX: usize = 10_000;

/// Records one share-partition state file may hold: the most a share-partition keeps.
pub const SHARE_STATE_RECORDS_MAX: usize = SHARE_PARTITION_RECORD_LOCKS_MAX_MAX;

/// Records one ShareFetch acquires per partition at most (its `max_records` is cut to this).
pub const SHARE_FETCH_RECORDS_MAX: usize = SHARE_PARTITION_RECORD_LOCKS_MAX_MAX;

const _: () = assert!(SHARE_RECORD_LOCK_DURATION_MS_MIN <= SHARE_RECORD_LOCK_DURATION_MS_DEFAULT);
const _: () = assert!(SHARE_RECORD_LOCK_DURATION_MS_DEFAULT <= SHARE_RECORD_LOCK_DURATION_MS_MAX);
const _: () = assert!(SHARE_RECORD_LOCK_DURATION_MS_MAX <= i32::MAX as u64);
const _: () = assert!(SHARE_DELIVERY_COUNT_LIMIT_MIN <= SHARE_DELIVERY_COUNT_LIMIT_DEFAULT);
const _: () = assert!(SHARE_DELIVERY_COUNT_LIMIT_DEFAULT <= SHARE_DELIVERY_COUNT_LIMIT_MAX);
const _: () =
    assert!(SHARE_PARTITION_RECORD_LOCKS_MAX_MIN <= SHARE_PARTITION_RECORD_LOCKS_MAX_DEFAULT);
const _: () =
    assert!(SHARE_PARTITION_RECORD_LOCKS_MAX_DEFAULT <= SHARE_PARTITION_RECORD_LOCKS_MAX_MAX);
const _: () = assert!(SHARE_GROUP_MEMBERS_MAX_DEFAULT <= SHARE_GROUP_MEMBERS_MAX_MAX);
