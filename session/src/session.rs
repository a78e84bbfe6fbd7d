//! The session: opening, closing, the routing tables, and publication and subscription.
//!
//! Every transport gets a *face*. Subscriptions are declared to faces (as `D_SUBSCRIBER`
//! with the full key) according to the mode:
//! - client: only this session's subscribers, to its router or peer;
//! - peer: this session's subscribers and those of attached clients, to every face;
//! - router: every subscriber, to every face other than the one it came from.
//!
//! Data follows the same rule in reverse: a publication goes to the local subscribers
//! it matches (in-process, no serialisation) and to the faces whose declared
//! subscribers intersect its key; a client sends every publication to its router.

use std::collections::HashMap;
use std::num::NonZeroU128;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use bytes::Bytes;
use plexus_transport::wire::network::{
    Declare, DeclareBody, Interest, InterestMode, Mapping, NetQos, NetworkMessage, Push, PushBody,
    WireExpr,
};
use plexus_transport::wire::zenoh::{Del, Put};
use plexus_transport::wire::{self, WhatAmI, ZenohId};
use plexus_transport::{
    Backlog, PeerHandler, SendOptions, Transport, TransportEvent, TransportHandler,
    TransportManager,
};

use crate::config::Config;
use crate::encoding::Encoding;
use crate::error::SessionError;
use crate::handlers::{Callback, FifoChannel, IntoHandler};
use crate::key_expr::OwnedKeyExpr;
use crate::query::{GetBuilder, LocalQueryable, QueryExec, QueryTarget, QueryableBuilder};
use crate::sample::{CongestionControl, Locality, Priority, Reliability, Sample, SampleKind};

mod keyexprs;
pub(crate) mod liveliness;

/// Opens a session with `config`: listens, connects (retrying in the background), and
/// starts serving.
pub async fn open(config: Config) -> Result<Session, SessionError> {
    Session::open(config).await
}

/// A handle to an open session. Cheap to clone; the session closes when the last
/// handle is dropped or [`Session::close`] is called.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
    _guard: Arc<CloseGuard>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("zid", &self.inner.zid)
            .field("mode", &self.inner.whatami)
            .finish()
    }
}

/// Closes the session when the last [`Session`] handle goes away.
struct CloseGuard(Arc<SessionInner>);

impl Drop for CloseGuard {
    fn drop(&mut self) {
        let inner = self.0.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { inner.close().await });
        } else {
            inner.closed.store(true, Ordering::Release);
        }
    }
}

pub(crate) struct SessionInner {
    pub(crate) zid: ZenohId,
    pub(crate) whatami: WhatAmI,
    pub(crate) config: Config,
    pub(crate) hlc: Option<uhlc::HLC>,
    manager: OnceLock<TransportManager>,
    tables: RwLock<Tables>,
    next_id: AtomicU32,
    closed: AtomicBool,
    /// Bumped whenever a subscription appears or goes, locally or remotely.
    subs_changed: tokio::sync::watch::Sender<u64>,
    /// The routing generation: bumped by anything that can change where a publication
    /// goes (subscriptions, faces, key-expression ids); cached routes carry the one they
    /// were computed in.
    route_gen: AtomicU64,
    /// How many faces have messages waiting in their overflow queue.
    held_faces: Arc<AtomicUsize>,
    pub(crate) admin: crate::admin::Admin,
}

#[derive(Default)]
struct Tables {
    /// Ordered by id, so local subscribers are served in the order they were declared.
    subs: std::collections::BTreeMap<u32, LocalSub>,
    qbls: HashMap<u32, Arc<LocalQueryable>>,
    faces: HashMap<ZenohId, Arc<Face>>,
    /// Our requests to faces: request id → (face, query).
    pending: HashMap<u32, (ZenohId, Arc<QueryExec>)>,
    next_request_id: u32,
    /// Liveliness: tokens, liveliness subscribers and liveliness queries in flight.
    live: liveliness::LiveTables,
    /// Key expressions declared by publishers: key → how many publishers use it.
    exprs: HashMap<OwnedKeyExpr, usize>,
}

struct LocalSub {
    key: OwnedKeyExpr,
    callback: Callback<Sample>,
    origin: Locality,
}

/// A remote process this session has a transport to.
pub(crate) struct Face {
    zid: ZenohId,
    whatami: WhatAmI,
    transport: Transport,
    state: Mutex<FaceState>,
    overflow: Arc<Overflow>,
    /// Set when the remote has sent its initial declarations (DECLARE(I=0) D_FINAL).
    initial_declarations: tokio::sync::watch::Sender<bool>,
    /// Key-expression ids we declared to this face: key → id (read on every publication).
    exprs: RwLock<keyexprs::ExprIds>,
    /// Routes of the publications this face sent, by wire expression.
    rx_routes: Mutex<RxRoutes>,
}

/// A face's cache of where its publications go: (scope, sender's mapping) → suffix →
/// (full key, route), plus the last one looked up (a stream of publications on one key
/// hits it without hashing). Bounded; entries are checked against the routing generation.
#[derive(Default)]
struct RxRoutes {
    last: Option<(WireExpr, Routed)>,
    by_expr: HashMap<(u16, bool), HashMap<String, Routed>>,
}

/// A publication's full key and its route.
type Routed = (OwnedKeyExpr, Arc<Route>);

/// How many wire expressions a face's route cache holds before it starts afresh.
const RX_ROUTES_MAX: usize = 256;

#[derive(Default)]
struct FaceState {
    /// Subscribers the remote declared: its id → key.
    remote_subs: HashMap<u32, OwnedKeyExpr>,
    /// Key-expression ids the remote declared.
    remote_exprs: HashMap<u16, String>,
    /// Subscriptions we declared to it: key → (our id, how many sources).
    declared: HashMap<OwnedKeyExpr, (u32, usize)>,
    /// Queryables the remote declared: its id → (key, complete).
    remote_qbls: HashMap<u32, (OwnedKeyExpr, bool)>,
    /// Queryables we declared to it: (key, complete) → (our id, how many sources).
    declared_qbls: HashMap<(OwnedKeyExpr, bool), (u32, usize)>,
    next_decl_id: u32,
    /// The face's liveliness state: its tokens, ours declared to it, its interests.
    live: liveliness::LiveFace,
}

/// Messages that wait for room in a face's transport queue, in order.
struct Overflow {
    queue: Mutex<OverflowQueue>,
    /// Mirrors `queue.draining` (written under its lock) so senders can skip the lock.
    busy: AtomicBool,
    /// The session's count of faces whose overflow is busy.
    held: Arc<AtomicUsize>,
    drained: tokio::sync::Notify,
}

#[derive(Default)]
struct OverflowQueue {
    messages: std::collections::VecDeque<(NetworkMessage, SendOptions)>,
    draining: bool,
}

impl Overflow {
    fn new(held: Arc<AtomicUsize>) -> Self {
        Overflow {
            queue: Mutex::new(OverflowQueue::default()),
            busy: AtomicBool::new(false),
            held,
            drained: tokio::sync::Notify::new(),
        }
    }

