//! Limits against hostile peers in the transport manager: the absolute handshake
//! deadline, `accept_pending`, `max_sessions`, `max_links` (a link with a live zid),
//! and the input that arrives in the same batch as the handshake's last message.

mod common;

use std::time::{Duration, Instant};

use common::raw::{
    closed_by_remote, frame, one, open_syn_by_hand, pipelined_open_refused_for_max_links, prefixed,
    read_batch, tcp, trickling_handshakes_closed_at,
};
use common::{Ev, Node, RawPeer, WAIT, key_and_payload, put};
use plexus_transport::handshake::{Handshake, HandshakeConfig};
use plexus_transport::wire::transport::{CloseReason, StreamFramer, TransportMessage};
use plexus_transport::wire::{Priority, Reliability, WhatAmI, ZenohId};
use plexus_transport::{SendOptions, TransportError, TransportEvent};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const TCP: &str = "tcp/127.0.0.1:0";

/// True while nothing arrived on `stream` and it is still open.
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 16];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// A FRAME on the reliable Data channel with `sn`, then a PUSH/PUT on `key`.
fn frame_with_put(sn: u32, key: &str) -> Vec<u8> {
    frame(sn, &put(key, 7, 16))
}

fn block() -> SendOptions {
    SendOptions {
        priority: Priority::Data,
        reliability: Reliability::Reliable,
        congestion: plexus_transport::wire::CongestionControl::Block,
        express: false,
    }
}

/// Connections that trickle one byte at a time, each well within the deadline of the
/// one before, are closed when the handshake's deadline (from the connection's start)
/// passes: partial input does not restart it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_handshakes_are_closed_at_the_deadline() {
    let timeout = Duration::from_millis(1500);
    let a = Node::with(|c| c.accept_timeout = timeout);
    let addr = common::socket_addr(&a.listen(TCP).await);
    // A real INIT syn, sent a byte at a time: it never completes in time.
    trickling_handshakes_closed_at(addr, 20, timeout).await;
    assert!(a.mgr.transports().is_empty());
}

/// With `accept_pending = 3`, a fourth connection while three handshakes are in
/// progress is closed at once; once one of them completes, a new one is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_pending_closes_connections_beyond_the_limit() {
    let mut a = Node::with(|c| {
        c.accept_pending = 3;
        c.accept_timeout = Duration::from_secs(60);
    });
    let addr = common::socket_addr(&a.listen(TCP).await);
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tcp(addr).await);
    }
    // Accepted in order: the three are pending when the fourth comes.
    let mut fourth = tcp(addr).await;
    let got = closed_by_remote(&mut fourth).await;
    assert!(got.is_empty(), "the refused connection got {got:?}");
    assert!(
        silent.iter().all(still_open),
        "a pending handshake was closed"
    );
    // One of the three completes its handshake: room for one more.
    let first = silent.remove(0);
    let cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
    let zid = cfg.zid;
    let _peer = RawPeer::try_handshake(first, cfg)
        .await
        .expect("a pending handshake completes");
    a.expect_open(zid).await;
    let cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
    let zid = cfg.zid;
    let _next = RawPeer::connect(addr, cfg).await;
    a.expect_open(zid).await;
    assert!(silent.iter().all(still_open));
    a.mgr.close().await;
}

