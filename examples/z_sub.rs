//! Prints every value published on a key expression (Zenoh's `z_sub`; with
//! `-k '@/session/**'` it prints this session's connectivity events).
//!
//! ```sh
//! cargo run --example z_sub -- -l tcp/127.0.0.1:7447 -k 'demo/example/**'
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::OwnedKeyExpr;
use plexus_examples::{
    CommonArgs, exit_code, init_logging, open_session, print_listening, quit_requested,
    sample_lines, shutdown_signal, stdin_lines,
};

#[derive(Parser, Debug)]
#[command(about = "Print the values published on a key expression")]
struct Args {
    /// The key expression to subscribe to.
    #[arg(short, long, default_value = "demo/example/**")]
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
    print_listening(&session);
    println!("Declaring Subscriber on '{}'...", args.key);
    let subscriber = session.declare_subscriber(args.key).await?;
    // The admin-space spec's transcript: quit on `q` (or CTRL-C / SIGTERM); a closed
    // standard input does not stop it, so it can run in the background.
    println!("Enter 'q' to quit...");
    let mut input = stdin_lines();
    let receive = async {
        while let Ok(sample) = subscriber.recv_async().await {
            println!("{}", sample_lines(&sample));
        }
    };
    tokio::select! {
        _ = receive => {}
        _ = shutdown_signal() => {}
        _ = quit_requested(&mut input, false) => {}
    }
    drop(subscriber);
    session.close().await;
    Ok(())
}
