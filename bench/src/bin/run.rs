//! The benchmark runner: builds Plexus's `z_*` examples, `plexusd` and this crate's
//! programs, then measures Plexus against Zenoh over loopback in rounds: every round
//! runs each side once (in alternating order), so that each ratio comes from several
//! A/B pairs taken minutes apart at most, and a goal counts as met only if it holds
//! in at least 4 pairs out of 5. It prints the table; a full run also writes
//! `BENCHMARKS.md` and `bench/throughput.png`. `--smoke` runs every program pair once,
//! briefly, and fails if any program fails to start, exchange data or exit.
//!
//! With `--upstream DIR` (Zenoh's own `z_pub_thr`, `z_sub_thr`, `z_ping` and `z_pong`,
//! built by Zenoh's workspace, and `zenohd` if `DIR` has it: see `bench/upstream.sh`),
//! each peer-to-peer round and the idle peer's memory also run those (and each
//! via-router round and the scale measurement, with `zenohd`), and a table compares the
//! Zenoh twins in `bench/` with them: the baseline has to be honest.
//!
//! With `--baseline DIR` (an earlier build of Plexus: `DIR/plexusd` and
//! `DIR/examples/z_*`, e.g. another checkout's `target/release`), every throughput and
//! latency round also runs that build, and a table compares this build with it: a change
//! that must not make Plexus slower shows it in A/B pairs of the same rounds.
//!
//! ```sh
//! bench/run.sh                    # release, about fifteen minutes of measurement
//! cargo run --manifest-path bench/Cargo.toml --locked -- --smoke
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Benchmark Plexus against Zenoh over loopback")]
struct Args {
    /// Runs every program pair briefly (CI): checks that the programs start, exchange
    /// data and exit, and asserts no timing.
    #[arg(long)]
    smoke: bool,
    /// Does not build first (the programs are already built with this runner's profile).
    #[arg(long)]
    no_build: bool,
    /// Rounds of each measurement: each round runs every side once (A/B pairs).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Starts no new measurement after this many seconds.
    #[arg(long, default_value_t = 1800)]
    budget: u64,
    /// The number of client transports the router holds in the scale measurement.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Zenoh's own examples (`z_pub_thr`, `z_sub_thr`, `z_ping`, `z_pong`) built by its
    /// workspace: peer-to-peer rounds also run them, against the twins. If the directory
    /// also holds Zenoh's router `zenohd` (as `bench/upstream.sh` leaves it), via-router
    /// rounds run them too, as its clients, and the scale measurement runs `zenohd`.
    #[arg(long, value_name = "DIR")]
    upstream: Option<PathBuf>,
    /// An earlier Plexus build (`DIR/plexusd`, `DIR/examples/z_pub_thr`, …, e.g. a
    /// target's `release` directory): throughput and latency rounds also run it, and a
    /// table compares this build with it.
    #[arg(long, value_name = "DIR")]
    baseline: Option<PathBuf>,
    /// Runs only the measurements whose name contains this text (e.g. `throughput 8 B
    /// peer`, `latency`, `scale`); implies `--no-report`.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// Does not write BENCHMARKS.md and the plot.
    #[arg(long)]
    no_report: bool,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

const SIZES: [usize; 6] = [8, 64, 1024, 16384, 65536, 1 << 20];
const LATENCY_SIZES: [usize; 2] = [8, 1024];
const TOPOLOGIES: [Topology; 2] = [Topology::PeerToPeer, Topology::Router];

/// A goal holds if it holds in at least this share of the rounds (4 of 5).
const QUORUM: f64 = 0.8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Impl {
    Plexus,
    /// The Zenoh twins in `bench/src/bin/zenoh_*.rs`.
    Zenoh,
    /// Zenoh's own examples, built by Zenoh's workspace (`--upstream`).
    Upstream,
    /// An earlier build of Plexus (`--baseline`).
    Baseline,
    /// Raw TCP over loopback, within the runner (the physical limit).
    RawTcp,
    /// Not a program: per round, the faster of [`Impl::Zenoh`] and [`Impl::Upstream`]
    /// (see [`Bench::derive_fastest`]), what the goals compare with.
    Fastest,
}

impl Impl {
    fn label(self) -> &'static str {
        match self {
            Impl::Plexus => "Plexus",
            Impl::Zenoh => "Zenoh",
            Impl::Upstream => "Zenoh (upstream build)",
            Impl::Baseline => "Plexus (baseline build)",
            Impl::RawTcp => "raw TCP",
            Impl::Fastest => "Zenoh (the faster of twin and upstream)",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Topology {
    PeerToPeer,
    Router,
}

impl Topology {
    fn label(self) -> &'static str {
        match self {
            Topology::PeerToPeer => "peer to peer",
            Topology::Router => "via router",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Program {
    PubThr,
    SubThr,
    Ping,
    Pong,
    /// The router of the throughput and latency measurements.
    Router,
    /// The router of the scale measurement (answers admin queries on stdin).
    ScaleRouter,
    Clients,
}

/// Where the built programs are.
#[derive(Debug)]
struct Programs {
    /// Plexus's examples (`<target>/<profile>/examples`).
    examples: PathBuf,
    /// `plexusd` and the root's binaries (`<target>/<profile>`).
    root_bins: PathBuf,
    /// This crate's binaries (beside the runner).
    bench_bins: PathBuf,
    /// Zenoh's own examples, if given.
    upstream: Option<PathBuf>,
    /// An earlier Plexus build's `plexusd` and `examples/`, if given.
    baseline: Option<PathBuf>,
}

impl Programs {
    fn path(&self, imp: Impl, program: Program) -> Result<PathBuf, Error> {
        let upstream = || {
            self.upstream
                .clone()
                .ok_or_else(|| Error::from("no --upstream directory"))
        };
        let baseline = || {
            self.baseline
                .clone()
                .ok_or_else(|| Error::from("no --baseline directory"))
        };
        Ok(match (imp, program) {
            (Impl::Plexus, Program::PubThr) => self.examples.join("z_pub_thr"),
            (Impl::Plexus, Program::SubThr) => self.examples.join("z_sub_thr"),
            (Impl::Plexus, Program::Ping) => self.examples.join("z_ping"),
            (Impl::Plexus, Program::Pong) => self.examples.join("z_pong"),
            (Impl::Plexus, Program::Router) => self.root_bins.join("plexusd"),
            (Impl::Plexus, Program::ScaleRouter) => self.bench_bins.join("plexus_router"),
            (Impl::Zenoh, Program::PubThr) => self.bench_bins.join("zenoh_pub_thr"),
            (Impl::Zenoh, Program::SubThr) => self.bench_bins.join("zenoh_sub_thr"),
            (Impl::Zenoh, Program::Ping) => self.bench_bins.join("zenoh_ping"),
            (Impl::Zenoh, Program::Pong) => self.bench_bins.join("zenoh_pong"),
            (Impl::Zenoh, Program::Router | Program::ScaleRouter) => {
                self.bench_bins.join("zenoh_router")
            }
            (Impl::Upstream, Program::PubThr) => upstream()?.join("z_pub_thr"),
            (Impl::Upstream, Program::SubThr) => upstream()?.join("z_sub_thr"),
            (Impl::Upstream, Program::Ping) => upstream()?.join("z_ping"),
            (Impl::Upstream, Program::Pong) => upstream()?.join("z_pong"),
            (Impl::Upstream, Program::Router | Program::ScaleRouter) => upstream()?.join("zenohd"),
            (Impl::Baseline, Program::PubThr) => baseline()?.join("examples/z_pub_thr"),
            (Impl::Baseline, Program::SubThr) => baseline()?.join("examples/z_sub_thr"),
            (Impl::Baseline, Program::Ping) => baseline()?.join("examples/z_ping"),
            (Impl::Baseline, Program::Pong) => baseline()?.join("examples/z_pong"),
            (Impl::Baseline, Program::Router) => baseline()?.join("plexusd"),
            // One load for every router.
            (_, Program::Clients) => self.bench_bins.join("clients"),
            (imp, program) => return Err(format!("{imp:?} has no {program:?} program").into()),
        })
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: some measurements failed (see above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when a measurement failed.
fn run(args: &Args) -> Result<bool, Error> {
    let bench_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = bench_dir
        .parent()
        .ok_or("the bench crate has no parent directory")?
        .to_path_buf();
    let release = !cfg!(debug_assertions);
    let profile = if release { "release" } else { "debug" };
    let started = Instant::now();
    if !args.no_build {
        build(&root, &bench_dir, release)?;
    }
    let build_time = started.elapsed();
    let bench_bins = std::env::current_exe()?
        .parent()
        .ok_or("the runner has no directory")?
        .to_path_buf();
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join("target"),
    };
    let programs = Programs {
        examples: target.join(profile).join("examples"),
        root_bins: target.join(profile),
        bench_bins,
        upstream: args.upstream.clone(),
        baseline: args.baseline.clone(),
    };
    let mut impls = vec![Impl::Plexus, Impl::Zenoh];
    if args.upstream.is_some() {
        impls.push(Impl::Upstream);
    }
    let upstream_router = args.upstream.is_some()
        && programs
            .path(Impl::Upstream, Program::Router)
            .is_ok_and(|p| p.is_file());
    if args.baseline.is_some() {
        impls.push(Impl::Baseline);
    }
    for &imp in &impls {
        for p in [
            Program::PubThr,
            Program::SubThr,
            Program::Ping,
            Program::Pong,
            Program::Router,
            Program::ScaleRouter,
            Program::Clients,
        ] {
            // Zenoh's router is optional; an earlier Plexus build takes no part in the
            // scale measurement.
            let absent = match imp {
                Impl::Upstream => {
                    matches!(p, Program::Router | Program::ScaleRouter) && !upstream_router
                }
                Impl::Baseline => matches!(p, Program::ScaleRouter),
                _ => false,
            };
            if absent {
                continue;
            }
            let path = programs.path(imp, p)?;
            if !path.is_file() {
                return Err(format!("{} is not built", path.display()).into());
            }
        }
    }
    let plan = Plan::new(args);
    let load_before = load_average();
    let machine = Machine::probe();
    eprintln!("{}", machine.describe(load_before.clone()));
    let mut bench = Bench {
        programs,
        plan,
        smoke: args.smoke,
        upstream: args.upstream.is_some(),
        upstream_router,
        baseline: args.baseline.is_some(),
        // A smoke run checks that the programs work; one round is enough.
        rounds: if args.smoke { 1 } else { args.repeat.max(1) },
        runs: HashMap::new(),
        errors: Vec::new(),
        deadline: Instant::now() + Duration::from_secs(args.budget),
        skipped: 0,
        only: args.only.clone(),
    };
    let measuring = Instant::now();
    bench.measure_all();
    bench.derive_fastest();
    let elapsed = measuring.elapsed();
    let load_after = load_average();
    let report = bench.report();
    println!("{report}");
    eprintln!(
        "built in {:.0} s, measured in {:.0} s; load average {} before, {} after",
        build_time.as_secs_f64(),
        elapsed.as_secs_f64(),
        load_before.as_deref().unwrap_or("?"),
        load_after.as_deref().unwrap_or("?"),
    );
    if !args.smoke && !args.no_report && args.only.is_none() {
        let png = root.join("bench").join("throughput.png");
        plot(&bench, &png)?;
        let header = Header {
            elapsed,
            machine: &machine,
            load_before,
            load_after,
            rounds: bench.rounds,
            upstream: bench.upstream,
        };
        write_benchmarks_md(&root, &report, &header)?;
        eprintln!("wrote BENCHMARKS.md and {}", png.display());
    }
    for e in &bench.errors {
        eprintln!("failed: {e}");
    }
    Ok(bench.errors.is_empty())
}

/// Builds Plexus's measured examples and `plexusd` (root workspace) and this crate's
/// programs. Both workspaces share the release profile's settings (see their
/// `Cargo.toml`s).
fn build(root: &Path, bench_dir: &Path, release: bool) -> Result<(), Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root_manifest = root.join("Cargo.toml").display().to_string();
    let root_step: Vec<String> = if release {
        // Only what is measured: every other example would be one more fat-LTO link.
        [
            "build",
            "--manifest-path",
            &root_manifest,
            "--locked",
            "-p",
            "plexus-examples",
            "-p",
            "plexusd",
            "--bin",
            "plexusd",
            "--example",
            "z_pub_thr",
            "--example",
            "z_sub_thr",
            "--example",
            "z_ping",
            "--example",
            "z_pong",
            "--release",
        ]
        .map(String::from)
        .to_vec()
    } else {
        // CI's command (plus `plexusd`), so that the smoke run reuses CI's debug build.
        [
            "build",
            "--manifest-path",
            &root_manifest,
            "--locked",
            "--workspace",
            "--bins",
            "--examples",
        ]
        .map(String::from)
        .to_vec()
    };
    let mut bench_step: Vec<String> = [
        "build",
        "--manifest-path",
        &bench_dir.join("Cargo.toml").display().to_string(),
        "--locked",
        "--bins",
    ]
    .map(String::from)
    .to_vec();
    if release {
        bench_step.push("--release".into());
    }
    for step in [root_step, bench_step] {
        eprintln!("cargo {}", step.join(" "));
        let status = Command::new(&cargo).args(step.iter()).status()?;
        if !status.success() {
            return Err(format!("cargo {} failed: {status}", step.join(" ")).into());
        }
    }
    Ok(())
}

/// How big and how long each measurement is.
#[derive(Debug)]
struct Plan {
    sizes: Vec<usize>,
    router_sizes: Vec<usize>,
    latency_sizes: Vec<usize>,
    /// Throughput rounds printed by the subscriber (the first is dropped as warm-up).
    rounds: usize,
    /// Bytes of payload per throughput round.
    round_bytes: usize,
    round_messages: (usize, usize),
    pings: usize,
    warmup_secs: f64,
    clients: usize,
    admin_queries: usize,
    raw_seconds: f64,
    raw_pings: usize,
    /// How long start-up work may take to settle before a memory reading.
    settle: Duration,
    /// The longest a single measurement may take.
    timeout: Duration,
}

impl Plan {
    fn new(args: &Args) -> Plan {
        if args.smoke {
            Plan {
                sizes: vec![8, 65536],
                router_sizes: vec![8],
                latency_sizes: vec![8],
                rounds: 2,
                round_bytes: 1 << 20,
                round_messages: (10, 2000),
                pings: 20,
                warmup_secs: 0.2,
                clients: args.clients.min(10),
                admin_queries: 2,
                raw_seconds: 0.1,
                raw_pings: 100,
                settle: Duration::from_millis(100),
                timeout: Duration::from_secs(60),
            }
        } else {
            Plan {
                sizes: SIZES.to_vec(),
                router_sizes: SIZES.to_vec(),
                latency_sizes: LATENCY_SIZES.to_vec(),
                rounds: 5,
                // Rounds of about 0.1 to 0.4 s: the CPU window (four rounds) is long
                // enough for the 10 ms resolution of /proc's CPU times.
                round_bytes: 256 << 20,
                round_messages: (200, 1_000_000),
                pings: 2000,
                warmup_secs: 1.0,
                clients: args.clients,
                admin_queries: 5,
                raw_seconds: 1.0,
                raw_pings: 10_000,
                settle: Duration::from_secs(2),
                timeout: Duration::from_secs(120),
            }
        }
    }

    /// Messages per throughput round for `size`-byte payloads.
    fn messages(&self, size: usize) -> usize {
        (self.round_bytes / size.max(1)).clamp(self.round_messages.0, self.round_messages.1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Measure {
    /// Messages per second (one value per round) and CPU per message.
    Throughput(Topology, usize),
    /// RTT/2 in microseconds (one value per round trip).
    Latency(Topology, usize),
    /// Resident set of an idle peer, KiB.
    IdleRss,
    /// A router holding many client transports: memory and admin queries.
    Scale,
}

impl Measure {
    fn describe(self) -> String {
        match self {
            Measure::Throughput(t, s) => format!("throughput {} {}", size_label(s), t.label()),
            Measure::Latency(t, s) => format!("latency {} {}", size_label(s), t.label()),
            Measure::IdleRss => "idle peer RSS".into(),
            Measure::Scale => "scale".into(),
        }
    }
}

/// What one run of one side measured.
#[derive(Clone, Debug, Default)]
struct Run {
    /// Throughput: msg/s per round; latency: RTT/2 samples in µs; idle RSS: KiB.
    values: Vec<f64>,
    /// Throughput: CPU seconds (user + system, every process of the run) per million
    /// messages.
    cpu_per_m: Option<f64>,
    /// Scale: the router's resident set with every client connected, KiB.
    rss_kib: Option<f64>,
    /// Scale: what each transport added to the router's resident set, KiB.
    per_transport_kib: Option<f64>,
    /// Scale: admin queries over every transport, ms.
    admin_ms: Vec<f64>,
    /// Scale: an admin query that did not answer for every transport.
    admin_incomplete: Option<Incomplete>,
}

/// How an admin query fell short of one reply per transport.
#[derive(Clone, Copy, Debug)]
enum Incomplete {
    /// Its timeout ended it with these replies.
    TimedOut { replies: usize },
    /// It had not ended after [`ADMIN_QUERY_LIMIT`].
    NotEnded,
}

impl Run {
    /// The resident set this run of a memory measurement `m` measured, KiB.
    fn resident_kib(&self, m: Measure) -> Option<f64> {
        match m {
            Measure::Scale => self.rss_kib,
            _ => Some(self.median()),
        }
    }

    fn median(&self) -> f64 {
        median(&self.values)
    }

    fn p(&self, p: f64) -> f64 {
        percentile(&self.values, p)
    }

    fn summary(&self, m: Measure) -> String {
        match m {
            Measure::Throughput(_, size) => {
                let v = self.median();
                let mut s = format!("{v:.0} msg/s, {:.3} Gbit/s", gbits(v, size));
                if let Some(c) = self.cpu_per_m {
                    let _ = write!(s, ", {c:.3} CPU s per million messages");
                }
                s
            }
            Measure::Latency(..) => format!(
                "RTT/2 p50 {:.1} µs, p99 {:.1} µs",
                self.p(50.0),
                self.p(99.0)
            ),
            Measure::IdleRss => format!("{:.1} MiB", self.median() / 1024.0),
            Measure::Scale => {
                let mut s = format!(
                    "RSS {:.1} MiB, {:.1} KiB per transport",
                    self.rss_kib.unwrap_or(0.0) / 1024.0,
                    self.per_transport_kib.unwrap_or(0.0),
                );
                if !self.admin_ms.is_empty() {
                    let _ = write!(
                        s,
                        ", admin query {:.1} ms (median of {})",
                        median_or_nan(&self.admin_ms),
                        self.admin_ms.len()
                    );
                }
                match self.admin_incomplete {
                    Some(Incomplete::TimedOut { replies }) => {
                        let _ = write!(s, ", ended by its timeout with {replies} replies");
                    }
                    Some(Incomplete::NotEnded) => {
                        let _ = write!(s, ", not ended after {ADMIN_QUERY_LIMIT:?}");
                    }
                    None => {}
                }
                s
            }
        }
    }
}

#[derive(Debug)]
struct Bench {
    programs: Programs,
    plan: Plan,
    smoke: bool,
    upstream: bool,
    /// `--upstream`'s directory has `zenohd`: via-router rounds run Zenoh's own build too.
    upstream_router: bool,
    baseline: bool,
    rounds: usize,
    /// Each side's run in each round: `runs[(m, imp)][round]`.
    runs: HashMap<(Measure, Impl), Vec<Option<Run>>>,
    errors: Vec<String>,
    deadline: Instant,
    skipped: usize,
    only: Option<String>,
}

impl Bench {
    fn measures(&self) -> Vec<Measure> {
        let mut measures = Vec::new();
        for &size in &self.plan.sizes {
            measures.push(Measure::Throughput(Topology::PeerToPeer, size));
        }
        for &size in &self.plan.latency_sizes {
            measures.push(Measure::Latency(Topology::PeerToPeer, size));
        }
        for &size in &self.plan.router_sizes {
            measures.push(Measure::Throughput(Topology::Router, size));
        }
        for &size in &self.plan.latency_sizes {
            measures.push(Measure::Latency(Topology::Router, size));
        }
        measures.push(Measure::IdleRss);
        measures.push(Measure::Scale);
        if let Some(only) = &self.only {
            measures.retain(|m| m.describe().contains(only.as_str()));
        }
        measures
    }

    /// Who runs in each round of `m`.
    fn participants(&self, m: Measure) -> Vec<Impl> {
        let mut sides = vec![Impl::Plexus, Impl::Zenoh];
        let upstream = match m {
            Measure::Throughput(Topology::PeerToPeer, _)
            | Measure::Latency(Topology::PeerToPeer, _) => self.upstream,
            Measure::Throughput(Topology::Router, _) | Measure::Latency(Topology::Router, _) => {
                self.upstream_router
            }
            Measure::IdleRss => self.upstream,
            Measure::Scale => self.upstream_router,
        };
        if upstream {
            sides.push(Impl::Upstream);
        }
        if self.baseline && matches!(m, Measure::Throughput(..) | Measure::Latency(..)) {
            sides.push(Impl::Baseline);
        }
        if raw_applies(m) {
            sides.push(Impl::RawTcp);
        }
        sides
    }

    fn measure_all(&mut self) {
        for m in self.measures() {
            for round in 0..self.rounds {
                let mut order = self.participants(m);
                // Alternate the order, so that a drift in the machine's load does not
                // favour whoever runs first.
                if round % 2 == 1 {
                    order.reverse();
                }
                for imp in order {
                    if Instant::now() > self.deadline {
                        self.skipped += 1;
                        continue;
                    }
                    let t = Instant::now();
                    let result = self.measure_once(m, imp);
                    let slot = self.runs.entry((m, imp)).or_default();
                    slot.resize(self.rounds, None);
                    match result {
                        Ok(run) => {
                            eprintln!(
                                "round {} {} {}: {} ({:.1} s)",
                                round + 1,
                                imp.label(),
                                m.describe(),
                                run.summary(m),
                                t.elapsed().as_secs_f64()
                            );
                            slot[round] = Some(run);
                        }
                        Err(e) => {
                            let msg = format!("{} {}: {e}", imp.label(), m.describe());
                            eprintln!("round {} {msg}", round + 1);
                            self.errors.push(msg);
                        }
                    }
                }
            }
        }
    }

    fn measure_once(&self, m: Measure, imp: Impl) -> Result<Run, Error> {
        match (m, imp) {
            (Measure::Throughput(_, size), Impl::RawTcp) => {
                let gbits = raw_bandwidth(self.plan.raw_seconds)?;
                Ok(Run {
                    values: vec![gbits * 1e9 / 8.0 / size as f64],
                    ..Run::default()
                })
            }
            (Measure::Latency(..), Impl::RawTcp) => Ok(Run {
                values: raw_ping_pong(self.plan.raw_pings)?,
                ..Run::default()
            }),
            (Measure::Throughput(topology, size), _) => self.throughput(imp, topology, size),
            (Measure::Latency(topology, size), _) => self.latency(imp, topology, size),
            (Measure::IdleRss, _) => self.idle_rss(imp),
            (Measure::Scale, _) => self.scale(imp),
        }
    }

    fn spawn(&self, imp: Impl, program: Program, args: &[String]) -> Result<Proc, Error> {
        let path = self.programs.path(imp, program)?;
        let scale = matches!(program, Program::ScaleRouter | Program::Clients);
        let options = SpawnOptions {
            // plexusd reports that it listens in its info log.
            log_info: matches!(
                (imp, program),
                (Impl::Plexus | Impl::Baseline, Program::Router)
            ),
            // zenohd reads no queries.
            stdin: program == Program::ScaleRouter && imp != Impl::Upstream,
            open_files: if scale {
                self.plan.clients as u64 + 1024
            } else {
                4096
            },
        };
        Proc::spawn(&path, args, &options)
    }

    /// Starts the router of `imp` on a free port; returns it and its endpoint.
    fn router(&self, imp: Impl, program: Program) -> Result<(Proc, String), Error> {
        let endpoint = free_endpoint()?;
        if imp == Impl::Upstream {
            // zenohd: no scouting (as the clients); ready once it accepts connections.
            let mut args = vec![
                "-l".into(),
                endpoint.clone(),
                "--no-multicast-scouting".into(),
            ];
            if program == Program::ScaleRouter {
                // As the twin router: room for the clients (Zenoh's default is 1,000).
                args.push("--cfg=transport/unicast/max_sessions:100000".into());
            }
            let mut router = self.spawn(imp, program, &args)?;
            wait_listening(&endpoint, &mut router, Duration::from_secs(20))?;
            return Ok((router, endpoint));
        }
        let mut router = self.spawn(imp, program, &["-l".into(), endpoint.clone()])?;
        router.wait_line(|l| l.contains("istening"), Duration::from_secs(20))?;
        Ok((router, endpoint))
    }

    /// The session flags of a program that listens (peer to peer) or the flags of a
    /// client of the router at `endpoint`.
    fn session_args(topology: Topology, endpoint: &str, listen: bool) -> Vec<String> {
        let mut args: Vec<String> = vec!["--no-multicast-scouting".into()];
        match (topology, listen) {
            (Topology::PeerToPeer, true) => {
                args.extend(["-m".into(), "peer".into(), "-l".into(), endpoint.into()]);
            }
            (Topology::PeerToPeer, false) => args.extend([
                "-m".into(),
                "peer".into(),
                "-e".into(),
                endpoint.into(),
                "-l".into(),
                "tcp/127.0.0.1:0".into(),
            ]),
            (Topology::Router, _) => {
                args.extend(["-m".into(), "client".into(), "-e".into(), endpoint.into()]);
            }
        }
        args
    }

    fn throughput(&self, imp: Impl, topology: Topology, size: usize) -> Result<Run, Error> {
        let deadline = Instant::now() + self.plan.timeout;
        let (router, endpoint) = match topology {
            Topology::PeerToPeer => (None, free_endpoint()?),
            Topology::Router => {
                let (r, e) = self.router(imp, Program::Router)?;
                (Some(r), e)
            }
        };
        // Lines 0..=rounds: the first round is the connection's warm-up.
        let rounds = self.plan.rounds.max(2);
        let messages = self.plan.messages(size);
        let mut sub_args = Self::session_args(topology, &endpoint, true);
        sub_args.extend([
            "-s".into(),
            (rounds + 1).to_string(),
            "-n".into(),
            messages.to_string(),
        ]);
        let mut sub = self.spawn(imp, Program::SubThr, &sub_args)?;
        sub.wait_line(|l| l.starts_with("Press CTRL-C"), remaining(deadline))?;
        let mut pub_args = Self::session_args(topology, &endpoint, false);
        pub_args.push(size.to_string());
        let mut publisher = self.spawn(imp, Program::PubThr, &pub_args)?;
        let mut pids = vec![sub.pid(), publisher.pid()];
        if let Some(r) = &router {
            pids.push(r.pid());
        }
        let mut rates = Vec::new();
        let mut cpu_start = 0.0;
        let mut cpu_end = 0.0;
        while rates.len() < rounds + 1 {
            publisher.check_running()?;
            let line = sub.wait_line(|l| l.ends_with(" msg/s"), remaining(deadline))?;
            let rate: f64 = line
                .trim_end_matches(" msg/s")
                .parse()
                .map_err(|e| format!("bad rate line `{line}`: {e}"))?;
            // CPU is counted from the end of the warm-up to the end of the last round
            // but one (the subscriber exits right after the last).
            if rates.is_empty() {
                cpu_start = cpu_seconds(&pids)?;
            } else if rates.len() == rounds - 1 {
                cpu_end = cpu_seconds(&pids)?;
            }
            rates.push(rate);
        }
        let status = sub.wait_exit(remaining(deadline))?;
        if !status.success() {
            return Err(format!("the subscriber exited with {status}").into());
        }
        rates.remove(0);
        // A round takes `messages + 1` messages: the one that starts it, then `messages`.
        let counted = ((rounds - 1) * (messages + 1)) as f64;
        Ok(Run {
            values: rates,
            cpu_per_m: Some((cpu_end - cpu_start) / counted * 1e6),
            ..Run::default()
        })
    }

    fn latency(&self, imp: Impl, topology: Topology, size: usize) -> Result<Run, Error> {
        let deadline = Instant::now() + self.plan.timeout;
        let (_router, endpoint) = match topology {
            Topology::PeerToPeer => (None, free_endpoint()?),
            Topology::Router => {
                let (r, e) = self.router(imp, Program::Router)?;
                (Some(r), e)
            }
        };
        let mut pong = self.spawn(
            imp,
            Program::Pong,
            &Self::session_args(topology, &endpoint, true),
        )?;
        if imp == Impl::Upstream {
            // Zenoh's z_pong prints nothing: wait until it accepts connections (peer to
            // peer) or has connected to the router, then give it a moment to declare its
            // subscriber (a ping sent before that is lost, and Zenoh's z_ping would wait
            // for its echo forever).
            match topology {
                Topology::PeerToPeer => wait_listening(&endpoint, &mut pong, remaining(deadline))?,
                Topology::Router => wait_connected(&endpoint, &mut pong, remaining(deadline))?,
            }
            std::thread::sleep(Duration::from_millis(500));
        } else {
            pong.wait_line(|l| l.starts_with("Press CTRL-C"), remaining(deadline))?;
        }
        let mut ping_args = Self::session_args(topology, &endpoint, false);
        ping_args.extend([
            "-n".into(),
            self.plan.pings.to_string(),
            "-w".into(),
            self.plan.warmup_secs.to_string(),
            size.to_string(),
        ]);
        let mut ping = self.spawn(imp, Program::Ping, &ping_args)?;
        let mut lats = Vec::with_capacity(self.plan.pings);
        let prefix = format!("{size} bytes: seq=");
        while lats.len() < self.plan.pings {
            pong.check_running()?;
            let line = ping.wait_line(|l| l.starts_with(&prefix), remaining(deadline))?;
            let rtt = line
                .split_once("rtt=")
                .and_then(|(_, rest)| rest.split_once("µs"))
                .and_then(|(n, _)| n.parse::<f64>().ok())
                .ok_or_else(|| format!("bad ping line `{line}`"))?;
            lats.push(rtt / 2.0);
        }
        let status = ping.wait_exit(remaining(deadline))?;
        if !status.success() {
            return Err(format!("the ping exited with {status}").into());
        }
        Ok(Run {
            values: lats,
            ..Run::default()
        })
    }

    fn idle_rss(&self, imp: Impl) -> Result<Run, Error> {
        let endpoint = free_endpoint()?;
        let mut sub = self.spawn(
            imp,
            Program::SubThr,
            &Self::session_args(Topology::PeerToPeer, &endpoint, true),
        )?;
        sub.wait_line(|l| l.starts_with("Press CTRL-C"), self.plan.timeout)?;
        // Let start-up work (tasks spawned after the subscriber is declared) settle.
        std::thread::sleep(self.plan.settle / 2);
        sub.check_running()?;
        Ok(Run {
            values: vec![rss_kib(sub.pid())? as f64],
            ..Run::default()
        })
    }

    /// A router holding `clients` client transports: its resident set, what each
    /// transport added to it, and admin queries over all of them.
    fn scale(&self, imp: Impl) -> Result<Run, Error> {
        let n = self.plan.clients;
        let needed = n as u64 + 1024;
        if let Some((_, hard)) = open_files_limit()
            && let Ok(hard) = hard.parse::<u64>()
            && hard < needed
        {
            return Err(format!(
                "the hard limit on open files ({hard}) is below the {needed} that {n} \
                 transports need: raise it or pass a smaller --clients"
            )
            .into());
        }
        let deadline = Instant::now() + Duration::from_secs(600);
        let (mut router, endpoint) = self.router(imp, Program::ScaleRouter)?;
        std::thread::sleep(self.plan.settle / 2);
        let idle = rss_kib(router.pid())? as f64;
        let mut clients = self.spawn(
            imp,
            Program::Clients,
            &["-e".into(), endpoint, "-n".into(), n.to_string()],
        )?;
        let opened = clients.wait_line(|l| l.starts_with("Opened "), remaining(deadline))?;
        eprintln!("  {opened}");
        std::thread::sleep(self.plan.settle);
        router.check_running()?;
        clients.check_running()?;
        let rss = rss_kib(router.pid())? as f64;
        let mut admin_ms = Vec::new();
        let mut admin_incomplete = None;
        // zenohd answers no query on its standard input: its resident set only.
        let queries = if imp == Impl::Upstream {
            0
        } else {
            self.plan.admin_queries
        };
        for _ in 0..queries {
            router.send_line("query")?;
            let asked = Instant::now();
            let wait = remaining(deadline).min(ADMIN_QUERY_LIMIT);
            let Ok(line) = router.wait_line(|l| l.starts_with("Admin query: "), wait) else {
                // A router that has not answered by then (Zenoh's own 30 s query timeout
                // ended a query only after minutes in a trial run) is stopped: the figure
                // is "more than this".
                admin_ms.push(asked.elapsed().as_secs_f64() * 1000.0);
                admin_incomplete = Some(Incomplete::NotEnded);
                break;
            };
            let (replies, micros) = line
                .strip_prefix("Admin query: ")
                .and_then(|rest| rest.split_once(" replies in "))
                .and_then(|(r, rest)| {
                    let micros = rest.strip_suffix(" µs")?.parse::<f64>().ok()?;
                    Some((r.parse::<usize>().ok()?, micros))
                })
                .ok_or_else(|| format!("bad admin query line `{line}`"))?;
            admin_ms.push(micros / 1000.0);
            if replies != n {
                // The query ended (its timeout) before every transport answered: that
                // is the figure; asking again would take as long.
                admin_incomplete = Some(Incomplete::TimedOut { replies });
                break;
            }
        }
        clients.check_running()?;
        Ok(Run {
            rss_kib: Some(rss),
            per_transport_kib: Some((rss - idle) / n.max(1) as f64),
            admin_ms,
            admin_incomplete,
            ..Run::default()
        })
    }

    /// With `--upstream`: for each measurement that Zenoh's own build ran, per round the
    /// run of whichever was faster (for memory: smaller), the twin or upstream, as
    /// [`Impl::Fastest`]. The goals compare with it, so a twin slower or bigger than
    /// Zenoh's own build cannot flatter a ratio.
    fn derive_fastest(&mut self) {
        for m in self.measures() {
            let (twin, up) = (self.runs(m, Impl::Zenoh), self.runs(m, Impl::Upstream));
            if up.iter().all(Option::is_none) {
                continue;
            }
            let faster = |a: &Run, b: &Run| match m {
                Measure::Latency(..) => a.p(50.0) <= b.p(50.0),
                Measure::Throughput(..) => a.median() >= b.median(),
                Measure::IdleRss | Measure::Scale => a.resident_kib(m) <= b.resident_kib(m),
            };
            let best: Vec<Option<Run>> = (0..self.rounds)
                .map(|i| {
                    let t = twin.get(i).and_then(Option::as_ref);
                    let u = up.get(i).and_then(Option::as_ref);
                    match (t, u) {
                        (Some(t), Some(u)) => Some(if faster(t, u) { t } else { u }.clone()),
                        (t, u) => t.or(u).cloned(),
                    }
                })
                .collect();
            self.runs.insert((m, Impl::Fastest), best);
        }
    }

    /// The Zenoh side that the goals of `m` compare with: [`Impl::Fastest`] where it was
    /// derived, the twins otherwise (without `--upstream`, or via router without
    /// `zenohd`).
    fn zenoh(&self, m: Measure) -> Impl {
        if self.runs.contains_key(&(m, Impl::Fastest)) {
            Impl::Fastest
        } else {
            Impl::Zenoh
        }
    }

    /// The runs of `imp` for `m`, by round.
    fn runs(&self, m: Measure, imp: Impl) -> &[Option<Run>] {
        self.runs.get(&(m, imp)).map_or(&[], Vec::as_slice)
    }

    /// A statistic of every run of `imp` for `m`, median over rounds.
    fn stat(&self, m: Measure, imp: Impl, f: impl Fn(&Run) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.runs(m, imp).iter().flatten().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&v))
    }

    /// Per round where both sides ran: `f(a's run, b's run)`.
    fn per_round<T>(
        &self,
        m: Measure,
        a: Impl,
        b: Impl,
        f: impl Fn(&Run, &Run) -> Option<T>,
    ) -> Vec<T> {
        let (ra, rb) = (self.runs(m, a), self.runs(m, b));
        ra.iter()
            .zip(rb)
            .filter_map(|(x, y)| f(x.as_ref()?, y.as_ref()?))
            .collect()
    }

    fn report(&self) -> String {
        let mut out = String::new();
        if self.smoke {
            let _ = writeln!(
                out,
                "Smoke run (CI): tiny, unoptimised runs; the figures and goals below mean nothing.\n"
            );
        }
        let need = |n: usize| ((n as f64 * QUORUM).ceil() as usize).max(1);
        let verdict = |oks: &[bool], goal: &str| {
            let n = oks.len();
            let k = oks.iter().filter(|&&ok| ok).count();
            if n == 0 {
                format!("no data ({goal})")
            } else if k >= need(n) {
                format!("met {k}/{n} ({goal})")
            } else {
                format!("**NOT MET** {k}/{n} ({goal})")
            }
        };
        let cell = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("—".to_string(), f);

        let _ = writeln!(
            out,
            "### Throughput (Block congestion control; {} rounds, each side once per round)\n",
            self.rounds
        );
        let _ = writeln!(
            out,
            "msg/s: median of the rounds, each the median of {} measurement windows. \
             Ratios: median of the per-round ratios, (min–max) over the rounds. CPU: user + \
             system seconds of every process of the run (publisher, subscriber and, via \
             router, the router) per million messages. Zenoh: the twins of `bench/`; with \
             `--upstream`, per round the faster of the twin and Zenoh's own build (the \
             baseline table below): peer to peer, and via router when Zenoh's own `zenohd` \
             was given too. \"met k/n\": the goal held in k of n rounds; it needs {} of 5.\n",
            self.plan.rounds,
            need(5)
        );
        let _ = writeln!(
            out,
            "| payload | path | Plexus msg/s | Zenoh msg/s | Plexus/Zenoh | Plexus CPU s/M msg | Zenoh CPU s/M msg | CPU Plexus/Zenoh | goal |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
        for topology in TOPOLOGIES {
            for size in SIZES {
                let m = Measure::Throughput(topology, size);
                let zenoh = self.zenoh(m);
                let (p, z) = (
                    self.stat(m, Impl::Plexus, |r| Some(r.median())),
                    self.stat(m, zenoh, |r| Some(r.median())),
                );
                if p.is_none() && z.is_none() {
                    continue;
                }
                let rates =
                    self.per_round(m, Impl::Plexus, zenoh, |a, b| Some(a.median() / b.median()));
                let cpus = self.per_round(m, Impl::Plexus, zenoh, |a, b| {
                    Some(a.cpu_per_m? / b.cpu_per_m?)
                });
                let need_rate = throughput_goal(topology, size);
                let mut goal = if size == 8 {
                    let oks = self.per_round(m, Impl::Plexus, zenoh, |a, b| {
                        Some(
                            a.median() / b.median() >= need_rate
                                && a.cpu_per_m? / b.cpu_per_m? <= CPU_GOAL,
                        )
                    });
                    verdict(&oks, &format!("≥ {need_rate:.1}×, CPU ≤ {CPU_GOAL:.1}×"))
                } else {
                    let oks: Vec<bool> = rates.iter().map(|&r| r >= need_rate).collect();
                    verdict(&oks, &format!("≥ {need_rate:.1}×"))
                };
                if raw_applies(m) {
                    let of_tcp = self.per_round(m, Impl::Plexus, Impl::RawTcp, |a, b| {
                        Some(a.median() / b.median())
                    });
                    let oks: Vec<bool> = of_tcp.iter().map(|&r| r >= RAW_BANDWIDTH_GOAL).collect();
                    let _ = write!(
                        goal,
                        "; of raw TCP {}: {}",
                        ratio_cell(&of_tcp),
                        verdict(&oks, &format!("≥ {RAW_BANDWIDTH_GOAL:.1}×"))
                    );
                }
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    size_label(size),
                    topology.label(),
                    cell(p, &|v| format!("{v:.0}")),
                    cell(z, &|v| format!("{v:.0}")),
                    ratio_cell(&rates),
                    cell(self.stat(m, Impl::Plexus, |r| r.cpu_per_m), &|v| format!(
                        "{v:.3}"
                    )),
                    cell(self.stat(m, zenoh, |r| r.cpu_per_m), &|v| format!("{v:.3}")),
                    ratio_cell(&cpus),
                    goal
                );
            }
        }

        let _ = writeln!(
            out,
            "\n### Latency (RTT/2 in µs, express; {} round trips per run, {} rounds)\n",
            self.plan.pings, self.rounds
        );
        let _ = writeln!(
            out,
            "p50 and p99 of each run, median over the rounds; ratios per round as above. \
             Zenoh as in the throughput table. Raw TCP: 8-byte ping-pong over loopback with \
             Nagle off, run in the same rounds.\n"
        );
        let _ = writeln!(
            out,
            "| payload | path | Plexus p50 | Zenoh p50 | p50 Plexus/Zenoh | Plexus p99 | Zenoh p99 | p99 Plexus/Zenoh | p50 Plexus/raw TCP | goal |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for topology in TOPOLOGIES {
            for size in LATENCY_SIZES {
                let m = Measure::Latency(topology, size);
                let zenoh = self.zenoh(m);
                let (p50p, p50z) = (
                    self.stat(m, Impl::Plexus, |r| Some(r.p(50.0))),
                    self.stat(m, zenoh, |r| Some(r.p(50.0))),
                );
                if p50p.is_none() && p50z.is_none() {
                    continue;
                }
                let r50 =
                    self.per_round(m, Impl::Plexus, zenoh, |a, b| Some(a.p(50.0) / b.p(50.0)));
                let r99 =
                    self.per_round(m, Impl::Plexus, zenoh, |a, b| Some(a.p(99.0) / b.p(99.0)));
                let raw = self.per_round(m, Impl::Plexus, Impl::RawTcp, |a, b| {
                    Some(a.p(50.0) / b.p(50.0))
                });
                let oks = if raw_applies(m) {
                    let raws = self.runs(m, Impl::RawTcp);
                    // Per round: all three conditions, with that round's raw TCP run.
                    self.runs(m, Impl::Plexus)
                        .iter()
                        .zip(self.runs(m, zenoh))
                        .zip(raws)
                        .filter_map(|((p, z), r)| {
                            let (p, z, r) = (p.as_ref()?, z.as_ref()?, r.as_ref()?);
                            Some(
                                p.p(50.0) / z.p(50.0) <= P50_GOAL
                                    && p.p(99.0) / z.p(99.0) <= P99_GOAL
                                    && p.p(50.0) / r.p(50.0) <= RAW_LATENCY_GOAL,
                            )
                        })
                        .collect::<Vec<bool>>()
                } else {
                    self.per_round(m, Impl::Plexus, zenoh, |a, b| {
                        Some(a.p(50.0) / b.p(50.0) <= P50_GOAL && a.p(99.0) / b.p(99.0) <= P99_GOAL)
                    })
                };
                let goal = if raw_applies(m) {
                    format!(
                        "p50 ≤ {P50_GOAL:.1}×, p99 ≤ {P99_GOAL:.1}×, p50 ≤ {RAW_LATENCY_GOAL:.1}× raw TCP"
                    )
                } else {
                    format!("p50 ≤ {P50_GOAL:.1}×, p99 ≤ {P99_GOAL:.1}×")
                };
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    size_label(size),
                    topology.label(),
                    cell(p50p, &|v| format!("{v:.1}")),
                    cell(p50z, &|v| format!("{v:.1}")),
                    ratio_cell(&r50),
                    cell(
                        self.stat(m, Impl::Plexus, |r| Some(r.p(99.0))),
                        &|v| format!("{v:.1}")
                    ),
                    cell(self.stat(m, zenoh, |r| Some(r.p(99.0))), &|v| format!(
                        "{v:.1}"
                    )),
                    ratio_cell(&r99),
                    if raw.is_empty() {
                        "—".into()
                    } else {
                        ratio_cell(&raw)
                    },
                    verdict(&oks, &goal)
                );
            }
        }

        let _ = writeln!(out, "\n### Memory and scale\n");
        let _ = writeln!(
            out,
            "The router holds {} client transports opened by one load program for both \
             routers (`bench/src/bin/clients.rs`: the Zenoh handshake with QoS and 64 KiB \
             batches, then keep-alives only). Per transport: (resident set with the clients \
             − resident set before) / clients. Admin query: a local get on \
             `@/<zid>/session/transport/unicast/*` in the router (one reply per transport, \
             30 s timeout), median of {} per run; a query that ended by its timeout, or \
             had not ended after a minute, is not asked again. The load program retries a \
             handshake the router refused (Zenoh closes links past \
             `transport/unicast/accept_pending`) up to 10 times. Zenoh: the twins (a peer, \
             a router); with `--upstream`, per round the smaller of the twin and Zenoh's own \
             build (`z_sub_thr`, `zenohd`); the admin query is always the twin router's \
             (zenohd answers no query on its standard input).\n",
            self.plan.clients, self.plan.admin_queries
        );
        let _ = writeln!(
            out,
            "| measurement | Plexus | Zenoh | Plexus/Zenoh | goal |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---|");
        let m = Measure::IdleRss;
        let z = self.zenoh(m);
        let idle = self.per_round(m, Impl::Plexus, z, |a, b| Some(a.median() / b.median()));
        let _ = writeln!(
            out,
            "| idle peer (listening, nothing connected), MiB | {} | {} | {} | |",
            cell(
                self.stat(m, Impl::Plexus, |r| Some(r.median() / 1024.0)),
                &|v| format!("{v:.1}")
            ),
            cell(
                self.stat(m, z, |r| Some(r.median() / 1024.0)),
                &|v| format!("{v:.1}")
            ),
            ratio_cell(&idle)
        );
        let m = Measure::Scale;
        let z = self.zenoh(m);
        let rss = self.per_round(m, Impl::Plexus, z, |a, b| Some(a.rss_kib? / b.rss_kib?));
        let rss_oks: Vec<bool> = rss.iter().map(|&r| r <= RSS_GOAL).collect();
        let _ = writeln!(
            out,
            "| router holding {} client transports, MiB | {} | {} | {} | {} |",
            self.plan.clients,
            cell(
                self.stat(m, Impl::Plexus, |r| r.rss_kib.map(|k| k / 1024.0)),
                &|v| format!("{v:.1}")
            ),
            cell(
                self.stat(m, z, |r| r.rss_kib.map(|k| k / 1024.0)),
                &|v| format!("{v:.1}")
            ),
            ratio_cell(&rss),
            verdict(&rss_oks, &format!("≤ {RSS_GOAL:.1}×"))
        );
        let per = self.per_round(m, Impl::Plexus, z, |a, b| {
            Some(a.per_transport_kib? / b.per_transport_kib?)
        });
        let _ = writeln!(
            out,
            "| resident set per transport, KiB | {} | {} | {} | |",
            cell(
                self.stat(m, Impl::Plexus, |r| r.per_transport_kib),
                &|v| format!("{v:.1}")
            ),
            cell(self.stat(m, z, |r| r.per_transport_kib), &|v| format!(
                "{v:.1}"
            )),
            ratio_cell(&per)
        );
        let admin = self.per_round(m, Impl::Plexus, Impl::Zenoh, |a, b| {
            Some(median_or_nan(&a.admin_ms) / median_or_nan(&b.admin_ms))
        });
        let admin_oks: Vec<bool> = self
            .runs(m, Impl::Plexus)
            .iter()
            .flatten()
            .map(|r| {
                r.admin_incomplete.is_none() && median_or_nan(&r.admin_ms) < ADMIN_QUERY_GOAL_MS
            })
            .collect();
        let admin_cell = |imp: Impl| {
            let mut c = cell(
                self.stat(m, imp, |r| Some(median_or_nan(&r.admin_ms))),
                &|v| format!("{v:.1}"),
            );
            let runs = self.runs(m, imp).iter().flatten();
            let incomplete: Vec<Incomplete> = runs.filter_map(|r| r.admin_incomplete).collect();
            let unended = incomplete
                .iter()
                .filter(|i| matches!(i, Incomplete::NotEnded))
                .count();
            if unended > 0 {
                let _ = write!(
                    c,
                    " (not ended after {ADMIN_QUERY_LIMIT:?} in {unended} of the rounds)"
                );
            }
            let replies = incomplete.iter().filter_map(|i| match i {
                Incomplete::TimedOut { replies } => Some(*replies),
                Incomplete::NotEnded => None,
            });
            if let Some(most) = replies.max() {
                let _ = write!(
                    c,
                    " (ended by its timeout in {} of the rounds, with at most {most} of {} \
                     replies)",
                    incomplete.len() - unended,
                    self.plan.clients
                );
            }
            c
        };
        let _ = writeln!(
            out,
            "| admin query over every transport, ms | {} | {} | {} | {} |",
            admin_cell(Impl::Plexus),
            admin_cell(Impl::Zenoh),
            ratio_cell(&admin),
            verdict(&admin_oks, &format!("Plexus < {ADMIN_QUERY_GOAL_MS:.0} ms"))
        );

        let _ = writeln!(out, "\n### Raw TCP over loopback (the physical limit)\n");
        let _ = writeln!(out, "| measurement (median over the rounds) | value |");
        let _ = writeln!(out, "|---|---:|");
        let bw = self.stat(
            Measure::Throughput(Topology::PeerToPeer, 1 << 20),
            Impl::RawTcp,
            |r| Some(r.median()),
        );
        let _ = writeln!(
            out,
            "| bandwidth, 1 MiB writes | {} |",
            cell(bw, &|v| format!(
                "{:.2} Gbit/s ({v:.0} msg/s)",
                gbits(v, 1 << 20)
            ))
        );
        let lat = Measure::Latency(Topology::PeerToPeer, 8);
        let _ = writeln!(
            out,
            "| RTT/2, 8 B ping-pong, p50 | {} |",
            cell(
                self.stat(lat, Impl::RawTcp, |r| Some(r.p(50.0))),
                &|v| format!("{v:.1} µs")
            )
        );
        let _ = writeln!(
            out,
            "| RTT/2, 8 B ping-pong, p99 | {} |",
            cell(
                self.stat(lat, Impl::RawTcp, |r| Some(r.p(99.0))),
                &|v| format!("{v:.1} µs")
            )
        );

        if self.upstream {
            self.report_baseline(&mut out);
        }
        if self.baseline {
            self.report_against_baseline(&mut out);
        }
        if self.skipped > 0 {
            let _ = writeln!(
                out,
                "\n{} runs were skipped: the time budget ran out.",
                self.skipped
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "\nFailed runs:\n");
            for e in &self.errors {
                let _ = writeln!(out, "- {e}");
            }
        }
        out
    }

    /// The twins against Zenoh's own examples built by Zenoh's workspace.
    fn report_baseline(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n### The baseline: Zenoh twins against Zenoh's own examples\n"
        );
        let _ = writeln!(
            out,
            "`bench/`'s Zenoh twins against `z_pub_thr`/`z_sub_thr`/`z_ping`/`z_pong` built \
             by Zenoh's own workspace and release profile, and `zenohd` built with that \
             profile (`--upstream`), in the same rounds as the tables above. Ratios per \
             round, median (min–max). The baseline is honest if the twins are at least as \
             fast and as small: throughput twin/upstream ≥ {BASELINE_TOLERANCE:.2}, latency \
             p50 and resident set twin/upstream ≤ {:.2} (identical builds differ by noise \
             only). A row's few rounds can miss that by chance: one pair of \
             processes runs ±15 % or more from the next on a small host. The last two rows \
             pool every throughput row's and every latency row's per-round ratios: the twins \
             are the same programs at every size and path, so a difference in how they are \
             built shows in all of them, and many ratios resolve a few per cent. Either way \
             the goals above compare with the faster of the two in each round.\n",
            1.0 / BASELINE_TOLERANCE
        );
        self.comparison_table(
            out,
            (Impl::Zenoh, "twin"),
            (Impl::Upstream, "upstream"),
            &TOPOLOGIES,
        );
    }

    /// This build of Plexus against an earlier one (`--baseline`).
    fn report_against_baseline(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n### This build of Plexus against the baseline build\n"
        );
        let _ = writeln!(
            out,
            "The same programs built from an earlier commit (`--baseline`), in the same rounds \
             as the tables above. Ratios per round, median (min–max). This build is not slower \
             if throughput this/baseline ≥ {BASELINE_TOLERANCE:.2} and latency p50 \
             this/baseline ≤ {:.2} in the median (identical builds differ by noise only).\n",
            1.0 / BASELINE_TOLERANCE
        );
        self.comparison_table(
            out,
            (Impl::Plexus, "this"),
            (Impl::Baseline, "baseline"),
            &TOPOLOGIES,
        );
    }

    /// Side `a` against side `b` (each with its short name) over the throughput and
    /// latency measurements of `topologies` and the memory measurements that both ran:
    /// `a` holds if its throughput is at least [`BASELINE_TOLERANCE`] of `b`'s and its
    /// latency p50 and resident set at most the inverse, in the median of the rounds;
    /// and over every throughput (latency) row's rounds together.
    fn comparison_table(
        &self,
        out: &mut String,
        (a, a_name): (Impl, &str),
        (b, b_name): (Impl, &str),
        topologies: &[Topology],
    ) {
        let _ = writeln!(
            out,
            "| measurement | {a_name} | {b_name} | {a_name}/{b_name} | CPU {a_name}/{b_name} | holds |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
        let (mut all_rates, mut all_cpus) = (Vec::new(), Vec::new());
        for &topology in topologies {
            for size in SIZES {
                let m = Measure::Throughput(topology, size);
                let rates = self.per_round(m, a, b, |x, y| Some(x.median() / y.median()));
                if rates.is_empty() {
                    continue;
                }
                let cpus = self.per_round(m, a, b, |x, y| Some(x.cpu_per_m? / y.cpu_per_m?));
                all_rates.extend_from_slice(&rates);
                all_cpus.extend_from_slice(&cpus);
                let ok = median(&rates) >= BASELINE_TOLERANCE;
                let _ = writeln!(
                    out,
                    "| {}, msg/s | {:.0} | {:.0} | {} | {} | {} |",
                    m.describe(),
                    self.stat(m, a, |r| Some(r.median())).unwrap_or(f64::NAN),
                    self.stat(m, b, |r| Some(r.median())).unwrap_or(f64::NAN),
                    ratio_cell(&rates),
                    ratio_cell(&cpus),
                    held(ok, &format!("median ≥ {BASELINE_TOLERANCE:.2}"))
                );
            }
        }
        let mut all_r50 = Vec::new();
        for &topology in topologies {
            for size in LATENCY_SIZES {
                let m = Measure::Latency(topology, size);
                let r50 = self.per_round(m, a, b, |x, y| Some(x.p(50.0) / y.p(50.0)));
                if r50.is_empty() {
                    continue;
                }
                all_r50.extend_from_slice(&r50);
                let ok = median(&r50) <= 1.0 / BASELINE_TOLERANCE;
                let _ = writeln!(
                    out,
                    "| {}, p50 µs | {:.1} | {:.1} | {} | | {} |",
                    m.describe(),
                    self.stat(m, a, |r| Some(r.p(50.0))).unwrap_or(f64::NAN),
                    self.stat(m, b, |r| Some(r.p(50.0))).unwrap_or(f64::NAN),
                    ratio_cell(&r50),
                    held(ok, &format!("median ≤ {:.2}", 1.0 / BASELINE_TOLERANCE))
                );
            }
        }
        for (m, what) in [
            (Measure::IdleRss, "idle peer, MiB".to_string()),
            (
                Measure::Scale,
                format!(
                    "router holding {} client transports, MiB",
                    self.plan.clients
                ),
            ),
        ] {
            let ratios = self.per_round(m, a, b, |x, y| {
                Some(x.resident_kib(m)? / y.resident_kib(m)?)
            });
            if ratios.is_empty() {
                continue;
            }
            let ok = median(&ratios) <= 1.0 / BASELINE_TOLERANCE;
            let _ = writeln!(
                out,
                "| {what} | {:.1} | {:.1} | {} | | {} |",
                self.stat(m, a, |r| r.resident_kib(m).map(|k| k / 1024.0))
                    .unwrap_or(f64::NAN),
                self.stat(m, b, |r| r.resident_kib(m).map(|k| k / 1024.0))
                    .unwrap_or(f64::NAN),
                ratio_cell(&ratios),
                held(ok, &format!("median ≤ {:.2}", 1.0 / BASELINE_TOLERANCE))
            );
        }
        if !all_rates.is_empty() {
            let ok = median(&all_rates) >= BASELINE_TOLERANCE;
            let _ = writeln!(
                out,
                "| every throughput row above together ({} per-round ratios) | | | {} | {} | {} |",
                all_rates.len(),
                ratio_cell(&all_rates),
                ratio_cell(&all_cpus),
                held(ok, &format!("median ≥ {BASELINE_TOLERANCE:.2}"))
            );
        }
        if !all_r50.is_empty() {
            let ok = median(&all_r50) <= 1.0 / BASELINE_TOLERANCE;
            let _ = writeln!(
                out,
                "| every latency row above together ({} per-round ratios) | | | {} | | {} |",
                all_r50.len(),
                ratio_cell(&all_r50),
                held(ok, &format!("median ≤ {:.2}", 1.0 / BASELINE_TOLERANCE))
            );
        }
    }
}

/// The verdict of a check on the median of the rounds (one check, not one per round).
fn held(ok: bool, check: &str) -> String {
    if ok {
        format!("met ({check})")
    } else {
        format!("**NOT MET** ({check})")
    }
}

/// Issue 17's goals.
const CPU_GOAL: f64 = 0.8;
const RAW_BANDWIDTH_GOAL: f64 = 0.9;
const P50_GOAL: f64 = 0.8;
const P99_GOAL: f64 = 1.0;
const RAW_LATENCY_GOAL: f64 = 1.1;
const RSS_GOAL: f64 = 0.8;
const ADMIN_QUERY_GOAL_MS: f64 = 20.0;
/// The longest the runner waits for a router's answer to one admin query.
const ADMIN_QUERY_LIMIT: Duration = Duration::from_secs(60);
/// Twin/upstream throughput at or above this counts as "as fast".
const BASELINE_TOLERANCE: f64 = 0.97;

/// The throughput Plexus/Zenoh must reach at `size` bytes.
fn throughput_goal(topology: Topology, size: usize) -> f64 {
    match (topology, size) {
        (Topology::PeerToPeer, 8) => 1.3,
        (Topology::Router, 8) => 1.5,
        (_, 64) => 1.2,
        _ => 1.0,
    }
}

/// Whether raw TCP runs in the rounds of `m` (the goals that compare with it).
fn raw_applies(m: Measure) -> bool {
    matches!(
        m,
        Measure::Throughput(Topology::PeerToPeer, 1_048_576)
            | Measure::Latency(Topology::PeerToPeer, 8)
    )
}

/// `median (min–max)` of per-round ratios, or `—`.
fn ratio_cell(ratios: &[f64]) -> String {
    // A ratio of two zero CPU readings (a smoke run's short windows) is no figure.
    let ratios: Vec<f64> = ratios.iter().copied().filter(|r| r.is_finite()).collect();
    let ratios = ratios.as_slice();
    if ratios.is_empty() {
        return "—".into();
    }
    let min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ratios.len() == 1 {
        format!("{:.2}", ratios[0])
    } else {
        format!("{:.2} ({min:.2}–{max:.2})", median(ratios))
    }
}

fn gbits(msgs_per_sec: f64, size: usize) -> f64 {
    msgs_per_sec * size as f64 * 8.0 / 1e9
}

fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

fn median_or_nan(values: &[f64]) -> f64 {
    if values.is_empty() {
        f64::NAN
    } else {
        median(values)
    }
}

/// The nearest-rank percentile of `values` (not empty).
fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// A loopback endpoint on a port that was free a moment ago.
fn free_endpoint() -> Result<String, Error> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("tcp/127.0.0.1:{port}"))
}

/// The address of a `tcp/<addr>` endpoint.
fn tcp_addr(endpoint: &str) -> Result<std::net::SocketAddr, Error> {
    Ok(endpoint
        .strip_prefix("tcp/")
        .ok_or_else(|| format!("not a TCP endpoint: {endpoint}"))?
        .parse()?)
}

/// Polls `ready` every 20 ms until it holds, `proc` exits or `timeout` passes (then the
/// error says that `proc` did not `what`). For what another process does that sends no
/// event the runner could wait for.
fn poll_until(
    proc: &mut Proc,
    timeout: Duration,
    what: &str,
    mut ready: impl FnMut() -> Result<bool, Error>,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready()? {
            return Ok(());
        }
        proc.check_running()?;
        if Instant::now() >= deadline {
            return Err(format!("`{}` did not {what} within {timeout:?}", proc.name).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until some process has an established TCP connection to `endpoint`
/// (`tcp/<addr>`), as `/proc/net/tcp` shows: the one client just started has connected.
fn wait_connected(endpoint: &str, proc: &mut Proc, timeout: Duration) -> Result<(), Error> {
    let std::net::SocketAddr::V4(addr) = tcp_addr(endpoint)? else {
        return Err(format!("not an IPv4 endpoint: {endpoint}").into());
    };
    // /proc/net/tcp: "sl local_address rem_address st ...", addresses as the IPv4 address
    // in host byte order and the port, both in hex; state 01 is ESTABLISHED.
    let remote = format!(
        "{:08X}:{:04X}",
        u32::from_ne_bytes(addr.ip().octets()),
        addr.port()
    );
    poll_until(proc, timeout, "connect", || {
        let table = std::fs::read_to_string("/proc/net/tcp")?;
        Ok(table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&remote.as_str()) && fields.get(3) == Some(&"01")
        }))
    })
}

/// Waits until something accepts connections at `endpoint` (`tcp/<addr>`).
fn wait_listening(endpoint: &str, proc: &mut Proc, timeout: Duration) -> Result<(), Error> {
    let addr = tcp_addr(endpoint)?;
    poll_until(proc, timeout, "listen", || {
        Ok(TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok())
    })
}

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

/// Clock ticks per second of /proc's CPU times.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU seconds used so far by the processes `pids` (all their threads).
fn cpu_seconds(pids: &[u32]) -> Result<f64, Error> {
    let mut ticks = 0u64;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces, inside parentheses):
        // state is field 3, utime 14 and stime 15.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| format!("bad /proc/{pid}/stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        for i in [11, 12] {
            ticks += fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or_else(|| format!("bad /proc/{pid}/stat"))?;
        }
    }
    Ok(ticks as f64 / clock_ticks())
}

