//! The daemon as a child process whose log lines are read as they come (with their
//! arrival time), its RSS and SIGUSR1 statistics, and a hand-driven client that completes
//! the handshake and then never reads (the resilience and slow-consumer tests).

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plexus::{Config, Session, WhatAmI};
use plexus_link::Endpoint;
use plexus_transport::handshake::{Established, Handshake, HandshakeConfig};
use plexus_transport::wire::network::{Declare, DeclareBody, NetQos, NetworkMessage, WireExpr};
use plexus_transport::wire::transport::{
    BatchItem, BatchReader, FrameHeader, StreamFramer, TransportMessage,
};
use plexus_transport::wire::{Priority, Reliability, ZenohId};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::{WAIT, poll};

/// A running `plexusd`, killed when dropped.
pub struct Daemon {
    child: Child,
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
    /// The locator of its first listener.
    pub locator: String,
    pub pid: u32,
}

impl Daemon {
    /// Starts `plexusd` with `args` (RUST_LOG=info) and waits for its listener.
    pub async fn start(args: &[&str]) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_plexusd"));
        cmd.args(args).env("RUST_LOG", "info");
        Daemon::spawn(cmd).await
    }

    /// Runs `cmd` (a router that prints a line with `listening` and `locator=<locator>`)
    /// and waits for that line.
    pub async fn spawn(mut cmd: Command) -> Daemon {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start the router");
        let pid = child.id().expect("pid");
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut d = Daemon {
            child,
            lines,
            seen: Vec::new(),
            locator: String::new(),
            pid,
        };
        let (_, listening) = d.line_with("listening", WAIT).await;
        d.locator = listening
            .split_whitespace()
            .find_map(|w| w.strip_prefix("locator="))
            .expect("the listening line names the locator")
            .to_string();
        d
    }

    /// Starts `plexusd` listening on an ephemeral loopback port, with `config` (JSON5
    /// text, written to a file) if given.
    pub async fn with_config(name: &str, config: Option<&str>) -> Daemon {
        match config {
            None => Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await,
            Some(text) => {
                let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                    .join(format!("plexusd-{name}-{}.json5", std::process::id()));
                std::fs::write(&path, text).expect("write config");
                let path = path.to_str().expect("utf-8 path").to_string();
                Daemon::start(&["-c", &path, "-l", "tcp/127.0.0.1:0"]).await
            }
        }
    }

    /// The port of its listener.
    pub fn port(&self) -> u16 {
        self.socket_addr().port()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.locator
            .strip_prefix("tcp/")
            .expect("a tcp locator")
            .parse()
            .expect("ip:port")
    }

    /// The next line containing `needle` (within `within`), with the time it was read.
    pub async fn line_with(&mut self, needle: &str, within: Duration) -> (Instant, String) {
        let found = timeout(within, async {
            while let Some((at, line)) = self.lines.recv().await {
                self.seen.push(line.clone());
                if line.contains(needle) {
                    return Some((at, line));
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(found)) => found,
            Ok(None) => panic!(
                "plexusd's output ended before a line with {needle:?}:\n{}",
                self.tail()
            ),
            Err(_) => panic!(
                "no line with {needle:?} within {within:?}; last lines:\n{}",
                self.tail()
            ),
        }
    }

    /// The lines printed so far and not yet read, without waiting.
    pub fn lines_now(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok((_, line)) = self.lines.try_recv() {
            self.seen.push(line.clone());
            out.push(line);
        }
        out
    }

    /// The lines read so far (up to the last one a wait returned).
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    fn tail(&self) -> String {
        let from = self.seen.len().saturating_sub(20);
        self.seen[from..].join("\n")
    }

    /// Its resident set size in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Asks for its statistics (SIGUSR1) and reads them.
    pub async fn stats(&mut self) -> Stats {
        signal(self.pid, "-USR1");
        let (_, head) = self.line_with("stats: transports", WAIT).await;
        let field = |name: &str| -> usize {
            head.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name}= in {head:?}"))
        };
        let mut stats = Stats {
            open: field("open"),
            alive: field("alive"),
            transports: Vec::new(),
        };
        loop {
            let (_, line) = self.line_with("stats: ", WAIT).await;
            if line.contains("stats: end") {
                return stats;
            }
            let json = &line[line.find('{').expect("a JSON object")..];
            stats
                .transports
                .push(serde_json::from_str(json).expect("the admin JSON parses"));
        }
    }

    /// Asks for its statistics until no transport is open or in memory, or until `WAIT`
    /// has passed, and returns the last answer. A transport's link tasks let go of it just
    /// after its close is logged, and nothing outside the process says when they have, so
    /// this asks again (every 20 ms) rather than trusting the first answer.
    pub async fn settled_stats(&mut self) -> Stats {
        let asked = poll::ask(WAIT, Duration::from_millis(20), async || {
            let stats = self.stats().await;
            if (stats.open, stats.alive) == (0, 0) {
                Ok(stats)
            } else {
                Err(stats)
            }
        })
        .await;
        match asked {
            Ok(stats) | Err(Some(stats)) => stats,
            // The one ask was still waiting for its answer: take that answer.
            Err(None) => self.stats().await,
        }
    }

    /// Waits (bounded) for it to exit by itself, and returns how it did.
    pub async fn exit_status(mut self) -> std::process::ExitStatus {
        timeout(WAIT, self.child.wait())
            .await
            .expect("plexusd did not exit")
            .expect("wait")
    }

    /// Kills it with SIGKILL and waits for it to be gone.
    pub async fn kill9(mut self) {
        self.child.start_kill().expect("SIGKILL");
        timeout(WAIT, self.child.wait())
            .await
            .expect("plexusd did not die")
            .expect("wait");
    }
}

