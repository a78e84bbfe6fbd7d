//! The dispatcher: the routing state of one session, and what it does with the network
//! messages that arrive from a face and with faces opening and closing.
//!
//! Who receives what is decided by [`Dispatcher::forwards`], from the session's mode and
//! the kinds of the two processes (see the module documentation of `routing`). A mesh of
//! routers will decide per destination from its trees instead; that decision belongs
//! there and nowhere else.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use plexus_transport::wire::network::{
    Declare, DeclareBody, Interest, InterestMode, NetworkMessage,
};
use plexus_transport::wire::{WhatAmI, ZenohId};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::face::{Face, Source, control, declare_msg, response_final};
use super::limits::log_refusal;
use super::mesh::{Mesh, new_mesh};
use super::pending::Pending;
use super::query_exec::QueryExec;
use super::tables::Tables;
use crate::acl::{AclMessage, Flow};
use crate::key_expr::OwnedKeyExpr;
use crate::sync::{lock, read, write};

/// The routing state of one session: its tables and faces, and the routing generation.
pub(crate) struct Dispatcher {
    pub(crate) zid: ZenohId,
    pub(crate) whatami: WhatAmI,
    /// The session's clock when timestamping is on: it stamps what arrives without a
    /// timestamp, and received timestamps update it.
    pub(crate) hlc: Option<super::clock::Hlc>,
    /// `timestamping/drop_future_timestamp`: drop, rather than restamp, what carries a
    /// timestamp too far in the future.
    pub(super) drop_future_timestamp: bool,
    /// The timeout of a query that a face sent without one.
    pub(super) queries_default_timeout: Duration,
    pub(super) tables: RwLock<Tables>,
    /// Ids of this session's subscribers, queryables, tokens and liveliness subscribers.
    pub(super) next_id: AtomicU32,
    /// Bumped whenever a subscription appears or goes, locally or remotely.
    subs_changed: tokio::sync::watch::Sender<u64>,
    /// The routing generation: bumped by anything that can change where a publication
    /// goes (subscriptions, faces, key-expression ids); cached routes carry the one they
    /// were computed in.
    route_gen: AtomicU64,
    /// The session's own tasks (connectors, query timeouts); [`Dispatcher::end_tasks`]
    /// ends them.
    tasks: TaskTracker,
    cancel: CancellationToken,
    /// Routers only: the linkstate graph and the declarations of the mesh (`mesh.rs`).
    pub(super) mesh: Option<std::sync::Mutex<Mesh>>,
}

impl Dispatcher {
    /// The same, dropping (`true`) or restamping (`false`, the default) what carries a
    /// timestamp too far in the future.
    pub(crate) fn with_drop_future_timestamp(mut self, drop: bool) -> Self {
        self.drop_future_timestamp = drop;
        self
    }

    /// The routing state of a session `zid` in mode `whatami`, with no faces yet.
    pub(crate) fn new(
        zid: ZenohId,
        whatami: WhatAmI,
        hlc: Option<uhlc::HLC>,
        queries_default_timeout: Duration,
    ) -> Self {
        Dispatcher {
            zid,
            whatami,
            hlc: hlc.map(super::clock::Hlc::new),
            drop_future_timestamp: false,
            queries_default_timeout,
            tables: RwLock::new(Tables::default()),
            next_id: AtomicU32::new(1),
            subs_changed: tokio::sync::watch::channel(0).0,
            route_gen: AtomicU64::new(0),
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            mesh: (whatami == WhatAmI::Router).then(|| new_mesh(zid)),
        }
    }

