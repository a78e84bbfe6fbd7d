//! The issue's figures, `plexusd` and a Zenoh 1.10.2 router side by side (ignored: they
//! take minutes; run them on a quiet machine):
//!
//! ```sh
//! cargo test --release -p plexusd --test figures -- --ignored --nocapture --test-threads 1
//! ```
//!
//! A publisher floods 8-byte messages (as `z_pub_thr 8`) through the router to a healthy
//! subscriber; then a client that never reads (it keeps its lease alive) subscribes too.
//! Printed: the healthy subscriber's rate alone, while the other is stalled, and after
//! the router closed the stalled one (`Block`), and the router's RSS over 30 s of stall.
//! The Zenoh router runs in a child process (this test binary, re-run as a host).

mod common;

use std::time::{Duration, Instant};

use common::{Counter, Daemon, RawClient, client, median, rss_kib};
use plexus::CongestionControl;
use tokio::process::Command;

const STALL: Duration = Duration::from_secs(30);
const WINDOW: Duration = Duration::from_millis(500);

/// Hosts a Zenoh router when this binary is re-run with `ZENOH_ROUTER_HOST` set.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a helper: runs a Zenoh router for the figures"]
async fn zenoh_router_host() {
    if std::env::var_os("ZENOH_ROUTER_HOST").is_none() {
        return;
    }
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", r#""router""#).expect("mode");
    c.insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    let listen = std::env::var("ZENOH_ROUTER_LISTEN").unwrap_or("tcp/127.0.0.1:0".into());
    c.insert_json5("listen/endpoints", &format!(r#"["{listen}"]"#))
        .expect("listen");
    let z = zenoh::open(c).await.expect("Zenoh router");
    let loc = z
        .info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("a tcp locator");
    println!("zenoh router listening locator={loc}");
    // Until the parent goes (it kills this process).
    std::future::pending::<()>().await;
}

async fn zenoh_router() -> Daemon {
    zenoh_router_on("tcp/127.0.0.1:0").await
}

async fn zenoh_router_on(listen: &str) -> Daemon {
    let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
    cmd.args(["--exact", "zenoh_router_host", "--ignored", "--nocapture"])
        .env("ZENOH_ROUTER_HOST", "1")
        .env("ZENOH_ROUTER_LISTEN", listen);
    Daemon::spawn(cmd).await
}

/// How long after a router is killed (SIGKILL) and started again on the same port a
/// Plexus client subscriber gets a Plexus client publisher's data again.
async fn reconnect_time(name: &str, start: impl AsyncFn(&str) -> Daemon) {
    let first = start("tcp/127.0.0.1:0").await;
    let port = first.port();
    let sub_side = client(&first.locator).await;
    let (tx, rx) = flume::unbounded();
    let _sub = sub_side
        .declare_subscriber("rc/**")
        .callback(move |_| {
            let _ = tx.send(Instant::now());
        })
        .await
        .expect("subscribe");
    let pub_side = client(&first.locator).await;
    let publisher = pub_side
        .declare_publisher("rc/data")
        .await
        .expect("publisher");
    let publishing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        loop {
            tick.tick().await;
            let _ = publisher.put("x").await;
        }
    });
    rx.recv_async().await.expect("data");
    first.kill9().await;
    let killed = Instant::now();
    let second = start(&format!("tcp/127.0.0.1:{port}")).await;
    let restarted = Instant::now();
    while rx.try_recv().is_ok() {}
    let resumed = rx.recv_async().await.expect("data again");
    // The clients are the same (Plexus) in every run: the time from the kill is what
    // they achieve; the time from the restart also depends on how soon the router was
    // ready (a Zenoh router waits its scouting delay before it listens).
    println!(
        "{name}: restarted {:?} after SIGKILL; delivery resumed {:?} after the restart, \
         {:?} after the kill",
        restarted - killed,
        resumed - restarted,
        resumed - killed
    );
    publishing.abort();
    drop(second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress: for the figures"]
async fn stress_figures_reconnect_after_restart() {
    for _ in 0..3 {
        reconnect_time("plexusd", async |listen: &str| {
            Daemon::start(&["-l", listen]).await
        })
        .await;
        reconnect_time("zenoh router", async |listen: &str| {
            zenoh_router_on(listen).await
        })
        .await;
    }
}

/// Runs the scenario against `router` and prints its figures.
async fn scenario(name: &str, router: Daemon, cc: CongestionControl, stall: bool) {
    let sub_side = client(&router.locator).await;
    let healthy = Counter::default();
    let h = healthy.clone();
    let _sub = sub_side
        .declare_subscriber("thr/**")
        .callback(move |_| h.add())
        .await
        .expect("subscribe");
    // The publisher floods from a runtime of its own.
    let loc = router.locator.clone();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let publishing = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let s = client(&loc).await;
            let p = s
                .declare_publisher("thr/data")
                .congestion_control(cc)
                .await
                .expect("publisher");
            let payload = bytes::Bytes::from_static(b"01234567");
            for n in 0u64.. {
                let _ = p.put(payload.clone()).await;
                if n % 1024 == 0 {
                    if stop_rx.try_recv().is_ok() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
            s.close().await;
        });
    });
    healthy.rate(Duration::from_secs(2)).await;
    let mut solo = Vec::new();
    for _ in 0..6 {
        solo.push(healthy.rate(WINDOW).await);
    }
    let solo = median(solo);
    let rss_start = rss_kib(router.pid);

    // Without `stall`, the same windows with nobody stalled: how much the rate varies
    // on its own when four busy programs share the machine.
    let mut raw = RawClient::connect(router.socket_addr(), Duration::from_secs(10), 4096).await;
    if stall {
        raw.declare_subscriber("thr/**").await;
    }
    let stalled_at = Instant::now();
    let (_stop, kept) = raw.keep_alive();
    let mut rates = Vec::new();
    let mut rss_max = rss_start;
    while stalled_at.elapsed() < STALL {
        rates.push((stalled_at.elapsed(), healthy.rate(WINDOW).await));
        rss_max = rss_max.max(rss_kib(router.pid));
    }
    let rss_end = rss_kib(router.pid);
    drop(kept);
    let _ = stop_tx.send(());
    let _ = publishing.join();
    // Held back: windows with less than a tenth of the solo rate.
    let held: Vec<Duration> = rates
        .iter()
        .filter(|(_, r)| *r < 0.1 * solo)
        .map(|(t, _)| *t)
        .collect();
    let held_total = WINDOW * held.len() as u32;
    let all: Vec<f64> = rates.iter().map(|r| r.1).collect();
    let after: Vec<f64> = match held.last() {
        Some(last) => rates
            .iter()
            .filter(|(t, _)| *t > *last + WINDOW)
            .map(|r| r.1)
            .collect(),
        None => Vec::new(),
    };
    // Every window under 90 % of the solo rate, with its time after the stall: where a
    // dip lies (the stalled peer's socket and queue filling, the wait before a close).
    let dips: Vec<String> = rates
        .iter()
        .filter(|(_, r)| *r < 0.9 * solo)
        .map(|(t, r)| format!("{:.1} s {:.0} %", t.as_secs_f64(), 100.0 * r / solo))
        .collect();
    println!(
        "{name} {cc:?}: windows under 90 % of solo: {}",
        dips.join(", ")
    );
    println!(
        "{name} {cc:?}: healthy subscriber alone {solo:.0} msg/s; over {STALL:?} with a stalled peer: median {:.0}, min {:.0} msg/s, held back (< 10 %) {held_total:?} in all{}; router RSS {rss_start} KiB before, max {rss_max} KiB, {rss_end} KiB at the end",
        median(all.clone()),
        all.iter().copied().fold(f64::INFINITY, f64::min),
        match (held.first(), held.last()) {
            (Some(first), Some(last)) if !after.is_empty() => format!(
                " (from {first:?} to {:?} after the stall), then median {:.0} msg/s",
                *last + WINDOW,
                median(after)
            ),
            _ => String::new(),
        },
    );
}

