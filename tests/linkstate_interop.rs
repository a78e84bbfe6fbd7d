//! LINKSTATE interop with a Zenoh 1.10.2 router: a Plexus transport in router mode
//! exchanges link states with it. Zenoh's lists decode with our codec; ours (including
//! the zids Plexus always sends, and weights) change Zenoh's graph as its admin space
//! shows; a list Zenoh cannot decode makes it close the link (docs/mesh.md, section 2).

mod common;

use std::sync::Arc;

use bytes::Bytes;
use plexus_transport::wire::linkstate::{LinkState, LinkStateList};
use plexus_transport::wire::network::{
    Mapping, NetQos, NetworkMessage, NetworkOam, OamBody, QueryTarget, Request, ResponseBody,
    WireExpr,
};
use plexus_transport::wire::zenoh::{PushBody, Query};
use plexus_transport::wire::{CongestionControl, Priority, Reliability, WhatAmI, ZenohId};
use plexus_transport::{
    PeerHandler, SendOptions, Transport, TransportConfig, TransportEvent, TransportHandler,
    TransportManager,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

use common::WAIT;

enum Seen {
    Message(Box<NetworkMessage>),
    Closed,
}

struct Recorder(mpsc::UnboundedSender<Seen>);

impl TransportHandler for Recorder {
    fn opened(&self, _t: &Transport) -> Arc<dyn PeerHandler> {
        Arc::new(Recorder(self.0.clone()))
    }
}

impl PeerHandler for Recorder {
    fn message(&self, msg: NetworkMessage) {
        let _ = self.0.send(Seen::Message(Box::new(msg)));
    }
    fn event(&self, event: TransportEvent) {
        if matches!(event, TransportEvent::Closed { .. }) {
            let _ = self.0.send(Seen::Closed);
        }
    }
}

fn zid(s: &str) -> ZenohId {
    s.parse().unwrap()
}

fn control() -> SendOptions {
    SendOptions {
        priority: Priority::Control,
        reliability: Reliability::Reliable,
        congestion: CongestionControl::Block,
        express: true,
    }
}

/// The next message matching `pick`, within [`WAIT`].
async fn next<T>(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    what: &str,
    mut pick: impl FnMut(NetworkMessage) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Seen::Message(m))) => {
                let m = *m;
                if let Some(t) = pick(m) {
                    return t;
                }
            }
            Ok(Some(Seen::Closed)) => panic!("transport closed while waiting for {what}"),
            Ok(None) => panic!("channel closed while waiting for {what}"),
            Err(_) => panic!("no {what} within {WAIT:?}"),
        }
    }
}

fn link_states(m: NetworkMessage) -> Option<LinkStateList> {
    match m {
        NetworkMessage::Oam(o) if o.id == NetworkOam::LINKSTATE => {
            Some(LinkStateList::from_oam(&o).expect("Zenoh's link state decodes"))
        }
        _ => None,
    }
}

fn state(
    psid: u16,
    sn: u64,
    zid: ZenohId,
    links: Vec<u16>,
    weights: Option<Vec<u16>>,
) -> LinkState {
    LinkState {
        psid,
        sn,
        zid: Some(zid),
        whatami: Some(WhatAmI::Router),
        locators: Some(vec![]),
        links,
        weights,
        gateway: false,
    }
}

/// Asks the Zenoh router for its router graph over our transport (so the query is handled
/// after every message we sent before it) and returns the DOT text.
async fn zenoh_dot(t: &Transport, rx: &mut mpsc::UnboundedReceiver<Seen>, id: u32) -> String {
    let req = NetworkMessage::Request(Request {
        id,
        wire_expr: WireExpr::new(0, "@/a1/router/linkstate/north", Mapping::Sender),
        qos: NetQos::default(),
        timestamp: None,
        target: QueryTarget::BestMatching,
        budget: None,
        timeout_ms: Some(5000),
        node_id: 0,
        body: Query::default(),
        unknown_exts: Default::default(),
    });
    t.send(&req, control()).await.expect("send request");
    next(rx, "the linkstate reply", |m| match m {
        NetworkMessage::Response(r) if r.request_id == id => match r.body {
            ResponseBody::Reply(rep) => match rep.body {
                PushBody::Put(p) => Some(String::from_utf8(p.payload.to_vec()).expect("utf-8")),
                PushBody::Del(_) => None,
            },
            ResponseBody::Err(e) => panic!("admin query failed: {e:?}"),
        },
        _ => None,
    })
    .await
}

