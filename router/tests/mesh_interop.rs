//! A mixed mesh: `plexusd` – Zenoh 1.10.2 router – `plexusd`, with a Plexus client at
//! each end: link states, sourced declarations and data cross the Zenoh router both
//! ways, and so does a query.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Plexusd, WAIT};
use plexus::{Config, CongestionControl, Query, Sample, Session, WhatAmI};
use plexus_link::Endpoint;
use tokio::time::timeout;

async fn client(locator: &str) -> Session {
    let ep: Endpoint = locator.parse().expect("locator parses as an endpoint");
    plexus::open(
        Config::default()
            .with_mode(WhatAmI::Client)
            .with_connect(vec![ep]),
    )
    .await
    .expect("client session")
}

async fn zenoh_router(connect: &str) -> (zenoh::Session, String) {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", r#""router""#).unwrap();
    c.insert_json5("scouting/multicast/enabled", "false")
        .unwrap();
    c.insert_json5("listen/endpoints", r#"["tcp/127.0.0.1:0"]"#)
        .unwrap();
    c.insert_json5("connect/endpoints", &format!(r#"["{connect}"]"#))
        .unwrap();
    let z = zenoh::open(c).await.expect("zenoh router");
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

type Seen = Arc<Mutex<Vec<String>>>;

async fn subscriber(s: &Session, key: &str) -> (plexus::Subscriber<()>, Seen) {
    let seen: Seen = Arc::default();
    let keep = seen.clone();
    let sub = s
        .declare_subscriber(key)
        .callback(move |sample: Sample| {
            keep.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(sample.payload()).into_owned());
        })
        .await
        .expect("subscriber");
    (sub, seen)
}

/// Puts "warm" until `seen` has one (the subscription crossed the mesh), then clears it.
async fn warm_up(publisher: &Session, key: &str, seen: &Seen) {
    timeout(Duration::from_secs(20), async {
        loop {
            publisher.put(key, "warm").await.expect("put");
            tokio::time::sleep(Duration::from_millis(50)).await;
            if !seen.lock().expect("lock").is_empty() {
                break;
            }
        }
    })
    .await
    .expect("the subscription never crossed the mixed mesh");
    seen.lock().expect("lock").clear();
}

async fn until_len(seen: &Seen, n: usize) -> Vec<String> {
    timeout(WAIT, async {
        loop {
            let v: Vec<String> = seen
                .lock()
                .expect("lock")
                .iter()
                .filter(|s| *s != "warm")
                .cloned()
                .collect();
            if v.len() >= n {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("messages missing")
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
    let _q = right
        .declare_queryable("mix/svc/**")
        .callback(|q: Query| {
            tokio::spawn(async move {
                q.reply(q.key_expr().clone(), "answer")
                    .await
                    .expect("reply");
            });
        })
        .await
        .expect("queryable");
    let replies = timeout(Duration::from_secs(20), async {
        loop {
            let rx = left
                .get("mix/svc/1")
                .timeout(Duration::from_secs(2))
                .await
                .expect("get");
            let mut replies = Vec::new();
            while let Ok(r) = rx.recv_async().await {
                replies.push(r);
            }
            if !replies.is_empty() {
                return replies;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the query never crossed the mixed mesh");
    assert_eq!(replies.len(), 1);
    assert_eq!(
        &replies[0].result().expect("a sample").payload()[..],
        b"answer"
    );
    z.close().await.expect("close zenoh");
}
