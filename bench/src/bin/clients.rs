//! The scale benchmark's load: opens many client transports to one router (Plexus's or
//! Zenoh's, the same load for both), prints `Opened <n> transports in <s> s (<r>
//! handshakes retried)`, and holds them, answering keep-alives, until stopped.
//!
//! Each transport is a client with its own zid that completes the Zenoh 1.x handshake
//! (INIT, OPEN, with QoS and the default 64 KiB batch, as real clients negotiate) and
//! then only exchanges keep-alives: no session declarations. Real client sessions in one
//! process would cost the load generator gigabytes at 10,000 (a Zenoh session each
//! carries its own routing tables), and what the router holds per transport is the
//! same either way. The handshakes come from Plexus's transport layer, so the bytes on
//! the wire are the same whichever router is on the other side.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use plexus_bench::{Error, exit_code};
use plexus_link::Endpoint;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
};

#[derive(Parser, Debug)]
#[command(about = "Hold many client transports open to one router")]
struct Args {
    /// The router's endpoint.
    #[arg(short = 'e', long, value_name = "ENDPOINT")]
    connect: String,
    /// The number of transports.
    #[arg(short, long, default_value_t = 1000)]
    number: usize,
    /// How many handshakes run at the same time.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// How often one transport's handshake is tried again after the router refused it.
const MAX_RETRIES: u32 = 10;
/// The wait before the n-th retry is n times this.
const RETRY_PERIOD: Duration = Duration::from_millis(100);

/// Drops whatever a transport delivers: the load only has to stay connected.
#[derive(Debug)]
struct Ignore;

impl PeerHandler for Ignore {
    fn message(&self, _msg: NetworkMessage) {}
    fn event(&self, _event: TransportEvent) {}
}

impl TransportHandler for Ignore {
    fn opened(&self, _transport: &Transport) -> Arc<dyn PeerHandler> {
        Arc::new(Ignore)
    }
}

fn main() -> ExitCode {
    exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let endpoint: Endpoint = args
        .connect
        .parse()
        .map_err(|e| format!("bad endpoint `{}`: {e}", args.connect))?;
    let started = Instant::now();
    let held = runtime.block_on(async {
        let mut held = Vec::with_capacity(args.number);
        let mut opening = tokio::task::JoinSet::new();
        let mut next = 0;
        let mut retried = 0;
        while held.len() < args.number {
            while next < args.number && opening.len() < args.concurrency.max(1) {
                let endpoint = endpoint.clone();
                opening.spawn(async move {
                    let mut config = TransportConfig::new(ZenohId::random(), WhatAmI::Client);
                    // Round-trip probes are a Plexus extension; the load is plain Zenoh.
                    config.rtt_probes = false;
                    let manager = TransportManager::new(config, Arc::new(Ignore));
                    // A router may refuse a handshake while too many are pending (Zenoh's
                    // `accept_pending` closes the link at once): retry like a client's
                    // `connect/retry` would, a bounded number of times.
                    let mut refused = 0;
                    loop {
                        match manager.connect(&endpoint).await {
                            Ok(transport) => return Ok((manager, transport, refused)),
                            Err(e) if refused >= MAX_RETRIES => return Err(e),
                            Err(_) => {
                                refused += 1;
                                tokio::time::sleep(RETRY_PERIOD * refused).await;
                            }
                        }
                    }
                });
                next += 1;
            }
            match opening.join_next().await {
                Some(opened) => {
                    let (manager, transport, refused) = opened
                        .map_err(|e| format!("a handshake task failed: {e}"))?
                        .map_err(|e| {
                            format!(
                                "a handshake failed {} times, the last: {e}",
                                MAX_RETRIES + 1
                            )
                        })?;
                    retried += refused as usize;
                    held.push((manager, transport));
                }
                None => break,
            }
        }
        Ok::<_, Error>((held, retried))
    })?;
    let (held, retried) = held;
    println!(
        "Opened {} transports in {:.1} s ({retried} handshakes retried)",
        held.len(),
        started.elapsed().as_secs_f64()
    );
    // Watch the transports until stopped: one that the router dropped fails the run.
    runtime.block_on(async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let closed = held.iter().filter(|(_, t)| t.is_closed()).count();
            if closed > 0 {
                return Err(format!("the router closed {closed} of the transports").into());
            }
        }
    })
}
