//! Tests of the router graph: replays of Zenoh 1.10.2 link states, and a simulated mesh
//! of [`Network`]s exchanging encoded link states, checked against a shortest-path oracle.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_transport::wire::WhatAmI;
use plexus_transport::wire::linkstate::{LinkState, LinkStateList};
use plexus_transport::wire::network::NetworkMessage;
use plexus_transport::wire::transport::{BatchItem, BatchReader};
use proptest::prelude::*;

use super::graph::{Changes, LinkId, Network};
use super::weight::{RttWeigher, RttWeightConfig, edge_weight};
use crate::ZenohId;

fn zid(s: &str) -> ZenohId {
    s.parse().unwrap()
}

fn unhex(s: &str) -> Bytes {
    let s: String = s.split_whitespace().collect();
    Bytes::from(
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect::<Vec<u8>>(),
    )
}

/// The link-state list in a captured batch (a FRAME holding one LINKSTATE OAM).
fn captured(batch_hex: &str) -> LinkStateList {
    let items = BatchReader::read_all(unhex(batch_hex)).expect("batch decodes");
    items
        .iter()
        .find_map(|i| match i {
            BatchItem::Network(NetworkMessage::Oam(o)) => {
                Some(LinkStateList::from_oam(o).expect("link state"))
            }
            _ => None,
        })
        .expect("a LINKSTATE OAM in the batch")
}

/// Without zids: Zenoh omits them where we always send them.
fn sans_zid(l: &LinkStateList) -> Vec<LinkState> {
    l.states
        .iter()
        .map(|s| LinkState {
            zid: None,
            ..s.clone()
        })
        .collect()
}

fn sent_on(ch: &Changes, link: LinkId) -> Vec<&LinkStateList> {
    ch.outgoing
        .iter()
        .filter(|o| o.link == link)
        .map(|o| &o.list)
        .collect()
}

// A chain of three Zenoh 1.10.2 routers a1 - b2 - c3 (b2 connected to a1 first, then c3
// to b2), recorded with `shared/tools/wire-proxy.py` on both links: what a1 and c3 sent
// to b2, and what b2 sent. Records (0-based lines) of `docs/mesh-captures/chain1-x1.jsonl`
// (b2 <-> a1): 4, 6, 11, 12, 14; of `chain1-x2.jsonl` (c3 <-> b2): 4, 5, 6, 50
// (`captures_match_the_files` checks them).
const A1_TO_B2_HELLO: &str = "a5a3c3c4603100df012108250207000201a10101137463702f3132372e302e302e313a3539363335010103010001b20100";
const A1_TO_B2_ECHO: &str =
    "a5a4c3c4603100df0121081e0107010201b20101137463702f3132372e302e302e313a33333936350100";
const B2_TO_A1_C3_JOINED: &str = "a5fffaec653100df012108240203020001c301000600030101137463702f3132372e302e302e313a3333393635020102";
const A1_TO_B2_C3_NEW: &str = "a5a6c3c4603100df012108080103020001c30100";
const A1_TO_B2_C3_STATE: &str = "a5a7c3c4603100df012108090103020201c3010101";
const B2_TO_C3_DUMP: &str = "a5a7c99f113100df012108430307000301b20101137463702f3132372e302e302e313a333339363502010207010201a10101137463702f3132372e302e302e313a3539363335010003020001c30100";
const C3_TO_B2_HELLO: &str = "a5dfb3d76a3100df012108250207000201c30101137463702f3132372e302e302e313a3430363737010103010001b20100";
const C3_TO_B2_ECHO: &str = "a5e0b3d76a3100df0121082f0307010301b20101137463702f3132372e302e302e313a333339363502020003020201a101010103020201a1010101";
const B2_TO_C3_A1_LOST: &str =
    "a5b8c99f113100df0121081c010600040101137463702f3132372e302e302e313a33333936350102";

