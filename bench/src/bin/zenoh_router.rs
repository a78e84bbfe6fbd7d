//! A Zenoh session in router mode, the counterpart of `plexusd` in the benchmarks:
//! listens on the `-l` endpoints, prints `Listening on <locator>` once ready, and runs
//! until stopped.

use std::process::ExitCode;

use clap::Parser;
use plexus_bench::{Error, exit_code, init_logging, park_forever};
use zenoh::Wait;

#[derive(Parser, Debug)]
#[command(about = "A Zenoh router for the benchmarks")]
struct Args {
    /// Endpoints to listen on (repeatable).
    #[arg(short, long, value_name = "ENDPOINT", required = true)]
    listen: Vec<String>,
    /// Endpoints to connect to (repeatable).
    #[arg(short = 'e', long, value_name = "ENDPOINT")]
    connect: Vec<String>,
}

fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let common = plexus_bench::CommonArgs {
        mode: Some(plexus_bench::Mode::Router),
        listen: args.listen,
        connect: args.connect,
        no_multicast_scouting: true,
        // Room for the memory benchmark's 1,000 clients (Zenoh's default is 1,000).
        cfg: vec!["transport/unicast/max_sessions:10000".to_string()],
        ..Default::default()
    };
    let session = zenoh::open(common.config()?).wait()?;
    println!("Session zid: {}", session.zid());
    for locator in session.info().locators().wait() {
        println!("Listening on {locator}");
    }
    park_forever()
}
