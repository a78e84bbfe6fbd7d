//! A simulated mesh of routers exchanging encoded link states, checked against a
//! shortest-path oracle (and by a property over random churn).

use super::*;

/// Routers that exchange encoded link states over simulated links, each link keeping
/// its order (as TCP does) while links interleave in a pseudo-random order.
pub(super) struct Mesh {
    pub(super) nets: BTreeMap<ZenohId, Network>,
    /// (a, b) with a < b → (link id at a, link id at b).
    wires: BTreeMap<(ZenohId, ZenohId), (LinkId, LinkId)>,
    /// Per receiving (router, link): bytes in flight.
    queues: BTreeMap<(ZenohId, LinkId), VecDeque<Bytes>>,
    /// Static weights: (from, to) → weight.
    weights: HashMap<(ZenohId, ZenohId), u16>,
    next_link: LinkId,
    rng: u64,
    removed: BTreeMap<ZenohId, Vec<ZenohId>>,
}

impl Mesh {
    pub(super) fn new(zids: &[ZenohId], seed: u64) -> Self {
        Mesh {
            nets: zids
                .iter()
                .map(|z| (*z, Network::new(*z, vec![])))
                .collect(),
            wires: BTreeMap::new(),
            queues: BTreeMap::new(),
            weights: HashMap::new(),
            next_link: 1,
            rng: seed | 1,
            removed: BTreeMap::new(),
        }
    }

    pub(super) fn key(a: ZenohId, b: ZenohId) -> (ZenohId, ZenohId) {
        if a < b { (a, b) } else { (b, a) }
    }

    pub(super) fn peer_link(&self, at: ZenohId, link: LinkId) -> Option<(ZenohId, LinkId)> {
        self.wires.iter().find_map(|((x, y), (lx, ly))| {
            if *x == at && *lx == link {
                Some((*y, *ly))
            } else if *y == at && *ly == link {
                Some((*x, *lx))
            } else {
                None
            }
        })
    }

    pub(super) fn apply(&mut self, at: ZenohId, ch: Changes) {
        assert!(ch.rejected.is_empty(), "{at}: {:?}", ch.rejected);
        self.removed.entry(at).or_default().extend(ch.removed);
        for o in ch.outgoing {
            if let Some((to, to_link)) = self.peer_link(at, o.link) {
                let mut buf = Vec::new();
                o.list.to_oam().write(&mut buf);
                self.queues
                    .entry((to, to_link))
                    .or_default()
                    .push_back(Bytes::from(buf));
            }
        }
    }

    pub(super) fn connect(&mut self, a: ZenohId, b: ZenohId) {
        let k = Self::key(a, b);
        if self.wires.contains_key(&k) {
            return;
        }
        let (la, lb) = (self.next_link, self.next_link + 1);
        self.next_link += 2;
        self.wires
            .insert(k, if k.0 == a { (la, lb) } else { (lb, la) });
        let wa = self.weights.get(&(a, b)).copied().unwrap_or(0);
        let ch = self
            .nets
            .get_mut(&a)
            .unwrap()
            .add_link(la, b, WhatAmI::Router, wa);
        self.apply(a, ch);
        let wb = self.weights.get(&(b, a)).copied().unwrap_or(0);
        let ch = self
            .nets
            .get_mut(&b)
            .unwrap()
            .add_link(lb, a, WhatAmI::Router, wb);
        self.apply(b, ch);
    }

    pub(super) fn disconnect(&mut self, a: ZenohId, b: ZenohId) {
        let k = Self::key(a, b);
        let Some((lx, ly)) = self.wires.remove(&k) else {
            return;
        };
        self.queues.remove(&(k.0, lx));
        self.queues.remove(&(k.1, ly));
        let ch = self.nets.get_mut(&k.0).unwrap().remove_link(lx);
        self.apply(k.0, ch);
        let ch = self.nets.get_mut(&k.1).unwrap().remove_link(ly);
        self.apply(k.1, ch);
    }

