//! Counts of the declarations in the tables, for monitoring.

use super::dispatcher::Dispatcher;
use crate::sync::{lock, read};

/// Counts of declarations in a session's routing tables.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Declarations {
    /// Subscribers this session declared.
    pub local_subscribers: usize,
    /// Queryables this session declared (the admin space's own included).
    pub local_queryables: usize,
    /// Liveliness tokens this session declared.
    pub local_tokens: usize,
    /// Publishers this session declared (one per publisher, by key).
    pub local_publishers: usize,
    /// Subscribers the remote processes declared to this session.
    pub remote_subscribers: usize,
    /// Queryables the remote processes declared to this session.
    pub remote_queryables: usize,
    /// Liveliness tokens the remote processes declared to this session.
    pub remote_tokens: usize,
}

impl Dispatcher {
    /// How many subscribers, queryables, liveliness tokens and publisher keys this
    /// session declared, and how many its remotes declared to it (summed over faces).
    pub(crate) fn declarations(&self) -> Declarations {
        let tables = read(&self.tables);
        let mut d = Declarations {
            local_subscribers: tables.subs.len(),
            local_queryables: tables.qbls.len(),
            local_tokens: tables.live.tokens.len(),
            local_publishers: tables.exprs.sources(),
            ..Declarations::default()
        };
        for face in tables.faces.values() {
            let st = lock(&face.state);
            d.remote_subscribers += st.remote_subs.len();
            d.remote_queryables += st.remote_qbls.len();
            d.remote_tokens += st.live.remote.len();
        }
        d
    }
}
