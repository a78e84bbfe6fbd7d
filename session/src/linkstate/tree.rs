//! Shortest-path trees, one per router, seen from this router.
//!
//! Zenoh 1.10.2 (`zenoh/src/net/protocol/network.rs`, `compute_trees`) runs Bellman-Ford
//! from every node over the undirected graph of confirmed links and keeps, for each root:
//! this router's parent, its children, and for every destination the next hop from here
//! (the child whose subtree holds it, else the parent). We run Dijkstra instead (weights
//! are positive); both sum the same `f64` edge weights in the same order along a path,
//! so they find the same distances and the same paths. Paths of exactly equal cost (which
//! the zid-hash perturbation of edge weights makes practically impossible) are broken
//! here towards the predecessor with the smaller zid in Zenoh's order; Zenoh keeps the
//! first one found in its node-index order, which is not reproducible across routers
//! anyway.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use crate::ZenohId;

use super::weight::zenoh_zid_cmp;

/// A node's number in this router's graph (its psid).
pub type Slot = u16;

/// One root's tree as this router sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tree {
    /// This router's parent towards the root (`None` at the root or when unreachable).
    pub parent: Option<Slot>,
    /// This router's children: the neighbours whose path from the root runs through us.
    pub children: Vec<Slot>,
    /// For each destination slot: the neighbour to forward to from here along this tree
    /// (`None` for ourselves, absent or unreachable nodes).
    pub next_hop: Vec<Option<Slot>>,
}

/// A heap entry ordered by distance, then slot (the order does not change the result).
#[derive(PartialEq)]
struct Entry(f64, Slot);

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Shortest paths from `root`: distances and predecessors per slot.
///
/// `adj[u]` lists `(v, weight)` for every confirmed edge; `zids[u]` is `None` for free
/// slots.
pub fn shortest_paths(
    adj: &[Vec<(Slot, f64)>],
    zids: &[Option<ZenohId>],
    root: Slot,
) -> (Vec<f64>, Vec<Option<Slot>>) {
    let n = adj.len();
    let mut dist = vec![f64::INFINITY; n];
    let mut pred: Vec<Option<Slot>> = vec![None; n];
    let mut done = vec![false; n];
    if (root as usize) >= n || zids[root as usize].is_none() {
        return (dist, pred);
    }
    dist[root as usize] = 0.0;
    let mut heap = BinaryHeap::new();
    heap.push(Reverse(Entry(0.0, root)));
    while let Some(Reverse(Entry(d, u))) = heap.pop() {
        let ui = u as usize;
        if done[ui] {
            continue;
        }
        done[ui] = true;
        for &(v, w) in &adj[ui] {
            let vi = v as usize;
            if done[vi] {
                continue;
            }
            let nd = d + w;
            let better = nd < dist[vi]
                || (nd == dist[vi]
                    && pred[vi].is_some_and(|p| match (&zids[ui], &zids[p as usize]) {
                        (Some(a), Some(b)) => zenoh_zid_cmp(a, b) == Ordering::Less,
                        _ => false,
                    }));
            if better {
                dist[vi] = nd;
                pred[vi] = Some(u);
                heap.push(Reverse(Entry(nd, v)));
            }
        }
    }
    (dist, pred)
}

