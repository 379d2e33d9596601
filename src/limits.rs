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
    FDS_RESERVED + shards as u64 * crate::log::transient::TRANSIENT_FILES_OPEN_MAX as u64
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

/// Default `segment.ms` (Kafka's: 7 days): a segment older than this is rolled.
pub const SEGMENT_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default `retention.ms` (Kafka's log.retention.hours=168).
pub const RETENTION_MS_DEFAULT: i64 = 7 * 24 * 60 * 60 * 1000;

/// Default period of the retention pass (Kafka's log.retention.check.interval.ms).
pub const RETENTION_CHECK_INTERVAL_MS_DEFAULT: u64 = 300_000;

// The per-shard tail-cache and in-flight request budgets come from `--memory` (see
// `server::memory_budget`): half and a quarter of each shard's share. The in-flight budget is
// never below one maximum request, or that request could never be read.

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

// --- Authentication (issue 14, SASL) ---------------------------------------------------------

/// Kafka's `connection.failed.authentication.delay.ms` default: how long a failed
/// authentication waits before it is answered and its connection closed.
pub const FAILED_AUTHENTICATION_DELAY_MS_DEFAULT: u64 = 100;
/// Longest `--connection-failed-authentication-delay-ms`: the connection is held (busy) that
/// long, and must stay below the idle timeout's floor of usefulness.
pub const FAILED_AUTHENTICATION_DELAY_MS_MAX: u64 = 60_000;
/// Longest user name (Kafka has none; a SCRAM user name is a config entity name, kept short).
pub const SCRAM_USER_NAME_BYTES_MAX: usize = 256;
