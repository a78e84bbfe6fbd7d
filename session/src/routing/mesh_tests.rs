//! Meshes of routers without sockets: dispatchers in router mode joined by faces that
//! record what they send, and a pump that hands each message to the dispatcher at the
//! other end, until the mesh is quiet.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::network::{
    DeclareBody, NetQos, NetworkMessage, Push, PushBody, WireExpr,
};
use plexus_transport::wire::zenoh::Put;
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::dispatcher::Dispatcher;
use super::face::{Face, FaceTx, Source, declare_msg};
use super::fake::Recorder;
use super::queries::Dispatch;
use super::query_exec::{QueryExec, QueryInner};
use super::tables::LocalQueryable;
use crate::encoding::Encoding;
use crate::key_expr::OwnedKeyExpr;
use crate::linkstate::weight::StaticWeights;
use crate::reply::{ConsolidationMode, QueryTarget, Reply};
use crate::sample::{Locality, Reliability, Sample, SampleKind};

fn zid(n: u128) -> ZenohId {
    ZenohId::new(n).expect("non-zero zid")
}

fn key(k: &str) -> OwnedKeyExpr {
    OwnedKeyExpr::new(k).expect("valid key")
}

fn sample(k: &str, payload: &[u8]) -> Sample {
    Sample {
        key_expr: key(k),
        payload: Bytes::copy_from_slice(payload),
        kind: SampleKind::Put,
        encoding: Default::default(),
        timestamp: None,
        attachment: None,
        priority: Default::default(),
        congestion_control: Default::default(),
        express: false,
    }
}

/// A transport between two routers of the simulation.
struct Wire {
    a: usize,
    b: usize,
    /// `a`'s face for `b`, and what `a` sends `b`.
    a_face: Arc<Face>,
    a_rec: Arc<Recorder>,
    b_face: Arc<Face>,
    b_rec: Arc<Recorder>,
    up: bool,
}

/// Router `i` has zid `i + 1`.
struct Sim {
    routers: Vec<Arc<Dispatcher>>,
    wires: Vec<Wire>,
    /// Every message carried: (from, to, message).
    log: Vec<(usize, usize, NetworkMessage)>,
}

impl Sim {
    fn new(n: usize) -> Sim {
        Sim {
            routers: (0..n)
                .map(|i| {
                    Arc::new(Dispatcher::new(
                        zid(i as u128 + 1),
                        WhatAmI::Router,
                        None,
                        Duration::from_secs(10),
                    ))
                })
                .collect(),
            wires: Vec::new(),
            log: Vec::new(),
        }
    }

    fn link(&mut self, a: usize, b: usize) {
        self.link_with_acl(a, b, None);
    }

    /// [`Sim::link`], with `acl` on `a`'s face for `b`.
    fn link_with_acl(&mut self, a: usize, b: usize, acl: Option<Arc<crate::acl::FaceAcl>>) {
        let a_rec = Arc::new(Recorder::default());
        let b_rec = Arc::new(Recorder::default());
        let a_face = Arc::new(
            Face::new(
                zid(b as u128 + 1),
                WhatAmI::Router,
                FaceTx::Fake(a_rec.clone()),
            )
            .with_acl(acl),
        );
        let b_face = Arc::new(Face::new(
            zid(a as u128 + 1),
            WhatAmI::Router,
            FaceTx::Fake(b_rec.clone()),
        ));
        self.routers[a].face_opened(a_face.clone());
        self.routers[b].face_opened(b_face.clone());
        self.wires.push(Wire {
            a,
            b,
            a_face,
            a_rec,
            b_face,
            b_rec,
            up: true,
        });
    }

    /// The transport between `a` and `b` closes (what is in flight is lost).
    fn cut(&mut self, a: usize, b: usize) {
        for w in self.wires.iter_mut().filter(|w| w.up) {
            if (w.a, w.b) == (a, b) || (w.a, w.b) == (b, a) {
                w.up = false;
                w.a_rec.take();
                w.b_rec.take();
                self.routers[w.a].face_closed(w.a_face.zid);
                self.routers[w.b].face_closed(w.b_face.zid);
            }
        }
    }

