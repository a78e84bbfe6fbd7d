//! Deletes the values on a key expression, then exits (Zenoh's `z_delete`).
//!
//! ```sh
//! cargo run --example z_delete -- -e tcp/127.0.0.1:7447 -k demo/example/test
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::OwnedKeyExpr;
use plexus_examples::{CommonArgs, exit_code, init_logging, open_session};

#[derive(Parser, Debug)]
#[command(about = "Delete the values on a key expression, then exit")]
struct Args {
    /// The key expression to delete.
    #[arg(short, long, default_value = "demo/example/zenoh-rs-put")]
    key: OwnedKeyExpr,
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
    println!("Deleting resources matching '{}'...", args.key);
    session.delete(args.key).await?;
    session.close().await;
    Ok(())
}
