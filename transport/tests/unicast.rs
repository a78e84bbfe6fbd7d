//! Unicast transports between two Plexus managers over real sockets: data, events,
//! multilink, RTT, UDP and unix sockets, connect errors.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Ev, Node, RawPeer, WAIT, key_and_payload, payload, put, seq_of};
use std::sync::Arc;

use plexus_transport::handshake::HandshakeConfig;
use plexus_transport::multilink::MultilinkKey;
use plexus_transport::wire::transport::{Close, CloseReason, TransportMessage};
use plexus_transport::wire::{CongestionControl, Priority, Reliability, WhatAmI};
use plexus_transport::{CloseCause, SendOptions, Transport, TransportError, TransportEvent};

const TCP: &str = "tcp/127.0.0.1:0";

fn block() -> SendOptions {
    SendOptions {
        priority: Priority::Data,
        reliability: Reliability::Reliable,
        congestion: CongestionControl::Block,
        express: false,
    }
}

/// Size of message `i` in the bulk test: 8 B and 1 KiB alternating, every 500th 100 kB.
fn bulk_size(i: u64) -> usize {
    if i % 500 == 499 {
        100_000
    } else if i.is_multiple_of(2) {
        8
    } else {
        1024
    }
}

/// Sends `n` messages `key/i` from `from` and checks that `to` receives them all, in order
/// and intact. The sender runs on its own task while the test receives.
async fn stream_messages(
    from: &Transport,
    to: &mut Node,
    from_zid: plexus_transport::wire::ZenohId,
    key: &str,
    n: u64,
) {
    let sender = {
        let t = from.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            for i in 0..n {
                let sent = t
                    .send(&put(&format!("{key}/{i}"), i, bulk_size(i)), block())
                    .await
                    .expect("send");
                assert!(sent, "a Block message was dropped");
            }
        })
    };
    for i in 0..n {
        let msg = to.next_msg(from_zid).await;
        let (k, p) = key_and_payload(&msg);
        assert_eq!(seq_of(&msg), i, "message {i} out of order (key {k})");
        assert_eq!(k, format!("{key}/{i}"));
        assert!(
            p == payload(i, bulk_size(i)),
            "payload of message {i} differs"
        );
    }
    tokio::time::timeout(WAIT, sender)
        .await
        .expect("sender did not finish")
        .expect("sender panicked");
}