/// With `max_sessions = 2`, a handshake that would open a third transport is refused
/// with CLOSE(MAX_SESSIONS) instead of the OPEN ack, and the two carry on; once one
/// closes, a new one opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_refuses_one_transport_too_many() {
    let mut a = Node::with(|c| c.max_sessions = 2);
    let loc = a.listen(TCP).await;
    let addr = common::socket_addr(&loc);
    let mut peers = Vec::new();
    for _ in 0..2 {
        let cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
        let zid = cfg.zid;
        peers.push((zid, RawPeer::connect(addr, cfg).await));
        a.expect_open(zid).await;
    }
    // A raw third peer: refused with the reason.
    let err = RawPeer::try_connect(addr, HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer))
        .await
        .err()
        .expect("a third transport was accepted");
    assert!(err.contains("too many sessions"), "{err}");
    // A Plexus node: its connect fails with the reason.
    let b = Node::new();
    let err = tokio::time::timeout(WAIT, b.mgr.connect(&loc.to_endpoint()))
        .await
        .expect("connect timed out")
        .expect_err("a third transport was accepted");
    assert!(err.to_string().contains("too many sessions"), "{err}");
    assert!(b.mgr.transports().is_empty());
    assert_eq!(a.mgr.transports().len(), 2);
    assert!(a.no_event_queued());
    // The two carry on.
    for (zid, p) in &mut peers {
        let ta = a.mgr.transport(zid).expect("A lost a transport");
        assert!(
            ta.send(&put("still/here", 1, 8), block())
                .await
                .expect("send")
        );
        let got = tokio::time::timeout(WAIT, async {
            loop {
                match p.next_transport_message().await {
                    // RTT probes and keep-alives may come first.
                    Some(TransportMessage::Oam(_) | TransportMessage::KeepAlive) => {}
                    other => return other,
                }
            }
        })
        .await
        .expect("no message in time");
        assert!(matches!(got, Some(TransportMessage::Frame(_))), "{got:?}");
    }
    // One goes: a new transport may open.
    let (gone_zid, gone) = peers.pop().expect("two peers");
    drop(gone);
    loop {
        if let Ev::Event(_, TransportEvent::Closed { .. }) = a.next_event_for(gone_zid).await {
            break;
        }
    }
    let c = Node::new();
    let t = tokio::time::timeout(WAIT, c.mgr.connect(&loc.to_endpoint()))
        .await
        .expect("connect timed out")
        .expect("a slot was free again");
    assert!(!t.is_closed());
    a.mgr.close().await;
}

/// The limit holds on links we open too: the refusal is local, and CLOSE tells the
/// peer why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_applies_to_links_we_open() {
    let a = Node::new();
    let b = Node::new();
    let la = a.listen(TCP).await;
    let lb = b.listen(TCP).await;
    let c = Node::with(|c| c.max_sessions = 1);
    tokio::time::timeout(WAIT, c.mgr.connect(&la.to_endpoint()))
        .await
        .expect("connect timed out")
        .expect("the first transport opens");
    let err = tokio::time::timeout(WAIT, c.mgr.connect(&lb.to_endpoint()))
        .await
        .expect("connect timed out")
        .expect_err("a second transport opened");
    assert!(
        matches!(
            err,
            TransportError::Refused {
                reason: CloseReason::MaxSessions,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("max_sessions"), "{err}");
    assert_eq!(c.mgr.transports().len(), 1);
}

/// A stranger announcing the zid of a live peer is refused (CLOSE(MAX_LINKS) instead
/// of the OPEN ack), even when it sends CLOSE and data right behind its OPEN syn; the
/// victim's transport keeps its single link and carries data both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zid_collision_is_refused_without_disturbing_the_victim() {
    let mut a = Node::new();
    let mut b = Node::new();
    let loc = a.listen(TCP).await;
    let addr = common::socket_addr(&loc);
    let tb = b.connect(&loc).await;
    let (ta, _) = a.expect_open(b.zid()).await;
    b.expect_open(a.zid()).await;

    // The intruder: B's zid; OPEN syn, a session CLOSE and a publication in one write.
    let mut intruder = tcp(addr).await;
    let mut framer = StreamFramer::new(u16::MAX);
    let (_hs, open) = open_syn_by_hand(
        &mut intruder,
        &mut framer,
        HandshakeConfig::new(b.zid(), WhatAmI::Peer),
    )
    .await;
    pipelined_open_refused_for_max_links(
        &mut intruder,
        &mut framer,
        &open,
        &put("intruder/1", 7, 16),
    )
    .await;

    // The victim: still open, one link, data both ways; nothing from the intruder.
    assert!(!ta.is_closed() && !tb.is_closed());
    assert_eq!(ta.links().len(), 1);
    assert!(a.no_event_queued(), "A reported something about B");
    for i in 0..20u64 {
        assert!(
            tb.send(&put("victim/b2a", i, 64), block())
                .await
                .expect("send")
        );
        assert!(
            ta.send(&put("victim/a2b", i, 64), block())
                .await
                .expect("send")
        );
    }
    for i in 0..20u64 {
        let (k, _) = key_and_payload(&a.next_msg(b.zid()).await);
        assert_eq!(k, "victim/b2a", "message {i} at A");
        let (k, _) = key_and_payload(&b.next_msg(a.zid()).await);
        assert_eq!(k, "victim/a2b", "message {i} at B");
    }
    assert!(!ta.is_closed() && !tb.is_closed());
    a.mgr.close().await;
    b.mgr.close().await;
}

