//! Routing through a router: Plexus clients through a Plexus router, Plexus clients
//! through a Zenoh router, and Zenoh clients through a Plexus router.

use std::time::Duration;

use plexus::{Config, Query, Reply, Sample, Session, WhatAmI};
use plexus_link::Endpoint;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn ep(s: &str) -> Endpoint {
    s.parse().expect("endpoint")
}

async fn plexus_router() -> (Session, String) {
    let r = plexus::open(
        Config::default()
            .with_mode(WhatAmI::Router)
            .with_listen(vec![ep("tcp/127.0.0.1:0")]),
    )
    .await
    .expect("open router");
    let loc = r.locators().first().expect("listener").to_string();
    (r, loc)
}

async fn plexus_client(router: &str) -> Session {
    plexus::open(
        Config::default()
            .with_mode(WhatAmI::Client)
            .with_listen(vec![])
            .with_connect(vec![ep(router)]),
    )
    .await
    .expect("open client")
}

fn zenoh_config(mode: &str, connect: Option<&str>, listen: Option<&str>) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", &format!(r#""{mode}""#))
        .expect("mode");
    c.insert_json5("scouting/multicast/enabled", "false")
        .expect("scouting");
    let connect = connect
        .map(|e| format!(r#"["{e}"]"#))
        .unwrap_or("[]".into());
    c.insert_json5("connect/endpoints", &connect)
        .expect("connect");
    let listen = listen.map(|e| format!(r#"["{e}"]"#)).unwrap_or("[]".into());
    c.insert_json5("listen/endpoints", &listen).expect("listen");
    c
}

/// Publishes probes on `key` until `rx` receives one (the subscription was routed).
async fn until_routed(put_on: &Session, key: &str, rx: &flume::Receiver<Sample>) {
    timeout(WAIT, async {
        loop {
            put_on.put(key, "probe").await.expect("put");
            if let Ok(Ok(_)) = timeout(Duration::from_millis(100), rx.recv_async()).await {
                return;
            }
        }
    })
    .await
    .expect("the subscription never reached the publisher");
    while rx.try_recv().is_ok() {}
}

async fn recv(rx: &flume::Receiver<Sample>) -> Sample {
    timeout(WAIT, rx.recv_async())
        .await
        .expect("no sample within 10 s")
        .expect("channel")
}

/// Queries until a reply arrives (the queryable's declaration was routed).
async fn get_one(s: &Session, selector: &str) -> Reply {
    timeout(WAIT, async {
        loop {
            let rx = s
                .get(selector)
                .timeout(Duration::from_secs(2))
                .await
                .expect("get");
            if let Ok(r) = rx.recv_async().await {
                return r;
            }
        }
    })
    .await
    .expect("no reply within 10 s")
}

async fn exchange(a: &Session, b: &Session) {
    let sub = b.declare_subscriber("route/**").await.expect("subscribe");
    until_routed(a, "route/probe", &sub).await;
    a.put("route/x", "through the router").await.expect("put");
    let s = recv(&sub).await;
    assert_eq!(s.key_expr().as_str(), "route/x");
    assert_eq!(&s.payload()[..], b"through the router");

    let _q = b
        .declare_queryable("rq/**")
        .callback(|q: Query| {
            tokio::spawn(async move { q.reply("rq/k", "answer").await.expect("reply") });
        })
        .await
        .expect("queryable");
    let r = get_one(a, "rq/k").await;
    assert_eq!(&r.result().expect("ok").payload()[..], b"answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plexus_clients_through_a_plexus_router() {
    let (_router, loc) = plexus_router().await;
    let a = plexus_client(&loc).await;
    let b = plexus_client(&loc).await;
    exchange(&a, &b).await;
    exchange(&b, &a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_plexus_clients_through_a_zenoh_router() {
    let router = zenoh::open(zenoh_config("router", None, Some("tcp/127.0.0.1:0")))
        .await
        .expect("zenoh router");
    let loc = router
        .info()
        .locators()
        .await
        .into_iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("zenoh router's tcp locator")
        .to_string();
    let a = plexus_client(&loc).await;
    let b = plexus_client(&loc).await;
    exchange(&a, &b).await;
    router.close().await.expect("close router");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_zenoh_clients_through_a_plexus_router() {
    let (_router, loc) = plexus_router().await;
    let za = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh a");
    let zb = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh b");

    let sub = zb
        .declare_subscriber("zr/**")
        .await
        .expect("zenoh subscribe");
    let first = timeout(WAIT, async {
        loop {
            za.put("zr/probe", "probe").await.expect("zenoh put");
            if let Ok(Ok(s)) = timeout(Duration::from_millis(100), sub.recv_async()).await {
                return s;
            }
        }
    })
    .await
    .expect("Zenoh client b never got Zenoh client a's put through Plexus");
    assert_eq!(first.key_expr().as_str(), "zr/probe");

    let _q = zb
        .declare_queryable("zrq/**")
        .callback(|q| {
            tokio::spawn(async move { q.reply("zrq/k", "zenoh answer").await.expect("reply") });
        })
        .await
        .expect("zenoh queryable");
    let reply = timeout(WAIT, async {
        loop {
            let replies = za.get("zrq/k").await.expect("zenoh get");
            if let Ok(r) = replies.recv_async().await {
                return r;
            }
        }
    })
    .await
    .expect("Zenoh client a never got a reply through Plexus");
    assert_eq!(
        reply.result().expect("ok").payload().to_bytes().as_ref(),
        b"zenoh answer"
    );
    za.close().await.expect("close");
    zb.close().await.expect("close");
}
