//! Publication and subscription: this session's subscribers, declaring subscriptions to
//! the faces, and where a publication goes — its [`Route`], computed from the tables,
//! cached (by publishers, and per face for what a face sends) and invalidated by the
//! routing generation — and delivering it there.
//!
//! The per-message paths are here: [`Dispatcher::handle_push`] for a PUSH read from a
//! face, [`Dispatcher::deliver`] for a publication of this session's.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use plexus_transport::SendOptions;
use plexus_transport::wire::network::timestamp_stack::push_route_record;
use plexus_transport::wire::network::{Mapping, NetQos, NetworkMessage, Push, PushBody, WireExpr};
use plexus_transport::wire::zenoh::Del;
use plexus_transport::wire::{self, UnknownExts, WhatAmI, ZenohId};

use super::callbacks::SampleCallback;
use super::convert::{push_body_of, sample_of, sample_taken, to_uhlc, to_wire_ts};
use super::dispatcher::Dispatcher;
use super::face::{Face, RX_ROUTES_MAX, Route, RouteAcl, Source};
use super::tables::LocalSub;
use crate::acl::{AclMessage, Flow};
use crate::key_expr::OwnedKeyExpr;
use crate::sample::{Locality, Reliability, Sample};
use crate::sync::{lock, read, write};

/// The route of the last PUSH of a batch: its wire expression and NodeId, and their
/// key and route.
#[derive(Default)]
pub(crate) struct LastRoute(Option<(WireExpr, u16, OwnedKeyExpr, Arc<Route>)>);

impl Route {
    /// True while nothing changed where publications go since it was computed.
    pub(crate) fn is_current(&self, inner: &Dispatcher) -> bool {
        self.gen_ == inner.route_gen()
    }
}

