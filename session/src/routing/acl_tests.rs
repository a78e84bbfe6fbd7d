//! Access control in routing, without sockets: every message kind `access_control`
//! names, denied on ingress from one face and on egress to another, with an allowed key
//! beside each denied one (so that a missing message is a decision, not a lost route).
//!
//! Face `a` (zid 0xa) may send nothing under `deny/**`; nothing under `deny/**` may be
//! sent to face `b` (zid 0xb); face `c` (zid 0xc) matches no subject (default allow).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::network::{
    DeclareBody, Interest, InterestMode, InterestOptions, NetQos, NetworkMessage, Push, PushBody,
    QueryTarget as WireTarget, Request, Response, ResponseBody, WireExpr,
};
use plexus_transport::wire::zenoh::{self as wz, Del, Put};
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::dispatcher::Dispatcher;
use super::face::{Face, FaceTx, declare_msg};
use super::fake::Recorder;
use crate::acl::FaceFacts;
use crate::config::Config;
use crate::key_expr::OwnedKeyExpr;
use crate::reply::Reply;
use crate::sample::{Locality, Reliability, Sample, SampleKind};

const ALL: &str = r#"["put", "delete", "declare_subscriber", "query", "reply",
    "declare_queryable", "liveliness_token", "declare_liveliness_subscriber",
    "liveliness_query"]"#;

fn acl_config() -> Config {
    Config::from_json5(&format!(
        r#"{{ access_control: {{
            enabled: true,
            default_permission: "allow",
            rules: [
              {{ id: "in", messages: {ALL}, flows: ["ingress"], permission: "deny",
                 key_exprs: ["deny/**"] }},
              {{ id: "out", messages: {ALL}, flows: ["egress"], permission: "deny",
                 key_exprs: ["deny/**"] }},
            ],
            subjects: [ {{ id: "a", zids: ["a"] }}, {{ id: "b", zids: ["b"] }} ],
            policies: [
              {{ rules: ["in"], subjects: ["a"] }},
              {{ rules: ["out"], subjects: ["b"] }},
            ],
        }} }}"#
    ))
    .expect("the ACL parses")
}

fn zid(n: u128) -> ZenohId {
    ZenohId::new(n).expect("non-zero zid")
}

fn key(k: &str) -> OwnedKeyExpr {
    OwnedKeyExpr::new(k).expect("valid key")
}

/// A router's dispatcher and its faces `a`, `b`, `c` (of kinds `kinds`), each under
/// the ACL and recording what it is sent.
struct Net {
    d: Arc<Dispatcher>,
    faces: Vec<(Arc<Face>, Arc<Recorder>)>,
}

impl Net {
    fn new(kinds: [WhatAmI; 3]) -> Net {
        Net::with_mode(WhatAmI::Router, kinds)
    }

    /// [`Net::new`] for a session of mode `mode`.
    fn with_mode(mode: WhatAmI, kinds: [WhatAmI; 3]) -> Net {
        let policy = crate::acl::AclPolicy::compile(acl_config().access_control())
            .expect("compiles")
            .expect("enabled");
        let d = Arc::new(Dispatcher::new(zid(1), mode, None, Duration::from_secs(10)));
        let faces = [0xa, 0xb, 0xc]
            .into_iter()
            .zip(kinds)
            .map(|(n, whatami)| {
                let facts = FaceFacts {
                    zid: Some(zid(n)),
                    link_protocols: vec!["tcp".into()],
                    ..FaceFacts::default()
                };
                let rec = Arc::new(Recorder::default());
                let face = Arc::new(
                    Face::new(zid(n), whatami, FaceTx::Fake(rec.clone()))
                        .with_acl(policy.face(&facts)),
                );
                d.face_opened(face.clone());
                (face, rec)
            })
            .collect();
        let net = Net { d, faces };
        net.sent();
        net
    }

    fn face(&self, i: usize) -> &Arc<Face> {
        &self.faces[i].0
    }

    /// What each face was sent since the last call, one short line per message.
    fn sent(&self) -> [Vec<String>; 3] {
        [0, 1, 2].map(|i| self.faces[i].1.take().iter().map(summary).collect())
    }

    fn msg(&self, from: usize, m: NetworkMessage) {
        self.d.handle_message(self.face(from), m);
    }

    fn declare(&self, from: usize, body: DeclareBody) {
        self.msg(from, declare_msg(None, body));
    }

