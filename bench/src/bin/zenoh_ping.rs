//! Zenoh's twin of Plexus's `z_ping`: publishes on `test/ping` (express unless
//! `--no-express`), waits for the echo on `test/pong`, and prints one
//! `<size> bytes: seq=<i> rtt=<µs>µs lat=<µs>µs` line per round trip.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use plexus_bench::{CommonArgs, Error, exit_code, init_logging, payload};
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::CongestionControl;

/// How long a measured round trip may take before the run fails; during the warm-up
/// an unanswered ping (sent before the pong's subscription arrived) is sent again.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Parser, Debug)]
#[command(about = "Measure round trips over test/ping and test/pong (pair with zenoh_pong)")]
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

fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let session = zenoh::open(args.common.config()?).wait()?;
    let subscriber = session.declare_subscriber("test/pong").wait()?;
    let publisher = session
        .declare_publisher("test/ping")
        .congestion_control(CongestionControl::Block)
        .express(!args.no_express)
        .wait()?;
    let data = ZBytes::from(payload(args.payload_size));

    let warmup = Duration::try_from_secs_f64(args.warmup.max(0.0))?;
    println!("Warming up for {warmup:?}...");
    let start = Instant::now();
    while start.elapsed() < warmup {
        publisher.put(data.clone()).wait()?;
        let _ = subscriber.recv_timeout(REPLY_TIMEOUT);
    }
    // Replies to pings that timed out during the warm-up may still arrive.
    while let Ok(Some(_)) = subscriber.try_recv() {}

    let mut rtts = Vec::with_capacity(args.samples);
    for seq in 0..args.samples {
        let sent = Instant::now();
        publisher.put(data.clone()).wait()?;
        match subscriber.recv_timeout(REPLY_TIMEOUT) {
            Ok(Some(_)) => rtts.push(sent.elapsed().as_micros()),
            Ok(None) => {
                return Err(format!("no reply to ping {seq} within {REPLY_TIMEOUT:?}").into());
            }
            Err(e) => return Err(e),
        }
    }
    for (seq, rtt) in rtts.iter().enumerate() {
        println!(
            "{} bytes: seq={seq} rtt={rtt}µs lat={}µs",
            args.payload_size,
            rtt / 2
        );
    }
    Ok(())
}
