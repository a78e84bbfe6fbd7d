//! The connectivity tracker: follows a session's connectivity events, keeps a short RTT
//! history per link, and feeds the metrics.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use plexus::{ConnectivityEvent, Session, WhatAmI, ZenohId};
use plexus_transport::Transport;
use serde::Serialize;
use tokio::task::JoinHandle;

use crate::metrics::Metrics;

/// How many RTT measurements each link keeps.
pub const RTT_HISTORY: usize = 30;

/// One RTT measurement of a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RttSample {
    /// When it was taken, in milliseconds since the UNIX epoch.
    pub t: u64,
    /// The round-trip time in microseconds.
    pub rtt_us: u64,
}

/// Follows one session's connectivity for the admin space, the REST plugin's page and
/// the metrics. Cheap to clone; its tasks stop when the last clone is dropped or the
/// session closes.
#[derive(Clone)]
pub struct Monitor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("zid", &self.inner.session.zid())
            .finish()
    }
}

pub(crate) struct Inner {
    pub(crate) session: Session,
    pub(crate) metrics: Metrics,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// RTT measurements per (remote, link id), newest last.
    rtt: HashMap<(ZenohId, u64), VecDeque<RttSample>>,
    /// One RTT watcher per open transport, and the remote's kind.
    watchers: HashMap<ZenohId, (WhatAmI, JoinHandle<()>)>,
    /// The event loop.
    task: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = st.task.take() {
            t.abort();
        }
        for (_, (_, w)) in st.watchers.drain() {
            w.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The low-cardinality kind of a close reason (a metrics label). The reasons are the
/// `Display` of `plexus_transport::CloseCause`; a test pins the mapping to it.
pub(crate) fn cause_kind(reason: &str) -> &'static str {
    const KINDS: [(&str, &str); 6] = [
        ("closed locally", "local"),
        ("closed by peer", "closed_by_peer"),
        ("lease expired", "lease_expired"),
        ("malformed input", "malformed"),
        ("link failed", "link_failed"),
        ("slow consumer", "slow_consumer"),
    ];
    KINDS
        .iter()
        .find(|(prefix, _)| reason.starts_with(prefix))
        .map_or("other", |(_, kind)| kind)
}

impl Monitor {
    /// Starts following `session`'s connectivity. Must be called within a Tokio runtime.
    pub fn start(session: &Session) -> Monitor {
        let events = session.info().connectivity_events();
        let inner = Arc::new(Inner {
            metrics: Metrics::new(session),
            session: session.clone(),
            state: Mutex::new(State::default()),
        });
        // Transports already open when the monitor starts.
        for t in session.info().transport_handles() {
            Inner::watch(&inner, t);
        }
        let weak = Arc::downgrade(&inner);
        let task = tokio::spawn(async move { run(weak, events).await });
        lock(&inner.state).task = Some(task);
        Monitor { inner }
    }

    /// The session it follows.
    pub fn session(&self) -> &Session {
        &self.inner.session
    }

    /// The RTT measurements of a link, oldest first (at most [`RTT_HISTORY`]).
    pub fn rtt_history(&self, zid: ZenohId, link_id: u64) -> Vec<RttSample> {
        lock(&self.inner.state)
            .rtt
            .get(&(zid, link_id))
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The metrics in the OpenMetrics text format (`openmetrics`) or Prometheus's
    /// text format 0.0.4.
    pub fn metrics_text(&self, openmetrics: bool) -> String {
        self.inner.metrics.render(openmetrics)
    }
}

/// The event loop: ends when the monitor is dropped or the session closes.
async fn run(weak: Weak<Inner>, events: flume::Receiver<ConnectivityEvent>) {
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        let ev = tokio::select! {
            ev = events.recv_async() => match ev {
                Ok(ev) => ev,
                Err(_) => return,
            },
            _ = check.tick() => {
                match weak.upgrade() {
                    Some(inner) if !inner.session.is_closed() => continue,
                    _ => return,
                }
            }
        };
        let Some(inner) = weak.upgrade() else { return };
        inner.handle(ev);
    }
}

impl Inner {
    fn handle(self: &Arc<Self>, ev: ConnectivityEvent) {
        match ev {
            ConnectivityEvent::TransportOpened(info) => {
                self.metrics.transport_opened(info.whatami);
                if let Some(t) = self
                    .session
                    .info()
                    .transport_handles()
                    .into_iter()
                    .find(|t| t.zid() == info.zid)
                {
                    Inner::watch(self, t);
                }
            }
            ConnectivityEvent::LinkAdded(link) => {
                let whatami = self.whatami_of(link.zid);
                self.metrics.link_opened(whatami);
            }
            ConnectivityEvent::LinkRemoved { link, reason } => {
                self.metrics.link_closed(cause_kind(&reason));
                lock(&self.state).rtt.remove(&(link.zid, link.id));
            }
            ConnectivityEvent::TransportClosed { zid, reason } => {
                let whatami = {
                    let mut st = lock(&self.state);
                    st.rtt.retain(|(z, _), _| *z != zid);
                    st.watchers.remove(&zid).map(|(w, task)| {
                        task.abort();
                        w
                    })
                };
                let whatami = whatami.map_or("unknown", WhatAmI::as_str);
                self.metrics
                    .transport_closed(whatami, cause_kind(&reason), zid);
            }
            _ => {}
        }
    }

    fn whatami_of(&self, zid: ZenohId) -> &'static str {
        lock(&self.state)
            .watchers
            .get(&zid)
            .map_or("unknown", |(w, _)| w.as_str())
    }

    /// Starts recording the RTT measurements of `t`'s links.
    fn watch(this: &Arc<Self>, t: Transport) {
        let zid = t.zid();
        let whatami = t.whatami();
        let weak = Arc::downgrade(this);
        let mut updates = t.rtt_updates();
        let task = tokio::spawn(async move {
            while updates.changed().await.is_ok() {
                let Some(inner) = weak.upgrade() else { return };
                if t.is_closed() {
                    return;
                }
                let t_ms = now_ms();
                for l in t.links() {
                    if let Some(rtt_us) = l.rtt_us {
                        inner.record_rtt(zid, whatami, l.id, RttSample { t: t_ms, rtt_us });
                    }
                }
            }
        });
        if let Some((_, old)) = lock(&this.state).watchers.insert(zid, (whatami, task)) {
            old.abort();
        }
    }

    fn record_rtt(&self, zid: ZenohId, whatami: WhatAmI, link: u64, s: RttSample) {
        {
            let mut st = lock(&self.state);
            let h = st.rtt.entry((zid, link)).or_default();
            if h.len() >= RTT_HISTORY {
                h.pop_front();
            }
            h.push_back(s);
        }
        self.metrics.observe_rtt(zid, whatami, s.rtt_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plexus_transport::CloseCause;
    use plexus_transport::wire::transport::CloseReason;

    #[test]
    fn cause_kinds_follow_the_transport_layer_reasons() {
        let cases = [
            (CloseCause::Local, "local"),
            (CloseCause::ByPeer(CloseReason::Generic), "closed_by_peer"),
            (CloseCause::LeaseExpired, "lease_expired"),
            (CloseCause::Malformed("bad frame".into()), "malformed"),
            (CloseCause::LinkFailed("reset".into()), "link_failed"),
            (CloseCause::SlowConsumer, "slow_consumer"),
        ];
        for (cause, kind) in cases {
            assert_eq!(cause_kind(&cause.to_string()), kind, "{cause}");
        }
        assert_eq!(cause_kind("something new"), "other");
    }
}
