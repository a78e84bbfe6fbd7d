//! The link-state side of the graph: our links to neighbouring routers, the psids they
//! use, the states we send, and applying the states we receive.

use std::collections::{HashMap, HashSet};

use plexus_transport::wire::WhatAmI;
use plexus_transport::wire::linkstate::{LinkState, LinkStateList};

use crate::ZenohId;

use super::super::tree::Slot;
use super::{Changes, Details, Link, LinkId, Network, Node, Outgoing};

impl Network {
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
}
