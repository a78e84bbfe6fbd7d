//! Closed transports are freed: after many transports opened and closed, and both
//! managers closed, no transport is alive in the process. (Alone in its test binary:
//! the count is process-wide.)

use std::sync::Arc;
use std::time::Duration;

use plexus_link::Endpoint;
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, Transport, TransportConfig, TransportEvent, TransportHandler, TransportManager,
    alive_transports,
};

/// A handler that, like a session's face, holds its transport; it also hands each new
/// transport to the test.
struct Holder(tokio::sync::mpsc::UnboundedSender<Transport>);
struct Face(#[allow(dead_code)] Transport);

impl TransportHandler for Holder {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        let _ = self.0.send(t.clone());
        Arc::new(Face(t.clone()))
    }
}

impl PeerHandler for Face {
    fn message(&self, _: NetworkMessage) {}
    fn event(&self, _: TransportEvent) {}
}

fn manager() -> (
    TransportManager,
    tokio::sync::mpsc::UnboundedReceiver<Transport>,
) {
    let cfg = TransportConfig::new(ZenohId::random(), WhatAmI::Peer);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (TransportManager::new(cfg, Arc::new(Holder(tx))), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_transports_are_freed_and_close_waits_for_their_tasks() {
    const WAIT: Duration = Duration::from_secs(10);
    let (a, mut opened_a) = manager();
    let ep: Endpoint = "tcp/127.0.0.1:0".parse().expect("endpoint");
    let loc = a.listen(&ep).await.expect("listen");
    let (b, mut opened_b) = manager();
    for i in 0..300 {
        let t = tokio::time::timeout(WAIT, b.connect(&loc.to_endpoint()))
            .await
            .expect("connect in time")
            .expect("connect");
        let far = tokio::time::timeout(WAIT, opened_a.recv())
            .await
            .expect("the far side opens it")
            .expect("a is open");
        opened_b.recv().await.expect("b is open");
        if i % 2 == 0 {
            tokio::time::timeout(WAIT, t.close()).await.expect("close");
            assert!(t.is_closed());
            // The far side must have seen the CLOSE before B reconnects with its zid:
            // while its transport is open, a new link announcing the zid is refused
            // (`max_links`).
            tokio::time::timeout(WAIT, far.closed())
                .await
                .expect("the close reaches the far side");
        } else {
            // The other side closes.
            tokio::time::timeout(WAIT, far.close())
                .await
                .expect("close");
            tokio::time::timeout(WAIT, t.closed())
                .await
                .expect("the close reaches this side");
        }
    }
    // One left open on each side: the managers close it.
    let open = b.connect(&loc.to_endpoint()).await.expect("connect");
    assert!(alive_transports() >= 1);
    tokio::time::timeout(WAIT, b.close())
        .await
        .expect("close b");
    tokio::time::timeout(WAIT, a.close())
        .await
        .expect("close a");
    drop(open);
    drop((opened_a, opened_b));
    assert_eq!(
        alive_transports(),
        0,
        "closed transports still alive after both managers closed"
    );
}
