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
use super::pubsub::LastRoute;
use crate::key_expr::OwnedKeyExpr;
use crate::sample::{Locality, Reliability, Sample, SampleKind};
use crate::sync::lock;

mod queries;

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

/// A PUSH/PUT on `we` carrying `payload`.
fn put_on(we: WireExpr, payload: &'static [u8]) -> Push {
    Push {
        wire_expr: we,
        qos: NetQos::PUSH,
        timestamp: None,
        node_id: 0,
        body: PushBody::Put(Put {
            payload: Bytes::from_static(payload),
            ..Put::default()
        }),
        unknown_exts: Default::default(),
    }
}

fn push(d: &Dispatcher, face: &Arc<Face>, we: WireExpr, payload: &'static [u8]) {
    d.handle_push(face, &mut put_on(we, payload));
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

/// The PUSHes of one batch share their route lookup (a [`LastRoute`]): what the batch's
/// other messages change between two of them still applies from the next one.
#[test]
fn one_batchs_pushes_follow_declarations_made_between_them() {
    let d = dispatcher(WhatAmI::Router);
    let (a, _) = open(&d, 2, WhatAmI::Peer);
    let (b, b_rec) = open(&d, 3, WhatAmI::Peer);
    let (_, on_ab) = local_subscriber(&d, "a/b", Locality::Any);
    let (_, on_cd) = local_subscriber(&d, "c/d", Locality::Any);
    b_rec.take(); // Their declarations.
    let id_names = |d: &Arc<Dispatcher>, k: &str| {
        declare(
            d,
            &a,
            DeclareBody::KeyExpr {
                id: 1,
                wire_expr: WireExpr::key(k),
            },
        )
    };
    let mut last = LastRoute::default();
    let mut push_in = |d: &Dispatcher, we: WireExpr, payload: &'static [u8]| {
        d.handle_push_in(&a, &mut put_on(we, payload), &mut last)
    };
    let payloads = |got: &Mutex<Vec<Sample>>| -> Vec<Bytes> {
        lock(got).iter().map(|s| s.payload.clone()).collect()
    };

    id_names(&d, "a/b");
    push_in(&d, WireExpr::new(1, "", Mapping::Sender), b"1");
    push_in(&d, WireExpr::new(1, "", Mapping::Sender), b"2");
    // The id now names another key.
    id_names(&d, "c/d");
    push_in(&d, WireExpr::new(1, "", Mapping::Sender), b"3");
    assert_eq!(payloads(&on_ab), [&b"1"[..], b"2"]);
    assert_eq!(payloads(&on_cd), [&b"3"[..]]);
    // A subscription arrives from a face.
    subscriber(&d, &b, 1, "c/**");
    push_in(&d, WireExpr::new(1, "", Mapping::Sender), b"4");
    assert_eq!(sent(&b_rec), ["PUSH c/d"]);
    // Another key in between, then the id again.
    push_in(&d, WireExpr::key("a/b"), b"5");
    push_in(&d, WireExpr::new(1, "", Mapping::Sender), b"6");
    assert_eq!(payloads(&on_ab), [&b"1"[..], b"2", b"5"]);
    assert_eq!(payloads(&on_cd), [&b"3"[..], b"4", b"6"]);
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