/// The soft and hard limits on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<(u64, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next()?.parse().ok()?;
    Some((soft, fields.next()?.to_string()))
}

/// The 1-, 5- and 15-minute load averages.
fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}
/// A child program; killed (and reaped) when dropped.
#[derive(Debug)]
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

/// How to start a [`Proc`].
#[derive(Debug)]
struct SpawnOptions {
    /// Runs with `RUST_LOG=info` (else without `RUST_LOG`).
    log_info: bool,
    /// Gives the program a pipe on standard input (else nothing).
    stdin: bool,
    /// The open files the program needs: the soft limit is raised to this, within the
    /// hard limit, when it is lower.
    open_files: u64,
}

impl Proc {
    fn spawn(path: &Path, args: &[String], options: &SpawnOptions) -> Result<Proc, Error> {
        let name = format!(
            "{}{}",
            path.file_name().map_or("?".into(), |n| n.to_string_lossy()),
            if args.is_empty() {
                String::new()
            } else {
                format!(" {}", args.join(" "))
            }
        );
        // The scale measurement holds ten thousand sockets in each of two processes.
        let mut command = match open_files_limit() {
            Some((soft, hard)) if soft < options.open_files => {
                let target = match hard.parse::<u64>() {
                    Ok(h) => h.min(options.open_files),
                    Err(_) => options.open_files,
                };
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!(
                        "ulimit -n {target} 2>/dev/null; exec \"$0\" \"$@\""
                    ))
                    .arg(path)
                    .args(args);
                c
            }
            _ => {
                let mut c = Command::new(path);
                c.args(args);
                c
            }
        };
        command
            .stdin(if options.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if options.log_info {
            command.env("RUST_LOG", "info");
        } else {
            command.env_remove("RUST_LOG");
        }
        // `cargo run` gives the runner the root's `.cargo/config.toml` [env] (the tests'
        // 16 MiB thread stacks): the measured programs run with a user's environment.
        command.env_remove("RUST_MIN_STACK");
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr_pipe = child.stderr.take().ok_or("no stderr pipe")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut buf = [0u8; 4096];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                        // Keep the tail: it holds the error that matters.
                        if s.len() > 64 * 1024 {
                            let cut = s.len() - 32 * 1024;
                            let cut = (cut..s.len()).find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                            s.drain(..cut);
                        }
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }
        });
        Ok(Proc {
            name,
            child,
            stdin,
            lines,
            stderr,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to the program's standard input.
    fn send_line(&mut self, line: &str) -> Result<(), Error> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| format!("`{}` has no input pipe", self.name))?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let tail: String = s
            .lines()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; its stderr ends with:\n{tail}")
        }
    }

    /// Waits for a line of standard output that satisfies `wanted`.
    fn wait_line(
        &mut self,
        wanted: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(remaining(deadline)) {
                Ok(line) if wanted(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "`{}` printed no expected line within {timeout:?}{}",
                        self.name,
                        self.stderr_tail()
                    )
                    .into());
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(5));
                    return Err(format!(
                        "`{}` closed its output ({}){}",
                        self.name,
                        match status {
                            Ok(s) => format!("exit status {s}"),
                            Err(e) => e.to_string(),
                        },
                        self.stderr_tail()
                    )
                    .into());
                }
            }
        }
    }

    /// Fails if the program has exited.
    fn check_running(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!(
                "`{}` exited early with {status}{}",
                self.name,
                self.stderr_tail()
            )
            .into()),
        }
    }

    /// Waits for the program to exit.
    fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(format!("`{}` did not exit within {timeout:?}", self.name).into());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Raw TCP bandwidth over loopback with 1 MiB writes, in Gbit/s (the reader times from
/// its first byte).
fn raw_bandwidth(seconds: f64) -> Result<f64, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<(u64, Duration)> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        let mut first: Option<Instant> = None;
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                break;
            }
            first.get_or_insert_with(Instant::now);
            total += n as u64;
        }
        Ok((total, first.map_or(Duration::ZERO, |f| f.elapsed())))
    });
    let mut writer = TcpStream::connect(addr)?;
    let chunk = plexus_bench::payload(1 << 20);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < until {
        writer.write_all(&chunk)?;
    }
    drop(writer);
    let (bytes, elapsed) = reader.join().map_err(|_| "the TCP reader panicked")??;
    Ok(bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9)
}