/// Edge weights in a DOT text.
fn dot_weights(dot: &str) -> Vec<f64> {
    dot.lines()
        .filter(|l| l.contains(" -- "))
        .filter_map(|l| l.split('"').nth(1)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_states_interoperate_with_a_zenoh_router() {
    let (a1, b2) = (zid("a1"), zid("b2"));
    let mut c = common::zenoh_config("router", None, Some("tcp/127.0.0.1:0"));
    c.insert_json5("id", r#""a1""#).unwrap();
    c.insert_json5("adminspace/enabled", "true").unwrap();
    let z = zenoh::open(c).await.expect("zenoh router");
    let loc = common::zenoh_locator(&z).await;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mgr = TransportManager::new(
        TransportConfig::new(b2, WhatAmI::Router),
        Arc::new(Recorder(tx)),
    );
    let t = timeout(WAIT, mgr.connect(&loc.parse().unwrap()))
        .await
        .expect("connect in time")
        .expect("connect");

    // Zenoh's first list: itself (psid 0, sn 2, linked to psid 1) and us (psid 1, sn 0).
    let hello = next(&mut rx, "Zenoh's link states", link_states).await;
    let mine = hello.states.iter().find(|s| s.zid == Some(a1)).expect("a1");
    assert_eq!(
        (mine.psid, mine.sn, mine.whatami),
        (0, 2, Some(WhatAmI::Router))
    );
    let us = hello.states.iter().find(|s| s.zid == Some(b2)).expect("b2");
    assert_eq!(mine.links, vec![us.psid]);
    assert_eq!(us.sn, 0);

    // Ours, as `Network::add_link` makes it: ourselves linked to a1 (our psid 1).
    let ours = LinkStateList {
        states: vec![
            state(0, 2, b2, vec![1], None),
            state(1, 0, a1, vec![], None),
        ],
    };
    t.send(&NetworkMessage::Oam(ours.to_oam()), control())
        .await
        .expect("send");
    // Zenoh applies it (a new node for it) and echoes our state back in its numbering.
    let echo = next(&mut rx, "Zenoh's echo of our state", |m| {
        link_states(m)?
            .states
            .into_iter()
            .find(|s| s.zid == Some(b2) && s.sn == 2)
    })
    .await;
    assert_eq!(echo.links, vec![0], "our link to a1, in Zenoh's numbering");

    let dot = zenoh_dot(&t, &mut rx, 1).await;
    assert!(dot.contains("label = \"b2\""), "{dot}");
    assert_eq!(dot_weights(&dot), vec![100.52192227251872], "{dot}");

    // An update with zid (Zenoh omits it for known nodes) and a weight of 300.
    let update = LinkStateList {
        states: vec![state(0, 3, b2, vec![1], Some(vec![300]))],
    };
    t.send(&NetworkMessage::Oam(update.to_oam()), control())
        .await
        .expect("send");
    let dot = zenoh_dot(&t, &mut rx, 2).await;
    let w = dot_weights(&dot);
    assert_eq!(w.len(), 1, "{dot}");
    let factor = 100.52192227251872 / 100.0;
    assert!((w[0] - 300.0 * factor).abs() < 1e-9, "{dot}");

    // A list Zenoh cannot decode (whatami byte 3) closes the link.
    let mut bad = Vec::new();
    LinkStateList {
        states: vec![state(0, 4, b2, vec![], None)],
    }
    .write(&mut bad);
    // count 1, options 0x07, psid 0, sn 4, zid (2 bytes), whatami at offset 6.
    assert_eq!(bad[6], 1, "the whatami byte");
    bad[6] = 3;
    let oam = NetworkOam {
        id: NetworkOam::LINKSTATE,
        qos: NetQos::OAM,
        timestamp: None,
        body: OamBody::ZBuf(Bytes::from(bad)),
    };
    t.send(&NetworkMessage::Oam(oam), control())
        .await
        .expect("send");
    let closed = timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Some(Seen::Closed) | None => return,
                Some(Seen::Message(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "Zenoh kept the link after an undecodable link state"
    );
    mgr.close().await;
    z.close().await.unwrap();
}
