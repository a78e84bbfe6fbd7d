//! A Plexus session in router mode for the scale benchmark (`plexusd` is the same session
//! with logging and signal handling): listens on the `-l` endpoints, prints
//! `Listening on <locator>`, and answers the runner's `query` lines on standard input
//! with a local get on its admin space (one reply per client transport).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use plexus::ConsolidationMode;
use plexus_bench::{Error, ReplyCounter, exit_code, park_forever, serve_admin_queries};

#[derive(Parser, Debug)]
#[command(about = "A Plexus router for the benchmarks")]
struct Args {
    /// Endpoints to listen on (repeatable).
    #[arg(short, long, value_name = "ENDPOINT", required = true)]
    listen: Vec<String>,
}

fn main() -> ExitCode {
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let listen = args
        .listen
        .iter()
        .map(|e| {
            e.parse()
                .map_err(|err| format!("bad endpoint `{e}`: {err}"))
        })
        .collect::<Result<Vec<plexus_link::Endpoint>, _>>()?;
    let mut config = plexus::Config::router().with_listen(listen);
    // Room for the scale benchmark's 10,000 clients (the default is Zenoh's, 1,000).
    config.insert_json5("transport/unicast/max_sessions", "100000")?;
    let session = runtime.block_on(plexus::open(config))?;
    println!("Session zid: {}", session.zid());
    for locator in session.locators() {
        println!("Listening on {locator}");
    }
    let selector = plexus_bench::transports_selector(&session.zid().to_string());
    serve_admin_queries(|| {
        let (counter, tally) = ReplyCounter::new();
        runtime.block_on(async {
            session
                .get(&selector)
                .consolidation(ConsolidationMode::None)
                .timeout(Duration::from_secs(30))
                .callback(move |reply: plexus::Reply| {
                    if reply.result().is_ok() {
                        tally.add();
                    }
                })
                .await
        })?;
        counter.wait(Duration::from_secs(60))
    })?;
    park_forever()
}
