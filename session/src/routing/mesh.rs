//! Routing between routers: the linkstate mesh (docs/mesh.md, sections 3–8).
//!
//! A *mesh face* is a transport between this router and another router. Mesh faces
//! exchange LINKSTATE OAMs (built and applied by [`Network`]), and carry *sourced*
//! declarations: a router declares, once per key and with entity id 0, what its south
//! (the local session, its clients and peers) declared; the declaration travels from its
//! source router down that router's shortest-path tree, each hop writing in the NodeId
//! extension its own psid of the source. Every router thus knows, per key, which routers
//! have a subscriber, a queryable or a token there ([`Mesh`]'s tables).
//!
//! Data and queries travel along the tree of the router they entered the mesh at (the
//! *root*): for each router with a matching subscriber (queryable), the next hop towards
//! it in the root's tree, de-duplicated, never back where it came from. These hops are
//! computed with the route (`pubsub.rs`, `queries.rs`), which is cached per key and
//! root until a declaration or the graph changes, never per message.
//!
//! Lock order: the mesh lock is taken before the tables lock, never while holding it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use plexus_transport::wire::linkstate::LinkStateList;
use plexus_transport::wire::network::{
    Declare, DeclareBody, NetQos, NetworkMessage, NetworkOam, WireExpr,
};
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::dispatcher::Dispatcher;
use super::face::{Face, control};
use crate::key_expr::OwnedKeyExpr;
use crate::linkstate::graph::{Changes, LinkId, Network};
use crate::linkstate::weight::{RttWeigher, StaticWeights};
use crate::sync::lock;

/// The mesh state of a router: its graph and the sourced declarations of every router.
pub(crate) struct Mesh {
    pub(super) net: Network,
    /// The link id of each mesh face, by the remote router's zid.
    pub(super) links: HashMap<ZenohId, LinkId>,
    next_link: LinkId,
    /// Routers (this one included) with a subscriber on each key.
    pub(super) subs: HashMap<OwnedKeyExpr, BTreeSet<ZenohId>>,
    /// Routers (this one included) with a queryable on each key, and whether it is
    /// complete.
    pub(super) qbls: HashMap<OwnedKeyExpr, BTreeMap<ZenohId, bool>>,
    /// Routers (this one included) with a liveliness token on each key.
    pub(super) tokens: HashMap<OwnedKeyExpr, BTreeSet<ZenohId>>,
    /// How many south subscribers each key has (ours to source).
    own_subs: HashMap<OwnedKeyExpr, usize>,
    /// How many south queryables each key has, and how many of them are complete.
    own_qbls: HashMap<OwnedKeyExpr, (usize, usize)>,
    /// Our weight for the link to each neighbour named in `transport_weights` (others:
    /// unset, which Zenoh counts as 100 unless the other end sets one).
    pub(super) weights: StaticWeights,
    /// Weights that follow each link's measured RTT, when `rtt_weights` enables them
    /// (beyond Zenoh; a static weight wins).
    pub(super) rtt: Option<RttWeigher>,
}

impl Mesh {
    pub(crate) fn new(me: ZenohId) -> Self {
        Mesh {
            net: Network::new(me, Vec::new()),
            links: HashMap::new(),
            next_link: 1,
            subs: HashMap::new(),
            qbls: HashMap::new(),
            tokens: HashMap::new(),
            own_subs: HashMap::new(),
            own_qbls: HashMap::new(),
            weights: StaticWeights::default(),
            rtt: None,
        }
    }

    pub(super) fn me(&self) -> ZenohId {
        self.net.me()
    }

    /// The router a message from mesh face `from` travels for (its tree's root), from
    /// its NodeId; `None` if that psid was never announced on that link.
    pub(super) fn root_of(&self, from: &ZenohId, node_id: u16) -> Option<ZenohId> {
        let link = *self.links.get(from)?;
        self.net.resolve_node_id(link, node_id)
    }

    /// The NodeId that names `root` to our neighbours (our psid of it).
    pub(super) fn node_id(&self, root: &ZenohId) -> u16 {
        self.net.slot(root).unwrap_or(0)
    }

    /// True if a router other than this one has a subscriber on exactly `key`.
    pub(super) fn others_subscribe(&self, key: &OwnedKeyExpr) -> bool {
        let me = self.me();
        self.subs
            .get(key)
            .is_some_and(|s| s.iter().any(|z| *z != me))
    }

