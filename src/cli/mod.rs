//! Command-line interface: `sluice serve` and the client commands (`topic`, `produce`,
//! `consume`, `group`), which speak the Kafka protocol to any broker through [`sluice_client`].

mod acl;
mod consume;
mod consume_share;
mod group;
pub mod output;
mod produce;
mod quota;
pub mod security;
mod share_group;
mod time;
mod topic;
mod txn;
pub mod user;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use output::Format;
use sluice_client::{Client, ClientError};

#[derive(Parser, Debug)]
#[command(
    name = "sluice",
    version,
    about = "A Kafka-compatible event streaming broker: thread-per-core on io_uring"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the broker.
    Serve(Box<ServeArgs>),
    /// Create, list, describe, delete and reconfigure topics (as kafka-topics.sh).
    Topic(TopicCommand),
    /// Produce one record per stdin line (as kafka-console-producer.sh).
    Produce(produce::ProduceArgs),
    /// Print records, following the topic until Ctrl-C or -n COUNT (as kafka-console-consumer.sh).
    Consume(consume::ConsumeArgs),
    /// List, describe, delete consumer groups and reset their offsets (as kafka-consumer-groups.sh).
    Group(GroupCommand),
    /// Create, delete, list SCRAM users: of a running broker (--brokers), or of a stopped
    /// broker's data directory (--data-dir).
    User(user::UserCommand),
    /// Set and describe client quotas (as kafka-configs.sh --entity-type users|clients).
    Quota(quota::QuotaCommand),
    /// Create, list and delete ACLs (as kafka-acls.sh).
    Acl(AclCommand),
    /// List and describe transactions (as kafka-transactions.sh list|describe).
    Txn(TxnCommand),
}

/// Options every client command takes.
#[derive(Args, Debug, Clone)]
pub struct ClientOpts {
    /// Brokers to bootstrap from, host:port[,host:port...].
    #[arg(
        long,
        env = "SLUICE_BROKERS",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub brokers: String,

    /// Output: human-readable tables, or JSON for scripts.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub format: Format,

    /// How long to wait for a connection or a response, in milliseconds.
    #[arg(long, default_value_t = sluice_client::limits::CLIENT_REQUEST_TIMEOUT_MS, global = true)]
    pub request_timeout_ms: u64,

    /// Kafka's security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL. Default: what
    /// the other options imply (--ssl-ca: SSL; --sasl-*: SASL_PLAINTEXT, or SASL_SSL with
    /// --ssl-ca), else PLAINTEXT.
    #[arg(long, value_name = "PROTOCOL", global = true)]
    pub security_protocol: Option<String>,

    /// TLS (SSL, SASL_SSL): trust the CA certificates in this PEM file (librdkafka's
    /// ssl.ca.location).
    #[arg(long, value_name = "FILE", global = true)]
    pub ssl_ca: Option<std::path::PathBuf>,

    /// For mutual TLS: the client's certificate (PEM; ssl.certificate.location). Needs --ssl-ca
    /// and --ssl-key.
    #[arg(long, value_name = "FILE", global = true, requires_all = ["ssl_ca", "ssl_key"])]
    pub ssl_certificate: Option<std::path::PathBuf>,

    /// For mutual TLS: the key of --ssl-certificate (PEM; ssl.key.location).
    #[arg(long, value_name = "FILE", global = true, requires = "ssl_certificate")]
    pub ssl_key: Option<std::path::PathBuf>,

    /// SASL mechanism (sasl.mechanism): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, value_name = "MECHANISM", global = true)]
    pub sasl_mechanism: Option<String>,

    /// SASL user name.
    #[arg(long, value_name = "NAME", global = true)]
    pub sasl_username: Option<String>,

    /// Read the SASL password from this file's first line, or stdin's first line with `-`.
    /// Otherwise from the SLUICE_SASL_PASSWORD environment variable or --command-config;
    /// never from the command line.
    #[arg(long, value_name = "FILE", global = true)]
    pub sasl_password_file: Option<std::path::PathBuf>,