    pub(super) fn set_weight(&mut self, from: ZenohId, to: ZenohId, w: u16) {
        self.weights.insert((from, to), w);
        let ch = self.nets.get_mut(&from).unwrap().set_link_weight(&to, w);
        self.apply(from, ch);
    }

    pub(super) fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Delivers everything in flight (and what it causes); panics if it never settles.
    pub(super) fn settle(&mut self) -> usize {
        let mut delivered = 0;
        loop {
            let ready: Vec<(ZenohId, LinkId)> = self
                .queues
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .map(|(k, _)| *k)
                .collect();
            if ready.is_empty() {
                break;
            }
            let pick = ready[(self.rand() % ready.len() as u64) as usize];
            let bytes = self.queues.get_mut(&pick).unwrap().pop_front().unwrap();
            let mut r = plexus_transport::wire::Reader::new(bytes);
            let NetworkMessage::Oam(oam) = NetworkMessage::read(&mut r).expect("decodes") else {
                panic!("not an OAM")
            };
            let list = LinkStateList::from_oam(&oam).expect("link state");
            let ch = self
                .nets
                .get_mut(&pick.0)
                .unwrap()
                .handle_link_states(pick.1, &list);
            self.apply(pick.0, ch);
            delivered += 1;
            assert!(delivered < 100_000, "link states never settle");
        }
        for n in self.nets.values_mut() {
            n.compute_trees();
        }
        delivered
    }

    /// The routers `from` can reach over live wires.
    pub(super) fn component(&self, from: ZenohId) -> BTreeSet<ZenohId> {
        let mut seen = BTreeSet::from([from]);
        let mut stack = vec![from];
        while let Some(x) = stack.pop() {
            for (a, b) in self.wires.keys() {
                let other = if *a == x {
                    *b
                } else if *b == x {
                    *a
                } else {
                    continue;
                };
                if seen.insert(other) {
                    stack.push(other);
                }
            }
        }
        seen
    }

    /// The true edge weight between neighbours.
    pub(super) fn true_weight(&self, a: ZenohId, b: ZenohId) -> f64 {
        let wa = self.weights.get(&(a, b)).copied().unwrap_or(0);
        let wb = self.weights.get(&(b, a)).copied().unwrap_or(0);
        edge_weight(&a, wa, &b, wb)
    }

    /// Shortest distances from `root` over the live wires (Bellman-Ford oracle).
    pub(super) fn oracle(&self, root: ZenohId) -> BTreeMap<ZenohId, f64> {
        let mut d: BTreeMap<ZenohId, f64> = self.nets.keys().map(|z| (*z, f64::INFINITY)).collect();
        d.insert(root, 0.0);
        for _ in 0..self.nets.len() {
            for (a, b) in self.wires.keys() {
                let w = self.true_weight(*a, *b);
                let (da, db) = (d[a], d[b]);
                if da + w < db {
                    d.insert(*b, da + w);
                }
                if db + w < da {
                    d.insert(*a, db + w);
                }
            }
        }
        d
    }

