//! Zenoh's twin of Plexus's `z_pong`: echoes every payload received on `test/ping` back
//! on `test/pong`, from the subscriber's callback.

use std::process::ExitCode;

use clap::Parser;
use plexus_bench::{CommonArgs, Error, exit_code, init_logging, park_forever};
use zenoh::Wait;
use zenoh::qos::CongestionControl;

#[derive(Parser, Debug)]
#[command(about = "Echo test/ping back on test/pong (pair with zenoh_ping)")]
struct Args {
    /// Sends without express (let the batcher wait to fill a batch).
    #[arg(long)]
    no_express: bool,
    #[command(flatten)]
    common: CommonArgs,
}

fn main() -> ExitCode {
    init_logging();
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let session = zenoh::open(args.common.config()?).wait()?;
    let publisher = session
        .declare_publisher("test/pong")
        .congestion_control(CongestionControl::Block)
        .express(!args.no_express)
        .wait()?;
    let _subscriber = session
        .declare_subscriber("test/ping")
        .callback(move |sample| {
            if let Err(e) = publisher.put(sample.payload().clone()).wait() {
                eprintln!("error: cannot echo: {e}");
            }
        })
        .wait()?;
    println!("Press CTRL-C to quit...");
    park_forever()
}