    /// A Kafka client properties file, as kafka-topics.sh's --command-config: security.protocol,
    /// sasl.mechanism, sasl.jaas.config (PlainLoginModule / ScramLoginModule with username and
    /// password), sasl.username / sasl.password, ssl.ca.location, PEM ssl.truststore.location,
    /// ssl.certificate.location / ssl.key.location. Options on the command line win.
    #[arg(long, value_name = "FILE", global = true)]
    pub command_config: Option<std::path::PathBuf>,
}

impl ClientOpts {
    /// A client with these options' brokers, timeout, TLS and SASL settings.
    pub fn client(&self) -> Result<Client, ClientError> {
        let mut client = Client::new(
            &self.brokers,
            Duration::from_millis(self.request_timeout_ms.max(1)),
        )?;
        let security = self.security()?;
        if let Some(tls) = security.tls {
            client = client.with_tls(tls);
        }
        if let Some(sasl) = security.sasl {
            client = client.with_sasl(sasl);
        }
        Ok(client)
    }
}

#[derive(Args, Debug)]
pub struct TopicCommand {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: topic::TopicAction,
}

#[derive(Args, Debug)]
pub struct AclCommand {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: acl::AclAction,
}

#[derive(Args, Debug)]
pub struct TxnCommand {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: txn::TxnAction,
}

#[derive(Args, Debug)]
pub struct GroupCommand {
    #[command(flatten)]
    pub opts: ClientOpts,
    #[command(subcommand)]
    pub action: group::GroupAction,
}

/// Run a client command; returns the process exit code. Errors print as one line on stderr.
pub fn run_client(command: Command) -> i32 {
    let result = match command {
        Command::Serve(_) => unreachable!("serve is not a client command"),
        Command::Topic(c) => topic::run(&c.opts, c.action),
        Command::Produce(a) => produce::run(a),
        Command::Consume(a) => consume::run(a),
        Command::Group(c) => group::run(&c.opts, c.action),
        Command::Quota(c) => quota::run(&c.opts, c.action),
        Command::Acl(c) => acl::run(&c.opts, c.action),
        Command::Txn(c) => txn::run(&c.opts, c.action),
        Command::User(c) => user::run(c),
    };
    match result {
        Ok(()) => sluice_client::error::exit::OK,
        Err(e) => {
            eprintln!("sluice: {e}");
            e.exit_code()
        }
    }
}

/// Parse `key=value` (a config or a header).
pub fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