    /// Checks that every router agrees with the truth and that trees route correctly.
    pub(super) fn check(&self) -> Result<(), String> {
        for (z, net) in &self.nets {
            net.check_invariants().map_err(|e| format!("{z}: {e}"))?;
            let comp = self.component(*z);
            let known: BTreeSet<ZenohId> = net.nodes().map(|(_, n)| n.zid).collect();
            if known != comp {
                return Err(format!("{z} knows {known:?}, reachable are {comp:?}"));
            }
            let mut edges: Vec<(ZenohId, ZenohId, f64)> = net
                .edges()
                .map(|(a, b, w)| {
                    let (a, b) = Self::key(a, b);
                    (a, b, w)
                })
                .collect();
            edges.sort_by_key(|x| (x.0, x.1));
            let mut truth: Vec<(ZenohId, ZenohId, f64)> = self
                .wires
                .keys()
                .filter(|(a, _)| comp.contains(a))
                .map(|(a, b)| (*a, *b, self.true_weight(*a, *b)))
                .collect();
            truth.sort_by_key(|x| (x.0, x.1));
            if edges != truth {
                return Err(format!("{z} has edges {edges:?}, truth {truth:?}"));
            }
        }
        for root in self.nets.keys() {
            let comp = self.component(*root);
            let d = self.oracle(*root);
            for x in &comp {
                let net = &self.nets[x];
                let parent = net.parent(root);
                if x == root {
                    if parent.is_some() {
                        return Err(format!("root {root} has a parent"));
                    }
                    continue;
                }
                let Some(p) = parent else {
                    return Err(format!("{x} has no parent in {root}'s tree"));
                };
                if !self.wires.contains_key(&Self::key(*x, p)) {
                    return Err(format!("{x}'s parent {p} in {root}'s tree is no neighbour"));
                }
                // Shortest: the parent is on a shortest path.
                let via = d[&p] + self.true_weight(p, *x);
                if (via - d[x]).abs() > 1e-9 * d[x].max(1.0) {
                    return Err(format!(
                        "{x} in {root}'s tree: via {p} costs {via}, best {}",
                        d[x]
                    ));
                }
                // Children and parents agree across routers.
                if !self.nets[&p].children(root).contains(x) {
                    return Err(format!("{p} does not list {x} as child in {root}'s tree"));
                }
            }
            // Flooding a declaration down the tree reaches everyone exactly once.
            let mut got: BTreeMap<ZenohId, usize> = BTreeMap::new();
            let mut queue = VecDeque::from([(*root, None::<ZenohId>)]);
            while let Some((x, from)) = queue.pop_front() {
                *got.entry(x).or_default() += 1;
                if got[&x] > 1 {
                    return Err(format!("{x} got {root}'s declaration twice"));
                }
                for c in self.nets[&x].children(root) {
                    if Some(c) != from {
                        queue.push_back((c, Some(x)));
                    }
                }
            }
            let reached: BTreeSet<ZenohId> = got.keys().copied().collect();
            if reached != comp {
                return Err(format!(
                    "{root}'s declarations reached {reached:?} of {comp:?}"
                ));
            }
        }
        Ok(())
    }

    /// Sends data entering at `src` to the subscriber routers `subs` hop by hop, each
    /// router using its own next hops on `src`'s tree (never back where it came from);
    /// returns how often each router received it.
    pub(super) fn forward(
        &self,
        src: ZenohId,
        subs: &BTreeSet<ZenohId>,
    ) -> BTreeMap<ZenohId, usize> {
        let mut got: BTreeMap<ZenohId, usize> = BTreeMap::new();
        let mut queue = VecDeque::from([(src, None::<ZenohId>)]);
        while let Some((x, from)) = queue.pop_front() {
            *got.entry(x).or_default() += 1;
            if got[&x] > 1 || got.values().sum::<usize>() > 4 * self.nets.len() {
                break;
            }
            let mut hops = BTreeSet::new();
            for d in subs {
                if *d != x
                    && let Some(h) = self.nets[&x].next_hop(&src, d)
                    && Some(h) != from
                {
                    hops.insert(h);
                }
            }
            for h in hops {
                queue.push_back((h, Some(x)));
            }
        }
        got
    }
}

pub(super) fn ids(n: usize) -> Vec<ZenohId> {
    // Mixed widths so Zenoh's byte order differs from the numeric one.
    (0..n)
        .map(|i| {
            ZenohId::new(0xa1 + (i as u128) * 0x0101 + if i % 2 == 1 { 1 << 72 } else { 0 })
                .unwrap()
        })
        .collect()
}