/// Handshakes with one zid that complete together: only one is told it opened the
/// transport (OPEN ack); the others get CLOSE(MAX_LINKS) instead. The acceptor admits a
/// link before its OPEN ack goes out and adds it after, so without a hold on the zid in
/// between, two could pass the check, both be acknowledged, and the later one either be
/// closed right after its ack or, if it was added first, take the zid from the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_completing_together_with_one_zid_open_it_once() {
    const N: usize = 8;
    let mut a = Node::new();
    let addr = common::socket_addr(&a.listen(TCP).await);
    for round in 0..20 {
        let zid = ZenohId::random();
        // INIT exchanged on every connection first; then all the OPEN syns at once.
        let mut ready = Vec::new();
        for _ in 0..N {
            let mut stream = tcp(addr).await;
            let mut framer = StreamFramer::new(u16::MAX);
            let (_hs, open) = open_syn_by_hand(
                &mut stream,
                &mut framer,
                HandshakeConfig::new(zid, WhatAmI::Peer),
            )
            .await;
            ready.push((stream, framer, one(&open)));
        }
        let go = std::sync::Arc::new(tokio::sync::Barrier::new(N));
        let answers: Vec<_> = ready
            .into_iter()
            .map(|(mut stream, mut framer, open)| {
                let go = go.clone();
                tokio::spawn(async move {
                    go.wait().await;
                    stream.write_all(&open).await.expect("write");
                    let first = read_batch(&mut stream, &mut framer).await;
                    (first, stream)
                })
            })
            .collect();
        let mut acked = Vec::new();
        for answer in answers {
            let (first, stream) = answer.await.expect("handshake task");
            match first.as_slice() {
                [TransportMessage::Open(o), ..] if o.ack => acked.push(stream),
                [TransportMessage::Close(c), ..] if c.reason == CloseReason::MaxLinks => {}
                other => panic!("round {round}: unexpected answer {other:?}"),
            }
        }
        assert_eq!(acked.len(), 1, "round {round}: OPEN acks for one zid");
        a.expect_open(zid).await;
        let ta = a.mgr.transports();
        assert_eq!(ta.iter().filter(|t| t.zid() == zid).count(), 1);
        drop(acked);
    }
    a.mgr.close().await;
}

/// Messages in the same batch as the acceptor's last handshake input (the OPEN syn)
/// are the transport's first input, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_behind_the_open_syn_are_delivered() {
    let mut a = Node::new();
    let addr = common::socket_addr(&a.listen(TCP).await);
    let mut stream = tcp(addr).await;
    let mut framer = StreamFramer::new(u16::MAX);
    let cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
    let zid = cfg.zid;
    let (mut hs, open) = open_syn_by_hand(&mut stream, &mut framer, cfg).await;
    let TransportMessage::Open(syn) = &open else {
        panic!("expected OPEN syn, got {open:?}")
    };
    let mut batch = Vec::new();
    open.write(&mut batch);
    batch.extend(frame_with_put(syn.initial_sn, "behind/open"));
    stream.write_all(&prefixed(&batch)).await.expect("write");
    for m in read_batch(&mut stream, &mut framer).await {
        hs.handle_message(m, Instant::now()).expect("OPEN ack");
    }
    assert!(hs.established().is_some());
    a.expect_open(zid).await;
    let (k, _) = key_and_payload(&a.next_msg(zid).await);
    assert_eq!(k, "behind/open");
    a.mgr.close().await;
}

/// The same on the opener's side: what follows the OPEN ack in its batch is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_behind_the_open_ack_are_delivered() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut b = Node::new();
    let ep = format!("tcp/{addr}").parse().expect("endpoint");
    let mgr = b.mgr.clone();
    let connect = tokio::spawn(async move { mgr.connect(&ep).await });
    let (mut stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("accept timed out")
        .expect("accept");
    let mut framer = StreamFramer::new(u16::MAX);
    let cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
    let zid = cfg.zid;
    let mut hs = Handshake::acceptor(cfg, Instant::now());
    loop {
        for m in read_batch(&mut stream, &mut framer).await {
            hs.handle_message(m, Instant::now())
                .expect("handshake step");
        }
        let Some(reply) = hs.poll_transmit() else {
            panic!("no answer")
        };
        if hs.established().is_none() {
            stream.write_all(&one(&reply)).await.expect("write");
            continue;
        }
        // The OPEN ack, with a publication behind it in the same batch.
        let est = hs.established().expect("established").clone();
        let mut batch = Vec::new();
        reply.write(&mut batch);
        batch.extend(frame_with_put(est.local_initial_sn, "behind/ack"));
        stream.write_all(&prefixed(&batch)).await.expect("write");
        break;
    }
    let t = tokio::time::timeout(WAIT, connect)
        .await
        .expect("connect timed out")
        .expect("task")
        .expect("connect");
    assert_eq!(t.zid(), zid);
    let (k, _) = key_and_payload(&b.next_msg(zid).await);
    assert_eq!(k, "behind/ack");
    b.mgr.close().await;
}

