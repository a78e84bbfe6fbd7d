//! `plexusd` against hostile clients driven by hand with the transport crate's codec:
//!
//! - a flood of 500,000 RTT probes whose answers are never read leaves its memory flat
//!   and other clients served;
//! - 1-byte fragments at the end of 64 KiB batches do not pin those batches;
//! - an OPEN with a lease of `u64::MAX` seconds is clamped, panics nothing, and the
//!   transport goes when the client does;
//! - at its file-descriptor limit (a lowered `RLIMIT_NOFILE`, set with `prlimit`) its
//!   accept loop backs off, with few wake-ups and log lines, and accepts again once
//!   descriptors are free.
//!
//! The tests hold a lock so that none runs while another measures.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Daemon, RawClient, WAIT, client, poll};
use plexus_transport::wire::transport::{Fragment, OamBody, TransportMessage, TransportOam};
use plexus_transport::wire::{Priority, Reliability, ZenohId};
use tokio::time::timeout;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits (bounded) until the router has a transport to `zid` and has read `bytes` from it.
async fn read_by_router(d: &mut Daemon, zid: &ZenohId, bytes: u64) {
    let what = format!("the router reading {bytes} bytes from {zid}");
    poll::until(&what, 3 * WAIT, Duration::from_millis(100), async || {
        let stats = d.stats().await;
        let rx = stats
            .transport(zid)
            .map(|t| t["stats"]["rx_bytes"].as_u64().unwrap_or(0));
        if rx.is_some_and(|rx| rx >= bytes) {
            return Ok(());
        }
        Err(format!(
            "read {rx:?} (None: no such transport); its transports: {:?}",
            stats.transports
        ))
    })
    .await;
}