/// What `plexusd` reports on SIGUSR1.
#[derive(Debug)]
pub struct Stats {
    /// Transports open.
    pub open: usize,
    /// Transports in memory (open, or closed and not yet freed).
    pub alive: usize,
    /// Each open transport's admin JSON, with its counters.
    pub transports: Vec<serde_json::Value>,
}

impl Stats {
    /// The admin JSON of the transport to `zid`, if open.
    pub fn transport(&self, zid: &ZenohId) -> Option<&serde_json::Value> {
        let upper = zid.to_string().to_uppercase();
        self.transports
            .iter()
            .find(|t| t["zid"].as_str() == Some(upper.as_str()))
    }
}

pub fn signal(pid: u32, sig: &str) {
    let status = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed");
}

/// The resident set size of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// A Plexus client session connected to `locator`.
pub async fn client(locator: &str) -> Session {
    client_with(locator, Config::default()).await
}

/// A Plexus client session connected to `locator`, from `config`.
pub async fn client_with(locator: &str, config: Config) -> Session {
    let ep: Endpoint = locator.parse().expect("endpoint");
    timeout(
        WAIT,
        plexus::open(config.with_mode(WhatAmI::Client).with_connect(vec![ep])),
    )
    .await
    .expect("open in time")
    .expect("client session")
}

/// Counts what a subscriber receives; measures rates over windows.
#[derive(Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Messages per second over the next `window` (a measurement, not a wait).
    pub async fn rate(&self, window: Duration) -> f64 {
        let (n0, t0) = (self.get(), Instant::now());
        tokio::time::sleep(window).await;
        (self.get() - n0) as f64 / t0.elapsed().as_secs_f64()
    }
}

/// The median of some rates.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A client that speaks the protocol by hand: it completes the handshake, declares a
/// subscriber, and then never reads; it can keep its lease alive with keep-alives.
pub struct RawClient {
    pub zid: ZenohId,
    pub est: Established,
    read: tokio::net::tcp::OwnedReadHalf,
    write: tokio::net::tcp::OwnedWriteHalf,
    next_sn: u32,
}

