//! Publishes a fixed-size payload on `test/thr` as fast as congestion control allows
//! (Zenoh's `z_pub_thr`); pair it with `z_sub_thr`.
//!
//! ```sh
//! cargo run --release --example z_pub_thr -- -e tcp/127.0.0.1:7447 8
//! ```

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use clap::Parser;
use plexus::{CongestionControl, Priority, Publisher};
use plexus_examples::{CommonArgs, exit_code, init_logging, shutdown_signal};

#[derive(Parser, Debug)]
#[command(about = "Publish as fast as possible on test/thr (pair with z_sub_thr)")]
struct Args {
    /// The priority to publish with (1 = real time … 7 = background) [default: 5].
    #[arg(short, long, value_parser = clap::value_parser!(u8).range(1..=7))]
    priority: Option<u8>,
    /// Sends each message without waiting to fill a batch.
    #[arg(long)]
    express: bool,
    /// Prints the publication rate every `--number` messages.
    #[arg(short = 't', long)]
    print: bool,
    /// The number of messages in each printed measurement.
    #[arg(short, long, default_value_t = 100_000)]
    number: u64,
    /// The size of the payload to publish, in bytes.
    payload_size: usize,
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let data: Bytes = (0..args.payload_size).map(|i| (i % 10) as u8).collect();
    let session = plexus::open(args.common.config()?).await?;
    let priority = args.priority.map_or(Priority::Data, Priority::from_bits);
    let publisher = session
        .declare_publisher("test/thr")
        .congestion_control(CongestionControl::Block)
        .priority(priority)
        .express(args.express)
        .await?;
    tokio::select! {
        r = publish(&publisher, data, args.print.then_some(args.number.max(1))) => r?,
        _ = shutdown_signal() => {}
    }
    session.close().await;
    Ok(())
}

/// Puts `data` until an error; with `print`, prints the rate every that many messages.
async fn publish(
    publisher: &Publisher,
    data: Bytes,
    print: Option<u64>,
) -> Result<(), plexus::SessionError> {
    let mut count = 0u64;
    let mut start = Instant::now();
    for sent in 0u64.. {
        publisher.put(data.clone()).await?;
        // A put that never has to wait never yields: let the signal handler run.
        if sent % 1024 == 0 {
            tokio::task::yield_now().await;
        }
        if let Some(number) = print {
            count += 1;
            if count >= number {
                let rate = count as f64 / start.elapsed().as_secs_f64();
                println!("{rate} msg/s");
                count = 0;
                start = Instant::now();
            }
        }
    }
    Ok(())
}
