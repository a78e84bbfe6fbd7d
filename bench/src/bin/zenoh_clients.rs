//! Opens many Zenoh client sessions to one router (the memory benchmark's load), prints
//! `Opened <n> sessions`, and holds them until stopped.

use std::process::ExitCode;

use clap::Parser;
use plexus_bench::{CommonArgs, Error, Mode, exit_code, init_logging, park_forever};

#[derive(Parser, Debug)]
#[command(about = "Hold many Zenoh client sessions open to one router")]
struct Args {
    /// The router's endpoint.
    #[arg(short = 'e', long, value_name = "ENDPOINT")]
    connect: String,
    /// The number of sessions.
    #[arg(short, long, default_value_t = 1000)]
    number: usize,
    /// How many sessions open at the same time.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
}

fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let common = CommonArgs {
        mode: Some(Mode::Client),
        connect: vec![args.connect.clone()],
        no_multicast_scouting: true,
        ..Default::default()
    };
    let config = common.config()?;
    let sessions = runtime.block_on(async {
        let mut sessions = Vec::with_capacity(args.number);
        while sessions.len() < args.number {
            let batch = args.concurrency.max(1).min(args.number - sessions.len());
            let mut opening = tokio::task::JoinSet::new();
            for _ in 0..batch {
                let config = config.clone();
                opening.spawn(async move { zenoh::open(config).await });
            }
            while let Some(opened) = opening.join_next().await {
                sessions.push(opened??);
            }
        }
        Ok::<_, Error>(sessions)
    })?;
    println!("Opened {} sessions", sessions.len());
    // Held until the process is stopped.
    let _sessions = sessions;
    park_forever()
}