    fn push(&self, from: usize, k: &str, delete: bool) {
        let body = if delete {
            PushBody::Del(Del::default())
        } else {
            PushBody::Put(Put {
                payload: Bytes::from_static(b"x"),
                ..Put::default()
            })
        };
        self.d.handle_push(
            self.face(from),
            &mut Push {
                wire_expr: WireExpr::key(k),
                qos: NetQos::PUSH,
                timestamp: None,
                node_id: 0,
                body,
                unknown_exts: Default::default(),
            },
        );
    }
}

fn summary(m: &NetworkMessage) -> String {
    match m {
        NetworkMessage::Push(p) => match p.body {
            PushBody::Put(_) => format!("PUT {}", p.wire_expr.suffix),
            PushBody::Del(_) => format!("DEL {}", p.wire_expr.suffix),
        },
        NetworkMessage::Declare(d) => match &d.body {
            DeclareBody::Subscriber { wire_expr, .. } => format!("D_SUB {}", wire_expr.suffix),
            DeclareBody::Queryable { wire_expr, .. } => format!("D_QBL {}", wire_expr.suffix),
            DeclareBody::Token { wire_expr, .. } => format!("D_TOKEN {}", wire_expr.suffix),
            DeclareBody::Final => "D_FINAL".to_string(),
            other => format!("{other:?}"),
        },
        NetworkMessage::Request(r) => format!("REQUEST {}", r.wire_expr.suffix),
        NetworkMessage::Response(r) => format!("RESPONSE {} {}", r.request_id, r.wire_expr.suffix),
        NetworkMessage::ResponseFinal(r) => format!("FINAL {}", r.request_id),
        NetworkMessage::Interest(i) => format!(
            "INTEREST {:?} {}",
            i.mode,
            i.wire_expr
                .as_ref()
                .map(|w| w.suffix.as_str())
                .unwrap_or("")
        ),
        NetworkMessage::Oam(_) => "OAM".to_string(),
    }
}

fn sub(id: u32, k: &str) -> DeclareBody {
    DeclareBody::Subscriber {
        id,
        wire_expr: WireExpr::key(k),
    }
}

fn qbl(id: u32, k: &str) -> DeclareBody {
    DeclareBody::Queryable {
        id,
        wire_expr: WireExpr::key(k),
        complete: false,
        distance: 0,
    }
}

fn token(id: u32, k: &str) -> DeclareBody {
    DeclareBody::Token {
        id,
        wire_expr: WireExpr::key(k),
    }
}

fn request(id: u32, k: &str) -> NetworkMessage {
    NetworkMessage::Request(Request {
        id,
        wire_expr: WireExpr::key(k),
        qos: NetQos::REQUEST,
        timestamp: None,
        target: WireTarget::All,
        budget: None,
        timeout_ms: Some(10_000),
        node_id: 0,
        body: wz::Query::default(),
        unknown_exts: Default::default(),
    })
}

fn response(request_id: u32, k: &str) -> NetworkMessage {
    NetworkMessage::Response(Response {
        request_id,
        wire_expr: WireExpr::key(k),
        qos: NetQos::RESPONSE,
        timestamp: None,
        responder: None,
        body: ResponseBody::Reply(wz::Reply {
            consolidation: None,
            body: PushBody::Put(Put::default()),
            unknown_exts: Default::default(),
        }),
        unknown_exts: Default::default(),
    })
}

fn interest(id: u32, mode: InterestMode, k: &str) -> NetworkMessage {
    NetworkMessage::Interest(Interest {
        id,
        mode,
        options: InterestOptions(InterestOptions::KEYEXPRS | InterestOptions::TOKENS),
        wire_expr: Some(WireExpr::key(k)),
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id: 0,
    })
}

/// The id of the one REQUEST in `msgs` (as forwarded to a face).
fn forwarded_id(msgs: &[NetworkMessage]) -> u32 {
    match msgs {
        [NetworkMessage::Request(r)] => r.id,
        _ => panic!(
            "not one request: {:?}",
            msgs.iter().map(summary).collect::<Vec<_>>()
        ),
    }
}

