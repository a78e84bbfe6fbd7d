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

/// Plexus `p` publishes every size to a Zenoh subscriber on `z`.
async fn plexus_put_zenoh_sub(p: &Session, z: &zenoh::Session, tag: &str) {
    let sub = z
        .declare_subscriber(format!("{tag}/p2z/**"))
        .await
        .expect("zenoh subscribe");
    let probe = format!("{tag}/p2z/probe");
    until("Plexus put → Zenoh subscriber", || async {
        p.put(&probe, "probe").await.expect("put");
        matches!(
            timeout(Duration::from_millis(100), sub.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    while sub.try_recv().is_ok_and(|s| s.is_some()) {}
    for len in SIZES {
        let key = format!("{tag}/p2z/{len}");
        p.put(&key, payload(len)).await.expect("put");
        let s = zrecv(&sub).await;
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "{tag}: Plexus → Zenoh payload of {len} bytes differs (got {} bytes)",
            s.payload().len()
        );
    }
    p.delete(format!("{tag}/p2z/gone")).await.expect("delete");
    assert_eq!(zrecv(&sub).await.kind(), zenoh::sample::SampleKind::Delete);
    // A declared publisher sends its key's id (D_KEYEXPR), which Zenoh must resolve.
    let key = format!("{tag}/p2z/publisher");
    let publisher = p.declare_publisher(&key).expect("publisher");
    for len in SIZES {
        publisher.put(payload(len)).await.expect("publisher put");
        let s = zrecv(&sub).await;
        assert_eq!(s.key_expr().as_str(), key);
        assert_eq!(s.payload().len(), len, "{tag}: publisher → Zenoh");
    }
}

/// Zenoh `z` publishes every size to a Plexus subscriber on `p`.
async fn zenoh_put_plexus_sub(z: &zenoh::Session, p: &Session, tag: &str) {
    let sub = p
        .declare_subscriber(format!("{tag}/z2p/**"))
        .await
        .expect("subscribe");
    let probe = format!("{tag}/z2p/probe");
    until("Zenoh put → Plexus subscriber", || async {
        z.put(&probe, "probe").await.expect("zenoh put");
        arrived(&sub).await
    })
    .await;
    while sub.try_recv().is_ok() {}
    for len in SIZES {
        let key = format!("{tag}/z2p/{len}");
        z.put(&key, payload(len)).await.expect("zenoh put");
        let s = recv(&sub).await;
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload()[..] == payload(len)[..],
            "{tag}: Zenoh → Plexus payload of {len} bytes differs (got {} bytes)",
            s.payload().len()
        );
    }
    z.delete(format!("{tag}/z2p/gone"))
        .await
        .expect("zenoh delete");
    assert_eq!(recv(&sub).await.kind(), plexus::SampleKind::Delete);
}

/// The size a matrix query asks for: the last chunk of its key.
fn asked_size(key: &str) -> usize {
    key.rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Plexus `p` queries a Zenoh queryable on `z` that answers with the asked size.
async fn plexus_get_zenoh_queryable(p: &Session, z: &zenoh::Session, tag: &str) {
    let _q = z
        .declare_queryable(format!("{tag}/zq/*"))
        .callback(|q| {
            tokio::spawn(async move {
                let key = q.key_expr().clone();
                let len = asked_size(key.as_str());
                q.reply(key, payload(len)).await.expect("zenoh reply");
            });
        })
        .await
        .expect("zenoh queryable");
    let probe = format!("{tag}/zq/0");
    until("Plexus get → Zenoh queryable", || async {
        let rx = p
            .get(&probe)
            .timeout(Duration::from_secs(2))
            .await
            .expect("get");
        arrived(&rx).await
    })
    .await;
    for len in SIZES {
        let key = format!("{tag}/zq/{len}");
        let rx = p.get(&key).await.expect("get");
        let reply = timeout(WAIT, rx.recv_async())
            .await
            .expect("no reply within 10 s")
            .expect("the query ended without a reply");
        let s = reply.into_result().expect("an ok reply");
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload()[..] == payload(len)[..],
            "{tag}: Zenoh reply of {len} bytes to Plexus differs (got {} bytes)",
            s.payload().len()
        );
    }
}

/// Zenoh `z` queries a Plexus queryable on `p` that answers with the asked size.
async fn zenoh_get_plexus_queryable(z: &zenoh::Session, p: &Session, tag: &str) {
    let _q = p
        .declare_queryable(format!("{tag}/pq/*"))
        .callback(|q: Query| {
            tokio::spawn(async move {
                let key = q.key_expr().clone();
                let len = asked_size(key.as_str());
                q.reply(key, payload(len)).await.expect("reply");
            });
        })
        .await
        .expect("queryable");
    let probe = format!("{tag}/pq/0");
    until("Zenoh get → Plexus queryable", || async {
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
        let key = format!("{tag}/pq/{len}");
        let rx = z.get(&key).await.expect("zenoh get");
        let reply = timeout(WAIT, rx.recv_async())
            .await
            .expect("Zenoh got no reply within 10 s")
            .expect("the Zenoh query ended without a reply");
        let s = reply.into_result().expect("an ok reply");
        assert_eq!(s.key_expr().as_str(), key);
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "{tag}: Plexus reply of {len} bytes to Zenoh differs (got {} bytes)",
            s.payload().len()
        );
    }
}

/// All four directions between one Plexus and one Zenoh session.
async fn matrix(p: &Session, z: &zenoh::Session, tag: &str) {
    plexus_put_zenoh_sub(p, z, tag).await;
    zenoh_put_plexus_sub(z, p, tag).await;
    plexus_get_zenoh_queryable(p, z, tag).await;
    zenoh_get_plexus_queryable(z, p, tag).await;
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

    // Plexus client → Zenoh router → Plexus client, both ways, every size.
    for (from, to, tag) in [(&a, &b, "zr/ab"), (&b, &a, "zr/ba")] {
        let sub = to
            .declare_subscriber(format!("{tag}/**"))
            .await
            .expect("subscribe");
        let probe = format!("{tag}/probe");
        until("Plexus → Zenoh router → Plexus", || async {
            from.put(&probe, "probe").await.expect("put");
            arrived(&sub).await
        })
        .await;
        while sub.try_recv().is_ok() {}
        for len in SIZES {
            from.put(format!("{tag}/{len}"), payload(len))
                .await
                .expect("put");
            let s = recv(&sub).await;
            assert!(
                s.payload()[..] == payload(len)[..],
                "{tag}: {len} bytes through the Zenoh router differ"
            );
        }
        let publisher = from
            .declare_publisher(format!("{tag}/publisher"))
            .expect("publisher");
        publisher.put("by id").await.expect("publisher put");
        let s = recv(&sub).await;
        assert_eq!(s.key_expr().as_str(), format!("{tag}/publisher"));
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
    let sub = zb
        .declare_subscriber("pr/zz/**")
        .await
        .expect("zenoh subscribe");
    until("Zenoh → Plexus router → Zenoh", || async {
        za.put("pr/zz/probe", "probe").await.expect("zenoh put");
        matches!(
            timeout(Duration::from_millis(100), sub.recv_async()).await,
            Ok(Ok(_))
        )
    })
    .await;
    while sub.try_recv().is_ok_and(|s| s.is_some()) {}
    for len in SIZES {
        za.put(format!("pr/zz/{len}"), payload(len))
            .await
            .expect("zenoh put");
        let s = zrecv(&sub).await;
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "{len} bytes from Zenoh to Zenoh through the Plexus router differ"
        );
    }
    let _q = zb
        .declare_queryable("pr/zzq/*")
        .callback(|q| {
            tokio::spawn(async move {
                let key = q.key_expr().clone();
                let len = asked_size(key.as_str());
                q.reply(key, payload(len)).await.expect("zenoh reply");
            });
        })
        .await
        .expect("zenoh queryable");
    until("Zenoh get → Plexus router → Zenoh queryable", || async {
        let rx = za
            .get("pr/zzq/0")
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
        let rx = za.get(format!("pr/zzq/{len}")).await.expect("zenoh get");
        let reply = timeout(WAIT, rx.recv_async())
            .await
            .expect("no reply within 10 s")
            .expect("the query ended without a reply");
        let s = reply.into_result().expect("an ok reply");
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "a {len}-byte reply from Zenoh to Zenoh through the Plexus router differs"
        );
    }
    za.close().await.expect("close");
    zb.close().await.expect("close");
}