    /// Marks the queue as draining or not (call with its lock held).
    fn set_busy(&self, busy: bool) {
        if self.busy.swap(busy, Ordering::AcqRel) != busy {
            if busy {
                self.held.fetch_add(1, Ordering::AcqRel);
            } else {
                self.held.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    async fn drain(self: Arc<Self>, transport: Transport) {
        loop {
            let next = {
                let mut q = lock(&self.queue);
                match q.messages.pop_front() {
                    Some(m) => m,
                    None => {
                        q.draining = false;
                        self.set_busy(false);
                        self.drained.notify_waiters();
                        return;
                    }
                }
            };
            if transport.send(&next.0, next.1).await.is_err() {
                let mut q = lock(&self.queue);
                q.messages.clear();
                q.draining = false;
                self.set_busy(false);
                self.drained.notify_waiters();
                return;
            }
        }
    }
}

/// Where publications on one key go; valid while the session's routing generation is
/// `gen_`.
pub(crate) struct Route {
    gen_: u64,
    destination: Locality,
    local: Vec<Callback<Sample>>,
    /// Each face with the wire expression that names the key to it.
    faces: Vec<(Arc<Face>, WireExpr)>,
}

impl Route {
    fn is_current(&self, inner: &SessionInner) -> bool {
        self.gen_ == inner.route_gen()
    }
}

/// Where a subscription or a message came from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    Local,
    Face(&'a Face),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Face {
    pub(crate) fn zid(&self) -> ZenohId {
        self.zid
    }

    /// Queues a message for this face, in order. When the transport's queue is full,
    /// `Block` messages wait in the face's overflow queue, drained in order by one task
    /// (later messages queue behind them), and `Drop` messages are dropped.
    pub(crate) fn send(&self, msg: NetworkMessage, opts: SendOptions) {
        if let Some(ov) = self.try_send(&msg, opts) {
            self.hold(ov, msg, opts);
        }
    }

    /// [`Face::send`] for a borrowed message, cloned only if it must wait.
    pub(crate) fn send_ref(&self, msg: &NetworkMessage, opts: SendOptions) {
        if let Some(ov) = self.try_send(msg, opts) {
            self.hold(ov, msg.clone(), opts);
        }
    }

    /// Hands the message to the transport if nothing waits before it and there is
    /// room; else returns the locked overflow queue it must wait in.
    fn try_send(
        &self,
        msg: &NetworkMessage,
        opts: SendOptions,
    ) -> Option<std::sync::MutexGuard<'_, OverflowQueue>> {
        use plexus_transport::pipeline::Pushed;
        let attempt = |msg| match self.transport.try_send(msg, opts) {
            Ok(Pushed::Full) => false,
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("send to {}: {e}", self.zid);
                true
            }
        };
        // Fast path, without the lock: nothing waits. (A sender racing this one is
        // not ordered with it anyway.)
        if !self.overflow.busy.load(Ordering::Acquire) && attempt(msg) {
            return None;
        }
        let ov = lock(&self.overflow.queue);
        if !ov.draining && attempt(msg) {
            // The queue drained meanwhile and there was room.
            return None;
        }
        (opts.congestion == CongestionControl::Block).then_some(ov)
    }

    /// Queues a message behind a full transport, starting the task that drains it.
    fn hold(
        &self,
        mut ov: std::sync::MutexGuard<'_, OverflowQueue>,
        msg: NetworkMessage,
        opts: SendOptions,
    ) {
        ov.messages.push_back((msg, opts));
        if !ov.draining {
            ov.draining = true;
            self.overflow.set_busy(true);
            let overflow = self.overflow.clone();
            let transport = self.transport.clone();
            tokio::spawn(async move { overflow.drain(transport).await });
        }
    }

    /// Waits until messages queued behind a full transport have been handed to it.
    pub(crate) async fn drained(&self) {
        loop {
            if !self.overflow.busy.load(Ordering::Acquire) {
                return;
            }
            let notified = self.overflow.drained.notified();
            if !lock(&self.overflow.queue).draining {
                return;
            }
            notified.await;
        }
    }

    fn declare(&self, key: &OwnedKeyExpr) {
        let msg = {
            let mut st = lock(&self.state);
            if let Some(entry) = st.declared.get_mut(key) {
                entry.1 += 1;
                return;
            }
            st.next_decl_id += 1;
            let id = st.next_decl_id;
            st.declared.insert(key.clone(), (id, 1));
            declare_msg(DeclareBody::Subscriber {
                id,
                wire_expr: WireExpr::key(key.as_str()),
            })
        };
        self.send(msg, control());
    }

    fn undeclare(&self, key: &OwnedKeyExpr) {
        let msg = {
            let mut st = lock(&self.state);
            let Some(entry) = st.declared.get_mut(key) else {
                return;
            };
            entry.1 -= 1;
            if entry.1 > 0 {
                return;
            }
            let id = entry.0;
            st.declared.remove(key);
            declare_msg(DeclareBody::UndeclareSubscriber {
                id,
                wire_expr: Some(WireExpr::key(key.as_str())),
            })
        };
        self.send(msg, control());
    }

    fn has_subscriber_for(&self, key: &OwnedKeyExpr) -> bool {
        lock(&self.state)
            .remote_subs
            .values()
            .any(|k| k.intersects(key))
    }

    fn declare_queryable(&self, key: &OwnedKeyExpr, complete: bool) {
        let msg = {
            let mut st = lock(&self.state);
            let k = (key.clone(), complete);
            if let Some(entry) = st.declared_qbls.get_mut(&k) {
                entry.1 += 1;
                return;
            }
            st.next_decl_id += 1;
            let id = st.next_decl_id;
            st.declared_qbls.insert(k, (id, 1));
            declare_msg(DeclareBody::Queryable {
                id,
                wire_expr: WireExpr::key(key.as_str()),
                complete,
                distance: 0,
            })
        };
        self.send(msg, control());
    }

    fn undeclare_queryable(&self, key: &OwnedKeyExpr, complete: bool) {
        let msg = {
            let mut st = lock(&self.state);
            let k = (key.clone(), complete);
            let Some(entry) = st.declared_qbls.get_mut(&k) else {
                return;
            };
            entry.1 -= 1;
            if entry.1 > 0 {
                return;
            }
            let id = entry.0;
            st.declared_qbls.remove(&k);
            declare_msg(DeclareBody::UndeclareQueryable {
                id,
                wire_expr: Some(WireExpr::key(key.as_str())),
            })
        };
        self.send(msg, control());
    }

    fn has_queryable_for(&self, key: &OwnedKeyExpr, target: QueryTarget) -> bool {
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

fn declare_msg(body: DeclareBody) -> NetworkMessage {
    NetworkMessage::Declare(Declare {
        interest_id: None,
        qos: NetQos::DECLARE,
        timestamp: None,
        node_id: 0,
        body,
    })
}

/// Options for control traffic and query messages: Control priority, reliable, blocking.
pub(crate) fn control_reliable() -> SendOptions {
    control()
}

fn control() -> SendOptions {
    SendOptions {
        priority: Priority::Control,
        reliability: Reliability::Reliable,
        congestion: CongestionControl::Block,
        express: false,
    }
}

impl SessionInner {
    fn manager(&self) -> Option<&TransportManager> {
        self.manager.get()
    }

    /// May a subscription or message from `src` go to face `to`?
    fn forwards(&self, src: Source<'_>, to: &Face) -> bool {
        match src {
            Source::Local => true,
            Source::Face(from) => {
                if from.zid == to.zid {
                    return false;
                }
                match self.whatami {
                    WhatAmI::Router => true,
                    WhatAmI::Peer => {
                        from.whatami == WhatAmI::Client || to.whatami == WhatAmI::Client
                    }
                    WhatAmI::Client => false,
                }
            }
        }
    }

    fn faces(&self) -> Vec<Arc<Face>> {
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .faces
            .values()
            .cloned()
            .collect()
    }

    fn subs_changed(&self) {
        self.routes_changed();
        self.subs_changed.send_modify(|v| *v += 1);
    }

    /// Invalidates every cached route.
    fn routes_changed(&self) {
        self.route_gen.fetch_add(1, Ordering::AcqRel);
    }

    fn route_gen(&self) -> u64 {
        self.route_gen.load(Ordering::Acquire)
    }

    /// True if a subscriber that `destination` allows matches `key`.
    fn has_matching_subscriber(&self, key: &OwnedKeyExpr, destination: Locality) -> bool {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let local = destination.allows_local()
            && tables
                .subs
                .values()
                .any(|s| s.origin.allows_local() && s.key.intersects(key));
        let remote = destination.allows_remote()
            && tables.faces.values().any(|f| {
                self.forwards(Source::Local, f)
                    && (self.whatami == WhatAmI::Client || f.has_subscriber_for(key))
            });
        local || remote
    }

    fn propagate_declare(&self, src: Source<'_>, key: &OwnedKeyExpr) {
        for face in self.faces() {
            if self.forwards(src, &face) {
                face.declare(key);
            }
        }
    }

    fn propagate_undeclare(&self, src: Source<'_>, key: &OwnedKeyExpr) {
        for face in self.faces() {
            if self.forwards(src, &face) {
                face.undeclare(key);
            }
        }
    }

    fn propagate_queryable(
        &self,
        src: Source<'_>,
        key: &OwnedKeyExpr,
        complete: bool,
        declare: bool,
    ) {
        for face in self.faces() {
            if self.forwards(src, &face) {
                if declare {
                    face.declare_queryable(key, complete);
                } else {
                    face.undeclare_queryable(key, complete);
                }
            }
        }
    }

    fn remove_subscriber(&self, id: u32) {
        let removed = self
            .tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .subs
            .remove(&id);
        if let Some(sub) = removed
            && sub.origin.allows_remote()
        {
            self.propagate_undeclare(Source::Local, &sub.key);
        }
        self.subs_changed();
    }

    pub(crate) fn add_queryable(&self, q: LocalQueryable) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let remote = q.origin.allows_remote();
        let (key, complete) = (q.key.clone(), q.complete);
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .qbls
            .insert(id, Arc::new(q));
        if remote {
            self.propagate_queryable(Source::Local, &key, complete, true);
        }
        id
    }

    pub(crate) fn remove_queryable(&self, id: u32) {
        let q = self
            .tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .qbls
            .remove(&id);
        if let Some(q) = q
            && q.origin.allows_remote()
        {
            self.propagate_queryable(Source::Local, &q.key, q.complete, false);
        }
    }

    /// The local queryables and faces a query from `src` goes to.
    pub(crate) fn query_targets(
        &self,
        src: Source<'_>,
        key: &OwnedKeyExpr,
        target: QueryTarget,
        destination: Locality,
        from_remote: bool,
    ) -> (Vec<Arc<LocalQueryable>>, Vec<Arc<Face>>) {
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let matches = |k: &OwnedKeyExpr, complete: bool| match target {
            QueryTarget::AllComplete => complete && k.includes(key),
            _ => k.intersects(key),
        };
        let locals = if destination.allows_local() {
            tables
                .qbls
                .values()
                .filter(|q| q.origin.admits(from_remote) && matches(&q.key, q.complete))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let faces = if destination.allows_remote() {
            tables
                .faces
                .values()
                .filter(|f| {
                    self.forwards(src, f)
                        && (self.whatami == WhatAmI::Client && !from_remote
                            || f.has_queryable_for(key, target))
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        (locals, faces)
    }

    pub(crate) fn next_request_id(&self) -> u32 {
        let mut t = self.tables.write().unwrap_or_else(|e| e.into_inner());
        t.next_request_id = t.next_request_id.wrapping_add(1).max(1);
        t.next_request_id
    }

    pub(crate) fn pending_insert(&self, rid: u32, face: ZenohId, exec: Arc<QueryExec>) {
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .insert(rid, (face, exec));
    }

    pub(crate) fn pending_get(&self, rid: u32) -> Option<Arc<QueryExec>> {
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .get(&rid)
            .map(|(_, e)| e.clone())
    }

    pub(crate) fn pending_remove(&self, rid: u32) -> Option<Arc<QueryExec>> {
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .remove(&rid)
            .map(|(_, e)| e)
    }

    /// Forgets every request of a query that ended (timed out).
    pub(crate) fn pending_forget(&self, exec: &Arc<QueryExec>) {
        self.tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .retain(|_, (_, e)| !Arc::ptr_eq(e, exec));
    }

    /// Where a publication on `key` from `src` goes: the local subscribers (in
    /// declaration order) and the faces whose subscriptions match.
    fn compute_route(&self, src: Source<'_>, key: &OwnedKeyExpr, destination: Locality) -> Route {
        // Read first: a change while computing makes this route stale at once.
        let gen_ = self.route_gen();
        let from_remote = matches!(src, Source::Face(_));
        let tables = self.tables.read().unwrap_or_else(|e| e.into_inner());
        let local = if destination.allows_local() {
            tables
                .subs
                .values()
                .filter(|sub| sub.origin.admits(from_remote) && sub.key.intersects(key))
                .map(|sub| sub.callback.clone())
                .collect()
        } else {
            Vec::new()
        };
        let faces = if destination.allows_remote() {
            tables
                .faces
                .values()
                .filter(|f| {
                    self.forwards(src, f)
                        && (self.whatami == WhatAmI::Client && !from_remote
                            || f.has_subscriber_for(key))
                })
                .map(|f| (f.clone(), f.wire_expr_for(key)))
                .collect()
        } else {
            Vec::new()
        };
        Route {
            gen_,
            destination,
            local,
            faces,
        }
    }

    /// Sends a publication along `route`: to its faces first (one message for all of
    /// them, copied only into a queue that must hold it), then to the local subscribers
    /// (a sample is made only for them).
    #[inline(always)]
    fn deliver(
        &self,
        route: &Route,
        key: OwnedKeyExpr,
        body: PushBody,
        qos: NetQos,
        reliability: Reliability,
    ) {
        let opts = SendOptions {
            priority: qos.priority(),
            reliability,
            congestion: qos.congestion_control(),
            express: qos.is_express(),
        };
        let body = match route.faces.split_first() {
            None => body,
            Some(((first, first_expr), rest)) => {
                // One message serves every face: only its wire expression changes.
                let mut push = NetworkMessage::Push(Push {
                    wire_expr: first_expr.clone(),
                    qos,
                    timestamp: None,
                    node_id: 0,
                    body,
                });
                first.send_ref(&push, opts);
                for (f, wire_expr) in rest {
                    if let NetworkMessage::Push(p) = &mut push {
                        p.wire_expr.clone_from(wire_expr);
                    }
                    f.send_ref(&push, opts);
                }
                if route.local.is_empty() {
                    return;
                }
                match push {
                    NetworkMessage::Push(p) => p.body,
                    _ => return,
                }
            }
        };
        if !route.local.is_empty() {
            to_local(route, sample_of(key, body, qos));
        }
    }

    /// Delivers a publication locally and forwards it to the faces that want it
    /// (uncached: for occasional publications such as the admin space's).
    fn route(
        &self,
        src: Source<'_>,
        sample: Sample,
        destination: Locality,
        reliability: Reliability,
    ) {
        let route = self.compute_route(src, &sample.key_expr, destination);
        let qos = NetQos::new(sample.priority, sample.congestion_control, sample.express);
        let body = push_body_of(&sample);
        self.deliver(&route, sample.key_expr, body, qos, reliability);
    }

    fn handle_message(self: &Arc<Self>, face: &Arc<Face>, msg: NetworkMessage) {
        match msg {
            NetworkMessage::Push(mut push) => self.handle_push(face, &mut push),
            NetworkMessage::Declare(d) => self.handle_declare(face, d),
            NetworkMessage::Interest(i) => self.handle_interest(face, i),
            NetworkMessage::Request(req) => {
                match face.resolve(&req.wire_expr).map(OwnedKeyExpr::autocanonize) {
                    Some(Ok(key)) => self.handle_request(face, req, key),
                    _ => {
                        tracing::debug!(
                            "from {}: request {} with an unusable key",
                            face.zid,
                            req.id
                        );
                        // Still answer, so the querier does not wait for its timeout.
                        face.send(
                            NetworkMessage::ResponseFinal(
                                plexus_transport::wire::network::ResponseFinal {
                                    request_id: req.id,
                                    qos: NetQos::RESPONSE,
                                    timestamp: None,
                                },
                            ),
                            control(),
                        );
                    }
                }
            }
            NetworkMessage::Response(resp) => self.handle_response(face, resp),
            NetworkMessage::ResponseFinal(rf) => self.handle_response_final(rf),
            NetworkMessage::Oam(_) => {}
        }
    }

    #[inline(always)]
    fn handle_push(&self, face: &Arc<Face>, push: &mut Push) {
        let Some((key, route)) = self.rx_route(face, &push.wire_expr) else {
            return;
        };
        let ts = match &push.body {
            PushBody::Put(p) => p.timestamp,
            PushBody::Del(d) => d.timestamp,
        };
        if let (Some(hlc), Some(ts)) = (&self.hlc, ts)
            && let Err(e) = hlc.update_with_timestamp(&to_uhlc(ts))
        {
            tracing::debug!(
                "from {}: timestamp not accepted by the clock: {e}",
                face.zid
            );
        }
        if route.faces.is_empty() {
            // Local subscribers only (a subscriber's usual case): the sample is made
            // from the PUSH's parts where they lie. (Passing `&mut PushBody` through
            // `deliver` for every case measured about 10 % slower at 8 B.)
            if !route.local.is_empty() {
                to_local(&route, sample_taken(key, &mut push.body, push.qos));
            }
            return;
        }
        let body = std::mem::replace(&mut push.body, PushBody::Del(Del::default()));
        self.deliver(&route, key, body, push.qos, Reliability::Reliable);
    }

    /// The key a face's publication names, and where it goes (cached per face).
    fn rx_route(&self, face: &Arc<Face>, we: &WireExpr) -> Option<(OwnedKeyExpr, Arc<Route>)> {
        let slot = (we.scope, we.mapping == Mapping::Sender);
        {
            let mut cache = lock(&face.rx_routes);
            if let Some((last, (key, route))) = &cache.last
                && last == we
                && route.is_current(self)
            {
                return Some((key.clone(), route.clone()));
            }
            if let Some((key, route)) = cache
                .by_expr
                .get(&slot)
                .and_then(|m| m.get(we.suffix.as_str()))
                && route.is_current(self)
            {
                let found = (key.clone(), route.clone());
                cache.last = Some((we.clone(), found.clone()));
                return Some(found);
            }
        }
        let Some(full) = face.resolve(we) else {
            tracing::debug!("from {}: unknown key-expression id {}", face.zid, we.scope);
            return None;
        };
        let key = match OwnedKeyExpr::new(full) {
            Ok(k) => k,
            Err(e) => {
                tracing::debug!("from {}: dropped a publication: {e}", face.zid);
                return None;
            }
        };
        let route = Arc::new(self.compute_route(Source::Face(face), &key, Locality::Any));
        let mut cache = lock(&face.rx_routes);
        if cache.by_expr.values().map(HashMap::len).sum::<usize>() >= RX_ROUTES_MAX {
            cache.by_expr.clear();
        }
        cache.last = Some((we.clone(), (key.clone(), route.clone())));
        cache
            .by_expr
            .entry(slot)
            .or_default()
            .insert(we.suffix.clone(), (key.clone(), route.clone()));
        Some((key, route))
    }

    fn handle_declare(&self, face: &Arc<Face>, d: Declare) {
        let interest = d.interest_id;
        match d.body {
            DeclareBody::KeyExpr { id, wire_expr } => match face.resolve(&wire_expr) {
                Some(full) => {
                    lock(&face.state).remote_exprs.insert(id, full);
                    self.routes_changed();
                }
                None => tracing::debug!(
                    "from {}: key-expression id {id} refers to an unknown id",
                    face.zid
                ),
            },
            DeclareBody::UndeclareKeyExpr { id } => {
                lock(&face.state).remote_exprs.remove(&id);
                self.routes_changed();
            }
            DeclareBody::Subscriber { id, wire_expr } => {
                let Some(key) = face
                    .resolve(&wire_expr)
                    .and_then(|k| OwnedKeyExpr::autocanonize(k).ok())
                else {
                    tracing::debug!("from {}: subscriber {id} with an unusable key", face.zid);
                    return;
                };
                let old = lock(&face.state).remote_subs.insert(id, key.clone());
                if let Some(old) = old {
                    self.propagate_undeclare(Source::Face(face), &old);
                }
                self.propagate_declare(Source::Face(face), &key);
                self.subs_changed();
            }
            DeclareBody::UndeclareSubscriber { id, .. } => {
                let old = lock(&face.state).remote_subs.remove(&id);
                if let Some(old) = old {
                    self.propagate_undeclare(Source::Face(face), &old);
                    self.subs_changed();
                }
            }
            DeclareBody::Queryable {
                id,
                wire_expr,
                complete,
                ..
            } => {
                let Some(key) = face
                    .resolve(&wire_expr)
                    .and_then(|k| OwnedKeyExpr::autocanonize(k).ok())
                else {
                    tracing::debug!("from {}: queryable {id} with an unusable key", face.zid);
                    return;
                };
                let old = lock(&face.state)
                    .remote_qbls
                    .insert(id, (key.clone(), complete));
                if let Some((old, c)) = old {
                    self.propagate_queryable(Source::Face(face), &old, c, false);
                }
                self.propagate_queryable(Source::Face(face), &key, complete, true);
            }
            DeclareBody::UndeclareQueryable { id, .. } => {
                let old = lock(&face.state).remote_qbls.remove(&id);
                if let Some((old, c)) = old {
                    self.propagate_queryable(Source::Face(face), &old, c, false);
                }
            }
            DeclareBody::Token { id, wire_expr } => {
                match face
                    .resolve(&wire_expr)
                    .and_then(|k| OwnedKeyExpr::autocanonize(k).ok())
                {
                    Some(key) => self.remote_token_declared(face, interest, id, key),
                    None => tracing::debug!("from {}: token {id} with an unusable key", face.zid),
                }
            }
            DeclareBody::UndeclareToken { id, .. } => self.remote_token_undeclared(face, id),
            DeclareBody::Final => match interest {
                Some(0) => {
                    face.initial_declarations.send_replace(true);
                }
                Some(id) => self.interest_final(face, id),
                None => {}
            },
        }
    }

    fn handle_interest(&self, face: &Arc<Face>, i: Interest) {
        self.token_interest(face, &i);
        // Every subscription this face may see was declared to it when it appeared or
        // when it was made, so the current state is already there: close the interest.
        if matches!(i.mode, InterestMode::Current | InterestMode::CurrentFuture) {
            face.send(
                NetworkMessage::Declare(Declare {
                    interest_id: Some(i.id),
                    qos: NetQos::DECLARE,
                    timestamp: None,
                    node_id: 0,
                    body: DeclareBody::Final,
                }),
                control(),
            );
        }
    }

    fn face_opened(&self, face: Arc<Face>) {
        // Declare what this face should know, before anything else is sent to it.
        let (keys, qbls) = {
            let mut tables = self.tables.write().unwrap_or_else(|e| e.into_inner());
            tables.faces.insert(face.zid, face.clone());
            self.routes_changed();
            let mut keys: Vec<OwnedKeyExpr> = tables
                .subs
                .values()
                .filter(|s| s.origin.allows_remote())
                .map(|s| s.key.clone())
                .collect();
            for other in tables.faces.values() {
                if other.zid != face.zid && self.forwards(Source::Face(other), &face) {
                    keys.extend(lock(&other.state).remote_subs.values().cloned());
                }
            }
            let mut qbls: Vec<(OwnedKeyExpr, bool)> = tables
                .qbls
                .values()
                .filter(|q| q.origin.allows_remote())
                .map(|q| (q.key.clone(), q.complete))
                .collect();
            for other in tables.faces.values() {
                if other.zid != face.zid && self.forwards(Source::Face(other), &face) {
                    qbls.extend(lock(&other.state).remote_qbls.values().cloned());
                }
            }
            (keys, qbls)
        };
        for k in &keys {
            face.declare(k);
        }
        for (k, complete) in &qbls {
            face.declare_queryable(k, *complete);
        }
        self.exprs_to_new_face(&face);
        self.liveliness_to_new_face(&face);
        if self.whatami != WhatAmI::Client && face.whatami != WhatAmI::Client {
            // Peers expect the end of the initial declarations (interest 0).
            face.send(
                NetworkMessage::Declare(Declare {
                    interest_id: Some(0),
                    qos: NetQos::DECLARE,
                    timestamp: None,
                    node_id: 0,
                    body: DeclareBody::Final,
                }),
                control(),
            );
        }
    }

    fn face_closed(&self, zid: ZenohId) {
        let face = self
            .tables
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .faces
            .remove(&zid);
        if let Some(face) = face {
            self.routes_changed();
            let (subs, qbls): (Vec<OwnedKeyExpr>, Vec<(OwnedKeyExpr, bool)>) = {
                let mut st = lock(&face.state);
                (
                    st.remote_subs.drain().map(|(_, k)| k).collect(),
                    st.remote_qbls.drain().map(|(_, q)| q).collect(),
                )
            };
            for k in &subs {
                self.propagate_undeclare(Source::Face(&face), k);
            }
            self.subs_changed();
            for (k, c) in &qbls {
                self.propagate_queryable(Source::Face(&face), k, *c, false);
            }
            self.liveliness_face_closed(&face);
            // Requests that face will never answer now.
            let stranded: Vec<Arc<QueryExec>> = {
                let mut t = self.tables.write().unwrap_or_else(|e| e.into_inner());
                let rids: Vec<u32> = t
                    .pending
                    .iter()
                    .filter(|(_, (z, _))| *z == zid)
                    .map(|(r, _)| *r)
                    .collect();
                rids.iter()
                    .filter_map(|r| t.pending.remove(r))
                    .map(|(_, e)| e)
                    .collect()
            };
            for exec in stranded {
                exec.done_one();
            }
        }
    }

    /// Delivers admin-space samples to this session's subscribers only.
    fn publish_admin(&self, samples: Vec<Sample>) {
        for sample in samples {
            self.route(
                Source::Local,
                sample,
                Locality::SessionLocal,
                Reliability::Reliable,
            );
        }
    }

    pub(crate) async fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(m) = self.manager() {
            m.close().await;
        }
    }
}

fn to_uhlc(ts: wire::Timestamp) -> uhlc::Timestamp {
    let id = NonZeroU128::new(ts.id.to_u128()).map(uhlc::ID::from);
    // A zid is never zero, so the fallback is unreachable; keep it total anyway.
    uhlc::Timestamp::new(
        uhlc::NTP64(ts.time),
        id.unwrap_or_else(|| uhlc::ID::from(NonZeroU128::MIN)),
    )
}

fn to_wire_ts(ts: &uhlc::Timestamp) -> Option<wire::Timestamp> {
    let id = ZenohId::new(u128::from_le_bytes(ts.get_id().to_le_bytes()))?;
    Some(wire::Timestamp {
        time: ts.get_time().as_u64(),
        id,
    })
}

/// A sample built from a received PUT or DEL.
#[inline(always)]
pub(crate) fn sample_of(key: OwnedKeyExpr, mut body: PushBody, qos: NetQos) -> Sample {
    sample_taken(key, &mut body, qos)
}

/// The sample a PUT or DEL carries, taking its payload and attachment out of `body`.
#[inline(always)]
fn sample_taken(key: OwnedKeyExpr, body: &mut PushBody, qos: NetQos) -> Sample {
    let (kind, payload, encoding, timestamp, attachment) = match body {
        PushBody::Put(p) => (
            SampleKind::Put,
            std::mem::take(&mut p.payload),
            Encoding::from_wire(std::mem::take(&mut p.encoding)),
            p.timestamp,
            p.attachment.take(),
        ),
        PushBody::Del(d) => (
            SampleKind::Delete,
            Bytes::new(),
            Encoding::default(),
            d.timestamp,
            d.attachment.take(),
        ),
    };
    Sample {
        key_expr: key,
        payload,
        kind,
        encoding,
        timestamp: timestamp.map(to_uhlc),
        attachment,
        priority: qos.priority(),
        congestion_control: qos.congestion_control(),
        express: qos.is_express(),
    }
}

/// Hands a sample to a route's local subscribers, in declaration order (cloned for
/// all but the last).
#[inline(always)]
fn to_local(route: &Route, sample: Sample) {
    if let Some((last, rest)) = route.local.split_last() {
        for cb in rest {
            cb(sample.clone());
        }
        last(sample);
    }
}

/// The PUT or DEL that carries a sample.
pub(crate) fn push_body_of(sample: &Sample) -> PushBody {
    let timestamp = sample.timestamp.as_ref().and_then(to_wire_ts);
    match sample.kind {
        SampleKind::Put => PushBody::Put(Put {
            timestamp,
            encoding: sample.encoding.to_wire(),
            source_info: None,
            attachment: sample.attachment.clone(),
            payload: sample.payload.clone(),
        }),
        SampleKind::Delete => PushBody::Del(Del {
            timestamp,
            source_info: None,
            attachment: sample.attachment.clone(),
        }),
    }
}

/// Receives new transports for a session.
struct Handler(Weak<SessionInner>);

/// Receives one face's messages and events.
struct FaceHandler {
    session: Weak<SessionInner>,
    face: Arc<Face>,
}

impl TransportHandler for Handler {
    fn opened(&self, transport: &Transport) -> Arc<dyn PeerHandler> {
        let face = Arc::new(Face {
            zid: transport.zid(),
            whatami: transport.whatami(),
            transport: transport.clone(),
            state: Mutex::new(FaceState::default()),
            overflow: Arc::new(Overflow::new(
                self.0
                    .upgrade()
                    .map(|s| s.held_faces.clone())
                    .unwrap_or_default(),
            )),
            initial_declarations: tokio::sync::watch::channel(false).0,
            exprs: RwLock::new(keyexprs::ExprIds::default()),
            rx_routes: Mutex::new(RxRoutes::default()),
        });
        if let Some(s) = self.0.upgrade() {
            s.face_opened(face.clone());
            let samples = s.admin.transport_opened(transport);
            s.publish_admin(samples);
        }
        Arc::new(FaceHandler {
            session: self.0.clone(),
            face,
        })
    }
}

impl PeerHandler for FaceHandler {
    fn message(&self, msg: NetworkMessage) {
        if let Some(s) = self.session.upgrade() {
            s.handle_message(&self.face, msg);
        }
    }

    fn push(&self, push: &mut Push) {
        if let Some(s) = self.session.upgrade() {
            s.handle_push(&self.face, push);
        }
    }

    /// The other faces whose queues hold messages back: reading more from this face
    /// waits for them (a router passes its slowest subscriber's pace back upstream).
    fn backlog(&self) -> Option<Backlog> {
        let s = self.session.upgrade()?;
        if s.held_faces.load(Ordering::Acquire) == 0 {
            return None;
        }
        let held: Vec<Arc<Face>> = s
            .faces()
            .into_iter()
            .filter(|f| f.zid != self.face.zid && f.overflow.busy.load(Ordering::Acquire))
            .collect();
        if held.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            for f in held {
                f.drained().await;
            }
        }))
    }

    fn event(&self, event: TransportEvent) {
        let Some(s) = self.session.upgrade() else {
            return;
        };
        let zid = self.face.zid;
        let samples = match event {
            TransportEvent::LinkAdded(link) => s.admin.link_added(zid, &link),
            TransportEvent::LinkRemoved { link, cause } => s.admin.link_removed(zid, &link, &cause),
            TransportEvent::Closed { cause } => {
                s.face_closed(zid);
                s.admin.transport_closed(zid, &cause)
            }
            _ => Vec::new(),
        };
        s.publish_admin(samples);
    }
}

impl Session {
    async fn open(config: Config) -> Result<Session, SessionError> {
        let zid = config.id().unwrap_or_else(ZenohId::random);
        let whatami = config.mode();
        let hlc = config.timestamping().then(|| {
            let id = NonZeroU128::new(zid.to_u128()).map(uhlc::ID::from);
            let mut b = uhlc::HLCBuilder::new();
            if let Some(id) = id {
                b = b.with_id(id);
            }
            b.build()
        });
        if config.scouting_multicast_enabled() == Some(true) {
            tracing::warn!("multicast scouting is not supported by Plexus; use connect/endpoints");
        }
        let inner = Arc::new(SessionInner {
            zid,
            whatami,
            hlc,
            manager: OnceLock::new(),
            tables: RwLock::new(Tables::default()),
            next_id: AtomicU32::new(1),
            closed: AtomicBool::new(false),
            subs_changed: tokio::sync::watch::channel(0).0,
            route_gen: AtomicU64::new(0),
            held_faces: Arc::new(AtomicUsize::new(0)),
            admin: crate::admin::Admin::new(zid),
            config: config.clone(),
        });
        // The admin space answers this session only.
        for key in crate::admin::queryable_keys(&zid) {
            let weak = Arc::downgrade(&inner);
            let key = OwnedKeyExpr::new(key)?;
            inner.add_queryable(LocalQueryable {
                key,
                complete: true,
                callback: Arc::new(move |q: crate::query::Query| {
                    if let Some(s) = weak.upgrade() {
                        let transports = s.manager().map(|m| m.transports()).unwrap_or_default();
                        s.admin.answer(&q, &transports);
                    }
                }),
                origin: Locality::SessionLocal,
            });
        }
        let manager = TransportManager::new(
            config.transport_config(zid),
            Arc::new(Handler(Arc::downgrade(&inner))),
        );
        let _ = inner.manager.set(manager.clone());
        for ep in config.listen_endpoints() {
            manager.listen(&ep).await?;
        }
        let retry = config.connect_retry();
        let mut connected = Vec::new();
        for ep in config.connect_endpoints() {
            match manager.connect(ep).await {
                Ok(t) => connected.push(t),
                Err(e) if retry.exit_on_failure => {
                    manager.close().await;
                    return Err(e.into());
                }
                Err(e) => {
                    tracing::info!("connect to {ep} failed ({e}); retrying in the background");
                    let m = manager.clone();
                    let ep = ep.clone();
                    let weak = Arc::downgrade(&inner);
                    tokio::spawn(async move {
                        let mut period = retry.period_init;
                        let started = tokio::time::Instant::now();
                        loop {
                            tokio::time::sleep(period).await;
                            if weak
                                .upgrade()
                                .is_none_or(|s| s.closed.load(Ordering::Acquire))
                            {
                                return;
                            }
                            match m.connect(&ep).await {
                                Ok(_) => return,
                                Err(e) => tracing::debug!("connect to {ep}: {e}"),
                            }
                            if retry.timeout.is_some_and(|t| started.elapsed() >= t) {
                                tracing::warn!("giving up connecting to {ep}");
                                return;
                            }
                            period = retry.next_period(period);
                        }
                    });
                }
            }
        }
        // Like Zenoh, return once the peers we connected to have told us what they
        // declared, so that a put or get right after open reaches them.
        if whatami != WhatAmI::Client {
            let waits: Vec<_> = connected
                .iter()
                .filter(|t| t.whatami() != WhatAmI::Client)
                .filter_map(|t| {
                    let tables = inner.tables.read().unwrap_or_else(|e| e.into_inner());
                    tables
                        .faces
                        .get(&t.zid())
                        .map(|f| f.initial_declarations.subscribe())
                })
                .collect();
            let all = async {
                for mut w in waits {
                    let _ = w.wait_for(|done| *done).await;
                }
            };
            if tokio::time::timeout(std::time::Duration::from_secs(1), all)
                .await
                .is_err()
            {
                tracing::debug!("some peers did not finish their initial declarations within 1 s");
            }
        }
        Ok(Session {
            _guard: Arc::new(CloseGuard(inner.clone())),
            inner,
        })
    }

    /// This session's id.
    pub fn zid(&self) -> ZenohId {
        self.inner.zid
    }

    /// What the session knows of its connectivity (typed; the admin space serves the
    /// same data as JSON under `@/session/<zid>/**`).
    pub fn info(&self) -> crate::admin::SessionInfo<'_> {
        crate::admin::SessionInfo { session: self }
    }

    /// This session's mode.
    pub fn mode(&self) -> WhatAmI {
        self.inner.whatami
    }

    /// The locators the session listens on (ports resolved).
    pub fn locators(&self) -> Vec<plexus_link::Locator> {
        self.inner
            .manager()
            .map(|m| m.locators())
            .unwrap_or_default()
    }

    /// The transports the session has.
    pub fn transports(&self) -> Vec<Transport> {
        self.inner
            .manager()
            .map(|m| m.transports())
            .unwrap_or_default()
    }

    /// A new timestamp from the session's clock, if timestamping is on.
    pub fn new_timestamp(&self) -> Option<uhlc::Timestamp> {
        self.inner.hlc.as_ref().map(|h| h.new_timestamp())
    }

    /// Closes every transport; later operations fail with [`SessionError::Closed`].
    pub async fn close(&self) {
        self.inner.close().await;
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Publishes `payload` on `key`.
    pub fn put(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
        payload: impl Into<Bytes>,
    ) -> PutBuilder<'_> {
        PutBuilder::new(
            self,
            key.try_into().map_err(Into::into),
            SampleKind::Put,
            payload.into(),
        )
    }

    /// Publishes the deletion of `key`.
    pub fn delete(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> PutBuilder<'_> {
        PutBuilder::new(
            self,
            key.try_into().map_err(Into::into),
            SampleKind::Delete,
            Bytes::new(),
        )
    }

    /// Declares a subscriber on `key` (a bounded FIFO channel unless `.callback()` or
    /// `.with()` says otherwise).
    pub fn declare_subscriber(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> SubscriberBuilder<'_, FifoChannel> {
        SubscriberBuilder {
            session: self,
            key: key.try_into().map_err(Into::into),
            handler: FifoChannel::default(),
            origin: Locality::Any,
        }
    }

    /// Declares a publisher on `key` with fixed options.
    pub fn declare_publisher(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> Result<Publisher, SessionError> {
        let key = key.try_into().map_err(Into::into)?;
        self.check_open()?;
        // Like Zenoh, a publisher declares its key once so that publications carry an id.
        self.inner.declare_expr(&key);
        Ok(Publisher {
            session: self.clone(),
            key,
            options: PutOptions::default(),
            route: Mutex::new(None),
        })
    }

    /// Sends a query; `.await` the builder to get the reply handler (a bounded FIFO
    /// channel unless `.callback()` or `.with()` says otherwise). The handler's channel
    /// closes when every target has answered or the timeout has passed.
    pub fn get(&self, selector: &str) -> GetBuilder<'_, FifoChannel> {
        GetBuilder::new(self, selector)
    }

    /// Declares a queryable on `key`.
    pub fn declare_queryable(
        &self,
        key: impl TryInto<OwnedKeyExpr, Error = impl Into<SessionError>>,
    ) -> QueryableBuilder<'_, FifoChannel> {
        QueryableBuilder {
            session: self,
            key: key.try_into().map_err(Into::into),
            complete: false,
            origin: Locality::Any,
            handler: FifoChannel::default(),
        }
    }

