//! A shard: one pinned thread running one glommio executor, owning a disjoint set of
//! partitions. Shards share nothing mutable; they talk through bounded shared channels that
//! carry [`ShardTask`]s (closures run on the target shard).

pub mod acl_control;
pub mod blocking;
pub mod broker_config_control;
pub mod call;
pub mod client_errors;
pub mod control;
pub mod coordinator;
pub mod group_config_control;
pub mod housekeeping;
pub mod long_poll;
pub mod nudge;
pub mod offsets_topic;
pub mod partition_table;
pub mod producer_ids;
pub mod quota_control;
pub mod router;
pub mod topic_configs;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::path::PathBuf;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use futures::channel::oneshot;
use glommio::channels::shared_channel::ConnectedSender;

use call::Abandoned;

use crate::log::{Log, LogConfig, ShardStorage};
use crate::metadata::{partition_dir, MetadataStore, Snapshot, TopicMeta};
use crate::metrics::ShardMetrics;
use crate::partition::Partition;

/// Work sent to another shard: a closure run there, with that shard's context.
pub type ShardTask = call::Task<Shard>;

/// Broker-wide settings, immutable after start-up, shared by every shard.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub data_dir: PathBuf,
    pub shards: u32,
    pub advertised_host: String,
    pub message_max_bytes: usize,
    pub request_max_bytes: usize,
    pub auto_create_topics: bool,
    pub default_partitions: u32,
    /// acks=all waits for fdatasync (true) or only for the write (Kafka's default semantics).
    pub acks_all_fsync: bool,
    /// Connections one shard keeps open at most (`--max-connections` / shards, rounded up).
    pub shard_connections_max: usize,
    /// The most connections one shard's memory share has read buffers for: a dynamic
    /// `max.connections` never takes a shard past it.
    pub shard_connections_budget_max: usize,
    /// `--max-connections`, the node's (DescribeConfigs' static `max.connections`).
    pub max_connections: usize,
    /// `--connections-max-idle-ms`: how long a connection may sit idle, or a reply write make
    /// no progress, before the broker closes it (`net::idle`).
    pub connections_max_idle_ms: u64,
    /// Partitions the broker may hold: what RLIMIT_NOFILE leaves room for next to
    /// `--max-connections` (see `checks::partitions_fitting`).
    pub partitions_max: usize,
    /// Consumer-group settings (`group.*`, `offset*` broker configs).
    pub groups: crate::groups::GroupConfig,
    /// The transaction coordinators' settings (`--transaction-*`, `--transactional-id-*`).
    pub txns: crate::txn::TxnConfig,
    /// Share-group settings (`group.share.*` broker configs).
    pub share: crate::share::ShareConfig,
    /// Broker defaults for topic configs a topic doesn't set (Kafka's log.* settings).
    pub log_defaults: LogDefaults,
    pub retention_check_interval_ms: u64,
    /// The log cleaner (`log.cleaner.*` flags).
    pub cleaner: CleanerConfig,
    pub tail_cache_bytes: usize,
    /// Request bytes one shard holds at once (never below `request_max_bytes`).
    pub shard_inflight_request_bytes: usize,
    /// Fetch response bytes one shard holds at once (read, not yet written).
    pub shard_fetch_buffer_bytes: usize,
    /// O_DIRECT write buffer bytes one shard holds at once.
    pub shard_write_buffer_bytes: usize,
    /// Heap bytes one shard keeps sealed segments' sparse indexes in (`log::index_cache`).
    pub shard_index_cache_bytes: usize,
    /// SCRAM credentials (`security::credentials`), read by SASL authentication and changed
    /// by AlterUserScramCredentials on any shard.
    pub credentials: Arc<crate::security::credentials::SharedCredentials>,
    /// Where the shards combine their client-quota usage into node-wide rates (`quota`).
    pub quota_board: Arc<crate::quota::QuotaBoard>,
    /// `--authorizer`, `--super-users`, `--allow-everyone-if-no-acl-found`
    /// (`security::authz::authorize`).
    pub authorizer: crate::security::acl::AuthorizerConfig,
}

