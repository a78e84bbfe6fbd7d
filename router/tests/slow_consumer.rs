//! A subscriber that stops reading, through a real `plexusd`: a client that completes
//! the handshake, declares a subscriber, keeps its lease alive and never reads, while
//! a publisher sends 8-byte messages at a steady [`RATE`] and a healthy subscriber on
//! the same key counts them.
//!
//! - `Block`: the stalled transport is closed within `wait_before_close` + 1 s with the
//!   reason "slow consumer" (in the log and in the router's closed-transport history in
//!   its admin space), the router's RSS stays bounded, and the
//!   healthy subscriber is back to at least 90 % of its solo rate within 1 s after.
//! - `Drop`: the healthy subscriber never falls below 90 % of its solo rate, and the
//!   drops are counted in the stalled transport's admin JSON.
//!
//! Rates are measured in this run, in windows of [`WINDOW`]: the solo rate is the
//! median of [`SOLO_WINDOWS`] windows; a window's rate is compared with it. The
//! publisher is paced (rather than flooding) so that on a loaded two-core machine the
//! healthy subscriber's rate measures what reaches it, not how much CPU the test gets:
//! a flooding publisher's rate swings by a factor of two from one window to the next
//! there. (Flood figures are in the note, measured with `z_pub_thr`.) The two
//! tests hold a lock so they never run at the same time.

mod common;

use std::time::{Duration, Instant};

use common::{Counter, Daemon, RawClient, WAIT, client, median};
use plexus::CongestionControl;
use tokio::time::timeout;

/// The publisher's rate, well below what a debug build carries on a loaded machine.
const RATE: u64 = 50_000;
/// The length of one rate measurement.
const WINDOW: Duration = Duration::from_millis(500);
/// How many windows measure the solo rate.
const SOLO_WINDOWS: usize = 5;
/// `wait_before_close` in these tests (Zenoh's default is 5 s).
const WAIT_BEFORE_CLOSE: Duration = Duration::from_secs(2);
/// The router's RSS may grow this much over its level before the stall.
const RSS_BOUND_KIB: u64 = 24 * 1024;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn config() -> String {
    format!(
        "{{ transport: {{ link: {{ tx: {{ queue: {{ congestion_control: {{ block: {{ wait_before_close: {} }} }} }} }} }} }} }}",
        WAIT_BEFORE_CLOSE.as_micros()
    )
}

/// A router, a healthy subscriber counting on `thr/**` and a publisher flooding
/// `thr/data` with `cc`; returns once the flood reaches the subscriber.
struct Setup {
    daemon: Daemon,
    healthy: Counter,
    _sessions: Vec<plexus::Session>,
    _publishing: tokio::task::JoinHandle<()>,
}