/// RTT/2 samples in µs of an 8-byte ping-pong over loopback with Nagle off (after a
/// tenth as many unmeasured round trips).
fn raw_ping_pong(pings: usize) -> Result<Vec<f64>, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let echo = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = listener.accept()?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 8];
        while s.read_exact(&mut buf).is_ok() {
            s.write_all(&buf)?;
        }
        Ok(())
    });
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 8];
    let warmup = pings / 10;
    let mut lats = Vec::with_capacity(pings);
    for i in 0..warmup + pings {
        let t = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        if i >= warmup {
            lats.push(t.elapsed().as_secs_f64() * 1e6 / 2.0);
        }
    }
    drop(s);
    echo.join().map_err(|_| "the TCP echo panicked")??;
    Ok(lats)
}

/// What the report says about the machine.
#[derive(Debug)]
struct Machine {
    cores: usize,
    model: String,
    kernel: String,
    /// This process's timer slack, ns.
    timer_slack_ns: Option<u64>,
    /// How long `std::thread::sleep(20 µs)` really takes (median of 200), µs.
    nap_us: f64,
}

impl Machine {
    fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into());
        let naps: Vec<f64> = (0..200)
            .map(|_| {
                let t = Instant::now();
                std::thread::sleep(Duration::from_micros(20));
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            timer_slack_ns: std::fs::read_to_string("/proc/self/timerslack_ns")
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            nap_us: median(&naps),
        }
    }

    /// The machine, and the load average if given (BENCHMARKS.md gives it on a line of
    /// its own, before and after).
    fn describe(&self, load: Option<String>) -> String {
        let mut s = format!(
            "{} cores, {}, Linux {}; timer slack {}, so that `std::thread::sleep(20 µs)` \
             takes {:.0} µs (median of 200)",
            self.cores,
            self.model,
            self.kernel,
            self.timer_slack_ns
                .map_or("unknown".into(), |ns| format!("{} µs", ns / 1000)),
            self.nap_us,
        );
        if let Some(load) = load {
            let _ = write!(s, "; load average {load}");
        }
        s
    }
}

