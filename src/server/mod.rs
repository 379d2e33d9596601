//! `sluice serve`: start-up checks, listeners, shard threads, the admin thread, shutdown.
//!
//! Runs on the main thread, which after start-up only waits for a signal.

pub(crate) mod checks;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::os::fd::{FromRawFd, IntoRawFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures::channel::oneshot;
use glommio::channels::shared_channel;
use glommio::{LocalExecutorBuilder, Placement};
use socket2::{Domain, Protocol, Socket, Type};

use crate::cli::ServeArgs;
use crate::metadata::{BrokerAddr, MetadataStore};
use crate::metrics::ShardMetrics;
use crate::security::listener::{BrokerEndpoint, ListenerInfo, ListenerSpec};
use crate::shard::{BrokerConfig, Controller, Shard, ShardTask};

use crate::limits::SHUTDOWN_DRAIN_MS_MAX;

/// One listener as one shard serves it.
struct ShardListener {
    info: Arc<ListenerInfo>,
    bootstrap: StdListener,
    own: StdListener,
}

/// Everything a shard thread needs, moved into it at spawn.
struct ShardStart {
    id: u32,
    config: Arc<BrokerConfig>,
    metrics: Arc<ShardMetrics>,
    snapshot: Arc<crate::metadata::Snapshot>,
    store: Option<MetadataStore>,
    /// Per listener: its description, the shared bootstrap socket, this shard's own port.
    listeners: Vec<ShardListener>,
    /// The server side of TLS, for the SSL and SASL_SSL listeners (None without any).
    tls: Option<Arc<crate::net::tls::TlsServer>>,
    senders: Vec<Option<shared_channel::SharedSender<ShardTask>>>,
    receivers: Vec<shared_channel::SharedReceiver<ShardTask>>,
    ready: crossbeam_channel::Sender<Result<(), String>>,
    stop: oneshot::Receiver<()>,
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cpus = checks::cpu_list(args.cpuset.as_deref(), args.cores)?;
    let shards = cpus.len() as u32;
    if shards as usize > crate::limits::SHARDS_MAX {
        bail!(
            "--cores {shards} exceeds the maximum of {}",
            crate::limits::SHARDS_MAX
        );
    }
    if args.request_max_bytes > crate::limits::REQUEST_BYTES_MAX_CEILING
        || args.request_max_bytes < crate::limits::REQUEST_HEADER_BYTES_MIN
    {
        bail!(
            "--request-max-bytes must be between {} and {}",
            crate::limits::REQUEST_HEADER_BYTES_MIN,
            crate::limits::REQUEST_BYTES_MAX_CEILING
        );
    }
    if args.default_partitions == 0
        || args.default_partitions as usize > crate::limits::TOPIC_PARTITIONS_MAX
    {
        bail!(
            "--default-partitions must be between 1 and {}",
            crate::limits::TOPIC_PARTITIONS_MAX
        );
    }
    let specs = crate::security::listener::resolve(
        args.listen,
        args.listeners.as_deref(),
        args.listener_security_protocol_map.as_deref(),
        args.advertised_listeners.as_deref(),
        args.advertised_host.as_deref(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let mechanisms = crate::security::sasl::parse_mechanisms(&args.sasl_enabled_mechanisms)
        .map_err(|e| anyhow::anyhow!(e))?;
    if args.connection_failed_authentication_delay_ms
        > crate::limits::FAILED_AUTHENTICATION_DELAY_MS_MAX
    {
        bail!(
            "--connection-failed-authentication-delay-ms must be at most {}",
            crate::limits::FAILED_AUTHENTICATION_DELAY_MS_MAX
        );
    }
    // TLS: loaded (and checked) once here, shared by every shard's SSL and SASL_SSL listeners.
    let tls = if specs.iter().any(|l| l.protocol.is_tls()) {
        let server = crate::net::tls::TlsServer::new(&args.tls)?;
        server.spawn_reloader()?;
        Some(server)
    } else {
        if args.tls.any_set() {
            // Kafka ignores ssl.* settings no listener uses; say so at least.
            tracing::warn!("--ssl-* flags given but no SSL or SASL_SSL listener: they are unused");
        }
        None
    };
    let nofile = checks::raise_nofile()?;
    let partitions_max = checks::partitions_fitting(nofile, args.max_connections, shards);
    tracing::info!(
        nofile,
        max_connections = args.max_connections,
        partitions_max,
        "open-file limit"
    );
    let io_memory = checks::io_memory_per_shard(shards)?;
    let _lock = checks::prepare_data_dir(&args.data_dir)?;

    let mut credentials = crate::security::credentials::Credentials::load(&args.data_dir)
        .context("loading SCRAM credentials")?;
    if let (Some(user), Some(file)) = (&args.bootstrap_user, &args.bootstrap_password_file) {
        bootstrap_user(&args.data_dir, &mut credentials, user, file)?;
    }
    if !crate::security::credentials::Credentials::path(&args.data_dir).exists() {
        // Keeps the fake-salt secret stable across restarts.
        credentials
            .save(&args.data_dir)
            .context("saving SCRAM credentials")?;
    }
    let credentials = Arc::new(crate::security::credentials::SharedCredentials::new(
        credentials,
    ));
    let sasl = Arc::new(crate::security::sasl::SaslConfig {
        mechanisms,
        reauth_ms: args.connections_max_reauth_ms,
        failed_delay_ms: args.connection_failed_authentication_delay_ms,
        credentials: credentials.clone(),
    });
    let mut bound = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let shard_port_base = if i == 0 { args.shard_port_base } else { None };
        let sasl = spec.protocol.is_sasl().then(|| sasl.clone());
        bound.push(bind_listener(spec, shards, shard_port_base, sasl)?);
    }
    let admin = std::net::TcpListener::bind(args.admin_listen).with_context(|| {
        format!(
            "admin listener {} is in use or not bindable",
            args.admin_listen
        )
    })?;
    let admin_port = admin.local_addr()?.port();
    let host = specs[0].advertised_host.clone();
    let infos: Vec<Arc<ListenerInfo>> = bound.iter().map(|b| b.info.clone()).collect();
    let bootstrap_ports: Vec<u16> = bound.iter().map(|b| b.bootstrap_port).collect();
    let shard_ports: Vec<Vec<u16>> = bound.iter().map(|b| b.shard_ports.clone()).collect();
    // The snapshot keeps the first listener's brokers for code without a connection; a
    // client is always answered with its own listener's (`Session::listener`).
    let brokers: Vec<BrokerAddr> = infos[0]
        .brokers
        .iter()
        .map(|b| BrokerAddr {
            node_id: b.node_id,
            host: b.host.clone(),
            port: b.port,
        })
        .collect();

    let budget = memory_budget(
        args.memory.unwrap_or_else(|| physical_memory_bytes() / 4),
        shards,
        BudgetOverrides {
            tail_cache: args.tail_cache_bytes,
            inflight: args.inflight_request_bytes,
            fetch: args.fetch_buffer_bytes,
            write: args.write_buffer_bytes,
            index_cache: args.index_cache_bytes,
        },
        args.request_max_bytes,
    );
    tracing::info!(
        memory = budget.total_bytes,
        per_shard_tail_cache = budget.tail_cache_bytes,
        per_shard_inflight_requests = budget.inflight_request_bytes,
        per_shard_fetch_buffers = budget.fetch_buffer_bytes,
        per_shard_write_buffers = budget.write_buffer_bytes,
        per_shard_index_cache = budget.index_cache_bytes,
        per_shard_connections_max = budget.connections_max,
        "memory budget"
    );
    let authorizer = crate::security::acl::AuthorizerConfig::new(
        args.authorizer,
        &args.super_users,
        args.allow_everyone_if_no_acl_found,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    if !authorizer.enabled()
        && (!authorizer.super_users.is_empty() || authorizer.allow_everyone_if_no_acl_found)
    {
        // Kafka ignores them without an authorizer; say so at least.
        tracing::warn!(
            "--super-users / --allow-everyone-if-no-acl-found given without --authorizer standard: every request is allowed"
        );
    }
    let config = Arc::new(BrokerConfig {
        data_dir: args.data_dir.clone(),
        shards,
        advertised_host: host.clone(),
        message_max_bytes: args.message_max_bytes,
        request_max_bytes: args.request_max_bytes,
        auto_create_topics: args.auto_create_topics,
        default_partitions: args.default_partitions,
        acks_all_fsync: !args.acks_all_no_fsync,
        // --max-connections' share, and no more than the shard's memory share has read
        // buffers for.
        shard_connections_max: args
            .max_connections
            .div_ceil(shards as usize)
            .clamp(1, budget.connections_max),
        shard_connections_budget_max: budget.connections_max,
        max_connections: args.max_connections,
        connections_max_idle_ms: args.connections_max_idle_ms,
        partitions_max,
        groups: args.group_config()?,
        txns: args.txn_config()?,
        share: args.share.config()?,
        log_defaults: crate::shard::LogDefaults {
            retention_ms: args.log_retention_ms,
            retention_bytes: args.log_retention_bytes,
            segment_bytes: args.log_segment_bytes,
            segment_ms: args.log_segment_ms,
            flush_messages: args.log_flush_interval_messages,
            flush_ms: args.log_flush_interval_ms,
            preallocate: args.log_preallocate,
            message_timestamp_type: args.log_message_timestamp_type.into(),
            message_timestamp_before_max_ms: args.log_message_timestamp_before_max_ms,
            message_timestamp_after_max_ms: args.log_message_timestamp_after_max_ms,
            min_insync_replicas: args.min_insync_replicas,
            cleanup_policy: args.log_cleanup_policy,
            min_cleanable_ratio: args.log_cleaner_min_cleanable_ratio,
            min_compaction_lag_ms: args.log_cleaner_min_compaction_lag_ms,
            max_compaction_lag_ms: args.log_cleaner_max_compaction_lag_ms,
            delete_retention_ms: args.log_cleaner_delete_retention_ms,
        },
        cleaner: crate::shard::CleanerConfig {
            enable: args.log_cleaner_enable,
            limits: crate::log::cleaner::CleanerLimits {
                dedupe_buffer_bytes: args
                    .log_cleaner_dedupe_buffer_size
                    .max(crate::limits::CLEANER_DEDUPE_BUFFER_BYTES_MIN),
                io_bytes_per_second: args.log_cleaner_io_max_bytes_per_second.max(1),
            },
            backoff_ms: args.log_cleaner_backoff_ms.max(1),
        },
        retention_check_interval_ms: args.log_retention_check_interval_ms.max(1),
        tail_cache_bytes: budget.tail_cache_bytes,
        shard_inflight_request_bytes: budget.inflight_request_bytes,
        shard_fetch_buffer_bytes: budget.fetch_buffer_bytes,
        shard_write_buffer_bytes: budget.write_buffer_bytes,
        shard_index_cache_bytes: budget.index_cache_bytes,
        credentials,
        quota_board: Arc::new(crate::quota::QuotaBoard::new(shards)),
        authorizer,
    });
    if let Some(topic) = &args.test_panic_topic {
        tracing::warn!(
            topic,
            "--test-panic-topic is set: requests naming it panic (tests only)"
        );
        let _ = crate::handlers::TEST_PANIC_TOPIC.set(topic.clone());
    }
    let store = MetadataStore::open(&args.data_dir, shards).context("loading topic metadata")?;
    let snapshot = Arc::new(store.snapshot(&brokers));
    let metrics: Vec<Arc<ShardMetrics>> = (0..shards).map(ShardMetrics::new).collect();

    // channels[from][to]: bounded, one per ordered pair of shards.
    let n = shards as usize;
    let mut senders: Vec<Vec<Option<shared_channel::SharedSender<ShardTask>>>> =
        (0..n).map(|_| (0..n).map(|_| None).collect()).collect();
    let mut receivers: Vec<Vec<shared_channel::SharedReceiver<ShardTask>>> =
        (0..n).map(|_| Vec::new()).collect();
    for (from, row) in senders.iter_mut().enumerate() {
        for (to, slot) in row.iter_mut().enumerate() {
            if from != to {
                let (tx, rx) =
                    shared_channel::new_bounded(crate::limits::SHARD_CHANNEL_MESSAGES_MAX);
                *slot = Some(tx);
                receivers[to].push(rx);
            }
        }
    }

    // The admin thread starts before the shards, so `/v1/status/ready` answers 503
    // ("recovering") while they open their partitions.
    let admin_metrics = metrics.clone();
    std::thread::Builder::new()
        .name("sluice-admin".into())
        .spawn(move || crate::admin::serve(admin, admin_metrics))?;

    let (ready_tx, ready_rx) = crossbeam_channel::unbounded();
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    // Set before the shards are told to stop: a shard thread that ends before then died.
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut store = Some(store);
    let mut per_shard: Vec<Vec<ShardListener>> = (0..shards).map(|_| Vec::new()).collect();
    for b in bound {
        for (s, (bootstrap, own)) in b.bootstrap.into_iter().zip(b.own).enumerate() {
            per_shard[s].push(ShardListener {
                info: b.info.clone(),
                bootstrap,
                own,
            });
        }
    }
    for (((id, cpu), listeners), (s, r)) in cpus
        .iter()
        .enumerate()
        .zip(per_shard)
        .zip(senders.into_iter().zip(receivers))
    {
        let (stop_tx, stop_rx) = oneshot::channel();
        stops.push(stop_tx);
        let start = ShardStart {
            id: id as u32,
            config: config.clone(),
            metrics: metrics[id].clone(),
            snapshot: snapshot.clone(),
            store: if id == 0 { store.take() } else { None },
            listeners,
            tls: tls.clone(),
            senders: s,
            receivers: r,
            ready: ready_tx.clone(),
            stop: stop_rx,
        };
        metrics[id]
            .cpu
            .store(*cpu as u64, std::sync::atomic::Ordering::Relaxed);
        let handle = LocalExecutorBuilder::new(Placement::Fixed(*cpu))
            .name(&format!("sluice-shard-{id}"))
            .io_memory(io_memory)
            .spawn(move || run_shard(start))
            .map_err(|e| {
                anyhow::anyhow!("cannot start shard {id} on cpu {cpu} (io_uring unavailable?): {e}")
            })?;
        handles.push(watch_shard(
            id as u32,
            handle,
            metrics[id].clone(),
            stopping.clone(),
        )?);
    }
    drop(ready_tx);
    // No time limit: recovering a large data dir takes what it takes. Each shard drops its
    // sender once it has answered, and a shard that dies first drops it unwinding, so the
    // channel disconnects instead of hanging.
    for _ in 0..shards {
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => bail!("{e}"),
            Err(_) => bail!("a shard exited during start-up (see the log above)"),
        }
    }

    // The first listener's ports at the top level, as before listeners existed.
    let ports = serde_json::json!({
        "host": host_for_port(&host),
        "bootstrap": bootstrap_ports[0],
        "shards": shard_ports[0],
        "admin": admin_port,
        "listeners": infos.iter().enumerate().map(|(i, l)| serde_json::json!({
            "name": l.name,
            "protocol": l.protocol.name(),
            // Where the bound ports are reached (tests connect here); what clients are told
            // is "advertised_host".
            // IPv6 hosts in brackets, ready to be joined with ":port".
            "host": if specs[i].bind.ip().is_unspecified() { "127.0.0.1".to_string() } else { host_for_port(&specs[i].bind.ip().to_string()) },
            "advertised_host": host_for_port(&specs[i].advertised_host),
            "bootstrap": bootstrap_ports[i],
            "shards": shard_ports[i],
        })).collect::<Vec<_>>(),
    });
    if let Some(path) = &args.ports_file {
        write_ports_file(path, &ports)?;
    }
    for (i, l) in infos.iter().enumerate() {
        tracing::info!(
            listener = %l.name,
            protocol = %l.protocol,
            bind = %specs[i].bind.ip(),
            bootstrap = bootstrap_ports[i],
            shard_ports = ?shard_ports[i],
            advertised = ?l.brokers.iter().map(|b| format!("{}:{}", host_for_port(&b.host), b.port)).collect::<Vec<_>>(),
            "listener"
        );
    }
    tracing::info!(
        shards,
        listeners = infos.len(),
        admin = admin_port,
        data_dir = %args.data_dir.display(),
        acks_all = if config.acks_all_fsync { "fdatasync" } else { "write only (--acks-all-no-fsync)" },
        "sluice is up"
    );

    wait_for_signal()?;
    tracing::info!("shutting down");
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    for s in stops {
        let _ = s.send(());
    }
    for h in handles {
        let _ = h.join();
    }
    if let Some(path) = &args.ports_file {
        let _ = std::fs::remove_file(path);
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Stamp this shard's heartbeat every [`crate::limits::SHARD_HEARTBEAT_INTERVAL_MS`] for the
/// admin thread's liveness check (`metrics::health`). Runs from the shard's start, so a long
/// recovery shows as "recovering", not "down".
async fn heartbeat(metrics: Arc<ShardMetrics>) {
    let interval = Duration::from_millis(crate::limits::SHARD_HEARTBEAT_INTERVAL_MS);
    loop {
        metrics.heartbeat_ms.store(
            crate::metrics::health::clock_ms(),
            std::sync::atomic::Ordering::Relaxed,
        );
        glommio::timer::sleep(interval).await;
    }
}

/// Exit status of a broker whose shard thread died (EX_SOFTWARE): a supervisor restarts it.
pub const EXIT_SHARD_DIED: i32 = 70;

/// Watch one shard thread from a plain thread: if it ends before shutdown began — a panic that
/// escaped per-request isolation unwinds out of glommio's executor and ends the thread, while
/// the other shards carry on — the process exits at once with [`EXIT_SHARD_DIED`] and one log
/// line, rather than limping on with a core whose partitions never answer while Metadata still
/// advertises it. A shard that ends before it was ready is start-up's business (the main
/// thread reports why and exits). Returns the watcher's handle, which the shutdown path joins.
fn watch_shard(
    id: u32,
    shard: glommio::ExecutorJoinHandle<()>,
    metrics: Arc<ShardMetrics>,
    stopping: Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("sluice-watch-{id}"))
        .spawn(move || {
            let ended = shard.join();
            if stopping.load(std::sync::atomic::Ordering::SeqCst)
                || !metrics.ready.load(std::sync::atomic::Ordering::SeqCst)
            {
                return;
            }
            let how = match ended {
                Ok(()) => "ended".to_string(),
                Err(e) => format!("died ({e})"),
            };
            tracing::error!(
                shard = id,
                "shard {id}'s thread {how}; exiting (status {EXIT_SHARD_DIED}) so a supervisor restarts the broker"
            );
            std::process::exit(EXIT_SHARD_DIED);
        })
}

/// One listener's sockets: its bootstrap port (one SO_REUSEPORT socket per shard) and each
/// shard's own port, with what it advertises.
struct BoundListener {
    info: Arc<ListenerInfo>,
    bootstrap: Vec<StdListener>,
    own: Vec<StdListener>,
    /// The bound ports (the advertised ones may differ).
    bootstrap_port: u16,
    shard_ports: Vec<u16>,
}

/// Bind `spec` for `shards` shards; ports as `security::listener`'s module docs say.
fn bind_listener(
    spec: &ListenerSpec,
    shards: u32,
    shard_port_base: Option<u16>,
    sasl: Option<Arc<crate::security::sasl::SaslConfig>>,
) -> anyhow::Result<BoundListener> {
    let name = &spec.name;
    // Test-bind without SO_REUSEPORT first, because SO_REUSEPORT binds would silently share
    // the port with another process.
    let bootstrap_addr =
        checks::test_bind(spec.bind).with_context(|| format!("listener {name}: bootstrap port"))?;
    let mut bootstrap = Vec::new();
    for _ in 0..shards {
        bootstrap.push(
            reuseport_listener(bootstrap_addr)
                .with_context(|| format!("listener {name}: binding {bootstrap_addr}"))?,
        );
    }
    let mut own = Vec::new();
    for s in 0..shards {
        let port = match (shard_port_base, spec.bind.port()) {
            (Some(base), _) => base
                .checked_add(s as u16)
                .context("--shard-port-base + shard overflows")?,
            (None, 0) => 0,
            (None, p) => p
                .checked_add(1 + s as u16)
                .with_context(|| format!("listener {name}: port + 1 + shard overflows"))?,
        };
        let addr = SocketAddr::new(spec.bind.ip(), port);
        let l = StdListener::bind(addr).with_context(|| {
            format!("listener {name}: shard {s} port {addr} is in use or not bindable")
        })?;
        own.push(l);
    }
    let mut brokers = Vec::new();
    for (s, l) in own.iter().enumerate() {
        let port = match spec.advertised_port {
            0 => l.local_addr()?.port(),
            p => p.checked_add(1 + s as u16).with_context(|| {
                format!("listener {name}: advertised port + 1 + shard overflows")
            })?,
        };
        brokers.push(BrokerEndpoint {
            node_id: s as i32,
            host: spec.advertised_host.clone(),
            port,
        });
    }
    let shard_ports = own
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<_>>()?;
    Ok(BoundListener {
        bootstrap_port: bootstrap_addr.port(),
        shard_ports,
        info: Arc::new(ListenerInfo {
            name: spec.name.clone(),
            protocol: spec.protocol,
            brokers,
            sasl,
        }),
        bootstrap,
        own,
    })
}

fn reuseport_listener(addr: SocketAddr) -> std::io::Result<StdListener> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_port(true)?;
    sk.set_reuse_address(true)?;
    sk.bind(&addr.into())?;
    sk.listen(1024)?;
    Ok(sk.into())
}

fn write_ports_file(path: &PathBuf, ports: &serde_json::Value) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(ports)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn wait_for_signal() -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    let _ = signals.forever().next();
    Ok(())
}

/// The body of one shard thread.
/// `--bootstrap-user`: create `user` with SCRAM-SHA-256 and SCRAM-SHA-512 credentials from the
/// password in `file` (`-`: stdin) when it has none yet, and save durably before any listener
/// is up. An existing user is left as it is (its password is not read).
fn bootstrap_user(
    data_dir: &std::path::Path,
    credentials: &mut crate::security::credentials::Credentials,
    user: &str,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::security::credentials::{ScramCredential, ScramMechanism, SCRAM_ITERATIONS_MIN};
    if user.is_empty() || user.len() > crate::limits::SCRAM_USER_NAME_BYTES_MAX {
        bail!(
            "--bootstrap-user: a user name must be 1 to {} bytes",
            crate::limits::SCRAM_USER_NAME_BYTES_MAX
        );
    }
    if credentials.users.get(user).is_some_and(|m| !m.is_empty()) {
        tracing::info!(user, "--bootstrap-user exists already: left unchanged");
        return Ok(());
    }
    if credentials.users.len() >= crate::limits::SCRAM_USERS_MAX {
        bail!(
            "--bootstrap-user {user}: the broker stores at most {} SCRAM users",
            crate::limits::SCRAM_USERS_MAX
        );
    }
    let password = crate::cli::security::read_secret(file, "the --bootstrap-user password")
        .map_err(|e| anyhow::anyhow!("--bootstrap-password-file: {e}"))?;
    if password.is_empty() {
        bail!("--bootstrap-password-file: the password is empty");
    }
    let entry = credentials.users.entry(user.to_string()).or_default();
    for m in ScramMechanism::ALL {
        entry.insert(
            m,
            ScramCredential::new(m, password.as_bytes(), SCRAM_ITERATIONS_MIN),
        );
    }
    credentials
        .save(data_dir)
        .context("saving SCRAM credentials")?;
    tracing::info!(
        user,
        "--bootstrap-user created (SCRAM-SHA-256, SCRAM-SHA-512)"
    );
    Ok(())
}

/// `host` as it goes before `:port`: IPv6 addresses in brackets.
pub fn host_for_port(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

async fn run_shard(start: ShardStart) {
    let ShardStart {
        id,
        config,
        metrics,
        snapshot,
        store,
        listeners,
        tls,
        senders,
        receivers,
        ready,
        stop,
    } = start;
    // Both ends of a shared channel must connect before either side's connect completes, so
    // connect every sender and receiver of this shard concurrently.
    let senders_connected = futures::future::join_all(senders.into_iter().map(|s| async move {
        match s {
            Some(s) => Some(s.connect().await),
            None => None,
        }
    }));
    let receivers_connected = futures::future::join_all(receivers.into_iter().map(|r| r.connect()));
    let (connected, receivers) = futures::join!(senders_connected, receivers_connected);
    let controller = store.map(|store| Controller {
        store: std::cell::RefCell::new(store),
        lock: glommio::sync::Semaphore::new(1),
    });
    let shard = match Shard::new(id, config, metrics, snapshot, connected, controller) {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {id}: {e}")));
            return;
        }
    };
    for r in receivers {
        let shard = shard.clone();
        glommio::spawn_local(async move {
            while let Some(task) = r.recv().await {
                // Forwarded work is a request's work: a panic in it ends that task only (the
                // caller's reply channel drops, so it answers a retriable error), not the shard.
                let fut = task(shard.clone());
                let shard = shard.clone();
                glommio::spawn_local(async move {
                    if let Err(panic) =
                        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(fut)).await
                    {
                        crate::handlers::note_panic(&shard, "forwarded task", &panic);
                    }
                })
                .detach();
            }
        })
        .detach();
    }
    glommio::spawn_local(heartbeat(shard.metrics.clone())).detach();
    glommio::spawn_local(crate::shard::nudge::run()).detach();
    checks::prime_direct_io_probe(&shard.config.data_dir, shard.id).await;
    shard.open_owned_partitions().await;
    crate::groups::coordinator::start(&shard);
    crate::txn::coordinator::start(&shard);
    glommio::spawn_local(shard.clone().run_housekeeping()).detach();
    glommio::spawn_local(crate::share::coordinator::run_sweeper(shard.clone())).detach();
    glommio::spawn_local(shard.clone().run_quota_sync()).detach();
    glommio::spawn_local(crate::metrics::publish_snapshots(shard.clone())).detach();

