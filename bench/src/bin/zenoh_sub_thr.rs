//! Zenoh's twin of Plexus's `z_sub_thr`: prints one `<rate> msg/s` line per `--number`
//! messages received on `test/thr` and exits after `--samples` lines.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use plexus_bench::{CommonArgs, Error, exit_code, init_logging, park_forever};
use zenoh::Wait;

#[derive(Parser, Debug)]
#[command(about = "Print the rate of messages received on test/thr (pair with zenoh_pub_thr)")]
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

fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let session = zenoh::open(args.common.config()?).wait()?;
    let round_size = args.number.max(1);
    let samples = args.samples;
    let mut round_count = 0u64;
    let mut finished = 0u64;
    let mut round_start = Instant::now();
    let _subscriber = session
        .declare_subscriber("test/thr")
        .callback_mut(move |_sample| {
            if round_count == 0 {
                round_start = Instant::now();
                round_count = 1;
            } else if round_count < round_size {
                round_count += 1;
            } else {
                let rate = round_size as f64 / round_start.elapsed().as_secs_f64();
                println!("{rate} msg/s");
                finished += 1;
                round_count = 0;
                if finished >= samples {
                    std::process::exit(0);
                }
            }
        })
        .wait()?;
    println!("Press CTRL-C to quit...");
    park_forever()
}
