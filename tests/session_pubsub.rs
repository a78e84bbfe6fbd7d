//! Pub/sub between Plexus sessions, and with Zenoh 1.10.2 sessions, over TCP on loopback.

use std::time::Duration;

use plexus::{Config, Sample, SampleKind, Session, WhatAmI};
use plexus_link::Endpoint;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn ep(s: &str) -> Endpoint {
    s.parse().expect("endpoint")
}

async fn listening(mode: WhatAmI) -> (Session, String) {
    let s = plexus::open(
        Config::default()
            .with_mode(mode)
            .with_listen(vec![ep("tcp/127.0.0.1:0")]),
    )
    .await
    .expect("open");
    let loc = s.locators().first().expect("a listener").to_string();
    (s, loc)
}

async fn connected(mode: WhatAmI, to: &str) -> Session {
    plexus::open(
        Config::default()
            .with_mode(mode)
            .with_listen(vec![])
            .with_connect(vec![ep(to)]),
    )
    .await
    .expect("open")
}

async fn recv(rx: &flume::Receiver<Sample>) -> Sample {
    timeout(WAIT, rx.recv_async())
        .await
        .expect("no sample within 10 s")
        .expect("subscriber channel closed")
}

/// Waits until `session` has declared-subscriber state from the other side: publishes a
/// probe until the subscriber on the far side sees it.
async fn until_routed(put_on: &Session, key: &str, rx: &flume::Receiver<Sample>) {
    let done = timeout(WAIT, async {
        loop {
            put_on.put(key, "probe").await.expect("put");
            if let Ok(Ok(_)) = timeout(Duration::from_millis(100), rx.recv_async()).await {
                return;
            }
        }
    })
    .await;
    done.expect("the subscription never reached the publisher");
    while rx.try_recv().is_ok() {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_peers_exchange_puts_and_deletes_with_wildcards() {
    let (a, loc) = listening(WhatAmI::Peer).await;
    let b = connected(WhatAmI::Peer, &loc).await;
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
    let (a, loc) = listening(WhatAmI::Peer).await;
    let b = connected(WhatAmI::Peer, &loc).await;
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
        .expect("publisher")
        .congestion_control(plexus::CongestionControl::Block);
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

fn zenoh_peer(connect: Option<&str>, listen: Option<&str>) -> zenoh::Config {
    let mut c = zenoh::Config::default();
    c.insert_json5("mode", r#""peer""#).expect("mode");
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

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

const SIZES: [usize; 4] = [0, 8, 65_537, 1 << 20];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_and_zenoh_peers_exchange_every_payload_size() {
    let (p, loc) = listening(WhatAmI::Peer).await;
    let z = zenoh::open(zenoh_peer(Some(&loc), None))
        .await
        .expect("zenoh open");

    // Zenoh → Plexus.
    let psub = p
        .declare_subscriber("interop/z2p/**")
        .await
        .expect("subscribe");
    let done = timeout(WAIT, async {
        loop {
            z.put("interop/z2p/probe", "probe")
                .await
                .expect("zenoh put");
            if let Ok(Ok(_)) = timeout(Duration::from_millis(100), psub.recv_async()).await {
                return;
            }
        }
    })
    .await;
    done.expect("Zenoh never routed to the Plexus subscriber");
    while psub.try_recv().is_ok() {}
    for len in SIZES {
        z.put(format!("interop/z2p/{len}"), payload(len))
            .await
            .expect("zenoh put");
        let s = recv(&psub).await;
        assert_eq!(s.key_expr().as_str(), format!("interop/z2p/{len}"));
        assert_eq!(s.payload().len(), len);
        assert!(
            s.payload()[..] == payload(len)[..],
            "payload of {len} bytes differs"
        );
    }
    z.delete("interop/z2p/gone").await.expect("zenoh delete");
    assert_eq!(recv(&psub).await.kind(), SampleKind::Delete);

    // Plexus → Zenoh.
    let zsub = z
        .declare_subscriber("interop/p2z/**")
        .await
        .expect("zenoh subscribe");
    let done = timeout(WAIT, async {
        loop {
            p.put("interop/p2z/probe", "probe").await.expect("put");
            if let Ok(Ok(_)) = timeout(Duration::from_millis(100), zsub.recv_async()).await {
                return;
            }
        }
    })
    .await;
    done.expect("Plexus never routed to the Zenoh subscriber");
    while zsub.try_recv().is_ok_and(|s| s.is_some()) {}
    for len in SIZES {
        p.put(format!("interop/p2z/{len}"), payload(len))
            .await
            .expect("put");
        let s = timeout(WAIT, zsub.recv_async())
            .await
            .expect("zenoh got nothing within 10 s")
            .expect("zenoh subscriber");
        assert_eq!(s.key_expr().as_str(), format!("interop/p2z/{len}"));
        assert_eq!(s.payload().len(), len);
        assert!(
            s.payload().to_bytes()[..] == payload(len)[..],
            "payload of {len} bytes differs"
        );
    }
    p.delete("interop/p2z/gone").await.expect("delete");
    let s = timeout(WAIT, zsub.recv_async())
        .await
        .expect("zenoh delete")
        .expect("zenoh");
    assert_eq!(s.kind(), zenoh::sample::SampleKind::Delete);
    z.close().await.expect("zenoh close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscriber_undeclares_it_remotely() {
    let (a, loc) = listening(WhatAmI::Peer).await;
    let b = connected(WhatAmI::Peer, &loc).await;
    let publisher = a.declare_publisher("m/k").expect("publisher");
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
    let (a, loc) = listening(WhatAmI::Peer).await;
    let b = connected(WhatAmI::Peer, &loc).await;
    let t = timeout(WAIT, async {
        loop {
            if let Some(t) = a.transports().into_iter().next() {
                return t;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("A never saw B's transport");
    b.close().await;
    assert!(b.is_closed());
    assert!(
        b.put("x", "y").await.is_err(),
        "a closed session refuses to publish"
    );
    let mut updates = t.rtt_updates();
    timeout(WAIT, async {
        while !t.is_closed() {
            let _ = timeout(Duration::from_millis(50), updates.changed()).await;
        }
    })
    .await
    .expect("A's transport to B did not close");
    assert!(a.transports().is_empty());
}

/// 10,000,000 reliable messages pub → sub across two sessions, all in order.
/// Run with `cargo test --release --test session_pubsub -- --ignored stress`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "stress: ten million messages; run explicitly"]
async fn stress_ten_million_reliable_messages_in_order() {
    let (a, loc) = listening(WhatAmI::Peer).await;
    let b = connected(WhatAmI::Peer, &loc).await;
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
        .expect("publisher")
        .congestion_control(plexus::CongestionControl::Block);
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