impl RawClient {
    /// Connects with a receive buffer of `rcvbuf` bytes (set before connecting, so the
    /// router's writes block soon once it stops reading) and announces `lease`.
    pub async fn connect(addr: SocketAddr, lease: Duration, rcvbuf: u32) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(rcvbuf).expect("SO_RCVBUF");
        let mut stream = timeout(WAIT, socket.connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let zid = ZenohId::random();
        let mut cfg = HandshakeConfig::new(zid, WhatAmI::Client);
        cfg.lease = lease;
        cfg.qos = false;
        let mut hs = Handshake::opener(cfg, std::time::Instant::now());
        let mut framer = StreamFramer::new(u16::MAX);
        let est = timeout(WAIT, async {
            loop {
                while let Some(m) = hs.poll_transmit() {
                    write_message(&mut stream, &m).await;
                }
                if let Some(est) = hs.established() {
                    return est.clone();
                }
                let batch = loop {
                    if let Some(b) = framer.next_batch().expect("a batch that fits") {
                        break b;
                    }
                    let n = stream
                        .read_buf(framer.buffer_mut())
                        .await
                        .expect("read during the handshake");
                    assert!(n > 0, "plexusd closed during the handshake");
                };
                for item in BatchReader::read_all(batch).expect("decodes") {
                    if let BatchItem::Transport(m) = item {
                        hs.handle_message(m, std::time::Instant::now())
                            .expect("handshake step");
                    }
                }
            }
        })
        .await
        .expect("handshake in time");
        let (read, write) = stream.into_split();
        RawClient {
            zid,
            next_sn: est.local_initial_sn,
            est,
            read,
            write,
        }
    }

    /// Declares a subscriber on `key`.
    pub async fn declare_subscriber(&mut self, key: &str) {
        let mut batch = Vec::new();
        FrameHeader {
            reliability: Reliability::Reliable,
            sn: self.next_sn,
            priority: Priority::Data,
        }
        .write(&mut batch);
        self.next_sn = (self.next_sn + 1) & self.est.sn_mask;
        NetworkMessage::Declare(Declare {
            interest_id: None,
            qos: NetQos::DECLARE,
            timestamp: None,
            node_id: 0,
            body: DeclareBody::Subscriber {
                id: 1,
                wire_expr: WireExpr::key(key),
            },
        })
        .write(&mut batch);
        write_batch(&mut self.write, &batch).await;
    }

    /// Writes `batch` (transport messages) with its length prefix.
    pub async fn send_batch(&mut self, batch: &[u8]) {
        write_batch(&mut self.write, batch).await;
    }

    /// Keeps the lease alive (a keep-alive every quarter lease) without ever reading;
    /// stops when the returned sender is dropped or the router closes the link.
    pub fn keep_alive(self) -> (tokio::sync::oneshot::Sender<()>, KeptAlive) {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let period = self.est.local_lease / 4;
        let RawClient {
            mut write, read, ..
        } = self;
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = tick.tick() => {}
                }
                let mut b = Vec::new();
                TransportMessage::KeepAlive.write(&mut b);
                let mut out = (b.len() as u16).to_le_bytes().to_vec();
                out.extend_from_slice(&b);
                if write.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
        (stop, KeptAlive { _read: read, task })
    }

    /// Goes silent: neither reads nor writes, until dropped.
    pub fn silent(
        self,
    ) -> (
        tokio::net::tcp::OwnedReadHalf,
        tokio::net::tcp::OwnedWriteHalf,
    ) {
        (self.read, self.write)
    }
}

/// The read half a keep-alive client never reads, and its keep-alive task.
pub struct KeptAlive {
    _read: tokio::net::tcp::OwnedReadHalf,
    pub task: tokio::task::JoinHandle<()>,
}

async fn write_message(stream: &mut TcpStream, m: &TransportMessage) {
    let mut b = Vec::new();
    m.write(&mut b);
    let mut out = (b.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(&b);
    stream.write_all(&out).await.expect("write");
}

async fn write_batch(w: &mut tokio::net::tcp::OwnedWriteHalf, batch: &[u8]) {
    let mut out = (batch.len() as u16).to_le_bytes().to_vec();
    out.extend_from_slice(batch);
    timeout(WAIT, w.write_all(&out))
        .await
        .expect("write in time")
        .expect("write");
}
