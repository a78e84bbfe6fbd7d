//! Mixed meshes: `plexusd` – Zenoh 1.10.2 router – `plexusd` with a Plexus client at each
//! end, and Zenoh router – `plexusd` – Zenoh router with a Zenoh client at one end and a
//! Plexus client at the other: link states, sourced declarations and data cross the
//! middle router both ways, and so do queries.

mod common;

use std::time::Duration;

use common::{Plexusd, WAIT, answering_queryable, client, poll, replies_once_routed};
use plexus::{CongestionControl, Sample, Session};
use tokio::sync::watch;
use tokio::time::timeout;

async fn zenoh_router(connect: &str) -> (zenoh::Session, String) {
    zenoh_session("router", Some("tcp/127.0.0.1:0"), connect).await
}

/// A Zenoh session in `mode`, listening on `listen` (if given) and connected to `connect`,
/// with its first TCP locator (empty for a client).
async fn zenoh_session(
    mode: &str,
    listen: Option<&str>,
    connect: &str,
) -> (zenoh::Session, String) {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", &format!(r#""{mode}""#)).unwrap();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    let listen = listen.map(|l| format!(r#""{l}""#)).unwrap_or_default();
    c.insert_json5("listen/endpoints", &format!("[{listen}]"))
        .unwrap();
    c.insert_json5("connect/endpoints", &format!(r#"["{connect}"]"#))
        .unwrap();
    let z = timeout(WAIT, zenoh::open(c))
        .await
        .expect("zenoh opens in time")
        .expect("zenoh session");
    if listen.is_empty() {
        return (z, String::new());
    }
    let loc = z
        .info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("a tcp locator")
        .to_string();
    (z, loc)
}

/// What a subscriber received so far, to read or to await.
type Seen = watch::Sender<Vec<String>>;

async fn subscriber(s: &Session, key: &str) -> (plexus::Subscriber<()>, Seen) {
    let seen = Seen::default();
    let keep = seen.clone();
    let sub = s
        .declare_subscriber(key)
        .callback(move |sample: Sample| {
            let text = String::from_utf8_lossy(sample.payload()).into_owned();
            keep.send_modify(|v| v.push(text));
        })
        .await
        .expect("subscriber");
    (sub, seen)
}

/// Puts "warm" with `put` until `seen` has one (the subscription crossed the mesh), then
/// clears it; panics with `failure` after 20 s.
async fn warm_up_with(seen: &Seen, failure: &str, put: impl AsyncFn()) {
    let mut rx = seen.subscribe();
    timeout(Duration::from_secs(20), async {
        loop {
            put().await;
            // It arrives within 50 ms of this put, or the next put is a new chance.
            let one = rx.wait_for(|v| !v.is_empty());
            if matches!(timeout(Duration::from_millis(50), one).await, Ok(Ok(_))) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{failure}"));
    seen.send_modify(Vec::clear);
}

/// Puts "warm" on `key` until `seen` has one (the subscription crossed the mesh), then
/// clears it.
async fn warm_up(publisher: &Session, key: &str, seen: &Seen) {
    let failure = "the subscription never crossed the mixed mesh";
    warm_up_with(seen, failure, async || {
        publisher.put(key, "warm").await.expect("put");
    })
    .await;
}

async fn until_len(seen: &Seen, n: usize) -> Vec<String> {
    let data =
        |v: &Vec<String>| -> Vec<String> { v.iter().filter(|s| *s != "warm").cloned().collect() };
    let mut rx = seen.subscribe();
    let all = rx.wait_for(|v| data(v).len() >= n);
    let got = timeout(WAIT, all).await.expect("messages missing");
    data(&got.expect("the subscriber's sender"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_zenoh_plexus_chain_carries_pub_sub_and_queries_both_ways() {
    let a = Plexusd::start(&[]).await;
    let (z, z_loc) = zenoh_router(&a.locator).await;
    let c = Plexusd::start(&["-e", &z_loc]).await;
    let left = client(&a.locator).await;
    let right = client(&c.locator).await;

    // Left to right.
    let (_s1, seen) = subscriber(&right, "mix/lr/**").await;
    warm_up(&left, "mix/lr/x", &seen).await;
    for i in 0..100 {
        left.put("mix/lr/x", i.to_string())
            .congestion_control(CongestionControl::Block)
            .await
            .expect("put");
    }
    let got = until_len(&seen, 100).await;
    assert_eq!(got, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());

    // Right to left.
    let (_s2, back) = subscriber(&left, "mix/rl/**").await;
    warm_up(&right, "mix/rl/y", &back).await;
    right.put("mix/rl/y", "hello").await.expect("put");
    assert_eq!(until_len(&back, 1).await, ["hello"]);

    // A query from the left answered on the right, through the Zenoh router.
    let _q = answering_queryable(&right, "mix/svc/**", "answer").await;
    assert_eq!(plexus_get(&left, "mix/svc/1").await, ["answer"]);
    z.close().await.expect("close zenoh");
}

/// Gets `key` from `s` until one reply comes (the queryable crossed the mesh); returns the
/// replies of that round.
async fn plexus_get(s: &Session, key: &str) -> Vec<String> {
    replies_once_routed(s, key, Duration::from_secs(20))
        .await
        .iter()
        .map(|r| {
            let s = r.result().expect("a sample");
            String::from_utf8_lossy(s.payload()).into_owned()
        })
        .collect()
}

/// A Zenoh subscriber that keeps the payloads it receives.
async fn zenoh_subscriber(z: &zenoh::Session, key: &str) -> (zenoh::pubsub::Subscriber<()>, Seen) {
    let seen = Seen::default();
    let keep = seen.clone();
    let sub = z
        .declare_subscriber(key)
        .callback(move |sample| {
            let text = String::from_utf8_lossy(&sample.payload().to_bytes()).into_owned();
            keep.send_modify(|v| v.push(text));
        })
        .await
        .expect("zenoh subscriber");
    (sub, seen)
}

/// Gets `key` from `z` until one reply comes (the queryable crossed the mesh); returns the
/// replies of that round.
async fn zenoh_get(z: &zenoh::Session, key: &str) -> Vec<String> {
    let what = "the query crossing the mixed mesh";
    let (within, every) = (Duration::from_secs(20), Duration::from_millis(50));
    poll::until(what, within, every, async || {
        let rx = z
            .get(key)
            .timeout(Duration::from_secs(2))
            .await
            .expect("zenoh get");
        let mut replies = Vec::new();
        while let Ok(r) = rx.recv_async().await {
            let s = r.result().expect("a sample");
            replies.push(String::from_utf8_lossy(&s.payload().to_bytes()).into_owned());
        }
        if replies.is_empty() {
            return Err("no reply");
        }
        Ok(replies)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_plexus_zenoh_chain_carries_pub_sub_and_queries_both_ways() {
    // Zenoh router z1 – plexusd b – Zenoh router z2; a Zenoh client on z1, a Plexus
    // client on z2.
    let b = Plexusd::start(&[]).await;
    let (z1, z1_loc) = zenoh_router(&b.locator).await;
    let (z2, z2_loc) = zenoh_router(&b.locator).await;
    let (left, _) = zenoh_session("client", None, &z1_loc).await;
    let right = client(&z2_loc).await;

    // Left (Zenoh) to right (Plexus), in order.
    let (_s1, seen) = subscriber(&right, "mir/lr/**").await;
    let failure = "the Plexus subscription never reached the Zenoh client";
    warm_up_with(&seen, failure, async || {
        left.put("mir/lr/x", "warm").await.expect("zenoh put");
    })
    .await;
    for i in 0..100 {
        left.put("mir/lr/x", i.to_string())
            .congestion_control(zenoh::qos::CongestionControl::Block)
            .await
            .expect("zenoh put");
    }
    let got = until_len(&seen, 100).await;
    assert_eq!(got, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());

    // Right (Plexus) to left (Zenoh).
    let (_s2, back) = zenoh_subscriber(&left, "mir/rl/**").await;
    warm_up(&right, "mir/rl/y", &back).await;
    for i in 0..100 {
        right
            .put("mir/rl/y", i.to_string())
            .congestion_control(CongestionControl::Block)
            .await
            .expect("put");
    }
    let got = until_len(&back, 100).await;
    assert_eq!(got, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());

    // A query from the Zenoh client answered by the Plexus client…
    let _q = answering_queryable(&right, "mir/plx/**", "from plexus").await;
    assert_eq!(zenoh_get(&left, "mir/plx/1").await, ["from plexus"]);

    // …and one from the Plexus client answered by the Zenoh client.
    let _zq = left
        .declare_queryable("mir/zen/**")
        .callback(|q| {
            zenoh::Wait::wait(q.reply(q.key_expr().clone(), "from zenoh")).expect("zenoh reply");
        })
        .await
        .expect("zenoh queryable");
    assert_eq!(plexus_get(&right, "mir/zen/2").await, ["from zenoh"]);
    for z in [left, z1, z2] {
        z.close().await.expect("close zenoh");
    }
}
