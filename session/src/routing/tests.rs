//! Routing without sockets: a dispatcher whose faces send into recorders, fed network
//! messages by hand.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::network::{
    DeclareBody, Interest, InterestMode, InterestOptions, Mapping, NetQos, NetworkMessage, Push,
    PushBody, QueryTarget as WireTarget, Request, Response, ResponseBody, ResponseFinal, WireExpr,
};
use plexus_transport::wire::zenoh::{self as wz, Put};
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::dispatcher::Dispatcher;
use super::face::{Face, FaceTx, Source, declare_msg};
use super::fake::Recorder;
use crate::key_expr::OwnedKeyExpr;
use crate::sample::{Locality, Reliability, Sample, SampleKind};
use crate::sync::lock;

fn zid(n: u128) -> ZenohId {
    ZenohId::new(n).expect("non-zero zid")
}

fn key(k: &str) -> OwnedKeyExpr {
    OwnedKeyExpr::new(k).expect("valid key")
}

fn dispatcher(mode: WhatAmI) -> Arc<Dispatcher> {
    Arc::new(Dispatcher::new(zid(1), mode, None, Duration::from_secs(10)))
}

/// A face opened on `d` that records what it is sent; returns it and its recorder,
/// emptied of what was sent when it opened.
fn open(d: &Dispatcher, n: u128, whatami: WhatAmI) -> (Arc<Face>, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let face = Arc::new(Face::new(zid(n), whatami, FaceTx::Fake(rec.clone())));
    d.face_opened(face.clone());
    rec.take();
    (face, rec)
}

/// What a face was sent, one short line per message.
fn sent(rec: &Recorder) -> Vec<String> {
    rec.take().iter().map(summary).collect()
}

fn expr(we: &WireExpr) -> String {
    if we.scope == 0 {
        we.suffix.clone()
    } else {
        format!("#{}{}", we.scope, we.suffix)
    }
}

fn summary(m: &NetworkMessage) -> String {
    match m {
        NetworkMessage::Push(p) => format!("PUSH {}", expr(&p.wire_expr)),
        NetworkMessage::Declare(d) => match &d.body {
            DeclareBody::KeyExpr { id, wire_expr } => format!("D_KEYEXPR {id} {}", expr(wire_expr)),
            DeclareBody::UndeclareKeyExpr { id } => format!("U_KEYEXPR {id}"),
            DeclareBody::Subscriber { wire_expr, .. } => {
                format!("D_SUBSCRIBER {}", expr(wire_expr))
            }
            DeclareBody::UndeclareSubscriber { wire_expr, .. } => {
                format!(
                    "U_SUBSCRIBER {}",
                    wire_expr.as_ref().map(expr).unwrap_or_default()
                )
            }
            DeclareBody::Queryable { wire_expr, .. } => format!("D_QUERYABLE {}", expr(wire_expr)),
            DeclareBody::UndeclareQueryable { wire_expr, .. } => {
                format!(
                    "U_QUERYABLE {}",
                    wire_expr.as_ref().map(expr).unwrap_or_default()
                )
            }
            DeclareBody::Token { wire_expr, .. } => format!("D_TOKEN {}", expr(wire_expr)),
            DeclareBody::UndeclareToken { wire_expr, .. } => {
                format!(
                    "U_TOKEN {}",
                    wire_expr.as_ref().map(expr).unwrap_or_default()
                )
            }
            DeclareBody::Final => format!("D_FINAL {:?}", d.interest_id),
        },
        NetworkMessage::Request(r) => format!("REQUEST {}", expr(&r.wire_expr)),
        NetworkMessage::Response(r) => format!("RESPONSE {} {}", r.request_id, expr(&r.wire_expr)),
        NetworkMessage::ResponseFinal(r) => format!("RESPONSE_FINAL {}", r.request_id),
        NetworkMessage::Interest(i) => format!("INTEREST {}", i.id),
        NetworkMessage::Oam(_) => "OAM".to_string(),
    }
}

fn declare(d: &Arc<Dispatcher>, face: &Arc<Face>, body: DeclareBody) {
    d.handle_message(face, declare_msg(None, body));
}

fn subscriber(d: &Arc<Dispatcher>, face: &Arc<Face>, id: u32, k: &str) {
    declare(
        d,
        face,
        DeclareBody::Subscriber {
            id,
            wire_expr: WireExpr::key(k),
        },
    );
}

