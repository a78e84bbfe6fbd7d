//! Benchmarks of Plexus against Eclipse Zenoh 1.x over loopback.
//!
//! The `zenoh_*` programs are Zenoh twins of Plexus's `z_pub_thr`, `z_sub_thr`, `z_ping`
//! and `z_pong` examples: the same flags, keys and printed lines, so the runner (`run`)
//! drives both the same way and parses the same output. This library holds what they
//! share: the common flags as a Zenoh [`zenoh::Config`] and the test payload.

use std::path::PathBuf;

/// The mode given with `-m/--mode`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A peer.
    Peer,
    /// A client.
    Client,
    /// A router.
    Router,
}

/// The flags every Zenoh program takes (Zenoh's examples' `CommonArgs`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CommonArgs {
    /// A configuration file (JSON5).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The session mode [default: peer].
    #[arg(short, long, value_enum)]
    pub mode: Option<Mode>,
    /// Endpoints to connect to (repeatable).
    #[arg(short = 'e', long, value_name = "ENDPOINT")]
    pub connect: Vec<String>,
    /// Endpoints to listen on (repeatable).
    #[arg(short, long, value_name = "ENDPOINT")]
    pub listen: Vec<String>,
    /// Disables multicast scouting.
    #[arg(long)]
    pub no_multicast_scouting: bool,
    /// Sets a configuration key: `KEY:VALUE`, VALUE in JSON5 (repeatable).
    #[arg(long, value_name = "KEY:VALUE")]
    pub cfg: Vec<String>,
}

/// An error from building a configuration or running a program.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

impl CommonArgs {
    /// The Zenoh configuration these flags describe.
    pub fn config(&self) -> Result<zenoh::Config, Error> {
        let mut config = match &self.config {
            Some(file) => zenoh::Config::from_file(file)?,
            None => zenoh::Config::default(),
        };
        if let Some(mode) = self.mode {
            let mode = match mode {
                Mode::Peer => "peer",
                Mode::Client => "client",
                Mode::Router => "router",
            };
            config.insert_json5("mode", &json_string(mode))?;
        }
        if !self.connect.is_empty() {
            config.insert_json5("connect/endpoints", &json_list(&self.connect))?;
        }
        if !self.listen.is_empty() {
            config.insert_json5("listen/endpoints", &json_list(&self.listen))?;
        }
        if self.no_multicast_scouting {
            config.insert_json5("scouting/multicast/enabled", "false")?;
        }
        for entry in &self.cfg {
            let (key, value) = entry
                .split_once(':')
                .ok_or_else(|| format!("`{entry}` is not KEY:VALUE"))?;
            config.insert_json5(key, value)?;
        }
        Ok(config)
    }
}

fn json_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn json_list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", items.join(","))
}

/// The payload every throughput and latency program sends: `size` bytes `0, 1, … 9, 0, …`.
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 10) as u8).collect()
}

/// Logs to standard error at the level `RUST_LOG` gives, `error` by default.
pub fn init_logging() {
    zenoh::init_log_from_env_or("error");
}

/// Turns a program's result into its exit status, printing the error to stderr.
pub fn exit_code(result: Result<(), Error>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Blocks until the process is stopped (CTRL-C or a signal), as Zenoh's examples do.
pub fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// The admin-space selector a router answers with one reply per client transport
/// (Zenoh 1.x's session admin space, which Plexus answers too).
pub fn transports_selector(zid: &str) -> String {
    format!("@/{zid}/session/transport/unicast/*")
}

/// Serves the runner's admin queries: for every `query` line on standard input, runs
/// `query` (which returns the number of replies) and prints
/// `Admin query: <n> replies in <µs> µs`. Returns at the end of the input.
pub fn serve_admin_queries(mut query: impl FnMut() -> Result<usize, Error>) -> Result<(), Error> {
    for line in std::io::stdin().lines() {
        let line = line?;
        match line.trim() {
            "query" => {
                let started = std::time::Instant::now();
                let replies = query()?;
                println!(
                    "Admin query: {replies} replies in {} µs",
                    started.elapsed().as_micros()
                );
            }
            "" => {}
            other => eprintln!("unknown command `{other}` (expected `query`)"),
        }
    }
    Ok(())
}

/// Counts the replies of one query: the callback (which holds the returned sender) is
/// dropped when the query is over, and [`ReplyCounter::wait`] returns then.
#[derive(Debug)]
pub struct ReplyCounter {
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    done: std::sync::mpsc::Receiver<()>,
}

/// What a query's callback holds: see [`ReplyCounter`].
#[derive(Debug, Clone)]
pub struct ReplyTally {
    count: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _done: std::sync::mpsc::Sender<()>,
}

impl ReplyTally {
    /// Counts one successful reply.
    pub fn add(&self) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ReplyCounter {
    /// A counter and the tally its query's callback holds.
    pub fn new() -> (ReplyCounter, ReplyTally) {
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel();
        (
            ReplyCounter {
                count: count.clone(),
                done: rx,
            },
            ReplyTally { count, _done: tx },
        )
    }

    /// Waits (at most `timeout`) for the query to end; returns the number of replies.
    pub fn wait(self, timeout: std::time::Duration) -> Result<usize, Error> {
        match self.done.recv_timeout(timeout) {
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                Ok(self.count.load(std::sync::atomic::Ordering::Relaxed))
            }
            _ => Err(format!("the admin query did not end within {timeout:?}").into()),
        }
    }
}