    pub(crate) fn inner(&self) -> &Arc<SessionInner> {
        &self.inner
    }

    pub(crate) fn check_open(&self) -> Result<(), SessionError> {
        if self.is_closed() {
            Err(SessionError::Closed)
        } else {
            Ok(())
        }
    }

    /// Publishes on `key` (routed now); with `Block`, then waits until no face it went
    /// to holds messages back, so a publisher faster than the network is slowed down,
    /// never reordered.
    async fn publish(
        &self,
        key: OwnedKeyExpr,
        kind: SampleKind,
        payload: Bytes,
        o: &PutOptions,
    ) -> Result<(), SessionError> {
        let route = self.inner.compute_route(Source::Local, &key, o.destination);
        self.publish_now(&route, key, kind, payload, o)?;
        if o.congestion_control == CongestionControl::Block {
            held_back(&route).await;
        }
        Ok(())
    }

    /// Publishes along `route` without waiting.
    fn publish_now(
        &self,
        route: &Route,
        key: OwnedKeyExpr,
        kind: SampleKind,
        payload: Bytes,
        o: &PutOptions,
    ) -> Result<(), SessionError> {
        self.check_open()?;
        let timestamp = o
            .timestamp
            .or_else(|| self.new_timestamp())
            .as_ref()
            .and_then(to_wire_ts);
        let body = match kind {
            SampleKind::Put => PushBody::Put(Put {
                timestamp,
                encoding: o.encoding.to_wire(),
                source_info: None,
                attachment: o.attachment.clone(),
                payload,
            }),
            SampleKind::Delete => PushBody::Del(Del {
                timestamp,
                source_info: None,
                attachment: o.attachment.clone(),
            }),
        };
        let qos = NetQos::new(o.priority, o.congestion_control, o.express);
        self.inner.deliver(route, key, body, qos, o.reliability);
        Ok(())
    }
}