/// Opens and closes `n` client transports to `locator`, 8 at a time.
async fn churn(locator: &str, n: usize) {
    use std::sync::Arc;

    use plexus_transport::wire::network::NetworkMessage;
    use plexus_transport::wire::{WhatAmI, ZenohId};
    use plexus_transport::{
        PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
    };
    struct Nothing;
    impl TransportHandler for Nothing {
        fn opened(&self, _: &Transport) -> Arc<dyn PeerHandler> {
            Arc::new(Nothing)
        }
    }
    impl PeerHandler for Nothing {
        fn message(&self, _: NetworkMessage) {}
        fn event(&self, _: TransportEvent) {}
    }
    let ep: plexus_link::Endpoint = locator.parse().expect("endpoint");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let ep = ep.clone();
        tasks.spawn(async move {
            for _ in (worker..n).step_by(8) {
                let m = TransportManager::new(
                    TransportConfig::new(ZenohId::random(), WhatAmI::Client),
                    Arc::new(Nothing),
                );
                let t = m.connect(&ep).await.expect("connect");
                t.close().await;
                m.close().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// RSS of a router before and after 10,000 transports (after a warm-up of 1,000). With
/// `PLEXUSD_BIN` set, that binary is measured instead of this build's (e.g. an older one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress: 22,000 transports; run for the figures"]
async fn stress_figures_rss_over_10000_transports() {
    let plexusd = match std::env::var("PLEXUSD_BIN") {
        Ok(bin) => {
            let mut cmd = Command::new(bin);
            cmd.args(["-l", "tcp/127.0.0.1:0"]).env("RUST_LOG", "info");
            Daemon::spawn(cmd).await
        }
        Err(_) => Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await,
    };
    for (name, router) in [("plexusd", plexusd), ("zenoh router", zenoh_router().await)] {
        let start = rss_kib(router.pid);
        churn(&router.locator, 1_000).await;
        let warm = rss_kib(router.pid);
        let t0 = Instant::now();
        churn(&router.locator, 10_000).await;
        let end = rss_kib(router.pid);
        println!(
            "{name}: RSS {start} KiB at start, {warm} KiB after 1,000 transports, {end} KiB after 10,000 more ({:+} KiB; {:?})",
            end as i64 - warm as i64,
            t0.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress: minutes of flooding; run for the figures"]
async fn stress_figures_plexusd_and_zenoh_router() {
    for cc in [CongestionControl::Block, CongestionControl::Drop] {
        scenario(
            "plexusd",
            Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await,
            cc,
            true,
        )
        .await;
        scenario("zenoh router", zenoh_router().await, cc, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress: a minute of flooding; run for the figures"]
async fn stress_figures_control_without_a_stalled_peer() {
    for cc in [CongestionControl::Block, CongestionControl::Drop] {
        scenario(
            "plexusd, nobody stalled",
            Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await,
            cc,
            false,
        )
        .await;
        scenario(
            "zenoh router, nobody stalled",
            zenoh_router().await,
            cc,
            false,
        )
        .await;
    }
}
