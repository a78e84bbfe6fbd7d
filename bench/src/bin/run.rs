//! The benchmark runner: builds Plexus's `z_*` examples, `plexusd` and this crate's
//! programs, then measures Plexus and Zenoh alternately (Plexus, Zenoh, Plexus, Zenoh…
//! for each measurement) over loopback, and prints the table. A full run also writes
//! `BENCHMARKS.md` and `bench/throughput.png`; `--smoke` runs every program pair once,
//! briefly, and fails if any program fails to start, exchange data or exit.
//!
//! ```sh
//! bench/run.sh                    # release, about ten minutes
//! cargo run --manifest-path bench/Cargo.toml --locked -- --smoke
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
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
    /// Runs of each measurement per implementation (alternating).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Starts no new measurement after this many seconds.
    #[arg(long, default_value_t = 540)]
    budget: u64,
    /// The number of client sessions the router holds in the memory measurement.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Does not write BENCHMARKS.md and the plot.
    #[arg(long)]
    no_report: bool,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

const SIZES: [usize; 6] = [8, 64, 1024, 16384, 65536, 1 << 20];
const LATENCY_SIZES: [usize; 2] = [8, 1024];
const IMPLS: [Impl; 2] = [Impl::Plexus, Impl::Zenoh];
const TOPOLOGIES: [Topology; 2] = [Topology::PeerToPeer, Topology::Router];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Impl {
    Plexus,
    Zenoh,
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

#[derive(Clone, Copy, Debug)]
enum Program {
    PubThr,
    SubThr,
    Ping,
    Pong,
    Router,
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
}

impl Programs {
    fn path(&self, imp: Impl, program: Program) -> PathBuf {
        match (imp, program) {
            (Impl::Plexus, Program::PubThr) => self.examples.join("z_pub_thr"),
            (Impl::Plexus, Program::SubThr) => self.examples.join("z_sub_thr"),
            (Impl::Plexus, Program::Ping) => self.examples.join("z_ping"),
            (Impl::Plexus, Program::Pong) => self.examples.join("z_pong"),
            (Impl::Plexus, Program::Router) => self.root_bins.join("plexusd"),
            (Impl::Plexus, Program::Clients) => self.bench_bins.join("plexus_clients"),
            (Impl::Zenoh, Program::PubThr) => self.bench_bins.join("zenoh_pub_thr"),
            (Impl::Zenoh, Program::SubThr) => self.bench_bins.join("zenoh_sub_thr"),
            (Impl::Zenoh, Program::Ping) => self.bench_bins.join("zenoh_ping"),
            (Impl::Zenoh, Program::Pong) => self.bench_bins.join("zenoh_pong"),
            (Impl::Zenoh, Program::Router) => self.bench_bins.join("zenoh_router"),
            (Impl::Zenoh, Program::Clients) => self.bench_bins.join("zenoh_clients"),
        }
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
    };
    for imp in IMPLS {
        for p in [
            Program::PubThr,
            Program::SubThr,
            Program::Ping,
            Program::Pong,
            Program::Router,
            Program::Clients,
        ] {
            let path = programs.path(imp, p);
            if !path.is_file() {
                return Err(format!("{} is not built", path.display()).into());
            }
        }
    }
    let plan = Plan::new(args);
    let mut bench = Bench {
        programs,
        plan,
        smoke: args.smoke,
        // A smoke run checks that the programs work; one run each is enough.
        repeat: if args.smoke { 1 } else { args.repeat.max(1) },
        results: HashMap::new(),
        errors: Vec::new(),
        deadline: Instant::now() + Duration::from_secs(args.budget),
        skipped: 0,
    };
    let measuring = Instant::now();
    let raw = raw_tcp(&bench.plan, bench.repeat)?;
    eprintln!(
        "raw TCP: {:.2} Gbit/s with 1 MiB writes; RTT/2 8 B p50 {:.1} µs p99 {:.1} µs",
        raw.gbits, raw.lat_p50, raw.lat_p99
    );
    bench.measure_all();
    let elapsed = measuring.elapsed();
    let report = bench.report(&raw);
    println!("{report}");
    eprintln!(
        "built in {:.0} s, measured in {:.0} s",
        build_time.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    if !args.smoke && !args.no_report {
        let png = root.join("bench").join("throughput.png");
        plot(&bench, &raw, &png)?;
        write_benchmarks_md(&root, &report, elapsed)?;
        eprintln!("wrote BENCHMARKS.md and {}", png.display());
    }
    for e in &bench.errors {
        eprintln!("failed: {e}");
    }
    Ok(bench.errors.is_empty())
}

/// Builds Plexus's examples and `plexusd` (root workspace) and this crate's programs.
fn build(root: &Path, bench_dir: &Path, release: bool) -> Result<(), Error> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut steps: Vec<Vec<String>> = vec![
        // CI's command (plus `plexusd`), so that both resolve features alike and share builds.
        vec![
            "build".into(),
            "--manifest-path".into(),
            root.join("Cargo.toml").display().to_string(),
            "--locked".into(),
            "--workspace".into(),
            "--bins".into(),
            "--examples".into(),
        ],
        vec![
            "build".into(),
            "--manifest-path".into(),
            bench_dir.join("Cargo.toml").display().to_string(),
            "--locked".into(),
            "--bins".into(),
        ],
    ];
    for step in &mut steps {
        if release {
            step.push("--release".into());
        }
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
    raw_seconds: f64,
    raw_pings: usize,
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
                raw_seconds: 0.1,
                raw_pings: 100,
                timeout: Duration::from_secs(60),
            }
        } else {
            Plan {
                sizes: SIZES.to_vec(),
                router_sizes: SIZES.to_vec(),
                latency_sizes: LATENCY_SIZES.to_vec(),
                rounds: 5,
                round_bytes: 64 << 20,
                round_messages: (50, 500_000),
                pings: 2000,
                warmup_secs: 1.0,
                clients: args.clients,
                raw_seconds: 1.0,
                raw_pings: 10_000,
                timeout: Duration::from_secs(60),
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
    /// Messages per second (one value per round).
    Throughput(Topology, usize),
    /// RTT/2 in microseconds (one value per round trip).
    Latency(Topology, usize),
    /// Resident set of an idle peer, KiB.
    IdleRss,
    /// Resident set of a router holding the clients, KiB.
    RouterRss,
}

impl Measure {
    fn describe(self) -> String {
        match self {
            Measure::Throughput(t, s) => format!("throughput {} B {}", s, t.label()),
            Measure::Latency(t, s) => format!("latency {} B {}", s, t.label()),
            Measure::IdleRss => "idle peer RSS".into(),
            Measure::RouterRss => "router RSS".into(),
        }
    }
}

#[derive(Debug)]
struct Bench {
    programs: Programs,
    plan: Plan,
    smoke: bool,
    repeat: usize,
    results: HashMap<(Measure, Impl), Vec<f64>>,
    errors: Vec<String>,
    deadline: Instant,
    skipped: usize,
}

impl Bench {
    fn measure_all(&mut self) {
        let repeat = self.repeat;
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
        measures.push(Measure::RouterRss);
        for m in measures {
            // Memory does not vary from run to run the way timings do.
            let runs = if matches!(m, Measure::IdleRss | Measure::RouterRss) {
                1
            } else {
                repeat
            };
            for _ in 0..runs {
                for imp in IMPLS {
                    if Instant::now() > self.deadline {
                        self.skipped += 1;
                        continue;
                    }
                    let t = Instant::now();
                    match self.measure_once(m, imp) {
                        Ok(values) => {
                            eprintln!(
                                "{:?} {}: {} ({:.1} s)",
                                imp,
                                m.describe(),
                                summary(m, &values),
                                t.elapsed().as_secs_f64()
                            );
                            self.results.entry((m, imp)).or_default().extend(values);
                        }
                        Err(e) => {
                            let msg = format!("{imp:?} {}: {e}", m.describe());
                            eprintln!("{msg}");
                            self.errors.push(msg);
                        }
                    }
                }
            }
        }
    }

    fn measure_once(&self, m: Measure, imp: Impl) -> Result<Vec<f64>, Error> {
        match m {
            Measure::Throughput(topology, size) => self.throughput(imp, topology, size),
            Measure::Latency(topology, size) => self.latency(imp, topology, size),
            Measure::IdleRss => self.idle_rss(imp),
            Measure::RouterRss => self.router_rss(imp),
        }
    }

    fn spawn(&self, imp: Impl, program: Program, args: &[String]) -> Result<Proc, Error> {
        Proc::spawn(&self.programs.path(imp, program), args, imp, program)
    }

    /// Starts the router of `imp` on a free port; returns it and its endpoint.
    fn router(&self, imp: Impl) -> Result<(Proc, String), Error> {
        let endpoint = free_endpoint()?;
        let mut router = self.spawn(imp, Program::Router, &["-l".into(), endpoint.clone()])?;
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

    fn throughput(&self, imp: Impl, topology: Topology, size: usize) -> Result<Vec<f64>, Error> {
        let deadline = Instant::now() + self.plan.timeout;
        let (_router, endpoint) = match topology {
            Topology::PeerToPeer => (None, free_endpoint()?),
            Topology::Router => {
                let (r, e) = self.router(imp)?;
                (Some(r), e)
            }
        };
        let rounds = self.plan.rounds + 1;
        let mut sub_args = Self::session_args(topology, &endpoint, true);
        sub_args.extend([
            "-s".into(),
            rounds.to_string(),
            "-n".into(),
            self.plan.messages(size).to_string(),
        ]);
        let mut sub = self.spawn(imp, Program::SubThr, &sub_args)?;
        sub.wait_line(|l| l.starts_with("Press CTRL-C"), remaining(deadline))?;
        let mut pub_args = Self::session_args(topology, &endpoint, false);
        pub_args.push(size.to_string());
        let mut publisher = self.spawn(imp, Program::PubThr, &pub_args)?;
        let mut rates = Vec::new();
        while rates.len() < rounds {
            publisher.check_running()?;
            let line = sub.wait_line(|l| l.ends_with(" msg/s"), remaining(deadline))?;
            let rate: f64 = line
                .trim_end_matches(" msg/s")
                .parse()
                .map_err(|e| format!("bad rate line `{line}`: {e}"))?;
            rates.push(rate);
        }
        let status = sub.wait_exit(remaining(deadline))?;
        if !status.success() {
            return Err(format!("the subscriber exited with {status}").into());
        }
        // The first round includes the connection's warm-up.
        rates.remove(0);
        Ok(rates)
    }

    fn latency(&self, imp: Impl, topology: Topology, size: usize) -> Result<Vec<f64>, Error> {
        let deadline = Instant::now() + self.plan.timeout;
        let (_router, endpoint) = match topology {
            Topology::PeerToPeer => (None, free_endpoint()?),
            Topology::Router => {
                let (r, e) = self.router(imp)?;
                (Some(r), e)
            }
        };
        let mut pong = self.spawn(
            imp,
            Program::Pong,
            &Self::session_args(topology, &endpoint, true),
        )?;
        pong.wait_line(|l| l.starts_with("Press CTRL-C"), remaining(deadline))?;
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
        Ok(lats)
    }

    fn idle_rss(&self, imp: Impl) -> Result<Vec<f64>, Error> {
        let endpoint = free_endpoint()?;
        let mut sub = self.spawn(
            imp,
            Program::SubThr,
            &Self::session_args(Topology::PeerToPeer, &endpoint, true),
        )?;
        sub.wait_line(|l| l.starts_with("Press CTRL-C"), self.plan.timeout)?;
        // Let start-up work (tasks spawned after the subscriber is declared) settle.
        std::thread::sleep(Duration::from_millis(if self.smoke { 100 } else { 1000 }));
        sub.check_running()?;
        Ok(vec![rss_kib(sub.pid())? as f64])
    }

    fn router_rss(&self, imp: Impl) -> Result<Vec<f64>, Error> {
        let deadline = Instant::now() + Duration::from_secs(180);
        let (mut router, endpoint) = self.router(imp)?;
        let mut clients = self.spawn(
            imp,
            Program::Clients,
            &[
                "-e".into(),
                endpoint,
                "-n".into(),
                self.plan.clients.to_string(),
            ],
        )?;
        clients.wait_line(|l| l.starts_with("Opened "), remaining(deadline))?;
        std::thread::sleep(Duration::from_millis(if self.smoke { 100 } else { 2000 }));
        router.check_running()?;
        clients.check_running()?;
        Ok(vec![rss_kib(router.pid())? as f64])
    }

    fn values(&self, m: Measure, imp: Impl) -> Option<&[f64]> {
        self.results
            .get(&(m, imp))
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    fn report(&self, raw: &RawTcp) -> String {
        let mut out = String::new();
        if self.smoke {
            let _ = writeln!(
                out,
                "Smoke run (CI): tiny, unoptimised runs; the figures and goals below mean nothing.\n"
            );
        }
        let cell = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("—".to_string(), f);
        let ratio = |p: Option<f64>, z: Option<f64>| match (p, z) {
            (Some(p), Some(z)) if z > 0.0 => Some(p / z),
            _ => None,
        };
        let verdict = |ok: Option<bool>, goal: &str| match ok {
            Some(true) => format!("met ({goal})"),
            Some(false) => format!("**NOT MET** ({goal})"),
            None => format!("no data ({goal})"),
        };
        let _ = writeln!(
            out,
            "### Throughput (Block congestion control; median of {} rounds × {} runs each)\n",
            self.plan.rounds, self.repeat
        );
        let _ = writeln!(
            out,
            "| payload | path | Plexus msg/s | Zenoh msg/s | Plexus Gbit/s | Zenoh Gbit/s | Plexus/Zenoh | goal |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---|");
        for topology in TOPOLOGIES {
            for size in SIZES {
                let m = Measure::Throughput(topology, size);
                let p = self.values(m, Impl::Plexus).map(median);
                let z = self.values(m, Impl::Zenoh).map(median);
                if p.is_none() && z.is_none() {
                    continue;
                }
                let r = ratio(p, z);
                let need = if size == 8 { 1.3 } else { 1.0 };
                let mut goal = verdict(r.map(|r| r >= need), &format!("≥ {need:.1}"));
                if size == 1 << 20 && topology == Topology::PeerToPeer {
                    let of_tcp = p.map(|p| gbits(p, size) / raw.gbits);
                    let _ = write!(
                        goal,
                        "; {} of raw TCP: {}",
                        cell(of_tcp, &|v| format!("{v:.2}")),
                        verdict(of_tcp.map(|v| v >= 0.9), "≥ 0.9")
                    );
                }
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    size_label(size),
                    topology.label(),
                    cell(p, &|v| format!("{v:.0}")),
                    cell(z, &|v| format!("{v:.0}")),
                    cell(p, &|v| format!("{:.3}", gbits(v, size))),
                    cell(z, &|v| format!("{:.3}", gbits(v, size))),
                    cell(r, &|v| format!("{v:.2}")),
                    goal
                );
            }
        }
        let _ = writeln!(
            out,
            "\n### Latency (RTT/2 in µs, express; {} round trips × {} runs each)\n",
            self.plan.pings, self.repeat
        );
        let _ = writeln!(
            out,
            "| payload | path | Plexus p50 | Zenoh p50 | p50 Plexus/Zenoh | Plexus p99 | Zenoh p99 | p99 Plexus/Zenoh | goal |"
        );
        let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---:|---:|---|");
        for topology in TOPOLOGIES {
            for size in LATENCY_SIZES {
                let m = Measure::Latency(topology, size);
                let p = self.values(m, Impl::Plexus);
                let z = self.values(m, Impl::Zenoh);
                if p.is_none() && z.is_none() {
                    continue;
                }
                let (p50p, p50z) = (
                    p.map(|v| percentile(v, 50.0)),
                    z.map(|v| percentile(v, 50.0)),
                );
                let (p99p, p99z) = (
                    p.map(|v| percentile(v, 99.0)),
                    z.map(|v| percentile(v, 99.0)),
                );
                let r50 = ratio(p50p, p50z);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    size_label(size),
                    topology.label(),
                    cell(p50p, &|v| format!("{v:.1}")),
                    cell(p50z, &|v| format!("{v:.1}")),
                    cell(r50, &|v| format!("{v:.2}")),
                    cell(p99p, &|v| format!("{v:.1}")),
                    cell(p99z, &|v| format!("{v:.1}")),
                    cell(ratio(p99p, p99z), &|v| format!("{v:.2}")),
                    verdict(r50.map(|r| r <= 0.7), "p50 ≤ 0.7")
                );
            }
        }
        let _ = writeln!(out, "\n### Memory (resident set, VmRSS)\n");
        let _ = writeln!(out, "| process | Plexus MiB | Zenoh MiB | Plexus/Zenoh |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for (m, label) in [
            (
                Measure::IdleRss,
                "idle peer (listening, nothing connected)".to_string(),
            ),
            (
                Measure::RouterRss,
                format!("router holding {} client transports", self.plan.clients),
            ),
        ] {
            let p = self.values(m, Impl::Plexus).map(median);
            let z = self.values(m, Impl::Zenoh).map(median);
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} |",
                cell(p, &|v| format!("{:.1}", v / 1024.0)),
                cell(z, &|v| format!("{:.1}", v / 1024.0)),
                cell(ratio(p, z), &|v| format!("{v:.2}"))
            );
        }
        let _ = writeln!(out, "\n### Raw TCP over loopback (the physical limit)\n");
        let _ = writeln!(
            out,
            "| measurement ({} runs: best bandwidth, pooled round trips) | value |",
            self.repeat
        );
        let _ = writeln!(out, "|---|---:|");
        let _ = writeln!(
            out,
            "| bandwidth, 1 MiB writes | {:.2} Gbit/s ({:.0} msg/s) |",
            raw.gbits,
            raw.gbits * 1e9 / 8.0 / (1u64 << 20) as f64
        );
        let _ = writeln!(out, "| RTT/2, 8 B ping-pong, p50 | {:.1} µs |", raw.lat_p50);
        let _ = writeln!(out, "| RTT/2, 8 B ping-pong, p99 | {:.1} µs |", raw.lat_p99);
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
}

fn summary(m: Measure, values: &[f64]) -> String {
    match m {
        Measure::Throughput(_, size) => {
            let v = median(values);
            format!("{v:.0} msg/s, {:.3} Gbit/s", gbits(v, size))
        }
        Measure::Latency(..) => format!(
            "RTT/2 p50 {:.1} µs, p99 {:.1} µs",
            percentile(values, 50.0),
            percentile(values, 99.0)
        ),
        Measure::IdleRss | Measure::RouterRss => format!("{:.1} MiB", median(values) / 1024.0),
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

/// The resident set of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status").into())
}

/// The soft limit on open files, from `/proc/self/limits`.
fn open_files_limit() -> Option<(u64, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let soft = fields.next()?.parse().ok()?;
    Some((soft, fields.next()?.to_string()))
}

/// A child program; killed (and reaped) when dropped.
#[derive(Debug)]
struct Proc {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(path: &Path, args: &[String], imp: Impl, program: Program) -> Result<Proc, Error> {
        let name = format!(
            "{}{}",
            path.file_name().map_or("?".into(), |n| n.to_string_lossy()),
            if args.is_empty() {
                String::new()
            } else {
                format!(" {}", args.join(" "))
            }
        );
        // The memory measurement opens over a thousand sockets per process.
        let mut command = match open_files_limit() {
            Some((soft, hard)) if soft < 8192 => {
                let target = match hard.parse::<u64>() {
                    Ok(h) => h.min(8192),
                    Err(_) => 8192,
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
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match (imp, program) {
            // plexusd reports that it listens in its info log.
            (Impl::Plexus, Program::Router) => command.env("RUST_LOG", "info"),
            _ => command.env_remove("RUST_LOG"),
        };
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
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
            lines,
            stderr,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
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

/// Raw TCP over loopback: what the kernel allows, with no protocol on top.
#[derive(Debug)]
struct RawTcp {
    gbits: f64,
    lat_p50: f64,
    lat_p99: f64,
}

/// The best bandwidth and the pooled latencies of `runs` runs.
fn raw_tcp(plan: &Plan, runs: usize) -> Result<RawTcp, Error> {
    let mut gbits: f64 = 0.0;
    let mut lats = Vec::new();
    for _ in 0..runs.max(1) {
        let (g, l) = raw_tcp_once(plan)?;
        gbits = gbits.max(g);
        lats.extend(l);
    }
    Ok(RawTcp {
        gbits,
        lat_p50: percentile(&lats, 50.0),
        lat_p99: percentile(&lats, 99.0),
    })
}

/// Bandwidth in Gbit/s and RTT/2 samples in µs.
fn raw_tcp_once(plan: &Plan) -> Result<(f64, Vec<f64>), Error> {
    // Bandwidth: 1 MiB writes for a while; the reader times from its first byte.
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
    let until = Instant::now() + Duration::from_secs_f64(plan.raw_seconds);
    while Instant::now() < until {
        writer.write_all(&chunk)?;
    }
    drop(writer);
    let (bytes, elapsed) = reader.join().map_err(|_| "the TCP reader panicked")??;
    let gbits = bytes as f64 * 8.0 / elapsed.as_secs_f64().max(1e-9) / 1e9;

    // Latency: 8-byte ping-pong with Nagle off.
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
    let warmup = plan.raw_pings / 10;
    let mut lats = Vec::with_capacity(plan.raw_pings);
    for i in 0..warmup + plan.raw_pings {
        let t = Instant::now();
        s.write_all(&buf)?;
        s.read_exact(&mut buf)?;
        if i >= warmup {
            lats.push(t.elapsed().as_secs_f64() * 1e6 / 2.0);
        }
    }
    drop(s);
    echo.join().map_err(|_| "the TCP echo panicked")??;
    Ok((gbits, lats))
}

/// Draws throughput (Gbit/s, log) against payload size (log) for both implementations.
fn plot(bench: &Bench, raw: &RawTcp, path: &Path) -> Result<(), Error> {
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
                bench
                    .values(Measure::Throughput(topology, size), imp)
                    .map(|v| (size as f64, gbits(median(v), size)))
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
        .fold(raw.gbits, f64::max);
    let min = series
        .iter()
        .flat_map(|s| s.3.iter().map(|p| p.1))
        .fold(max, f64::min);
    let y_range = (min / 2.0).max(1e-4)..(max * 2.0);
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
    let tcp = [(6.0, raw.gbits), (1.5 * (1u64 << 20) as f64, raw.gbits)];
    let drawn = chart.draw_series(LineSeries::new(tcp, BLACK.stroke_width(1)))?;
    if has_font {
        drawn
            .label(format!("raw TCP, 1 MiB writes ({:.1} Gbit/s)", raw.gbits))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
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

/// Rewrites `BENCHMARKS.md` with this run's table.
fn write_benchmarks_md(root: &Path, table: &str, elapsed: Duration) -> Result<(), Error> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks: Plexus against Zenoh 1.10.2\n");
    let _ = writeln!(
        md,
        "Written by the runner (`bench/src/bin/run.rs`) on every full run; edit only the \
         `## Notes` section at the end, which the runner keeps.\n"
    );
    let _ = writeln!(md, "- Date: {date}");
    let _ = writeln!(md, "- Machine: {cores} cores, {model}, Linux {kernel}");
    let _ = writeln!(
        md,
        "- Command: `bench/run.sh` (= `cargo run --release --manifest-path bench/Cargo.toml --locked --bin run`), \
         {:.0} s of measurement",
        elapsed.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "- Setup: loopback TCP only (127.0.0.1). Release builds (fat LTO, one codegen unit) of \
         Plexus's `z_pub_thr`/`z_sub_thr`/`z_ping`/`z_pong` and `plexusd`, and of Zenoh \
         twins of the same programs (`bench/src/bin/zenoh_*.rs`, `zenoh = \"=1.10.2\"`). \
         Each measurement runs Plexus, Zenoh, Plexus, Zenoh. \"peer to peer\": the subscriber \
         (or pong) listens and the publisher (or ping) connects, both peers; \"via router\": \
         both are clients of one router (`plexusd` or a Zenoh session in router mode).\n\
         - Caveat: the machine is shared; another build may have been running during the \
         measurement, so compare ratios from one run rather than absolute figures across runs.\n"
    );
    let _ = writeln!(
        md,
        "![throughput against payload size](bench/throughput.png)\n"
    );
    md.push_str(table);
    // The hand-written part (from `## Notes` on) survives the rewrite.
    let path = root.join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(at) = old.find("\n## Notes") {
        md.push_str(&old[at..]);
    }
    std::fs::write(path, md)?;
    Ok(())
}
