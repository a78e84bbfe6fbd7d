//! Key-expression ids: a publisher's key is declared once to every face (`D_KEYEXPR`),
//! and its publications then carry the short id instead of the full key.
//!
//! Ids are per face and ours (the `M` flag set on the wire: the sender's mapping). They
//! live as long as a publisher of that key does; the last one dropped sends `U_KEYEXPR`,
//! on the lowest priority so that it cannot overtake a publication that uses the id.

use std::sync::Arc;

use plexus_transport::SendOptions;
use plexus_transport::wire::Priority;
use plexus_transport::wire::network::{DeclareBody, Mapping, WireExpr};

use super::dispatcher::Dispatcher;
use super::face::{Face, control, declare_msg};
use crate::key_expr::OwnedKeyExpr;
use crate::sync::{read, write};

impl Face {
    /// How to name `key` to this face: by the id we declared for it, else in full.
    pub(super) fn wire_expr_for(&self, key: &OwnedKeyExpr) -> WireExpr {
        match read(&self.exprs).by_key.id(key) {
            Some(id) => WireExpr::new(id, String::new(), Mapping::Sender),
            None => WireExpr::key(key.as_str()),
        }
    }

    /// Declares `key` to this face under a fresh id (once).
    fn declare_expr(&self, key: &OwnedKeyExpr) {
        let id = {
            let mut guard = write(&self.exprs);
            let exprs = &mut *guard;
            // Ids start at 1 (0 means "no id") and are never reused: after 65,535
            // declarations to one face, new keys go on the wire in full.
            exprs.by_key.acquire(key, || {
                exprs.last = exprs.last.checked_add(1)?;
                Some(exprs.last)
            })
        };
        if let Some(id) = id {
            let msg = declare_msg(
                None,
                DeclareBody::KeyExpr {
                    id,
                    wire_expr: WireExpr::new(0, key.as_str(), Mapping::Receiver),
                },
            );
            // Queued before any publication that uses the id, on the same ordered path.
            self.send(msg, control());
        }
    }

    fn undeclare_expr(&self, key: &OwnedKeyExpr) {
        let id = write(&self.exprs).by_key.remove(key);
        if let Some(id) = id {
            // Publications that name the id may still wait in higher-priority queues; on
            // the lowest priority the undeclaration goes out after every one of them.
            let opts = SendOptions {
                priority: Priority::Background,
                ..control()
            };
            self.send(
                declare_msg(None, DeclareBody::UndeclareKeyExpr { id }),
                opts,
            );
        }
    }
}

impl Dispatcher {
    /// A publisher of `key` was declared.
    pub(crate) fn declare_expr(&self, key: &OwnedKeyExpr) {
        let first = write(&self.tables)
            .exprs
            .acquire(key, || Some(()))
            .is_some();
        if first {
            for face in self.faces() {
                face.declare_expr(key);
            }
            // Cached routes name the key in full: let them pick up the ids.
            self.routes_changed();
        }
    }

    /// A publisher of `key` went away.
    pub(crate) fn undeclare_expr(&self, key: &OwnedKeyExpr) {
        let last = write(&self.tables).exprs.release(key).is_some();
        if last {
            for face in self.faces() {
                face.undeclare_expr(key);
            }
            self.routes_changed();
        }
    }

    /// Declares the publishers' keys to a face that just opened.
    pub(super) fn exprs_to_new_face(&self, face: &Arc<Face>) {
        let keys: Vec<OwnedKeyExpr> = read(&self.tables).exprs.keys().cloned().collect();
        for k in &keys {
            face.declare_expr(k);
        }
        if !keys.is_empty() {
            self.routes_changed();
        }
    }
}
