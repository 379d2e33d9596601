//! Command-line interface: `sluice serve` and the client commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Serve(ServeArgs),
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Directory for topic metadata and partition logs (locked while the broker runs).
    #[arg(long, default_value = "./sluice-data")]
    pub data_dir: PathBuf,

    /// Bootstrap listener. No authentication exists yet, so the default is loopback only.
    /// Port 0 lets the OS pick (see --ports-file).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,

    /// Host advertised to clients in Metadata (default: the listen host; 127.0.0.1 when
    /// listening on 0.0.0.0).
    #[arg(long)]
    pub advertised_host: Option<String>,

    /// Number of shards (one pinned thread per core). Default: all online CPUs.
    #[arg(long)]
    pub cores: Option<usize>,

    /// CPUs to pin the shards to, e.g. "0-3" or "0,2". Default: the first --cores CPUs.
    #[arg(long)]
    pub cpuset: Option<String>,

    /// Shard s listens on this port + s and advertises itself as broker s there.
    /// Default: listen port + 1; OS-picked when the listen port is 0.
    #[arg(long)]
    pub shard_port_base: Option<u16>,

    /// Write the bound ports as JSON here once every listener is up:
    /// {"host":..., "bootstrap":P, "shards":[P0,P1,...], "admin":P}.
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

    /// Acknowledge acks=all after the write completes, without fdatasync (Apache Kafka's
    /// default semantics), for like-for-like benchmarks. Off: acks=all waits for fdatasync.
    #[arg(long, default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub acks_all_no_fsync: bool,

    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides.
    #[arg(long, default_value = "info")]
    pub log_level: String,
}
