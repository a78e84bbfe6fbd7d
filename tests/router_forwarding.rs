//! What a Plexus router does to what it forwards, as a Zenoh 1.10.2 router does: it
//! stamps untimestamped publications with its clock (and keeps, replaces or drops those
//! that carry one), passes on extensions it does not know byte for byte, adds its ROUTE
//! record to a timestamp stack, and refuses an unknown mandatory extension by name.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{WAIT, ep, plexus_connected, plexus_listening, zenoh_config, zrecv};
use plexus::{Config, ConnectivityEvent, Session, WhatAmI};
use plexus_transport::wire::network::timestamp_stack::{self, ROUTE, SEND, TimestampStack};
use plexus_transport::wire::network::{
    Declare, DeclareBody, NetQos, NetworkMessage, Push, PushBody, QueryTarget, Request,
    ResponderId, Response, ResponseBody, ResponseFinal, WireExpr,
};
use plexus_transport::wire::zenoh::{Del, Put, Query, Reply};
use plexus_transport::wire::{
    CongestionControl, Priority, Reliability, Timestamp, UnknownExts, ZenohId,
};
use plexus_transport::{
    PeerHandler, SendOptions, Transport, TransportConfig, TransportEvent, TransportHandler,
    TransportManager,
};
use tokio::sync::mpsc;
use tokio::time::timeout;

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

/// A Zenoh 1.10.2 client's untimestamped put through a Plexus router reaches a Zenoh
/// subscriber and a Plexus subscriber with one timestamp from the router's clock; a put
/// that carries its own timestamp keeps it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zenoh_clients_put_is_stamped_by_the_plexus_router() {
    let (router, loc) = plexus_listening(WhatAmI::Router).await;
    let zpub = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh publisher");
    let zsub_s = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh subscriber");
    let zsub = zsub_s
        .declare_subscriber("stamp/**")
        .await
        .expect("zenoh subscribe");
    let plexus = plexus_connected(WhatAmI::Client, &loc).await;
    let psub = plexus
        .declare_subscriber("stamp/**")
        .await
        .expect("subscribe");
    common::until("both subscriptions reaching the router", || async {
        zpub.put("stamp/probe", "p").await.expect("put");
        let z = timeout(Duration::from_millis(100), zsub.recv_async())
            .await
            .is_ok();
        z && common::arrived(&psub).await
    })
    .await;
    while zsub.try_recv().ok().flatten().is_some() {}
    while psub.try_recv().is_ok() {}

    let before = router.new_timestamp().expect("a router has a clock");
    zpub.put("stamp/a", "untimestamped").await.expect("put");
    let z = zrecv(&zsub).await;
    let p = common::recv(&psub).await;
    let zts = *z
        .timestamp()
        .expect("Zenoh subscriber: the router stamped it");
    let pts = *p
        .timestamp()
        .expect("Plexus subscriber: the router stamped it");
    assert_eq!(zts.get_id().to_string(), router.zid().to_string());
    assert_eq!(pts.get_id().to_string(), router.zid().to_string());
    assert_eq!(
        zts.get_time().as_u64(),
        pts.get_time().as_u64(),
        "one stamp"
    );
    assert!(pts > before, "stamped after the router's earlier timestamp");

    // A timestamp the publisher set is kept.
    let own = zpub.new_timestamp();
    zpub.put("stamp/b", "timestamped")
        .timestamp(own)
        .await
        .expect("put");
    let z = zrecv(&zsub).await;
    let p = common::recv(&psub).await;
    assert_eq!(z.timestamp(), Some(&own));
    assert_eq!(
        p.timestamp().map(|t| t.get_time().as_u64()),
        Some(own.get_time().as_u64())
    );
    assert_eq!(
        p.timestamp().map(|t| t.get_id().to_string()),
        Some(own.get_id().to_string())
    );
    // And the router's clock learned it.
    assert!(router.new_timestamp().expect("clock").get_time() > own.get_time());

    // Deletes are stamped too (Zenoh 1.10.2's router stamps only puts).
    zpub.delete("stamp/a").await.expect("delete");
    let z = zrecv(&zsub).await;
    let zts = z.timestamp().expect("a stamped delete");
    assert_eq!(zts.get_id().to_string(), router.zid().to_string());
    zpub.close().await.expect("close");
    zsub_s.close().await.expect("close");
}