    /// Router `r` dies: every transport it has closes.
    fn kill(&mut self, r: usize) {
        let peers: Vec<(usize, usize)> = self
            .wires
            .iter()
            .filter(|w| w.up && (w.a == r || w.b == r))
            .map(|w| (w.a, w.b))
            .collect();
        for (a, b) in peers {
            self.cut(a, b);
        }
    }

    /// Carries messages until none is left.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for w in self.wires.iter().filter(|w| w.up) {
                for (from, to, rec, face) in [
                    (w.a, w.b, &w.a_rec, &w.b_face),
                    (w.b, w.a, &w.b_rec, &w.a_face),
                ] {
                    for m in rec.take() {
                        moved = true;
                        self.log.push((from, to, m.clone()));
                        self.routers[to].handle_message(face, m);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the mesh never went quiet");
    }

    /// The PUSHes carried since the log was last cleared: (from, to, NodeId).
    fn pushes(&mut self) -> Vec<(usize, usize, u16)> {
        std::mem::take(&mut self.log)
            .into_iter()
            .filter_map(|(f, t, m)| match m {
                NetworkMessage::Push(p) => Some((f, t, p.node_id)),
                _ => None,
            })
            .collect()
    }

    fn publish(&self, r: usize, k: &str, payload: &[u8]) {
        self.routers[r].route(
            Source::Local,
            sample(k, payload),
            Locality::Any,
            Reliability::Reliable,
        );
    }
}

/// How many times each payload was received.
type Counts = Arc<Mutex<HashMap<Vec<u8>, usize>>>;

/// A local subscriber that counts what it receives, by payload.
fn counter(d: &Dispatcher, k: &str) -> (u32, Counts) {
    let got = Arc::new(Mutex::new(HashMap::new()));
    let keep = got.clone();
    let id = d.add_subscriber(
        key(k),
        Arc::new(move |s: Sample| {
            *keep
                .lock()
                .expect("lock")
                .entry(s.payload.to_vec())
                .or_insert(0) += 1;
        }),
        Locality::Any,
    );
    (id, got)
}

fn total(c: &Mutex<HashMap<Vec<u8>, usize>>) -> usize {
    c.lock().expect("lock").values().sum()
}

/// A client face attached to router `d` (not pumped: its recorder is read by the test).
fn client(d: &Dispatcher, n: u128) -> (Arc<Face>, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let face = Arc::new(Face::new(
        zid(n),
        WhatAmI::Client,
        FaceTx::Fake(rec.clone()),
    ));
    d.face_opened(face.clone());
    (face, rec)
}

fn names(rec: &Recorder) -> Vec<String> {
    rec.take()
        .iter()
        .map(|m| match m {
            NetworkMessage::Push(p) => format!("PUSH {}", p.wire_expr.suffix),
            NetworkMessage::Declare(d) => match &d.body {
                DeclareBody::Subscriber { wire_expr, .. } => {
                    format!("D_SUBSCRIBER {}", wire_expr.suffix)
                }
                DeclareBody::UndeclareSubscriber { wire_expr, .. } => format!(
                    "U_SUBSCRIBER {}",
                    wire_expr.as_ref().map(|w| w.suffix.as_str()).unwrap_or("")
                ),
                DeclareBody::Queryable { wire_expr, .. } => {
                    format!("D_QUERYABLE {}", wire_expr.suffix)
                }
                DeclareBody::UndeclareQueryable { .. } => "U_QUERYABLE".into(),
                other => format!("{other:?}"),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

fn chain() -> Sim {
    let mut sim = Sim::new(3);
    sim.link(0, 1);
    sim.link(1, 2);
    sim.pump();
    sim
}

#[test]
fn routers_exchange_link_states_and_agree_on_the_graph() {
    // Joining one at a time, as processes started one after the other do.
    let mut sim = Sim::new(3);
    sim.link(0, 1);
    sim.pump();
    sim.link(1, 2);
    sim.pump();
    for (i, r) in sim.routers.iter().enumerate() {
        let dot = r.mesh_dot().expect("a router has a graph");
        assert_eq!(dot.matches("label = \"").count(), 5, "router {i}: {dot}");
        assert_eq!(dot.matches(" -- ").count(), 2, "router {i}: {dot}");
    }
    // Link states go as LINKSTATE OAMs only between routers.
    let d = Dispatcher::new(zid(9), WhatAmI::Peer, None, Duration::from_secs(1));
    assert!(d.mesh_dot().is_none());
}

#[test]
fn a_publication_crosses_a_chain_once_carrying_the_root_in_the_node_id() {
    let mut sim = chain();
    let (_, got) = counter(&sim.routers[2], "a/**");
    let (_, mid) = counter(&sim.routers[1], "b/**");
    sim.pump();
    sim.log.clear();

    sim.publish(0, "a/x", b"1");
    sim.pump();
    assert_eq!(total(&got), 1);
    assert_eq!(total(&mid), 0);
    let pushes = sim.pushes();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert_eq!(pushes[0], (0, 1, 0), "the root itself sends NodeId 0");
    assert_eq!((pushes[1].0, pushes[1].1), (1, 2));
    assert_ne!(pushes[1].2, 0, "router 1 names router 0 by its psid");

    // Nobody subscribed to c/**: nothing leaves router 0.
    sim.publish(0, "c/x", b"2");
    sim.pump();
    assert!(sim.pushes().is_empty());
}

#[test]
fn clients_at_both_ends_of_a_chain_see_each_other() {
    let mut sim = chain();
    let (pub_face, _pub_rec) = client(&sim.routers[0], 100);
    let (sub_face, sub_rec) = client(&sim.routers[2], 101);
    sim.routers[2].handle_message(
        &sub_face,
        declare_msg(
            None,
            DeclareBody::Subscriber {
                id: 5,
                wire_expr: WireExpr::key("t/**"),
            },
        ),
    );
    sim.pump();
    sub_rec.take();
    for i in 0..3u8 {
        sim.routers[0].handle_push(
            &pub_face,
            &mut Push {
                wire_expr: WireExpr::key("t/1"),
                qos: NetQos::PUSH,
                timestamp: None,
                node_id: 0,
                body: PushBody::Put(Put {
                    payload: Bytes::from(vec![i]),
                    ..Put::default()
                }),
                unknown_exts: Default::default(),
            },
        );
        sim.pump();
    }
    let got = sub_rec.take();
    assert_eq!(got.len(), 3);
    for m in &got {
        let NetworkMessage::Push(p) = m else {
            panic!("not a push: {m:?}")
        };
        assert_eq!(p.node_id, 0, "clients are sent no NodeId");
    }
}

#[test]
fn every_subscriber_of_a_cycle_gets_each_publication_exactly_once() {
    for full in [false, true] {
        let mut sim = Sim::new(4);
        for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
            sim.link(a, b);
        }
        if full {
            sim.link(0, 2);
            sim.link(1, 3);
        }
        sim.pump();
        let counters: Vec<_> = sim.routers.iter().map(|r| counter(r, "s/**").1).collect();
        sim.pump();
        for r in 0..4 {
            for i in 0..50u32 {
                sim.publish(r, "s/k", format!("{r}-{i}").as_bytes());
            }
            sim.pump();
        }
        for (r, c) in counters.iter().enumerate() {
            let c = c.lock().expect("lock");
            assert_eq!(c.len(), 200, "router {r} (full mesh: {full})");
            assert!(c.values().all(|n| *n == 1), "router {r} got duplicates");
        }
    }
}

#[test]
fn declarations_of_a_router_that_left_are_withdrawn() {
    let mut sim = chain();
    let (_face, rec) = client(&sim.routers[0], 100);
    let (_, _got) = counter(&sim.routers[2], "w/**");
    sim.pump();
    assert_eq!(names(&rec), ["D_SUBSCRIBER w/**"]);

    sim.cut(1, 2);
    sim.pump();
    assert_eq!(names(&rec), ["U_SUBSCRIBER w/**"]);
    sim.log.clear();
    sim.publish(0, "w/1", b"x");
    sim.pump();
    assert!(sim.pushes().is_empty(), "nobody to send it to");

    // The router comes back: its declarations come back with it.
    sim.link(1, 2);
    sim.pump();
    assert_eq!(names(&rec), ["D_SUBSCRIBER w/**"]);
}

#[test]
fn a_subscriber_undeclared_at_the_far_end_is_withdrawn_along_the_tree() {
    let mut sim = chain();
    let (_face, rec) = client(&sim.routers[0], 100);
    let (id, _got) = counter(&sim.routers[2], "u/**");
    sim.pump();
    assert_eq!(names(&rec), ["D_SUBSCRIBER u/**"]);
    sim.routers[2].remove_subscriber(id);
    sim.pump();
    assert_eq!(names(&rec), ["U_SUBSCRIBER u/**"]);
}

#[test]
fn traffic_moves_to_the_other_path_when_a_router_dies() {
    let mut sim = Sim::new(4);
    for (a, b) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
        sim.link(a, b);
    }
    sim.pump();
    let (_, got) = counter(&sim.routers[2], "f/**");
    sim.pump();
    sim.log.clear();
    sim.publish(0, "f/1", b"1");
    sim.pump();
    assert_eq!(total(&got), 1);
    let via = sim.pushes()[0].1;
    assert!(via == 1 || via == 3);

    sim.kill(via);
    sim.pump();
    sim.publish(0, "f/1", b"2");
    sim.pump();
    assert_eq!(total(&got), 2);
    let other = if via == 1 { 3 } else { 1 };
    let pushes = sim.pushes();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert_eq!((pushes[0].0, pushes[0].1), (0, other));
}

/// Router 0's static weight (`transport_weights`) for its direct link to router 2.
fn heavy_direct_link() -> StaticWeights {
    StaticWeights::from_json(&serde_json::json!([{"dst_zid": zid(3).to_string(), "weight": 1000}]))
        .expect("weights")
}

#[test]
fn a_static_weight_moves_traffic_off_the_direct_link() {
    // A triangle: 0 - 2 directly, or 0 - 1 - 2.
    for set_before_links in [true, false] {
        let mut sim = Sim::new(3);
        if set_before_links {
            sim.routers[0].set_mesh_weights(heavy_direct_link());
        }
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            sim.link(a, b);
        }
        sim.pump();
        let (_, got) = counter(&sim.routers[2], "w/**");
        sim.pump();
        if !set_before_links {
            // Unweighted, the direct link wins.
            sim.log.clear();
            sim.publish(0, "w/1", b"0");
            sim.pump();
            let hops: Vec<(usize, usize)> = sim.pushes().iter().map(|(f, t, _)| (*f, *t)).collect();
            assert_eq!(hops, [(0, 2)]);
            // Weighing an open link announces it and moves the routes at once.
            sim.routers[0].set_mesh_weights(heavy_direct_link());
            sim.pump();
        }
        let dot = sim.routers[2].mesh_dot().expect("a router");
        let weights: Vec<f64> = dot
            .lines()
            .filter(|l| l.contains(" -- "))
            .filter_map(|l| l.split('"').nth(1)?.parse().ok())
            .collect();
        assert_eq!(weights.len(), 3, "{dot}");
        assert_eq!(
            weights.iter().filter(|w| **w >= 1000.0).count(),
            1,
            "router 2 sees router 0's weight: {dot}"
        );
        sim.log.clear();
        sim.publish(0, "w/1", b"1");
        sim.pump();
        let hops: Vec<(usize, usize)> = sim.pushes().iter().map(|(f, t, _)| (*f, *t)).collect();
        assert_eq!(
            hops,
            [(0, 1), (1, 2)],
            "weights set before links: {set_before_links}"
        );
        assert_eq!(total(&got), if set_before_links { 1 } else { 2 });
    }
}

#[tokio::test]
async fn a_query_crosses_a_chain_and_its_reply_comes_back() {
    let mut sim = chain();
    sim.routers[2].add_queryable(LocalQueryable {
        key: key("q/**"),
        complete: true,
        callback: Arc::new(|q: Arc<QueryInner>| {
            q.send(Ok(sample(q.key_expr.as_str(), b"answer")));
        }),
        origin: Locality::Any,
    });
    sim.pump();
    let replies: Arc<Mutex<Vec<Reply>>> = Arc::default();
    let done = Arc::new(tokio::sync::Notify::new());
    struct Done(Arc<tokio::sync::Notify>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.notify_one();
        }
    }
    let keep = replies.clone();
    let guard = Done(done.clone());
    let exec = QueryExec::local(
        Arc::new(move |r: Reply| {
            let _ = &guard;
            keep.lock().expect("lock").push(r);
        }),
        ConsolidationMode::None,
        zid(1),
    );
    sim.routers[0].dispatch(
        Source::Local,
        Dispatch {
            key: key("q/1"),
            parameters: String::new(),
            target: QueryTarget::BestMatching,
            consolidation: ConsolidationMode::None,
            payload: None,
            encoding: Encoding::default(),
            attachment: None,
            timeout: Duration::from_secs(10),
            destination: Locality::Any,
            passed: Default::default(),
        },
        exec,
    );
    sim.pump();
    tokio::time::timeout(Duration::from_secs(10), done.notified())
        .await
        .expect("the query ends once the far queryable answered");
    let replies = replies.lock().expect("lock");
    assert_eq!(replies.len(), 1);
    let s = replies[0].result.as_ref().expect("a sample");
    assert_eq!(&s.payload[..], b"answer");
    assert_eq!(replies[0].replier_id, Some(zid(3)));
    // The REQUEST went hop by hop, with the root's NodeId after the first hop.
    let reqs: Vec<(usize, usize, u16)> = sim
        .log
        .iter()
        .filter_map(|(f, t, m)| match m {
            NetworkMessage::Request(r) => Some((*f, *t, r.node_id)),
            _ => None,
        })
        .collect();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[0], (0, 1, 0));
    assert_ne!(reqs[1].2, 0);
}