#[test]
fn square_mesh_routes_and_fails_over() {
    let z = ids(4);
    let (a, b, c, d) = (z[0], z[1], z[2], z[3]);
    let mut m = Mesh::new(&z, 7);
    // a's link to c is expensive, so a reaches d through b.
    m.weights.insert((a, c), 300);
    for (x, y) in [(a, b), (b, d), (a, c), (c, d)] {
        m.connect(x, y);
    }
    m.settle();
    m.check().unwrap();
    assert_eq!(m.nets[&a].next_hop(&a, &d), Some(b));
    let subs = BTreeSet::from([d, c]);
    let got = m.forward(a, &subs);
    assert_eq!(got.get(&d), Some(&1));
    assert_eq!(got.get(&c), Some(&1));
    assert_eq!(m.nets[&a].dot().matches(" -- ").count(), 4);

    // b goes: its neighbours see the links drop and a's traffic moves to c.
    m.disconnect(a, b);
    m.disconnect(b, d);
    m.settle();
    m.check().unwrap();
    assert!(m.removed[&a].contains(&b));
    assert_eq!(m.nets[&a].next_hop(&a, &d), Some(c));
    assert_eq!(m.forward(a, &subs).get(&d), Some(&1));
    assert!(m.nets[&a].slot(&b).is_none());

    // b comes back fresh (sn from 1 again): everyone converges.
    m.nets.insert(b, Network::new(b, vec![]));
    m.connect(a, b);
    m.connect(b, d);
    m.settle();
    m.check().unwrap();
    assert_eq!(m.nets[&a].next_hop(&a, &d), Some(b));
}

#[test]
fn admin_json_has_nodes_links_weights_and_our_rtts() {
    let z = ids(3);
    let mut m = Mesh::new(&z, 5);
    m.weights.insert((z[0], z[1]), 250);
    m.connect(z[0], z[1]);
    m.connect(z[1], z[2]);
    m.settle();
    let rtt = |n: &ZenohId| (*n == z[1]).then_some(Duration::from_micros(1234));
    let j = m.nets[&z[0]].to_json(rtt);
    assert_eq!(j["zid"], z[0].to_string());
    assert_eq!(j["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(j["nodes"][0]["psid"], 0);
    assert_eq!(j["nodes"][0]["whatami"], "router");
    let links = j["links"].as_array().unwrap();
    assert_eq!(links.len(), 2);
    let ours = links
        .iter()
        .find(|l| l["rtt_us"] == 1234)
        .expect("our link to z[1] has its RTT");
    let ends = [ours["src"].as_str().unwrap(), ours["dst"].as_str().unwrap()];
    assert!(ends.contains(&z[0].to_string().as_str()) && ends.contains(&z[1].to_string().as_str()));
    let mine_is_src = ours["src"] == z[0].to_string();
    let my_weight = if mine_is_src {
        &ours["src_weight"]
    } else {
        &ours["dst_weight"]
    };
    assert_eq!(my_weight, 250);
    assert_eq!(ours["weight"], edge_weight(&z[0], 250, &z[1], 0));
    let far = links
        .iter()
        .find(|l| l["rtt_us"].is_null())
        .expect("the far link");
    assert!(far["src_weight"].is_null() && far["dst_weight"].is_null());
}

#[test]
fn tree_changes_report_new_children() {
    let z = ids(3);
    let mut m = Mesh::new(&z, 3);
    m.connect(z[0], z[1]);
    m.settle();
    m.connect(z[1], z[2]);
    m.settle();
    // Recompute on a fresh change to see the diff: z[2] joins z[1] and z[0]'s trees.
    let mut net = Network::new(z[1], vec![]);
    net.add_link(1, z[0], WhatAmI::Router, 0);
    let first = net.compute_trees();
    assert!(
        first.new_children.is_empty(),
        "no mutual link yet: {first:?}"
    );
    let hello = LinkStateList {
        states: vec![
            LinkState {
                psid: 0,
                sn: 2,
                zid: Some(z[0]),
                whatami: Some(WhatAmI::Router),
                locators: None,
                links: vec![1],
                weights: None,
                gateway: false,
            },
            LinkState {
                psid: 1,
                sn: 0,
                zid: Some(z[1]),
                whatami: Some(WhatAmI::Router),
                locators: None,
                links: vec![],
                weights: None,
                gateway: false,
            },
        ],
    };
    net.handle_link_states(1, &hello);
    let ch = net.compute_trees();
    assert_eq!(ch.new_children, vec![(z[1], vec![z[0]])]);
    assert!(
        net.compute_trees().new_children.is_empty(),
        "nothing new the second time"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Connect(usize, usize),
    Disconnect(usize, usize),
    Weight(usize, usize, u16),
    Restart(usize, usize),
}

fn arb_op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..n, 0..n).prop_map(|(a, b)| Op::Connect(a, b)),
        2 => (0..n, 0..n).prop_map(|(a, b)| Op::Disconnect(a, b)),
        1 => (0..n, 0..n, 0u16..400).prop_map(|(a, b, w)| Op::Weight(a, b, w)),
        1 => (0..n, 0..n).prop_map(|(a, b)| Op::Restart(a, b)),
    ]
}