    /// What the south faces are told about the queryables other routers hold on `key`:
    /// `Some(complete)` if there is one.
    pub(super) fn others_queryable(&self, key: &OwnedKeyExpr) -> Option<bool> {
        let me = self.me();
        let q = self.qbls.get(key)?;
        let mut found = None;
        for (z, complete) in q {
            if *z != me {
                found = Some(found.unwrap_or(false) || *complete);
            }
        }
        found
    }

    /// True if a router other than this one holds a token on `key`.
    pub(super) fn others_token(&self, key: &OwnedKeyExpr) -> bool {
        let me = self.me();
        self.tokens
            .get(key)
            .is_some_and(|s| s.iter().any(|z| *z != me))
    }

    /// The keys other routers subscribe to, and queryables they hold (for a new south face).
    pub(super) fn south_view(&self) -> (Vec<OwnedKeyExpr>, Vec<(OwnedKeyExpr, bool)>) {
        let subs = self
            .subs
            .keys()
            .filter(|k| self.others_subscribe(k))
            .cloned()
            .collect();
        let qbls = self
            .qbls
            .keys()
            .filter_map(|k| self.others_queryable(k).map(|c| (k.clone(), c)))
            .collect();
        (subs, qbls)
    }

    /// True if another router has a subscriber whose key intersects `key`.
    pub(super) fn has_remote_subscriber(&self, key: &OwnedKeyExpr) -> bool {
        let me = self.me();
        self.subs
            .iter()
            .any(|(k, s)| k.intersects(key) && s.iter().any(|z| *z != me))
    }

    /// The neighbours a publication on `key` travelling on `root`'s tree goes to: the
    /// next hop towards each other router subscribed to a matching key, once each,
    /// never `from`.
    pub(super) fn data_hops(
        &self,
        root: &ZenohId,
        key: &OwnedKeyExpr,
        from: Option<ZenohId>,
    ) -> Vec<ZenohId> {
        let me = self.me();
        let mut hops = Vec::new();
        for (k, routers) in &self.subs {
            if !k.intersects(key) {
                continue;
            }
            for z in routers.iter().filter(|z| **z != me) {
                if let Some(h) = self.net.next_hop(root, z)
                    && Some(h) != from
                    && !hops.contains(&h)
                {
                    hops.push(h);
                }
            }
        }
        hops
    }

    /// The neighbours a query on `key` travelling on `root`'s tree goes to, each with
    /// the distance from us of the nearest complete queryable that includes `key`
    /// behind it (if any), never `from`.
    pub(super) fn query_hops(
        &self,
        root: &ZenohId,
        key: &OwnedKeyExpr,
        complete_only: bool,
        from: Option<ZenohId>,
    ) -> Vec<(ZenohId, Option<f64>)> {
        let me = self.me();
        let mut hops: Vec<(ZenohId, Option<f64>)> = Vec::new();
        for (k, routers) in &self.qbls {
            for (z, complete) in routers.iter().filter(|(z, _)| **z != me) {
                let covers = *complete && k.includes(key);
                let matches = if complete_only {
                    covers
                } else {
                    k.intersects(key)
                };
                if !matches {
                    continue;
                }
                let Some(h) = self.net.next_hop(root, z) else {
                    continue;
                };
                if Some(h) == from {
                    continue;
                }
                let dist = covers
                    .then(|| self.net.distance(z))
                    .flatten()
                    .or(covers.then_some(f64::MAX));
                match hops.iter_mut().find(|(n, _)| *n == h) {
                    Some((_, d)) => {
                        if let Some(nd) = dist
                            && d.is_none_or(|od| nd < od)
                        {
                            *d = Some(nd);
                        }
                    }
                    None => hops.push((h, dist)),
                }
            }
        }
        hops
    }

    /// A new link id for the mesh face to `zid`.
    fn new_link(&mut self, zid: ZenohId) -> LinkId {
        let id = self.next_link;
        self.next_link += 1;
        self.links.insert(zid, id);
        id
    }
}

/// A sourced declaration (entity id 0) travelling on the tree of the router whose psid
/// (to the receiver) is `node_id`.
fn sourced(node_id: u16, body: DeclareBody) -> NetworkMessage {
    NetworkMessage::Declare(Declare {
        interest_id: None,
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id,
        body,
    })
}

pub(super) fn d_sub(key: &OwnedKeyExpr) -> DeclareBody {
    DeclareBody::Subscriber {
        id: 0,
        wire_expr: WireExpr::key(key.as_str()),
    }
}

pub(super) fn u_sub(key: &OwnedKeyExpr) -> DeclareBody {
    DeclareBody::UndeclareSubscriber {
        id: 0,
        wire_expr: Some(WireExpr::key(key.as_str())),
    }
}

