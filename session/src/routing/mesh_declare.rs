//! Sourced declarations arriving from other routers of the mesh (docs/mesh.md section 7):
//! each is recorded against the router it comes from (the root named by its NodeId),
//! forwarded to our children in that router's tree, and shown to our south faces as one
//! more declarer of its key.

use std::sync::Arc;

use plexus_transport::wire::network::{DeclareBody, WireExpr};

use super::dispatcher::Dispatcher;
use super::face::Face;
use super::mesh::{Sends, d_qbl, d_sub, d_token, u_qbl, u_sub, u_token};
use crate::acl::{AclMessage, Flow};
use crate::key_expr::OwnedKeyExpr;

impl Dispatcher {
    /// A sourced declaration (or withdrawal) from a mesh face.
    pub(super) fn mesh_declare(&self, face: &Arc<Face>, node_id: u16, body: DeclareBody) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        let Some(root) = m.root_of(&face.zid, node_id) else {
            tracing::warn!(
                "from router {}: declaration for unknown node id {node_id}; dropped",
                face.zid
            );
            return;
        };
        if root == m.me() {
            return;
        }
        let key_of = |we: Option<&WireExpr>| {
            we.and_then(|we| face.resolve(we))
                .and_then(|k| OwnedKeyExpr::autocanonize(k).ok())
        };
        // Access control applies to what a router declares for its mesh as to any face.
        let denied = |msg: AclMessage, key: &OwnedKeyExpr| {
            let no = !face.acl_allows(Flow::Ingress, msg, key);
            if no {
                tracing::debug!(
                    "from router {}: access control denied {msg:?} on {key}",
                    face.zid
                );
            }
            no
        };
        let faces = self.neighbour_faces();
        let mut sends = Sends::new();
        let mut token = None;
        let from = Some(face.zid);
        match &body {
            DeclareBody::Subscriber { wire_expr, .. } => {
                let Some(key) = key_of(Some(wire_expr)) else {
                    tracing::debug!("from router {}: subscriber with an unusable key", face.zid);
                    return;
                };
                if denied(AclMessage::DeclareSubscriber, &key) {
                    return;
                }
                let before = m.others_subscribe(&key);
                if !m.subs.entry(key.clone()).or_default().insert(root) {
                    return;
                }
                self.to_children(&m, &faces, &root, from, d_sub(&key), &mut sends);
                if !before {
                    self.south_subscriber(&key, true);
                }
                self.subs_changed();
            }
            DeclareBody::UndeclareSubscriber { wire_expr, .. } => {
                let Some(key) = key_of(wire_expr.as_ref()) else {
                    tracing::debug!("from router {}: undeclaration without a key", face.zid);
                    return;
                };
                let removed = m.subs.get_mut(&key).is_some_and(|r| r.remove(&root));
                if !removed {
                    return;
                }
                if m.subs.get(&key).is_some_and(|r| r.is_empty()) {
                    m.subs.remove(&key);
                }
                self.to_children(&m, &faces, &root, from, u_sub(&key), &mut sends);
                if !m.others_subscribe(&key) {
                    self.south_subscriber(&key, false);
                }
                self.subs_changed();
            }
            DeclareBody::Queryable {
                wire_expr,
                complete,
                ..
            } => {
                let Some(key) = key_of(Some(wire_expr)) else {
                    tracing::debug!("from router {}: queryable with an unusable key", face.zid);
                    return;
                };
                if denied(AclMessage::DeclareQueryable, &key) {
                    return;
                }
                let before = m.others_queryable(&key);
                let old = m
                    .qbls
                    .entry(key.clone())
                    .or_default()
                    .insert(root, *complete);
                if old == Some(*complete) {
                    return;
                }
                self.to_children(&m, &faces, &root, from, d_qbl(&key, *complete), &mut sends);
                self.south_queryable(&key, before, m.others_queryable(&key));
                self.routes_changed();
            }
            DeclareBody::UndeclareQueryable { wire_expr, .. } => {
                let Some(key) = key_of(wire_expr.as_ref()) else {
                    tracing::debug!("from router {}: undeclaration without a key", face.zid);
                    return;
                };
                let before = m.others_queryable(&key);
                let removed = m
                    .qbls
                    .get_mut(&key)
                    .is_some_and(|r| r.remove(&root).is_some());
                if !removed {
                    return;
                }
                if m.qbls.get(&key).is_some_and(|r| r.is_empty()) {
                    m.qbls.remove(&key);
                }
                self.to_children(&m, &faces, &root, from, u_qbl(&key), &mut sends);
                self.south_queryable(&key, before, m.others_queryable(&key));
                self.routes_changed();
            }
            DeclareBody::Token { wire_expr, .. } => {
                let Some(key) = key_of(Some(wire_expr)) else {
                    tracing::debug!("from router {}: token with an unusable key", face.zid);
                    return;
                };
                if denied(AclMessage::LivelinessToken, &key) {
                    return;
                }
                if !m.tokens.entry(key.clone()).or_default().insert(root) {
                    return;
                }
                self.to_children(&m, &faces, &root, from, d_token(&key), &mut sends);
                token = Some(key);
            }
            DeclareBody::UndeclareToken { wire_expr, .. } => {
                let Some(key) = key_of(wire_expr.as_ref()) else {
                    tracing::debug!("from router {}: undeclaration without a key", face.zid);
                    return;
                };
                let removed = m.tokens.get_mut(&key).is_some_and(|r| r.remove(&root));
                if !removed {
                    return;
                }
                if m.tokens.get(&key).is_some_and(|r| r.is_empty()) {
                    m.tokens.remove(&key);
                }
                self.to_children(&m, &faces, &root, from, u_token(&key), &mut sends);
                token = Some(key);
            }
            DeclareBody::KeyExpr { .. } | DeclareBody::UndeclareKeyExpr { .. } => {}
            DeclareBody::Final => {}
        }
        drop(m);
        Self::send_all(sends);
        if let Some(k) = token {
            self.token_changed(&k);
        }
    }
}