/// Every root's tree seen from `me`, and the distances from `me` (Zenoh's `distances`,
/// which orders queryables by cost).
pub fn compute_trees(
    adj: &[Vec<(Slot, f64)>],
    zids: &[Option<ZenohId>],
    me: Slot,
) -> (Vec<Tree>, Vec<f64>) {
    let n = adj.len();
    let (my_dist, _) = shortest_paths(adj, zids, me);
    let mut trees = vec![Tree::default(); n];
    let mut kids: Vec<Vec<Slot>> = vec![Vec::new(); n];
    let mut stack = Vec::new();
    for root in 0..n {
        if zids[root].is_none() {
            continue;
        }
        let (_, pred) = shortest_paths(adj, zids, root as Slot);
        let tree = &mut trees[root];
        tree.parent = pred[me as usize];
        for k in kids.iter_mut() {
            k.clear();
        }
        for (v, p) in pred.iter().enumerate() {
            if let Some(p) = p {
                kids[*p as usize].push(v as Slot);
            }
        }
        tree.children = kids[me as usize].clone();
        tree.next_hop = vec![None; n];
        // Destinations in a child's subtree go to that child ...
        for &c in &tree.children {
            stack.push(c);
            while let Some(u) = stack.pop() {
                tree.next_hop[u as usize] = Some(c);
                stack.extend_from_slice(&kids[u as usize]);
            }
        }
        // ... every other node we can reach goes towards the root.
        for (v, hop) in tree.next_hop.iter_mut().enumerate() {
            if v != me as usize && hop.is_none() && my_dist[v].is_finite() {
                *hop = tree.parent;
            }
        }
    }
    (trees, my_dist)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zids(n: u128) -> Vec<Option<ZenohId>> {
        (1..=n).map(ZenohId::new).collect()
    }

    fn undirected(n: usize, edges: &[(Slot, Slot, f64)]) -> Vec<Vec<(Slot, f64)>> {
        let mut adj = vec![Vec::new(); n];
        for &(a, b, w) in edges {
            adj[a as usize].push((b, w));
            adj[b as usize].push((a, w));
        }
        adj
    }

    #[test]
    fn square_prefers_the_cheaper_side() {
        // 0 - 1 - 3 costs 2; 0 - 2 - 3 costs 3.
        let adj = undirected(4, &[(0, 1, 1.0), (1, 3, 1.0), (0, 2, 1.0), (2, 3, 2.0)]);
        let z = zids(4);
        let (trees, dist) = compute_trees(&adj, &z, 0);
        assert_eq!(dist, vec![0.0, 1.0, 1.0, 2.0]);
        // My own tree: children 1 and 2; 3 goes via 1.
        assert_eq!(trees[0].parent, None);
        assert_eq!(trees[0].children, vec![1, 2]);
        assert_eq!(trees[0].next_hop, vec![None, Some(1), Some(2), Some(1)]);
        // Node 3's tree: 3 reaches me through 1; I have no children (2 hangs off 3).
        assert_eq!(trees[3].parent, Some(1));
        assert!(trees[3].children.is_empty());
        assert_eq!(trees[3].next_hop, vec![None, Some(1), Some(1), Some(1)]);
        // Node 1's tree seen from 0: 0 is a leaf under 1 whose only child could be 2? No:
        // 1 reaches 2 via 0 (cost 2) or via 3 (cost 3), so 2 is my child in 1's tree.
        assert_eq!(trees[1].parent, Some(1));
        assert_eq!(trees[1].children, vec![2]);
        assert_eq!(trees[1].next_hop, vec![None, Some(1), Some(2), Some(1)]);
    }

    #[test]
    fn exact_ties_go_to_the_smaller_zid_in_zenoh_order() {
        // 0 reaches 3 via 1 or via 2 at equal cost.
        let adj = undirected(4, &[(0, 1, 1.0), (1, 3, 1.0), (0, 2, 1.0), (2, 3, 1.0)]);
        // zids: slot 1 = 0x0100 and slot 2 = 0x00ff: LE bytes 00 01 < ff 00, so slot 1 wins
        // although it is numerically larger.
        let z = vec![
            ZenohId::new(0x10),
            ZenohId::new(0x0100),
            ZenohId::new(0x00ff),
            ZenohId::new(0x20),
        ];
        let (_, pred) = shortest_paths(&adj, &z, 0);
        assert_eq!(pred[3], Some(1));
        // Swap the zids: the other side wins.
        let z2 = vec![z[0], z[2], z[1], z[3]];
        let (_, pred) = shortest_paths(&adj, &z2, 0);
        assert_eq!(pred[3], Some(2));
    }

    #[test]
    fn free_slots_and_unreachable_nodes() {
        // Slot 1 is free; 3 is isolated.
        let adj = undirected(4, &[(0, 2, 1.0)]);
        let z = vec![ZenohId::new(1), None, ZenohId::new(3), ZenohId::new(4)];
        let (trees, dist) = compute_trees(&adj, &z, 0);
        assert!(dist[3].is_infinite());
        assert_eq!(trees[0].next_hop, vec![None, None, Some(2), None]);
        assert_eq!(trees[1], Tree::default(), "no tree for a free slot");
        assert_eq!(trees[3].parent, None);
        assert!(trees[3].children.is_empty());
        assert_eq!(
            trees[3].next_hop[2], None,
            "no way from an unreachable root"
        );
    }
}
