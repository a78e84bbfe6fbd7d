//! Prints the session's id and the ids of the routers and peers it is connected to
//! (Zenoh's `z_info`).
//!
//! ```sh
//! cargo run --example z_info -- -e tcp/127.0.0.1:7447
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::ZenohId;
use plexus_examples::{CommonArgs, exit_code, init_logging, open_session};

#[derive(Parser, Debug)]
#[command(about = "Print this session's id and those of its routers and peers")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()).await)
}

/// `[a, b]`, as Zenoh prints a list of ids.
fn list(ids: &[ZenohId]) -> String {
    let ids: Vec<String> = ids.iter().map(ZenohId::to_string).collect();
    format!("[{}]", ids.join(", "))
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = args.common.config()?;
    let session = open_session(config).await?;
    let info = session.info();
    println!("zid: {}", info.zid());
    println!("routers zid: {}", list(&info.routers_zid()));
    println!("peers zid: {}", list(&info.peers_zid()));
    session.close().await;
    Ok(())
}
