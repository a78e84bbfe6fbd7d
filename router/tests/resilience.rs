//! `plexusd` survives its clients, and its clients survive it:
//!
//! - killed with SIGKILL and started again on the same port, Plexus clients (a
//!   subscriber and a publisher, a queryable and a querier) and a Zenoh 1.10.2 client
//!   resume within the retry backoff, with nothing re-declared by the test; the admin
//!   space shows the transport's Delete (with its reason) and then the new one's Put;
//! - 10,000 transports opened and closed leave no transport in memory and its RSS
//!   nearly where it was after a warm-up;
//! - a client whose link the router cannot write to (it never reads) and that goes
//!   silent still expires by lease, within its lease + 1 s;
//! - a Zenoh client's 1 MiB put followed by a burst of small `Drop` puts all arrive.
//!
//! The tests hold a lock so that none runs while another measures.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Daemon, RawClient, WAIT, client};
use plexus::{CongestionControl, SampleKind};
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
};
use tokio::time::timeout;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How soon after a restart delivery must resume (Zenoh's default backoff retries 1 s
/// after the first failed attempt).
const RESUME: Duration = Duration::from_secs(3);

fn zenoh_client(locator: &str) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", r#""client""#).expect("mode");
    c.insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    c.insert_json5("connect/endpoints", &format!(r#"["{locator}"]"#))
        .expect("connect");
    c
}

/// Waits for the next item of `rx` that arrives after `since`'s caller drained it.
async fn next_after<T>(rx: &flume::Receiver<T>, within: Duration) -> Option<(Instant, T)> {
    match timeout(within, rx.recv_async()).await {
        Ok(Ok(v)) => Some((Instant::now(), v)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_resume_after_plexusd_is_killed_and_restarted() {
    let _serial = SERIAL.lock().await;
    let first = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let locator = first.locator.clone();
    let port = first.port();

    // A subscriber, and its session's admin events.
    let sub_side = client(&locator).await;
    let (stx, samples) = flume::unbounded();
    let _sub = sub_side
        .declare_subscriber("restart/**")
        .callback(move |s| {
            let _ = stx.send(s);
        })
        .await
        .expect("subscribe");
    let (atx, admin) = flume::unbounded();
    let admin_key = format!(
        "@/session/{}/transport/unicast/*",
        sub_side.zid().to_string().to_uppercase()
    );
    let _admin = sub_side
        .declare_subscriber(admin_key.as_str())
        .callback(move |s| {
            let _ = atx.send(s);
        })
        .await
        .expect("admin subscriber");

    // A publisher publishing every 10 ms, whatever happens.
    let pub_side = client(&locator).await;
    let publisher = pub_side
        .declare_publisher("restart/data")
        .congestion_control(CongestionControl::Block)
        .await
        .expect("publisher");
    let publishing = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for i in 0u64.. {
            tick.tick().await;
            let _ = publisher.put(i.to_le_bytes().to_vec()).await;
        }
    });

    // A queryable, and a querier.
    let q_side = client(&locator).await;
    let _qbl = q_side
        .declare_queryable("restart/q")
        .callback(|q| {
            tokio::spawn(async move {
                let key = q.key_expr().clone();
                let _ = q.reply(key, "here").await;
            });
        })
        .await
        .expect("queryable");
    let get_side = client(&locator).await;
    let answered = |get_side: plexus::Session| async move {
        loop {
            let replies = get_side
                .get("restart/q")
                .timeout(Duration::from_millis(300))
                .await
                .expect("get");
            if let Ok(Ok(r)) = timeout(WAIT, replies.recv_async()).await
                && r.result().is_ok()
            {
                return Instant::now();
            }
        }
    };

    // A liveliness token, watched from another session.
    let _token = q_side
        .liveliness()
        .declare_token("restart/alive/q")
        .await
        .expect("token");
    let (ltx, alive) = flume::unbounded();
    let _lsub = sub_side
        .liveliness()
        .declare_subscriber("restart/alive/**")
        .history(true)
        .callback(move |s| {
            let _ = ltx.send(s.kind());
        })
        .await
        .expect("liveliness subscriber");

    // A Zenoh 1.10.2 client subscriber.
    let z = zenoh::open(zenoh_client(&locator))
        .await
        .expect("a Zenoh client");
    let zsub = z
        .declare_subscriber("restart/**")
        .await
        .expect("Zenoh subscriber");

    // Everything flows.
    next_after(&samples, WAIT)
        .await
        .expect("the subscriber gets data");
    timeout(WAIT, zsub.recv_async())
        .await
        .expect("the Zenoh subscriber gets data")
        .expect("open");
    timeout(WAIT, answered(get_side.clone()))
        .await
        .expect("the get is answered");
    assert_eq!(
        next_after(&alive, WAIT).await.map(|(_, k)| k),
        Some(SampleKind::Put),
        "the token is seen alive"
    );
    let routers = sub_side.info().routers_zid();
    assert_eq!(routers.len(), 1, "one router: {routers:?}");
    let old_router = admin_key.replace('*', &routers[0].to_string().to_uppercase());

    // Kill it, start it again on the same port.
    first.kill9().await;
    let killed_at = Instant::now();
    let second = Daemon::start(&["-l", &format!("tcp/127.0.0.1:{port}")]).await;
    let restarted_at = Instant::now();
    eprintln!(
        "plexusd restarted {:?} after SIGKILL",
        restarted_at - killed_at
    );
    while samples.try_recv().is_ok() {}
    while zsub.try_recv().ok().flatten().is_some() {}
    // The router took the token with it.
    let gone = timeout(WAIT, alive.recv_async())
        .await
        .expect("the token's Delete")
        .expect("open");
    assert_eq!(gone, SampleKind::Delete);

    // Measured concurrently: each resumes on its own.
    let (data, zdata, get_at, token) = tokio::join!(
        next_after(&samples, RESUME + WAIT),
        async {
            timeout(RESUME + WAIT, zsub.recv_async())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|_| Instant::now())
        },
        timeout(RESUME + WAIT, answered(get_side.clone())),
        next_after(&alive, RESUME + WAIT),
    );
    let (data_at, _) = data.expect("the subscriber never got data again");
    let zdata_at = zdata.expect("the Zenoh subscriber never got data again");
    let get_at = get_at.expect("the get was never answered again");
    let (token_at, kind) = token.expect("the token was never seen alive again");
    assert_eq!(kind, SampleKind::Put);
    let resumed = data_at - restarted_at;
    let zresumed = zdata_at.saturating_duration_since(restarted_at);
    let get_resumed = get_at - restarted_at;
    let token_resumed = token_at - restarted_at;
    eprintln!(
        "after the restart: pub/sub resumed in {resumed:?}, queryable/get in {get_resumed:?}, the liveliness token in {token_resumed:?}, the Zenoh client in {zresumed:?}"
    );
    assert!(
        token_resumed <= RESUME,
        "the token was seen alive again {token_resumed:?} after the restart"
    );
    assert!(
        resumed <= RESUME,
        "pub/sub resumed {resumed:?} after the restart"
    );
    assert!(
        get_resumed <= RESUME,
        "get answered {get_resumed:?} after the restart"
    );
    assert!(
        zresumed <= RESUME,
        "the Zenoh client resumed {zresumed:?} after the restart"
    );

    // The subscriber's admin space: the old transport's Delete with its reason, then
    // the new transport's Put.
    let deleted = timeout(WAIT, admin.recv_async())
        .await
        .expect("the Delete")
        .expect("open");
    assert_eq!(deleted.kind(), SampleKind::Delete);
    assert_eq!(deleted.key_expr().to_string(), old_router);
    let reason: serde_json::Value = serde_json::from_slice(
        deleted
            .attachment()
            .expect("the Delete carries its reason")
            .as_ref(),
    )
    .expect("JSON attachment");
    eprintln!("admin Delete reason: {reason}");
    assert!(reason["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let put = timeout(WAIT, admin.recv_async())
        .await
        .expect("the new Put")
        .expect("open");
    assert_eq!(put.kind(), SampleKind::Put);
    assert_ne!(put.key_expr().to_string(), old_router, "a new router zid");

    publishing.abort();
    drop(second);
}

/// A transport handler that keeps nothing.
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

/// Opens and closes `n` transports to `locator` (each from a new client zid), 8 at a
/// time; returns how many opened.
async fn churn(locator: &str, n: usize) -> usize {
    let ep: plexus_link::Endpoint = locator.parse().expect("endpoint");
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let ep = ep.clone();
        tasks.spawn(async move {
            let mut opened = 0;
            for _ in (worker..n).step_by(8) {
                let m = TransportManager::new(
                    TransportConfig::new(ZenohId::random(), WhatAmI::Client),
                    Arc::new(Nothing),
                );
                let t = timeout(WAIT, m.connect(&ep))
                    .await
                    .expect("connect in time")
                    .expect("connect");
                t.close().await;
                m.close().await;
                opened += 1;
            }
            opened
        });
    }
    let mut opened = 0;
    while let Some(r) = tasks.join_next().await {
        opened += r.expect("churn task");
    }
    opened
}

/// Reads `n` lines saying a transport closed.
async fn closes(d: &mut Daemon, n: usize) {
    for _ in 0..n {
        d.line_with(" closed: ", WAIT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_transports_opened_and_closed_leave_nothing_behind() {
    const WARM_UP: usize = 1_000;
    const N: usize = 10_000;
    /// How much the router's RSS may grow over the 10,000 after the warm-up.
    const GROWTH_BOUND_KIB: u64 = 4 * 1024;
    let _serial = SERIAL.lock().await;
    let mut d = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let rss_start = d.rss_kib();
    let started = Instant::now();
    assert_eq!(churn(&d.locator, WARM_UP).await, WARM_UP);
    closes(&mut d, WARM_UP).await;
    let warm = d.settled_stats().await;
    assert_eq!((warm.open, warm.alive), (0, 0), "after the warm-up");
    let rss_warm = d.rss_kib();
    assert_eq!(churn(&d.locator, N).await, N);
    closes(&mut d, N).await;
    let stats = d.settled_stats().await;
    let rss_end = d.rss_kib();
    eprintln!(
        "{} transports in {:?}; router RSS {rss_start} KiB at start, {rss_warm} KiB after {WARM_UP}, {rss_end} KiB after {N} more ({:+} KiB); open {}, alive {}",
        WARM_UP + N,
        started.elapsed(),
        rss_end as i64 - rss_warm as i64,
        stats.open,
        stats.alive
    );
    assert_eq!(stats.open, 0, "transports still open");
    assert_eq!(stats.alive, 0, "closed transports still in memory");
    assert!(
        rss_end <= rss_warm + GROWTH_BOUND_KIB,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB over {N} transports"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_the_router_cannot_write_to_expires_by_lease() {
    let _serial = SERIAL.lock().await;
    let lease = Duration::from_secs(1);
    let mut d = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let pub_side = client(&d.locator).await;
    let publisher = pub_side
        .declare_publisher("lease/data")
        .congestion_control(CongestionControl::Drop)
        .await
        .expect("publisher");
    let flooding = tokio::spawn(async move {
        let payload = vec![0u8; 1024];
        loop {
            let _ = publisher.put(payload.clone()).await;
            tokio::task::yield_now().await;
        }
    });
    let mut raw = RawClient::connect(d.socket_addr(), lease, 4096).await;
    // Timed from before the client's last message (the declaration): the router's lease
    // runs from when it read that, which a clock read after the write may follow.
    let silent_since = Instant::now();
    raw.declare_subscriber("lease/**").await;
    let zid = raw.zid;
    // Neither reads nor writes: the router's writer blocks, its reader hears nothing.
    let _held = raw.silent();
    let (expired_at, line) = d
        .line_with(
            &format!("transport to {zid} closed: lease expired"),
            lease + WAIT,
        )
        .await;
    flooding.abort();
    let after = expired_at - silent_since;
    eprintln!("{line}");
    eprintln!("expired {after:?} after the client went silent (lease {lease:?})");
    assert!(after >= lease, "expired early: {after:?}");
    assert!(
        after <= lease + Duration::from_secs(1),
        "expired {after:?} after the client went silent (lease {lease:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zenoh_clients_burst_after_a_large_put_is_not_dropped() {
    let _serial = SERIAL.lock().await;
    let d = Daemon::start(&["-l", "tcp/127.0.0.1:0"]).await;
    let sub_side = client(&d.locator).await;
    let (tx, rx) = flume::unbounded();
    let _sub = sub_side
        .declare_subscriber("burst/**")
        .callback(move |s| {
            let _ = tx.send(s.payload().len());
        })
        .await
        .expect("subscribe");
    let z = zenoh::open(zenoh_client(&d.locator))
        .await
        .expect("a Zenoh client");
    // Routed: a probe gets through.
    timeout(WAIT, async {
        loop {
            z.put("burst/probe", "p").await.expect("put");
            if timeout(Duration::from_millis(100), rx.recv_async())
                .await
                .is_ok()
            {
                return;
            }
        }
    })
    .await
    .expect("the subscription reaches the Zenoh client");
    while rx.try_recv().is_ok() {}
    let big = vec![7u8; 1 << 20];
    for run in 0..10 {
        // As the Python client did: default congestion control (Drop).
        z.put("burst/big", big.clone()).await.expect("put");
        for i in 0..500u32 {
            z.put("burst/small", i.to_le_bytes().to_vec())
                .await
                .expect("put");
        }
        let mut got = 0;
        while got < 501 {
            match timeout(WAIT, rx.recv_async()).await {
                Ok(Ok(_)) => got += 1,
                _ => panic!("run {run}: {got} of 501 delivered"),
            }
        }
    }
}
