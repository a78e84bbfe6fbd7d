//! The weights this router announces for its mesh links: Zenoh's static
//! `transport_weights`, and (beyond Zenoh, `rtt_weights`) weights that follow the RTT each
//! link measures, smoothed so that routes do not flap (`linkstate::weight`, docs/mesh.md
//! section 10).

use std::time::{Duration, Instant};

use plexus_transport::wire::ZenohId;

use super::dispatcher::Dispatcher;
use super::mesh::Mesh;
use crate::linkstate::weight::{RttWeigher, RttWeightConfig, StaticWeights};

impl Mesh {
    /// The weight we announce for the link to `zid`: its static weight if
    /// `transport_weights` names it, else the RTT weight once one is known, else unset (0).
    pub(super) fn weight_of(&self, zid: &ZenohId) -> u16 {
        self.weights
            .get(zid)
            .or_else(|| self.rtt.as_ref().and_then(|r| r.weight(zid)))
            .unwrap_or(0)
    }
}

impl Dispatcher {
    /// Sets our weights for the links to the neighbours `weights` names (Zenoh's
    /// `routing/router/linkstate/transport_weights`); links already open take theirs now.
    pub(crate) fn set_mesh_weights(&self, weights: StaticWeights) {
        self.reweigh(|m| m.weights = weights);
    }

    /// Makes link weights follow measured RTTs (`rtt_weights` with `enabled`), or stop
    /// following them; links already open keep their weight until samples come.
    pub(crate) fn set_mesh_rtt_weights(&self, cfg: RttWeightConfig) {
        self.reweigh(|m| m.rtt = cfg.enabled.then(|| RttWeigher::new(cfg)));
    }

    /// True if this router's link weights follow RTTs: the runtime then feeds it samples.
    pub(crate) fn follows_rtt(&self) -> bool {
        self.mesh_lock().is_some_and(|m| m.rtt.is_some())
    }

    /// One RTT sample of the transport to the router `zid`, taken at `now`. When the
    /// weigher announces a new weight (and no static weight overrides it), our link state
    /// changes and the trees are recomputed everywhere.
    pub(crate) fn mesh_rtt_sample(&self, zid: &ZenohId, rtt: Duration, now: Instant) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        if !m.links.contains_key(zid) {
            // Closed meanwhile, or not a mesh link.
            return;
        }
        let Some(weigher) = m.rtt.as_mut() else {
            return;
        };
        if weigher.handle_sample(*zid, rtt, now).is_none() {
            return;
        }
        let srtt = weigher.srtt(zid);
        if m.weights.get(zid).is_some() {
            return;
        }
        let w = m.weight_of(zid);
        tracing::debug!("mesh link to {zid}: weight {w} for a smoothed RTT of {srtt:?}");
        let ch = m.net.set_link_weight(zid, w);
        let tokens = self.apply_changes(&mut m, ch);
        drop(m);
        for k in &tokens {
            self.token_changed(k);
        }
    }

    /// Changes the weight configuration with `f`, then re-announces the weight of every
    /// open link that changed.
    fn reweigh(&self, f: impl FnOnce(&mut Mesh)) {
        let Some(mut m) = self.mesh_lock() else {
            return;
        };
        f(&mut m);
        let open: Vec<ZenohId> = m.links.keys().copied().collect();
        let mut tokens = Vec::new();
        for zid in open {
            let w = m.weight_of(&zid);
            let ch = m.net.set_link_weight(&zid, w);
            tokens.extend(self.apply_changes(&mut m, ch));
        }
        drop(m);
        for k in &tokens {
            self.token_changed(k);
        }
    }
}
