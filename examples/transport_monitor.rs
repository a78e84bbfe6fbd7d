//! Listens and/or connects, then prints every transport and link event as it happens,
//! with each link's round-trip time once measured.
//!
//! ```sh
//! cargo run --release --example transport_monitor -- -l tcp/127.0.0.1:7447
//! cargo run --release --example transport_monitor -- -e tcp/127.0.0.1:7447
//! ```

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use plexus::Endpoint;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
};

#[derive(Parser, Debug)]
#[command(about = "Print Plexus transport and link events")]
struct Args {
    /// Endpoints to listen on.
    #[arg(short = 'l', long = "listen", default_value = "tcp/[::]:7447")]
    listen: Vec<Endpoint>,
    /// Endpoints to connect to.
    #[arg(short = 'e', long = "connect")]
    connect: Vec<Endpoint>,
    /// Our lease in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    lease_ms: u64,
    /// Seconds between RTT reports (0: never).
    #[arg(long, default_value_t = 5)]
    rtt_every: u64,
}

struct Printer {
    zid: Option<ZenohId>,
}

impl TransportHandler for Printer {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        println!(
            "transport opened: zid={} whatami={} qos={} lease={:?} batch={}",
            t.zid(),
            t.whatami(),
            t.is_qos(),
            t.remote_lease(),
            t.batch_size()
        );
        Arc::new(Printer { zid: Some(t.zid()) })
    }
}

impl PeerHandler for Printer {
    fn message(&self, _msg: NetworkMessage) {}

    fn event(&self, event: TransportEvent) {
        let zid = self.zid.map(|z| z.to_string()).unwrap_or_default();
        match event {
            TransportEvent::LinkAdded(l) => println!(
                "link added: zid={zid} id={} src={} dst={} mtu={} reliable={} streamed={}",
                l.id,
                l.info.src(),
                l.info.dst(),
                l.info.mtu(),
                l.info.is_reliable(),
                l.info.is_streamed()
            ),
            TransportEvent::LinkRemoved { link, cause } => {
                println!("link removed: zid={zid} id={} ({cause})", link.id)
            }
            TransportEvent::Closed { cause } => println!("transport closed: zid={zid} ({cause})"),
            other => println!("event: zid={zid} {other:?}"),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let mut cfg = TransportConfig::new(ZenohId::random(), WhatAmI::Peer);
    cfg.lease = Duration::from_millis(args.lease_ms);
    let mgr = TransportManager::new(cfg, Arc::new(Printer { zid: None }));
    println!("zid: {}", mgr.zid());
    // Listen only where asked; connecting alone needs no listener.
    let listen =
        if args.connect.is_empty() || std::env::args().any(|a| a == "-l" || a == "--listen") {
            args.listen.clone()
        } else {
            Vec::new()
        };
    for ep in &listen {
        let locator = mgr.listen(ep).await?;
        println!("listening on {locator}");
    }
    for ep in &args.connect {
        mgr.connect(ep).await?;
    }
    let every = Duration::from_secs(args.rtt_every);
    let mut ticker = tokio::time::interval(if every.is_zero() {
        Duration::from_secs(3600)
    } else {
        every
    });
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = ticker.tick(), if !every.is_zero() => {
                for t in mgr.transports() {
                    for l in t.links() {
                        let rtt = l.rtt_us.map(|r| format!("{r} us")).unwrap_or_else(|| "unknown".into());
                        println!("rtt: zid={} link={} {rtt}", t.zid(), l.id);
                    }
                }
            }
        }
    }
    println!("closing");
    mgr.close().await;
    Ok(())
}