/// The log cleaner's broker settings, per shard.
#[derive(Debug, Clone, Copy)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    pub limits: crate::log::cleaner::CleanerLimits,
    /// `log.cleaner.backoff.ms`: sleep between looks when no log was due.
    pub backoff_ms: u64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            limits: crate::log::cleaner::CleanerLimits {
                dedupe_buffer_bytes: crate::limits::CLEANER_DEDUPE_BUFFER_BYTES_DEFAULT,
                io_bytes_per_second: crate::limits::CLEANER_IO_BYTES_PER_SECOND_DEFAULT,
            },
            backoff_ms: crate::limits::CLEANER_BACKOFF_MS_DEFAULT,
        }
    }
}

/// Broker-wide defaults of the per-topic storage configs.
#[derive(Debug, Clone, Copy)]
pub struct LogDefaults {
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    /// log.message.timestamp.type (`--log-message-timestamp-type`).
    pub message_timestamp_type: crate::log::validate::TimestampType,
    /// log.message.timestamp.before.max.ms / after.max.ms (Kafka 4's defaults: unbounded
    /// before, one hour after, KIP-1030).
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_after_max_ms: i64,
    /// `min.insync.replicas` (`--min-insync-replicas`): acks=all produces to a partition
    /// with fewer in-sync replicas (here always 1) are refused with NOT_ENOUGH_REPLICAS.
    pub min_insync_replicas: i64,
    /// `log.cleanup.policy`.
    pub cleanup_policy: crate::log::cleaner::CleanupPolicy,
    /// `log.cleaner.min.cleanable.ratio` (topic: `min.cleanable.dirty.ratio`).
    pub min_cleanable_ratio: f64,
    /// `log.cleaner.min.compaction.lag.ms` / `log.cleaner.max.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    /// `log.cleaner.delete.retention.ms` (topic: `delete.retention.ms`).
    pub delete_retention_ms: i64,
    /// `log.preallocate` (topic: `preallocate`).
    pub preallocate: bool,
}

impl Default for LogDefaults {
    fn default() -> Self {
        LogDefaults {
            retention_ms: crate::limits::RETENTION_MS_DEFAULT,
            retention_bytes: -1,
            segment_bytes: crate::limits::SEGMENT_BYTES_DEFAULT,
            segment_ms: crate::limits::SEGMENT_MS_DEFAULT,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            message_timestamp_type: crate::log::validate::TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: crate::limits::MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT,
            min_insync_replicas: 1,
            cleanup_policy: crate::log::cleaner::CleanupPolicy::DELETE,
            min_cleanable_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
            preallocate: false,
        }
    }
}

impl BrokerConfig {
    /// The value a topic that doesn't set config `name` runs with on shard `shard`: the
    /// dynamic broker config behind it (`log.segment.bytes` for `segment.bytes`, set with
    /// AlterConfigs for that broker id or the cluster default: `dynamic`, the snapshot's), else the broker flag
    /// (`--log-retention-bytes` for `retention.bytes`, ...), else Kafka's default; None for a
    /// name Kafka doesn't know. DescribeConfigs reports it, and `Shard::log_config_for` /
    /// `partition_settings_for` use the same values (`effective_log_defaults`).
    pub fn topic_config_default(
        &self,
        dynamic: &crate::metadata::broker_configs::BrokerConfigs,
        shard: u32,
        name: &str,
    ) -> Option<String> {
        let kafka = crate::metadata::configs::default_of(name)?;
        if let Some((v, _)) = dynamic.topic_default(shard, name) {
            return Some(v.to_string());
        }
        let d = &self.log_defaults;
        let from_flag = match name {
            "retention.ms" => Some(d.retention_ms.to_string()),
            "retention.bytes" => Some(d.retention_bytes.to_string()),
            "segment.bytes" => Some(d.segment_bytes.to_string()),
            "segment.ms" => Some(d.segment_ms.to_string()),
            "flush.messages" => Some(d.flush_messages.to_string()),
            "flush.ms" => Some(d.flush_ms.to_string()),
            "max.message.bytes" => Some(self.message_max_bytes.to_string()),
            "message.timestamp.type" => Some(d.message_timestamp_type.name().to_string()),
            "message.timestamp.before.max.ms" => {
                Some(d.message_timestamp_before_max_ms.to_string())
            }
            "message.timestamp.after.max.ms" => Some(d.message_timestamp_after_max_ms.to_string()),
            "min.insync.replicas" => Some(d.min_insync_replicas.to_string()),
            "cleanup.policy" => Some(d.cleanup_policy.to_string()),
            "min.cleanable.dirty.ratio" => Some(d.min_cleanable_ratio.to_string()),
            "min.compaction.lag.ms" => Some(d.min_compaction_lag_ms.to_string()),
            "max.compaction.lag.ms" => Some(d.max_compaction_lag_ms.to_string()),
            "delete.retention.ms" => Some(d.delete_retention_ms.to_string()),
            "preallocate" => Some(d.preallocate.to_string()),
            _ => None,
        };
        Some(from_flag.unwrap_or_else(|| kafka.to_string()))
    }

