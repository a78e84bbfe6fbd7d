//! Routing through a router: Plexus clients through a Plexus router. (Zenoh routers and
//! Zenoh clients: `interop_matrix.rs`.)

mod common;

use std::time::Duration;

use common::{WAIT, plexus_connected, plexus_listening, recv, until_routed};
use plexus::{Query, Reply, Session, WhatAmI};
use tokio::time::timeout;

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
    let (_router, loc) = plexus_listening(WhatAmI::Router).await;
    let a = plexus_connected(WhatAmI::Client, &loc).await;
    let b = plexus_connected(WhatAmI::Client, &loc).await;
    exchange(&a, &b).await;
    exchange(&b, &a).await;
}