/// `--connections-max-idle-ms`: 1 ms up to [`crate::limits::CONNECTIONS_IDLE_MS_MAX_CEILING`].
/// Kafka's -1 (never close) is refused: a connection that is never closed is what this bounds.
fn parse_connections_idle_ms(s: &str) -> Result<u64, String> {
    let ceiling = crate::limits::CONNECTIONS_IDLE_MS_MAX_CEILING;
    let range = format!("between 1 and {ceiling} ms");
    match s.trim().parse::<i128>() {
        Ok(ms) if ms >= 1 && ms <= i128::from(ceiling) => Ok(ms as u64),
        Ok(_) => Err(format!(
            "{s} is out of range: the idle timeout must be {range} (Kafka's -1, never close, is not supported)"
        )),
        Err(_) => Err(format!("expected a number of milliseconds {range}, got {s:?}")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Directory for topic metadata and partition logs (locked while the broker runs).
    #[arg(long, default_value = "./sluice-data")]
    pub data_dir: PathBuf,

    /// Shorthand for one PLAINTEXT listener (`--listeners PLAINTEXT://ADDR`); ignored when
    /// --listeners is given. The default is loopback only. Port 0 lets the OS pick (see
    /// --ports-file).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,

    /// Listeners, as Kafka's `listeners`: `NAME://HOST:PORT[,...]`, e.g.
    /// `PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://0.0.0.0:9192`. A name is its security
    /// protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) unless mapped by
    /// --listener-security-protocol-map. Every shard serves every listener: shard s listens on
    /// PORT + 1 + s too (OS-picked when PORT is 0), so space fixed ports at least shards + 1 apart.
    #[arg(long)]
    pub listeners: Option<String>,

    /// Security protocol of each listener name, as Kafka's `listener.security.protocol.map`:
    /// `INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_SSL`. Replaces the default map (each protocol's
    /// name to itself).
    #[arg(long)]
    pub listener_security_protocol_map: Option<String>,

    /// Addresses advertised to clients, per listener name, as Kafka's `advertised.listeners`:
    /// `NAME://HOST:PORT`. Shard s is advertised on PORT + 1 + s (PORT 0: the bound ports).
    /// Listeners not named here advertise their bound address (--advertised-host if given).
    #[arg(long)]
    pub advertised_listeners: Option<String>,

    /// SASL mechanisms SASL_* listeners offer (Kafka's sasl.enabled.mechanisms): PLAIN,
    /// SCRAM-SHA-256, SCRAM-SHA-512. Kafka's default, GSSAPI, is not available, so the default
    /// is all three; PLAIN is checked against the SCRAM credentials.
    #[arg(long, default_value = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512")]
    pub sasl_enabled_mechanisms: String,

    /// Longest life of an authenticated SASL session (connections.max.reauth.ms, KIP-368):
    /// clients are told it and re-authenticate; a connection that goes on past it without
    /// re-authenticating is closed at its next request. 0: sessions never expire.
    #[arg(long, default_value_t = 0)]
    pub connections_max_reauth_ms: u64,

    /// A failed authentication is answered this late, and the connection closed
    /// (connection.failed.authentication.delay.ms): slows password guessing.
    #[arg(long, default_value_t = crate::limits::FAILED_AUTHENTICATION_DELAY_MS_DEFAULT)]
    pub connection_failed_authentication_delay_ms: u64,

    /// Create this SCRAM user (SCRAM-SHA-256 and SCRAM-SHA-512, 4096 iterations) at start-up
    /// when it does not exist yet, as kafka-storage.sh format's --add-scram; an existing user
    /// is never changed. Needs --bootstrap-password-file.
    #[arg(long, value_name = "NAME", requires = "bootstrap_password_file")]
    pub bootstrap_user: Option<String>,

    /// The --bootstrap-user's password: this file's first line, or stdin's first line with `-`
    /// (never a command-line argument). Read only when the user is created.
    #[arg(long, value_name = "FILE", requires = "bootstrap_user")]
    pub bootstrap_password_file: Option<PathBuf>,
    /// Authorizer, as Kafka's `authorizer.class.name`: `none` (unset in Kafka: every request
    /// is allowed, the ACL APIs answer SECURITY_DISABLED) or `standard`
    /// (`org.apache.kafka.metadata.authorizer.StandardAuthorizer`: ACLs, managed with
    /// `sluice acl` or any Kafka admin client).
    #[arg(long, value_enum, default_value = "none")]
    pub authorizer: crate::security::acl::AuthorizerKind,

    /// Principals allowed everything whatever the ACLs, as Kafka's `super.users`:
    /// `User:admin;User:ops`.
    #[arg(long, default_value = "")]
    pub super_users: String,

    /// With --authorizer standard: allow a request on a resource no ACL applies to, as
    /// Kafka's `allow.everyone.if.no.acl.found` (default false: denied).
    #[arg(long, default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub allow_everyone_if_no_acl_found: bool,

    /// Host advertised to clients in Metadata by listeners --advertised-listeners doesn't name
    /// (default: the listen host; 127.0.0.1 when listening on 0.0.0.0).
    #[arg(long)]
    pub advertised_host: Option<String>,

    /// Number of shards (one pinned thread per core). Default: all online CPUs.
    #[arg(long)]
    pub cores: Option<usize>,

    /// CPUs to pin the shards to, e.g. "0-3" or "0,2". Default: the first --cores CPUs.
    #[arg(long)]
    pub cpuset: Option<String>,

    /// Shard s listens on this port + s and advertises itself as broker s there (on the first
    /// listener; the others use their port + 1 + s). Default: listen port + 1; OS-picked when
    /// the listen port is 0.
    #[arg(long)]
    pub shard_port_base: Option<u16>,

    /// Write the bound ports as JSON here once every listener is up:
    /// {"host":..., "bootstrap":P, "shards":[P0,P1,...], "admin":P, "listeners":[{"name":...,
    /// "protocol":..., "host":..., "bootstrap":P, "shards":[...]}, ...]}; the top-level
    /// host, bootstrap and shards are the first listener's.
    #[arg(long)]
    pub ports_file: Option<PathBuf>,

    /// Admin HTTP listener (Prometheus /metrics). Port 0 lets the OS pick.
    #[arg(long, default_value = "127.0.0.1:9644")]
    pub admin_listen: SocketAddr,

    /// Partitions of an auto-created topic (Kafka's num.partitions).
    #[arg(long, default_value_t = 1)]
    pub default_partitions: u32,

    /// Create a topic when a client's Metadata request asks for it (auto.create.topics.enable).
    #[arg(long, default_value = "true", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub auto_create_topics: bool,

    /// Largest record batch accepted (message.max.bytes).
    #[arg(long, default_value_t = crate::limits::MESSAGE_BYTES_MAX_DEFAULT)]
    pub message_max_bytes: usize,

    /// Largest request frame accepted (socket.request.max.bytes); larger closes the connection.
    #[arg(long, default_value_t = crate::limits::REQUEST_BYTES_MAX_DEFAULT)]
    pub request_max_bytes: usize,

    /// Most client connections open at once (Kafka's max.connections), split evenly over the
    /// shards; a connection past a shard's share is closed at once.
    #[arg(long, default_value_t = crate::limits::CONNECTIONS_MAX_DEFAULT)]
    pub max_connections: usize,

    /// Close a connection after this many ms with nothing read from or written to its socket
    /// and no request being handled, or once a reply write has made no progress for that long
    /// (connections.max.idle.ms).
    #[arg(
        long,
        default_value_t = crate::limits::CONNECTIONS_IDLE_MS_MAX_DEFAULT,
        value_parser = parse_connections_idle_ms,
        allow_negative_numbers = true
    )]
    pub connections_max_idle_ms: u64,

    /// Acknowledge acks=all after the write completes, without fdatasync (Apache Kafka's
    /// default semantics), for like-for-like benchmarks. Off: acks=all waits for fdatasync.
    #[arg(long, default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub acks_all_no_fsync: bool,

    /// Tests only: a Metadata request naming this topic panics in its handler (and `NAME-shard`
    /// panics a task outside any request), to test panic isolation and exit-on-dead-shard.
    #[arg(long, hide = true)]
    pub test_panic_topic: Option<String>,

    /// Shortest session timeout a consumer may ask for (group.min.session.timeout.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_SESSION_TIMEOUT_MS_MIN_DEFAULT)]
    pub group_min_session_timeout_ms: u64,

    /// Longest session timeout a consumer may ask for (group.max.session.timeout.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_SESSION_TIMEOUT_MS_MAX_DEFAULT)]
    pub group_max_session_timeout_ms: u64,

    /// How long the first rebalance of an empty group waits for more members
    /// (group.initial.rebalance.delay.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_INITIAL_REBALANCE_DELAY_MS_DEFAULT)]
    pub group_initial_rebalance_delay_ms: u64,

    /// Longest `transaction.timeout.ms` a transactional producer may ask for
    /// (transaction.max.timeout.ms); InitProducerId refuses more with
    /// INVALID_TRANSACTION_TIMEOUT.
    #[arg(long, default_value_t = crate::txn::TRANSACTION_MAX_TIMEOUT_MS_DEFAULT)]
    pub transaction_max_timeout_ms: i32,

    /// How often each transaction coordinator aborts transactions open past their timeout
    /// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
    #[arg(long, default_value_t = crate::txn::TRANSACTION_ABORT_CHECK_INTERVAL_MS_DEFAULT)]
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,

    /// A transactional id with no transaction for this long is forgotten
    /// (transactional.id.expiration.ms).
    #[arg(long, default_value_t = crate::txn::TRANSACTIONAL_ID_EXPIRATION_MS_DEFAULT)]
    pub transactional_id_expiration_ms: i64,

    /// How often each transaction coordinator removes expired transactional ids
    /// (transaction.remove.expired.transaction.cleanup.interval.ms).
    #[arg(long, default_value_t = crate::txn::TRANSACTION_REMOVE_EXPIRED_INTERVAL_MS_DEFAULT)]
    pub transaction_remove_expired_transaction_cleanup_interval_ms: u64,
    /// Share-group settings (`group.share.*`).
    #[command(flatten)]
    pub share: crate::share::ShareArgs,

    /// Most members one consumer group may have (group.max.size).
    #[arg(long, default_value_t = crate::limits::GROUP_MEMBERS_MAX_DEFAULT)]
    pub group_max_size: usize,

    /// How often a KIP-848 consumer group member heartbeats
    /// (group.consumer.heartbeat.interval.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_DEFAULT)]
    pub group_consumer_heartbeat_interval_ms: u64,

    /// A KIP-848 member silent this long leaves its group (group.consumer.session.timeout.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_CONSUMER_SESSION_TIMEOUT_MS_DEFAULT)]
    pub group_consumer_session_timeout_ms: u64,

    /// Shortest session timeout the broker and a group's consumer.session.timeout.ms may
    /// have (group.consumer.min.session.timeout.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_CONSUMER_SESSION_TIMEOUT_MS_MIN_DEFAULT)]
    pub group_consumer_min_session_timeout_ms: u64,

    /// Longest session timeout the broker and a group's consumer.session.timeout.ms may have
    /// (group.consumer.max.session.timeout.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_CONSUMER_SESSION_TIMEOUT_MS_MAX_DEFAULT)]
    pub group_consumer_max_session_timeout_ms: u64,

    /// Shortest heartbeat interval the broker and a group's consumer.heartbeat.interval.ms may
    /// have (group.consumer.min.heartbeat.interval.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MIN_DEFAULT)]
    pub group_consumer_min_heartbeat_interval_ms: u64,

    /// Longest heartbeat interval the broker and a group's consumer.heartbeat.interval.ms may
    /// have (group.consumer.max.heartbeat.interval.ms).
    #[arg(long, default_value_t = crate::limits::GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS_MAX_DEFAULT)]
    pub group_consumer_max_heartbeat_interval_ms: u64,

    /// Server-side assignors KIP-848 members may name, the first being the default
    /// (group.consumer.assignors): uniform, range.
    #[arg(long, default_value = "uniform,range")]
    pub group_consumer_assignors: String,

    /// Online conversion of non-empty groups between the classic and the consumer protocol
    /// (group.consumer.migration.policy): bidirectional, upgrade, downgrade or disabled.
    #[arg(long, default_value = "bidirectional")]
    pub group_consumer_migration_policy: String,

    /// Longest metadata string a committed offset may carry (offset.metadata.max.bytes).
    #[arg(long, default_value_t = crate::limits::OFFSET_METADATA_BYTES_MAX_DEFAULT)]
    pub offset_metadata_max_bytes: usize,

    /// Committed offsets of a group empty this long are removed (offsets.retention.minutes).
    #[arg(long, default_value_t = crate::limits::OFFSETS_RETENTION_MS_DEFAULT / 60_000)]
    pub offsets_retention_minutes: u64,

    /// How often expired offsets are looked for (offsets.retention.check.interval.ms).
    #[arg(long, default_value_t = crate::limits::OFFSETS_RETENTION_CHECK_INTERVAL_MS_DEFAULT)]
    pub offsets_retention_check_interval_ms: u64,
    /// Default `retention.ms` of topics that don't set it (log.retention.ms); -1 keeps forever.
    #[arg(long, default_value_t = crate::limits::RETENTION_MS_DEFAULT, allow_negative_numbers = true)]
    pub log_retention_ms: i64,

    /// Default `retention.bytes` per partition (log.retention.bytes); -1: no size limit.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub log_retention_bytes: i64,

    /// Default `segment.bytes` (log.segment.bytes).
    #[arg(long, default_value_t = crate::limits::SEGMENT_BYTES_DEFAULT)]
    pub log_segment_bytes: u64,

    /// Default `segment.ms` (log.roll.ms).
    #[arg(long, default_value_t = crate::limits::SEGMENT_MS_DEFAULT)]
    pub log_segment_ms: i64,

    /// How often each shard applies retention (log.retention.check.interval.ms).
    #[arg(long, default_value_t = crate::limits::RETENTION_CHECK_INTERVAL_MS_DEFAULT)]
    pub log_retention_check_interval_ms: u64,

    /// Default `flush.messages`: fdatasync after this many messages even for acks=0/1
    /// (log.flush.interval.messages). Default: never (acks=all still syncs).
    #[arg(long, default_value_t = i64::MAX)]
    pub log_flush_interval_messages: i64,

    /// Default `flush.ms`: fdatasync data older than this even for acks=0/1
    /// (log.flush.interval.ms). Default: never.
    #[arg(long, default_value_t = i64::MAX)]
    pub log_flush_interval_ms: i64,

    /// Default `preallocate` (log.preallocate): zero each active segment a few MiB ahead of
    /// its end, so an fdatasync after an append commits no size change (on ext4 it then skips
    /// the journal). Costs a second write of every byte, and the zero writes can delay group
    /// commits: measure on your device (BENCHMARKS.md) before turning it on.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub log_preallocate: bool,

    /// Default `message.timestamp.type` (log.message.timestamp.type): CreateTime keeps the
    /// producer's timestamps, LogAppendTime stamps every batch with the broker's clock.
    #[arg(long, value_enum, default_value_t = TimestampTypeArg::CreateTime)]
    pub log_message_timestamp_type: TimestampTypeArg,

    /// Default `message.timestamp.before.max.ms` (log.message.timestamp.before.max.ms): how
    /// far in the past a CreateTime record's timestamp may be. Default: unbounded.
    #[arg(long, default_value_t = i64::MAX, value_parser = clap::value_parser!(i64).range(0..))]
    pub log_message_timestamp_before_max_ms: i64,

    /// Default `message.timestamp.after.max.ms` (log.message.timestamp.after.max.ms): how far
    /// in the future a CreateTime record's timestamp may be. Default: one hour (Kafka 4).
    #[arg(long, default_value_t = crate::limits::MESSAGE_TIMESTAMP_AFTER_MAX_MS_DEFAULT, value_parser = clap::value_parser!(i64).range(0..))]
    pub log_message_timestamp_after_max_ms: i64,

    /// Default `min.insync.replicas` of topics that don't set it: with acks=all, a produce to
    /// a partition with fewer in-sync replicas is refused with NOT_ENOUGH_REPLICAS, as in
    /// Kafka. Every partition here has one replica, so any value above 1 refuses every
    /// acks=all produce to topics that don't set their own (acks=0/1 are not affected).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=i64::from(i32::MAX)))]
    pub min_insync_replicas: i64,
    /// Default `cleanup.policy` of topics that don't set it (log.cleanup.policy): delete,
    /// compact, or compact,delete.
    #[arg(long, default_value = "delete", value_parser = parse_cleanup_policy)]
    pub log_cleanup_policy: crate::log::cleaner::CleanupPolicy,

    /// Run the log cleaner (log.cleaner.enable): compacted topics are cleaned only when true.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub log_cleaner_enable: bool,

    /// Default `min.cleanable.dirty.ratio` (log.cleaner.min.cleanable.ratio).
    #[arg(long, default_value_t = 0.5)]
    pub log_cleaner_min_cleanable_ratio: f64,

    /// Default `min.compaction.lag.ms` (log.cleaner.min.compaction.lag.ms).
    #[arg(long, default_value_t = 0)]
    pub log_cleaner_min_compaction_lag_ms: i64,

    /// Default `max.compaction.lag.ms` (log.cleaner.max.compaction.lag.ms).
    #[arg(long, default_value_t = i64::MAX)]
    pub log_cleaner_max_compaction_lag_ms: i64,

    /// Default `delete.retention.ms`: how long tombstones stay after cleaning
    /// (log.cleaner.delete.retention.ms).
    #[arg(long, default_value_t = 86_400_000)]
    pub log_cleaner_delete_retention_ms: i64,

    /// Bytes of the cleaner's key map per shard (log.cleaner.dedupe.buffer.size, here per
    /// shard): a pass maps at most this / 32 keys; the rest waits for the next pass.
    #[arg(long, default_value_t = crate::limits::CLEANER_DEDUPE_BUFFER_BYTES_DEFAULT)]
    pub log_cleaner_dedupe_buffer_size: usize,

    /// Disk bandwidth of each shard's cleaner, reads plus writes
    /// (log.cleaner.io.max.bytes.per.second).
    #[arg(long, default_value_t = crate::limits::CLEANER_IO_BYTES_PER_SECOND_DEFAULT)]
    pub log_cleaner_io_max_bytes_per_second: u64,

    /// How long a shard's cleaner sleeps when no compacted log was due (log.cleaner.backoff.ms).
    #[arg(long, default_value_t = crate::limits::CLEANER_BACKOFF_MS_DEFAULT)]
    pub log_cleaner_backoff_ms: u64,

    /// Memory budget of the broker, in bytes, split evenly over the shards: of each share, 1/4
    /// is the tail cache, 1/4 in-flight request bytes, 1/8 fetch response bytes, 1/8 connection
    /// read buffers (capping connections), 1/8 O_DIRECT write buffers, 1/16 sealed segments'
    /// sparse indexes, and 1/16 headroom (per-partition state, allocator slack).
    /// Default: a quarter of physical RAM.
    #[arg(long)]
    pub memory: Option<u64>,

    /// Request bytes one shard holds at once, read but not yet answered; past it the shard stops
    /// reading sockets (TCP backpressure). Default: from --memory. Raised to --request-max-bytes
    /// if below it.
    #[arg(long)]
    pub inflight_request_bytes: Option<usize>,

    /// Tail-cache budget per shard in bytes: the newest batches served without disk reads.
    /// Default: from --memory.
    #[arg(long)]
    pub tail_cache_bytes: Option<usize>,

    /// Fetch response bytes one shard holds at once (read for a fetch, not yet written to its
    /// socket); past it fetches wait, or answer with less. Default: from --memory.
    #[arg(long)]
    pub fetch_buffer_bytes: Option<usize>,

    /// O_DIRECT write buffer bytes one shard holds at once (each batch is copied into an
    /// aligned buffer while it is written); past it writes wait. Default: from --memory.
    #[arg(long)]
    pub write_buffer_bytes: Option<usize>,

    /// Heap bytes one shard gives to sealed segments' sparse indexes (`.index` / `.timeindex`
    /// read on demand and kept least recently used first out); past it reads load them from
    /// disk again. Default: from --memory.
    #[arg(long)]
    pub index_cache_bytes: Option<usize>,

    #[command(flatten)]
    pub tls: crate::net::tls::TlsArgs,

    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides.
    #[arg(long, default_value = "info")]
    pub log_level: String,
}