    /// Shard `shard`'s defaults of the storage configs: its dynamic broker configs laid over
    /// the flags (what a topic without its own value follows on that shard), with
    /// `message.max.bytes` and `log.index.interval.bytes`.
    pub fn effective_log_defaults(
        &self,
        dynamic: &crate::metadata::broker_configs::BrokerConfigs,
        shard: u32,
    ) -> (LogDefaults, usize, u64) {
        let mut d = self.log_defaults;
        let get = |n: &str| dynamic.get_i64(shard, n);
        if let Some(v) = get("log.retention.ms") {
            d.retention_ms = v;
        }
        if let Some(v) = get("log.retention.bytes") {
            d.retention_bytes = v;
        }
        if let Some(v) = get("log.segment.bytes") {
            d.segment_bytes = v.max(14) as u64;
        }
        if let Some(v) = get("log.roll.ms") {
            d.segment_ms = v.max(1);
        }
        if let Some(v) = get("log.flush.interval.messages") {
            d.flush_messages = v.max(1);
        }
        if let Some(v) = get("log.flush.interval.ms") {
            d.flush_ms = v.max(0);
        }
        if let Some(v) = get("min.insync.replicas") {
            d.min_insync_replicas = v.max(1);
        }
        if let Some(v) = dynamic
            .get(shard, "log.preallocate")
            .and_then(|(v, _)| crate::metadata::configs::parse_bool(v))
        {
            d.preallocate = v;
        }
        let message_max_bytes =
            get("message.max.bytes").map_or(self.message_max_bytes, |v| v.max(0) as usize);
        let index_interval_bytes = get("log.index.interval.bytes")
            .map_or(crate::limits::INDEX_INTERVAL_BYTES, |v| v.max(1) as u64);
        (d, message_max_bytes, index_interval_bytes)
    }
}