pub(super) fn d_qbl(key: &OwnedKeyExpr, complete: bool) -> DeclareBody {
    DeclareBody::Queryable {
        id: 0,
        wire_expr: WireExpr::key(key.as_str()),
        complete,
        distance: 0,
    }
}

pub(super) fn u_qbl(key: &OwnedKeyExpr) -> DeclareBody {
    DeclareBody::UndeclareQueryable {
        id: 0,
        wire_expr: Some(WireExpr::key(key.as_str())),
    }
}

pub(super) fn d_token(key: &OwnedKeyExpr) -> DeclareBody {
    DeclareBody::Token {
        id: 0,
        wire_expr: WireExpr::key(key.as_str()),
    }
}

pub(super) fn u_token(key: &OwnedKeyExpr) -> DeclareBody {
    DeclareBody::UndeclareToken {
        id: 0,
        wire_expr: Some(WireExpr::key(key.as_str())),
    }
}

/// Messages to send once the locks are released.
pub(super) type Sends = Vec<(Arc<Face>, NetworkMessage)>;

impl Dispatcher {
    /// True if `face` is a transport to another router of our mesh (we are a router too).
    #[inline]
    pub(crate) fn is_mesh_face(&self, face: &Face) -> bool {
        self.mesh.is_some() && face.whatami == WhatAmI::Router
    }

