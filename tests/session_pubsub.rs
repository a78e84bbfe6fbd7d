//! Pub/sub between Plexus sessions over TCP on loopback (with Zenoh: `interop_matrix.rs`).

mod common;

use common::{WAIT, connectivity, plexus_connected, plexus_listening, recv, until_routed};
use plexus::{ConnectivityEvent, Sample, SampleKind, WhatAmI};
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_peers_exchange_puts_and_deletes_with_wildcards() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    let sub = b.declare_subscriber("demo/**").await.expect("subscribe");
    until_routed(&a, "demo/probe", &sub).await;

    a.put("demo/a", "hello")
        .encoding("text/plain")
        .attachment("att")
        .await
        .expect("put");
    let s = recv(&sub).await;
    assert_eq!(s.key_expr().as_str(), "demo/a");
    assert_eq!(&s.payload()[..], b"hello");
    assert_eq!(s.kind(), SampleKind::Put);
    assert_eq!(s.encoding().to_string(), "text/plain");
    assert_eq!(s.attachment().map(|b| &b[..]), Some(&b"att"[..]));

    a.delete("demo/a/b").await.expect("delete");
    let s = recv(&sub).await;
    assert_eq!(s.kind(), SampleKind::Delete);
    assert_eq!(s.key_expr().as_str(), "demo/a/b");

    // Not matching: never delivered; the next matching one is.
    a.put("other/x", "no").await.expect("put");
    a.put("demo/z", "yes").await.expect("put");
    assert_eq!(recv(&sub).await.key_expr().as_str(), "demo/z");

    // A local subscriber on A sees A's own publication, in-process.
    let local = a.declare_subscriber("demo/*").await.expect("subscribe");
    a.put("demo/l", "local").await.expect("put");
    assert_eq!(recv(&local).await.key_expr().as_str(), "demo/l");
    assert_eq!(recv(&sub).await.key_expr().as_str(), "demo/l");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reliable_messages_arrive_all_and_in_order() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    // A small subscriber channel: the consumer falls behind, the reading task waits,
    // TCP pushes back, and the publisher's transport queue fills up (the path where
    // messages wait in the face's overflow queue).
    let sub = b
        .declare_subscriber("seq")
        .with(plexus::FifoChannel(64))
        .await
        .expect("subscribe");
    let publisher = a
        .declare_publisher("seq")
        .congestion_control(plexus::CongestionControl::Block)
        .await
        .expect("publisher");
    timeout(WAIT, publisher.matching_changed(false))
        .await
        .expect("subscription never arrived");
    const N: u32 = 100_000;
    let producer = tokio::spawn(async move {
        for i in 0..N {
            // 256-byte payloads fill batches and queues quickly.
            let mut p = vec![0u8; 256];
            p[..4].copy_from_slice(&i.to_le_bytes());
            publisher.put(p).await.expect("put");
        }
    });
    for i in 0..N {
        let s = recv(&sub).await;
        let got = u32::from_le_bytes(s.payload()[..4].try_into().expect("4 bytes"));
        assert_eq!(got, i, "message {i} lost or out of order");
    }
    producer.await.expect("producer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscriber_undeclares_it_remotely() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    let publisher = a.declare_publisher("m/k").await.expect("publisher");
    assert!(!publisher.matching_status(), "nobody subscribes yet");

    let sub = b.declare_subscriber("m/**").await.expect("subscribe");
    let matching = timeout(WAIT, publisher.matching_changed(false))
        .await
        .expect("B's subscription never reached A");
    assert!(matching);

    drop(sub);
    let matching = timeout(WAIT, publisher.matching_changed(true))
        .await
        .expect("dropping B's subscriber never undeclared it at A");
    assert!(!matching);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_session_closes_its_transports_and_refuses_more_work() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let events = a.info().connectivity_events();
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    let bz = b.zid();
    connectivity(&events, "transport to B opened at A", |e| match e {
        ConnectivityEvent::TransportOpened(t) if t.zid == bz => Some(()),
        _ => None,
    })
    .await;
    b.close().await;
    assert!(b.is_closed());
    assert!(
        b.put("x", "y").await.is_err(),
        "a closed session refuses to publish"
    );
    connectivity(&events, "A's transport to B closing", |e| match e {
        ConnectivityEvent::TransportClosed { zid, .. } if zid == bz => Some(()),
        _ => None,
    })
    .await;
    assert!(a.info().transports().is_empty());
}

