//! Publishes a numbered value on a key every second (Zenoh's `z_pub`).
//!
//! ```sh
//! cargo run --example z_pub -- -e tcp/127.0.0.1:7447 -k demo/example/test -p 'Hello!'
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use plexus::OwnedKeyExpr;
use plexus_examples::{CommonArgs, exit_code, init_logging, open_session, shutdown_signal};

#[derive(Parser, Debug)]
#[command(about = "Publish a numbered value on a key expression every second")]
struct Args {
    /// The key expression to publish onto.
    #[arg(short, long, default_value = "demo/example/zenoh-rs-pub")]
    key: OwnedKeyExpr,
    /// The payload to publish (each put prefixes it with its index).
    #[arg(short, long, default_value = "Pub from Rust!")]
    payload: String,
    /// An attachment to add to each put.
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
    println!("Declaring Publisher on '{}'...", args.key);
    let mut publisher = session.declare_publisher(args.key);
    if let Some(a) = &args.attach {
        publisher = publisher.attachment(a.clone());
    }
    let publisher = publisher.await?;
    println!("Press CTRL-C to quit...");
    let publish = async {
        for idx in 0..u32::MAX {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let buf = format!("[{idx:4}] {}", args.payload);
            println!("Putting Data ('{}': '{buf}')...", publisher.key_expr());
            publisher.put(buf).await?;
        }
        Ok::<(), plexus::SessionError>(())
    };
    tokio::select! {
        r = publish => r?,
        _ = shutdown_signal() => {}
    }
    session.close().await;
    Ok(())
}
