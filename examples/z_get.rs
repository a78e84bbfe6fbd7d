//! Sends a query and prints the replies (Zenoh's `z_get`).
//!
//! ```sh
//! cargo run --example z_get -- -e tcp/127.0.0.1:7447 -s 'demo/example/**'
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use plexus::QueryTarget;
use plexus_examples::{CommonArgs, exit_code, init_logging, open_session, text};

/// Which queryables answer (`-t`).
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum Target {
    /// One complete queryable if there is one, else every matching queryable.
    BestMatching,
    /// Every matching queryable.
    All,
    /// Every complete queryable.
    AllComplete,
}

impl From<Target> for QueryTarget {
    fn from(t: Target) -> QueryTarget {
        match t {
            Target::BestMatching => QueryTarget::BestMatching,
            Target::All => QueryTarget::All,
            Target::AllComplete => QueryTarget::AllComplete,
        }
    }
}

#[derive(Parser, Debug)]
#[command(about = "Send a query and print the replies")]
struct Args {
    /// The selection of resources to query.
    #[arg(short, long, default_value = "demo/example/**")]
    selector: String,
    /// An optional payload to send with the query.
    #[arg(short, long)]
    payload: Option<String>,
    /// The target queryables of the query.
    #[arg(
        short,
        long,
        value_enum,
        ignore_case = true,
        default_value = "BEST_MATCHING"
    )]
    target: Target,
    /// The query timeout in milliseconds.
    #[arg(short = 'o', long, default_value_t = 10_000)]
    timeout: u64,
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.common.config()?;
    let session = open_session(config).await?;
    println!("Sending Query '{}'...", args.selector);
    let mut get = session
        .get(&args.selector)
        .target(args.target.into())
        .timeout(Duration::from_millis(args.timeout));
    if let Some(p) = args.payload {
        get = get.payload(p);
    }
    let replies = get.await?;
    // The channel closes when every queryable has answered or the timeout has passed.
    while let Ok(reply) = replies.recv_async().await {
        match reply.result() {
            Ok(sample) => println!(
                ">> Received ('{}': '{}')",
                sample.key_expr(),
                text(sample.payload())
            ),
            Err(err) => println!(">> Received (ERROR: '{}')", text(err.payload())),
        }
    }
    session.close().await;
    Ok(())
}
