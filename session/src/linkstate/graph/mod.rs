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
//!
//! Rooms: this file holds the graph's types, its nodes and edges; `states.rs` the
//! link-state side (our links, psids, the states we send and apply); `routes.rs` the
//! tree side (trees, next hops, distances) and the graph's outside views (DOT, JSON).

mod routes;
mod states;

use std::collections::HashMap;

use plexus_transport::wire::WhatAmI;
use plexus_transport::wire::linkstate::LinkStateList;

use crate::ZenohId;

use super::tree::{Slot, Tree};
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
}
