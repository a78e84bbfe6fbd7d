//! Queries: this session's queryables and declaring them to the faces, and carrying a
//! query to its targets — local queryables and faces — and the replies back (see
//! `query_exec.rs` for a query in flight). A face's REQUEST is carried the same way,
//! its replies going back to that face.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use plexus_transport::wire::network::timestamp_stack::push_route_record;
use plexus_transport::wire::network::{
    NetQos, NetworkMessage, PushBody, Request, Response, ResponseBody, ResponseFinal, WireExpr,
};
use plexus_transport::wire::zenoh as wz;
use plexus_transport::wire::{UnknownExts, WhatAmI, ZenohId};

use super::convert::sample_of;
use super::dispatcher::{Dispatcher, REQUESTS};
use super::face::{Face, Source, control, response_final};
use super::query_exec::{QueryExec, QueryInner, Sink};
use super::tables::LocalQueryable;
use crate::acl::{AclMessage, Flow};
use crate::encoding::Encoding;
use crate::key_expr::OwnedKeyExpr;
use crate::reply::{
    ConsolidationMode, PassedExts, QueryTarget, Reply, ReplyError, target_from_wire, target_to_wire,
};
use crate::sample::Locality;
use crate::sync::{read, write};

/// The longest timeout honoured in a REQUEST from a face (Plexus's own bound; Zenoh
/// takes the peer's): a query runs, and holds its state, at most this long, or the
/// session's `queries_default_timeout` if that is longer.
pub(crate) const MAX_REMOTE_QUERY_TIMEOUT: Duration = Duration::from_secs(300);

/// Everything needed to dispatch one query to its targets.
pub(crate) struct Dispatch {
    pub(crate) key: OwnedKeyExpr,
    pub(crate) parameters: String,
    pub(crate) target: QueryTarget,
    pub(crate) consolidation: ConsolidationMode,
    pub(crate) payload: Option<Bytes>,
    pub(crate) encoding: Encoding,
    pub(crate) attachment: Option<Bytes>,
    pub(crate) timeout: Duration,
    pub(crate) destination: Locality,
    /// What a routed REQUEST carries on (its `value` part is unused).
    pub(crate) passed: PassedExts,
}

