//! Queries of this session waiting for faces to finish answering: REQUESTs until their
//! RESPONSE_FINAL, liveliness queries until their `D_FINAL`. Each face asked holds one
//! count of its [`QueryExec`] until then; this table finds the query again when the
//! answer (or the end) arrives, and gives back what a closing face will never answer.

use std::collections::HashMap;
use std::sync::Arc;

use plexus_transport::wire::ZenohId;

use super::query_exec::QueryExec;

/// Queries in flight by (request or interest id, face asked).
#[derive(Default)]
pub(super) struct Pending {
    by_id: HashMap<(u32, ZenohId), Arc<QueryExec>>,
}

impl Pending {
    /// `face` was asked for `exec` under `id`.
    pub(super) fn insert(&mut self, id: u32, face: ZenohId, exec: Arc<QueryExec>) {
        self.by_id.insert((id, face), exec);
    }

    /// The query `face` answers under `id`.
    pub(super) fn get(&self, id: u32, face: ZenohId) -> Option<Arc<QueryExec>> {
        self.by_id.get(&(id, face)).cloned()
    }

    /// `face` finished answering `id`: the query, to count it done.
    pub(super) fn remove(&mut self, id: u32, face: ZenohId) -> Option<Arc<QueryExec>> {
        self.by_id.remove(&(id, face))
    }

    /// Forgets every entry of `exec` (it ended, at its timeout).
    pub(super) fn forget(&mut self, exec: &Arc<QueryExec>) {
        self.by_id.retain(|_, e| !Arc::ptr_eq(e, exec));
    }

    /// Takes the queries `face` was asked and will never answer now (it closed).
    pub(super) fn take_face(&mut self, face: ZenohId) -> Vec<Arc<QueryExec>> {
        let ids: Vec<(u32, ZenohId)> = self
            .by_id
            .keys()
            .filter(|(_, z)| *z == face)
            .copied()
            .collect();
        ids.iter().filter_map(|k| self.by_id.remove(k)).collect()
    }
}
