//! Echoes every payload received on `test/ping` back on `test/pong` (Zenoh's `z_pong`);
//! pair it with `z_ping`.
//!
//! ```sh
//! cargo run --release --example z_pong -- -l tcp/127.0.0.1:7447
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::CongestionControl;
use plexus_examples::{CommonArgs, exit_code, init_logging, shutdown_signal};

#[derive(Parser, Debug)]
#[command(about = "Echo test/ping back on test/pong (pair with z_ping)")]
struct Args {
    /// Sends without express (let the batcher wait to fill a batch).
    #[arg(long)]
    no_express: bool,
    #[command(flatten)]
    common: CommonArgs,
}

// One thread, as in z_ping: the ping is read, echoed and written by the thread that
// waited for it, without waking another.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let session = plexus::open(args.common.config()?).await?;
    let publisher = session
        .declare_publisher("test/pong")
        .congestion_control(CongestionControl::Block)
        .express(!args.no_express)
        .await?;
    // As Zenoh's z_pong does, echo from the subscriber's callback: on the task that
    // received the ping, with no hand-off to another task.
    let subscriber = session
        .declare_subscriber("test/ping")
        .callback(move |sample| {
            if let Err(e) = publisher.try_put(sample.payload().clone()) {
                eprintln!("pong: {e}");
            }
        })
        .await?;
    println!("Press CTRL-C to quit...");
    shutdown_signal().await;
    drop(subscriber);
    session.close().await;
    Ok(())
}
