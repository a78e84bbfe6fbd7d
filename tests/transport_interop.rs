//! Interop of Plexus transports with Zenoh 1.10.2 sessions over TCP on loopback.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ep;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::transport::CloseReason;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    CloseCause, PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler,
    TransportManager,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// What the Plexus side observed, in order.
#[derive(Debug)]
enum Seen {
    Opened(ZenohId, WhatAmI),
    Event(TransportEvent),
    Message,
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl TransportHandler for Recorder {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        let _ = self.0.send(Seen::Opened(t.zid(), t.whatami()));
        Arc::new(Recorder(self.0.clone()))
    }
}

impl PeerHandler for Recorder {
    fn message(&self, _msg: NetworkMessage) {
        let _ = self.0.send(Seen::Message);
    }
    fn event(&self, event: TransportEvent) {
        let _ = self.0.send(Seen::Event(event));
    }
}

fn plexus(lease: Duration) -> (TransportManager, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut cfg = TransportConfig::new(ZenohId::random(), WhatAmI::Peer);
    cfg.lease = lease;
    (TransportManager::new(cfg, Arc::new(Recorder(tx))), rx)
}

/// A Zenoh peer with a lease of 1 s.
fn zenoh_config(connect: Option<&str>, listen: Option<&str>) -> zenoh::Config {
    let mut c = common::zenoh_config("peer", connect, listen);
    c.insert_json5("transport/link/tx/lease", "1000")
        .expect("lease");
    c
}

/// Waits (bounded) for the next observation that is not a network message.
async fn next_event(rx: &mut mpsc::UnboundedReceiver<Seen>, within: Duration) -> Seen {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("timed out waiting for a transport event")
            .expect("event channel closed");
        if !matches!(seen, Seen::Message) {
            return seen;
        }
    }
}

/// Asserts that no close event arrives for `quiet` (the transport stays up).
async fn stays_up(rx: &mut mpsc::UnboundedReceiver<Seen>, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return,
            Ok(Some(Seen::Message)) => continue,
            Ok(other) => panic!("transport changed while idle: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_peer_connects_to_plexus_listener() {
    let (mgr, mut rx) = plexus(Duration::from_secs(1));
    let ep = ep("tcp/127.0.0.1:0");
    let locator = mgr.listen(&ep).await.expect("listen");

    let session = zenoh::open(zenoh_config(Some(&locator.to_string()), None))
        .await
        .expect("zenoh open");
    let zenoh_zid: ZenohId = session.zid().to_string().parse().expect("zid");

    match next_event(&mut rx, Duration::from_secs(10)).await {
        Seen::Opened(zid, whatami) => {
            assert_eq!(zid, zenoh_zid);
            assert_eq!(whatami, WhatAmI::Peer);
        }
        other => panic!("expected the transport to open, got {other:?}"),
    }
    match next_event(&mut rx, Duration::from_secs(5)).await {
        Seen::Event(TransportEvent::LinkAdded(link)) => {
            assert_eq!(link.info.dst().protocol(), "tcp");
        }
        other => panic!("expected a link, got {other:?}"),
    }
    // Both leases are 1 s: keep-alives must keep the idle transport up.
    stays_up(&mut rx, Duration::from_secs(3)).await;
    assert_eq!(mgr.transports().len(), 1);

    session.close().await.expect("zenoh close");
    match next_event(&mut rx, Duration::from_secs(5)).await {
        Seen::Event(TransportEvent::LinkRemoved { cause, .. }) => {
            assert_eq!(cause, CloseCause::ByPeer(CloseReason::Generic));
        }
        other => panic!("expected the link to go, got {other:?}"),
    }
    match next_event(&mut rx, Duration::from_secs(5)).await {
        Seen::Event(TransportEvent::Closed { cause }) => {
            assert_eq!(cause, CloseCause::ByPeer(CloseReason::Generic));
        }
        other => panic!("expected the transport to close, got {other:?}"),
    }
    assert!(mgr.transports().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plexus_connects_to_zenoh_listener() {
    let session = zenoh::open(zenoh_config(None, Some("tcp/127.0.0.1:0")))
        .await
        .expect("zenoh open");
    let locators = session.info().locators().await;
    let locator = locators
        .iter()
        .find(|l| l.protocol().as_str() == "tcp")
        .expect("zenoh reports its tcp listener")
        .to_string();
    let events = session
        .info()
        .transport_events_listener()
        .history(false)
        .await
        .expect("zenoh events listener");

    let (mgr, mut rx) = plexus(Duration::from_secs(1));
    let ep = ep(&locator);
    let transport = timeout(Duration::from_secs(10), mgr.connect(&ep))
        .await
        .expect("connect timed out")
        .expect("connect");
    assert_eq!(transport.zid().to_string(), session.zid().to_string());
    assert_eq!(transport.whatami(), WhatAmI::Peer);
    assert!(transport.is_qos());

    let opened = timeout(Duration::from_secs(5), events.recv_async())
        .await
        .expect("zenoh saw no transport")
        .expect("zenoh events");
    assert_eq!(opened.kind(), zenoh::sample::SampleKind::Put);
    assert!(matches!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Seen::Opened(..)
    ));
    assert!(matches!(
        next_event(&mut rx, Duration::from_secs(5)).await,
        Seen::Event(TransportEvent::LinkAdded(_))
    ));

    stays_up(&mut rx, Duration::from_secs(3)).await;
    assert!(!transport.is_closed());

    transport.close().await;
    let closed = timeout(Duration::from_secs(5), events.recv_async())
        .await
        .expect("zenoh did not see the close")
        .expect("zenoh events");
    assert_eq!(closed.kind(), zenoh::sample::SampleKind::Delete);
    assert_eq!(transport.close_cause(), Some(CloseCause::Local));
    session.close().await.expect("zenoh close");
}
