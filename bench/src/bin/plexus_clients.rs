//! Opens many Plexus client sessions to one router (the memory benchmark's load), prints
//! `Opened <n> sessions`, and holds them until stopped.

use std::process::ExitCode;

use clap::Parser;
use plexus_bench::{Error, exit_code, park_forever};

#[derive(Parser, Debug)]
#[command(about = "Hold many Plexus client sessions open to one router")]
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
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let endpoint: plexus_link::Endpoint = args.connect.parse().map_err(|e| format!("{e}"))?;
    let config = plexus::Config::default()
        .with_mode(plexus::WhatAmI::Client)
        .with_connect(vec![endpoint]);
    let sessions = runtime.block_on(async {
        let mut sessions = Vec::with_capacity(args.number);
        while sessions.len() < args.number {
            let batch = args.concurrency.max(1).min(args.number - sessions.len());
            let mut opening = tokio::task::JoinSet::new();
            for _ in 0..batch {
                let config = config.clone();
                opening.spawn(async move { plexus::open(config).await });
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