impl Dispatcher {
    /// Declares a subscriber of this session; returns its id.
    pub(crate) fn add_subscriber(
        &self,
        key: OwnedKeyExpr,
        callback: SampleCallback,
        origin: Locality,
    ) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        write(&self.tables).subs.insert(
            id,
            LocalSub {
                key: key.clone(),
                callback,
                origin,
            },
        );
        if origin.allows_remote() {
            self.propagate_declare(Source::Local, &key);
        }
        self.subs_changed();
        id
    }

    /// Undeclares this session's subscriber `id`.
    pub(crate) fn remove_subscriber(&self, id: u32) {
        let removed = write(&self.tables).subs.remove(&id);
        if let Some(sub) = removed
            && sub.origin.allows_remote()
        {
            self.propagate_undeclare(Source::Local, &sub.key);
        }
        self.subs_changed();
    }

    /// True if a subscriber that `destination` allows matches `key`.
    pub(crate) fn has_matching_subscriber(
        &self,
        key: &OwnedKeyExpr,
        destination: Locality,
    ) -> bool {
        let tables = read(&self.tables);
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
        drop(tables);
        let mesh = destination.allows_remote()
            && self
                .mesh_lock()
                .is_some_and(|m| m.has_remote_subscriber(key));
        local || remote || mesh
    }

    pub(super) fn propagate_declare(&self, src: Source<'_>, key: &OwnedKeyExpr) {
        for face in self.faces() {
            if self.forwards(src, &face) {
                face.declare(key);
            }
        }
        if !self.is_from_mesh(src) {
            self.mesh_own_subscriber(key, true);
        }
    }

    pub(super) fn propagate_undeclare(&self, src: Source<'_>, key: &OwnedKeyExpr) {
        for face in self.faces() {
            if self.forwards(src, &face) {
                face.undeclare(key);
            }
        }
        if !self.is_from_mesh(src) {
            self.mesh_own_subscriber(key, false);
        }
    }

    /// True if `src` is another router of the mesh.
    #[inline]
    pub(super) fn is_from_mesh(&self, src: Source<'_>) -> bool {
        matches!(src, Source::Face(f) if self.is_mesh_face(f))
    }

    /// Where a publication on `key` from `src` goes: the local subscribers (in
    /// declaration order) and the faces whose subscriptions match.
    pub(crate) fn compute_route(
        &self,
        src: Source<'_>,
        key: &OwnedKeyExpr,
        destination: Locality,
    ) -> Route {
        self.compute_route_rooted(src, 0, key, destination)
    }

    /// [`Dispatcher::compute_route`] for a publication that carried `node_id` (from
    /// another router: the tree it travels on).
    pub(super) fn compute_route_rooted(
        &self,
        src: Source<'_>,
        node_id: u16,
        key: &OwnedKeyExpr,
        destination: Locality,
    ) -> Route {
        // Read first: a change while computing makes this route stale at once.
        let gen_ = self.route_gen();
        let from_remote = matches!(src, Source::Face(_));
        // The other routers it goes to (mesh lock before the tables lock).
        let (hops, out_node_id) = match (self.mesh_lock(), destination.allows_remote()) {
            (Some(m), true) => {
                let from = match src {
                    Source::Face(f) if self.is_mesh_face(f) => Some(f.zid),
                    _ => None,
                };
                let root = match from {
                    Some(z) => m.root_of(&z, node_id).unwrap_or_else(|| {
                        tracing::debug!("from router {z}: unknown node id {node_id}");
                        self.zid
                    }),
                    None => self.zid,
                };
                (m.data_hops(&root, key, from), m.node_id(&root))
            }
            _ => (Vec::new(), 0),
        };
        let tables = read(&self.tables);
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
        let mut faces: Vec<(Arc<Face>, WireExpr)> = hops
            .iter()
            .filter_map(|z| tables.faces.get(z))
            .map(|f| (f.clone(), f.wire_expr_for(key)))
            .collect();
        let mesh = faces.len();
        if destination.allows_remote() {
            faces.extend(
                tables
                    .faces
                    .values()
                    .filter(|f| {
                        self.forwards(src, f)
                            && (self.whatami == WhatAmI::Client && !from_remote
                                || f.has_subscriber_for(key))
                    })
                    .map(|f| (f.clone(), f.wire_expr_for(key))),
            );
        }
        let acl = route_acl(src, key, &faces);
        Route {
            gen_,
            destination,
            local,
            faces,
            acl,
            mesh,
            node_id: if mesh > 0 { out_node_id } else { 0 },
        }
    }

    /// Sends a publication along `route`: to its faces first (one message for all of
    /// them, copied only into a queue that must hold it), then to the local subscribers
    /// (a sample is made only for them).
    #[inline(always)]
    pub(crate) fn deliver(
        &self,
        route: &Route,
        key: OwnedKeyExpr,
        body: PushBody,
        qos: NetQos,
        reliability: Reliability,
    ) {
        self.deliver_with(route, key, body, qos, reliability, UnknownExts::new());
    }

    /// [`Dispatcher::deliver`] for a forwarded publication, with the extensions it
    /// carries on (see [`UnknownExts`]).
    #[inline(always)]
    fn deliver_with(
        &self,
        route: &Route,
        key: OwnedKeyExpr,
        body: PushBody,
        qos: NetQos,
        reliability: Reliability,
        unknown_exts: UnknownExts,
    ) {
        let opts = SendOptions {
            priority: qos.priority(),
            reliability,
            congestion: qos.congestion_control(),
            express: qos.is_express(),
        };
        if let Some(acl) = &route.acl {
            return deliver_checked(route, acl, key, body, qos, opts, unknown_exts);
        }
        let body = match route.faces.split_first() {
            None => body,
            Some(((first, first_expr), rest)) => {
                // One message serves every face: only its wire expression changes.
                let mut push = NetworkMessage::Push(Push {
                    wire_expr: first_expr.clone(),
                    qos,
                    timestamp: None,
                    node_id: route.node_id,
                    body,
                    unknown_exts,
                });
                first.send_ref(&push, opts);
                for (i, (f, wire_expr)) in rest.iter().enumerate() {
                    if let NetworkMessage::Push(p) = &mut push {
                        p.wire_expr.clone_from(wire_expr);
                        if i + 1 == route.mesh {
                            // Past the other routers: no NodeId for clients and peers.
                            p.node_id = 0;
                        }
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
    pub(crate) fn route(
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

    #[inline(always)]
    pub(crate) fn handle_push(&self, face: &Arc<Face>, push: &mut Push) {
        if let Some((key, route)) = self.rx_route(face, &push.wire_expr, push.node_id) {
            self.push_on_route(face, push, key, &route);
        }
    }

    /// [`Dispatcher::handle_push`] for one of a batch's PUSHes: `last` keeps the route
    /// of the batch's previous PUSH, so that a batch on one key looks its route up once
    /// (per PUSH, the lookup's lock and reference counts and the routing's `Weak`
    /// upgrade took about a quarter of an 8 B subscriber's time in a profile).
    #[inline(always)]
    pub(crate) fn handle_push_in(&self, face: &Arc<Face>, push: &mut Push, last: &mut LastRoute) {
        let same = last.0.as_ref().is_some_and(|(we, node, _, route)| {
            *node == push.node_id && *we == push.wire_expr && route.is_current(self)
        });
        if !same {
            last.0 = self
                .rx_route(face, &push.wire_expr, push.node_id)
                .map(|(key, route)| (push.wire_expr.clone(), push.node_id, key, route));
        }
        if let Some((_, _, key, route)) = &last.0 {
            self.push_on_route(face, push, key.clone(), route);
        }
    }

    /// Delivers and forwards a PUSH from `face` on `key` along its `route`.
    #[inline(always)]
    fn push_on_route(&self, face: &Arc<Face>, push: &mut Push, key: OwnedKeyExpr, route: &Route) {
        if let Some(acl) = &route.acl
            && !acl.ingress[usize::from(matches!(push.body, PushBody::Del(_)))]
        {
            tracing::trace!(
                "from {}: access control denied a publication on {key}",
                face.zid
            );
            return;
        }
        // Stamped only when it goes somewhere, as in Zenoh.
        if self.hlc.is_some()
            && !(route.faces.is_empty() && route.local.is_empty())
            && !self.treat_timestamp(&mut push.body, face.zid)
        {
            return;
        }
        if route.faces.is_empty() {
            // Local subscribers only (a subscriber's usual case): the sample is made
            // from the PUSH's parts where they lie. (Passing `&mut PushBody` through
            // `deliver` for every case measured about 10 % slower at 8 B.)
            if !route.local.is_empty() {
                to_local(route, sample_taken(key, &mut push.body, push.qos));
            }
            return;
        }
        let body = std::mem::replace(&mut push.body, PushBody::Del(Del::default()));
        // A timestamp stack asking for ROUTE records gets ours (a null check without one).
        push_route_record(&mut push.unknown_exts, || self.route_timestamp());
        let exts = std::mem::take(&mut push.unknown_exts);
        self.deliver_with(route, key, body, push.qos, Reliability::Reliable, exts);
    }

    /// What a timestamping session (every router, by default) does with the timestamp
    /// of a publication or reply it received, before delivering or forwarding it, as
    /// Zenoh's router does: stamps it if it has none, lets the clock learn it if it has
    /// one, and replaces one too far in the future (more than the clock's maximum drift)
    /// with its own, or drops the message when `timestamping/drop_future_timestamp` is
    /// set. Returns false when the message is to be dropped. Zenoh 1.10.2 stamps only
    /// PUTs in PUSHes; Plexus stamps DELs and replies as well.
    pub(crate) fn treat_timestamp(&self, body: &mut PushBody, from: ZenohId) -> bool {
        let Some(hlc) = &self.hlc else { return true };
        let ts = match body {
            PushBody::Put(p) => &mut p.timestamp,
            PushBody::Del(d) => &mut d.timestamp,
        };
        match ts {
            None => *ts = to_wire_ts(&hlc.stamp()),
            Some(t) => {
                if let Err(e) = hlc.update_with_timestamp(&to_uhlc(*t)) {
                    if self.drop_future_timestamp {
                        tracing::warn!("from {from}: dropped a message: {e}");
                        return false;
                    }
                    tracing::warn!("from {from}: replaced a timestamp: {e}");
                    *ts = to_wire_ts(&hlc.new_timestamp());
                }
            }
        }
        true
    }

    /// The timestamp of a ROUTE record (Zenoh's timestamp instrumentation): from the
    /// session's clock, or the system time when it has none.
    pub(crate) fn route_timestamp(&self) -> wire::Timestamp {
        let time = match &self.hlc {
            Some(hlc) => hlc.new_timestamp().get_time().as_u64(),
            None => uhlc::system_time_clock().as_u64(),
        };
        wire::Timestamp { time, id: self.zid }
    }

    /// The key a face's publication names, and where it goes (cached per face).
    fn rx_route(
        &self,
        face: &Arc<Face>,
        we: &WireExpr,
        node_id: u16,
    ) -> Option<(OwnedKeyExpr, Arc<Route>)> {
        let slot = (we.scope, we.mapping == Mapping::Sender, node_id);
        {
            let mut cache = lock(&face.rx_routes);
            if let Some((last, last_node, (key, route))) = &cache.last
                && last == we
                && *last_node == node_id
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
                cache.last = Some((we.clone(), node_id, found.clone()));
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
        let route =
            Arc::new(self.compute_route_rooted(Source::Face(face), node_id, &key, Locality::Any));
        let mut cache = lock(&face.rx_routes);
        if cache.by_expr.values().map(HashMap::len).sum::<usize>() >= RX_ROUTES_MAX {
            cache.by_expr.clear();
        }
        cache.last = Some((we.clone(), node_id, (key.clone(), route.clone())));
        cache
            .by_expr
            .entry(slot)
            .or_default()
            .insert(we.suffix.clone(), (key.clone(), route.clone()));
        Some((key, route))
    }
}

/// The access-control decisions of a route from `src` on `key` to `faces`; `None` when
/// none of them is under access control.
fn route_acl(
    src: Source<'_>,
    key: &OwnedKeyExpr,
    faces: &[(Arc<Face>, WireExpr)],
) -> Option<Box<RouteAcl>> {
    let ingress = match src {
        Source::Face(f) if f.acl.as_ref().is_some_and(|a| a.checks_ingress()) => Some([
            f.acl_allows(Flow::Ingress, AclMessage::Put, key),
            f.acl_allows(Flow::Ingress, AclMessage::Delete, key),
        ]),
        _ => None,
    };
    let egress = faces
        .iter()
        .any(|(f, _)| f.acl.as_ref().is_some_and(|a| a.checks_egress()));
    if ingress.is_none() && !egress {
        return None;
    }
    Some(Box::new(RouteAcl {
        ingress: ingress.unwrap_or([true; 2]),
        egress: faces
            .iter()
            .map(|(f, _)| {
                [
                    f.acl_allows(Flow::Egress, AclMessage::Put, key),
                    f.acl_allows(Flow::Egress, AclMessage::Delete, key),
                ]
            })
            .collect(),
    }))
}

/// [`Dispatcher::deliver`] on a route under access control: only to the faces that may
/// be sent this kind of publication.
#[cold]
#[inline(never)]
fn deliver_checked(
    route: &Route,
    acl: &RouteAcl,
    key: OwnedKeyExpr,
    body: PushBody,
    qos: NetQos,
    opts: SendOptions,
    unknown_exts: UnknownExts,
) {
    let kind = usize::from(matches!(body, PushBody::Del(_)));
    let mut push = NetworkMessage::Push(Push {
        wire_expr: WireExpr::key(key.as_str()),
        qos,
        timestamp: None,
        node_id: 0,
        body,
        unknown_exts,
    });
    for (i, ((f, wire_expr), allowed)) in route.faces.iter().zip(&acl.egress).enumerate() {
        if !allowed[kind] {
            tracing::trace!("to {}: access control denied a publication on {key}", f.zid);
            continue;
        }
        if let NetworkMessage::Push(p) = &mut push {
            p.wire_expr.clone_from(wire_expr);
            // The other routers of the mesh first, with the NodeId of the tree.
            p.node_id = if i < route.mesh { route.node_id } else { 0 };
        }
        f.send_ref(&push, opts);
    }
    if let NetworkMessage::Push(p) = push
        && !route.local.is_empty()
    {
        to_local(route, sample_of(key, p.body, qos));
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

/// Runs `publish` (which hands messages to faces without waiting) in a back-pressure
/// scope; then, if a transport's queue was full, waits for its writer (`Block`: until it
/// takes what waits, or the transport closes as a slow consumer; `Drop`: at most
/// `wait_before_drop`), so a publisher faster than the network is slowed down, never
/// reordered. The usual case, no queue full, costs no waiting.
pub(crate) async fn with_backpressure<T>(publish: impl FnOnce() -> T) -> T {
    let scope = plexus_transport::unicast::backpressure::Scope::begin();
    let r = publish();
    if let Some(wait) = scope.end() {
        wait.await;
    }
    r
}