/// A link we open also joins only with the transport's multilink key: a process that
/// answers with the zid of a live transport but another key is refused with
/// CLOSE(INVALID), as Zenoh refuses it, and the transport keeps its one link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_we_open_must_lead_to_the_transports_key() {
    let mut a = Node::with(|c| c.max_links = 2);
    let b = Node::with(|c| c.max_links = 2);
    let b_zid = b.zid();
    // Another process with B's zid and a key of its own.
    let impostor = Node::with(|c| {
        c.zid = b_zid;
        c.max_links = 2;
    });
    let ta = a.connect(&b.listen(TCP).await).await;
    a.expect_open(b_zid).await;

    let loc = impostor.listen(TCP).await;
    let err = tokio::time::timeout(WAIT, a.mgr.connect(&loc.to_endpoint()))
        .await
        .expect("connect timed out")
        .expect_err("a link to another key joined");
    match &err {
        TransportError::Refused {
            zid,
            reason,
            detail,
        } => {
            assert_eq!(*zid, b_zid);
            assert_eq!(*reason, CloseReason::Invalid);
            assert!(detail.contains("another key"), "{detail}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert_eq!(ta.links().len(), 1);
    assert!(!ta.is_closed());
    assert!(a.no_event_queued());
    a.mgr.close().await;
}

/// With `max_links = 2`, a link with a live zid joins only if it proves, with the
/// multilink extension, the key of the link that opened the transport, and only while
/// the transport holds fewer than two accepted links; the refused ones leave the
/// transport alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_links_must_prove_the_transports_key() {
    use plexus_transport::multilink::MultilinkKey;
    use std::sync::Arc;
    let mut a = Node::with(|c| c.max_links = 2);
    let addr = common::socket_addr(&a.listen(TCP).await);
    let victim_key = Arc::new(MultilinkKey::generate().expect("key"));
    let mut cfg = HandshakeConfig::new(ZenohId::random(), WhatAmI::Peer);
    cfg.multilink = Some(victim_key.clone());
    let zid = cfg.zid;
    let mut victim = RawPeer::connect(addr, cfg.clone()).await;
    assert!(
        victim.est.multilink_key.is_some(),
        "A did not agree multilink"
    );
    let (ta, _) = a.expect_open(zid).await;

    // Without a key, and with another key: refused.
    let mut keyless = cfg.clone();
    keyless.multilink = None;
    let mut forger = cfg.clone();
    forger.multilink = Some(Arc::new(MultilinkKey::generate().expect("key")));
    for (who, c) in [("keyless", keyless), ("forger", forger)] {
        let err = RawPeer::try_connect(addr, c)
            .await
            .err()
            .unwrap_or_else(|| panic!("the {who} link joined"));
        // Zenoh's reason for a link whose multilink key is not its transport's.
        assert!(err.contains("closed by the peer: invalid"), "{who}: {err}");
    }
    assert_eq!(ta.links().len(), 1);
    assert!(a.no_event_queued());

    // The victim's own second link joins; a third is one too many.
    let _second = RawPeer::connect(addr, cfg.clone()).await;
    match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::LinkAdded(_)) => {}
        other => panic!("expected the second link to join, got {other:?}"),
    }
    let err = RawPeer::try_connect(addr, cfg)
        .await
        .err()
        .expect("a third accepted link joined");
    assert!(err.contains("too many links"), "{err}");
    assert_eq!(ta.links().len(), 2);

    // The victim's first link still carries data.
    assert!(ta.send(&put("victim", 1, 8), block()).await.expect("send"));
    let got = tokio::time::timeout(WAIT, async {
        loop {
            match victim.next_transport_message().await {
                Some(TransportMessage::Oam(_) | TransportMessage::KeepAlive) => {}
                other => return other,
            }
        }
    })
    .await
    .expect("no message in time");
    // The first link writes the transport's data.
    assert!(matches!(got, Some(TransportMessage::Frame(_))), "{got:?}");
    assert!(!ta.is_closed());
    a.mgr.close().await;
}
