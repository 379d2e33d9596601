use clap::Parser;
use tracing_subscriber::EnvFilter;

/// jemalloc returns freed memory to the OS (glibc's per-thread arenas kept a broker's RSS at its
/// peak long after the load ended) and reports what is allocated, for /metrics.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let cli = sluice::cli::Cli::parse();
    match cli.command {
        sluice::cli::Command::Serve(args) => {
            let filter = EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new(&args.log_level));
            // Colours only on a terminal: a log file or journald gets plain lines.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                // A log line that can't be written (stderr's file on a full disk) is dropped:
                // tracing's fallback would eprint! it, and eprint! panics the shard thread.
                .log_internal_errors(false)
                .init();
            if let Err(e) = sluice::server::serve(*args) {
                eprintln!("sluice: {e:#}");
                std::process::exit(1);
            }
        }
        command => std::process::exit(sluice::cli::run_client(command)),
    }
}