fn push(d: &Dispatcher, face: &Arc<Face>, we: WireExpr, payload: &'static [u8]) {
    d.handle_push(
        face,
        &mut Push {
            wire_expr: we,
            qos: NetQos::PUSH,
            timestamp: None,
            node_id: 0,
            body: PushBody::Put(Put {
                payload: Bytes::from_static(payload),
                ..Put::default()
            }),
            unknown_exts: Default::default(),
        },
    );
}

/// A local subscriber that keeps what it receives.
fn local_subscriber(d: &Dispatcher, k: &str, origin: Locality) -> (u32, Arc<Mutex<Vec<Sample>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    let id = d.add_subscriber(
        key(k),
        Arc::new(move |s: Sample| keep.lock().expect("lock").push(s)),
        origin,
    );
    (id, got)
}

fn sample(k: &str, payload: &'static [u8]) -> Sample {
    Sample::new(key(k), SampleKind::Put, Bytes::from_static(payload))
}

#[test]
fn a_peer_declares_its_own_subscribers_everywhere_and_forwards_only_to_and_from_clients() {
    let d = dispatcher(WhatAmI::Peer);
    let (p1, p1_rec) = open(&d, 2, WhatAmI::Peer);
    let (_p2, p2_rec) = open(&d, 3, WhatAmI::Peer);
    let (c, c_rec) = open(&d, 4, WhatAmI::Client);

    local_subscriber(&d, "a/**", Locality::Any);
    for rec in [&p1_rec, &p2_rec, &c_rec] {
        assert_eq!(sent(rec), ["D_SUBSCRIBER a/**"]);
    }
    // A session-local subscriber is not declared to anyone.
    local_subscriber(&d, "l/**", Locality::SessionLocal);
    for rec in [&p1_rec, &p2_rec, &c_rec] {
        assert!(sent(rec).is_empty());
    }

    // Peer to peer: not forwarded (peers declare to each other themselves).
    subscriber(&d, &p1, 1, "x/1");
    assert!(sent(&p1_rec).is_empty());
    assert!(sent(&p2_rec).is_empty());
    assert_eq!(sent(&c_rec), ["D_SUBSCRIBER x/1"]);

    // A client's subscriber goes to every peer, never back to the client.
    subscriber(&d, &c, 1, "y/1");
    assert_eq!(sent(&p1_rec), ["D_SUBSCRIBER y/1"]);
    assert_eq!(sent(&p2_rec), ["D_SUBSCRIBER y/1"]);
    assert!(sent(&c_rec).is_empty());
}

#[test]
fn a_router_forwards_declarations_to_every_face_but_the_source() {
    let d = dispatcher(WhatAmI::Router);
    // (Other routers are reached along the mesh's trees instead: see `mesh_tests.rs`.)
    let (r, r_rec) = open(&d, 2, WhatAmI::Peer);
    let (p, p_rec) = open(&d, 3, WhatAmI::Peer);
    let (_c, c_rec) = open(&d, 4, WhatAmI::Client);

    subscriber(&d, &p, 7, "a/b");
    assert_eq!(sent(&r_rec), ["D_SUBSCRIBER a/b"]);
    assert!(sent(&p_rec).is_empty());
    assert_eq!(sent(&c_rec), ["D_SUBSCRIBER a/b"]);

    declare(
        &d,
        &r,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: true,
            distance: 0,
        },
    );
    assert!(sent(&r_rec).is_empty());
    assert_eq!(sent(&p_rec), ["D_QUERYABLE q/**"]);
    assert_eq!(sent(&c_rec), ["D_QUERYABLE q/**"]);

    // A face opened later learns what the others declared, then the end of the
    // initial declarations (it is not a client).
    let rec = Arc::new(Recorder::default());
    d.face_opened(Arc::new(Face::new(
        zid(5),
        WhatAmI::Peer,
        FaceTx::Fake(rec.clone()),
    )));
    assert_eq!(
        sent(&rec),
        ["D_SUBSCRIBER a/b", "D_QUERYABLE q/**", "D_FINAL Some(0)"]
    );
}