/// A one-shot broadcast: set once, wakes every waiter (shutdown, etc.).
#[derive(Default)]
pub struct Latch {
    set: Cell<bool>,
    waiters: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Latch {
    pub fn set(&self) {
        self.set.set(true);
        for w in self.waiters.borrow_mut().drain(..) {
            let _ = w.send(());
        }
    }

    pub fn is_set(&self) -> bool {
        self.set.get()
    }

    pub async fn wait(&self) {
        if self.set.get() {
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.push_waiter(tx);
        let _ = rx.await;
    }

    /// A wait whose future is dropped before the latch is set (a `select!` that took another
    /// arm: a connection's every read, a long poll that got data) leaves its sender behind.
    /// Without pruning the list grew by one per such wait until shutdown. Dead senders are
    /// dropped when the list is full, and it doubles only if most are still live: it stays
    /// within about three times the live waiters, at O(1) amortized per wait.
    fn push_waiter(&self, tx: oneshot::Sender<()>) {
        let mut waiters = self.waiters.borrow_mut();
        if waiters.len() == waiters.capacity() {
            waiters.retain(|w| !w.is_canceled());
            if waiters.len() > waiters.capacity() / 2 {
                let grow = waiters.capacity().max(4);
                waiters.reserve(grow);
            }
        }
        waiters.push(tx);
    }
}

/// This shard's own copy of a published snapshot: the `Snapshot` and its topics in allocations
/// of their own, so the reference counts every Produce, Fetch and Metadata request bumps
/// (`Shard::snapshot`, `Snapshot::topic`) live on cache lines no other core writes. One `Arc`
/// shared by all shards made each request's clone a write to a line every core was writing
/// (it bounced between cores at every request). Made on the adopting shard, once per
/// publication; the quotas, ACLs and broker configs stay shared (read, rarely cloned).
fn own_copy(published: &Snapshot) -> Arc<Snapshot> {
    let mut copy = published.clone();
    for topic in copy.topics.values_mut() {
        *topic = Arc::new(TopicMeta::clone(topic));
    }
    Arc::new(copy)
}

/// The controller's state. Exists on shard 0 only.
pub struct Controller {
    /// Read and changed only by the holder of `lock`: a staged change is in memory before it
    /// is on disk.
    pub store: RefCell<MetadataStore>,
    /// Control-plane changes run one at a time, each published to every shard before the next.
    pub lock: glommio::sync::Semaphore,
}

impl Controller {
    /// Write a staged change's file on the blocking pool, then commit it (or undo it if the write
    /// failed). The caller holds `lock` and publishes only after this returned Ok: persist
    /// before publish.
    pub async fn commit<T>(
        &self,
        pool: &blocking::BlockingPool,
        mut staged: crate::metadata::Staged<T>,
    ) -> std::io::Result<T> {
        debug_assert_eq!(
            self.lock.available(),
            0,
            "commit without the controller lock"
        );
        let path = self.store.borrow().path().to_path_buf();
        let image = staged.take_image();
        let written = pool
            .run(move || crate::metadata::file::replace_durably(&path, &image))
            .await;
        let mut store = self.store.borrow_mut();
        match written {
            Ok(()) => Ok(store.committed(staged)),
            Err(e) => {
                store.undo(staged);
                Err(e)
            }
        }
    }
}

/// Per-shard context: everything one core owns. Lives on its own shard; never crosses threads.
///
/// The shard's state is here and in what it holds, not in thread-locals: its partitions, its
/// storage state shared by its logs (`storage`: tail cache, index cache, flush cycle,
/// transient-file and disk-read slots, blocking-pool calls), its memory budgets, its groups and
/// producer ids. One thread-local remains, in tests only: the fault-injecting disk
/// (`log::faults`), with its reason at its definition.
pub struct Shard {
    pub id: u32,
    pub config: Arc<BrokerConfig>,
    pub metrics: Arc<ShardMetrics>,
    snapshot: RefCell<Arc<Snapshot>>,
    partitions: RefCell<partition_table::PartitionTable>,
    /// `senders[s]` reaches shard s (None for this shard itself).
    senders: Vec<Option<ConnectedSender<ShardTask>>>,
    pub controller: Option<Controller>,
    pub producer_ids: producer_ids::ProducerIdAllocator,
    /// The group coordinator for the `__consumer_offsets` partitions this shard owns.
    pub groups: crate::groups::coordinator::Coordinator,
    /// Offsets staged by transactions for the groups this shard coordinates.
    pub txn_offsets: crate::groups::txn_offsets::PendingTxnOffsets,
    /// The transaction coordinator for the `__transaction_state` partitions this shard owns.
    pub txns: crate::txn::coordinator::TxnCoordinator,
    /// Share groups: those this shard coordinates, the share-partitions of the partitions it
    /// owns, and the share sessions of members fetching from it (`share`).
    pub share: crate::share::ShareState,
    pub shutdown: Latch,
    /// Watches this shard holds on its partitions for other shards' long polls (`long_poll`).
    pub fetch_watches: long_poll::WatchSlots,
    /// What this shard's logs share: the tail cache, transient-file slots, ... (`log::storage`).
    pub storage: Rc<ShardStorage>,
    /// Rate-limited log of client errors (bad requests).
    pub client_errors: client_errors::ClientErrorLog,
    /// Request bytes in flight on this shard (units: bytes): taken before a frame's body is
    /// read, given back once its reply is written.
    pub request_budget: Rc<glommio::sync::Semaphore>,
    /// Fetch response bytes held by this shard's connections: reserved before a partition is
    /// read for a fetch, released once the response is written.
    pub fetch_budget: Rc<crate::memory::ByteBudget>,
    /// O_DIRECT write buffers of this shard's logs (`--write-buffer-bytes`).
    pub write_budget: Rc<crate::memory::ByteBudget>,
    /// This shard's client-quota accounting, combined node-wide (`quota`).
    pub quotas: crate::quota::ShardQuotas,
    /// Per target shard: when a failed cross-shard call to it was last logged, and the failures
    /// since. One line per target per `SHARD_CALL_TIMEOUT_MS`: a wedged shard fails every
    /// forward to it, and a line each would flood the log (written from this thread).
    failed_calls: RefCell<Vec<(Option<std::time::Instant>, u64)>>,
    me: Weak<Shard>,
}

impl Shard {
    pub fn new(
        id: u32,
        config: Arc<BrokerConfig>,
        metrics: Arc<ShardMetrics>,
        snapshot: Arc<Snapshot>,
        senders: Vec<Option<ConnectedSender<ShardTask>>>,
        controller: Option<Controller>,
    ) -> std::io::Result<Rc<Shard>> {
        assert_eq!(senders.len(), config.shards as usize);
        let senders_len = senders.len();
        assert_eq!(
            controller.is_some(),
            id == 0,
            "the controller lives on shard 0"
        );
        let groups = crate::groups::coordinator::Coordinator::new(config.groups);
        let share = crate::share::ShareState::new(config.share);
        let storage = ShardStorage::new(config.tail_cache_bytes, config.shard_index_cache_bytes);
        let producer_ids = producer_ids::ProducerIdAllocator::open(
            &config.data_dir,
            id,
            storage.blocking.clone(),
        )?;
        let request_budget = Rc::new(glommio::sync::Semaphore::new(
            config.shard_inflight_request_bytes as u64,
        ));
        let fetch_budget = crate::memory::ByteBudget::new(config.shard_fetch_buffer_bytes);
        let write_budget = crate::memory::ByteBudget::new(config.shard_write_buffer_bytes);
        // The response encoder counts error codes in the metrics of the shard it runs on.
        let client_errors = client_errors::ClientErrorLog::new(id, metrics.clone());
        if id == 0 {
            // Deletions a crash interrupted (`shard::blocking::retire_dir`) are finished here.
            glommio::spawn_local(blocking::remove_leftover_deletions(
                storage.blocking.clone(),
                config.data_dir.clone(),
            ))
            .detach();
        }
        let quotas = crate::quota::ShardQuotas::new(id, config.quota_board.clone());
        Ok(Rc::new_cyclic(|me| Shard {
            id,
            config,
            metrics,
            snapshot: RefCell::new(own_copy(&snapshot)),
            partitions: RefCell::new(partition_table::PartitionTable::default()),
            senders,
            controller,
            producer_ids,
            groups,
            txn_offsets: Default::default(),
            txns: Default::default(),
            share,
            shutdown: Latch::default(),
            fetch_watches: Default::default(),
            storage,
            client_errors,
            request_budget,
            fetch_budget,
            write_budget,
            quotas,
            failed_calls: RefCell::new(vec![(None, 0); senders_len]),
            me: me.clone(),
        }))
    }

    pub fn rc(&self) -> Rc<Shard> {
        self.me.upgrade().expect("a shard outlives its tasks")
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// The partition, if this shard owns it and has it open.
    pub fn local_partition(&self, topic: &str, partition: i32) -> Option<Rc<Partition>> {
        self.partitions.borrow().get(topic, partition).cloned()
    }

    /// Put `p` in place of the open partition with its topic and index.
    pub fn replace_partition(&self, p: Rc<Partition>) {
        self.partitions.borrow_mut().insert(p);
    }

    pub fn local_partitions(&self) -> Vec<Rc<Partition>> {
        self.partitions.borrow().iter().cloned().collect()
    }

    /// Run `f` on shard `target` and return its result. Local calls run inline; remote ones
    /// cross a bounded channel (waiting for room when it is full). None if the target is gone
    /// or wedged: no room in its channel, or no sign of life from it, for
    /// `SHARD_CALL_TIMEOUT_MS` (the rule is in `shard::call`). Work that takes long on a live
    /// shard (a long poll, a parked JoinGroup) is waited for to its end. A task the caller gave
    /// up on before it started is never run.
    pub async fn on_shard<R, F, Fut>(&self, target: u32, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        self.call(target, Abandoned::Skip, f).await
    }

    /// As [`Shard::on_shard`], but the task runs on the target even after the caller gave up
    /// (adopting a snapshot must happen whoever still waits for it).
    pub async fn on_shard_run_anyway<R, F, Fut>(&self, target: u32, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        self.call(target, Abandoned::RunAnyway, f).await
    }

    async fn call<R, F, Fut>(&self, target: u32, abandoned: Abandoned, f: F) -> Option<R>
    where
        R: Send + 'static,
        F: FnOnce(Rc<Shard>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
    {
        if target == self.id {
            return Some(f(self.rc()).await);
        }
        let sender = self.senders.get(target as usize)?.as_ref()?;
        let timeout = std::time::Duration::from_millis(crate::limits::SHARD_CALL_TIMEOUT_MS);
        let r = call::call(sender, timeout, abandoned, f).await;
        if r.is_none() {
            let mut failed = self.failed_calls.borrow_mut();
            if let Some((last, count)) = failed.get_mut(target as usize) {
                *count += 1;
                if last.is_none_or(|t| t.elapsed() >= timeout) {
                    tracing::warn!(
                        shard = self.id,
                        target,
                        failures = *count,
                        "cross-shard calls failed: shard {target} is gone or showed no sign of \
                         life for {} ms",
                        crate::limits::SHARD_CALL_TIMEOUT_MS
                    );
                    *last = Some(std::time::Instant::now());
                    *count = 0;
                }
            }
        }
        r
    }

    /// Adopt a new snapshot: open the logs of partitions this shard now owns, close those it no
    /// longer owns, delete the data of topics that are gone.
    pub async fn apply_snapshot(&self, snapshot: Arc<Snapshot>) {
        let snapshot = own_copy(&snapshot);
        let old = self.snapshot.replace(snapshot.clone());
        // Close and (for deleted topics) remove partitions that are no longer ours.
        let stale: Vec<((String, i32), Rc<Partition>)> = self
            .partitions
            .borrow()
            .iter()
            .filter(|p| {
                let t = p.topic.as_str();
                let recreated = match (old.topic(t), snapshot.topic(t)) {
                    (Some(o), Some(n)) => o.id != n.id,
                    _ => false,
                };
                recreated
                    || snapshot
                        .partition(t, p.index)
                        .is_none_or(|m| m.owner != self.id)
            })
            .map(|p| ((p.topic.clone(), p.index), p.clone()))
            .collect();
        // Out of the registry first (no new request reaches them), then closed together: their
        // final syncs share the shard's flush cycles instead of queueing one partition behind
        // another (a 3,000-partition topic's deletion took seconds, found by the fuzzer).
        for (key, _) in &stale {
            self.partitions.borrow_mut().remove(&key.0, key.1);
        }
        futures::future::join_all(stale.iter().map(|(key, partition)| async move {
            if let Err(e) = partition.log().close().await {
                tracing::warn!(topic = %key.0, partition = key.1, error = %e, "closing log");
            }
        }))
        .await;
        let mut retired = Vec::new();
        for (key, partition) in stale {
            let deleted = match (old.topic(&key.0), snapshot.topic(&key.0)) {
                (Some(o), Some(n)) => o.id != n.id,
                (_, None) => true,
                (None, Some(_)) => false,
            };
            if deleted {
                // Renamed now (a recreated topic opens a fresh directory below), its files
                // deleted in the background off the shard's thread, after every rename: a
                // large topic's deletion neither stalls this core's clients nor holds up the
                // publication.
                let dir = partition.log().dir().to_path_buf();
                let unique = old
                    .topic(&key.0)
                    .map_or_else(String::new, |t| t.id.simple().to_string());
                match blocking::retire_dir(&self.storage.blocking, dir.clone(), &unique).await {
                    Ok(doomed) => retired.extend(doomed),
                    Err(e) => {
                        tracing::warn!(dir = %dir.display(), error = %e, "removing deleted partition");
                    }
                }
            }
        }
        blocking::remove_dirs_in_background(self.storage.blocking.clone(), retired);
        self.open_owned_partitions().await;
    }

    /// Open every partition the current snapshot assigns to this shard that isn't open yet.
    pub async fn open_owned_partitions(&self) {
        let snapshot = self.snapshot();
        for topic in snapshot.topics.values() {
            for (i, meta) in topic.partitions.iter().enumerate() {
                let index = i as i32;
                if meta.owner != self.id {
                    continue;
                }
                let dir = partition_dir(&self.config.data_dir, &topic.name, index);
                let config = self.log_config_for(topic);
                let settings = self.partition_settings_for(topic);
                if let Some(p) = self.local_partition(&topic.name, index) {
                    // Already open: adopt a new epoch and any changed topic configs.
                    p.set_leader_epoch(meta.leader_epoch);
                    p.log().set_config(config);
                    p.set_settings(settings);
                    continue;
                }
                match Log::open(&dir, config, &self.storage).await {
                    Ok(log) => {
                        let p = Partition::new(
                            topic.name.clone(),
                            index,
                            meta.leader_epoch,
                            log,
                            settings,
                        );
                        // Open and aborted transactions, before the partition serves anything.
                        if let Err(e) = p.rebuild_txn_state(&self.storage.blocking).await {
                            tracing::error!(topic = %topic.name, partition = index, error = ?e, "rebuilding transaction state");
                        }
                        // Producers from the newest snapshot and the log after it.
                        p.load_producer_snapshot(&self.storage.blocking).await;
                        self.partitions.borrow_mut().insert(p);
                    }
                    Err(e) => {
                        tracing::error!(topic = %topic.name, partition = index, error = %e, "cannot open partition log");
                    }
                }
            }
        }
    }

    /// Storage settings of `topic`'s logs: its configs, else the broker defaults.
    pub fn log_config_for(&self, topic: &crate::metadata::TopicMeta) -> LogConfig {
        let (d, _, index_interval_bytes) = self
            .config
            .effective_log_defaults(&self.snapshot().broker_configs, self.id);
        LogConfig {
            segment_bytes: topic
                .config_i64("segment.bytes")
                .map_or(d.segment_bytes, |v| v.max(14) as u64),
            index_interval_bytes: topic
                .config_i64("index.interval.bytes")
                .map_or(index_interval_bytes, |v| v.max(1) as u64),
            segment_ms: topic
                .config_i64("segment.ms")
                .map_or(d.segment_ms, |v| v.max(1)),
            batch_bytes_max: self.config.request_max_bytes,
            fsync_latency: Some(self.metrics.fsync.clone()),
            write_latency: Some(self.metrics.log_write.clone()),
            write_budget: Some(self.write_budget.clone()),
            preallocate: topic
                .configs
                .get("preallocate")
                .and_then(|v| crate::metadata::configs::parse_bool(v))
                .unwrap_or(d.preallocate),
        }
    }

    /// `topic`'s `cleanup.policy`, else the broker's `log.cleanup.policy`.
    pub fn cleanup_policy_for(
        &self,
        topic: &crate::metadata::TopicMeta,
    ) -> crate::log::cleaner::CleanupPolicy {
        topic
            .configs
            .get("cleanup.policy")
            .and_then(|v| crate::log::cleaner::CleanupPolicy::parse(v))
            .unwrap_or(self.config.log_defaults.cleanup_policy)
    }

    /// The cleaner's settings for a compacted `topic`: its configs, else the broker defaults.
    pub fn cleaner_settings_for(
        &self,
        topic: &crate::metadata::TopicMeta,
    ) -> crate::log::cleaner::CleanerSettings {
        let d = &self.config.log_defaults;
        crate::log::cleaner::CleanerSettings {
            min_cleanable_ratio: topic
                .configs
                .get("min.cleanable.dirty.ratio")
                .and_then(|v| v.trim().parse::<f64>().ok())
                .unwrap_or(d.min_cleanable_ratio),
            min_compaction_lag_ms: topic
                .config_i64("min.compaction.lag.ms")
                .unwrap_or(d.min_compaction_lag_ms),
            max_compaction_lag_ms: topic
                .config_i64("max.compaction.lag.ms")
                .unwrap_or(d.max_compaction_lag_ms),
            delete_retention_ms: topic
                .config_i64("delete.retention.ms")
                .unwrap_or(d.delete_retention_ms),
            segment_bytes: self.log_config_for(topic).segment_bytes,
        }
    }

    /// `topic`'s `min.insync.replicas` on broker (shard) `broker`: its own, else that broker's
    /// default (dynamic, else `--min-insync-replicas`). Produce with acks=all compares it with
    /// the partition's in-sync replicas, always 1 here (one replica per partition).
    pub fn min_insync_replicas_for(&self, topic: &crate::metadata::TopicMeta, broker: u32) -> i64 {
        topic.config_i64("min.insync.replicas").unwrap_or_else(|| {
            self.config
                .effective_log_defaults(&self.snapshot().broker_configs, broker)
                .0
                .min_insync_replicas
        })
    }

    /// Partition-level settings of `topic`: its configs, else the broker defaults.
    pub fn partition_settings_for(
        &self,
        topic: &crate::metadata::TopicMeta,
    ) -> crate::partition::Settings {
        let (d, message_max_bytes, _) = self
            .config
            .effective_log_defaults(&self.snapshot().broker_configs, self.id);
        crate::partition::Settings {
            message_max_bytes: topic
                .config_i64("max.message.bytes")
                .map_or(message_max_bytes, |v| v.max(0) as usize),
            flush_messages: topic
                .config_i64("flush.messages")
                .map_or(d.flush_messages, |v| v.max(1)),
            flush_ms: topic
                .config_i64("flush.ms")
                .map_or(d.flush_ms, |v| v.max(0)),
            retention: crate::log::Retention {
                retention_ms: topic.config_i64("retention.ms").unwrap_or(d.retention_ms),
                retention_bytes: topic
                    .config_i64("retention.bytes")
                    .unwrap_or(d.retention_bytes),
            },
            validation: Some(self.validation_policy_for(topic)),
        }
    }

    /// What `topic`'s produced records are checked against (`log::validate`): its configs,
    /// else the broker's defaults as `BrokerConfig::topic_config_default` reports them.
    pub fn validation_policy_for(
        &self,
        topic: &crate::metadata::TopicMeta,
    ) -> crate::log::validate::Policy {
        use crate::log::validate::{Policy, TimestampType};
        let dynamic = self.snapshot().broker_configs.clone();
        let value = |name: &str| {
            topic
                .configs
                .get(name)
                .cloned()
                .or_else(|| self.config.topic_config_default(&dynamic, self.id, name))
        };
        let number = |name: &str, default: i64| {
            value(name)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(default)
        };
        let fallback = Policy::default();
        Policy {
            timestamp_type: value("message.timestamp.type")
                .as_deref()
                .and_then(TimestampType::parse)
                .unwrap_or(fallback.timestamp_type),
            before_max_ms: number("message.timestamp.before.max.ms", fallback.before_max_ms),
            after_max_ms: number("message.timestamp.after.max.ms", fallback.after_max_ms),
            compacted: value("cleanup.policy")
                .is_some_and(|p| p.split(',').any(|p| p.trim() == "compact")),
        }
    }

    /// Close every log (clean shutdown), then wait for the shard's blocking calls (the pool
    /// must be idle when the executor ends).
    pub async fn close_all(&self) {
        let all: Vec<Rc<Partition>> = self.partitions.borrow_mut().drain();
        for p in all {
            if let Err(e) = p.log().close().await {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "closing log");
            }
        }
        self.storage.blocking.drain().await;
    }
}

#[cfg(test)]
mod latch_tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn dropped_waits_leave_nothing_behind_and_live_ones_still_wake() {
        let latch = Latch::default();
        let waker = futures::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut live: Vec<_> = (0..3).map(|_| Box::pin(latch.wait())).collect();
        for w in &mut live {
            assert!(w.poll_unpin(&mut cx).is_pending());
        }
        for _ in 0..100_000 {
            // Polled once (registers), then dropped: what a select's losing arm does.
            assert!(latch.wait().now_or_never().is_none());
        }
        let kept = latch.waiters.borrow().len();
        assert!(kept <= 16, "{kept} senders kept for 3 live waiters");
        latch.set();
        for w in &mut live {
            assert!(w.poll_unpin(&mut cx).is_ready(), "a live waiter is woken");
        }
        assert!(latch.wait().now_or_never().is_some(), "set: no wait");
    }
}

#[cfg(test)]
mod snapshot_copy_tests {
    use super::*;

    #[test]
    fn a_shard_copy_shares_no_reference_count_with_the_published_snapshot() {
        let topic = Arc::new(TopicMeta {
            name: "t".into(),
            id: uuid::Uuid::new_v4(),
            partitions: Vec::new(),
            configs: Default::default(),
            internal: false,
        });
        let mut published = Snapshot::default();
        published.topics.insert("t".into(), topic.clone());
        published.topic_ids.insert(topic.id, "t".into());
        let copy = own_copy(&published);
        let copied = copy.topic("t").expect("copied");
        assert!(!Arc::ptr_eq(copied, &topic), "the topic is the shard's own");
        assert_eq!(
            Arc::strong_count(&topic),
            2,
            "held by the published snapshot and this test only"
        );
        assert_eq!(copied.id, topic.id);
        assert_eq!(
            copy.topic_by_id(topic.id).map(|t| t.name.as_str()),
            Some("t")
        );
    }
}
