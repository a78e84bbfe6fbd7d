//! The tree side of the graph: shortest-path trees and what is read from them (next
//! hops, children, parents, distances), and the graph's outside views (DOT, JSON).

use std::fmt::Write as _;

use crate::ZenohId;

use super::super::tree::{Slot, Tree, compute_trees};
#[cfg(test)]
use super::super::weight::edge_weight;
use super::{Network, TreeChanges};

impl Network {
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
