//! What a Plexus session puts on the wire, seen by a bare transport that records every
//! network message: key-expression ids declared by publishers and used by their
//! publications, and liveliness tokens declared and withdrawn.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{WAIT, ep, plexus_connected};
use plexus::WhatAmI;
use plexus_transport::wire::network::{
    Declare, DeclareBody, Mapping, NetQos, NetworkMessage, WireExpr,
};
use plexus_transport::wire::{CongestionControl, Priority, Reliability, ZenohId};
use plexus_transport::{
    PeerHandler, SendOptions, Transport, TransportConfig, TransportEvent, TransportHandler,
    TransportManager,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

struct Recorder(
    mpsc::UnboundedSender<NetworkMessage>,
    mpsc::UnboundedSender<Transport>,
);

impl TransportHandler for Recorder {
    fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
        let _ = self.1.send(t.clone());
        Arc::new(Recorder(self.0.clone(), self.1.clone()))
    }
}

impl PeerHandler for Recorder {
    fn message(&self, msg: NetworkMessage) {
        let _ = self.0.send(msg);
    }
    fn event(&self, _: TransportEvent) {}
}

/// A bare peer transport listening on loopback, the transport a Plexus peer opened to
/// it, and everything that peer sends.
struct Bare {
    _mgr: TransportManager,
    transport: Transport,
    rx: mpsc::UnboundedReceiver<NetworkMessage>,
    _session: plexus::Session,
}

impl Bare {
    async fn with_plexus_peer() -> Bare {
        let (mtx, rx) = mpsc::unbounded_channel();
        let (ttx, mut trx) = mpsc::unbounded_channel();
        let mgr = TransportManager::new(
            TransportConfig::new(ZenohId::random(), WhatAmI::Peer),
            Arc::new(Recorder(mtx, ttx)),
        );
        let loc = mgr.listen(&ep("tcp/127.0.0.1:0")).await.expect("listen");
        let session = plexus_connected(WhatAmI::Peer, &loc.to_string()).await;
        let transport = timeout(WAIT, trx.recv())
            .await
            .expect("the Plexus peer never connected")
            .expect("transport");
        Bare {
            _mgr: mgr,
            transport,
            rx,
            _session: session,
        }
    }

    /// The next message that `pick` accepts, skipping others, within [`WAIT`].
    async fn next<T>(&mut self, mut pick: impl FnMut(&NetworkMessage) -> Option<T>) -> T {
        timeout(WAIT, async {
            loop {
                let m = self.rx.recv().await.expect("the transport closed");
                if let Some(t) = pick(&m) {
                    return t;
                }
            }
        })
        .await
        .expect("the expected message never came")
    }

    async fn declare(&self, body: DeclareBody) {
        let msg = NetworkMessage::Declare(Declare {
            interest_id: None,
            qos: NetQos::DECLARE,
            timestamp: None,
            node_id: 0,
            body,
        });
        let opts = SendOptions {
            priority: Priority::Control,
            reliability: Reliability::Reliable,
            congestion: CongestionControl::Block,
            express: false,
        };
        self.transport.send(&msg, opts).await.expect("send");
    }
}

fn declared(m: &NetworkMessage) -> Option<DeclareBody> {
    match m {
        NetworkMessage::Declare(d) => Some(d.body.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_declares_its_key_once_and_publishes_by_id() {
    let mut bare = Bare::with_plexus_peer().await;
    bare.declare(DeclareBody::Subscriber {
        id: 1,
        wire_expr: WireExpr::key("wire/**"),
    })
    .await;
    let session = bare._session.clone();
    // Wait until the session knows the subscription.
    let publisher = session
        .declare_publisher("wire/pub")
        .await
        .expect("publisher");
    timeout(WAIT, async {
        while !publisher.matching_status() {
            publisher.matching_changed(false).await;
        }
    })
    .await
    .expect("the subscription never arrived");

    let id = bare
        .next(|m| match declared(m) {
            Some(DeclareBody::KeyExpr { id, wire_expr }) if wire_expr.suffix == "wire/pub" => {
                Some(id)
            }
            _ => None,
        })
        .await;
    assert_ne!(id, 0, "expression ids start at 1");

    for i in 0..3u8 {
        publisher.put(vec![i]).await.expect("put");
        let we = bare
            .next(|m| match m {
                NetworkMessage::Push(p) => Some(p.wire_expr.clone()),
                _ => None,
            })
            .await;
        assert_eq!(
            we,
            WireExpr::new(id, String::new(), Mapping::Sender),
            "publication {i} should name the key by the declared id"
        );
    }

    // A second publisher on the same key shares the id; dropping both withdraws it.
    let second = session
        .declare_publisher("wire/pub")
        .await
        .expect("publisher");
    drop(publisher);
    second.put("still by id").await.expect("put");
    let we = bare
        .next(|m| match m {
            NetworkMessage::Push(p) => Some(p.wire_expr.clone()),
            _ => None,
        })
        .await;
    assert_eq!(we.scope, id);
    drop(second);
    let gone = bare
        .next(|m| match declared(m) {
            Some(DeclareBody::UndeclareKeyExpr { id }) => Some(id),
            _ => None,
        })
        .await;
    assert_eq!(gone, id);

    // Without a publisher, the full key goes on the wire.
    session.put("wire/pub", "in full").await.expect("put");
    let we = bare
        .next(|m| match m {
            NetworkMessage::Push(p) => Some(p.wire_expr.clone()),
            _ => None,
        })
        .await;
    assert_eq!((we.scope, we.suffix.as_str()), (0, "wire/pub"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_declared_to_a_peer_and_withdrawn_when_dropped() {
    let mut bare = Bare::with_plexus_peer().await;
    let session = bare._session.clone();
    let token = session
        .liveliness()
        .declare_token("wire/alive")
        .await
        .expect("token");
    let id = bare
        .next(|m| match declared(m) {
            Some(DeclareBody::Token { id, wire_expr }) => {
                assert_eq!(wire_expr.suffix, "wire/alive");
                Some(id)
            }
            _ => None,
        })
        .await;
    drop(token);
    let (gone, we) = bare
        .next(|m| match declared(m) {
            Some(DeclareBody::UndeclareToken { id, wire_expr }) => Some((id, wire_expr)),
            _ => None,
        })
        .await;
    assert_eq!(gone, id);
    assert_eq!(we.map(|w| w.suffix), Some("wire/alive".to_string()));

    // A token declared by the bare peer reaches the session's liveliness subscriber.
    let sub = session
        .liveliness()
        .declare_subscriber("wire/**")
        .await
        .expect("liveliness subscriber");
    bare.declare(DeclareBody::Token {
        id: 9,
        wire_expr: WireExpr::key("wire/bare"),
    })
    .await;
    let s = timeout(WAIT, sub.recv_async())
        .await
        .expect("no liveliness sample")
        .expect("channel");
    assert_eq!(s.key_expr().as_str(), "wire/bare");
    assert_eq!(s.kind(), plexus::SampleKind::Put);
    bare.declare(DeclareBody::UndeclareToken {
        id: 9,
        wire_expr: None,
    })
    .await;
    let s = timeout(WAIT, sub.recv_async())
        .await
        .expect("no liveliness delete")
        .expect("channel");
    assert_eq!(s.kind(), plexus::SampleKind::Delete);
    // An undeclaration of a token never declared changes nothing.
    bare.declare(DeclareBody::UndeclareToken {
        id: 77,
        wire_expr: None,
    })
    .await;
    assert!(
        timeout(Duration::from_millis(300), sub.recv_async())
            .await
            .is_err(),
        "an unknown token's undeclaration produced a sample"
    );
}