    /// The mesh state, locked (routers only).
    pub(super) fn mesh_lock(&self) -> Option<std::sync::MutexGuard<'_, Mesh>> {
        self.mesh.as_ref().map(lock)
    }

    /// Sets the locators this router announces in its link state (its listeners).
    pub(crate) fn set_mesh_locators(&self, locators: Vec<String>) {
        if let Some(mut m) = self.mesh_lock() {
            // Zenoh refuses locators with metadata or configuration in link states.
            let plain = locators
                .into_iter()
                .map(|l| l.split(['?', '#']).next().unwrap_or_default().to_string())
                .collect();
            m.net.set_locators(plain);
        }
    }

    /// The router graph in Graphviz DOT, as Zenoh answers
    /// `@/<zid>/router/linkstate/routers` (routers only).
    pub(crate) fn mesh_dot(&self) -> Option<String> {
        self.mesh_lock().map(|m| m.net.dot())
    }

    /// The router graph as JSON, with `rtt` giving our own links' round-trip times by
    /// neighbour (routers only; see `Network::to_json`).
    pub(crate) fn mesh_json(
        &self,
        rtt: impl Fn(&ZenohId) -> Option<std::time::Duration>,
    ) -> Option<serde_json::Value> {
        self.mesh_lock().map(|m| m.net.to_json(rtt))
    }

    /// The neighbours' faces by zid, for sending (takes the tables lock).
    pub(super) fn neighbour_faces(&self) -> HashMap<ZenohId, Arc<Face>> {
        self.faces()
            .into_iter()
            .filter(|f| self.is_mesh_face(f))
            .map(|f| (f.zid, f))
            .collect()
    }

    /// Sends `body` as a sourced declaration of `root` to our children in its tree,
    /// except `from`.
    pub(super) fn to_children(
        &self,
        m: &Mesh,
        faces: &HashMap<ZenohId, Arc<Face>>,
        root: &ZenohId,
        from: Option<ZenohId>,
        body: DeclareBody,
        out: &mut Sends,
    ) {
        let node_id = m.node_id(root);
        for child in m.net.children(root) {
            if Some(child) == from {
                continue;
            }
            if let Some(f) = faces.get(&child) {
                out.push((f.clone(), sourced(node_id, body.clone())));
            }
        }
    }

    pub(super) fn send_all(sends: Sends) {
        for (face, msg) in sends {
            face.send(msg, control());
        }
    }

    /// A mesh face opened: it joins the graph, which is sent to it (and the news to the
    /// other neighbours).
    pub(super) fn mesh_face_opened(&self, face: &Arc<Face>) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        let link = m.new_link(face.zid);
        let weight = m.weight_of(&face.zid);
        let ch = m.net.add_link(link, face.zid, WhatAmI::Router, weight);
        let tokens = self.apply_changes(&mut m, ch);
        drop(m);
        // Routers send no initial declarations with interest 0: nothing to wait for.
        face.initial_declarations.send_replace(true);
        for k in &tokens {
            self.token_changed(k);
        }
    }

    /// A mesh face closed: it leaves the graph; routers no longer reachable are gone.
    pub(super) fn mesh_face_closed(&self, zid: &ZenohId) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        let Some(link) = m.links.remove(zid) else {
            return;
        };
        if let Some(rtt) = &mut m.rtt {
            rtt.remove(zid);
        }
        let ch = m.net.remove_link(link);
        let tokens = self.apply_changes(&mut m, ch);
        drop(m);
        for k in &tokens {
            self.token_changed(k);
        }
    }

    /// A network OAM from a mesh face: a LINKSTATE list is applied to the graph.
    pub(super) fn mesh_oam(&self, face: &Arc<Face>, oam: &NetworkOam) {
        if oam.id != NetworkOam::LINKSTATE {
            tracing::debug!("from {}: ignored network OAM id {}", face.zid, oam.id);
            return;
        }
        let list = match LinkStateList::from_oam(oam) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("from router {}: undecodable link state: {e}", face.zid);
                return;
            }
        };
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        let Some(link) = m.links.get(&face.zid).copied() else {
            tracing::warn!("link state from router {} before its link opened", face.zid);
            return;
        };
        tracing::trace!("link state from router {}: {list:?}", face.zid);
        let ch = m.net.handle_link_states(link, &list);
        let tokens = self.apply_changes(&mut m, ch);
        drop(m);
        for k in &tokens {
            self.token_changed(k);
        }
    }

    /// Sends what a graph change produced, forgets the routers that left (and what they
    /// declared), recomputes the trees and re-feeds new children. Returns the token
    /// keys to re-examine once the mesh lock is released.
    pub(super) fn apply_changes(&self, m: &mut Mesh, ch: Changes) -> Vec<OwnedKeyExpr> {
        for r in &ch.rejected {
            tracing::warn!("link state not applied: {r}");
        }
        let faces = self.neighbour_faces();
        for o in ch.outgoing {
            let Some(zid) = m.net.link_zid(o.link) else {
                continue;
            };
            tracing::trace!("link state to router {zid}: {:?}", o.list);
            match faces.get(&zid) {
                Some(f) => f.send(NetworkMessage::Oam(o.list.to_oam()), control()),
                None => tracing::debug!("link state to router {zid}: no face"),
            }
        }
        let mut tokens = Vec::new();
        if !ch.removed.is_empty() {
            self.forget_routers(m, &ch.removed, &mut tokens);
        }
        if ch.changed {
            let tc = m.net.compute_trees();
            let mut sends = Sends::new();
            for (root, children) in tc.new_children {
                let node_id = m.node_id(&root);
                for child in children {
                    let Some(f) = faces.get(&child) else { continue };
                    for (k, routers) in &m.subs {
                        if routers.contains(&root) {
                            sends.push((f.clone(), sourced(node_id, d_sub(k))));
                        }
                    }
                    for (k, routers) in &m.qbls {
                        if let Some(c) = routers.get(&root) {
                            sends.push((f.clone(), sourced(node_id, d_qbl(k, *c))));
                        }
                    }
                    for (k, routers) in &m.tokens {
                        if routers.contains(&root) {
                            sends.push((f.clone(), sourced(node_id, d_token(k))));
                        }
                    }
                }
            }
            Self::send_all(sends);
            self.routes_changed();
        }
        tokens
    }

    /// Drops everything the routers `gone` declared (they left the graph; every router
    /// does the same, so nothing goes on the wire between routers).
    fn forget_routers(&self, m: &mut Mesh, gone: &[ZenohId], tokens: &mut Vec<OwnedKeyExpr>) {
        let mut sub_keys = Vec::new();
        for (k, routers) in m.subs.iter_mut() {
            if gone.iter().any(|g| routers.contains(g)) {
                sub_keys.push(k.clone());
            }
        }
        for k in sub_keys {
            let before = m.others_subscribe(&k);
            if let Some(r) = m.subs.get_mut(&k) {
                r.retain(|z| !gone.contains(z));
                if r.is_empty() {
                    m.subs.remove(&k);
                }
            }
            if before && !m.others_subscribe(&k) {
                self.south_subscriber(&k, false);
            }
        }
        let mut qbl_keys = Vec::new();
        for (k, routers) in m.qbls.iter() {
            if gone.iter().any(|g| routers.contains_key(g)) {
                qbl_keys.push(k.clone());
            }
        }
        for k in qbl_keys {
            let before = m.others_queryable(&k);
            if let Some(r) = m.qbls.get_mut(&k) {
                r.retain(|z, _| !gone.contains(z));
                if r.is_empty() {
                    m.qbls.remove(&k);
                }
            }
            self.south_queryable(&k, before, m.others_queryable(&k));
        }
        for (k, routers) in m.tokens.iter_mut() {
            if gone.iter().any(|g| routers.contains(g)) {
                routers.retain(|z| !gone.contains(z));
                tokens.push(k.clone());
            }
        }
        m.tokens.retain(|_, r| !r.is_empty());
        self.subs_changed();
    }

    /// Tells the south faces that the mesh has (or no longer has) a subscriber on `key`.
    pub(super) fn south_subscriber(&self, key: &OwnedKeyExpr, declare: bool) {
        for f in self.faces() {
            if self.is_mesh_face(&f) {
                continue;
            }
            if declare {
                f.declare(key);
            } else {
                f.undeclare(key);
            }
        }
    }

    /// Tells the south faces how the mesh's queryables on `key` changed.
    pub(super) fn south_queryable(
        &self,
        key: &OwnedKeyExpr,
        before: Option<bool>,
        after: Option<bool>,
    ) {
        if before == after {
            return;
        }
        for f in self.faces() {
            if self.is_mesh_face(&f) {
                continue;
            }
            if let Some(c) = before {
                f.undeclare_queryable(key, c);
            }
            if let Some(c) = after {
                f.declare_queryable(key, c);
            }
        }
    }

    /// A south subscriber on `key` appeared (`+1`) or went (`-1`): this router sources
    /// the key while it has at least one.
    pub(super) fn mesh_own_subscriber(&self, key: &OwnedKeyExpr, declared: bool) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        let me = m.me();
        let n = m.own_subs.entry(key.clone()).or_insert(0);
        let body = if declared {
            *n += 1;
            if *n != 1 {
                return;
            }
            m.subs.entry(key.clone()).or_default().insert(me);
            d_sub(key)
        } else {
            if *n == 0 {
                return;
            }
            *n -= 1;
            if *n != 0 {
                return;
            }
            m.own_subs.remove(key);
            if let Some(r) = m.subs.get_mut(key) {
                r.remove(&me);
                if r.is_empty() {
                    m.subs.remove(key);
                }
            }
            u_sub(key)
        };
        let faces = self.neighbour_faces();
        let mut sends = Sends::new();
        self.to_children(&m, &faces, &me, None, body, &mut sends);
        Self::send_all(sends);
    }

    /// A south queryable on `key` (`complete` or not) appeared or went.
    pub(super) fn mesh_own_queryable(&self, key: &OwnedKeyExpr, complete: bool, declared: bool) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        let me = m.me();
        let before = m.qbls.get(key).and_then(|r| r.get(&me).copied());
        let entry = m.own_qbls.entry(key.clone()).or_insert((0, 0));
        if declared {
            entry.0 += 1;
            entry.1 += usize::from(complete);
        } else {
            entry.0 = entry.0.saturating_sub(1);
            entry.1 = entry.1.saturating_sub(usize::from(complete));
        }
        let after = (entry.0 > 0).then_some(entry.1 > 0);
        if entry.0 == 0 {
            m.own_qbls.remove(key);
        }
        if before == after {
            return;
        }
        let body = match after {
            Some(c) => {
                m.qbls.entry(key.clone()).or_default().insert(me, c);
                d_qbl(key, c)
            }
            None => {
                if let Some(r) = m.qbls.get_mut(key) {
                    r.remove(&me);
                    if r.is_empty() {
                        m.qbls.remove(key);
                    }
                }
                u_qbl(key)
            }
        };
        self.routes_changed();
        let faces = self.neighbour_faces();
        let mut sends = Sends::new();
        self.to_children(&m, &faces, &me, None, body, &mut sends);
        Self::send_all(sends);
    }

    /// Brings this router's own token on `key` in line with its south (`alive`); called
    /// with the mesh lock held. Returns the messages to send.
    pub(super) fn mesh_own_token(
        &self,
        m: &mut Mesh,
        faces: &HashMap<ZenohId, Arc<Face>>,
        key: &OwnedKeyExpr,
        alive: bool,
    ) -> Sends {
        let me = m.me();
        let held = m.tokens.get(key).is_some_and(|r| r.contains(&me));
        let mut sends = Sends::new();
        if held == alive {
            return sends;
        }
        let body = if alive {
            m.tokens.entry(key.clone()).or_default().insert(me);
            d_token(key)
        } else {
            if let Some(r) = m.tokens.get_mut(key) {
                r.remove(&me);
                if r.is_empty() {
                    m.tokens.remove(key);
                }
            }
            u_token(key)
        };
        self.to_children(m, faces, &me, None, body, &mut sends);
        sends
    }
}

/// A `Mutex<Mesh>` for a router's dispatcher.
pub(crate) fn new_mesh(me: ZenohId) -> Mutex<Mesh> {
    Mutex::new(Mesh::new(me))
}