    // SAFETY-free conversion: the std listeners are moved in, and glommio takes their fds.
    let listeners = listeners.into_iter().flat_map(|l| {
        [l.bootstrap, l.own].map(|sock| {
            let _ = sock.set_nonblocking(true);
            (l.info.clone(), unsafe_listener(sock))
        })
    });
    let mut accept_tasks = Vec::new();
    for (info, listener) in listeners {
        let shard = shard.clone();
        let tls = tls.clone();
        accept_tasks.push(glommio::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        let open = shard
                            .metrics
                            .connections_open
                            .load(std::sync::atomic::Ordering::Relaxed);
                        if open as usize >= shard.connections_max() {
                            shard
                                .metrics
                                .connections_rejected
                                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            drop(stream);
                            continue;
                        }
                        let tls = if info.protocol.is_tls() {
                            tls.clone()
                        } else {
                            None
                        };
                        glommio::spawn_local(crate::net::connection::serve(
                            shard.clone(),
                            stream,
                            info.clone(),
                            tls,
                        ))
                        .detach();
                    }
                    Err(e) => {
                        tracing::warn!(shard = shard.id, error = %e, "accept failed");
                        glommio::timer::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    shard
        .metrics
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = ready.send(Ok(()));
    drop(ready);

    let _ = stop.await;
    drop(accept_tasks);
    shard.shutdown.set();
    let deadline = std::time::Instant::now() + Duration::from_millis(SHUTDOWN_DRAIN_MS_MAX);
    while shard
        .metrics
        .connections_open
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && std::time::Instant::now() < deadline
    {
        glommio::timer::sleep(Duration::from_millis(5)).await;
    }
    shard.close_all().await;
    let _ = Rc::strong_count(&shard);
}

/// Hand a bound std listener to glommio.
fn unsafe_listener(l: StdListener) -> glommio::net::TcpListener {
    let fd = l.into_raw_fd();
    // SAFETY: `fd` is a listening TCP socket we own exclusively (just taken from `l`).
    unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
}

/// How the memory budget is split, per shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryBudget {
    pub total_bytes: u64,
    pub tail_cache_bytes: usize,
    pub inflight_request_bytes: usize,
    pub fetch_buffer_bytes: usize,
    /// O_DIRECT write buffers one shard holds at once (never below one largest write).
    pub write_buffer_bytes: usize,
    /// Sealed segments' sparse indexes one shard keeps on the heap (`log::index_cache`).
    pub index_cache_bytes: usize,
    /// Connections one shard may hold within its share: each has a read buffer of
    /// `net::connection::READ_CHUNK_BYTES`.
    pub connections_max: usize,
}

/// Per-shard sizes given by flags; each wins over its share of `--memory`.
#[derive(Debug, Clone, Copy, Default)]
pub struct BudgetOverrides {
    pub tail_cache: Option<usize>,
    pub inflight: Option<usize>,
    pub fetch: Option<usize>,
    pub write: Option<usize>,
    pub index_cache: Option<usize>,
}

use crate::limits::MEMORY_BUDGET_SIXTEENTHS as BUDGET_SIXTEENTHS;

/// Split `total` over `shards` by [`BUDGET_SIXTEENTHS`]. The in-flight share is never below one
/// maximum request, or that request could never be read, nor the write share below one largest
/// write. Explicit flags win.
pub fn memory_budget(
    total: u64,
    shards: u32,
    overrides: BudgetOverrides,
    request_max_bytes: usize,
) -> MemoryBudget {
    let share = usize::try_from(total / u64::from(shards.max(1))).unwrap_or(usize::MAX);
    let sixteenths = |n: usize| share / 16 * n;
    MemoryBudget {
        total_bytes: total,
        tail_cache_bytes: overrides
            .tail_cache
            .unwrap_or(sixteenths(BUDGET_SIXTEENTHS.0)),
        inflight_request_bytes: overrides
            .inflight
            .unwrap_or(sixteenths(BUDGET_SIXTEENTHS.1))
            .max(request_max_bytes),
        fetch_buffer_bytes: overrides.fetch.unwrap_or(sixteenths(BUDGET_SIXTEENTHS.2)),
        connections_max: (sixteenths(BUDGET_SIXTEENTHS.3)
            / crate::net::connection::READ_CHUNK_BYTES)
            .max(1),
        write_buffer_bytes: overrides
            .write
            .unwrap_or(sixteenths(BUDGET_SIXTEENTHS.4))
            .max(crate::log::appender::APPEND_WRITE_BYTES_MAX),
        index_cache_bytes: overrides
            .index_cache
            .unwrap_or(sixteenths(BUDGET_SIXTEENTHS.5)),
    }
}

/// Physical memory of the machine (0 if unknown).
fn physical_memory_bytes() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    u64::try_from(pages)
        .unwrap_or(0)
        .saturating_mul(u64::try_from(page).unwrap_or(0))
}