/// What the header of BENCHMARKS.md says about the run.
#[derive(Debug)]
struct Header<'a> {
    elapsed: Duration,
    machine: &'a Machine,
    load_before: Option<String>,
    load_after: Option<String>,
    rounds: usize,
    upstream: bool,
}
/// Draws throughput (Gbit/s, log) against payload size (log) for both implementations.
fn plot(bench: &Bench, path: &Path) -> Result<(), Error> {
    let raw_gbits = bench
        .stat(
            Measure::Throughput(Topology::PeerToPeer, 1 << 20),
            Impl::RawTcp,
            |r| Some(gbits(r.median(), 1 << 20)),
        )
        .unwrap_or(0.0);
    use plotters::prelude::*;
    let has_font = register_font();
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    // (label, colour, line width, points)
    type Series = (String, RGBColor, u32, Vec<(f64, f64)>);
    let series: Vec<Series> = [
        (
            Impl::Plexus,
            Topology::PeerToPeer,
            RGBColor(31, 119, 180),
            3,
        ),
        (Impl::Zenoh, Topology::PeerToPeer, RGBColor(214, 39, 40), 3),
        (Impl::Plexus, Topology::Router, RGBColor(23, 190, 207), 2),
        (Impl::Zenoh, Topology::Router, RGBColor(255, 127, 14), 2),
    ]
    .into_iter()
    .map(|(imp, topology, color, width)| {
        let points = SIZES
            .iter()
            .filter_map(|&size| {
                let m = Measure::Throughput(topology, size);
                // Zenoh's line is the side the goals compare with.
                let side = if imp == Impl::Zenoh {
                    bench.zenoh(m)
                } else {
                    imp
                };
                bench
                    .stat(m, side, |r| Some(r.median()))
                    .map(|v| (size as f64, gbits(v, size)))
            })
            .collect();
        (
            format!("{imp:?} {}", topology.label()),
            color,
            width,
            points,
        )
    })
    .collect();
    let max = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.1))
        .fold(raw_gbits, f64::max);
    let min = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.1))
        .fold(max, f64::min);
    let y_range = (min / 2.0).max(1e-4)..(max * 2.0).max(1e-3);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if has_font {
        builder
            .caption(
                "Throughput over loopback: Plexus vs Zenoh 1.10.2",
                ("sans-serif", 24),
            )
            .x_label_area_size(50)
            .y_label_area_size(70);
    }
    let mut chart = builder.build_cartesian_2d(
        (6.0f64..1.5 * (1u64 << 20) as f64).log_scale(),
        y_range.log_scale(),
    )?;
    if has_font {
        chart
            .configure_mesh()
            .x_desc("payload size (bytes)")
            .y_desc("Gbit/s (payload)")
            .x_label_formatter(&|x| size_label(x.round() as usize))
            .y_label_formatter(&|y| format!("{y}"))
            .draw()?;
    } else {
        chart.configure_mesh().x_labels(0).y_labels(0).draw()?;
    }
    if raw_gbits > 0.0 {
        let tcp = [(6.0, raw_gbits), (1.5 * (1u64 << 20) as f64, raw_gbits)];
        let drawn = chart.draw_series(LineSeries::new(tcp, BLACK.stroke_width(1)))?;
        if has_font {
            drawn
                .label(format!("raw TCP, 1 MiB writes ({raw_gbits:.1} Gbit/s)"))
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
        }
    }
    for (label, color, width, points) in series {
        let style = color.stroke_width(width);
        let drawn = chart.draw_series(LineSeries::new(points.clone(), style))?;
        if has_font {
            drawn.label(label).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3))
            });
        }
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 4, color.filled())),
        )?;
    }
    if has_font {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Registers a system TrueType font for the plot's text; false if none is found (the
/// plot is then drawn without text).
fn register_font() -> bool {
    const CANDIDATES: [&str; 4] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    ];
    for path in CANDIDATES {
        if let Ok(bytes) = std::fs::read(path) {
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font(
                "sans-serif",
                plotters::style::FontStyle::Normal,
                bytes,
            )
            .is_ok()
            {
                return true;
            }
        }
    }
    false
}