#[test]
fn a_client_declares_only_its_own_subscribers() {
    let d = dispatcher(WhatAmI::Client);
    let (r, r_rec) = open(&d, 2, WhatAmI::Router);
    let (_other, other_rec) = open(&d, 3, WhatAmI::Peer);

    local_subscriber(&d, "a/**", Locality::Any);
    assert_eq!(sent(&r_rec), ["D_SUBSCRIBER a/**"]);
    assert_eq!(sent(&other_rec), ["D_SUBSCRIBER a/**"]);

    subscriber(&d, &r, 1, "b/**");
    assert!(sent(&r_rec).is_empty());
    assert!(sent(&other_rec).is_empty());
}

#[test]
fn subscriptions_to_one_key_from_several_sources_are_declared_once() {
    let d = dispatcher(WhatAmI::Router);
    let (a, _) = open(&d, 2, WhatAmI::Peer);
    let (b, _) = open(&d, 3, WhatAmI::Peer);
    let (_c, c_rec) = open(&d, 4, WhatAmI::Peer);

    subscriber(&d, &a, 1, "k");
    subscriber(&d, &b, 1, "k");
    assert_eq!(sent(&c_rec), ["D_SUBSCRIBER k"]);
    d.face_closed(a.zid);
    assert!(sent(&c_rec).is_empty(), "b still subscribes");
    declare(
        &d,
        &b,
        DeclareBody::UndeclareSubscriber {
            id: 1,
            wire_expr: None,
        },
    );
    assert_eq!(sent(&c_rec), ["U_SUBSCRIBER k"]);
}

#[test]
fn a_publication_reaches_matching_faces_and_subscribers_only_never_its_source() {
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Peer);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    let (c, c_rec) = open(&d, 4, WhatAmI::Client);
    subscriber(&d, &a, 1, "a/**");
    subscriber(&d, &b, 1, "a/b");
    subscriber(&d, &c, 1, "z/**");
    let (_, local) = local_subscriber(&d, "a/*", Locality::Any);
    let (_, local_only) = local_subscriber(&d, "a/*", Locality::SessionLocal);
    for rec in [&a_rec, &b_rec, &c_rec] {
        rec.take();
    }

    push(&d, &a, WireExpr::key("a/b"), b"hi");
    assert!(sent(&a_rec).is_empty(), "never back to the source");
    assert_eq!(sent(&b_rec), ["PUSH a/b"]);
    assert!(sent(&c_rec).is_empty());
    {
        let got = local.lock().expect("lock");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key_expr().as_str(), "a/b");
        assert_eq!(got[0].payload().as_ref(), b"hi");
    }
    assert!(
        local_only.lock().expect("lock").is_empty(),
        "a session-local subscriber does not get remote data"
    );

    // This session's publication goes to every matching face, and its own subscribers.
    d.route(
        Source::Local,
        sample("a/b", b"mine"),
        Locality::Any,
        Reliability::Reliable,
    );
    assert_eq!(sent(&a_rec), ["PUSH a/b"]);
    assert_eq!(sent(&b_rec), ["PUSH a/b"]);
    assert!(sent(&c_rec).is_empty());
    assert_eq!(local.lock().expect("lock").len(), 2);
    assert_eq!(local_only.lock().expect("lock").len(), 1);

    // Restricted to this session: no face.
    d.route(
        Source::Local,
        sample("a/b", b"local"),
        Locality::SessionLocal,
        Reliability::Reliable,
    );
    assert!(sent(&a_rec).is_empty() && sent(&b_rec).is_empty());
    assert_eq!(local.lock().expect("lock").len(), 3);
}

#[test]
fn a_client_sends_every_publication_to_its_router() {
    let d = dispatcher(WhatAmI::Client);
    let (_r, r_rec) = open(&d, 2, WhatAmI::Router);
    d.route(
        Source::Local,
        sample("nobody/declared/this", b"x"),
        Locality::Any,
        Reliability::Reliable,
    );
    assert_eq!(sent(&r_rec), ["PUSH nobody/declared/this"]);
    assert!(d.has_matching_subscriber(&key("nobody/declared/this"), Locality::Any));
}