impl Dispatcher {
    /// Declares a queryable of this session; returns its id.
    pub(crate) fn add_queryable(&self, q: LocalQueryable) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let remote = q.origin.allows_remote();
        let (key, complete) = (q.key.clone(), q.complete);
        write(&self.tables).qbls.insert(id, Arc::new(q));
        if remote {
            self.propagate_queryable(Source::Local, &key, complete, true);
        }
        id
    }

    /// Undeclares this session's queryable `id`.
    pub(crate) fn remove_queryable(&self, id: u32) {
        let q = write(&self.tables).qbls.remove(&id);
        if let Some(q) = q
            && q.origin.allows_remote()
        {
            self.propagate_queryable(Source::Local, &q.key, q.complete, false);
        }
    }

    pub(super) fn propagate_queryable(
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
        if !self.is_from_mesh(src) {
            self.mesh_own_queryable(key, complete, declare);
        }
    }

    /// The local queryables and faces a query from `src` goes to.
    pub(super) fn query_targets(
        &self,
        src: Source<'_>,
        key: &OwnedKeyExpr,
        target: QueryTarget,
        destination: Locality,
        from_remote: bool,
    ) -> (Vec<Arc<LocalQueryable>>, Vec<Arc<Face>>) {
        let tables = read(&self.tables);
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
                        && f.acl_allows(Flow::Egress, AclMessage::Query, key)
                })
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        (locals, faces)
    }

    pub(super) fn next_request_id(&self) -> u32 {
        let mut t = write(&self.tables);
        t.next_request_id = t.next_request_id.wrapping_add(1).max(1);
        t.next_request_id
    }

    /// Sends a query to the local queryables and faces it targets.
    pub(crate) fn dispatch(self: &Arc<Self>, src: Source<'_>, d: Dispatch, exec: Arc<QueryExec>) {
        self.dispatch_rooted(src, 0, d, exec);
    }

    /// The other routers a query from `src` (with the NodeId `node_id` if `src` is one)
    /// goes to: the next hops on its tree, each with the distance of the nearest complete
    /// queryable behind it; and the NodeId to send them.
    fn mesh_query_targets(
        &self,
        src: Source<'_>,
        node_id: u16,
        key: &OwnedKeyExpr,
        target: QueryTarget,
    ) -> (Vec<(ZenohId, Option<f64>)>, u16) {
        let Some(m) = self.mesh_lock() else {
            return (Vec::new(), 0);
        };
        let from = match src {
            Source::Face(f) if self.is_mesh_face(f) => Some(f.zid),
            _ => None,
        };
        let root = match from {
            Some(z) => m.root_of(&z, node_id).unwrap_or(self.zid),
            None => self.zid,
        };
        let hops = m.query_hops(&root, key, target == QueryTarget::AllComplete, from);
        (hops, m.node_id(&root))
    }

    /// [`Dispatcher::dispatch`] for a query that carried `node_id`.
    fn dispatch_rooted(
        self: &Arc<Self>,
        src: Source<'_>,
        node_id: u16,
        d: Dispatch,
        exec: Arc<QueryExec>,
    ) {
        let from_remote = matches!(src, Source::Face(_));
        let (mut hops, out_node_id) = if d.destination.allows_remote() {
            self.mesh_query_targets(src, node_id, &d.key, d.target)
        } else {
            (Vec::new(), 0)
        };
        let (mut locals, mut faces) =
            self.query_targets(src, &d.key, d.target, d.destination, from_remote);
        if d.target == QueryTarget::BestMatching {
            // One complete queryable that covers the key answers alone, if there is one
            // (here, else behind a face, else the nearest in the mesh).
            if let Some(pos) = locals
                .iter()
                .position(|q| q.complete && q.key.includes(&d.key))
            {
                locals = vec![locals.swap_remove(pos)];
                faces.clear();
                hops.clear();
            } else if let Some(pos) = faces
                .iter()
                .position(|f| f.has_complete_queryable_for(&d.key))
            {
                faces = vec![faces.swap_remove(pos)];
                locals.clear();
                hops.clear();
            } else if let Some(best) = hops
                .iter()
                .filter_map(|(z, dist)| dist.map(|dist| (*z, dist)))
                .min_by(|a, b| a.1.total_cmp(&b.1))
            {
                hops = vec![(best.0, None)];
                locals.clear();
                faces.clear();
            }
        }
        let mut targets: Vec<(Arc<Face>, u16)> = {
            let t = read(&self.tables);
            hops.iter()
                .filter_map(|(z, _)| t.faces.get(z))
                .map(|f| (f.clone(), out_node_id))
                .collect()
        };
        targets.extend(faces.into_iter().map(|f| (f, 0)));
        exec.add_outstanding(locals.len() + targets.len());
        let mut passed = d.passed;
        if !targets.is_empty() && from_remote {
            push_route_record(&mut passed.net, || self.route_timestamp());
        }
        for (face, node_id) in targets {
            let rid = self.next_request_id();
            write(&self.tables)
                .requests
                .insert(rid, face.zid(), exec.clone());
            face.send(
                NetworkMessage::Request(Request {
                    id: rid,
                    wire_expr: WireExpr::key(d.key.as_str()),
                    qos: NetQos::REQUEST,
                    timestamp: None,
                    target: target_to_wire(d.target),
                    budget: None,
                    timeout_ms: Some(d.timeout.as_millis() as u64),
                    node_id,
                    body: wz::Query {
                        consolidation: Some(d.consolidation.to_wire()),
                        parameters: d.parameters.clone(),
                        source_info: None,
                        body: d.payload.clone().map(|payload| wz::QueryBody {
                            encoding: d.encoding.to_wire(),
                            payload,
                        }),
                        attachment: d.attachment.clone(),
                        unknown_exts: passed.body.clone(),
                    },
                    unknown_exts: passed.net.clone(),
                }),
                control(),
            );
        }
        for q in locals {
            let query = Arc::new(QueryInner {
                key_expr: d.key.clone(),
                parameters: d.parameters.clone(),
                payload: d.payload.clone(),
                encoding: d.encoding.clone(),
                attachment: d.attachment.clone(),
                exec: exec.clone(),
                responder: self.zid,
            });
            (q.callback)(query);
        }
        self.end_at_timeout(&exec, d.timeout, REQUESTS);
        exec.done_one();
    }

    /// A REQUEST arrived from a face.
    pub(crate) fn handle_request(
        self: &Arc<Self>,
        face: &Arc<Face>,
        req: Request,
        key: OwnedKeyExpr,
    ) {
        if !face.acl_allows(Flow::Ingress, AclMessage::Query, &key) {
            tracing::debug!("from {}: access control denied a query on {key}", face.zid);
            // Answered at once, so that the querier does not wait for its timeout.
            face.send(response_final(req.id), control());
            return;
        }
        // A peer's timeout is capped: a pending query holds state until it ends.
        let timeout = req
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.queries_default_timeout)
            .min(MAX_REMOTE_QUERY_TIMEOUT.max(self.queries_default_timeout));
        let exec = QueryExec::new(
            Sink::Remote {
                face: face.clone(),
                request_id: req.id,
            },
            self.zid,
        );
        let (payload, encoding) = match req.body.body {
            Some(b) => (Some(b.payload), Encoding::from_wire(b.encoding)),
            None => (None, Encoding::default()),
        };
        let d = Dispatch {
            key,
            parameters: req.body.parameters,
            target: target_from_wire(req.target),
            consolidation: ConsolidationMode::None,
            payload,
            encoding,
            attachment: req.body.attachment,
            timeout,
            destination: Locality::Any,
            passed: PassedExts {
                net: req.unknown_exts,
                body: req.body.unknown_exts,
                value: UnknownExts::new(),
            },
        };
        self.dispatch_rooted(Source::Face(face), req.node_id, d, exec);
    }

    /// A RESPONSE arrived for one of our requests.
    pub(crate) fn handle_response(&self, face: &Arc<Face>, mut resp: Response) {
        let exec = read(&self.tables).requests.get(resp.request_id, face.zid);
        let Some(exec) = exec else {
            tracing::debug!(
                "from {}: response to unknown request {}",
                face.zid(),
                resp.request_id
            );
            return;
        };
        let replier_id = resp.responder.map(|r| r.zid);
        if exec.forwards() {
            push_route_record(&mut resp.unknown_exts, || self.route_timestamp());
        }
        let mut passed = PassedExts {
            net: resp.unknown_exts,
            ..PassedExts::default()
        };
        let result = match resp.body {
            ResponseBody::Reply(mut r) => {
                let key = face
                    .resolve(&resp.wire_expr)
                    .and_then(|k| OwnedKeyExpr::new(k).ok());
                let Some(key) = key else {
                    tracing::debug!("from {}: reply with an unusable key", face.zid());
                    return;
                };
                if !face.acl_allows(Flow::Ingress, AclMessage::Reply, &key) {
                    tracing::debug!("from {}: access control denied a reply on {key}", face.zid);
                    return;
                }
                // Replies are stamped like publications (routers, timestamping peers).
                if !self.treat_timestamp(&mut r.body, face.zid()) {
                    return;
                }
                passed.body = r.unknown_exts;
                passed.value = match &mut r.body {
                    PushBody::Put(p) => std::mem::take(&mut p.unknown_exts),
                    PushBody::Del(d) => std::mem::take(&mut d.unknown_exts),
                };
                Ok(sample_of(key, r.body, NetQos::RESPONSE))
            }
            ResponseBody::Err(e) => {
                passed.body = e.unknown_exts;
                Err(ReplyError {
                    payload: e.payload,
                    encoding: Encoding::from_wire(e.encoding),
                })
            }
        };
        exec.reply(Reply {
            result,
            replier_id,
            passed,
        });
    }

    /// RESPONSE_FINAL arrived from `face` for one of our requests.
    pub(crate) fn handle_response_final(&self, face: &Face, rf: ResponseFinal) {
        let exec = write(&self.tables).requests.remove(rf.request_id, face.zid);
        if let Some(exec) = exec {
            exec.done_one();
        }
    }
}