/// Waits while any face of `route` holds messages back in its overflow queue (the
/// usual case, none does, costs one atomic load per face and no waiting).
async fn held_back(route: &Route) {
    for (f, _) in &route.faces {
        if f.overflow.busy.load(Ordering::Acquire) {
            f.drained().await;
        }
    }
}

/// Options of a publication.
#[derive(Clone, Debug)]
struct PutOptions {
    encoding: Encoding,
    attachment: Option<Bytes>,
    timestamp: Option<uhlc::Timestamp>,
    priority: Priority,
    congestion_control: CongestionControl,
    express: bool,
    reliability: Reliability,
    destination: Locality,
}

impl Default for PutOptions {
    fn default() -> Self {
        PutOptions {
            encoding: Encoding::default(),
            attachment: None,
            timestamp: None,
            priority: Priority::Data,
            congestion_control: CongestionControl::Drop,
            express: false,
            reliability: Reliability::Reliable,
            destination: Locality::Any,
        }
    }
}

macro_rules! put_options_setters {
    () => {
        /// Sets the payload's encoding.
        pub fn encoding(mut self, e: impl Into<Encoding>) -> Self {
            self.options.encoding = e.into();
            self
        }
        /// Attaches user bytes.
        pub fn attachment(mut self, a: impl Into<Bytes>) -> Self {
            self.options.attachment = Some(a.into());
            self
        }
        /// Sets the priority.
        pub fn priority(mut self, p: Priority) -> Self {
            self.options.priority = p;
            self
        }
        /// Sets the congestion control (`Drop` by default).
        pub fn congestion_control(mut self, c: CongestionControl) -> Self {
            self.options.congestion_control = c;
            self
        }
        /// Sends without waiting to fill a batch.
        pub fn express(mut self, e: bool) -> Self {
            self.options.express = e;
            self
        }
        /// Sets the reliability (`Reliable` by default).
        pub fn reliability(mut self, r: Reliability) -> Self {
            self.options.reliability = r;
            self
        }
        /// Restricts where the publication goes.
        pub fn allowed_destination(mut self, d: Locality) -> Self {
            self.options.destination = d;
            self
        }
    };
}