/// Applies `ops` to a mesh of `n` routers, then checks that every router's graph equals
/// the truth, that trees are spanning, loop-free and shortest, and that data entering at
/// any router reaches each subscriber router (`subs_mask`) exactly once.
fn churn(n: usize, seed: u64, ops: &[Op], subs_mask: u8) -> Result<(), String> {
    let z = ids(n);
    let mut m = Mesh::new(&z, seed);
    for op in ops {
        match *op {
            Op::Connect(a, b) if a % n != b % n => m.connect(z[a % n], z[b % n]),
            Op::Disconnect(a, b) => m.disconnect(z[a % n], z[b % n]),
            Op::Weight(a, b, w) if a % n != b % n => m.set_weight(z[a % n], z[b % n], w),
            Op::Restart(a, b) => {
                // x restarts (sn from 1 again) and comes back linked to its old peers but
                // the first, plus z[b]: its new link list differs from the old one.
                let x = z[a % n];
                let peers: Vec<ZenohId> = m
                    .component(x)
                    .into_iter()
                    .filter(|y| m.wires.contains_key(&Mesh::key(x, *y)))
                    .collect();
                for p in &peers {
                    m.disconnect(x, *p);
                }
                // Half the time x is back before the news of its departure spread:
                // routers further away still hold its old state, with a larger sn.
                if seed.is_multiple_of(2) {
                    m.settle();
                }
                m.nets.insert(x, Network::new(x, vec![]));
                m.weights.retain(|(f, _), _| *f != x);
                for p in peers.into_iter().skip(1).chain([z[b % n]]) {
                    if p != x {
                        m.connect(x, p);
                    }
                }
            }
            _ => {}
        }
        // Sometimes let two changes overlap before settling.
        if !seed.is_multiple_of(3) {
            m.settle();
        }
    }
    m.settle();
    m.check()?;
    for src in &z {
        let comp = m.component(*src);
        let subs: BTreeSet<ZenohId> = z
            .iter()
            .enumerate()
            .filter(|(i, y)| subs_mask & (1 << i) != 0 && comp.contains(*y))
            .map(|(_, y)| *y)
            .collect();
        let got = m.forward(*src, &subs);
        if let Some((x, k)) = got.iter().find(|(_, k)| **k != 1) {
            return Err(format!("{x} received data from {src} {k} times"));
        }
        if let Some(s) = subs.iter().find(|s| !got.contains_key(s)) {
            return Err(format!("{s} never got data from {src}"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random churn: links up and down, weights, restarts with a fresh sn.
    #[test]
    fn churn_keeps_routes_right(
        n in 2usize..7,
        seed in any::<u64>(),
        ops in prop::collection::vec(arb_op(7), 1..40),
        subs_mask in any::<u8>(),
    ) {
        churn(n, seed, &ops, subs_mask).map_err(TestCaseError::fail)?;
    }
}

/// A case the property found: a router restarts while routers two hops away still hold
/// its old state with a larger sn; it only converges because old states are answered
/// with newer ones and the restarted router outnumbers its own old state.
#[test]
fn restart_before_the_news_spread_converges() {
    use Op::*;
    let ops = [
        Restart(2, 4),
        Connect(4, 3),
        Connect(2, 3),
        Connect(0, 5),
        Restart(4, 3),
        Restart(3, 1),
    ];
    churn(4, 12814972354626878789, &ops, 0).unwrap();
}