#[test]
fn puts_and_deletes_denied_on_ingress_and_on_egress() {
    let n = Net::new([WhatAmI::Client, WhatAmI::Peer, WhatAmI::Peer]);
    for i in 0..3 {
        n.declare(i, sub(1, "**"));
    }
    let local = Arc::new(Mutex::new(Vec::<String>::new()));
    let keep = local.clone();
    n.d.add_subscriber(
        key("**"),
        Arc::new(move |s: Sample| keep.lock().expect("lock").push(s.key_expr().to_string())),
        Locality::Any,
    );
    n.sent();

    // Ingress from a: denied under deny/**, for the router's own subscriber too.
    for delete in [false, true] {
        n.push(0, "deny/x", delete);
        n.push(0, "ok/x", delete);
    }
    let [to_a, to_b, to_c] = n.sent();
    assert!(to_a.is_empty(), "{to_a:?}");
    assert_eq!(to_b, ["PUT ok/x", "DEL ok/x"]);
    assert_eq!(to_c, ["PUT ok/x", "DEL ok/x"]);
    assert_eq!(*local.lock().expect("lock"), ["ok/x", "ok/x"]);

    // Egress to b: c's and the router's own publications under deny/** go to a, not b.
    for delete in [false, true] {
        n.push(2, "deny/y", delete);
        n.push(2, "ok/y", delete);
    }
    let s = |k: &str| Sample::new(key(k), SampleKind::Put, Bytes::from_static(b"x"));
    for k in ["deny/z", "ok/z"] {
        n.d.route(
            super::face::Source::Local,
            s(k),
            Locality::Remote,
            Reliability::Reliable,
        );
    }
    let [to_a, to_b, to_c] = n.sent();
    assert_eq!(
        to_a,
        [
            "PUT deny/y",
            "PUT ok/y",
            "DEL deny/y",
            "DEL ok/y",
            "PUT deny/z",
            "PUT ok/z"
        ]
    );
    assert_eq!(to_b, ["PUT ok/y", "DEL ok/y", "PUT ok/z"]);
    assert_eq!(to_c, ["PUT deny/z", "PUT ok/z"]);
}

#[test]
fn subscriber_queryable_and_token_declarations_denied_on_ingress_and_on_egress() {
    let n = Net::new([WhatAmI::Client, WhatAmI::Peer, WhatAmI::Peer]);
    // Ingress from a: not recorded, so not propagated.
    n.declare(0, sub(1, "deny/s"));
    n.declare(0, sub(2, "ok/s"));
    n.declare(0, qbl(3, "deny/q"));
    n.declare(0, qbl(4, "ok/q"));
    n.declare(0, token(5, "deny/t"));
    n.declare(0, token(6, "ok/t"));
    let [to_a, to_b, to_c] = n.sent();
    assert!(to_a.is_empty(), "{to_a:?}");
    assert_eq!(to_b, ["D_SUB ok/s", "D_QBL ok/q", "D_TOKEN ok/t"]);
    assert_eq!(to_c, ["D_SUB ok/s", "D_QBL ok/q", "D_TOKEN ok/t"]);
    assert!(!n.face(0).has_subscriber_for(&key("deny/s")));

    // Egress to b: c's declarations under deny/** reach a (a client: subscribers and
    // queryables; tokens once it asks), never b.
    n.declare(2, sub(1, "deny/s2"));
    n.declare(2, sub(2, "ok/s2"));
    n.declare(2, qbl(3, "deny/q2"));
    n.declare(2, qbl(4, "ok/q2"));
    n.declare(2, token(5, "deny/t2"));
    n.declare(2, token(6, "ok/t2"));
    let [to_a, to_b, to_c] = n.sent();
    assert_eq!(
        to_a,
        [
            "D_SUB deny/s2",
            "D_SUB ok/s2",
            "D_QBL deny/q2",
            "D_QBL ok/q2"
        ]
    );
    assert_eq!(to_b, ["D_SUB ok/s2", "D_QBL ok/q2", "D_TOKEN ok/t2"]);
    assert!(to_c.is_empty(), "{to_c:?}");
    // The router's own token likewise.
    n.d.add_token(key("deny/t3"));
    n.d.add_token(key("ok/t3"));
    let [_, to_b, to_c] = n.sent();
    assert_eq!(to_b, ["D_TOKEN ok/t3"]);
    assert_eq!(to_c, ["D_TOKEN deny/t3", "D_TOKEN ok/t3"]);
}

