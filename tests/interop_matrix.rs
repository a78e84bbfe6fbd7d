//! The interoperability matrix with Zenoh 1.10.2: in each topology (peer ↔ peer, a Zenoh
//! router between two Plexus clients, a Plexus router between two Zenoh clients), Plexus
//! put → Zenoh subscriber, Zenoh put → Plexus subscriber, Plexus get → Zenoh queryable
//! and Zenoh get → Plexus queryable, each with payloads of 0 B, 8 B, 65,537 B
//! (fragmented) and 1 MiB, compared byte for byte; deletes both ways; and a declared
//! publisher, whose publications name their key by a declared id.

mod common;

use std::time::Duration;

use common::{
    SIZES, WAIT, arrived, payload, plexus_connected, plexus_listening, recv, until, zenoh_config,
    zenoh_listening, zrecv,
};
use plexus::{Query, Session, WhatAmI};
use tokio::time::timeout;

/// Zenoh's subscriber receives every size that `put` publishes under `prefix`, then a
/// delete; `put(key, payload)` publishes one (through Plexus or Zenoh).
async fn zenoh_receives_every_size<F, Fut>(z: &zenoh::Session, prefix: &str, what: &str, put: F)
where
    F: Fn(String, Option<Vec<u8>>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sub = z
        .declare_subscriber(format!("{prefix}/**"))
        .await
        .expect("zenoh subscribe");
    until(what, || async {
        put(format!("{prefix}/probe"), Some(b"probe".to_vec())).await;
        matches!(
            timeout(Duration::from_millis(100), sub.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    while sub.try_recv().is_ok_and(|s| s.is_some()) {}
    for len in SIZES {
        let key = format!("{prefix}/{len}");
        put(key.clone(), Some(payload(len))).await;
        let s = zrecv(&sub).await;
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "{what}: payload of {len} bytes differs (got {} bytes)",
            s.payload().len()
        );
    }
    put(format!("{prefix}/gone"), None).await;
    assert_eq!(zrecv(&sub).await.kind(), zenoh::sample::SampleKind::Delete);
}

/// Plexus's subscriber receives every size that `put` publishes under `prefix`, then a
/// delete.
async fn plexus_receives_every_size<F, Fut>(p: &Session, prefix: &str, what: &str, put: F)
where
    F: Fn(String, Option<Vec<u8>>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sub = p
        .declare_subscriber(format!("{prefix}/**"))
        .await
        .expect("subscribe");
    until(what, || async {
        put(format!("{prefix}/probe"), Some(b"probe".to_vec())).await;
        arrived(&sub).await
    })
    .await;
    while sub.try_recv().is_ok() {}
    for len in SIZES {
        let key = format!("{prefix}/{len}");
        put(key.clone(), Some(payload(len))).await;
        let s = recv(&sub).await;
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload()[..] == payload(len)[..],
            "{what}: payload of {len} bytes differs (got {} bytes)",
            s.payload().len()
        );
    }
    put(format!("{prefix}/gone"), None).await;
    assert_eq!(recv(&sub).await.kind(), plexus::SampleKind::Delete);
}

/// A put (`Some`) or delete (`None`) by a Plexus session.
async fn plexus_put(p: &Session, key: String, value: Option<Vec<u8>>) {
    match value {
        Some(v) => p.put(key, v).await.expect("put"),
        None => p.delete(key).await.expect("delete"),
    }
}

/// A put (`Some`) or delete (`None`) by a Zenoh session.
async fn zenoh_put(z: &zenoh::Session, key: String, value: Option<Vec<u8>>) {
    match value {
        Some(v) => z.put(key, v).await.expect("zenoh put"),
        None => z.delete(key).await.expect("zenoh delete"),
    }
}

/// The size a matrix query asks for: the last chunk of its key.
fn asked_size(key: &str) -> usize {
    key.rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A Zenoh queryable on `{prefix}/*` that answers with the size its key asks for.
async fn zenoh_sized_queryable(z: &zenoh::Session, prefix: &str) -> zenoh::query::Queryable<()> {
    z.declare_queryable(format!("{prefix}/*"))
        .callback(|q| {
            tokio::spawn(async move {
                let key = q.key_expr().clone();
                let len = asked_size(key.as_str());
                q.reply(key, payload(len)).await.expect("zenoh reply");
            });
        })
        .await
        .expect("zenoh queryable")
}

/// A Plexus queryable on `{prefix}/*` that answers with the size its key asks for.
async fn plexus_sized_queryable(p: &Session, prefix: &str) -> plexus::Queryable<()> {
    p.declare_queryable(format!("{prefix}/*"))
        .callback(|q: Query| {
            tokio::spawn(async move {
                let key = q.key_expr().clone();
                let len = asked_size(key.as_str());
                q.reply(key, payload(len)).await.expect("reply");
            });
        })
        .await
        .expect("queryable")
}

/// Plexus queries `{prefix}/<size>` for every size and checks each reply.
async fn plexus_gets_every_size(p: &Session, prefix: &str, what: &str) {
    let probe = format!("{prefix}/0");
    until(what, || async {
        let rx = p
            .get(&probe)
            .timeout(Duration::from_secs(2))
            .await
            .expect("get");
        arrived(&rx).await
    })
    .await;
    for len in SIZES {
        let key = format!("{prefix}/{len}");
        let rx = p.get(&key).await.expect("get");
        let reply = timeout(WAIT, rx.recv_async())
            .await
            .expect("no reply within 10 s")
            .expect("the query ended without a reply");
        let s = reply.into_result().expect("an ok reply");
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload()[..] == payload(len)[..],
            "{what}: a reply of {len} bytes differs (got {} bytes)",
            s.payload().len()
        );
    }
}

/// Zenoh queries `{prefix}/<size>` for every size and checks each reply.
async fn zenoh_gets_every_size(z: &zenoh::Session, prefix: &str, what: &str) {
    let probe = format!("{prefix}/0");
    until(what, || async {
        let rx = z
            .get(&probe)
            .timeout(Duration::from_secs(2))
            .await
            .expect("zenoh get");
        matches!(
            timeout(Duration::from_secs(3), rx.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    for len in SIZES {
        let key = format!("{prefix}/{len}");
        let rx = z.get(&key).await.expect("zenoh get");
        let reply = timeout(WAIT, rx.recv_async())
            .await
            .expect("Zenoh got no reply within 10 s")
            .expect("the Zenoh query ended without a reply");
        let s = reply.into_result().expect("an ok reply");
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "{what}: a reply of {len} bytes differs (got {} bytes)",
            s.payload().len()
        );
    }
}

/// All four directions between one Plexus and one Zenoh session, and a Plexus
/// publisher (whose publications carry a declared key-expression id) to Zenoh.
async fn matrix(p: &Session, z: &zenoh::Session, tag: &str) {
    zenoh_receives_every_size(
        z,
        &format!("{tag}/p2z"),
        "Plexus put → Zenoh sub",
        |k, v| plexus_put(p, k, v),
    )
    .await;
    plexus_receives_every_size(
        p,
        &format!("{tag}/z2p"),
        "Zenoh put → Plexus sub",
        |k, v| zenoh_put(z, k, v),
    )
    .await;
    let _zq = zenoh_sized_queryable(z, &format!("{tag}/zq")).await;
    plexus_gets_every_size(p, &format!("{tag}/zq"), "Plexus get → Zenoh queryable").await;
    let _pq = plexus_sized_queryable(p, &format!("{tag}/pq")).await;
    zenoh_gets_every_size(z, &format!("{tag}/pq"), "Zenoh get → Plexus queryable").await;

    let key = format!("{tag}/pub/k");
    let sub = z.declare_subscriber(&key).await.expect("zenoh subscribe");
    let publisher = p.declare_publisher(&key).await.expect("publisher");
    until("Plexus publisher → Zenoh", || async {
        publisher.put("probe").await.expect("put");
        matches!(
            timeout(Duration::from_millis(100), sub.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    while sub.try_recv().is_ok_and(|s| s.is_some()) {}
    for len in SIZES {
        publisher.put(payload(len)).await.expect("publisher put");
        let s = zrecv(&sub).await;
        assert_eq!(s.key_expr().as_str(), key);
        assert_eq!(s.payload().len(), len, "{tag}: publisher → Zenoh");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_to_peer() {
    let (p, loc) = plexus_listening(WhatAmI::Peer).await;
    let z = zenoh::open(zenoh_config("peer", Some(&loc), None))
        .await
        .expect("zenoh peer");
    matrix(&p, &z, "pp").await;
    z.close().await.expect("zenoh close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_router_between_two_plexus_clients() {
    let (router, loc) = zenoh_listening("router").await;
    let a = plexus_connected(WhatAmI::Client, &loc).await;
    let b = plexus_connected(WhatAmI::Client, &loc).await;

    // Plexus client ↔ the Zenoh router's own session.
    matrix(&a, &router, "zr").await;

    // Plexus client → Zenoh router → Plexus client, both ways, every size, and by a
    // publisher's declared id.
    for (from, to, tag) in [(&a, &b, "zr/ab"), (&b, &a, "zr/ba")] {
        plexus_receives_every_size(to, tag, "Plexus → Zenoh router → Plexus", |k, v| {
            plexus_put(from, k, v)
        })
        .await;
        let sub = to
            .declare_subscriber(format!("{tag}/publisher"))
            .await
            .expect("subscribe");
        let publisher = from
            .declare_publisher(format!("{tag}/publisher"))
            .await
            .expect("publisher");
        until("a publisher through the Zenoh router", || async {
            publisher.put("by id").await.expect("publisher put");
            arrived(&sub).await
        })
        .await;
    }
    router.close().await.expect("close the Zenoh router");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_router_between_two_zenoh_clients() {
    let (router, loc) = plexus_listening(WhatAmI::Router).await;
    let za = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh client a");
    let zb = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh client b");

    // Each Zenoh client ↔ the Plexus router's own session.
    matrix(&router, &za, "pr").await;

    // Zenoh client → Plexus router → Zenoh client: pub/sub and queries, every size.
    zenoh_receives_every_size(&zb, "pr/zz", "Zenoh → Plexus router → Zenoh", |k, v| {
        zenoh_put(&za, k, v)
    })
    .await;
    let _q = zenoh_sized_queryable(&zb, "pr/zzq").await;
    zenoh_gets_every_size(&za, "pr/zzq", "Zenoh get → Plexus router → Zenoh queryable").await;
    za.close().await.expect("close");
    zb.close().await.expect("close");
}