    /// Runs `f` as a task of this session: it ends when the session closes.
    pub(crate) fn spawn<F>(&self, f: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let cancel = self.cancel.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = f => {}
            }
        });
    }

    /// Runs `f` after `delay`, or at once when the session closes (a timeout that a
    /// closing session ends early), as a task of this session.
    pub(crate) fn after(&self, delay: Duration, f: impl FnOnce() + Send + 'static) {
        let cancel = self.cancel.clone();
        // The deadline counts from now, not from when the task first runs.
        let deadline = tokio::time::Instant::now() + delay;
        self.tasks.spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
            f();
        });
    }

    /// Ends the session's tasks (timers fire at once, others stop); returns once every
    /// one has ended.
    pub(crate) async fn end_tasks(&self) {
        self.cancel.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }

    /// The face of the remote process `zid`, if it has one.
    pub(crate) fn face(&self, zid: &ZenohId) -> Option<Arc<Face>> {
        read(&self.tables).faces.get(zid).cloned()
    }

    /// Changes whenever a subscription appears or goes, locally or remotely.
    pub(crate) fn subs_watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.subs_changed.subscribe()
    }

    /// May a subscription or message from `src` go to face `to`? (Never to another
    /// router of the mesh: what goes there follows the trees, see `mesh.rs`.)
    pub(crate) fn forwards(&self, src: Source<'_>, to: &Face) -> bool {
        if self.is_mesh_face(to) {
            return false;
        }
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

    pub(crate) fn faces(&self) -> Vec<Arc<Face>> {
        read(&self.tables).faces.values().cloned().collect()
    }

    pub(super) fn subs_changed(&self) {
        self.routes_changed();
        self.subs_changed.send_modify(|v| *v += 1);
    }

    /// Invalidates every cached route.
    pub(super) fn routes_changed(&self) {
        self.route_gen.fetch_add(1, Ordering::AcqRel);
    }

    pub(super) fn route_gen(&self) -> u64 {
        self.route_gen.load(Ordering::Acquire)
    }

    /// A network message (other than a PUSH read in place) arrived from `face`.
    pub(crate) fn handle_message(self: &Arc<Self>, face: &Arc<Face>, msg: NetworkMessage) {
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
                        face.send(response_final(req.id), control());
                    }
                }
            }
            NetworkMessage::Response(resp) => self.handle_response(face, resp),
            NetworkMessage::ResponseFinal(rf) => self.handle_response_final(face, rf),
            NetworkMessage::Oam(oam) => {
                if self.is_mesh_face(face) {
                    self.mesh_oam(face, &oam);
                }
            }
        }
    }

    fn handle_declare(&self, face: &Arc<Face>, d: Declare) {
        let interest = d.interest_id;
        if self.is_mesh_face(face)
            && !matches!(
                d.body,
                DeclareBody::KeyExpr { .. } | DeclareBody::UndeclareKeyExpr { .. }
            )
        {
            // Sourced declarations, keyed by the router they come from (its NodeId).
            self.mesh_declare(face, d.node_id, d.body);
            return;
        }
        match d.body {
            DeclareBody::KeyExpr { id, wire_expr } => match face.resolve(&wire_expr) {
                Some(full) => {
                    let mut st = lock(&face.state);
                    let old = st.remote_exprs.get(&id).map(String::len);
                    if let Err(why) = st.budget.admit(old, full.len()) {
                        let what = format_args!("key-expression id {id}");
                        log_refusal(&face.zid, &mut st.budget, what, &full, why);
                        return;
                    }
                    st.remote_exprs.insert(id, full);
                    drop(st);
                    self.routes_changed();
                }
                None => tracing::debug!(
                    "from {}: key-expression id {id} refers to an unknown id",
                    face.zid
                ),
            },
            DeclareBody::UndeclareKeyExpr { id } => {
                let mut st = lock(&face.state);
                if let Some(old) = st.remote_exprs.remove(&id) {
                    st.budget.release(old.len());
                }
                drop(st);
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
                if !face.acl_allows(Flow::Ingress, AclMessage::DeclareSubscriber, &key) {
                    tracing::debug!(
                        "from {}: access control denied subscriber on {key}",
                        face.zid
                    );
                    return;
                }
                let old = {
                    let mut st = lock(&face.state);
                    let old = st.remote_subs.get(&id).map(|k| k.len());
                    if let Err(why) = st.budget.admit(old, key.len()) {
                        let what = format_args!("subscriber {id}");
                        log_refusal(&face.zid, &mut st.budget, what, &key, why);
                        return;
                    }
                    st.remote_subs.insert(id, key.clone())
                };
                if let Some(old) = old {
                    self.propagate_undeclare(Source::Face(face), &old);
                }
                self.propagate_declare(Source::Face(face), &key);
                self.subs_changed();
            }
            DeclareBody::UndeclareSubscriber { id, .. } => {
                let old = {
                    let mut st = lock(&face.state);
                    let old = st.remote_subs.remove(&id);
                    if let Some(old) = &old {
                        st.budget.release(old.len());
                    }
                    old
                };
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
                if !face.acl_allows(Flow::Ingress, AclMessage::DeclareQueryable, &key) {
                    tracing::debug!(
                        "from {}: access control denied queryable on {key}",
                        face.zid
                    );
                    return;
                }
                let old = {
                    let mut st = lock(&face.state);
                    let old = st.remote_qbls.get(&id).map(|(k, _)| k.len());
                    if let Err(why) = st.budget.admit(old, key.len()) {
                        let what = format_args!("queryable {id}");
                        log_refusal(&face.zid, &mut st.budget, what, &key, why);
                        return;
                    }
                    st.remote_qbls.insert(id, (key.clone(), complete))
                };
                if let Some((old, c)) = old {
                    self.propagate_queryable(Source::Face(face), &old, c, false);
                }
                self.propagate_queryable(Source::Face(face), &key, complete, true);
            }
            DeclareBody::UndeclareQueryable { id, .. } => {
                let old = {
                    let mut st = lock(&face.state);
                    let old = st.remote_qbls.remove(&id);
                    if let Some((old, _)) = &old {
                        st.budget.release(old.len());
                    }
                    old
                };
                if let Some((old, c)) = old {
                    self.propagate_queryable(Source::Face(face), &old, c, false);
                }
            }
            DeclareBody::Token { id, wire_expr } => {
                match face
                    .resolve(&wire_expr)
                    .and_then(|k| OwnedKeyExpr::autocanonize(k).ok())
                {
                    Some(key)
                        if !face.acl_allows(Flow::Ingress, AclMessage::LivelinessToken, &key) =>
                    {
                        tracing::debug!("from {}: access control denied token on {key}", face.zid);
                    }
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
            face.send(declare_msg(Some(i.id), DeclareBody::Final), control());
        }
    }

    /// A transport opened: `face` joins the tables and is told what it should know.
    pub(crate) fn face_opened(&self, face: Arc<Face>) {
        if self.is_mesh_face(&face) {
            // Another router: link states, then sourced declarations along the trees.
            write(&self.tables).faces.insert(face.zid, face.clone());
            self.routes_changed();
            self.mesh_face_opened(&face);
            self.exprs_to_new_face(&face);
            return;
        }
        // Declare what this face should know, before anything else is sent to it.
        let mesh = self.mesh_lock();
        let (keys, qbls) = {
            let mut tables = write(&self.tables);
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
            if let Some(m) = &mesh {
                let (k, q) = m.south_view();
                keys.extend(k);
                qbls.extend(q);
            }
            (keys, qbls)
        };
        drop(mesh);
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
            face.send(declare_msg(Some(0), DeclareBody::Final), control());
        }
    }

    /// A transport closed: what its face declared is withdrawn everywhere.
    pub(crate) fn face_closed(&self, zid: ZenohId) {
        let face = write(&self.tables).faces.remove(&zid);
        if let Some(face) = face {
            self.routes_changed();
            // Every cached route is stale now; those naming this face would keep it
            // (and its transport) alive.
            lock(&face.rx_routes).clear();
            for other in self.faces() {
                lock(&other.rx_routes).clear();
            }
            if self.is_mesh_face(&face) {
                self.mesh_face_closed(&zid);
            }
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
            lock(&face.state).budget = Default::default();
            // Requests and liveliness queries that face will never answer now.
            for pending in [REQUESTS, LIVELINESS_GETS] {
                let stranded = pending(&mut write(&self.tables)).take_face(zid);
                for exec in stranded {
                    exec.done_one();
                }
            }
        }
    }

    /// Ends `exec` at `timeout` from now unless it ended before, and forgets it in
    /// `pending`: a query of ours ends then whatever its targets do. (One helper for
    /// queries and liveliness queries.)
    pub(super) fn end_at_timeout(
        self: &Arc<Self>,
        exec: &Arc<QueryExec>,
        timeout: Duration,
        pending: PendingIn,
    ) {
        // A task of this session: it fires at the timeout, or at once when the session
        // closes, so a closing session ends its queries without waiting.
        let weak = Arc::downgrade(self);
        let timed = exec.clone();
        self.after(timeout, move || {
            if !timed.is_finished() {
                timed.finish();
                if let Some(s) = weak.upgrade() {
                    pending(&mut write(&s.tables)).forget(&timed);
                }
            }
        });
    }
}

/// Where in the tables one kind of query waits for faces.
pub(super) type PendingIn = fn(&mut Tables) -> &mut Pending;

/// Our REQUESTs, until their RESPONSE_FINAL.
pub(super) const REQUESTS: PendingIn = |t| &mut t.requests;

/// Our liveliness queries, until their `D_FINAL`.
pub(super) const LIVELINESS_GETS: PendingIn = |t| &mut t.live.gets;
