use clap::Parser;

fn main() {
    let cli = sluice::cli::Cli::parse();
    match cli.command {
        sluice::cli::Command::Serve(args) => {
            eprintln!("sluice: serve not wired yet: {args:?}");
            std::process::exit(1);
        }
    }
}