#[test]
fn a_closing_face_withdraws_what_it_declared() {
    let d = dispatcher(WhatAmI::Router);
    let (a, _) = open(&d, 2, WhatAmI::Peer);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    subscriber(&d, &a, 1, "s/1");
    declare(
        &d,
        &a,
        DeclareBody::Queryable {
            id: 2,
            wire_expr: WireExpr::key("q/*"),
            complete: false,
            distance: 0,
        },
    );
    declare(
        &d,
        &a,
        DeclareBody::Token {
            id: 3,
            wire_expr: WireExpr::key("t/1"),
        },
    );
    assert_eq!(
        sent(&b_rec),
        ["D_SUBSCRIBER s/1", "D_QUERYABLE q/*", "D_TOKEN t/1"]
    );
    let (_, live) = {
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        let id = d.add_live_sub(
            key("t/**"),
            true,
            Arc::new(move |s: Sample| keep.lock().expect("lock").push(s.kind())),
        );
        (id, got)
    };
    assert_eq!(*live.lock().expect("lock"), [SampleKind::Put]);
    assert!(d.has_matching_subscriber(&key("s/1"), Locality::Remote));

    d.face_closed(a.zid);
    assert_eq!(
        sent(&b_rec),
        ["U_SUBSCRIBER s/1", "U_QUERYABLE q/*", "U_TOKEN t/1"]
    );
    assert_eq!(
        *live.lock().expect("lock"),
        [SampleKind::Put, SampleKind::Delete]
    );
    assert!(!d.has_matching_subscriber(&key("s/1"), Locality::Remote));
    // Publications no longer go there.
    push(&d, &b, WireExpr::key("s/1"), b"x");
    assert!(sent(&b_rec).is_empty());
}

#[test]
fn routes_follow_subscriptions_and_key_expression_ids() {
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Peer);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);

    // Nobody subscribes: the (cached) route is empty.
    push(&d, &a, WireExpr::key("a/b"), b"1");
    push(&d, &a, WireExpr::key("a/b"), b"2");
    assert!(sent(&b_rec).is_empty());

    // A subscription invalidates the cached route.
    subscriber(&d, &b, 1, "a/**");
    a_rec.take();
    push(&d, &a, WireExpr::key("a/b"), b"3");
    push(&d, &a, WireExpr::key("a/b"), b"4");
    assert_eq!(sent(&b_rec), ["PUSH a/b", "PUSH a/b"]);

    // A publication named by the sender's key-expression id resolves to the same key.
    declare(
        &d,
        &a,
        DeclareBody::KeyExpr {
            id: 5,
            wire_expr: WireExpr::key("a"),
        },
    );
    push(&d, &a, WireExpr::new(5, "/b", Mapping::Sender), b"5");
    assert_eq!(sent(&b_rec), ["PUSH a/b"]);
    // An unknown id is dropped, not guessed.
    push(&d, &a, WireExpr::new(9, "/b", Mapping::Sender), b"6");
    assert!(sent(&b_rec).is_empty());

    // Undeclaring invalidates it again.
    declare(
        &d,
        &b,
        DeclareBody::UndeclareSubscriber {
            id: 1,
            wire_expr: None,
        },
    );
    push(&d, &a, WireExpr::key("a/b"), b"7");
    push(&d, &a, WireExpr::new(5, "/b", Mapping::Sender), b"8");
    assert!(sent(&b_rec).is_empty());
}

#[test]
fn a_publishers_route_goes_stale_when_anything_it_depends_on_changes() {
    let d = dispatcher(WhatAmI::Peer);
    let k = key("p/1");
    let route = d.compute_route(Source::Local, &k, Locality::Any);
    assert!(route.is_current(&d));
    assert!(route.faces.is_empty() && route.local.is_empty());

    local_subscriber(&d, "p/*", Locality::Any);
    assert!(!route.is_current(&d), "a subscriber appeared");
    let route = d.compute_route(Source::Local, &k, Locality::Any);
    assert_eq!(route.local.len(), 1);

    let (face, _) = open(&d, 2, WhatAmI::Peer);
    assert!(!route.is_current(&d), "a face opened");
    let route = d.compute_route(Source::Local, &k, Locality::Any);
    assert!(route.faces.is_empty(), "the face subscribes to nothing");
    subscriber(&d, &face, 1, "p/**");
    assert!(!route.is_current(&d), "the face subscribed");
    let route = d.compute_route(Source::Local, &k, Locality::Any);
    assert_eq!(route.faces.len(), 1);
    assert_eq!(route.faces[0].1, WireExpr::key("p/1"));
}

