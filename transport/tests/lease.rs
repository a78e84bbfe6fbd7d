//! Lease and keep-alive behaviour against a hand-driven peer that stays silent.

mod common;

use std::time::{Duration, Instant};

use common::{Ev, Node, RawPeer, WAIT, raw_cfg, socket_addr};
use plexus_transport::wire::transport::TransportMessage;
use plexus_transport::{CloseCause, TransportEvent};

const TCP: &str = "tcp/127.0.0.1:0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peer_expires_after_its_lease() {
    // A's own lease (1 s) sets its keep-alive period; the raw peer's (500 ms) sets how
    // long A waits for input from it.
    let mut a = Node::with(|c| c.lease = Duration::from_secs(1));
    let loc = a.listen(TCP).await;
    let cfg = raw_cfg(Duration::from_millis(500));
    let zid = cfg.zid;
    // A's lease timer starts after it answered our OPEN: after this instant.
    let silent_since = Instant::now();
    let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
    assert_eq!(
        raw.est.remote_lease,
        Duration::from_secs(1),
        "A announced 1 s"
    );

    let (t, link) = a.expect_open(zid).await;
    assert_eq!(t.remote_lease(), Duration::from_millis(500));
    assert_eq!(t.local_lease(), Duration::from_secs(1));
    match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::LinkRemoved { link: l, cause }) => {
            assert_eq!(l.id, link.id);
            assert_eq!(cause, CloseCause::LeaseExpired);
        }
        other => panic!("expected the link to expire, got {other:?}"),
    }
    match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::Closed { cause }) => {
            assert_eq!(cause, CloseCause::LeaseExpired)
        }
        other => panic!("expected the transport to close, got {other:?}"),
    }
    let elapsed = silent_since.elapsed();
    eprintln!("expired {elapsed:?} after the handshake began (lease 500 ms)");
    assert!(
        elapsed >= Duration::from_millis(500),
        "expired before the lease: {elapsed:?}"
    );
    assert_eq!(t.close_cause(), Some(CloseCause::LeaseExpired));
    assert!(a.mgr.transports().is_empty());

    // A closes the socket; what it sent meanwhile decodes and holds no data.
    let drained = raw.drain_until_eof().await;
    assert_eq!(drained.error, None);
    eprintln!(
        "A sent {} keep-alives while the raw peer was silent: {:?}",
        drained.keep_alives(),
        drained.msgs
    );
    assert!(
        drained.msgs.iter().all(|m| matches!(
            m,
            TransportMessage::KeepAlive | TransportMessage::Oam(_) | TransportMessage::Close(_)
        )),
        "{:?}",
        drained.msgs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_link_gets_keep_alives() {
    let mut a = Node::with(|c| c.lease = Duration::from_secs(1));
    let loc = a.listen(TCP).await;
    // A long lease for the raw peer: A must not drop it while it listens.
    let cfg = raw_cfg(Duration::from_secs(30));
    let zid = cfg.zid;
    let mut raw = RawPeer::connect(socket_addr(&loc), cfg).await;
    let (t, _) = a.expect_open(zid).await;

    let started = Instant::now();
    let mut keep_alives = 0;
    let mut seen = Vec::new();
    while keep_alives < 4 {
        let m = tokio::time::timeout(WAIT, raw.next_transport_message())
            .await
            .expect("A stopped sending keep-alives")
            .expect("A closed the link");
        match &m {
            TransportMessage::KeepAlive => keep_alives += 1,
            TransportMessage::Oam(_) => {}
            other => panic!("unexpected {other:?} on an idle link"),
        }
        seen.push(m);
    }
    eprintln!("4 keep-alives in {:?}: {seen:?}", started.elapsed());
    assert!(!t.is_closed());
    assert!(a.no_event_queued(), "the idle link stays up");
    drop(raw);
    match a.next_event_for(zid).await {
        Ev::Event(_, TransportEvent::LinkRemoved { cause, .. }) => {
            assert!(matches!(cause, CloseCause::LinkFailed(_)), "{cause:?}")
        }
        other => panic!("expected the link to go, got {other:?}"),
    }
}
