//! A face: one remote process this session has a transport to, as routing sees it —
//! what it declared to us, what we declared to it, the key-expression ids on both
//! sides, and the cache of where its publications go.
//!
//! Also here: [`FaceTx`], the senders a face can have; [`Route`] (where publications
//! on one key go); [`Source`] (where a declaration or message came from); and the
//! helpers that build control messages.
//!
//! `FaceTx` is an enum rather than a `dyn FaceSender` so that the per-message path
//! (`Face::send_ref` for every publication) stays a direct, inlinable call: outside
//! `cfg(test)` it has one variant.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use plexus_transport::SendOptions;
use plexus_transport::wire::network::{
    Declare, DeclareBody, Mapping, NetQos, NetworkMessage, ResponseFinal, WireExpr,
};
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::callbacks::SampleCallback;
use super::declarations::DeclTable;
use super::sender::FaceSender;
use super::transport::TransportTx;
use crate::acl::{AclMessage, FaceAcl, Flow};
use crate::key_expr::OwnedKeyExpr;
use crate::reply::QueryTarget;
use crate::sample::{CongestionControl, Locality, Priority, Reliability};
use crate::sync::lock;

/// A remote process this session has a transport to.
pub(crate) struct Face {
    pub(crate) zid: ZenohId,
    pub(crate) whatami: WhatAmI,
    /// Where its messages go (the transport, or a test's recorder).
    pub(super) tx: FaceTx,
    pub(super) state: Mutex<FaceState>,
    /// The last id we declared something under to this face (subscriptions, queryables
    /// and tokens share the sequence).
    next_decl_id: AtomicU32,
    /// Set when the remote has sent its initial declarations (DECLARE(I=0) D_FINAL).
    pub(crate) initial_declarations: tokio::sync::watch::Sender<bool>,
    /// Key-expression ids we declared to this face: key → id (read on every publication).
    pub(super) exprs: RwLock<ExprIds>,
    /// Routes of the publications this face sent, by wire expression.
    pub(super) rx_routes: Mutex<RxRoutes>,
    /// Access control on what this face sends and is sent; `None` when off.
    pub(super) acl: Option<Arc<FaceAcl>>,
}

/// The sender of one face.
pub(crate) enum FaceTx {
    /// A transport to a remote process.
    Transport(TransportTx),
    /// Records what is sent (routing unit tests).
    #[cfg(test)]
    Fake(std::sync::Arc<super::fake::Recorder>),
}

impl FaceSender for FaceTx {
    #[inline]
    fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        match self {
            FaceTx::Transport(t) => t.send(msg, opts),
            #[cfg(test)]
            FaceTx::Fake(f) => f.send(msg, opts),
        }
    }

    #[inline]
    fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        match self {
            FaceTx::Transport(t) => t.send_ref(msg, opts),
            #[cfg(test)]
            FaceTx::Fake(f) => f.send_ref(msg, opts),
        }
    }
}

/// A face's cache of where its publications go: (scope, sender's mapping) → suffix →
/// (full key, route), plus the last one looked up (a stream of publications on one key
/// hits it without hashing). Bounded; entries are checked against the routing generation.
#[derive(Default)]
pub(super) struct RxRoutes {
    pub(super) last: Option<(WireExpr, u16, Routed)>,
    /// Keyed by (scope, sender's mapping, NodeId): from another router, the NodeId
    /// names the tree the publication travels on.
    pub(super) by_expr: HashMap<(u16, bool, u16), HashMap<String, Routed>>,
}

impl RxRoutes {
    /// Forgets every cached route (they may name a face that is gone).
    pub(super) fn clear(&mut self) {
        self.last = None;
        self.by_expr.clear();
    }
}

/// A publication's full key and its route.
pub(super) type Routed = (OwnedKeyExpr, Arc<Route>);

/// How many wire expressions a face's route cache holds before it starts afresh.
pub(super) const RX_ROUTES_MAX: usize = 256;

#[derive(Default)]
pub(super) struct FaceState {
    /// Subscribers the remote declared: its id → key.
    pub(super) remote_subs: HashMap<u32, OwnedKeyExpr>,
    /// Key-expression ids the remote declared.
    pub(super) remote_exprs: HashMap<u16, String>,
    /// Subscriptions we declared to it, counted by source.
    subs: DeclTable<OwnedKeyExpr>,
    /// Queryables the remote declared: its id → (key, complete).
    pub(super) remote_qbls: HashMap<u32, (OwnedKeyExpr, bool)>,
    /// Queryables we declared to it, counted by source.
    qbls: DeclTable<(OwnedKeyExpr, bool)>,
    /// The face's liveliness state: its tokens, ours declared to it, its interests.
    pub(super) live: LiveFace,
    /// What the remote's declarations above hold, against the limits (`limits.rs`).
    pub(super) budget: super::limits::DeclBudget,
}

