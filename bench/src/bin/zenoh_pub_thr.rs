//! Zenoh's twin of Plexus's `z_pub_thr`: publishes a fixed-size payload on `test/thr`
//! with `Block` congestion control, as fast as it can.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use plexus_bench::{CommonArgs, Error, exit_code, init_logging, payload};
use zenoh::Wait;
use zenoh::bytes::ZBytes;
use zenoh::qos::{CongestionControl, Priority};

#[derive(Parser, Debug)]
#[command(about = "Publish as fast as possible on test/thr (pair with zenoh_sub_thr)")]
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

fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let data = ZBytes::from(payload(args.payload_size));
    let priority = match args.priority {
        Some(p) => Priority::try_from(p)?,
        None => Priority::default(),
    };
    let session = zenoh::open(args.common.config()?).wait()?;
    let publisher = session
        .declare_publisher("test/thr")
        .congestion_control(CongestionControl::Block)
        .priority(priority)
        .express(args.express)
        .wait()?;
    let number = args.number.max(1);
    let mut count = 0u64;
    let mut start = Instant::now();
    loop {
        publisher.put(data.clone()).wait()?;
        if args.print {
            count += 1;
            if count >= number {
                let rate = count as f64 / start.elapsed().as_secs_f64();
                println!("{rate} msg/s");
                count = 0;
                start = Instant::now();
            }
        }
    }
}
