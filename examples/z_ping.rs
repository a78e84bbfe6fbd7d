//! Measures round trips: publishes on `test/ping`, waits for the echo on `test/pong`,
//! and prints one `<size> bytes: seq=<i> rtt=<µs>µs lat=<µs>µs` line per round trip
//! (Zenoh's `z_ping`); pair it with `z_pong`.
//!
//! ```sh
//! cargo run --release --example z_ping -- -e tcp/127.0.0.1:7447 -n 1000 8
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use plexus::CongestionControl;
use plexus_examples::{CommonArgs, exit_code, init_logging};

/// How long a measured round trip may take before the run fails; during the warm-up
/// an unanswered ping (sent before the pong's subscription arrived) is sent again.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Parser, Debug)]
#[command(about = "Measure round trips over test/ping and test/pong (pair with z_pong)")]
struct Args {
    /// Sends without express (let the batcher wait to fill a batch).
    #[arg(long)]
    no_express: bool,
    /// The number of seconds to warm up (float).
    #[arg(short, long, default_value_t = 1.0)]
    warmup: f64,
    /// The number of round trips to measure.
    #[arg(short = 'n', long, default_value_t = 100)]
    samples: usize,
    /// The size of the payload to publish, in bytes.
    payload_size: usize,
    #[command(flatten)]
    common: CommonArgs,
}

// One thread runs everything: the ping loop, and the tasks that read and write the
// link. A pong then wakes one thread, the one waiting in `epoll`, which reads it, hands
// it to the loop and writes the next ping without waking another (on a multi-threaded
// runtime each message would also cross from one thread to another: about twice the
// round trip). Plexus runs on the application's runtime, so this is the application's
// choice; Zenoh's z_ping runs on Zenoh's own threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let session = plexus::open(args.common.config()?).await?;
    let subscriber = session.declare_subscriber("test/pong").await?;
    let publisher = session
        .declare_publisher("test/ping")
        .congestion_control(CongestionControl::Block)
        .express(!args.no_express)
        .await?;
    let data: Bytes = (0..args.payload_size).map(|i| (i % 10) as u8).collect();

    let warmup = Duration::try_from_secs_f64(args.warmup.max(0.0))?;
    println!("Warming up for {warmup:?}...");
    let start = Instant::now();
    while start.elapsed() < warmup {
        publisher.put(data.clone()).await?;
        let _ = tokio::time::timeout(REPLY_TIMEOUT, subscriber.recv_async()).await;
    }
    // Replies to pings that timed out during the warm-up may still arrive.
    while subscriber.try_recv().is_ok() {}

    let mut rtts = Vec::with_capacity(args.samples);
    for seq in 0..args.samples {
        let sent = Instant::now();
        publisher.put(data.clone()).await?;
        match tokio::time::timeout(REPLY_TIMEOUT, subscriber.recv_async()).await {
            Ok(Ok(_)) => rtts.push(sent.elapsed().as_micros()),
            Ok(Err(_)) => return Err("the session closed".into()),
            Err(_) => return Err(format!("no reply to ping {seq} within {REPLY_TIMEOUT:?}").into()),
        }
    }
    for (seq, rtt) in rtts.iter().enumerate() {
        println!(
            "{} bytes: seq={seq} rtt={rtt}µs lat={}µs",
            args.payload_size,
            rtt / 2
        );
    }
    drop(subscriber);
    session.close().await;
    Ok(())
}