#[tokio::test]
async fn queries_and_replies_denied_on_ingress_and_on_egress() {
    let n = Net::new([WhatAmI::Client, WhatAmI::Peer, WhatAmI::Peer]);
    for i in 0..3 {
        n.declare(i, qbl(1, "**"));
    }
    n.sent();

    // Query ingress from a: answered at once, sent nowhere.
    n.msg(0, request(7, "deny/x"));
    let [to_a, to_b, to_c] = n.sent();
    assert_eq!(to_a, ["FINAL 7"]);
    assert!(to_b.is_empty() && to_c.is_empty(), "{to_b:?} {to_c:?}");
    n.msg(0, request(8, "ok/x"));
    let [to_a, to_b, to_c] = n.sent();
    assert!(to_a.is_empty(), "{to_a:?}");
    assert_eq!(to_b, ["REQUEST ok/x"]);
    assert_eq!(to_c, ["REQUEST ok/x"]);

    // Query egress to b: c's query under deny/** goes to a only.
    n.msg(2, request(9, "deny/y"));
    let [to_a, to_b, _] = n.sent();
    assert_eq!(to_a, ["REQUEST deny/y"]);
    assert!(to_b.is_empty(), "{to_b:?}");

    // Reply ingress from a: c asks everything; a's reply under deny/** is dropped.
    n.msg(2, request(10, "**"));
    let to_a = n.faces[0].1.take();
    let to_b = n.faces[1].1.take();
    n.sent();
    let (fa, fb) = (forwarded_id(&to_a), forwarded_id(&to_b));
    n.msg(0, response(fa, "deny/r"));
    n.msg(0, response(fa, "ok/r"));
    assert_eq!(n.sent()[2], ["RESPONSE 10 ok/r"]);
    // b's replies are allowed in (b's rules are egress only).
    n.msg(1, response(fb, "deny/r"));
    assert_eq!(n.sent()[2], ["RESPONSE 10 deny/r"]);

    // Reply egress to b: b asks everything; c's and a's replies under deny/** are not
    // sent to b.
    n.msg(1, request(11, "**"));
    let to_a = n.faces[0].1.take();
    let to_c = n.faces[2].1.take();
    n.sent();
    let (fa, fc) = (forwarded_id(&to_a), forwarded_id(&to_c));
    n.msg(2, response(fc, "deny/r2"));
    n.msg(2, response(fc, "ok/r2"));
    n.msg(0, response(fa, "ok/r3"));
    assert_eq!(n.sent()[1], ["RESPONSE 11 ok/r2", "RESPONSE 11 ok/r3"]);
}

#[tokio::test]
async fn liveliness_subscribers_and_queries_denied_on_ingress_and_on_egress() {
    // b and c are routers: a peer asks routers for their tokens (a router asks the
    // routers of its mesh nothing: their tokens come as sourced declarations).
    let n = Net::with_mode(
        WhatAmI::Peer,
        [WhatAmI::Client, WhatAmI::Router, WhatAmI::Router],
    );
    n.d.add_token(key("deny/t"));
    n.d.add_token(key("ok/t"));
    n.sent();

    // Ingress from a: a liveliness query (current interest) or subscriber (future
    // interest) under deny/** gets no tokens, and is not kept; only the final answer.
    n.msg(0, interest(1, InterestMode::Current, "deny/**"));
    n.msg(0, interest(2, InterestMode::Current, "ok/**"));
    n.msg(0, interest(3, InterestMode::Future, "deny/**"));
    n.msg(0, interest(4, InterestMode::Future, "ok/**"));
    let [to_a, _, _] = n.sent();
    let tokens: Vec<&String> = to_a.iter().filter(|m| m.starts_with("D_TOKEN")).collect();
    assert_eq!(tokens, ["D_TOKEN ok/t"], "{to_a:?}");
    n.d.add_token(key("deny/t2"));
    n.d.add_token(key("ok/t2"));
    assert_eq!(
        n.sent()[0],
        ["D_TOKEN ok/t2"],
        "only the allowed subscriber"
    );

    // Egress to b: the router's liveliness subscriber and query under deny/** are not
    // sent to b.
    let noop = Arc::new(|_: Sample| {});
    n.d.add_live_sub(key("deny/**"), false, noop.clone());
    n.d.add_live_sub(key("ok/**"), false, noop);
    let [_, to_b, to_c] = n.sent();
    assert_eq!(to_b, ["INTEREST Future ok/**"]);
    assert_eq!(to_c, ["INTEREST Future deny/**", "INTEREST Future ok/**"]);
    let cb = Arc::new(|_: Reply| {});
    n.d.live_get(key("deny/**"), Duration::from_secs(10), cb.clone());
    n.d.live_get(key("ok/**"), Duration::from_secs(10), cb);
    let [_, to_b, to_c] = n.sent();
    assert_eq!(to_b, ["INTEREST Current ok/**"]);
    assert_eq!(to_c, ["INTEREST Current deny/**", "INTEREST Current ok/**"]);
}