/// A publication being prepared; `.await` it to send.
#[must_use = "a put does nothing until awaited"]
pub struct PutBuilder<'a> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    kind: SampleKind,
    payload: Bytes,
    options: PutOptions,
}

impl std::fmt::Debug for PutBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutBuilder")
            .field("key", &self.key)
            .finish()
    }
}

impl<'a> PutBuilder<'a> {
    fn new(
        session: &'a Session,
        key: Result<OwnedKeyExpr, SessionError>,
        kind: SampleKind,
        payload: Bytes,
    ) -> Self {
        PutBuilder {
            session,
            key,
            kind,
            payload,
            options: PutOptions::default(),
        }
    }

    put_options_setters!();

    /// Sets the timestamp (else the session's clock stamps it when timestamping is on).
    pub fn timestamp(mut self, ts: uhlc::Timestamp) -> Self {
        self.options.timestamp = Some(ts);
        self
    }
}

impl<'a> std::future::IntoFuture for PutBuilder<'a> {
    type Output = Result<(), SessionError>;
    type IntoFuture =
        std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send + 'a>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let key = self.key?;
            self.session
                .publish(key, self.kind, self.payload, &self.options)
                .await
        })
    }
}

/// A publisher with fixed key and options.
pub struct Publisher {
    session: Session,
    key: OwnedKeyExpr,
    options: PutOptions,
    /// Where the last publication went, reused while the routing generation holds.
    route: Mutex<Option<Arc<Route>>>,
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.session.inner.undeclare_expr(&self.key);
    }
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("key", &self.key).finish()
    }
}

