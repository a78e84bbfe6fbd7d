//! What a session knows of its connectivity, typed: [`SessionInfo`] (from
//! `Session::info`). The admin space serves the same data as JSON.

use plexus_transport::Transport;
use plexus_transport::wire::{WhatAmI, ZenohId};

use super::session::Session;
use crate::routing::Declarations;
use crate::runtime::admin::{ClosedTransportInfo, ConnectivityEvent, LinkInfo, TransportInfo};

impl Session {
    /// What the session knows of its connectivity (typed; the admin space serves the
    /// same data as JSON under `@/session/<zid>/**`).
    pub fn info(&self) -> SessionInfo<'_> {
        SessionInfo { session: self }
    }
}

/// What a session knows of its connectivity, typed.
#[derive(Debug)]
pub struct SessionInfo<'a> {
    session: &'a Session,
}

impl SessionInfo<'_> {
    /// This session's id.
    pub fn zid(&self) -> ZenohId {
        self.session.zid()
    }

    /// The open transports themselves (to watch one, e.g. its RTT updates);
    /// [`SessionInfo::transports`] gives a snapshot of each.
    pub fn transport_handles(&self) -> Vec<Transport> {
        self.session
            .inner
            .manager()
            .map(|m| m.transports())
            .unwrap_or_default()
    }

    fn zids(&self, whatami: WhatAmI) -> Vec<ZenohId> {
        self.transport_handles()
            .iter()
            .filter(|t| t.whatami() == whatami)
            .map(|t| t.zid())
            .collect()
    }

    /// The ids of the routers this session has a transport to.
    pub fn routers_zid(&self) -> Vec<ZenohId> {
        self.zids(WhatAmI::Router)
    }

    /// The ids of the peers this session has a transport to.
    pub fn peers_zid(&self) -> Vec<ZenohId> {
        self.zids(WhatAmI::Peer)
    }

    /// The open transports, with their counters.
    pub fn transports(&self) -> Vec<TransportInfo> {
        self.transport_handles()
            .iter()
            .map(|t| TransportInfo::of(t, true))
            .collect()
    }

    /// The links of every open transport.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.transport_handles()
            .iter()
            .flat_map(|t| {
                t.links()
                    .into_iter()
                    .map(|l| LinkInfo::of(t.zid(), &l))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// How many subscribers, queryables, tokens and publishers are declared, here and
    /// by the remote processes.
    pub fn declarations(&self) -> Declarations {
        self.session.inner.routing.declarations()
    }

    /// Routers only: the graph of the router mesh in Graphviz DOT, as Zenoh answers
    /// `@/<zid>/router/linkstate/routers` (`…/north` since Zenoh 1.10); `None` for
    /// clients and peers.
    pub fn linkstate_dot(&self) -> Option<String> {
        self.session.inner.routing.mesh_dot()
    }

    /// Routers only: the graph of the router mesh as JSON, `{"zid", "nodes": [{"zid",
    /// "psid", "whatami", "sn", "locators"}], "links": [{"src", "dst", "weight",
    /// "src_weight", "dst_weight", "rtt_us"}]}`, where `rtt_us` is the lowest RTT measured
    /// on this router's links to that neighbour (`null` for links between other routers
    /// and until measured); `None` for clients and peers.
    pub fn linkstate_json(&self) -> Option<serde_json::Value> {
        let mut rtt: std::collections::HashMap<ZenohId, u64> = std::collections::HashMap::new();
        for l in self.links() {
            if let Some(us) = l.rtt_us {
                let e = rtt.entry(l.zid).or_insert(us);
                *e = (*e).min(us);
            }
        }
        self.session
            .inner
            .routing
            .mesh_json(|z| rtt.get(z).map(|us| std::time::Duration::from_micros(*us)))
    }

    /// The last closed transports (up to `adminspace/max_closed_transports`, 1000 by
    /// default), oldest first, with their links, times, reason and final counters.
    pub fn closed_transports(&self) -> Vec<ClosedTransportInfo> {
        self.session.inner.admin.closed_transports()
    }

    /// A channel of connectivity events from now on (the same events the admin space
    /// publishes, typed).
    pub fn connectivity_events(&self) -> flume::Receiver<ConnectivityEvent> {
        self.session.inner.admin.listen()
    }
}