/// 10,000,000 reliable messages pub → sub across two sessions, all in order.
/// Run with `cargo test --release --test session_pubsub -- --ignored stress`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress: ten million messages; run explicitly"]
async fn stress_ten_million_reliable_messages_in_order() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    let (tx, rx) = flume::bounded::<u32>(1 << 16);
    let _sub = b
        .declare_subscriber("stress")
        .callback(move |s: Sample| {
            let _ = tx.send(u32::from_le_bytes(
                s.payload()[..4].try_into().expect("4 bytes"),
            ));
        })
        .await
        .expect("subscribe");
    let publisher = a
        .declare_publisher("stress")
        .congestion_control(plexus::CongestionControl::Block)
        .await
        .expect("publisher");
    timeout(WAIT, publisher.matching_changed(false))
        .await
        .expect("subscription never arrived");
    const N: u32 = 10_000_000;
    let started = std::time::Instant::now();
    let producer = tokio::spawn(async move {
        for i in 0..N {
            publisher.put(i.to_le_bytes().to_vec()).await.expect("put");
        }
    });
    for i in 0..N {
        let got = timeout(WAIT, rx.recv_async())
            .await
            .expect("stalled")
            .expect("channel");
        assert_eq!(got, i, "message {i} out of order");
    }
    producer.await.expect("producer");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "stress: {N} messages in {secs:.1} s ({:.0} msg/s)",
        N as f64 / secs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_of_peers_and_a_router_deliver_each_sample_once() {
    // Three peers, each connected to the other two: a publication reaches c directly
    // from a, and must not also come the long way round through b.
    let (a, la) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus::open(
        plexus::Config::default()
            .with_mode(WhatAmI::Peer)
            .with_listen(vec![common::ep("tcp/127.0.0.1:0")])
            .with_connect(vec![common::ep(&la)]),
    )
    .await
    .expect("open b");
    let lb = b.locators().first().expect("b listens").to_string();
    let c = plexus::open(
        plexus::Config::default()
            .with_mode(WhatAmI::Peer)
            .with_listen(vec![])
            .with_connect(vec![common::ep(&la), common::ep(&lb)]),
    )
    .await
    .expect("open c");
    let on_c = c.declare_subscriber("once/**").await.expect("subscribe");
    let on_b = b.declare_subscriber("once/**").await.expect("subscribe");
    until_routed(&a, "once/probe", &on_c).await;
    until_routed(&a, "once/probe", &on_b).await;
    while on_c.try_recv().is_ok() {}
    for i in 0..100u32 {
        a.put(format!("once/{i}"), "x").await.expect("put");
    }
    a.put("once/end", "end").await.expect("put");
    let mut got = Vec::new();
    loop {
        let s = recv(&on_c).await;
        if s.key_expr().as_str() == "once/end" {
            break;
        }
        if &s.payload()[..] != b"probe" {
            got.push(s.key_expr().to_string());
        }
    }
    let expected: Vec<String> = (0..100).map(|i| format!("once/{i}")).collect();
    assert_eq!(got, expected, "each sample exactly once, in order");

    // A router with two clients, one of which subscribes twice: one copy on the wire,
    // one delivery per subscriber.
    let (_router, lr) = plexus_listening(WhatAmI::Router).await;
    let x = plexus_connected(WhatAmI::Client, &lr).await;
    let y = plexus_connected(WhatAmI::Client, &lr).await;
    let first = y.declare_subscriber("twice/**").await.expect("subscribe");
    let second = y.declare_subscriber("twice/k").await.expect("subscribe");
    until_routed(&x, "twice/k", &second).await;
    x.put("twice/k", "one").await.expect("put");
    x.put("twice/end", "end").await.expect("put");
    // Skipping the readiness probes still in flight, each subscriber gets each sample once.
    let mut on_first = Vec::new();
    loop {
        let s = recv(&first).await;
        if &s.payload()[..] == b"probe" {
            continue;
        }
        on_first.push(s.key_expr().to_string());
        if s.key_expr().as_str() == "twice/end" {
            break;
        }
    }
    assert_eq!(on_first, ["twice/k", "twice/end"]);
    let on_second: Vec<_> = second
        .drain()
        .filter(|s| &s.payload()[..] != b"probe")
        .map(|s| s.key_expr().to_string())
        .collect();
    assert_eq!(on_second, ["twice/k"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_put_publishes_from_a_callback() {
    let (a, loc) = plexus_listening(WhatAmI::Peer).await;
    let b = plexus_connected(WhatAmI::Peer, &loc).await;
    // a echoes every ping from its subscriber's callback, without awaiting.
    let publisher = a.declare_publisher("echo/pong").await.expect("publisher");
    let _echo = a
        .declare_subscriber("echo/ping")
        .callback(move |s: Sample| {
            publisher.try_put(s.payload().clone()).expect("try_put");
        })
        .await
        .expect("subscribe");
    let pongs = b.declare_subscriber("echo/pong").await.expect("subscribe");
    common::until("a ping answered", || async {
        b.put("echo/ping", "probe").await.expect("put");
        common::arrived(&pongs).await
    })
    .await;
    for i in 0..100u32 {
        b.put("echo/ping", i.to_le_bytes().to_vec())
            .await
            .expect("put");
        // Skip answers to probes still in flight.
        loop {
            let s = recv(&pongs).await;
            if &s.payload()[..] != b"probe" {
                assert_eq!(&s.payload()[..], &i.to_le_bytes()[..]);
                break;
            }
        }
    }
}