impl Publisher {
    put_options_setters!();

    /// The publisher's key.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// True when at least one subscriber the publisher may reach matches its key:
    /// local ones, and remote ones whose declarations arrived (a client counts its
    /// router as matching).
    pub fn matching_status(&self) -> bool {
        self.session
            .inner
            .has_matching_subscriber(&self.key, self.options.destination)
    }

    /// Waits until [`Publisher::matching_status`] differs from `current`, and returns it.
    /// Returns `current` if the session closes first.
    pub async fn matching_changed(&self, current: bool) -> bool {
        let mut changes = self.session.inner.subs_changed.subscribe();
        loop {
            let now = self.matching_status();
            if now != current {
                return now;
            }
            if changes.changed().await.is_err() {
                return current;
            }
        }
    }

    /// Publishes a value.
    pub fn put(
        &self,
        payload: impl Into<Bytes>,
    ) -> impl Future<Output = Result<(), SessionError>> + Send + '_ {
        self.publish(SampleKind::Put, payload.into())
    }

    /// Publishes now; then, with `Block`, waits while a face holds messages back.
    /// (The future stays small: it is built for every publication.)
    async fn publish(&self, kind: SampleKind, payload: Bytes) -> Result<(), SessionError> {
        let route = self.route();
        self.session
            .publish_now(&route, self.key.clone(), kind, payload, &self.options)?;
        if self.options.congestion_control == CongestionControl::Block {
            held_back(&route).await;
        }
        Ok(())
    }

    /// Publishes a value now, without waiting: usable from a callback. With `Block`,
    /// a message that finds a transport's queue full waits in order behind it (the
    /// face's overflow queue) instead of slowing this caller down; with `Drop` it is
    /// dropped.
    pub fn try_put(&self, payload: impl Into<Bytes>) -> Result<(), SessionError> {
        let route = self.route();
        self.session.publish_now(
            &route,
            self.key.clone(),
            SampleKind::Put,
            payload.into(),
            &self.options,
        )
    }

    /// Publishes a deletion.
    pub async fn delete(&self) -> Result<(), SessionError> {
        self.publish(SampleKind::Delete, Bytes::new()).await
    }

    /// The cached route, recomputed when subscriptions or faces changed.
    fn route(&self) -> Arc<Route> {
        let inner = &self.session.inner;
        let mut cached = lock(&self.route);
        match &*cached {
            Some(r) if r.is_current(inner) && r.destination == self.options.destination => {
                r.clone()
            }
            _ => {
                let r = Arc::new(inner.compute_route(
                    Source::Local,
                    &self.key,
                    self.options.destination,
                ));
                *cached = Some(r.clone());
                r
            }
        }
    }
}