/// A peer with `timestamping/enabled` stamps what it receives untimestamped with its own
/// clock before its subscribers see it; a peer without (the default) leaves it alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamping_peer_stamps_what_it_receives() {
    for stamping in [true, false] {
        let peer = plexus::open(
            Config::default()
                .with_mode(WhatAmI::Peer)
                .with_listen(vec![ep("tcp/127.0.0.1:0")])
                .with_timestamping(stamping),
        )
        .await
        .expect("peer");
        let loc = peer.locators()[0].to_string();
        let sub = peer.declare_subscriber("peer/**").await.expect("subscribe");
        let z = zenoh::open(zenoh_config("peer", Some(&loc), None))
            .await
            .expect("zenoh peer");
        common::until("the Zenoh peer's puts arriving", || async {
            z.put("peer/probe", "p").await.expect("put");
            common::arrived(&sub).await
        })
        .await;
        while sub.try_recv().is_ok() {}
        z.put("peer/x", "v").await.expect("put");
        let s = common::recv(&sub).await;
        match s.timestamp() {
            Some(ts) if stamping => {
                assert_eq!(ts.get_id().to_string(), peer.zid().to_string())
            }
            None if !stamping => {}
            other => panic!("timestamping {stamping}: got {other:?}"),
        }
        z.close().await.expect("close");
    }
}