/// Publishes through the router from one new client to another.
async fn served(locator: &str, key: &str) {
    let sub = client(locator).await;
    let (tx, rx) = flume::unbounded();
    let _s = sub
        .declare_subscriber(key)
        .callback(move |s| {
            let _ = tx.send(s);
        })
        .await
        .expect("subscribe");
    let publisher = client(locator).await;
    // The subscription reaches the router's routes asynchronously: publish until one
    // sample arrives.
    let got = timeout(WAIT, async {
        loop {
            publisher.put(key, "alive").await.expect("put");
            if let Ok(Ok(s)) = timeout(Duration::from_millis(200), rx.recv_async()).await {
                return s;
            }
        }
    })
    .await
    .expect("the router forwards for other clients");
    assert_eq!(&got.payload()[..], b"alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unread_rtt_pings_keeps_memory_flat() {
    const PINGS: usize = 500_000;
    /// How much the router's RSS may grow over the flood (it grew by 580 MB with a
    /// task per answer).
    const GROWTH_BOUND_KIB: u64 = 64 * 1024;
    let _serial = SERIAL.lock().await;
    let mut d = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    // A small receive buffer: the router's answers soon have nowhere to go.
    let mut raw = RawClient::connect(d.socket_addr(), Duration::from_secs(30), 4096).await;
    let zid = raw.zid;
    read_by_router(&mut d, &zid, 0).await;
    let rss_before = d.rss_kib();
    let mut batch = Vec::new();
    let (mut sent, mut bytes) = (0, 0u64);
    let started = Instant::now();
    while sent < PINGS {
        batch.clear();
        while batch.len() + 64 < usize::from(raw.est.batch_size) && sent < PINGS {
            TransportMessage::Oam(TransportOam {
                id: 0x7001,
                priority: Priority::Data,
                body: OamBody::Z64(sent as u64),
            })
            .write(&mut batch);
            sent += 1;
        }
        raw.send_batch(&batch).await;
        bytes += batch.len() as u64 + 2;
    }
    // Everything sent was read and handled (the keep-alive the router's count
    // started with is not counted here).
    read_by_router(&mut d, &zid, bytes).await;
    let rss_after = d.rss_kib();
    eprintln!(
        "{PINGS} unread pings ({bytes} bytes) in {:?}: router RSS {rss_before} KiB before, \
         {rss_after} KiB after ({:+} KiB)",
        started.elapsed(),
        rss_after as i64 - rss_before as i64
    );
    assert!(
        rss_after <= rss_before + GROWTH_BOUND_KIB,
        "RSS grew from {rss_before} KiB to {rss_after} KiB under a ping flood"
    );
    // Other clients are served meanwhile.
    served(&d.locator, "hostile/pings").await;
    drop(raw);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_byte_fragments_in_large_batches_do_not_pin_them() {
    /// About 48 MiB of batches on the wire, each carrying a 1-byte fragment.
    const BATCHES: u32 = 1024;
    const GROWTH_BOUND_KIB: u64 = 24 * 1024;
    let _serial = SERIAL.lock().await;
    let mut d = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let mut raw = RawClient::connect(d.socket_addr(), Duration::from_secs(30), 1 << 16).await;
    let zid = raw.zid;
    read_by_router(&mut d, &zid, 0).await;
    let rss_before = d.rss_kib();
    let sn0 = raw.est.local_initial_sn;
    let mask = raw.est.sn_mask;
    let mut bytes = 0u64;
    // As large as the agreed batch size allows (it depends on the link).
    let padding = Bytes::from(vec![0u8; usize::from(raw.est.batch_size) - 64]);
    for i in 0..BATCHES {
        let mut batch = Vec::new();
        // Ignored by the router (an unknown OAM), it makes the batch large.
        TransportMessage::Oam(TransportOam {
            id: 0x7fff,
            priority: Priority::Data,
            body: OamBody::ZBuf(padding.clone()),
        })
        .write(&mut batch);
        TransportMessage::Fragment(Fragment {
            reliability: Reliability::BestEffort,
            more: true,
            sn: (sn0 + i) & mask,
            priority: Priority::Data,
            first: i == 0,
            drop: false,
            payload: Bytes::from_static(b"x"),
        })
        .write(&mut batch);
        raw.send_batch(&batch).await;
        bytes += batch.len() as u64 + 2;
    }
    read_by_router(&mut d, &zid, bytes).await;
    let rss_after = d.rss_kib();
    eprintln!(
        "{BATCHES} one-byte fragments in {bytes} bytes of batches: router RSS {rss_before} KiB \
         before, {rss_after} KiB after ({:+} KiB)",
        rss_after as i64 - rss_before as i64
    );
    assert!(
        rss_after <= rss_before + GROWTH_BOUND_KIB,
        "RSS grew from {rss_before} KiB to {rss_after} KiB: the fragments hold their batches"
    );
    served(&d.locator, "hostile/fragments").await;
    drop(raw);
    let stats = d.settled_stats().await;
    assert_eq!((stats.open, stats.alive), (0, 0), "the transport is freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_of_u64_max_seconds_neither_panics_nor_lingers() {
    let _serial = SERIAL.lock().await;
    let mut d = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let mut raw = RawClient::connect(d.socket_addr(), Duration::from_secs(u64::MAX), 4096).await;
    raw.declare_subscriber("hostile/lease").await;
    let stats = d.stats().await;
    let t = stats.transport(&raw.zid).expect("the transport is open");
    // Clamped to an hour.
    assert_eq!(t["lease_ms"].as_u64(), Some(3_600_000), "{t}");
    served(&d.locator, "hostile/lease").await;
    drop(raw);
    let stats = d.settled_stats().await;
    assert_eq!(
        (stats.open, stats.alive),
        (0, 0),
        "the transport stays after its client went"
    );
}

/// Voluntary context switches and CPU time (clock ticks) of all the threads of `pid`.
fn wakeups_and_cpu(pid: u32) -> (u64, u64) {
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc tasks") {
        let path = task.expect("task").path().join("status");
        if let Ok(status) = std::fs::read_to_string(path) {
            switches += status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which ends with ')'): utime and stime are the
    // 12th and 13th of them.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cpu = fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    (switches, cpu)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc fd")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_descriptor_limit_the_accept_loop_backs_off_and_recovers() {
    const NOFILE: usize = 64;
    /// The window watched while the limit is hit.
    const WINDOW: Duration = Duration::from_secs(4);
    let _serial = SERIAL.lock().await;
    let mut cmd = tokio::process::Command::new("prlimit");
    cmd.arg(format!("--nofile={NOFILE}:{NOFILE}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_plexusd"))
        .args(["-l", "tcp/127.0.0.1:0"])
        .env("RUST_LOG", "info");
    let mut d = Daemon::spawn(cmd).await;
    let base = open_fds(d.pid);
    assert!(base < NOFILE, "{base} descriptors open at start");
    // Connections that never start their handshake each hold a descriptor of the
    // router's until its handshake deadline; more than it has left.
    let mut held = Vec::new();
    for _ in 0..(NOFILE - base + 16) {
        let s = timeout(WAIT, tokio::net::TcpStream::connect(d.socket_addr()))
            .await
            .expect("connect in time")
            .expect("connect (the listen queue takes it)");
        held.push(s);
    }
    let (hit, line) = d.line_with("Too many open files", WAIT).await;
    eprintln!("at the limit ({base} descriptors at start): {line}");
    let (w0, c0) = wakeups_and_cpu(d.pid);
    let lines_before = d.lines_now().len();
    tokio::time::sleep_until((hit + WINDOW).into()).await;
    let (w1, c1) = wakeups_and_cpu(d.pid);
    let lines: Vec<String> = d.lines_now();
    let accept_lines = lines.iter().filter(|l| l.contains("accepting on")).count();
    eprintln!(
        "over {WINDOW:?} at the limit: {} voluntary wake-ups, {} ticks of CPU, {} log lines \
         ({accept_lines} about accept; {lines_before} before the window)",
        w1 - w0,
        c1 - c0,
        lines.len()
    );
    assert!(
        hit.elapsed() < Duration::from_secs(10),
        "the window outlasted the handshake deadline: descriptors may have been freed"
    );
    // A retry every 10 ms would be 400 wake-ups; with the back-off, about 10.
    assert!(w1 - w0 < 150, "{} wake-ups in {WINDOW:?}", w1 - w0);
    assert!(c1 - c0 < 100, "{} ticks of CPU in {WINDOW:?}", c1 - c0);
    assert!(
        accept_lines <= 1,
        "{accept_lines} lines about accept: {lines:?}"
    );
    assert!(lines.len() <= 5, "{lines:?}");
    // Descriptors freed: it accepts again.
    drop(held);
    served(&d.locator, "hostile/emfile").await;
}