async fn setup(cc: CongestionControl) -> Setup {
    let daemon = Daemon::with_config("slow", Some(&config())).await;
    let sub_side = client(&daemon.locator).await;
    let healthy = Counter::default();
    let h = healthy.clone();
    let sub = sub_side
        .declare_subscriber("thr/**")
        .callback(move |_| h.add())
        .await
        .expect("subscribe");
    std::mem::forget(sub); // lives as long as its session
    let pub_side = client(&daemon.locator).await;
    let publisher = pub_side
        .declare_publisher("thr/data")
        .congestion_control(cc)
        .await
        .expect("publisher");
    let publishing = tokio::spawn(async move {
        let payload = bytes::Bytes::from_static(b"01234567");
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            tick.tick().await;
            // On schedule on average whatever the timer's jitter; after being held back
            // it catches up 10 ms at most (the rest is simply not sent).
            let due = (RATE as f64 * start.elapsed().as_secs_f64()) as u64;
            sent = sent.max(due.saturating_sub(RATE / 100));
            while sent < due {
                if publisher.put(payload.clone()).await.is_err() {
                    return;
                }
                sent += 1;
            }
        }
    });
    let flowing = timeout(WAIT, async {
        while healthy.get() == 0 {
            healthy.rate(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(flowing.is_ok(), "the flood never reached the subscriber");
    Setup {
        daemon,
        healthy,
        _sessions: vec![sub_side, pub_side],
        _publishing: publishing,
    }
}

/// Warms up, then measures the healthy subscriber's solo rate.
async fn solo_rate(healthy: &Counter) -> f64 {
    healthy.rate(Duration::from_secs(1)).await;
    let mut rates = Vec::new();
    for _ in 0..SOLO_WINDOWS {
        rates.push(healthy.rate(WINDOW).await);
    }
    let solo = median(rates.clone());
    eprintln!("solo rate {solo:.0} msg/s (windows: {rates:.0?})");
    solo
}

/// Samples the router's RSS every 50 ms until told to stop; returns the largest.
fn sample_rss(
    pid: u32,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<u64>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut max = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            max = max.max(common::rss_kib(pid));
            tokio::select! {
                _ = &mut stopped => return max,
                _ = tick.tick() => {}
            }
        }
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_block_subscriber_is_closed_as_slow_consumer_and_the_others_recover() {
    let _serial = SERIAL.lock().await;
    let setup = setup(CongestionControl::Block).await;
    let (mut daemon, healthy) = (setup.daemon, setup.healthy.clone());
    let (sessions, _publishing) = (setup._sessions, setup._publishing);
    let solo = solo_rate(&healthy).await;
    let rss_before = daemon.rss_kib();
    let (stop_rss, rss) = sample_rss(daemon.pid);

    let (stop_trace, trace) = trace(healthy.clone());

    let mut raw = RawClient::connect(daemon.socket_addr(), Duration::from_secs(4), 4096).await;
    raw.declare_subscriber("thr/**").await;
    let stalled_since = Instant::now();
    let zid = raw.zid;
    let (_stop, _kept) = raw.keep_alive();

    // Once the router's buffers towards it are full, the others are held back, at most
    // wait_before_close.
    let close_line = format!("transport to {zid} closed: slow consumer");
    let (closed_at, line) = daemon
        .line_with(&close_line, WAIT_BEFORE_CLOSE + Duration::from_secs(5))
        .await;
    eprintln!("{line}");

    // Back to speed within 1 s: the window that ends 1 s after the close.
    let since_close = closed_at.elapsed();
    if since_close < Duration::from_millis(500) {
        tokio::time::sleep(Duration::from_millis(500) - since_close).await;
    }
    let after = healthy.rate(WINDOW).await;
    let later = healthy.rate(WINDOW).await;
    let _ = stop_rss.send(());
    let rss_max = rss.await.expect("rss sampler");
    let _ = stop_trace.send(());
    let trace = trace.await.expect("trace");

    // When the hold-back began: the first tick after the stall that brought the healthy
    // subscriber less than a tenth of its solo rate.
    let held_since = trace
        .windows(2)
        .find(|w| {
            w[0].0 >= stalled_since
                && ((w[1].1 - w[0].1) as f64) < 0.1 * solo * (w[1].0 - w[0].0).as_secs_f64()
        })
        .map(|w| w[0].0)
        .expect("the healthy subscriber was never held back");
    let held = closed_at - held_since;
    let during = {
        let n = |t: Instant| trace.iter().find(|s| s.0 >= t).map(|s| s.1).unwrap_or(0);
        (n(closed_at) - n(held_since)) as f64 / held.as_secs_f64()
    };
    eprintln!(
        "buffers towards the stalled subscriber full {:?} after it stalled; closed {held:?} after that ({:?} after the stall)",
        held_since - stalled_since,
        closed_at - stalled_since
    );
    eprintln!(
        "healthy subscriber: solo {solo:.0} msg/s, {during:.0} msg/s while held back, {after:.0} msg/s in [0.5 s, 1 s] after the close, {later:.0} msg/s in [1 s, 1.5 s]"
    );
    eprintln!(
        "router RSS {rss_before} KiB before the stall, at most {rss_max} KiB until 1.5 s after the close"
    );
    assert!(
        held <= WAIT_BEFORE_CLOSE + Duration::from_secs(1),
        "the others were held back {held:?} (wait_before_close {WAIT_BEFORE_CLOSE:?})"
    );
    assert!(
        after >= 0.9 * solo,
        "the healthy subscriber got {after:.0} msg/s 1 s after the close, solo {solo:.0} msg/s"
    );
    assert!(
        rss_max <= rss_before + RSS_BOUND_KIB,
        "router RSS grew from {rss_before} KiB to {rss_max} KiB"
    );

    // The router's closed-transport history (its admin space, which the REST plugin
    // serves too) gives the reason.
    let closed = closed_transport(&sessions[0], &zid.to_string()).await;
    eprintln!("the router's history of the stalled transport: {closed}");
    assert_eq!(closed["reason"], "slow consumer", "{closed}");
    assert_eq!(closed["whatami"], "client", "{closed}");
}

/// The entry for `zid` in the router's `@/<router zid>/router/transports/closed`, read by
/// `session` (a client of that router).
async fn closed_transport(session: &plexus::Session, zid: &str) -> serde_json::Value {
    let routers = session.info().routers_zid();
    assert_eq!(routers.len(), 1, "one router: {routers:?}");
    let key = format!("@/{}/router/transports/closed", routers[0]);
    let found = timeout(WAIT, async {
        loop {
            let replies = session.get(key.as_str()).await.expect("get");
            while let Ok(reply) = replies.recv_async().await {
                let Ok(sample) = reply.result() else { continue };
                let list: serde_json::Value =
                    serde_json::from_slice(sample.payload()).expect("JSON");
                if let Some(e) = list
                    .as_array()
                    .and_then(|l| l.iter().find(|e| e["zid"] == zid))
                {
                    return e.clone();
                }
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{zid} is not in the router's {key}"))
}

/// Records the counter every 20 ms until told to stop.
#[allow(clippy::type_complexity)]
fn trace(
    c: Counter,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Vec<(Instant, u64)>>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut out = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            out.push((Instant::now(), c.get()));
            tokio::select! {
                _ = &mut stopped => return out,
                _ = tick.tick() => {}
            }
        }
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_drop_subscriber_costs_the_others_nothing_and_its_drops_are_counted() {
    let _serial = SERIAL.lock().await;
    let setup = setup(CongestionControl::Drop).await;
    let (mut daemon, healthy) = (setup.daemon, setup.healthy.clone());
    let _keep = (setup._sessions, setup._publishing);
    let solo = solo_rate(&healthy).await;
    let rss_before = daemon.rss_kib();
    let (stop_rss, rss) = sample_rss(daemon.pid);

    let mut raw = RawClient::connect(daemon.socket_addr(), Duration::from_secs(4), 4096).await;
    raw.declare_subscriber("thr/**").await;
    let zid = raw.zid;
    let (_stop, _kept) = raw.keep_alive();

    // Two wait_before_close periods of stall, window by window.
    let mut rates = Vec::new();
    let windows = (2 * WAIT_BEFORE_CLOSE).as_millis() / WINDOW.as_millis();
    for _ in 0..windows {
        rates.push(healthy.rate(WINDOW).await);
    }
    let _ = stop_rss.send(());
    let rss_max = rss.await.expect("rss sampler");
    let worst = rates.iter().copied().fold(f64::INFINITY, f64::min);
    eprintln!("healthy subscriber: solo {solo:.0} msg/s; with a stalled peer: {rates:.0?}");
    eprintln!("router RSS {rss_before} KiB before the stall, at most {rss_max} KiB during it");

    let stats = daemon.stats().await;
    let stalled = stats
        .transport(&zid)
        .unwrap_or_else(|| panic!("the stalled transport is still open: {stats:?}"));
    let dropped = stalled["stats"]["dropped"].as_u64().expect("stats.dropped");
    eprintln!("the stalled transport's admin JSON: {stalled}");
    assert!(dropped > 0, "no drop counted: {stalled}");
    // What waits for the stalled subscriber is what its bounded queue holds: something,
    // and no more than every stage's batches with their slack (8 stages, 2 x 16 batches
    // of 64 KiB at most).
    let queued = stalled["stats"]["tx_queued_bytes"]
        .as_u64()
        .expect("stats.tx_queued_bytes");
    assert!(
        queued > 0 && queued <= 8 * 32 * 65_536,
        "tx_queued_bytes {queued}: {stalled}"
    );
    assert!(
        worst >= 0.9 * solo,
        "the healthy subscriber fell to {worst:.0} msg/s (solo {solo:.0}): {rates:.0?}"
    );
    assert!(
        rss_max <= rss_before + RSS_BOUND_KIB,
        "router RSS grew from {rss_before} KiB to {rss_max} KiB"
    );
}