/// Rewrites `BENCHMARKS.md` with this run's tables, keeping its `## Notes` section.
fn write_benchmarks_md(root: &Path, tables: &str, header: &Header<'_>) -> Result<(), Error> {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks: Plexus against Zenoh 1.10.2\n");
    let _ = writeln!(
        md,
        "Written by the runner (`bench/src/bin/run.rs`) on every full run; edit only the \
         `## Notes` section at the end, which the runner keeps.\n"
    );
    let _ = writeln!(md, "- Date: {date}");
    let _ = writeln!(md, "- Machine: {}", header.machine.describe(None));
    let _ = writeln!(
        md,
        "- Load average (1, 5, 15 min) before the measurements: {}; after: {}. Figures \
         taken while other work runs are not a verdict.",
        header.load_before.as_deref().unwrap_or("unknown"),
        header.load_after.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        md,
        "- Command: `bench/run.sh{}` (= `cargo run --release --manifest-path bench/Cargo.toml \
         --locked --bin run`), {:.0} s of measurement in {} rounds",
        if header.upstream {
            " --upstream <dir>"
        } else {
            ""
        },
        header.elapsed.as_secs_f64(),
        header.rounds
    );
    let _ = writeln!(
        md,
        "- Builds: both workspaces' release profile, the one Zenoh's own workspace uses \
         (fat LTO, one codegen unit, `panic = \"abort\"`, opt-level 3), the same compiler. \
         Plexus: `z_pub_thr`/`z_sub_thr`/`z_ping`/`z_pong` and `plexusd`. Zenoh: the twins of \
         those programs in `bench/src/bin/zenoh_*.rs` (`zenoh = \"=1.10.2\"`, TCP transport \
         only), which do what Zenoh's own examples do, line for line; the router is a Zenoh \
         session in router mode. See the notes for why this is the fastest Zenoh we could \
         build, and the baseline table (when run with `--upstream`) for the check; with \
         `--upstream`, the goals compare with the faster of the twin and Zenoh's own build \
         (its examples and, via router and for memory, its `zenohd`, built by \
         `bench/upstream.sh`) in each round (for memory, the smaller).\n\
         - Setup: loopback TCP only (127.0.0.1). Each round runs every side once, in \
         alternating order. \"peer to peer\": the subscriber (or pong) listens and the \
         publisher (or ping) connects, both peers; \"via router\": both are clients of one \
         router.\n"
    );
    let _ = writeln!(
        md,
        "![throughput against payload size](bench/throughput.png)\n"
    );
    md.push_str(tables);
    // The hand-written part (from `## Notes` on) survives the rewrite.
    let path = root.join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    match old.find("\n## Notes") {
        Some(at) => md.push_str(&old[at..]),
        None if !old.trim().is_empty() => eprintln!(
            "warning: {} has no `## Notes` heading: nothing hand-written was kept",
            path.display()
        ),
        None => {}
    }
    std::fs::write(path, md)?;
    Ok(())
}