/// A subscriber being declared; `.await` it.
#[must_use = "a subscriber is declared only when awaited"]
pub struct SubscriberBuilder<'a, H> {
    session: &'a Session,
    key: Result<OwnedKeyExpr, SessionError>,
    handler: H,
    origin: Locality,
}

impl<H> std::fmt::Debug for SubscriberBuilder<'_, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberBuilder")
            .field("key", &self.key)
            .finish()
    }
}

impl<'a, H> SubscriberBuilder<'a, H> {
    /// Receives samples through `f`, called on the task that delivers them.
    pub fn callback<F: Fn(Sample) + Send + Sync + 'static>(self, f: F) -> SubscriberBuilder<'a, F> {
        self.with(f)
    }

    /// Receives samples through `handler` (e.g. [`FifoChannel`], [`crate::handlers::RingChannel`]).
    pub fn with<H2>(self, handler: H2) -> SubscriberBuilder<'a, H2> {
        SubscriberBuilder {
            session: self.session,
            key: self.key,
            handler,
            origin: self.origin,
        }
    }

    /// Restricts where samples may come from.
    pub fn allowed_origin(mut self, origin: Locality) -> Self {
        self.origin = origin;
        self
    }
}

impl<'a, H> std::future::IntoFuture for SubscriberBuilder<'a, H>
where
    H: IntoHandler<Sample>,
{
    type Output = Result<Subscriber<H::Handler>, SessionError>;
    type IntoFuture = std::future::Ready<Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        std::future::ready((|| {
            self.session.check_open()?;
            let key = self.key?;
            let (callback, handler) = self.handler.into_handler();
            let inner = &self.session.inner;
            let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
            inner
                .tables
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .subs
                .insert(
                    id,
                    LocalSub {
                        key: key.clone(),
                        callback,
                        origin: self.origin,
                    },
                );
            if self.origin.allows_remote() {
                inner.propagate_declare(Source::Local, &key);
            }
            inner.subs_changed();
            Ok(Subscriber {
                key,
                handler,
                handle: Undeclarer::new(inner, id, SessionInner::remove_subscriber),
            })
        })())
    }
}

