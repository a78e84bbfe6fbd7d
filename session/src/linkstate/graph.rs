//! The router graph as this router knows it, built from link states (sans-IO).
//!
//! Calling order: [`Network::add_link`] when a transport to a router opens,
//! [`Network::handle_link_states`] for each LINKSTATE OAM it sends,
//! [`Network::remove_link`] when it closes, [`Network::set_link_weight`] when a link's
//! weight changes (static config or RTT). Each returns the link-state lists to send
//! ([`Outgoing`]) and the routers that left the graph; after any of them, call
//! [`Network::compute_trees`] (Zenoh waits 100 ms to batch changes) and read routes with
//! [`Network::tree`], [`Network::next_hop`], [`Network::children`].
//!
//! Behaviour follows Zenoh 1.10.2's router network (`zenoh/src/net/protocol/network.rs`
//! with `full_linkstate`, gossip on, single-hop locators); the differences are listed in
//! `docs/mesh.md` (zids always sent, our own state defended against stale copies,
//! bounded node count).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use plexus_transport::wire::WhatAmI;
use plexus_transport::wire::linkstate::{LinkState, LinkStateList};

use crate::ZenohId;

use super::tree::{Slot, Tree, compute_trees};
use super::weight::edge_weight;

/// The routing layer's id for a transport to a neighbouring router.
pub type LinkId = u64;

/// The default bound on the number of nodes a graph holds.
pub const DEFAULT_MAX_NODES: usize = 1024;

/// One router of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Its zid.
    pub zid: ZenohId,
    /// What it is (Zenoh assumes router when a state omits it).
    pub whatami: Option<WhatAmI>,
    /// Its locators, as last gossiped.
    pub locators: Option<Vec<String>>,
    /// The sequence number of the state we hold (0: only heard of, never described).
    pub sn: u64,
    /// Its neighbours and the weight it announces for each (0 = unset).
    pub links: Vec<(ZenohId, u16)>,
    /// Whether it is a region gateway.
    pub gateway: bool,
}

impl Node {
    fn new(zid: ZenohId, whatami: Option<WhatAmI>) -> Self {
        Node {
            zid,
            whatami,
            locators: None,
            sn: 0,
            links: Vec::new(),
            gateway: false,
        }
    }

    fn weight_to(&self, zid: &ZenohId) -> Option<u16> {
        self.links.iter().find(|(z, _)| z == zid).map(|(_, w)| *w)
    }
}

/// A link-state list to send on one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The link to send it on.
    pub link: LinkId,
    /// What to send (wrap with [`LinkStateList::to_oam`]).
    pub list: LinkStateList,
}

/// What a call changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Link states to send.
    pub outgoing: Vec<Outgoing>,
    /// Routers that left the graph: drop what they declared.
    pub removed: Vec<ZenohId>,
    /// The graph changed: trees must be recomputed.
    pub changed: bool,
    /// Link states that could not be used (unknown psid, bad self-loop, over the node
    /// bound), with the reason; the rest of the list was applied.
    pub rejected: Vec<String>,
}

/// After a tree computation: the children each root's tree gained, to whom the routing
/// layer sends the declarations that root sourced (Zenoh's `new_children`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeChanges {
    /// `(root, new children)` for every tree with new children.
    pub new_children: Vec<(ZenohId, Vec<ZenohId>)>,
}

#[derive(Debug, Clone)]
struct Link {
    zid: ZenohId,
    whatami: WhatAmI,
    /// The remote's psids → zids, learned from states carrying a zid.
    psids: HashMap<u16, ZenohId>,
}

/// An edge between two slots, oriented as first created (for Zenoh-like DOT output).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Edge {
    a: Slot,
    b: Slot,
    weight: f64,
}

/// What to put in a state we send.
#[derive(Clone, Copy)]
struct Details {
    links: bool,
}