#[test]
fn captures_match_the_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/mesh-captures");
    let record = |file: &str, line: usize| -> String {
        let text = std::fs::read_to_string(dir.join(file)).expect("capture file in the repo");
        let v: serde_json::Value =
            serde_json::from_str(text.lines().nth(line).expect("record")).expect("json");
        v["hex"].as_str().expect("hex").to_string()
    };
    for (file, line, hex) in [
        ("chain1-x1.jsonl", 4, A1_TO_B2_HELLO),
        ("chain1-x1.jsonl", 6, A1_TO_B2_ECHO),
        ("chain1-x1.jsonl", 11, B2_TO_A1_C3_JOINED),
        ("chain1-x1.jsonl", 12, A1_TO_B2_C3_NEW),
        ("chain1-x1.jsonl", 14, A1_TO_B2_C3_STATE),
        ("chain1-x2.jsonl", 4, B2_TO_C3_DUMP),
        ("chain1-x2.jsonl", 5, C3_TO_B2_HELLO),
        ("chain1-x2.jsonl", 6, C3_TO_B2_ECHO),
        ("chain1-x2.jsonl", 50, B2_TO_C3_A1_LOST),
    ] {
        assert_eq!(record(file, line), hex, "{file} record {line}");
    }
}

/// What Zenoh's b2 answered on `@/b2/router/linkstate/north` in that run.
const B2_DOT: &str = "graph {
    0 [ label = \"b2\" ]
    1 [ label = \"a1\" ]
    2 [ label = \"c3\" ]
    1 -- 0 [ label = \"100.52192227251872\" ]
    2 -- 0 [ label = \"100.22397104702516\" ]
}
";

#[test]
fn replaying_zenoh_link_states_rebuilds_zenohs_graph() {
    let (a1, b2, c3) = (zid("a1"), zid("b2"), zid("c3"));
    let mut net = Network::new(b2, vec!["tcp/127.0.0.1:33965".into()]);
    let ch = net.add_link(1, a1, WhatAmI::Router, 0);
    net.handle_link_states(1, &captured(A1_TO_B2_HELLO));
    net.handle_link_states(1, &captured(A1_TO_B2_ECHO));
    let ch_c3 = net.add_link(2, c3, WhatAmI::Router, 0);
    net.handle_link_states(2, &captured(C3_TO_B2_HELLO));
    net.handle_link_states(1, &captured(A1_TO_B2_C3_NEW));
    net.handle_link_states(2, &captured(C3_TO_B2_ECHO));
    net.handle_link_states(1, &captured(A1_TO_B2_C3_STATE));
    net.compute_trees();
    assert_eq!(net.dot(), B2_DOT);
    net.check_invariants().unwrap();

    // What we sent matches what Zenoh's b2 sent (we add zids Zenoh leaves out).
    assert_eq!(sent_on(&ch, 1).len(), 1);
    let got = sent_on(&ch_c3, 1);
    assert_eq!(got.len(), 1);
    assert_eq!(sans_zid(got[0]), sans_zid(&captured(B2_TO_A1_C3_JOINED)));
    let got = sent_on(&ch_c3, 2);
    assert_eq!(got.len(), 1);
    // Zenoh's dump to c3 was sent after a1 had described b2 back (sn 2 at a1): the
    // states match once both had that.
    let zenoh_dump = captured(B2_TO_C3_DUMP);
    assert_eq!(got[0].states.len(), zenoh_dump.states.len());
    assert_eq!(sans_zid(got[0]), sans_zid(&zenoh_dump));

    // Routes: from a1's tree, c3 is reached through us; from ours, each is a child.
    assert_eq!(net.next_hop(&a1, &c3), Some(c3));
    assert_eq!(net.children(&a1), vec![c3]);
    assert_eq!(net.children(&b2), vec![a1, c3]);
    assert_eq!(net.parent(&c3), Some(c3));

    // a1's link goes: c3 hears b2's new state, as Zenoh's b2 sent it.
    let ch = net.remove_link(1);
    assert_eq!(ch.removed, vec![a1]);
    let got = sent_on(&ch, 2);
    assert_eq!(got.len(), 1);
    assert_eq!(sans_zid(got[0]), sans_zid(&captured(B2_TO_C3_A1_LOST)));
    net.check_invariants().unwrap();
}

#[test]
fn node_ids_on_zenoh_declarations_resolve_to_routers() {
    // c3's view: b2's dump names a1 psid 1; b2 then forwarded a1's declarations to c3
    // with NodeId 1 and its own with NodeId 0 (absent).
    let (a1, b2, c3) = (zid("a1"), zid("b2"), zid("c3"));
    let mut net = Network::new(c3, vec![]);
    net.add_link(7, b2, WhatAmI::Router, 0);
    net.handle_link_states(7, &captured(B2_TO_C3_DUMP));
    assert_eq!(net.resolve_node_id(7, 1), Some(a1));
    assert_eq!(net.resolve_node_id(7, 0), Some(b2));
    assert_eq!(net.resolve_node_id(7, 2), Some(c3));
    assert_eq!(net.resolve_node_id(7, 9), None);
    assert_eq!(net.resolve_node_id(8, 0), None, "unknown link");
    net.compute_trees();
    assert_eq!(net.next_hop(&a1, &c3), None, "we are the destination");
    assert_eq!(net.parent(&a1), Some(b2));
}

#[test]
fn a_stale_copy_of_our_own_state_is_outnumbered_not_adopted() {
    // After a restart our sn starts at 1 again while a neighbour still holds sn 7.
    let (me, b) = (zid("a1"), zid("b2"));
    let mut net = Network::new(me, vec![]);
    net.add_link(1, b, WhatAmI::Router, 0);
    let stale = LinkStateList {
        states: vec![
            LinkState {
                psid: 0,
                sn: 5,
                zid: Some(b),
                whatami: Some(WhatAmI::Router),
                locators: None,
                links: vec![1],
                weights: None,
                gateway: false,
            },
            LinkState {
                psid: 1,
                sn: 7,
                zid: Some(me),
                whatami: Some(WhatAmI::Router),
                locators: None,
                links: vec![0, 9],
                weights: None,
                gateway: false,
            },
        ],
    };
    let ch = net.handle_link_states(1, &stale);
    assert_eq!(net.node(0).unwrap().sn, 8);
    assert_eq!(
        net.node(0).unwrap().links,
        vec![(b, 0)],
        "our links are ours"
    );
    let mine: Vec<&LinkState> = ch
        .outgoing
        .iter()
        .flat_map(|o| &o.list.states)
        .filter(|s| s.zid == Some(me))
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].sn, 8);
}

#[test]
fn bad_link_states_are_rejected_and_the_rest_applied() {
    let (me, b) = (zid("a1"), zid("b2"));
    let mut net = Network::new(me, vec![]).with_max_nodes(3);
    assert!(
        !net.handle_link_states(9, &LinkStateList::default())
            .rejected
            .is_empty()
    );
    net.add_link(1, b, WhatAmI::Router, 0);
    let st = |psid, zid: Option<ZenohId>, links: Vec<u16>| LinkState {
        psid,
        sn: 1,
        zid,
        whatami: None,
        locators: None,
        links,
        weights: None,
        gateway: false,
    };
    let list = LinkStateList {
        states: vec![
            st(0, Some(b), vec![1, 2, 3, 4]),
            st(1, Some(me), vec![]),
            st(2, Some(zid("c3")), vec![0]),
            st(3, Some(zid("d4")), vec![0]),
            st(4, None, vec![]),
            st(5, None, vec![0]),
        ],
    };
    let ch = net.handle_link_states(1, &list);
    let r = ch.rejected.join("\n");
    assert!(
        r.contains("unknown psid 4") && r.contains("unknown psid 5"),
        "{r}"
    );
    assert!(r.contains("bound of 3 nodes"), "{r}");
    assert_eq!(net.len(), 3);
    assert_eq!(
        net.node(1).unwrap().whatami,
        Some(WhatAmI::Router),
        "defaulted"
    );
    net.check_invariants().unwrap();
    // A link to ourselves is refused.
    assert!(!net.add_link(2, me, WhatAmI::Router, 0).rejected.is_empty());
}

mod sim;
mod weights;
