//! Answers queries on a key expression (Zenoh's `z_queryable`).
//!
//! ```sh
//! cargo run --example z_queryable -- -l tcp/127.0.0.1:7447 -k demo/example/test -p 'Hello!'
//! ```

use std::process::ExitCode;

use clap::Parser;
use plexus::OwnedKeyExpr;
use plexus_examples::{
    CommonArgs, exit_code, init_logging, open_session, print_listening, shutdown_signal, text,
};

#[derive(Parser, Debug)]
#[command(about = "Answer the queries on a key expression")]
struct Args {
    /// The key expression matching the queries to answer.
    #[arg(short, long, default_value = "demo/example/zenoh-rs-queryable")]
    key: OwnedKeyExpr,
    /// The value to reply with.
    #[arg(short, long, default_value = "Queryable from Rust!")]
    payload: String,
    /// Declares the queryable as complete w.r.t. the key expression.
    #[arg(long)]
    complete: bool,
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
    println!("Declaring Queryable on '{}'...", args.key);
    let queryable = session
        .declare_queryable(args.key.clone())
        .complete(args.complete)
        .await?;
    println!("Press CTRL-C to quit...");
    let serve = async {
        while let Ok(query) = queryable.recv_async().await {
            match query.payload() {
                None => println!(">> [Queryable ] Received Query '{}'", query.selector()),
                Some(p) => println!(
                    ">> [Queryable ] Received Query '{}' with payload '{}'",
                    query.selector(),
                    text(p)
                ),
            }
            println!(
                ">> [Queryable ] Responding ('{}': '{}')",
                args.key, args.payload
            );
            if let Err(e) = query.reply(args.key.clone(), args.payload.clone()).await {
                println!(">> [Queryable ] Error sending reply: {e}");
            }
        }
    };
    tokio::select! {
        _ = serve => {}
        _ = shutdown_signal() => {}
    }
    drop(queryable);
    session.close().await;
    Ok(())
}
