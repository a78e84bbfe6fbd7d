//! The dispatcher's tables: this session's subscribers, queryables and liveliness
//! entities, the faces, our requests in flight, and the publishers' key expressions.
//! Plain data behind the dispatcher's lock; the logic that keeps them and the faces in
//! step is in the files named after each kind of declaration.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use plexus_transport::wire::ZenohId;

use super::callbacks::SampleCallback;
use super::declarations::DeclTable;
use super::face::Face;
use super::pending::Pending;
use super::query_exec::QueryCallback;
use crate::key_expr::OwnedKeyExpr;
use crate::sample::Locality;

#[derive(Default)]
pub(super) struct Tables {
    /// Ordered by id, so local subscribers are served in the order they were declared.
    pub(super) subs: BTreeMap<u32, LocalSub>,
    pub(super) qbls: HashMap<u32, Arc<LocalQueryable>>,
    pub(super) faces: HashMap<ZenohId, Arc<Face>>,
    /// Our requests to faces, until their RESPONSE_FINAL.
    pub(super) requests: Pending,
    pub(super) next_request_id: u32,
    /// Liveliness: tokens, liveliness subscribers and liveliness queries in flight.
    pub(super) live: LiveTables,
    /// Key expressions declared by publishers, counted by publisher.
    pub(super) exprs: DeclTable<OwnedKeyExpr, ()>,
}

/// A subscriber of this session.
pub(super) struct LocalSub {
    pub(super) key: OwnedKeyExpr,
    pub(super) callback: SampleCallback,
    pub(super) origin: Locality,
}

/// A local queryable's registration.
pub(crate) struct LocalQueryable {
    pub(crate) key: OwnedKeyExpr,
    pub(crate) complete: bool,
    pub(crate) callback: QueryCallback,
    pub(crate) origin: Locality,
}

/// The session's liveliness tables.
#[derive(Default)]
pub(super) struct LiveTables {
    /// This session's tokens: id → key.
    pub(super) tokens: HashMap<u32, OwnedKeyExpr>,
    /// Liveliness subscribers by id, which is also the id of their interest on the wire.
    pub(super) subs: BTreeMap<u32, LiveSub>,
    /// The keys that have at least one token, as the subscribers were last told.
    pub(super) alive: HashSet<OwnedKeyExpr>,
    /// Liveliness queries, until each face's `D_FINAL`.
    pub(super) gets: Pending,
}

/// A liveliness subscriber of this session.
pub(super) struct LiveSub {
    pub(super) key: OwnedKeyExpr,
    pub(super) callback: SampleCallback,
}