#[test]
fn publishers_keys_are_declared_by_id_and_routes_use_the_id() {
    let d = dispatcher(WhatAmI::Peer);
    let (a, a_rec) = open(&d, 2, WhatAmI::Peer);
    subscriber(&d, &a, 1, "p/**");
    let k = key("p/1");

    d.declare_expr(&k);
    d.declare_expr(&k);
    assert_eq!(sent(&a_rec), ["D_KEYEXPR 1 p/1"], "declared once");
    let route = d.compute_route(Source::Local, &k, Locality::Any);
    assert_eq!(route.faces[0].1, WireExpr::new(1, "", Mapping::Sender));

    // A face opened later learns the id too.
    let (_b, b_rec) = {
        let rec = Arc::new(Recorder::default());
        let face = Arc::new(Face::new(
            zid(3),
            WhatAmI::Client,
            FaceTx::Fake(rec.clone()),
        ));
        d.face_opened(face.clone());
        (face, rec)
    };
    // (It is a client: a peer passes it the other face's subscriber too.)
    assert_eq!(sent(&b_rec), ["D_SUBSCRIBER p/**", "D_KEYEXPR 1 p/1"]);

    d.undeclare_expr(&k);
    assert!(sent(&a_rec).is_empty(), "one publisher is left");
    d.undeclare_expr(&k);
    assert_eq!(sent(&a_rec), ["U_KEYEXPR 1"]);
    let route = d.compute_route(Source::Local, &k, Locality::Any);
    assert_eq!(route.faces[0].1, WireExpr::key("p/1"));
}

fn request(id: u32, k: &str) -> NetworkMessage {
    request_within(id, k, 10_000)
}

fn request_within(id: u32, k: &str, timeout_ms: u64) -> NetworkMessage {
    NetworkMessage::Request(Request {
        id,
        wire_expr: WireExpr::key(k),
        qos: NetQos::REQUEST,
        timestamp: None,
        target: WireTarget::All,
        budget: None,
        timeout_ms: Some(timeout_ms),
        node_id: 0,
        body: wz::Query::default(),
        unknown_exts: Default::default(),
    })
}

#[tokio::test]
async fn a_request_reaches_the_matching_queryable_and_its_replies_come_back() {
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    let (_c, c_rec) = open(&d, 4, WhatAmI::Peer);
    declare(
        &d,
        &b,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: false,
            distance: 0,
        },
    );
    a_rec.take();
    c_rec.take();

    d.handle_message(&a, request(7, "q/1"));
    let to_b = b_rec.take();
    assert_eq!(
        to_b.iter().map(summary).collect::<Vec<_>>(),
        ["REQUEST q/1"]
    );
    assert!(sent(&c_rec).is_empty(), "c has no queryable");
    let NetworkMessage::Request(forwarded) = &to_b[0] else {
        unreachable!("checked above")
    };

    d.handle_message(
        &b,
        NetworkMessage::Response(Response {
            request_id: forwarded.id,
            wire_expr: WireExpr::key("q/1"),
            qos: NetQos::RESPONSE,
            timestamp: None,
            responder: None,
            body: ResponseBody::Reply(wz::Reply {
                consolidation: None,
                body: PushBody::Put(Put::default()),
                unknown_exts: Default::default(),
            }),
            unknown_exts: Default::default(),
        }),
    );
    assert_eq!(sent(&a_rec), ["RESPONSE 7 q/1"]);
    d.handle_message(
        &b,
        NetworkMessage::ResponseFinal(ResponseFinal {
            request_id: forwarded.id,
            qos: NetQos::RESPONSE,
            timestamp: None,
        }),
    );
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 7"]);

    // A queryable's face that closes before it finished ends the query for it.
    d.handle_message(&a, request(8, "q/2"));
    assert_eq!(sent(&b_rec), ["REQUEST q/2"]);
    d.face_closed(b.zid);
    assert_eq!(sent(&a_rec), ["U_QUERYABLE q/**", "RESPONSE_FINAL 8"]);

    // With no queryable left, a request is answered at once.
    d.handle_message(&a, request(9, "q/3"));
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 9"]);
}

