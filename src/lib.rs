//! Shared helpers for Plexus's example programs and integration tests.
//!
//! The examples (`examples/z_*.rs`) mirror Eclipse Zenoh 1.x's `z_*` examples: the same
//! flags, the same defaults and the same printed lines. The flags every example takes
//! are [`CommonArgs`]; [`CommonArgs::config`] turns them into a [`plexus::Config`].

use std::borrow::Cow;
use std::path::PathBuf;
use std::process::ExitCode;

use plexus::Endpoint;
use plexus::{Config, ConfigError, Session, WhatAmI};

/// The mode given with `-m/--mode`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A peer: talks directly to other peers, and serves clients.
    Peer,
    /// A client: talks only to the router or peer it connects to.
    Client,
    /// A router: routes for every process connected to it.
    Router,
}

impl From<Mode> for WhatAmI {
    fn from(m: Mode) -> WhatAmI {
        match m {
            Mode::Peer => WhatAmI::Peer,
            Mode::Client => WhatAmI::Client,
            Mode::Router => WhatAmI::Router,
        }
    }
}

/// The flags every example takes (Zenoh's `CommonArgs`).
///
/// Precedence: the `-c` file (or the defaults), then `-m`, `-e`, `-l`,
/// `--no-multicast-scouting`, then every `--cfg` in order.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// A configuration file (JSON5).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The session mode [default: peer].
    #[arg(short, long, value_enum)]
    pub mode: Option<Mode>,
    /// Endpoints to connect to (repeatable).
    #[arg(short = 'e', long, value_name = "ENDPOINT", value_parser = parse_endpoint)]
    pub connect: Vec<Endpoint>,
    /// Endpoints to listen on (repeatable).
    #[arg(short, long, value_name = "ENDPOINT", value_parser = parse_endpoint)]
    pub listen: Vec<Endpoint>,
    /// Disables multicast scouting (accepted for compatibility: Plexus never scouts).
    #[arg(long)]
    pub no_multicast_scouting: bool,
    /// Sets a configuration key: `KEY:VALUE`, VALUE in JSON5 (repeatable),
    /// e.g. `--cfg='transport/link/tx/lease:2000'`.
    #[arg(long, value_name = "KEY:VALUE", value_parser = parse_cfg)]
    pub cfg: Vec<(String, String)>,
}

impl CommonArgs {
    /// The session configuration these flags describe.
    pub fn config(&self) -> Result<Config, ConfigError> {
        let mut config = match &self.config {
            Some(file) => Config::from_file(file)?,
            None => Config::default(),
        };
        if let Some(mode) = self.mode {
            config = config.with_mode(mode.into());
        }
        if !self.connect.is_empty() {
            config = config.with_connect(self.connect.clone());
        }
        if !self.listen.is_empty() {
            config = config.with_listen(self.listen.clone());
        }
        if self.no_multicast_scouting {
            config.insert_json5("scouting/multicast/enabled", "false")?;
        }
        for (key, value) in &self.cfg {
            config.insert_json5(key, value)?;
        }
        Ok(config)
    }
}

/// Parses a `--cfg` value: `KEY:VALUE`, split at the first `:`.
pub fn parse_cfg(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(format!(
            "`{s}` is not KEY:VALUE (e.g. `transport/link/tx/lease:2000`)"
        )),
    }
}

/// Parses an endpoint and, for `tcp`, `udp` and `tls`, checks that the address has a port, so
/// that a mistyped `-e`/`-l` is reported at once instead of being retried forever.
pub fn parse_endpoint(s: &str) -> Result<Endpoint, String> {
    let endpoint: Endpoint = s.parse().map_err(|e| format!("{e}"))?;
    if matches!(endpoint.protocol(), "tcp" | "udp" | "tls") {
        let address = endpoint.address();
        let port = match address.strip_prefix('[') {
            Some(rest) => rest.split_once("]:").map(|(_, p)| p),
            None => address.rsplit_once(':').map(|(_, p)| p),
        };
        match port {
            None => {
                return Err(format!(
                    "invalid endpoint `{s}`: missing `:port` (e.g. `{}/{address}:7447`)",
                    endpoint.protocol()
                ));
            }
            Some(p) if p.parse::<u16>().is_err() => {
                return Err(format!(
                    "invalid endpoint `{s}`: bad port `{p}`: expected a number in 0..=65535"
                ));
            }
            Some(_) => {}
        }
    }
    Ok(endpoint)
}

/// Logs to standard error (never standard output, which carries the examples' lines),
/// at the level `RUST_LOG` gives, `error` by default.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A payload as text (invalid UTF-8 replaced).
pub fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Prints `Opening session...` and opens a session with `config`.
pub async fn open_session(config: Config) -> Result<Session, plexus::SessionError> {
    println!("Opening session...");
    plexus::open(config).await
}

/// Prints the session's id and the locators it listens on, one
/// `Listening on <locator>` line each (Zenoh's examples do not print these).
pub fn print_listening(session: &Session) {
    println!("Session zid: {}", session.zid());
    for locator in session.locators() {
        println!("Listening on {locator}");
    }
}

/// Waits for CTRL-C (SIGINT) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Turns an example's result into its exit status, printing the error to stderr.
pub fn exit_code(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The lines typed on standard input, one at a time; the channel closes at end of input.
///
/// Read on a plain thread: tokio's `stdin()` reads on the runtime's blocking pool, and a
/// runtime waits for that read at shutdown, so a program could not exit while its input
/// stays open.
pub fn stdin_lines() -> tokio::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { return };
            if tx.blocking_send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Resolves when `q` is entered; end of input resolves only if `quit_on_eof`.
pub async fn quit_requested(lines: &mut tokio::sync::mpsc::Receiver<String>, quit_on_eof: bool) {
    loop {
        match lines.recv().await {
            Some(l) if l.trim() == "q" => return,
            Some(_) => {}
            None if quit_on_eof => return,
            None => std::future::pending::<()>().await,
        }
    }
}

/// The line printed for a received sample, as Zenoh's examples print it; an attachment
/// goes on a line of its own so the sample line stays exactly as the spec shows it.
pub fn sample_lines(sample: &plexus::Sample) -> String {
    let mut out = format!(
        ">> [Subscriber] Received {} ('{}': '{}')",
        sample.kind(),
        sample.key_expr(),
        text(sample.payload())
    );
    if let Some(att) = sample.attachment() {
        out.push_str(&format!("\n   with attachment '{}'", text(att)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_a_port() {
        assert!(parse_endpoint("tcp/127.0.0.1:7447").is_ok());
        assert!(parse_endpoint("tcp/[::1]:0").is_ok());
        assert!(parse_endpoint("tcp/localhost:7447").is_ok());
        let e = parse_endpoint("tcp/127.0.0.1").unwrap_err();
        assert!(e.contains("tcp/127.0.0.1") && e.contains("port"), "{e}");
        assert!(parse_endpoint("tcp/[::1]").is_err());
        assert!(parse_endpoint("tcp/1.2.3.4:99999").is_err());
        assert!(parse_endpoint("nonsense").is_err());
    }
}
