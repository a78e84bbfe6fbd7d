//! `plexusd`: the Plexus router daemon.
//!
//! A session in router mode: it forwards publications, subscriptions and queries
//! between the clients and peers attached to it, and logs every transport and link as
//! it opens and closes (with the reason it closed, e.g. `slow consumer`). Configuration
//! comes from a JSON5 file (`-c`), overridden by the command-line flags; with neither it
//! listens on `tcp/[::]:7447`. On SIGUSR1 it logs its statistics: how many transports
//! are open and how many exist in memory, and each transport's admin-space JSON with its
//! counters (messages dropped by congestion control among them).
//!
//! As `zenohd` does, it always serves the admin space (`@/<zid>/router`, readable by
//! other processes unless `adminspace/permissions/read` is false), and it starts the
//! REST plugin (HTTP API, live page, `/metrics`) when `--rest-http-port` or
//! `plugins/rest/http_port` is given.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use plexus::Endpoint;
use plexus::{Config, WhatAmI, ZenohId};

#[derive(Parser, Debug)]
#[command(name = "plexusd", about = "The Plexus router daemon")]
struct Args {
    /// A JSON5 configuration file (Zenoh's key names); flags override it.
    #[arg(short = 'c', long = "config")]
    config: Option<PathBuf>,
    /// Endpoints to listen on (default: the config's, else `tcp/[::]:7447`).
    #[arg(short = 'l', long = "listen")]
    listen: Vec<Endpoint>,
    /// Endpoints to connect to (other routers or peers).
    #[arg(short = 'e', long = "connect")]
    connect: Vec<Endpoint>,
    /// The router's zid (hex); random when absent.
    #[arg(short = 'i', long = "id")]
    id: Option<ZenohId>,
    /// Starts the REST plugin on this port, or `<ip>:<port>` (`none`: not started even
    /// if the config file asks for it).
    #[arg(long = "rest-http-port", value_name = "SOCKET")]
    rest_http_port: Option<String>,
    /// Permissions of remote sessions on the admin space: r, w, rw or none (default r).
    #[arg(long = "adminspace-permissions", value_name = "r|w|rw|none", value_parser = ["r", "w", "rw", "none"])]
    adminspace_permissions: Option<String>,
}

/// SIGINT or SIGTERM, with the handlers installed when this is called (so a signal
/// that arrives while the daemon is still starting is not lost).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            return futures_util::future::Either::Left(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            });
        }
    }
    futures_util::future::Either::Right(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// The SIGUSR1 stream, installed when this is called: before the daemon says it
/// listens, so that a SIGUSR1 sent as soon as it does is served, not fatal (the
/// default action of SIGUSR1 ends the process).
#[cfg(unix)]
type Usr1 = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Usr1 = Option<()>;

fn usr1_signal() -> Usr1 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::user_defined1()).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Serves SIGUSR1 (log the statistics) until `shutdown` (SIGINT or SIGTERM).
async fn run_until_shutdown(
    session: &plexus::Session,
    usr1: Usr1,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    #[cfg(unix)]
    if let Some(mut usr1) = usr1 {
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = usr1.recv() => log_stats(session).await,
            }
        }
    }
    #[cfg(not(unix))]
    let _ = usr1;
    shutdown.await;
}

/// Logs the transport counts and each transport's admin JSON (with its counters).
async fn log_stats(session: &plexus::Session) {
    tracing::info!(
        open = session.info().transport_handles().len(),
        alive = plexus_transport::alive_transports(),
        "stats: transports"
    );
    let zid = session.zid().to_string().to_uppercase();
    let key = format!("@/session/{zid}/transport/unicast/*");
    let replies = match session.get(&key).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("stats: cannot read the admin space: {e}");
            return;
        }
    };
    while let Ok(reply) = replies.recv_async().await {
        if let Ok(sample) = reply.result() {
            tracing::info!(
                "stats: {} {}",
                sample.key_expr(),
                String::from_utf8_lossy(sample.payload())
            );
        }
    }
    tracing::info!("stats: end");
}

fn config(args: &Args) -> Result<Config, plexus::ConfigError> {
    let mut config = match &args.config {
        // Router defaults under the file: only a mode the file sets is a conflict.
        Some(path) => Config::router().with_file(path)?,
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
    // As zenohd: the admin space is always on, and the flags override the file.
    config.insert_json5("adminspace/enabled", "true")?;
    if let Some(p) = &args.adminspace_permissions {
        let (read, write) = (p.contains('r'), p.contains('w'));
        config.insert_json5(
            "adminspace/permissions",
            &format!("{{ read: {read}, write: {write} }}"),
        )?;
    }
    match args.rest_http_port.as_deref() {
        Some(p) if p.eq_ignore_ascii_case("none") => {
            config.insert_json5("plugins/rest", "null")?;
        }
        Some(p) => {
            let value = serde_json::Value::String(p.to_string()).to_string();
            config.insert_json5("plugins/rest/http_port", &value)?;
            config.insert_json5("plugins/rest/__required__", "true")?;
        }
        None => {}
    }
    Ok(config)
}

/// Refuses plugin sections for plugins plexusd does not have when they are required,
/// and warns about the others (Zenoh would look for a library to load).
fn check_plugins(config: &Config) -> Result<(), String> {
    for name in config.plugin_names() {
        if name == "rest" {
            continue;
        }
        let required = config
            .plugin(name)
            .and_then(|p| p.get("__required__"))
            .and_then(|r| r.as_bool())
            .unwrap_or(false);
        if required {
            return Err(format!(
                "plugins/{name}: plexusd has no plugin {name:?} (it has: rest)"
            ));
        }
        tracing::warn!("plugins/{name}: plexusd has no plugin {name:?}; ignoring its section");
    }
    Ok(())
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
    let shutdown = shutdown_signal();
    let usr1 = usr1_signal();
    let args = Args::parse();
    let config = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("bad configuration: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = check_plugins(&config) {
        tracing::error!("bad configuration: {e}");
        return ExitCode::FAILURE;
    }
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
    let monitoring = match plexus_plugin_rest::start(&session).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            session.close().await;
            return ExitCode::FAILURE;
        }
    };
    if let Some(admin) = monitoring.admin_space() {
        tracing::info!(prefix = admin.prefix(), "admin space served");
    }
    run_until_shutdown(&session, usr1, shutdown).await;
    tracing::info!("shutting down");
    drop(monitoring);
    if tokio::time::timeout(Duration::from_secs(5), session.close())
        .await
        .is_err()
    {
        tracing::warn!("some transports did not close within 5 s");
    }
    ExitCode::SUCCESS
}