#[test]
fn a_token_at_one_end_of_a_chain_is_seen_alive_and_dead_at_the_other() {
    let mut sim = chain();
    let seen: Arc<Mutex<Vec<(String, SampleKind)>>> = Arc::default();
    let keep = seen.clone();
    sim.routers[0].add_live_sub(
        key("l/**"),
        false,
        Arc::new(move |s: Sample| {
            keep.lock()
                .expect("lock")
                .push((s.key_expr.to_string(), s.kind))
        }),
    );
    let id = sim.routers[2].add_token(key("l/a"));
    sim.pump();
    assert_eq!(
        *seen.lock().expect("lock"),
        [("l/a".to_string(), SampleKind::Put)]
    );
    sim.routers[2].remove_token(id);
    sim.pump();
    assert_eq!(seen.lock().expect("lock").len(), 2);
    assert_eq!(seen.lock().expect("lock")[1].1, SampleKind::Delete);

    // A token dies with its router.
    sim.routers[2].add_token(key("l/b"));
    sim.pump();
    sim.kill(2);
    sim.pump();
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!(seen[3], ("l/b".to_string(), SampleKind::Delete));
}

/// What router 0's publication on `w/1` crosses, as (from, to) hops.
fn hops_of_a_publication(sim: &mut Sim, n: &[u8]) -> Vec<(usize, usize)> {
    sim.log.clear();
    sim.publish(0, "w/1", n);
    sim.pump();
    sim.pushes().iter().map(|(f, t, _)| (*f, *t)).collect()
}