/// The key-expression ids we declared to one face (see `keyexprs.rs`).
#[derive(Default)]
pub(super) struct ExprIds {
    pub(super) by_key: DeclTable<OwnedKeyExpr, u16>,
    pub(super) last: u16,
}

/// One face's liveliness state.
#[derive(Default)]
pub(super) struct LiveFace {
    /// Tokens the remote declared: its id → key.
    pub(super) remote: HashMap<u32, OwnedKeyExpr>,
    /// Tokens we declared to it.
    pub(super) declared: DeclTable<OwnedKeyExpr>,
    /// Its interests in future tokens: interest id → the key they are restricted to.
    pub(super) interests: HashMap<u32, Option<OwnedKeyExpr>>,
}

/// Where publications on one key go; valid while the session's routing generation is
/// `gen_`.
pub(crate) struct Route {
    pub(super) gen_: u64,
    pub(crate) destination: Locality,
    pub(super) local: Vec<SampleCallback>,
    /// Each face with the wire expression that names the key to it: first the `mesh`
    /// other routers (sent the NodeId `node_id`), then the others.
    pub(super) faces: Vec<(Arc<Face>, WireExpr)>,
    /// Access control on this route; `None` when neither its source nor any of its faces
    /// is under access control (then nothing is checked per message).
    pub(super) acl: Option<Box<RouteAcl>>,
    /// How many of `faces` (at their start) lead to other routers of the mesh.
    pub(super) mesh: usize,
    /// The NodeId for the mesh faces: our psid of the router the publication entered
    /// the mesh at.
    pub(super) node_id: u16,
}

/// A route's access-control decisions, made when the route is computed.
pub(crate) struct RouteAcl {
    /// May the source face's `[put, delete]` on the key come in?
    pub(super) ingress: [bool; 2],
    /// May `[put, delete]` on the key go to each face of the route (same order)?
    pub(super) egress: Vec<[bool; 2]>,
}

/// Where a subscription or a message came from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// This session.
    Local,
    /// A remote process, through its face.
    Face(&'a Face),
}

impl Face {
    /// A face for the remote process `zid` (a `whatami`), sending through `tx`.
    pub(crate) fn new(zid: ZenohId, whatami: WhatAmI, tx: FaceTx) -> Self {
        Face {
            zid,
            whatami,
            tx,
            state: Mutex::new(FaceState::default()),
            next_decl_id: AtomicU32::new(0),
            initial_declarations: tokio::sync::watch::channel(false).0,
            exprs: RwLock::new(ExprIds::default()),
            rx_routes: Mutex::new(RxRoutes::default()),
            acl: None,
        }
    }

    /// This face under access control `acl`.
    pub(crate) fn with_acl(mut self, acl: Option<Arc<FaceAcl>>) -> Self {
        self.acl = acl;
        self
    }

    /// Whether access control lets messages of kind `msg` on `key` go `flow` through
    /// this face (always, when it is off).
    #[inline]
    pub(super) fn acl_allows(&self, flow: Flow, msg: AclMessage, key: &OwnedKeyExpr) -> bool {
        self.acl.as_ref().is_none_or(|a| a.allows(flow, msg, key))
    }

    pub(crate) fn zid(&self) -> ZenohId {
        self.zid
    }