/// The router graph (Zenoh's "[Routers Network]").
#[derive(Debug, Clone)]
pub struct Network {
    me: ZenohId,
    my_locators: Vec<String>,
    max_nodes: usize,
    /// Nodes by slot; slot 0 is this router. Freed slots are reused last-freed first,
    /// as petgraph's `StableGraph` does.
    nodes: Vec<Option<Node>>,
    free_nodes: Vec<Slot>,
    by_zid: HashMap<ZenohId, Slot>,
    edges: Vec<Option<Edge>>,
    free_edges: Vec<usize>,
    links: HashMap<LinkId, Link>,
    trees: Vec<Tree>,
    /// The zid in each slot at the last computation (tree roots and hops).
    tree_roots: Vec<Option<ZenohId>>,
    /// Each tree's children by zid at the last computation.
    tree_children: Vec<Vec<ZenohId>>,
    distances: Vec<f64>,
}

impl Network {
    /// A graph holding only this router (`me`), which announces `locators`.
    pub fn new(me: ZenohId, locators: Vec<String>) -> Self {
        let mut n = Network {
            me,
            my_locators: locators,
            max_nodes: DEFAULT_MAX_NODES,
            nodes: vec![Some(Node {
                zid: me,
                whatami: Some(WhatAmI::Router),
                locators: None,
                sn: 1,
                links: Vec::new(),
                gateway: false,
            })],
            free_nodes: Vec::new(),
            by_zid: HashMap::from([(me, 0)]),
            edges: Vec::new(),
            free_edges: Vec::new(),
            links: HashMap::new(),
            trees: Vec::new(),
            tree_roots: Vec::new(),
            tree_children: Vec::new(),
            distances: Vec::new(),
        };
        n.compute_trees();
        n
    }

    /// Bounds the number of nodes (at least 2); states about further nodes are rejected.
    pub fn with_max_nodes(mut self, max: usize) -> Self {
        self.max_nodes = max.clamp(2, u16::MAX as usize + 1);
        self
    }

    /// This router's zid.
    pub fn me(&self) -> ZenohId {
        self.me
    }

    /// Sets the locators this router announces (sent with its next state).
    pub fn set_locators(&mut self, locators: Vec<String>) {
        self.my_locators = locators;
    }

    /// The node in `slot`.
    pub fn node(&self, slot: Slot) -> Option<&Node> {
        self.nodes.get(slot as usize).and_then(Option::as_ref)
    }

    /// The slot (our psid, and the NodeId we put on messages of that root's tree) of `zid`.
    pub fn slot(&self, zid: &ZenohId) -> Option<Slot> {
        self.by_zid.get(zid).copied()
    }