#[test]
fn rtt_weights_move_traffic_to_the_faster_path_and_a_static_weight_wins() {
    use crate::linkstate::weight::RttWeightConfig;
    use std::time::Instant;

    // A triangle: 0 - 2 directly (10 ms RTT), or 0 - 1 - 2 (0.2 ms each).
    let cfg = RttWeightConfig {
        enabled: true,
        window: 3,
        hold_down: Duration::ZERO,
        ..RttWeightConfig::default()
    };
    let mut sim = Sim::new(3);
    for r in &sim.routers {
        r.set_mesh_rtt_weights(cfg.clone());
        assert!(r.follows_rtt());
    }
    for (a, b) in [(0, 1), (1, 2), (0, 2)] {
        sim.link(a, b);
    }
    sim.pump();
    let (_, got) = counter(&sim.routers[2], "w/**");
    sim.pump();
    // Until a window of samples came, every link weighs Zenoh's default: direct wins.
    assert_eq!(hops_of_a_publication(&mut sim, b"0"), [(0, 2)]);
    let t0 = Instant::now();
    let rtt = |a: usize, b: usize| {
        if (a, b) == (0, 2) || (a, b) == (2, 0) {
            Duration::from_millis(10)
        } else {
            Duration::from_micros(200)
        }
    };
    for round in 0..3u64 {
        for (a, b) in [(0, 1), (1, 0), (1, 2), (2, 1), (0, 2), (2, 0)] {
            let now = t0 + Duration::from_secs(round);
            sim.routers[a].mesh_rtt_sample(&zid(b as u128 + 1), rtt(a, b), now);
        }
        sim.pump();
    }
    // 10 ms weighs 100, 0.2 ms the minimum: the two-hop path is lighter now.
    let dot = sim.routers[0].mesh_dot().expect("a router");
    let mut weights: Vec<f64> = dot
        .lines()
        .filter(|l| l.contains(" -- "))
        .filter_map(|l| l.split('"').nth(1)?.parse().ok())
        .collect();
    weights.sort_by(f64::total_cmp);
    assert_eq!(weights.len(), 3, "{dot}");
    assert!(
        weights[1] < 3.0 && (100.0..102.0).contains(&weights[2]),
        "{dot}"
    );
    assert_eq!(
        hops_of_a_publication(&mut sim, b"1"),
        [(0, 1), (1, 2)],
        "{dot}"
    );
    // A sample from a router that is not a neighbour changes nothing.
    sim.routers[0].mesh_rtt_sample(&zid(99), Duration::from_secs(1), t0);
    // A static weight for the direct link wins over its RTT.
    sim.routers[0].set_mesh_weights(
        StaticWeights::from_json(
            &serde_json::json!([{"dst_zid": zid(3).to_string(), "weight": 1}]),
        )
        .expect("weights"),
    );
    sim.routers[2].set_mesh_weights(
        StaticWeights::from_json(
            &serde_json::json!([{"dst_zid": zid(1).to_string(), "weight": 1}]),
        )
        .expect("weights"),
    );
    sim.pump();
    assert_eq!(hops_of_a_publication(&mut sim, b"2"), [(0, 2)]);
    // Disabled again, the links keep no RTT weight: direct (100) against 100 + 100.
    sim.routers[0].set_mesh_weights(StaticWeights::default());
    sim.routers[2].set_mesh_weights(StaticWeights::default());
    for r in &sim.routers {
        r.set_mesh_rtt_weights(RttWeightConfig::default());
        assert!(!r.follows_rtt());
    }
    sim.pump();
    assert_eq!(hops_of_a_publication(&mut sim, b"3"), [(0, 2)]);
    assert_eq!(total(&got), 4);
}

