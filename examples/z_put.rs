//! Puts one value on a key, then exits (Zenoh's `z_put`).
//!
//! ```sh
//! cargo run --example z_put -- -e tcp/127.0.0.1:7447 -k demo/example/test -p 'Hello!'
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::OwnedKeyExpr;
use plexus_examples::{CommonArgs, exit_code, init_logging, open_session};

#[derive(Parser, Debug)]
#[command(about = "Put a value on a key expression, then exit")]
struct Args {
    /// The key expression to write to.
    #[arg(short, long, default_value = "demo/example/zenoh-rs-put")]
    key: OwnedKeyExpr,
    /// The value to write.
    #[arg(short, long, default_value = "Put from Rust!")]
    payload: String,
    /// An attachment to add to the put.
    #[arg(short, long)]
    attach: Option<String>,
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
    println!("Putting Data ('{}': '{}')...", args.key, args.payload);
    let mut put = session.put(args.key, args.payload);
    if let Some(a) = args.attach {
        put = put.attachment(a);
    }
    put.await?;
    session.close().await;
    Ok(())
}