    /// Every node with its slot, in slot order.
    pub fn nodes(&self) -> impl Iterator<Item = (Slot, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i as Slot, n)))
    }

    /// Number of nodes, this router included.
    pub fn len(&self) -> usize {
        self.by_zid.len()
    }

    /// True when only this router is known (never: it always holds itself).
    pub fn is_empty(&self) -> bool {
        self.by_zid.is_empty()
    }

    /// Confirmed edges (both ends list each other) as `(zid, zid, weight)`.
    pub fn edges(&self) -> impl Iterator<Item = (ZenohId, ZenohId, f64)> + '_ {
        self.edges
            .iter()
            .flatten()
            .filter_map(|e| Some((self.node(e.a)?.zid, self.node(e.b)?.zid, e.weight)))
    }

    /// The router on the other end of `link`.
    pub fn link_zid(&self, link: LinkId) -> Option<ZenohId> {
        self.links.get(&link).map(|l| l.zid)
    }

    /// The link to the neighbour `zid`.
    pub fn link_to(&self, zid: &ZenohId) -> Option<LinkId> {
        self.links
            .iter()
            .find(|(_, l)| l.zid == *zid)
            .map(|(id, _)| *id)
    }

    fn alloc_node(&mut self, node: Node) -> Option<Slot> {
        if self.by_zid.len() >= self.max_nodes {
            return None;
        }
        let zid = node.zid;
        let slot = match self.free_nodes.pop() {
            Some(s) => {
                self.nodes[s as usize] = Some(node);
                s
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as Slot
            }
        };
        self.by_zid.insert(zid, slot);
        Some(slot)
    }

    fn free_node(&mut self, slot: Slot) -> Option<ZenohId> {
        let node = self.nodes.get_mut(slot as usize)?.take()?;
        self.by_zid.remove(&node.zid);
        for i in 0..self.edges.len() {
            if self.edges[i].is_some_and(|e| e.a == slot || e.b == slot) {
                self.edges[i] = None;
                self.free_edges.push(i);
            }
        }
        self.free_nodes.push(slot);
        Some(node.zid)
    }

    fn find_edge(&self, a: Slot, b: Slot) -> Option<usize> {
        self.edges
            .iter()
            .position(|e| e.is_some_and(|e| (e.a == a && e.b == b) || (e.a == b && e.b == a)))
    }

    /// Makes the edges of `slot` match the mutual listings (Zenoh's `update_edge` and
    /// edge removal for one node's new state).
    fn sync_edges(&mut self, slot: Slot) {
        let Some(node) = self.node(slot).cloned() else {
            return;
        };
        for (dest, w) in &node.links {
            let Some(d) = self.slot(dest) else { continue };
            let Some(back) = self.node(d).and_then(|n| n.weight_to(&node.zid)) else {
                continue;
            };
            let weight = edge_weight(&node.zid, *w, dest, back);
            match self.find_edge(slot, d) {
                Some(i) => {
                    if let Some(e) = self.edges[i].as_mut() {
                        e.weight = weight;
                    }
                }
                None => {
                    let e = Some(Edge {
                        a: slot,
                        b: d,
                        weight,
                    });
                    match self.free_edges.pop() {
                        Some(i) => self.edges[i] = e,
                        None => self.edges.push(e),
                    }
                }
            }
        }
        for i in 0..self.edges.len() {
            let Some(e) = self.edges[i] else { continue };
            let other = if e.a == slot {
                e.b
            } else if e.b == slot {
                e.a
            } else {
                continue;
            };
            let keep = self
                .node(other)
                .is_some_and(|o| node.weight_to(&o.zid).is_some());
            if !keep {
                self.edges[i] = None;
                self.free_edges.push(i);
            }
        }
    }

    /// Removes the nodes this router cannot reach by following announced links (Zenoh's
    /// `remove_detached_nodes`, which walks link lists, not confirmed edges).
    fn remove_detached(&mut self) -> Vec<ZenohId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![0 as Slot];
        while let Some(s) = stack.pop() {
            if std::mem::replace(&mut seen[s as usize], true) {
                continue;
            }
            if let Some(n) = self.node(s) {
                for (z, _) in &n.links {
                    if let Some(t) = self.slot(z)
                        && !seen[t as usize]
                    {
                        stack.push(t);
                    }
                }
            }
        }
        let gone: Vec<Slot> = self
            .nodes()
            .filter(|(s, _)| !seen[*s as usize])
            .map(|(s, _)| s)
            .collect();
        gone.into_iter().filter_map(|s| self.free_node(s)).collect()
    }

    fn neighbour(&self, zid: &ZenohId) -> bool {
        self.links.values().any(|l| l.zid == *zid)
    }

    /// Our state for `slot` as sent on the wire (zids are always included: a receiver
    /// learns or refreshes our psid with each state).
    fn make_state(&self, slot: Slot, d: Details) -> Option<LinkState> {
        let n = self.node(slot)?;
        let mut links = Vec::new();
        let mut weights = Vec::new();
        if d.links {
            for (z, w) in &n.links {
                if let Some(s) = self.slot(z) {
                    links.push(s);
                    weights.push(*w);
                }
            }
        }
        let any_weight = weights.iter().any(|w| *w != 0);
        // Gossip with single-hop locators (Zenoh's router defaults): our own and our
        // neighbours' locators.
        let locators = if slot == 0 {
            Some(self.my_locators.clone())
        } else if self.neighbour(&n.zid) {
            n.locators.clone()
        } else {
            None
        };
        Some(LinkState {
            psid: slot,
            sn: n.sn,
            zid: Some(n.zid),
            whatami: n.whatami,
            locators,
            links,
            weights: any_weight.then_some(weights),
            gateway: n.gateway,
        })
    }

    fn list(&self, slots: &[(Slot, Details)]) -> LinkStateList {
        LinkStateList {
            states: slots
                .iter()
                .filter_map(|(s, d)| self.make_state(*s, *d))
                .collect(),
        }
    }

    fn sorted_links(&self) -> Vec<LinkId> {
        let mut ids: Vec<LinkId> = self.links.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Sends our own state (links included) on every link.
    fn announce_self(&self, out: &mut Vec<Outgoing>) {
        for id in self.sorted_links() {
            out.push(Outgoing {
                link: id,
                list: self.list(&[(0, Details { links: true })]),
            });
        }
    }

    /// A transport to the router `zid` opened as `link`; `weight` is our weight for it
    /// (static or RTT-derived; 0 = unset). Returns our whole graph for the new link and
    /// the news for the others.
    pub fn add_link(
        &mut self,
        link: LinkId,
        zid: ZenohId,
        whatami: WhatAmI,
        weight: u16,
    ) -> Changes {
        let mut ch = Changes {
            changed: true,
            ..Changes::default()
        };
        if zid == self.me {
            ch.rejected
                .push(format!("link {link} leads to ourselves ({zid})"));
            ch.changed = false;
            return ch;
        }
        self.links.insert(
            link,
            Link {
                zid,
                whatami,
                psids: HashMap::new(),
            },
        );
        let (slot, new) = match self.slot(&zid) {
            Some(s) => (s, false),
            None => match self.alloc_node(Node::new(zid, Some(whatami))) {
                Some(s) => (s, true),
                None => {
                    ch.rejected.push(format!(
                        "router {zid} over the bound of {} nodes",
                        self.max_nodes
                    ));
                    self.links.remove(&link);
                    ch.changed = false;
                    return ch;
                }
            },
        };
        let me = self.nodes[0].as_mut().expect("slot 0 holds this router");
        me.links.retain(|(z, _)| *z != zid);
        me.links.push((zid, weight));
        me.sn += 1;
        self.sync_edges(0);
        for id in self.sorted_links() {
            if id == link {
                continue;
            }
            let slots: Vec<(Slot, Details)> = if new {
                vec![
                    (slot, Details { links: false }),
                    (0, Details { links: true }),
                ]
            } else {
                vec![(0, Details { links: true })]
            };
            ch.outgoing.push(Outgoing {
                link: id,
                list: self.list(&slots),
            });
        }
        let all: Vec<(Slot, Details)> = self
            .nodes()
            .map(|(s, _)| (s, Details { links: true }))
            .collect();
        ch.outgoing.push(Outgoing {
            link,
            list: self.list(&all),
        });
        ch
    }

    /// The transport `link` closed. Returns the routers that left the graph with it and
    /// our new state for the remaining links.
    pub fn remove_link(&mut self, link: LinkId) -> Changes {
        let mut ch = Changes::default();
        let Some(l) = self.links.remove(&link) else {
            return ch;
        };
        ch.changed = true;
        // Another transport to the same router keeps the link up.
        if self.neighbour(&l.zid) {
            return ch;
        }
        let me = self.nodes[0].as_mut().expect("slot 0 holds this router");
        me.links.retain(|(z, _)| *z != l.zid);
        me.sn += 1;
        self.sync_edges(0);
        ch.removed = self.remove_detached();
        self.announce_self(&mut ch.outgoing);
        ch
    }

    /// Changes our weight for the link to the neighbour `zid` (0 = unset). Returns our new
    /// state for every link, or nothing when the weight did not change.
    pub fn set_link_weight(&mut self, zid: &ZenohId, weight: u16) -> Changes {
        let mut ch = Changes::default();
        let me = self.nodes[0].as_mut().expect("slot 0 holds this router");
        let Some(entry) = me.links.iter_mut().find(|(z, _)| z == zid) else {
            return ch;
        };
        if entry.1 == weight {
            return ch;
        }
        entry.1 = weight;
        me.sn += 1;
        self.sync_edges(0);
        ch.changed = true;
        self.announce_self(&mut ch.outgoing);
        ch
    }

    /// Applies a LINKSTATE list received on `link`.
    pub fn handle_link_states(&mut self, link: LinkId, list: &LinkStateList) -> Changes {
        let mut ch = Changes::default();
        let Some(l) = self.links.get_mut(&link) else {
            ch.rejected
                .push(format!("link states on unknown link {link}"));
            return ch;
        };
        // Learn the psid → zid mappings first: links may name nodes described later in
        // the same list.
        for s in &list.states {
            if let Some(z) = s.zid {
                if l.psids.len() >= self.max_nodes && !l.psids.contains_key(&s.psid) {
                    continue;
                }
                l.psids.insert(s.psid, z);
            }
        }
        let l = &self.links[&link];
        let src = l.zid;
        let mut local = Vec::with_capacity(list.states.len());
        for s in &list.states {
            let Some(zid) = s.zid.or_else(|| l.psids.get(&s.psid).copied()) else {
                ch.rejected
                    .push(format!("state for unknown psid {} from {src}", s.psid));
                continue;
            };
            let mut links = Vec::with_capacity(s.links.len());
            let mut seen = HashSet::with_capacity(s.links.len());
            for (i, p) in s.links.iter().enumerate() {
                match l.psids.get(p) {
                    // Self-links and repeated links are dropped.
                    Some(z) if *z != zid && seen.insert(*z) => links.push((*z, s.raw_weight(i))),
                    Some(_) => {}
                    None => ch.rejected.push(format!(
                        "state of {zid} from {src} links to unknown psid {p}"
                    )),
                }
            }
            local.push((zid, s, links));
        }

        let mut new_nodes: Vec<Slot> = Vec::new();
        let mut updated: Vec<Slot> = Vec::new();
        let mut defend = false;
        // Nodes the sender holds an older state of than we do: we answer with ours, so an
        // old state travels back towards the node that restarted (which then outnumbers
        // it) instead of the new one being ignored for good (beyond Zenoh).
        let mut newer_here: Vec<Slot> = Vec::new();
        for (zid, s, links) in local {
            if zid == self.me {
                // A copy of our own state, maybe from before we restarted: never let it
                // replace ours, but make ours newer than it (beyond Zenoh, which adopts it).
                // Zenoh echoes our state back with our sn: equal sn and equal links are fine.
                let me = self.nodes[0].as_mut().expect("slot 0 holds this router");
                let same =
                    links.len() == me.links.len() && links.iter().all(|l| me.links.contains(l));
                if s.sn > me.sn || (s.sn == me.sn && !same) {
                    me.sn = s.sn + 1;
                    defend = true;
                }
                continue;
            }
            let slot = match self.slot(&zid) {
                Some(slot) => {
                    let node = self.nodes[slot as usize].as_mut().expect("slot in by_zid");
                    if s.sn < node.sn && zid != src {
                        newer_here.push(slot);
                    }
                    if s.sn <= node.sn {
                        continue;
                    }
                    let was_new = node.sn == 0;
                    node.sn = s.sn;
                    node.whatami = Some(s.whatami.unwrap_or(WhatAmI::Router));
                    if s.locators.is_some() {
                        node.locators.clone_from(&s.locators);
                    }
                    node.links = links.clone();
                    node.gateway = s.gateway;
                    if was_new {
                        new_nodes.push(slot);
                    } else {
                        updated.push(slot);
                    }
                    slot
                }
                None => {
                    let node = Node {
                        zid,
                        whatami: Some(s.whatami.unwrap_or(WhatAmI::Router)),
                        locators: s.locators.clone(),
                        sn: s.sn,
                        links: links.clone(),
                        gateway: s.gateway,
                    };
                    match self.alloc_node(node) {
                        Some(slot) => {
                            new_nodes.push(slot);
                            slot
                        }
                        None => {
                            ch.rejected.push(format!(
                                "router {zid} over the bound of {} nodes",
                                self.max_nodes
                            ));
                            continue;
                        }
                    }
                }
            };
            ch.changed = true;
            for (dest, _) in &links {
                if self.slot(dest).is_none() {
                    match self.alloc_node(Node::new(*dest, None)) {
                        Some(d) => new_nodes.push(d),
                        None => ch.rejected.push(format!(
                            "router {dest} over the bound of {} nodes",
                            self.max_nodes
                        )),
                    }
                }
            }
            self.sync_edges(slot);
        }
        ch.removed = self.remove_detached();
        if !ch.removed.is_empty() {
            ch.changed = true;
        }
        new_nodes.retain(|s| self.node(*s).is_some());
        updated.retain(|s| self.node(*s).is_some());
        new_nodes.dedup();
        updated.dedup();

        // Propagate: new nodes (with links) to every link, the source included, so it
        // learns our psids; updated nodes to the other links, except to the node itself.
        for id in self.sorted_links() {
            let peer = self.links[&id].zid;
            let mut slots: Vec<(Slot, Details)> = new_nodes
                .iter()
                .map(|s| (*s, Details { links: true }))
                .collect();
            if id != link {
                for s in &updated {
                    if self.node(*s).is_some_and(|n| n.zid != peer) {
                        slots.push((*s, Details { links: true }));
                    }
                }
            }
            if defend {
                slots.push((0, Details { links: true }));
            }
            if id == link {
                for s in &newer_here {
                    if self.node(*s).is_some() && !slots.iter().any(|(x, _)| x == s) {
                        slots.push((*s, Details { links: true }));
                    }
                }
            }
            if !slots.is_empty() {
                ch.outgoing.push(Outgoing {
                    link: id,
                    list: self.list(&slots),
                });
            }
        }
        ch
    }

    /// The router a NodeId received on `link` names: the sender's psid for the root of
    /// the tree the message travels on (0, the default, is the sender itself).
    pub fn resolve_node_id(&self, link: LinkId, node_id: u16) -> Option<ZenohId> {
        let l = self.links.get(&link)?;
        match l.psids.get(&node_id) {
            Some(z) => Some(*z),
            None if node_id == 0 => Some(l.zid),
            None => None,
        }
    }

    /// Recomputes every tree; returns the children each tree gained.
    pub fn compute_trees(&mut self) -> TreeChanges {
        let n = self.nodes.len();
        let zids: Vec<Option<ZenohId>> = self
            .nodes
            .iter()
            .map(|o| o.as_ref().map(|n| n.zid))
            .collect();
        let mut adj: Vec<Vec<(Slot, f64)>> = vec![Vec::new(); n];
        for e in self.edges.iter().flatten() {
            adj[e.a as usize].push((e.b, e.weight));
            adj[e.b as usize].push((e.a, e.weight));
        }
        let (trees, dist) = compute_trees(&adj, &zids, 0);
        let mut changes = TreeChanges::default();
        for (root, tree) in trees.iter().enumerate() {
            let Some(root_zid) = zids[root] else { continue };
            let old: &[ZenohId] = match (self.tree_roots.get(root), self.tree_children.get(root)) {
                (Some(Some(z)), Some(c)) if *z == root_zid => c,
                _ => &[],
            };
            let fresh: Vec<ZenohId> = tree
                .children
                .iter()
                .filter_map(|c| zids[*c as usize])
                .filter(|z| !old.contains(z))
                .collect();
            if !fresh.is_empty() {
                changes.new_children.push((root_zid, fresh));
            }
        }
        // Children are kept by zid as well: a slot reused by another router must not look
        // like an old child.
        self.tree_children = trees
            .iter()
            .map(|t| {
                t.children
                    .iter()
                    .filter_map(|c| zids[*c as usize])
                    .collect()
            })
            .collect();
        self.trees = trees;
        self.tree_roots = zids;
        self.distances = dist;
        changes
    }

    /// The tree rooted at `root` as computed last, seen from this router.
    pub fn tree(&self, root: &ZenohId) -> Option<&Tree> {
        let s = self.computed_slot(root)?;
        self.trees.get(s as usize)
    }

    /// The slot `zid` had at the last tree computation.
    fn computed_slot(&self, zid: &ZenohId) -> Option<Slot> {
        let s = self.slot(zid)?;
        (self.tree_roots.get(s as usize) == Some(&Some(*zid))).then_some(s)
    }

    fn computed_zid(&self, slot: Slot) -> Option<ZenohId> {
        self.tree_roots.get(slot as usize).copied().flatten()
    }

    /// Where to forward something travelling on `root`'s tree towards the router `dest`:
    /// a neighbour, or `None` (it is us, or unknown, or unreachable).
    pub fn next_hop(&self, root: &ZenohId, dest: &ZenohId) -> Option<ZenohId> {
        let t = self.tree(root)?;
        let d = self.computed_slot(dest)?;
        let hop = t.next_hop.get(d as usize).copied().flatten()?;
        self.computed_zid(hop)
    }

    /// Our children in `root`'s tree: the neighbours to which declarations `root` sourced
    /// are sent.
    pub fn children(&self, root: &ZenohId) -> Vec<ZenohId> {
        self.tree(root)
            .map(|t| {
                t.children
                    .iter()
                    .filter_map(|c| self.computed_zid(*c))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Our parent in `root`'s tree.
    pub fn parent(&self, root: &ZenohId) -> Option<ZenohId> {
        self.tree(root)?.parent.and_then(|p| self.computed_zid(p))
    }

    /// The cost of the shortest path from us to `zid` (as of the last computation).
    pub fn distance(&self, zid: &ZenohId) -> Option<f64> {
        let s = self.computed_slot(zid)?;
        self.distances
            .get(s as usize)
            .copied()
            .filter(|d| d.is_finite())
    }

    /// The graph in Graphviz DOT, as Zenoh answers `@/<zid>/router/linkstate/north`
    /// (`routers` before 1.10): nodes by slot labelled with their zid, then edges in the
    /// order they were made, labelled with their weight (`f64` debug form).
    pub fn dot(&self) -> String {
        let mut s = String::from("graph {\n");
        for (slot, n) in self.nodes() {
            let _ = writeln!(s, "    {slot} [ label = \"{}\" ]", n.zid);
        }
        for e in self.edges.iter().flatten() {
            let _ = writeln!(s, "    {} -- {} [ label = \"{:?}\" ]", e.a, e.b, e.weight);
        }
        s.push_str("}\n");
        s
    }

    /// Our confirmed links: `(neighbour, our weight, its weight, edge weight)` (Zenoh's
    /// `LinkInfo` in the admin JSON: `src_weight`, `dst_weight`, `actual_weight`).
    pub fn links_info(&self) -> Vec<(ZenohId, Option<u16>, Option<u16>, f64)> {
        let me = self.node(0).expect("slot 0 holds this router");
        self.edges
            .iter()
            .flatten()
            .filter(|e| e.a == 0 || e.b == 0)
            .filter_map(|e| {
                let other = self.node(if e.a == 0 { e.b } else { e.a })?;
                let src = me.weight_to(&other.zid).filter(|w| *w != 0);
                let dst = other.weight_to(&self.me).filter(|w| *w != 0);
                Some((other.zid, src, dst, e.weight))
            })
            .collect()
    }

    /// The graph for the admin JSON: `{"zid", "nodes": [{"zid", "psid", "whatami", "sn",
    /// "locators"}], "links": [{"src", "dst", "weight", "src_weight", "dst_weight",
    /// "rtt_us"}]}`. Weights announced as unset are `null`; `rtt_us` comes from `rtt` (the
    /// smoothed RTT of our own links, by neighbour) and is `null` elsewhere.
    pub fn to_json(
        &self,
        rtt: impl Fn(&ZenohId) -> Option<std::time::Duration>,
    ) -> serde_json::Value {
        use serde_json::json;
        let nodes: Vec<serde_json::Value> = self
            .nodes()
            .map(|(slot, n)| {
                json!({
                    "zid": n.zid.to_string(),
                    "psid": slot,
                    "whatami": n.whatami.map(|w| w.as_str()),
                    "sn": n.sn,
                    "locators": n.locators,
                })
            })
            .collect();
        let links: Vec<serde_json::Value> = self
            .edges
            .iter()
            .flatten()
            .filter_map(|e| {
                let (a, b) = (self.node(e.a)?, self.node(e.b)?);
                let other = if a.zid == self.me {
                    Some(b.zid)
                } else if b.zid == self.me {
                    Some(a.zid)
                } else {
                    None
                };
                Some(json!({
                    "src": a.zid.to_string(),
                    "dst": b.zid.to_string(),
                    "weight": e.weight,
                    "src_weight": a.weight_to(&b.zid).filter(|w| *w != 0),
                    "dst_weight": b.weight_to(&a.zid).filter(|w| *w != 0),
                    "rtt_us": other.and_then(|z| rtt(&z)).map(|d| d.as_micros() as u64),
                }))
            })
            .collect();
        json!({ "zid": self.me.to_string(), "nodes": nodes, "links": links })
    }

    /// Checks the graph's internal invariants; for tests.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        if self.node(0).map(|n| n.zid) != Some(self.me) {
            return Err("slot 0 is not this router".into());
        }
        for (s, n) in self.nodes() {
            if self.by_zid.get(&n.zid) != Some(&s) {
                return Err(format!("index disagrees for {}", n.zid));
            }
        }
        if self.by_zid.len() != self.nodes().count() {
            return Err("index has stale entries".into());
        }
        let mut seen = Vec::new();
        for e in self.edges.iter().flatten() {
            let (Some(a), Some(b)) = (self.node(e.a), self.node(e.b)) else {
                return Err("edge to a free slot".into());
            };
            let (Some(wa), Some(wb)) = (a.weight_to(&b.zid), b.weight_to(&a.zid)) else {
                return Err(format!("edge {}-{} not mutual", a.zid, b.zid));
            };
            if e.weight != edge_weight(&a.zid, wa, &b.zid, wb) {
                return Err(format!("edge {}-{} has a stale weight", a.zid, b.zid));
            }
            let key = (e.a.min(e.b), e.a.max(e.b));
            if seen.contains(&key) {
                return Err("duplicate edge".into());
            }
            seen.push(key);
        }
        for (_, a) in self.nodes() {
            for (z, _) in &a.links {
                if let Some(bs) = self.slot(z) {
                    let b = self.node(bs).expect("indexed");
                    let mutual = b.weight_to(&a.zid).is_some();
                    let has = self
                        .find_edge(self.slot(&a.zid).expect("indexed"), bs)
                        .is_some();
                    if mutual != has {
                        return Err(format!("mutual link {}-{} without edge", a.zid, b.zid));
                    }
                }
            }
        }
        Ok(())
    }
}