/// Undeclares one declared entity (subscriber, queryable, token…) exactly once: when
/// asked, or when its handle is dropped.
pub(crate) struct Undeclarer {
    session: Weak<SessionInner>,
    id: u32,
    undo: fn(&SessionInner, u32),
    done: bool,
}

impl Undeclarer {
    pub(crate) fn new(session: &Arc<SessionInner>, id: u32, undo: fn(&SessionInner, u32)) -> Self {
        Undeclarer {
            session: Arc::downgrade(session),
            id,
            undo,
            done: false,
        }
    }

    pub(crate) fn undeclare(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        if let Some(inner) = self.session.upgrade() {
            (self.undo)(&inner, self.id);
        }
    }
}

impl Drop for Undeclarer {
    fn drop(&mut self) {
        self.undeclare();
    }
}

/// A declared subscriber. Dropping it undeclares it, locally and remotely.
pub struct Subscriber<H> {
    key: OwnedKeyExpr,
    handler: H,
    handle: Undeclarer,
}

impl<H> std::fmt::Debug for Subscriber<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("key", &self.key)
            .finish()
    }
}

impl<H> Subscriber<H> {
    /// The subscribed key expression.
    pub fn key_expr(&self) -> &OwnedKeyExpr {
        &self.key
    }

    /// The receiving handle (e.g. a `flume::Receiver<Sample>`).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// Undeclares the subscriber now.
    pub async fn undeclare(mut self) -> Result<(), SessionError> {
        self.handle.undeclare();
        Ok(())
    }
}

impl<H> std::ops::Deref for Subscriber<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handler
    }
}
