//! Counts the messages received on `test/thr` and prints the rate, one `<rate> msg/s`
//! line per `--number` messages, exiting after `--samples` lines (Zenoh's `z_sub_thr`).
//!
//! ```sh
//! cargo run --release --example z_sub_thr -- -l tcp/127.0.0.1:7447 -s 10 -n 100000
//! ```

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::Parser;
use plexus_examples::{CommonArgs, exit_code, init_logging, shutdown_signal};

#[derive(Parser, Debug)]
#[command(about = "Print the rate of messages received on test/thr (pair with z_pub_thr)")]
struct Args {
    /// The number of measurements to print before exiting.
    #[arg(short, long, default_value_t = 10)]
    samples: u64,
    /// The number of messages in each measurement.
    #[arg(short, long, default_value_t = 100_000)]
    number: u64,
    #[command(flatten)]
    common: CommonArgs,
}

/// Rounds of `round_size` messages; a round starts at its first message.
#[derive(Debug)]
struct Stats {
    round_size: u64,
    round_count: u64,
    finished_rounds: u64,
    round_start: Instant,
    first: Option<Instant>,
}

impl Stats {
    fn new(round_size: u64) -> Self {
        Stats {
            round_size: round_size.max(1),
            round_count: 0,
            finished_rounds: 0,
            round_start: Instant::now(),
            first: None,
        }
    }

    /// Counts one message; returns the number of finished rounds.
    fn increment(&mut self) -> u64 {
        if self.round_count == 0 {
            self.round_start = Instant::now();
            self.first.get_or_insert(self.round_start);
            self.round_count = 1;
        } else if self.round_count < self.round_size {
            self.round_count += 1;
        } else {
            let rate = self.round_size as f64 / self.round_start.elapsed().as_secs_f64();
            println!("{rate} msg/s");
            self.finished_rounds += 1;
            self.round_count = 0;
        }
        self.finished_rounds
    }

    fn summary(&self) -> Option<String> {
        let elapsed = self.first?.elapsed().as_secs_f64();
        let total = self.round_size * self.finished_rounds + self.round_count;
        let rate = total as f64 / elapsed;
        Some(format!(
            "Received {total} messages over {elapsed:.2}s: {rate}msg/s"
        ))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let session = plexus::open(args.common.config()?).await?;
    let stats = std::sync::Arc::new(Mutex::new(Stats::new(args.number)));
    let samples = args.samples;
    let counter = stats.clone();
    let subscriber = session
        .declare_subscriber("test/thr")
        .callback(move |_sample| {
            let mut stats = counter.lock().unwrap_or_else(|e| e.into_inner());
            if stats.increment() >= samples {
                std::process::exit(0);
            }
        })
        .await?;
    println!("Press CTRL-C to quit...");
    shutdown_signal().await;
    drop(subscriber);
    let summary = stats.lock().unwrap_or_else(|e| e.into_inner()).summary();
    if let Some(line) = summary {
        println!("{line}");
    }
    session.close().await;
    Ok(())
}