#[cfg(test)]
mod budget_tests {
    use super::*;

    #[test]
    fn budget_splits_per_shard_and_flags_win() {
        let b = memory_budget(8 << 30, 2, BudgetOverrides::default(), 100 << 20);
        assert_eq!(b.tail_cache_bytes, 1 << 30);
        assert_eq!(b.inflight_request_bytes, 1 << 30);
        assert_eq!(b.fetch_buffer_bytes, 512 << 20);
        assert_eq!(b.connections_max, (512 << 20) / (64 << 10));
        assert_eq!(b.write_buffer_bytes, 512 << 20);
        assert_eq!(b.index_cache_bytes, 256 << 20);
        let tail = BudgetOverrides {
            tail_cache: Some(5),
            ..BudgetOverrides::default()
        };
        let b = memory_budget(64 << 20, 2, tail, 100 << 20);
        assert_eq!(b.tail_cache_bytes, 5);
        assert_eq!(
            b.inflight_request_bytes,
            100 << 20,
            "never below one maximum request"
        );
        let flags = BudgetOverrides {
            inflight: Some(1 << 20),
            fetch: Some(7),
            ..BudgetOverrides::default()
        };
        let b = memory_budget(1 << 30, 1, flags, 1 << 10);
        assert_eq!(b.inflight_request_bytes, 1 << 20);
        assert_eq!(b.fetch_buffer_bytes, 7);
        let write = BudgetOverrides {
            write: Some(1),
            ..BudgetOverrides::default()
        };
        let b = memory_budget(1 << 30, 1, write, 1 << 10);
        assert_eq!(
            b.write_buffer_bytes,
            crate::log::appender::APPEND_WRITE_BYTES_MAX,
            "never below one largest write"
        );
        let index = BudgetOverrides {
            index_cache: Some(3),
            ..BudgetOverrides::default()
        };
        assert_eq!(
            memory_budget(1 << 30, 1, index, 1 << 10).index_cache_bytes,
            3
        );
    }
}
