//! A querying subscriber: the history of a key expression from a query, then its live
//! values, without duplicates. With `-k '@/session/**'` it prints the transports and links
//! that were open before it started, then every change.
//!
//! ```sh
//! cargo run --example z_query_sub -- -k '@/session/**'
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::OwnedKeyExpr;
use plexus::ext::SessionExt;
use plexus_examples::{
    CommonArgs, exit_code, init_logging, open_session, print_listening, sample_lines,
    shutdown_signal, stdin_lines,
};

#[derive(Parser, Debug)]
#[command(about = "Subscribe with an initial query, merging history and live values")]
struct Args {
    /// The key expression to subscribe to.
    #[arg(short, long, default_value = "demo/example/**")]
    key: OwnedKeyExpr,
    /// The selector of the initial query (default: the key expression).
    #[arg(short, long)]
    query: Option<String>,
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
    let selector = args.query.unwrap_or_else(|| args.key.to_string());
    println!(
        "Declaring QueryingSubscriber on {} with an initial query on {selector}",
        args.key
    );
    let subscriber = session
        .declare_querying_subscriber(args.key)
        .query_selector(selector.as_str())
        .await?;
    println!("Enter 'd' to issue the query again, or 'q' to quit...");
    let mut input = stdin_lines();
    loop {
        tokio::select! {
            sample = subscriber.recv_async() => match sample {
                Ok(sample) => println!("{}", sample_lines(&sample)),
                Err(_) => break,
            },
            line = input.recv() => match line.as_deref().map(str::trim) {
                Some("q") | None => break,
                Some("d") => subscriber.query().await?,
                Some(_) => {}
            },
            _ = shutdown_signal() => break,
        }
    }
    drop(subscriber);
    session.close().await;
    Ok(())
}
