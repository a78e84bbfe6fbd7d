//! `plexusd`: the Plexus router daemon.
//!
//! Today it accepts and opens transports in router mode, keeps them alive and logs every
//! transport and link as it opens and closes. Forwarding pub/sub and queries between the
//! attached sessions arrives with the session layer.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use plexus_link::Endpoint;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
};

#[derive(Parser, Debug)]
#[command(
    name = "plexusd",
    about = "The Plexus router daemon (transports only: forwarding of data is not implemented yet)"
)]
struct Args {
    /// Endpoints to listen on.
    #[arg(short = 'l', long = "listen", default_value = "tcp/[::]:7447")]
    listen: Vec<Endpoint>,
    /// Endpoints to connect to (other routers or peers).
    #[arg(short = 'e', long = "connect")]
    connect: Vec<Endpoint>,
    /// The router's zid (hex); random when absent.
    #[arg(short = 'i', long = "id")]
    id: Option<ZenohId>,
    /// Lease announced to remote processes, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    lease_ms: u64,
}

/// Logs transports and links as they come and go.
struct Logger {
    peer: Option<(ZenohId, WhatAmI)>,
}

impl TransportHandler for Logger {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        tracing::info!(zid = %t.zid(), whatami = %t.whatami(), qos = t.is_qos(), "transport opened");
        Arc::new(Logger {
            peer: Some((t.zid(), t.whatami())),
        })
    }
}

impl PeerHandler for Logger {
    fn message(&self, msg: NetworkMessage) {
        tracing::trace!(
            ?msg,
            "message not routed: forwarding is not implemented yet"
        );
    }

    fn event(&self, event: TransportEvent) {
        let zid = self.peer.map(|(z, _)| z.to_string()).unwrap_or_default();
        match event {
            TransportEvent::LinkAdded(l) => {
                tracing::info!(%zid, link = l.id, src = %l.info.src(), dst = %l.info.dst(), "link added")
            }
            TransportEvent::LinkRemoved { link, cause } => {
                tracing::info!(%zid, link = link.id, %cause, "link removed")
            }
            TransportEvent::Closed { cause } => tracing::info!(%zid, %cause, "transport closed"),
            other => tracing::debug!(%zid, ?other, "transport event"),
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    let zid = args.id.unwrap_or_else(ZenohId::random);
    let mut cfg = TransportConfig::new(zid, WhatAmI::Router);
    cfg.lease = Duration::from_millis(args.lease_ms);
    let mgr = TransportManager::new(cfg, Arc::new(Logger { peer: None }));
    tracing::info!(%zid, "plexusd starting (transports only: data forwarding is not implemented yet)");
    for ep in &args.listen {
        match mgr.listen(ep).await {
            Ok(locator) => tracing::info!(%locator, "listening"),
            Err(e) => {
                tracing::error!("cannot listen on {ep}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    for ep in &args.connect {
        if let Err(e) = mgr.connect(ep).await {
            tracing::warn!("cannot connect to {ep}: {e}");
        }
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    if tokio::time::timeout(Duration::from_secs(5), mgr.close())
        .await
        .is_err()
    {
        tracing::warn!("some transports did not close within 5 s");
    }
    std::process::ExitCode::SUCCESS
}