#[test]
fn a_peer_sends_tokens_to_a_client_only_once_it_asked() {
    let d = dispatcher(WhatAmI::Peer);
    let (c, c_rec) = open(&d, 2, WhatAmI::Client);
    let (p, p_rec) = open(&d, 3, WhatAmI::Peer);

    let token = d.add_token(key("t/mine"));
    assert_eq!(sent(&p_rec), ["D_TOKEN t/mine"]);
    assert!(sent(&c_rec).is_empty(), "the client did not ask");

    d.handle_message(
        &c,
        NetworkMessage::Interest(Interest {
            id: 4,
            mode: InterestMode::CurrentFuture,
            options: InterestOptions(InterestOptions::KEYEXPRS | InterestOptions::TOKENS),
            wire_expr: None,
            qos: NetQos::DECLARE,
            timestamp: None,
            node_id: 0,
        }),
    );
    assert_eq!(sent(&c_rec), ["D_TOKEN t/mine", "D_FINAL Some(4)"]);

    // Now it hears of new tokens, including a peer's.
    declare(
        &d,
        &p,
        DeclareBody::Token {
            id: 1,
            wire_expr: WireExpr::key("t/peer"),
        },
    );
    assert_eq!(sent(&c_rec), ["D_TOKEN t/peer"]);
    d.remove_token(token);
    assert_eq!(sent(&c_rec), ["U_TOKEN t/mine"]);
    assert_eq!(sent(&p_rec), ["U_TOKEN t/mine"]);
}

/// On a paused clock: a request nobody finishes ends at its timeout, not a moment
/// before, and what it still waited for is forgotten.
#[tokio::test(start_paused = true)]
async fn a_request_ends_at_its_timeout() {
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    declare(
        &d,
        &b,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: false,
            distance: 0,
        },
    );
    a_rec.take();

    d.handle_message(&a, request_within(7, "q/1", 500));
    let to_b = b_rec.take();
    let Some(NetworkMessage::Request(forwarded)) = to_b.first() else {
        panic!(
            "no request forwarded: {:?}",
            to_b.iter().map(summary).collect::<Vec<_>>()
        )
    };
    advance(Duration::from_millis(499)).await;
    assert!(sent(&a_rec).is_empty(), "ended before its timeout");
    advance(Duration::from_millis(1)).await;
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 7"]);

    // b finishing late changes nothing: the request was forgotten.
    d.handle_message(
        &b,
        NetworkMessage::ResponseFinal(ResponseFinal {
            request_id: forwarded.id,
            qos: NetQos::RESPONSE,
            timestamp: None,
        }),
    );
    assert!(sent(&a_rec).is_empty());
}

/// On a paused clock: a peer's timeout of u64::MAX ms is capped (forwarded capped too),
/// and the request ends then.
#[tokio::test(start_paused = true)]
async fn a_peers_query_timeout_is_capped() {
    use super::queries::MAX_REMOTE_QUERY_TIMEOUT;
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    declare(
        &d,
        &b,
        DeclareBody::Queryable {
            id: 1,
            wire_expr: WireExpr::key("q/**"),
            complete: false,
            distance: 0,
        },
    );
    a_rec.take();

    d.handle_message(&a, request_within(7, "q/1", u64::MAX));
    let to_b = b_rec.take();
    let Some(NetworkMessage::Request(forwarded)) = to_b.first() else {
        panic!(
            "no request forwarded: {:?}",
            to_b.iter().map(summary).collect::<Vec<_>>()
        )
    };
    assert_eq!(
        forwarded.timeout_ms,
        Some(MAX_REMOTE_QUERY_TIMEOUT.as_millis() as u64)
    );
    advance(MAX_REMOTE_QUERY_TIMEOUT - Duration::from_millis(1)).await;
    assert!(sent(&a_rec).is_empty(), "ended before the cap");
    advance(Duration::from_millis(1)).await;
    assert_eq!(sent(&a_rec), ["RESPONSE_FINAL 7"]);
}

