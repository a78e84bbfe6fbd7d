//! Sessions keep (re)connecting to `connect/endpoints`: after their router restarts they
//! reconnect and re-declare what they had declared, and opening follows Zenoh's
//! `connect/timeout_ms` and `connect/exit_on_failure`.
//!
//! A router "restarts" by closing and a new one listening on the same port; the port
//! is taken again right after it was freed (the scenario under test).

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, ep};
use plexus::{Config, SampleKind, Session, WhatAmI};
use tokio::time::timeout;

async fn router_on(endpoint: &str) -> Session {
    plexus::open(
        Config::default()
            .with_mode(WhatAmI::Router)
            .with_listen(vec![ep(endpoint)]),
    )
    .await
    .expect("router")
}

/// A port that was free a moment ago (nothing listens on it now).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn client_config(to: &str) -> Config {
    Config::default()
        .with_mode(WhatAmI::Client)
        .with_connect(vec![ep(to)])
}

/// Publishes until the subscriber gets something; returns when it did.
async fn delivered(
    publisher: &plexus::Publisher,
    sub: &flume::Receiver<plexus::Sample>,
) -> Instant {
    loop {
        publisher.put("x").await.expect("put");
        if timeout(Duration::from_millis(50), sub.recv_async())
            .await
            .is_ok()
        {
            return Instant::now();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reconnect_and_redeclare_after_their_router_restarts() {
    let first = router_on("tcp/127.0.0.1:0").await;
    let loc = first.locators()[0].to_string();
    let sub_side = plexus::open(client_config(&loc)).await.expect("client");
    let sub = sub_side
        .declare_subscriber("rc/**")
        .await
        .expect("subscribe");
    let (etx, events) = flume::unbounded();
    let _admin = sub_side
        .declare_subscriber(
            format!(
                "@/session/{}/transport/unicast/*",
                sub_side.zid().to_string().to_uppercase()
            )
            .as_str(),
        )
        .callback(move |s| {
            let _ = etx.send((s.kind(), s.attachment().cloned()));
        })
        .await
        .expect("admin subscriber");
    let pub_side = plexus::open(client_config(&loc)).await.expect("client");
    let publisher = pub_side
        .declare_publisher("rc/data")
        .await
        .expect("publisher");
    timeout(WAIT, delivered(&publisher, &sub))
        .await
        .expect("delivered through the first router");

    // The router goes, another comes on the same address.
    first.close().await;
    let (kind, reason) = timeout(WAIT, events.recv_async())
        .await
        .expect("the transport's Delete")
        .expect("open");
    assert_eq!(kind, SampleKind::Delete);
    let reason = String::from_utf8_lossy(&reason.expect("a reason")).to_string();
    assert!(reason.contains("closed by peer"), "{reason}");
    let second = router_on(&loc).await;
    let restarted = Instant::now();
    let (kind, _) = timeout(WAIT, events.recv_async())
        .await
        .expect("a new transport's Put")
        .expect("open");
    assert_eq!(kind, SampleKind::Put);
    // Nothing declared again by the test: the subscriber and the publisher's key id
    // reach the new router by themselves.
    let at = timeout(WAIT, delivered(&publisher, &sub))
        .await
        .expect("delivered through the second router");
    eprintln!("delivery resumed {:?} after the restart", at - restarted);
    assert!(at - restarted <= Duration::from_secs(3));
    assert_eq!(second.info().transports().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_follows_timeout_and_exit_on_failure() {
    let port = closed_port();
    let to = format!("tcp/127.0.0.1:{port}");

    // A client's defaults (timeout 0, exit_on_failure): one attempt, then an error.
    let e = plexus::open(client_config(&to)).await.unwrap_err();
    assert!(e.to_string().contains(&port.to_string()), "{e}");

    // exit_on_failure with a timeout: retries that long, then an error.
    let mut c = client_config(&to);
    c.insert_json5(
        "connect",
        "{ timeout_ms: 1500, retry: { period_init_ms: 100, period_max_ms: 200 } }",
    )
    .unwrap();
    let started = Instant::now();
    assert!(plexus::open(c).await.is_err());
    let tried = started.elapsed();
    assert!(
        tried >= Duration::from_millis(1500),
        "gave up after {tried:?}"
    );

    // Without exit_on_failure: opens at once and connects once the router is there.
    let mut c = client_config(&to);
    c.insert_json5(
        "connect",
        "{ exit_on_failure: false, retry: { period_init_ms: 100, period_max_ms: 200 } }",
    )
    .unwrap();
    let client = timeout(WAIT, plexus::open(c))
        .await
        .expect("opens without waiting")
        .expect("opens");
    assert!(client.info().transports().is_empty());
    let router = router_on(&to).await;
    let connected = timeout(WAIT, async {
        let events = client.info().connectivity_events();
        while client.info().transports().is_empty() {
            let _ = events.recv_async().await;
        }
    })
    .await;
    assert!(connected.is_ok(), "never connected to the late router");
    assert_eq!(router.info().transports().len(), 1);
}