#[test]
fn access_control_applies_to_what_another_router_declares() {
    // Router 0 may not declare subscribers on `deny/**` to router 1 (zid 2 names router 1's
    // face for router 0 by router 0's zid, 1).
    let config = crate::config::Config::from_json5(
        r#"{ access_control: { enabled: true, default_permission: "allow",
            rules: [{ id: "r", messages: ["declare_subscriber"], flows: ["ingress"],
                      permission: "deny", key_exprs: ["deny/**"] }],
            subjects: [{ id: "s", zids: ["1"] }],
            policies: [{ rules: ["r"], subjects: ["s"] }] } }"#,
    )
    .expect("the ACL parses");
    let policy = crate::acl::AclPolicy::compile(config.access_control())
        .expect("compiles")
        .expect("enabled");
    let acl = policy.face(&crate::acl::FaceFacts {
        zid: Some(zid(1)),
        link_protocols: vec!["tcp".into()],
        ..Default::default()
    });
    assert!(acl.is_some());
    let mut sim = Sim::new(2);
    sim.link_with_acl(1, 0, acl);
    sim.pump();
    let (_, denied) = counter(&sim.routers[0], "deny/x");
    let (_, allowed) = counter(&sim.routers[0], "ok/x");
    sim.pump();
    sim.log.clear();
    sim.publish(1, "deny/x", b"d");
    sim.publish(1, "ok/x", b"a");
    sim.pump();
    let hops: Vec<(usize, usize)> = sim.pushes().iter().map(|(f, t, _)| (*f, *t)).collect();
    assert_eq!(hops, [(1, 0)], "only ok/x crosses");
    assert_eq!((total(&denied), total(&allowed)), (0, 1));
}