impl ServeArgs {
    /// The group settings, checked the way Kafka checks its broker configs.
    pub fn txn_config(&self) -> anyhow::Result<crate::txn::TxnConfig> {
        if self.transaction_max_timeout_ms < 1 {
            anyhow::bail!("--transaction-max-timeout-ms must be at least 1");
        }
        if self.transactional_id_expiration_ms < 1 {
            anyhow::bail!("--transactional-id-expiration-ms must be at least 1");
        }
        if self.transaction_abort_timed_out_transaction_cleanup_interval_ms < 1
            || self.transaction_remove_expired_transaction_cleanup_interval_ms < 1
        {
            anyhow::bail!("transaction cleanup intervals must be at least 1 ms");
        }
        Ok(crate::txn::TxnConfig {
            max_timeout_ms: self.transaction_max_timeout_ms,
            abort_check_interval_ms: self
                .transaction_abort_timed_out_transaction_cleanup_interval_ms,
            id_expiration_ms: self.transactional_id_expiration_ms,
            remove_expired_interval_ms: self
                .transaction_remove_expired_transaction_cleanup_interval_ms,
        })
    }

    pub fn group_config(&self) -> anyhow::Result<crate::groups::GroupConfig> {
        if self.group_min_session_timeout_ms > self.group_max_session_timeout_ms
            || self.group_max_session_timeout_ms > i32::MAX as u64
        {
            anyhow::bail!(
                "--group-min-session-timeout-ms must not exceed --group-max-session-timeout-ms \
                 (at most {})",
                i32::MAX
            );
        }
        if self.group_max_size == 0
            || self.group_max_size > crate::limits::GROUP_MEMBERS_MAX_DEFAULT
        {
            anyhow::bail!(
                "--group-max-size must be between 1 and {}",
                crate::limits::GROUP_MEMBERS_MAX_DEFAULT
            );
        }
        if self.offset_metadata_max_bytes > crate::limits::REQUEST_STRING_BYTES_MAX {
            anyhow::bail!(
                "--offset-metadata-max-bytes must be at most {}",
                crate::limits::REQUEST_STRING_BYTES_MAX
            );
        }
        if self.group_consumer_heartbeat_interval_ms == 0
            || self.group_consumer_heartbeat_interval_ms >= self.group_consumer_session_timeout_ms
            || self.group_consumer_session_timeout_ms > i32::MAX as u64
        {
            anyhow::bail!(
                "--group-consumer-heartbeat-interval-ms must be above 0 and below \
                 --group-consumer-session-timeout-ms (at most {})",
                i32::MAX
            );
        }
        // Kafka's start-up requirements: each value within its min/max.
        let bounded = [
            (
                "--group-consumer-session-timeout-ms",
                self.group_consumer_session_timeout_ms,
                self.group_consumer_min_session_timeout_ms,
                self.group_consumer_max_session_timeout_ms,
            ),
            (
                "--group-consumer-heartbeat-interval-ms",
                self.group_consumer_heartbeat_interval_ms,
                self.group_consumer_min_heartbeat_interval_ms,
                self.group_consumer_max_heartbeat_interval_ms,
            ),
        ];
        for (flag, v, min, max) in bounded {
            if v < min || v > max {
                anyhow::bail!("{flag} ({v}) must be between its min ({min}) and max ({max}) flags");
            }
        }
        let consumer_assignors =
            crate::groups::consumer::Assignors::parse(&self.group_consumer_assignors)
                .map_err(|e| anyhow::anyhow!("--group-consumer-assignors: {e}"))?;
        let consumer_migration_policy =
            crate::groups::MigrationPolicy::parse(&self.group_consumer_migration_policy)
                .map_err(|e| anyhow::anyhow!("--group-consumer-migration-policy: {e}"))?;
        Ok(crate::groups::GroupConfig {
            session_timeout_ms_min: self.group_min_session_timeout_ms,
            session_timeout_ms_max: self.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: self.group_initial_rebalance_delay_ms,
            members_max: self.group_max_size,
            offset_metadata_bytes_max: self.offset_metadata_max_bytes,
            offsets_retention_ms: self.offsets_retention_minutes.saturating_mul(60_000),
            offsets_retention_check_interval_ms: self.offsets_retention_check_interval_ms.max(1),
            consumer_heartbeat_interval_ms: self.group_consumer_heartbeat_interval_ms,
            consumer_session_timeout_ms: self.group_consumer_session_timeout_ms,
            consumer_session_timeout_ms_min: self.group_consumer_min_session_timeout_ms,
            consumer_session_timeout_ms_max: self.group_consumer_max_session_timeout_ms,
            consumer_heartbeat_interval_ms_min: self.group_consumer_min_heartbeat_interval_ms,
            consumer_heartbeat_interval_ms_max: self.group_consumer_max_heartbeat_interval_ms,
            consumer_assignors,
            consumer_migration_policy,
        })
    }
}

/// `--log-message-timestamp-type`'s values, spelled as Kafka spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimestampTypeArg {
    #[value(name = "CreateTime")]
    CreateTime,
    #[value(name = "LogAppendTime")]
    LogAppendTime,
}

impl From<TimestampTypeArg> for crate::log::validate::TimestampType {
    fn from(t: TimestampTypeArg) -> Self {
        match t {
            TimestampTypeArg::CreateTime => crate::log::validate::TimestampType::CreateTime,
            TimestampTypeArg::LogAppendTime => crate::log::validate::TimestampType::LogAppendTime,
        }
    }
}

fn parse_cleanup_policy(s: &str) -> Result<crate::log::cleaner::CleanupPolicy, String> {
    crate::log::cleaner::CleanupPolicy::parse(s)
        .ok_or_else(|| format!("{s}: expected delete, compact or compact,delete"))
}