/// A listens, B connects; returns both transports (A's view of B, B's view of A).
async fn pair(a: &mut Node, b: &mut Node) -> (Transport, Transport) {
    let loc = a.listen(TCP).await;
    let tb = b.connect(&loc).await;
    assert_eq!(tb.zid(), a.zid());
    let (ta, _) = a.expect_open(b.zid()).await;
    let (tb2, _) = b.expect_open(a.zid()).await;
    assert_eq!(tb2.zid(), a.zid());
    (ta, tb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_data_both_ways_over_tcp() {
    let mut a = Node::new();
    let mut b = Node::new();
    let (ta, tb) = pair(&mut a, &mut b).await;
    let (a_zid, b_zid) = (a.zid(), b.zid());

    let started = Instant::now();
    stream_messages(&tb, &mut a, b_zid, "b2a", 10_000).await;
    eprintln!("10,000 messages B→A in {:?}", started.elapsed());
    stream_messages(&ta, &mut b, a_zid, "a2b", 1_000).await;

    let (sa, sb) = (ta.stats(), tb.stats());
    assert_eq!(sb.tx_msgs.load(Ordering::Relaxed), 10_000);
    assert_eq!(sa.rx_msgs.load(Ordering::Relaxed), 10_000);
    assert_eq!(sa.tx_msgs.load(Ordering::Relaxed), 1_000);
    assert_eq!(sb.rx_msgs.load(Ordering::Relaxed), 1_000);
    let payload_bytes: u64 = (0..10_000).map(|i| bulk_size(i) as u64).sum();
    assert!(sb.tx_bytes.load(Ordering::Relaxed) > payload_bytes);
    assert!(sa.rx_bytes.load(Ordering::Relaxed) > payload_bytes);
    assert_eq!(sb.dropped.load(Ordering::Relaxed), 0);
    assert!(!ta.is_closed() && !tb.is_closed());
    tb.close().await;
}

/// A sender blocked on a full queue must wake as soon as the writer frees room: with a
/// one-batch queue it blocks on nearly every message, and a missed wake-up would stall
/// it for a whole lease (60 s here, far beyond the per-message bound of 10 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_sender_wakes_when_room_frees() {
    let mut a = Node::with(|c| c.lease = Duration::from_secs(60));
    let mut b = Node::with(|c| {
        c.queue.size = [1; 8];
        c.batch_size = 2048;
    });
    let (_ta, tb) = pair(&mut a, &mut b).await;
    let started = Instant::now();
    stream_messages(&tb, &mut a, b.zid(), "tiny", 20_000).await;
    eprintln!(
        "20,000 messages through a one-batch queue in {:?}",
        started.elapsed()
    );
    tb.close().await;
}

/// One side closes; both see LinkRemoved then Closed with the right causes.
async fn close_and_check_events(closer_is_connector: bool) {
    let mut a = Node::new();
    let mut b = Node::new();
    let (ta, tb) = pair(&mut a, &mut b).await;
    let link_a = ta.links()[0].id;
    let link_b = tb.links()[0].id;

    // Something moves first, so the close happens on a used transport.
    tb.send(&put("x", 1, 8), block()).await.expect("send");
    assert_eq!(seq_of(&a.next_msg(b.zid()).await), 1);

    let (closer, closer_node, other_node, closer_link, other_link) = if closer_is_connector {
        (tb.clone(), &mut b, &mut a, link_b, link_a)
    } else {
        (ta.clone(), &mut a, &mut b, link_a, link_b)
    };
    let (closer_peer, other_peer) = (other_node.zid(), closer_node.zid());
    tokio::time::timeout(WAIT, closer.close())
        .await
        .expect("close timed out");

    for (node, peer, link, cause) in [
        (closer_node, closer_peer, closer_link, CloseCause::Local),
        (
            other_node,
            other_peer,
            other_link,
            CloseCause::ByPeer(CloseReason::Generic),
        ),
    ] {
        match node.next_event_for(peer).await {
            Ev::Event(_, TransportEvent::LinkRemoved { link: l, cause: c }) => {
                assert_eq!(l.id, link);
                assert_eq!(c, cause, "LinkRemoved cause on {}", node.zid());
            }
            other => panic!("expected LinkRemoved, got {other:?}"),
        }
        match node.next_event_for(peer).await {
            Ev::Event(_, TransportEvent::Closed { cause: c }) => {
                assert_eq!(c, cause, "Closed cause on {}", node.zid());
            }
            other => panic!("expected Closed, got {other:?}"),
        }
        assert!(node.mgr.transports().is_empty(), "transport table emptied");
        assert!(node.no_event_queued(), "nothing after Closed");
    }
    let (closer_t, other_t) = if closer_is_connector {
        (&tb, &ta)
    } else {
        (&ta, &tb)
    };
    assert_eq!(closer_t.close_cause(), Some(CloseCause::Local));
    assert_eq!(
        other_t.close_cause(),
        Some(CloseCause::ByPeer(CloseReason::Generic))
    );
    assert!(ta.links().is_empty() && tb.links().is_empty());
    assert!(matches!(
        tb.send(&put("late", 2, 8), block()).await,
        Err(TransportError::Closed { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_order_when_connector_closes() {
    close_and_check_events(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_order_when_acceptor_closes() {
    close_and_check_events(false).await;
}

/// Settings for multilink tests: up to 4 links per transport, with `key`.
fn multilink(key: &Arc<MultilinkKey>) -> impl FnOnce(&mut plexus_transport::TransportConfig) {
    let key = key.clone();
    move |c| {
        c.max_links = 4;
        c.multilink_key = Some(key);
    }
}

fn new_key() -> Arc<MultilinkKey> {
    Arc::new(MultilinkKey::generate().expect("multilink key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_link_joins_the_transport() {
    let mut a = Node::with(multilink(&new_key()));
    let b_key = new_key();
    let mut b = Node::with(multilink(&b_key));
    let loc = a.listen(TCP).await;
    let t1 = b.connect(&loc).await;
    let (ta, la1) = a.expect_open(b.zid()).await;
    let (_, lb1) = b.expect_open(a.zid()).await;

    let t2 = b.connect(&loc).await;
    assert_eq!(t2.zid(), a.zid());
    let lb2 = match b.next_event_for(a.zid()).await {
        Ev::Event(_, TransportEvent::LinkAdded(l)) => l,
        other => panic!("expected a second LinkAdded on B, got {other:?}"),
    };
    let la2 = match a.next_event_for(b.zid()).await {
        Ev::Event(_, TransportEvent::LinkAdded(l)) => l,
        other => panic!("expected a second LinkAdded on A, got {other:?}"),
    };
    assert_ne!(la1.id, la2.id);
    assert_ne!(lb1.id, lb2.id);
    assert_eq!(ta.links().len(), 2);
    assert_eq!(t1.links().len(), 2);
    assert_eq!(t2.links().len(), 2, "connect returned the same transport");
    assert_eq!(a.mgr.transports().len(), 1);
    assert_eq!(b.mgr.transports().len(), 1);

    stream_messages(&t2, &mut a, b.zid(), "ml", 600).await;
    stream_messages(&ta, &mut b, a.zid(), "back", 100).await;

    // A third link with B's zid and key, made by hand, joins; then its remote end goes
    // away in two ways (CLOSE for that link only, then a plain end of stream): A loses
    // just that link each time.
    let addr = common::socket_addr(&loc);
    for send_close in [true, false] {
        let mut cfg = HandshakeConfig::new(b.zid(), WhatAmI::Peer);
        cfg.lease = Duration::from_secs(10);
        cfg.multilink = Some(b_key.clone());
        let mut raw = RawPeer::connect(addr, cfg).await;
        let la3 = match a.next_event_for(b.zid()).await {
            Ev::Event(_, TransportEvent::LinkAdded(l)) => l,
            other => panic!("expected the raw link to join, got {other:?}"),
        };
        assert_eq!(ta.links().len(), 3);
        if send_close {
            raw.send_message(&TransportMessage::Close(Close {
                reason: CloseReason::Generic,
                session: false,
            }))
            .await;
        }
        drop(raw);
        match a.next_event_for(b.zid()).await {
            Ev::Event(_, TransportEvent::LinkRemoved { link, cause }) => {
                assert_eq!(link.id, la3.id);
                if send_close {
                    assert_eq!(cause, CloseCause::ByPeer(CloseReason::Generic));
                } else {
                    assert!(matches!(cause, CloseCause::LinkFailed(_)), "{cause:?}");
                }
            }
            other => panic!("expected the raw link to go, got {other:?}"),
        }
        assert_eq!(ta.links().len(), 2);
        assert!(!ta.is_closed());
        stream_messages(&t1, &mut a, b.zid(), "after", 50).await;
    }

    t1.close().await;
    let (a_zid, b_zid) = (a.zid(), b.zid());
    for (node, peer, cause) in [
        (&mut b, a_zid, CloseCause::Local),
        (&mut a, b_zid, CloseCause::ByPeer(CloseReason::Generic)),
    ] {
        let mut removed = Vec::new();
        for _ in 0..2 {
            match node.next_event_for(peer).await {
                Ev::Event(_, TransportEvent::LinkRemoved { link, cause: c }) => {
                    assert_eq!(c, cause);
                    removed.push(link.id);
                }
                other => panic!("expected LinkRemoved, got {other:?}"),
            }
        }
        assert_ne!(removed[0], removed[1]);
        match node.next_event_for(peer).await {
            Ev::Event(_, TransportEvent::Closed { cause: c }) => assert_eq!(c, cause),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert!(node.mgr.transports().is_empty());
    }
}

/// Every link of a transport must announce the SN the transport's TX channels really
/// use: the receiver takes it from whichever link opened *its* side of the transport,
/// which need not be the link that opened ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_links_announce_the_transports_initial_sn() {
    let mut a = Node::with(multilink(&new_key()));
    let loc = a.listen(TCP).await;
    let addr = common::socket_addr(&loc);
    let mut b_cfg = HandshakeConfig::new(plexus_transport::wire::ZenohId::random(), WhatAmI::Peer);
    b_cfg.multilink = Some(new_key());
    let b_zid = b_cfg.zid;
    let first = RawPeer::connect(addr, b_cfg.clone()).await;
    let (ta, _) = a.expect_open(b_zid).await;
    let second = RawPeer::connect(addr, b_cfg).await;
    match a.next_event_for(b_zid).await {
        Ev::Event(_, TransportEvent::LinkAdded(_)) => {}
        other => panic!("expected the second link to join, got {other:?}"),
    }
    assert_eq!(ta.links().len(), 2);
    assert_eq!(
        first.est.remote_initial_sn, second.est.remote_initial_sn,
        "A announced different initial SNs on two links of one transport"
    );
    ta.close().await;
}

/// A and B connect to each other at the same time: each side keeps one transport with
/// two links, and data flows both ways whichever link opened each side's transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_connects_make_one_working_transport() {
    let mut a = Node::new();
    let mut b = Node::new();
    let la = a.listen(TCP).await;
    let lb = b.listen(TCP).await;
    let (ea, eb) = (lb.to_endpoint(), la.to_endpoint());
    let (ra, rb) = tokio::time::timeout(WAIT, async {
        tokio::join!(a.mgr.connect(&ea), b.mgr.connect(&eb))
    })
    .await
    .expect("connects timed out");
    let (ta, tb) = (ra.expect("A→B"), rb.expect("B→A"));
    let (a_zid, b_zid) = (a.zid(), b.zid());
    for (node, peer) in [(&mut a, b_zid), (&mut b, a_zid)] {
        node.expect_open(peer).await;
        match node.next_event_for(peer).await {
            Ev::Event(_, TransportEvent::LinkAdded(_)) => {}
            other => panic!("expected the second link, got {other:?}"),
        }
        assert_eq!(node.mgr.transports().len(), 1);
    }
    assert_eq!(ta.links().len(), 2);
    assert_eq!(tb.links().len(), 2);
    stream_messages(&ta, &mut b, a_zid, "a2b", 200).await;
    stream_messages(&tb, &mut a, b_zid, "b2a", 200).await;
    ta.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtt_is_measured_on_both_sides() {
    let mut a = Node::new();
    let mut b = Node::new();
    let (ta, tb) = pair(&mut a, &mut b).await;
    for t in [&ta, &tb] {
        let mut updates = t.rtt_updates();
        // A measurement may have landed before we subscribed: then the next one counts.
        if t.links()[0].rtt_us.is_none() {
            tokio::time::timeout(WAIT, updates.changed())
                .await
                .expect("no RTT measurement within 10 s")
                .expect("transport dropped");
        }
        let rtt = t.links()[0].rtt_us.expect("rtt known after an update");
        assert!(rtt > 0 && rtt < 5_000_000, "rtt {rtt} µs");
        // And it keeps being measured.
        tokio::time::timeout(WAIT, updates.changed())
            .await
            .expect("no second RTT measurement within 10 s")
            .expect("transport dropped");
        assert!(t.links()[0].rtt_us.is_some());
    }
    tb.close().await;
}

/// A few messages each way over `endpoint`, then a close; checks the link facts.
async fn small_exchange(listen: &str, streamed: bool, reliable: bool, protocol: &str) {
    let mut a = Node::new();
    let mut b = Node::new();
    let loc = a.listen(listen).await;
    assert_eq!(loc.protocol(), protocol);
    let tb = b.connect(&loc).await;
    let (ta, la) = a.expect_open(b.zid()).await;
    let (_, lb) = b.expect_open(a.zid()).await;
    for l in [&la, &lb] {
        assert_eq!(l.info.dst().protocol(), protocol);
        assert_eq!(l.info.is_streamed(), streamed, "{protocol} streamed");
        assert_eq!(l.info.is_reliable(), reliable, "{protocol} reliable");
    }
    for i in 0..20u64 {
        let size = if i == 10 { 100_000 } else { 100 };
        tb.send(&put("b2a", i, size), block()).await.expect("send");
        let m = a.next_msg(b.zid()).await;
        assert_eq!(seq_of(&m), i);
        assert!(key_and_payload(&m).1 == payload(i, size));
        ta.send(&put("a2b", i, size), block()).await.expect("send");
        let m = b.next_msg(a.zid()).await;
        assert_eq!(seq_of(&m), i);
        assert!(key_and_payload(&m).1 == payload(i, size));
    }
    tb.close().await;
    loop {
        match a.next_event_for(b.zid()).await {
            Ev::Event(_, TransportEvent::Closed { cause }) => {
                assert_eq!(cause, CloseCause::ByPeer(CloseReason::Generic));
                break;
            }
            Ev::Event(_, TransportEvent::LinkRemoved { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(a.mgr.transports().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_transport() {
    small_exchange("udp/127.0.0.1:0", false, false, "udp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_stream_transport() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.sock");
    small_exchange(
        &format!("unixsock-stream/{}", path.display()),
        true,
        true,
        "unixsock-stream",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_a_refused_port_is_a_link_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let b = Node::new();
    let ep = format!("tcp/127.0.0.1:{port}").parse().expect("endpoint");
    let res = tokio::time::timeout(WAIT, b.mgr.connect(&ep))
        .await
        .expect("connect timed out");
    match res {
        Err(TransportError::Link(e)) => eprintln!("refused as expected: {e}"),
        other => panic!("expected a link error, got {other:?}"),
    }
    assert!(b.mgr.transports().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_to_self_is_refused() {
    let mut a = Node::new();
    let loc = a.listen(TCP).await;
    let res = tokio::time::timeout(WAIT, a.mgr.connect(&loc.to_endpoint()))
        .await
        .expect("connect timed out");
    match res {
        Err(e @ TransportError::Handshake { .. }) => {
            assert!(
                e.to_string().contains("connection to self"),
                "error should name the connection to self: {e}"
            );
        }
        other => panic!("expected a handshake error, got {other:?}"),
    }
    assert!(a.mgr.transports().is_empty());
    assert!(a.no_event_queued(), "no transport opened");
    // The listener still works for others.
    let b = Node::new();
    let tb = b.connect(&loc).await;
    let (ta, _) = a.expect_open(b.zid()).await;
    assert_eq!(ta.zid(), b.zid());
    tb.close().await;
}
