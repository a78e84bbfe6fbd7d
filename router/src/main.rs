//! `plexusd`: the Plexus router daemon.
//!
//! A session in router mode: it forwards publications, subscriptions and queries
//! between the clients and peers attached to it, and logs every transport and link as
//! it opens and closes. Configuration comes from a JSON5 file (`-c`), overridden by the
//! command-line flags; with neither it listens on `tcp/[::]:7447`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use plexus::{Config, WhatAmI, ZenohId};
use plexus_link::Endpoint;

#[derive(Parser, Debug)]
#[command(name = "plexusd", about = "The Plexus router daemon")]
struct Args {
    /// A JSON5 configuration file (Zenoh's key names); flags override it.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Endpoints to listen on (default: the config's, else tcp/[::]:7447).
    #[arg(short = 'l', long = "listen")]
    listen: Vec<Endpoint>,
    /// Endpoints to connect to (other routers or peers).
    #[arg(short = 'e', long = "connect")]
    connect: Vec<Endpoint>,
    /// The router's zid (hex); random when absent.
    #[arg(short = 'i', long = "id")]
    id: Option<ZenohId>,
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn config(args: &Args) -> Result<Config, plexus::ConfigError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::router(),
    };
    if config.mode() != WhatAmI::Router {
        tracing::warn!(
            "plexusd runs in router mode; ignoring mode {} from the config",
            config.mode()
        );
    }
    config = config.with_mode(WhatAmI::Router);
    if !args.listen.is_empty() {
        config = config.with_listen(args.listen.clone());
    }
    if !args.connect.is_empty() {
        config = config.with_connect(args.connect.clone());
    }
    if let Some(id) = args.id {
        config = config.with_id(id);
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("bad configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    let session = match plexus::open(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(zid = %session.zid(), "plexusd started");
    for locator in session.locators() {
        tracing::info!(%locator, "listening");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    if tokio::time::timeout(Duration::from_secs(5), session.close())
        .await
        .is_err()
    {
        tracing::warn!("some transports did not close within 5 s");
    }
    ExitCode::SUCCESS
}
