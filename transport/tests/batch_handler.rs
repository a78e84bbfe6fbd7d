//! Peer handlers that take a batch's PUSHes through their own sink
//! ([`PeerHandler::batch`]), against a hand-driven peer sending one batch that mixes
//! PUSHes with another network message: everything arrives once, in order, and a
//! handler that does not read the batch still gets its PUSHes one by one.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RawPeer, WAIT, key_and_payload, put, raw_cfg, socket_addr};
use plexus_transport::wire::network::{
    Declare, DeclareBody, NetQos, NetworkMessage, Push, WireExpr,
};
use plexus_transport::wire::transport::{FrameHeader, TransportMessage};
use plexus_transport::wire::{Priority, Reliability, WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, PushSink, Transport, TransportConfig, TransportEvent, TransportHandler,
    TransportManager,
};
use tokio::sync::Notify;

/// What the handler saw, one line per call, shared with the test.
#[derive(Default)]
struct Seen {
    lines: Mutex<Vec<String>>,
    changed: Notify,
}

impl Seen {
    fn add(&self, line: String) {
        self.lines.lock().expect("lock").push(line);
        self.changed.notify_one();
    }

    /// Waits (bounded) until `n` lines were seen; returns them.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        let done = tokio::time::timeout(WAIT, async {
            loop {
                let notified = self.changed.notified();
                if self.lines.lock().expect("lock").len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        let lines = self.lines.lock().expect("lock").clone();
        assert!(done.is_ok(), "saw only {lines:?}, expected {n} lines");
        lines
    }
}

/// How a handler treats a batch.
#[derive(Clone, Copy)]
enum Style {
    /// Reads it with its own sink, noting where each batch starts.
    Sink,
    /// Does not call `read` at all.
    Ignores,
}

struct Handler(Arc<Seen>, Style);

impl TransportHandler for Handler {
    fn opened(&self, _: &Transport) -> Arc<dyn PeerHandler> {
        Arc::new(Handler(self.0.clone(), self.1))
    }
}

fn describe(msg: &NetworkMessage) -> String {
    match msg {
        NetworkMessage::Push(_) => format!("put {}", key_and_payload(msg).0),
        NetworkMessage::Declare(d) => match &d.body {
            DeclareBody::KeyExpr { id, .. } => format!("declare {id}"),
            other => format!("{other:?}"),
        },
        other => format!("{other:?}"),
    }
}

struct Sink<'a>(&'a Seen);

impl PushSink for Sink<'_> {
    fn push(&mut self, push: &mut Push) {
        let msg = NetworkMessage::Push(push.clone());
        self.0.add(format!("sink {}", describe(&msg)));
    }
}

impl PeerHandler for Handler {
    fn message(&self, msg: NetworkMessage) {
        self.0.add(format!("message {}", describe(&msg)));
    }

    fn push(&self, push: &mut Push) {
        let msg = NetworkMessage::Push(push.clone());
        self.0.add(format!("push {}", describe(&msg)));
    }

    fn batch(&self, read: &mut dyn FnMut(&mut dyn PushSink)) {
        match self.1 {
            Style::Sink => {
                self.0.add("batch".to_string());
                read(&mut Sink(&self.0));
            }
            Style::Ignores => {}
        }
    }

    fn event(&self, _: TransportEvent) {}
}

/// One batch: a FRAME (its first, `sn`) holding PUT a, PUT b, a key-expression
/// declaration, PUT c.
fn mixed_batch(sn: u32) -> Vec<u8> {
    let mut b = Vec::new();
    TransportMessage::Frame(FrameHeader {
        reliability: Reliability::Reliable,
        sn,
        priority: Priority::Data,
    })
    .write(&mut b);
    put("t/a", 1, 8).write(&mut b);
    put("t/b", 2, 8).write(&mut b);
    NetworkMessage::Declare(Declare {
        interest_id: None,
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id: 0,
        body: DeclareBody::KeyExpr {
            id: 7,
            wire_expr: WireExpr::key("t/x"),
        },
    })
    .write(&mut b);
    put("t/c", 3, 8).write(&mut b);
    b
}

/// A node whose handler treats batches in `style`, with a raw peer connected to it.
async fn node_and_peer(style: Style) -> (TransportManager, RawPeer, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let mgr = TransportManager::new(
        TransportConfig::new(ZenohId::random(), WhatAmI::Peer),
        Arc::new(Handler(seen.clone(), style)),
    );
    let ep = "tcp/127.0.0.1:0".parse().expect("endpoint");
    let locator = mgr.listen(&ep).await.expect("listen");
    let raw = RawPeer::connect(socket_addr(&locator), raw_cfg(Duration::from_secs(10))).await;
    (mgr, raw, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_goes_through_the_handlers_sink_in_order() {
    let (_mgr, mut raw, seen) = node_and_peer(Style::Sink).await;
    let sn = raw.est.local_initial_sn;
    raw.send_batch(&mixed_batch(sn)).await;
    let lines = seen.wait_for(5).await;
    assert_eq!(
        lines,
        [
            "batch",
            "sink put t/a",
            "sink put t/b",
            "message declare 7",
            "sink put t/c"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_does_not_read_a_batch_gets_its_pushes_one_by_one() {
    let (_mgr, mut raw, seen) = node_and_peer(Style::Ignores).await;
    let sn = raw.est.local_initial_sn;
    raw.send_batch(&mixed_batch(sn)).await;
    let lines = seen.wait_for(4).await;
    assert_eq!(
        lines,
        [
            "push put t/a",
            "push put t/b",
            "message declare 7",
            "push put t/c"
        ]
    );
}