/// A face that declares 20,000 subscribers with 4 KB keys gets as many as the key
/// bytes allow, the rest refused; a key beyond the length cap is refused even with
/// room; undeclaring frees room; the face's other traffic carries on.
#[test]
fn declarations_beyond_the_caps_are_refused_and_the_face_carries_on() {
    use super::limits::{MAX_DECLARED_BYTES, MAX_KEY_EXPR_LEN};
    let d = dispatcher(WhatAmI::Router);
    let (a, a_rec) = open(&d, 2, WhatAmI::Client);
    let (b, b_rec) = open(&d, 3, WhatAmI::Client);
    let long = |i: u32| format!("big/{i:05}/{}", "x".repeat(4000));
    for i in 0..20_000 {
        subscriber(&d, &a, i, &long(i));
    }
    let fit = MAX_DECLARED_BYTES / long(0).len();
    {
        let st = lock(&a.state);
        assert_eq!(st.remote_subs.len(), fit);
        assert_eq!(st.budget.count(), fit);
        assert!(st.budget.bytes() <= MAX_DECLARED_BYTES);
        assert!(
            st.remote_subs
                .values()
                .all(|k| k.as_str() < long(fit as u32).as_str())
        );
    }
    // b publishes on an accepted key and a refused one: only the first reaches a.
    let _ = b_rec.take();
    let _ = a_rec.take();
    push(&d, &b, WireExpr::key(long(0)), b"kept");
    push(&d, &b, WireExpr::key(long(19_999)), b"refused");
    let to_a = a_rec.take();
    assert_eq!(
        to_a.len(),
        1,
        "{:?}",
        to_a.iter().map(summary).collect::<Vec<_>>()
    );
    // Undeclaring frees room; a key beyond the length cap is refused even then.
    declare(
        &d,
        &a,
        DeclareBody::UndeclareSubscriber {
            id: 0,
            wire_expr: None,
        },
    );
    subscriber(&d, &a, 50_000, &"y".repeat(MAX_KEY_EXPR_LEN + 1));
    assert!(!lock(&a.state).remote_subs.contains_key(&50_000));
    subscriber(&d, &a, 50_001, "small/key");
    let st = lock(&a.state);
    assert!(st.remote_subs.contains_key(&50_001));
    assert_eq!(st.budget.count(), fit);
    drop(st);
    // Closing the face frees everything it declared.
    d.face_closed(a.zid);
    let st = lock(&a.state);
    assert!(st.remote_subs.is_empty());
    assert_eq!(st.budget.count(), 0);
}

/// The interest id of the INTEREST a face was sent.
fn interest_id(rec: &Recorder) -> u32 {
    let sent = rec.take();
    match sent.as_slice() {
        [NetworkMessage::Interest(i)] => i.id,
        other => panic!(
            "expected one INTEREST, got {:?}",
            other.iter().map(summary).collect::<Vec<_>>()
        ),
    }
}

/// On a paused clock: a liveliness query ends when every router asked has answered or
/// closed, else at its timeout.
#[tokio::test(start_paused = true)]
async fn a_liveliness_query_ends_when_every_router_is_done_or_at_its_timeout() {
    use crate::handlers::{FifoChannel, IntoHandler};

    let d = dispatcher(WhatAmI::Client);
    let (r1, r1_rec) = open(&d, 2, WhatAmI::Router);
    let (r2, r2_rec) = open(&d, 3, WhatAmI::Router);

    let (callback, replies) = FifoChannel(16).into_handler();
    d.live_get(key("t/**"), Duration::from_secs(3600), callback);
    let id = interest_id(&r1_rec);
    assert_eq!(interest_id(&r2_rec), id, "one interest id for the query");
    d.handle_message(
        &r1,
        declare_msg(
            Some(id),
            DeclareBody::Token {
                id: 1,
                wire_expr: WireExpr::key("t/a"),
            },
        ),
    );
    d.handle_message(&r1, declare_msg(Some(id), DeclareBody::Final));
    assert!(!replies.is_disconnected(), "r2 has not answered");
    // r2 closes: it will never answer, so the query ends now.
    d.face_closed(r2.zid);
    assert!(replies.is_disconnected(), "ended when r2 closed");
    let got: Vec<String> = replies
        .drain()
        .map(|r| r.into_result().expect("ok").key_expr().to_string())
        .collect();
    assert_eq!(got, ["t/a"]);

    // r1 never answers the next one: it ends at its timeout.
    let (callback, replies) = FifoChannel(16).into_handler();
    d.live_get(key("t/**"), Duration::from_millis(500), callback);
    let id = interest_id(&r1_rec);
    advance(Duration::from_millis(499)).await;
    assert!(!replies.is_disconnected(), "ended before its timeout");
    advance(Duration::from_millis(1)).await;
    assert!(replies.is_disconnected(), "did not end at its timeout");
    // A late answer is dropped: the query was forgotten.
    d.handle_message(&r1, declare_msg(Some(id), DeclareBody::Final));
    assert!(replies.is_empty());
}

/// Moves the paused clock on by `d`, then lets every task the timers woke run (one
/// runtime thread: each yield runs the tasks already woken).
async fn advance(d: Duration) {
    tokio::time::advance(d).await;
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}