    /// Queues a message for this face, in order (see [`FaceSender::send`]).
    #[inline]
    pub(crate) fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        self.tx.send(msg, opts);
    }

    /// [`Face::send`] for a borrowed message (one message serves several faces).
    #[inline]
    pub(crate) fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        self.tx.send_ref(msg, opts);
    }

    /// A fresh id to declare something to this face under.
    pub(super) fn next_decl_id(&self) -> u32 {
        self.next_decl_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts one more source of `key` in one of our declaration tables for this face;
    /// the first one sends the declaration `body(id)`.
    fn declare_in<K: Eq + Hash + Clone>(
        &self,
        table: impl FnOnce(&mut FaceState) -> &mut DeclTable<K>,
        key: &K,
        body: impl FnOnce(u32) -> DeclareBody,
    ) {
        let id = table(&mut lock(&self.state)).acquire(key, || Some(self.next_decl_id()));
        if let Some(id) = id {
            self.send(declare_msg(None, body(id)), control());
        }
    }

    /// Counts one source of `key` less; the last one sends the undeclaration `body(id)`.
    fn undeclare_in<K: Eq + Hash + Clone>(
        &self,
        table: impl FnOnce(&mut FaceState) -> &mut DeclTable<K>,
        key: &K,
        body: impl FnOnce(u32) -> DeclareBody,
    ) {
        let id = table(&mut lock(&self.state)).release(key);
        if let Some(id) = id {
            self.send(declare_msg(None, body(id)), control());
        }
    }

    pub(super) fn declare(&self, key: &OwnedKeyExpr) {
        if !self.acl_allows(Flow::Egress, AclMessage::DeclareSubscriber, key) {
            return;
        }
        self.declare_in(
            |st| &mut st.subs,
            key,
            |id| DeclareBody::Subscriber {
                id,
                wire_expr: WireExpr::key(key.as_str()),
            },
        );
    }

    pub(super) fn undeclare(&self, key: &OwnedKeyExpr) {
        self.undeclare_in(
            |st| &mut st.subs,
            key,
            |id| DeclareBody::UndeclareSubscriber {
                id,
                wire_expr: Some(WireExpr::key(key.as_str())),
            },
        );
    }

    pub(super) fn has_subscriber_for(&self, key: &OwnedKeyExpr) -> bool {
        lock(&self.state)
            .remote_subs
            .values()
            .any(|k| k.intersects(key))
    }

    pub(super) fn declare_queryable(&self, key: &OwnedKeyExpr, complete: bool) {
        if !self.acl_allows(Flow::Egress, AclMessage::DeclareQueryable, key) {
            return;
        }
        let k = (key.clone(), complete);
        self.declare_in(
            |st| &mut st.qbls,
            &k,
            |id| DeclareBody::Queryable {
                id,
                wire_expr: WireExpr::key(key.as_str()),
                complete,
                distance: 0,
            },
        );
    }

    pub(super) fn undeclare_queryable(&self, key: &OwnedKeyExpr, complete: bool) {
        let k = (key.clone(), complete);
        self.undeclare_in(
            |st| &mut st.qbls,
            &k,
            |id| DeclareBody::UndeclareQueryable {
                id,
                wire_expr: Some(WireExpr::key(key.as_str())),
            },
        );
    }

    pub(super) fn has_queryable_for(&self, key: &OwnedKeyExpr, target: QueryTarget) -> bool {
        lock(&self.state)
            .remote_qbls
            .values()
            .any(|(k, complete)| match target {
                QueryTarget::AllComplete => *complete && k.includes(key),
                _ => k.intersects(key),
            })
    }

    pub(crate) fn has_complete_queryable_for(&self, key: &OwnedKeyExpr) -> bool {
        self.has_queryable_for(key, QueryTarget::AllComplete)
    }

    /// The full key of a wire expression sent by this face.
    pub(crate) fn resolve(&self, we: &WireExpr) -> Option<String> {
        if we.scope == 0 {
            return Some(we.suffix.clone());
        }
        match we.mapping {
            Mapping::Sender => lock(&self.state)
                .remote_exprs
                .get(&we.scope)
                .map(|prefix| format!("{prefix}{}", we.suffix)),
            // We never declare key-expression ids, so the remote cannot refer to ours.
            Mapping::Receiver => None,
        }
    }
}

/// A DECLARE carrying `body`, answering the interest `interest_id` if there is one.
pub(crate) fn declare_msg(interest_id: Option<u32>, body: DeclareBody) -> NetworkMessage {
    NetworkMessage::Declare(Declare {
        interest_id,
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id: 0,
        body,
    })
}

/// The RESPONSE_FINAL that ends request `request_id`.
pub(crate) fn response_final(request_id: u32) -> NetworkMessage {
    NetworkMessage::ResponseFinal(ResponseFinal {
        request_id,
        qos: NetQos::RESPONSE,
        timestamp: None,
    })
}

/// Options for declarations, queries and their replies: Control priority, reliable,
/// blocking.
pub(crate) fn control() -> SendOptions {
    SendOptions {
        priority: Priority::Control,
        reliability: Reliability::Reliable,
        congestion: CongestionControl::Block,
        express: false,
    }
}