/// A timestamp far in the future (beyond the clock's 500 ms drift) is replaced by the
/// router's own, or, with `timestamping/drop_future_timestamp`, the message is dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timestamp_from_the_future_is_replaced_or_dropped() {
    for drop in [false, true] {
        let mut config = Config::default()
            .with_mode(WhatAmI::Router)
            .with_listen(vec![ep("tcp/127.0.0.1:0")]);
        config
            .insert_json5("timestamping/drop_future_timestamp", &drop.to_string())
            .expect("config");
        let router = plexus::open(config).await.expect("router");
        let loc = router.locators()[0].to_string();
        let publ = plexus_connected(WhatAmI::Client, &loc).await;
        let sub_s = plexus_connected(WhatAmI::Client, &loc).await;
        let sub = sub_s.declare_subscriber("fut/**").await.expect("subscribe");
        common::until_routed(&publ, "fut/probe", &sub).await;

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970");
        let future = uhlc::Timestamp::new(
            uhlc::NTP64::from(now + Duration::from_secs(60)),
            uhlc::ID::try_from([7u8; 16]).expect("id"),
        );
        publ.put("fut/x", "from the future")
            .timestamp(future)
            .await
            .expect("put");
        publ.put("fut/y", "now").await.expect("put");
        let first = common::recv(&sub).await;
        if drop {
            assert_eq!(
                first.key_expr().as_str(),
                "fut/y",
                "the future one was dropped"
            );
        } else {
            assert_eq!(first.key_expr().as_str(), "fut/x");
            let ts = first.timestamp().expect("stamped");
            assert_eq!(
                ts.get_id().to_string(),
                router.zid().to_string(),
                "replaced"
            );
            assert!(ts.get_time() < future.get_time());
            assert_eq!(common::recv(&sub).await.key_expr().as_str(), "fut/y");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Extensions: a bare transport sends hand-encoded ones through the router
// ---------------------------------------------------------------------------------------

struct Recorder(mpsc::UnboundedSender<NetworkMessage>);

impl TransportHandler for Recorder {
    fn opened(&self, _: &Transport) -> Arc<dyn PeerHandler> {
        Arc::new(Recorder(self.0.clone()))
    }
}

impl PeerHandler for Recorder {
    fn message(&self, msg: NetworkMessage) {
        let _ = self.0.send(msg);
    }
    fn event(&self, _: TransportEvent) {}
}

/// A client made of a bare transport: it sends what the test encodes and records what
/// it receives.
struct Bare {
    _mgr: TransportManager,
    zid: ZenohId,
    t: Transport,
    rx: mpsc::UnboundedReceiver<NetworkMessage>,
}

impl Bare {
    async fn client_of(loc: &str) -> Bare {
        let (tx, rx) = mpsc::unbounded_channel();
        let zid = ZenohId::random();
        let mgr = TransportManager::new(
            TransportConfig::new(zid, WhatAmI::Client),
            Arc::new(Recorder(tx)),
        );
        let t = timeout(WAIT, mgr.connect(&ep(loc)))
            .await
            .expect("connect timed out")
            .expect("connect");
        Bare {
            _mgr: mgr,
            zid,
            t,
            rx,
        }
    }

    async fn send(&self, m: NetworkMessage) {
        let opts = SendOptions {
            priority: Priority::Data,
            reliability: Reliability::Reliable,
            congestion: CongestionControl::Block,
            express: true,
        };
        self.t.send(&m, opts).await.expect("send");
    }

    async fn declare(&self, body: DeclareBody) {
        self.send(NetworkMessage::Declare(Declare {
            interest_id: None,
            qos: NetQos::DECLARE,
            timestamp: None,
            node_id: 0,
            body,
        }))
        .await;
    }

    /// The next message `pick` accepts, within [`WAIT`].
    async fn next<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(NetworkMessage) -> Option<T>,
    ) -> T {
        timeout(WAIT, async {
            loop {
                let m = self.rx.recv().await.expect("the transport closed");
                if let Some(t) = pick(m) {
                    return t;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
    }

    /// A PUSH within 100 ms, if any (for probing).
    async fn push_soon(&mut self) -> Option<Push> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            if let NetworkMessage::Push(p) = m {
                return Some(p);
            }
        }
        None
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn exts(hex: &str) -> UnknownExts {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    UnknownExts::from_wire(&bytes).expect("a well-formed extension list")
}

fn put(payload: &'static str, unknown_exts: UnknownExts) -> PushBody {
    PushBody::Put(Put {
        timestamp: None,
        encoding: Default::default(),
        source_info: None,
        attachment: None,
        unknown_exts,
        payload: Bytes::from_static(payload.as_bytes()),
    })
}

fn push(key: &str, body: PushBody, unknown_exts: UnknownExts) -> NetworkMessage {
    NetworkMessage::Push(Push {
        wire_expr: WireExpr::key(key),
        qos: NetQos::default(),
        timestamp: None,
        node_id: 0,
        unknown_exts,
        body,
    })
}

/// A timestamp stack asking for SEND and ROUTE records, with the sender's SEND record.
fn stack_ext(sender: ZenohId) -> String {
    let mut ts = Vec::new();
    Timestamp {
        time: 1 << 60,
        id: sender,
    }
    .write(&mut ts);
    let stack = TimestampStack {
        conf_flags: SEND | ROUTE,
        records: vec![timestamp_stack::Interception {
            flags: SEND,
            timestamp: Bytes::from(ts),
        }],
    };
    let mut body = Vec::new();
    stack.write(&mut body);
    let mut hex = format!("47{:02x}", body.len());
    for b in body {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// A REQUEST `id` on `key` (best matching, 5 s timeout) with `unknown_exts` and `body`.
fn request(id: u32, key: &str, unknown_exts: UnknownExts, body: Query) -> NetworkMessage {
    NetworkMessage::Request(Request {
        id,
        wire_expr: WireExpr::key(key),
        qos: NetQos::REQUEST,
        timestamp: None,
        target: QueryTarget::BestMatching,
        budget: None,
        timeout_ms: Some(5_000),
        node_id: 0,
        unknown_exts,
        body,
    })
}

/// Puts on `probe` from `a` until the Zenoh subscriber `zsub` gets one (its subscription
/// reached the router).
async fn until_zenoh_subscribed(
    a: &Bare,
    probe: &str,
    zsub: &zenoh::pubsub::Subscriber<zenoh::handlers::FifoChannelHandler<zenoh::sample::Sample>>,
) {
    common::until("the Zenoh subscription reaching the router", || async {
        a.send(push(
            probe,
            put("p", UnknownExts::new()),
            UnknownExts::new(),
        ))
        .await;
        timeout(Duration::from_millis(100), zsub.recv_async())
            .await
            .is_ok()
    })
    .await;
}

/// Two bare clients of a Plexus router, the second subscribed to `ext/**` and reached.
async fn routed_pair() -> (Session, String, Bare, Bare) {
    let (router, loc) = plexus_listening(WhatAmI::Router).await;
    let a = Bare::client_of(&loc).await;
    let mut b = Bare::client_of(&loc).await;
    b.declare(DeclareBody::Subscriber {
        id: 1,
        wire_expr: WireExpr::key("ext/**"),
    })
    .await;
    let reached = timeout(WAIT, async {
        loop {
            a.send(push(
                "ext/probe",
                put("p", UnknownExts::new()),
                UnknownExts::new(),
            ))
            .await;
            if b.push_soon().await.is_some() {
                return;
            }
        }
    })
    .await;
    assert!(reached.is_ok(), "the subscription never reached the router");
    while b.rx.try_recv().is_ok() {}
    (router, loc, a, b)
}

/// Optional extensions the router does not know, on the PUSH and on its PUT or DEL,
/// reach the subscriber byte for byte; a timestamp stack gets the router's ROUTE record
/// and nothing else changes. A Zenoh subscriber gets the same put.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_optional_extensions_cross_the_router_byte_for_byte() {
    let (router, loc, a, mut b) = routed_pair().await;
    let zsession = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh client");
    let zsub = zsession
        .declare_subscriber("ext/**")
        .await
        .expect("zenoh subscribe");
    until_zenoh_subscribed(&a, "ext/probe", &zsub).await;
    while b.rx.try_recv().is_ok() {}
    while zsub.try_recv().ok().flatten().is_some() {}

    // PUSH: an optional zbuf (id 12), an optional z64 (id 13), Zenoh's timestamp stack.
    let net = format!("cc076e65742d657874ad07{}", stack_ext(a.zid));
    // PUT: an optional zbuf (id 14) and an optional unit (id 9).
    let body = "ce077075742d65787409";
    a.send(push("ext/x", put("v", exts(body)), exts(&net)))
        .await;
    let got = b
        .next("the PUSH", |m| match m {
            NetworkMessage::Push(p) if p.wire_expr.suffix == "ext/x" => Some(p),
            _ => None,
        })
        .await;
    let PushBody::Put(p) = &got.body else {
        panic!("expected a PUT")
    };
    assert_eq!(p.unknown_exts, exts(body), "the PUT's extensions changed");
    let timestamp = p.timestamp.expect("stamped by the router");
    assert_eq!(timestamp.id, router.zid());
    // The first two extensions arrive byte for byte, the stack after them.
    let first_two = "cc076e65742d657874ad07";
    assert!(
        hex(got.unknown_exts.as_bytes()).starts_with(first_two),
        "{}",
        hex(got.unknown_exts.as_bytes())
    );
    let stack = TimestampStack::find(&got.unknown_exts).expect("the stack is still there");
    let sent = TimestampStack::find(&exts(&net)).expect("the stack sent");
    assert_eq!(stack.conf_flags, sent.conf_flags);
    assert_eq!(stack.records.len(), 2, "one ROUTE record added");
    assert_eq!(
        stack.records[0], sent.records[0],
        "the SEND record unchanged"
    );
    assert_eq!(stack.records[1].flags, ROUTE);
    let mut r = plexus_transport::wire::Reader::new(stack.records[1].timestamp.clone());
    assert_eq!(
        Timestamp::read(&mut r).expect("an HLC timestamp").id,
        router.zid()
    );

    // Zenoh's subscriber gets the value (it skips what it does not know).
    let z = zrecv(&zsub).await;
    assert_eq!(z.key_expr().as_str(), "ext/x");
    assert_eq!(z.payload().to_bytes().as_ref(), b"v");

    // A DEL with an extension, and a stack that asks for no ROUTE record: unchanged.
    let no_route = exts(&format!("{first_two}47020100"));
    a.send(push(
        "ext/d",
        PushBody::Del(Del {
            unknown_exts: exts(body),
            ..Default::default()
        }),
        no_route.clone(),
    ))
    .await;
    let got = b
        .next("the DEL", |m| match m {
            NetworkMessage::Push(p) if p.wire_expr.suffix == "ext/d" => Some(p),
            _ => None,
        })
        .await;
    assert_eq!(got.unknown_exts, no_route);
    let PushBody::Del(d) = &got.body else {
        panic!("expected a DEL")
    };
    assert_eq!(d.unknown_exts, exts(body));
    zsession.close().await.expect("close");
}

/// The same for a query and its replies: REQUEST and QUERY extensions reach the
/// queryable, RESPONSE, REPLY and PUT extensions reach the querier, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_optional_extensions_of_queries_and_replies_cross_the_router() {
    let (_router, _loc, mut a, mut b) = routed_pair().await;
    b.declare(DeclareBody::Queryable {
        id: 2,
        wire_expr: WireExpr::key("ext/q/**"),
        complete: false,
        distance: 0,
    })
    .await;
    let (req_net, req_body) = ("2d2a", "4c03717279");
    let (resp_net, reply_ext, value_ext) = ("2d2b", "4c027270", "4d0176");
    let mut rid = 0;
    let request = timeout(WAIT, async {
        loop {
            rid += 1;
            let body = Query {
                unknown_exts: exts(req_body),
                ..Default::default()
            };
            a.send(request(rid, "ext/q/x", exts(req_net), body)).await;
            // Until the queryable is known, the router answers with RESPONSE_FINAL alone.
            let answered = timeout(Duration::from_millis(300), async {
                loop {
                    tokio::select! {
                        Some(NetworkMessage::Request(r)) = b.rx.recv() => return Some(r),
                        Some(NetworkMessage::ResponseFinal(f)) = a.rx.recv() => {
                            if f.request_id == rid {
                                return None;
                            }
                        }
                    }
                }
            })
            .await;
            if let Ok(Some(r)) = answered {
                return r;
            }
        }
    })
    .await
    .expect("the queryable never reached the router");
    assert_eq!(request.unknown_exts, exts(req_net));
    assert_eq!(request.body.unknown_exts, exts(req_body));

    b.send(NetworkMessage::Response(Response {
        request_id: request.id,
        wire_expr: WireExpr::key("ext/q/x"),
        qos: NetQos::RESPONSE,
        timestamp: None,
        responder: Some(ResponderId { zid: b.zid, eid: 2 }),
        unknown_exts: exts(resp_net),
        body: ResponseBody::Reply(Reply {
            consolidation: None,
            unknown_exts: exts(reply_ext),
            body: put("answer", exts(value_ext)),
        }),
    }))
    .await;
    b.send(NetworkMessage::ResponseFinal(ResponseFinal {
        request_id: request.id,
        qos: NetQos::RESPONSE,
        timestamp: None,
    }))
    .await;
    let resp = a
        .next("the RESPONSE", |m| match m {
            NetworkMessage::Response(r) => Some(r),
            _ => None,
        })
        .await;
    assert_eq!(resp.request_id, rid);
    assert_eq!(resp.unknown_exts, exts(resp_net));
    let ResponseBody::Reply(reply) = &resp.body else {
        panic!("expected a REPLY")
    };
    assert_eq!(reply.unknown_exts, exts(reply_ext));
    let PushBody::Put(p) = &reply.body else {
        panic!("expected a PUT")
    };
    assert_eq!(p.unknown_exts, exts(value_ext));
    assert_eq!(p.payload.as_ref(), b"answer");
    assert!(p.timestamp.is_some(), "the router stamps replies");
}

/// An unknown mandatory extension is refused: the router closes that transport with a
/// reason naming the extension and the message, and keeps serving the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mandatory_extension_is_refused_by_name() {
    for (net, body, names) in [("3c05", "", ["PUSH", "0x3c"]), ("", "1e", ["PUT", "0x1e"])] {
        let (router, _loc, a, mut b) = routed_pair().await;
        let events = router.info().connectivity_events();
        a.send(push("ext/m", put("v", exts(body)), exts(net))).await;
        let reason = timeout(WAIT, async {
            loop {
                match events.recv_async().await.expect("events") {
                    ConnectivityEvent::TransportClosed { zid, reason } if zid == a.zid => {
                        return reason;
                    }
                    _ => {}
                }
            }
        })
        .await
        .expect("the router did not close the offending transport");
        for n in names {
            assert!(
                reason.contains(n),
                "the reason {reason:?} does not name {n}"
            );
        }
        assert!(reason.contains("unknown mandatory extension"), "{reason}");
        // The other client is still served.
        drop(a);
        router.put("ext/after", "still here").await.expect("put");
        let got = b
            .next("a later publication", |m| match m {
                NetworkMessage::Push(p) if p.wire_expr.suffix == "ext/after" => Some(p),
                _ => None,
            })
            .await;
        assert!(matches!(got.body, PushBody::Put(_)));
    }
}

// ---------------------------------------------------------------------------------------
// Zenoh's timestamp instrumentation reads the router's ROUTE records
// ---------------------------------------------------------------------------------------

/// The points and ids of a timestamp stack a Zenoh session received.
fn zenoh_records(stack: Option<&zenoh::timestamp_stack::TimestampStack>) -> Vec<(u8, String)> {
    use zenoh::timestamp_stack::InstrumentationTimestamp;
    stack
        .expect("Zenoh decoded a timestamp stack")
        .records()
        .iter()
        .map(|r| match r.timestamp() {
            InstrumentationTimestamp::UHLC(t) => (u8::from(r.point()), t.get_id().to_string()),
            InstrumentationTimestamp::Custom(b) => panic!("a custom record {b:?}"),
        })
        .collect()
}

/// The points and ids of the timestamp stack among `exts`.
fn records(exts: &UnknownExts) -> Vec<(u8, String)> {
    TimestampStack::find(exts)
        .expect("a timestamp stack")
        .records
        .iter()
        .map(|r| {
            let mut rd = plexus_transport::wire::Reader::new(r.timestamp.clone());
            let ts = Timestamp::read(&mut rd).expect("an HLC timestamp record");
            (r.flags, ts.id.to_string())
        })
        .collect()
}

/// Zenoh 1.10.2 sessions decode the ROUTE records a Plexus router adds: a client's
/// timestamp stack reaches a Zenoh subscriber and a Zenoh queryable with the sender's
/// SEND record, the router's ROUTE record and the Zenoh session's own; the Zenoh
/// queryable's reply comes back with those, its SEND record, and the router's ROUTE
/// record on the way back, stamped by the router. A Plexus peer's put and get through
/// the router are stamped by it as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zenoh_sessions_read_the_routers_route_records() {
    let (router, loc) = plexus_listening(WhatAmI::Router).await;
    let rid_s = router.zid().to_string();
    let mut a = Bare::client_of(&loc).await;
    let aid = a.zid.to_string();
    let z = zenoh::open(zenoh_config("client", Some(&loc), None))
        .await
        .expect("zenoh client");
    let zid = z.zid().to_string();
    let zsub = z
        .declare_subscriber("rr/**")
        .await
        .expect("zenoh subscribe");
    let (qtx, mut qrx) = mpsc::unbounded_channel();
    let _zq = z
        .declare_queryable("rr/q/**")
        .callback(move |q| {
            let _ = qtx.send(q.timestamp_stack().map(|s| zenoh_records(Some(s))));
            zenoh::Wait::wait(q.reply(q.key_expr().clone(), "answer")).expect("reply");
        })
        .await
        .expect("zenoh queryable");
    until_zenoh_subscribed(&a, "rr/probe", &zsub).await;
    while zsub.try_recv().ok().flatten().is_some() {}

    // A put: SEND (the bare client's), ROUTE (the router's), ROUTE (the Zenoh client's).
    let stack = exts(&stack_ext(a.zid));
    a.send(push("rr/x", put("v", UnknownExts::new()), stack.clone()))
        .await;
    let s = zrecv(&zsub).await;
    assert_eq!(s.key_expr().as_str(), "rr/x");
    assert_eq!(
        zenoh_records(s.timestamp_stack()),
        [
            (SEND, aid.clone()),
            (ROUTE, rid_s.clone()),
            (ROUTE, zid.clone())
        ]
    );
    let ts = s.timestamp().expect("stamped by the router");
    assert_eq!(ts.get_id().to_string(), rid_s);

    // A query carrying the stack, until the queryable's declaration reached the router.
    let mut rid = 0;
    let query_records = timeout(WAIT, async {
        loop {
            rid += 1;
            a.send(request(rid, "rr/q/x", stack.clone(), Query::default()))
                .await;
            let answered = timeout(Duration::from_millis(300), async {
                loop {
                    tokio::select! {
                        Some(r) = qrx.recv() => return Some(r),
                        Some(NetworkMessage::ResponseFinal(f)) = a.rx.recv() => {
                            if f.request_id == rid {
                                return None;
                            }
                        }
                    }
                }
            })
            .await;
            if let Ok(Some(r)) = answered {
                return r.expect("the query's timestamp stack");
            }
        }
    })
    .await
    .expect("the queryable never reached the router");
    assert_eq!(
        query_records,
        [
            (SEND, aid.clone()),
            (ROUTE, rid_s.clone()),
            (ROUTE, zid.clone())
        ]
    );
    let resp = a
        .next("the RESPONSE", |m| match m {
            NetworkMessage::Response(r) if r.request_id == rid => Some(r),
            _ => None,
        })
        .await;
    let back = records(&resp.unknown_exts);
    assert_eq!(back[..3], query_records[..], "{back:?}");
    assert!(back[3..].contains(&(SEND, zid.clone())), "{back:?}");
    assert_eq!(
        back.last(),
        Some(&(ROUTE, rid_s.clone())),
        "the router's ROUTE record last: {back:?}"
    );
    let ResponseBody::Reply(reply) = &resp.body else {
        panic!("expected a REPLY")
    };
    let PushBody::Put(p) = &reply.body else {
        panic!("expected a PUT")
    };
    assert_eq!(p.payload.as_ref(), b"answer");
    assert_eq!(
        p.timestamp.map(|t| t.id.to_string()),
        Some(rid_s.clone()),
        "the router stamps the reply"
    );

    // A Plexus peer through the router: its put and the reply to its get are stamped.
    let peer = plexus_connected(WhatAmI::Peer, &loc).await;
    common::until(
        "the Plexus peer's puts reaching the Zenoh subscriber",
        || async {
            peer.put("rr/probe", "p").await.expect("put");
            timeout(Duration::from_millis(100), zsub.recv_async())
                .await
                .is_ok()
        },
    )
    .await;
    while zsub.try_recv().ok().flatten().is_some() {}
    peer.put("rr/peer", "v").await.expect("put");
    let s = zrecv(&zsub).await;
    assert_eq!(s.key_expr().as_str(), "rr/peer");
    assert_eq!(
        s.timestamp().map(|t| t.get_id().to_string()),
        Some(rid_s.clone())
    );
    let replies = peer.get("rr/q/y").await.expect("get");
    let r = timeout(WAIT, replies.recv_async())
        .await
        .expect("no reply within 10 s")
        .expect("a reply");
    let sample = r.result().expect("a sample");
    assert_eq!(&sample.payload()[..], b"answer");
    assert_eq!(
        sample.timestamp().map(|t| t.get_id().to_string()),
        Some(rid_s),
        "the router stamps the reply"
    );
    assert_eq!(
        qrx.try_recv().ok(),
        Some(None),
        "the peer's query had no stack"
    );
    z.close().await.expect("close");
}
