//! A Zenoh session in router mode, the counterpart of `plexusd` in the benchmarks:
//! listens on the `-l` endpoints, prints `Listening on <locator>` once ready, and runs
//! until stopped. It answers the runner's `query` lines on standard input with a local
//! get on its admin space (Zenoh's session admin space, one reply per transport).

use std::process::ExitCode;

use clap::Parser;
use std::time::Duration;

use plexus_bench::{
    Error, ReplyCounter, exit_code, init_logging, park_forever, serve_admin_queries,
};
use zenoh::Wait;
use zenoh::query::ConsolidationMode;

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
        // Room for the scale benchmark's 10,000 clients (Zenoh's default is 1,000).
        cfg: vec!["transport/unicast/max_sessions:100000".to_string()],
        ..Default::default()
    };
    let session = zenoh::open(common.config()?).wait()?;
    println!("Session zid: {}", session.zid());
    for locator in session.info().locators().wait() {
        println!("Listening on {locator}");
    }
    let selector = plexus_bench::transports_selector(&session.zid().to_string());
    serve_admin_queries(|| {
        let (counter, tally) = ReplyCounter::new();
        session
            .get(&selector)
            .consolidation(ConsolidationMode::None)
            .timeout(Duration::from_secs(30))
            .callback(move |reply| {
                if reply.result().is_ok() {
                    tally.add();
                }
            })
            .wait()?;
        counter.wait(Duration::from_secs(60))
    })?;
    park_forever()
}
