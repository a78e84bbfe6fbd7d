//! The admin space: this session's connectivity as data.
//!
//! Resources, under two layouts (the spec's `@/session/<ZID>/…` with upper-case zids, and
//! Zenoh 1.x's `@/<zid>/session/…` with lower-case zids):
//! - `…/transport/unicast/<remote_zid>`: a [`TransportInfo`] as JSON;
//! - `…/transport/unicast/<remote_zid>/link/<link_id>`: a [`LinkInfo`] as JSON.
//!
//! A session-local queryable answers from the live transport table, and every transport
//! and link opening or closing is published to the session's own subscribers (never on
//! the wire): Put with the JSON when it opens, Delete with an attachment
//! `{"reason": "…"}` when it closes. Each resource keeps the HLC timestamp of its Put,
//! and query replies carry that same timestamp, so a querying subscriber can merge
//! history and live events without duplicates. The JSON is the serde form of the typed
//! values that [`crate::Session::info`] returns, so the two views cannot drift.

use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU128;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use plexus_transport::wire::{WhatAmI, ZenohId};
use plexus_transport::{CloseCause, LinkSnapshot, Transport};
use serde::Serialize;

use crate::encoding::Encoding;
use crate::key_expr::OwnedKeyExpr;
use crate::sample::{Sample, SampleKind};
use crate::sync::lock;

fn millis_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn serialize_upper_zid<S: serde::Serializer>(zid: &ZenohId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&upper(zid))
}

fn serialize_zid<S: serde::Serializer>(zid: &ZenohId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(zid)
}

fn serialize_whatami<S: serde::Serializer>(w: &WhatAmI, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(w.as_str())
}

/// The zid as the spec prints it: upper-case hex.
fn upper(zid: &ZenohId) -> String {
    zid.to_string().to_uppercase()
}

/// Message and byte counters of a transport, included in query replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransportCounters {
    /// Network messages sent.
    pub tx_msgs: u64,
    /// Bytes written.
    pub tx_bytes: u64,
    /// Network messages received.
    pub rx_msgs: u64,
    /// Bytes read.
    pub rx_bytes: u64,
    /// Messages dropped by congestion control.
    pub dropped: u64,
    /// Bytes waiting in the TX queue now (a gauge, not a counter).
    pub tx_queued_bytes: u64,
}

/// A unicast transport to a remote process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TransportInfo {
    /// The remote process's id.
    #[serde(serialize_with = "serialize_upper_zid")]
    pub zid: ZenohId,
    /// The remote process's kind.
    #[serde(serialize_with = "serialize_whatami")]
    pub whatami: WhatAmI,
    /// One channel per priority was agreed.
    pub is_qos: bool,
    /// Shared memory is in use (never, in Plexus).
    pub is_shm: bool,
    /// When the transport opened, in milliseconds since the UNIX epoch.
    pub created_at: u64,
    /// The lease the remote process announced, in milliseconds.
    pub lease_ms: u64,
    /// Who the remote process proved to be when the transport opened: the user of its
    /// usrpwd authentication, else the common name of its TLS certificate.
    pub auth_identifier: Option<String>,
    /// Counters (in query replies; absent from events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<TransportCounters>,
}

impl TransportCounters {
    fn of(t: &Transport) -> Self {
        let s = t.stats();
        let get = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        TransportCounters {
            tx_msgs: get(&s.tx_msgs),
            tx_bytes: get(&s.tx_bytes),
            rx_msgs: get(&s.rx_msgs),
            rx_bytes: get(&s.rx_bytes),
            dropped: get(&s.dropped),
            tx_queued_bytes: t.tx_queued_bytes() as u64,
        }
    }
}

impl TransportInfo {
    pub(crate) fn of(t: &Transport, with_stats: bool) -> Self {
        let stats = with_stats.then(|| TransportCounters::of(t));
        TransportInfo {
            zid: t.zid(),
            whatami: t.whatami(),
            is_qos: t.is_qos(),
            is_shm: t.is_shm(),
            created_at: millis_since_epoch(t.created_at()),
            lease_ms: t.remote_lease().as_millis() as u64,
            auth_identifier: t.auth_identifier().map(str::to_owned),
            stats,
        }
    }
}

/// The range of priorities a link carries (Zenoh 1.x's field).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriorityRange {
    /// Highest priority.
    pub start: &'static str,
    /// Lowest priority.
    pub end: &'static str,
}

/// A link of a unicast transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkInfo {
    /// The remote process the link leads to.
    #[serde(skip)]
    pub zid: ZenohId,
    /// The link's id, stable for its life.
    #[serde(skip)]
    pub id: u64,
    /// The local end.
    pub src: String,
    /// The remote end.
    pub dst: String,
    /// The multicast group (none for unicast).
    pub group: Option<String>,
    /// Largest datagram or write the link takes.
    pub mtu: u16,
    /// Delivery is reliable.
    pub is_reliable: bool,
    /// The link is a byte stream.
    pub is_streamed: bool,
    /// Last measured round-trip time in microseconds (null until measured; peers that
    /// do not answer Plexus's probes, such as Zenoh, leave it null).
    pub rtt_us: Option<u64>,
    /// When the link joined its transport, in milliseconds since the UNIX epoch.
    pub created_at: u64,
    /// Network interfaces the link uses (Zenoh 1.x's field; not known to Plexus yet).
    pub interfaces: Vec<String>,
    /// Who the remote process proved to be on this link: the common name of its TLS
    /// certificate (Zenoh's meaning), else the user of the transport's usrpwd
    /// authentication.
    pub auth_identifier: Option<String>,
    /// The priorities the link carries.
    pub priorities: PriorityRange,
    /// `Reliable` or `BestEffort` (Zenoh 1.x's field).
    pub reliability: &'static str,
    /// Bytes written to the link so far (not in the spec's Link JSON).
    #[serde(skip)]
    pub tx_bytes: u64,
    /// Bytes read from the link so far (not in the spec's Link JSON).
    #[serde(skip)]
    pub rx_bytes: u64,
}

impl LinkInfo {
    pub(crate) fn of(zid: ZenohId, l: &LinkSnapshot) -> Self {
        LinkInfo {
            zid,
            id: l.id,
            src: l.info.src().to_string(),
            dst: l.info.dst().to_string(),
            group: l.info.group().map(|g| g.to_string()),
            mtu: l.info.mtu(),
            is_reliable: l.info.is_reliable(),
            is_streamed: l.info.is_streamed(),
            rtt_us: l.rtt_us,
            created_at: millis_since_epoch(l.created_at),
            interfaces: Vec::new(),
            auth_identifier: l.auth_identifier.clone(),
            priorities: PriorityRange {
                start: "Control",
                end: "Background",
            },
            reliability: if l.info.is_reliable() {
                "Reliable"
            } else {
                "BestEffort"
            },
            tx_bytes: l.tx_bytes,
            rx_bytes: l.rx_bytes,
        }
    }
}

/// The two ends of a link of a closed transport.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkEnds {
    /// The local end.
    pub src: String,
    /// The remote end.
    pub dst: String,
}

/// A transport that closed, as the session remembers it (the last
/// `adminspace/max_closed_transports` of them): what NATS's `/connz?state=closed` gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosedTransportInfo {
    /// Its rank among the transports this session saw close, from 1.
    pub seq: u64,
    /// The remote process's id (lower-case hex, as in Zenoh 1.x's keys).
    #[serde(serialize_with = "serialize_zid")]
    pub zid: ZenohId,
    /// The remote process's kind.
    #[serde(serialize_with = "serialize_whatami")]
    pub whatami: WhatAmI,
    /// The links it had (at most [`MAX_REMEMBERED_LINKS`]), in the order they joined.
    pub links: Vec<LinkEnds>,
    /// When it opened, in milliseconds since the UNIX epoch.
    pub created_at: u64,
    /// When it closed, in milliseconds since the UNIX epoch.
    pub closed_at: u64,
    /// Why it closed.
    pub reason: String,
    /// Who the remote process had proved to be (as [`TransportInfo::auth_identifier`]).
    pub auth_identifier: Option<String>,
    /// Its counters when it closed.
    pub stats: TransportCounters,
}

/// How many links of one transport the closed-transport history keeps.
pub const MAX_REMEMBERED_LINKS: usize = 16;

/// A connectivity change, for typed listeners.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectivityEvent {
    /// A transport opened.
    TransportOpened(TransportInfo),
    /// A link was added to a transport.
    LinkAdded(LinkInfo),
    /// A link was removed.
    LinkRemoved {
        /// The link as it was.
        link: LinkInfo,
        /// Why.
        reason: String,
    },
    /// A transport closed.
    TransportClosed {
        /// The remote process.
        zid: ZenohId,
        /// Why.
        reason: String,
    },
}

/// The two key layouts.
#[derive(Clone, Copy)]
enum Layout {
    /// `@/session/<ZID>/transport/unicast/<ZID>` (the spec).
    Spec,
    /// `@/<zid>/session/transport/unicast/<zid>` (Zenoh 1.x).
    Zenoh1,
}

const LAYOUTS: [Layout; 2] = [Layout::Spec, Layout::Zenoh1];

impl Layout {
    fn transport_key(self, own: &ZenohId, remote: &ZenohId) -> String {
        match self {
            Layout::Spec => format!(
                "@/session/{}/transport/unicast/{}",
                upper(own),
                upper(remote)
            ),
            Layout::Zenoh1 => format!("@/{own}/session/transport/unicast/{remote}"),
        }
    }

    fn link_key(self, own: &ZenohId, remote: &ZenohId, link: u64) -> String {
        format!("{}/link/{link}", self.transport_key(own, remote))
    }

    /// The JSON of a value in this layout, fields in declaration order (Zenoh 1.x
    /// prints the `zid` field in lower case).
    fn json<T: Serialize>(self, value: &T, zid: Option<&ZenohId>) -> Bytes {
        let text = match serde_json::to_string(value) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("admin space: cannot serialize: {e}");
                return Bytes::new();
            }
        };
        match (self, zid) {
            (Layout::Zenoh1, Some(z)) => Bytes::from(text.replacen(
                &format!(r#""zid":"{}""#, upper(z)),
                &format!(r#""zid":"{z}""#),
                1,
            )),
            _ => Bytes::from(text),
        }
    }
}

/// The key expressions the admin queryable answers on.
pub(crate) fn queryable_keys(own: &ZenohId) -> [String; 2] {
    [
        format!("@/session/{}/**", upper(own)),
        format!("@/{own}/session/**"),
    ]
}

/// Timestamps of the Puts of live resources, the typed listeners, and the history of
/// closed transports.
#[derive(Default)]
pub(crate) struct AdminState {
    transport_ts: HashMap<ZenohId, uhlc::Timestamp>,
    link_ts: HashMap<(ZenohId, u64), uhlc::Timestamp>,
    listeners: Vec<flume::Sender<ConnectivityEvent>>,
    /// The open transports (for their final counters) and the ends of their links.
    open: HashMap<ZenohId, (Transport, Vec<LinkEnds>)>,
    closed: VecDeque<ClosedTransportInfo>,
    closed_seq: u64,
}

/// The admin space of one session.
pub(crate) struct Admin {
    own: ZenohId,
    hlc: uhlc::HLC,
    state: Mutex<AdminState>,
    max_closed: usize,
}

/// A sample of the admin space.
fn admin_sample(
    key: String,
    kind: SampleKind,
    payload: Bytes,
    ts: uhlc::Timestamp,
    reason: Option<&str>,
) -> Option<Sample> {
    let key = match OwnedKeyExpr::new(key) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!("admin space: bad key: {e}");
            return None;
        }
    };
    let mut sample = Sample::new(key, kind, payload);
    if kind == SampleKind::Put {
        sample.encoding = Encoding::APPLICATION_JSON;
    }
    sample.timestamp = Some(ts);
    sample.attachment = reason.map(|r| Bytes::from(serde_json::json!({ "reason": r }).to_string()));
    Some(sample)
}

impl Admin {
    /// The admin space of session `own`, remembering up to `max_closed` closed transports.
    pub(crate) fn new(own: ZenohId, max_closed: usize) -> Self {
        let mut b = uhlc::HLCBuilder::new();
        if let Some(id) = NonZeroU128::new(own.to_u128()) {
            b = b.with_id(uhlc::ID::from(id));
        }
        Admin {
            own,
            hlc: b.build(),
            state: Mutex::new(AdminState::default()),
            max_closed,
        }
    }

    /// The closed transports remembered, oldest first.
    pub(crate) fn closed_transports(&self) -> Vec<ClosedTransportInfo> {
        lock(&self.state).closed.iter().cloned().collect()
    }

    fn notify(state: &mut AdminState, ev: ConnectivityEvent) {
        state.listeners.retain(|l| l.send(ev.clone()).is_ok());
    }

    /// A new typed listener.
    pub(crate) fn listen(&self) -> flume::Receiver<ConnectivityEvent> {
        let (tx, rx) = flume::unbounded();
        lock(&self.state).listeners.push(tx);
        rx
    }

    /// Samples to publish for an opened transport; records their timestamp.
    /// Records an opened transport; returns the samples to publish (after the lock is
    /// released, so subscribers may query the admin space from their callbacks).
    pub(crate) fn transport_opened(&self, t: &Transport) -> Vec<Sample> {
        let info = TransportInfo::of(t, false);
        let mut st = lock(&self.state);
        let ts = self.hlc.new_timestamp();
        st.transport_ts.insert(info.zid, ts);
        st.open.insert(info.zid, (t.clone(), Vec::new()));
        let out = LAYOUTS
            .iter()
            .filter_map(|l| {
                let key = l.transport_key(&self.own, &info.zid);
                admin_sample(
                    key,
                    SampleKind::Put,
                    l.json(&info, Some(&info.zid)),
                    ts,
                    None,
                )
            })
            .collect();
        Self::notify(&mut st, ConnectivityEvent::TransportOpened(info));
        out
    }

    /// Records an added link; returns the samples to publish.
    pub(crate) fn link_added(&self, zid: ZenohId, l: &LinkSnapshot) -> Vec<Sample> {
        let info = LinkInfo::of(zid, l);
        let mut st = lock(&self.state);
        let ts = self.hlc.new_timestamp();
        st.link_ts.insert((zid, l.id), ts);
        if let Some((_, ends)) = st.open.get_mut(&zid)
            && ends.len() < MAX_REMEMBERED_LINKS
        {
            ends.push(LinkEnds {
                src: info.src.clone(),
                dst: info.dst.clone(),
            });
        }
        let out = LAYOUTS
            .iter()
            .filter_map(|lay| {
                let key = lay.link_key(&self.own, &zid, l.id);
                admin_sample(key, SampleKind::Put, lay.json(&info, None), ts, None)
            })
            .collect();
        Self::notify(&mut st, ConnectivityEvent::LinkAdded(info));
        out
    }

    /// Forgets a removed link; returns the samples to publish.
    pub(crate) fn link_removed(
        &self,
        zid: ZenohId,
        l: &LinkSnapshot,
        cause: &CloseCause,
    ) -> Vec<Sample> {
        let reason = cause.to_string();
        let mut st = lock(&self.state);
        st.link_ts.remove(&(zid, l.id));
        let ts = self.hlc.new_timestamp();
        let out = LAYOUTS
            .iter()
            .filter_map(|lay| {
                let key = lay.link_key(&self.own, &zid, l.id);
                admin_sample(key, SampleKind::Delete, Bytes::new(), ts, Some(&reason))
            })
            .collect();
        Self::notify(
            &mut st,
            ConnectivityEvent::LinkRemoved {
                link: LinkInfo::of(zid, l),
                reason,
            },
        );
        out
    }

    /// Forgets a closed transport; returns the samples to publish.
    pub(crate) fn transport_closed(&self, zid: ZenohId, cause: &CloseCause) -> Vec<Sample> {
        let reason = cause.to_string();
        let mut st = lock(&self.state);
        if st.transport_ts.remove(&zid).is_none() {
            return Vec::new();
        }
        if let Some((t, links)) = st.open.remove(&zid) {
            self.remember_closed(&mut st, &t, links, &reason);
        }
        let ts = self.hlc.new_timestamp();
        let out = LAYOUTS
            .iter()
            .filter_map(|lay| {
                let key = lay.transport_key(&self.own, &zid);
                admin_sample(key, SampleKind::Delete, Bytes::new(), ts, Some(&reason))
            })
            .collect();
        Self::notify(&mut st, ConnectivityEvent::TransportClosed { zid, reason });
        out
    }

    /// Adds a closed transport to the bounded history.
    fn remember_closed(
        &self,
        st: &mut AdminState,
        t: &Transport,
        links: Vec<LinkEnds>,
        reason: &str,
    ) {
        st.closed_seq += 1;
        if self.max_closed == 0 {
            return;
        }
        while st.closed.len() >= self.max_closed {
            st.closed.pop_front();
        }
        st.closed.push_back(ClosedTransportInfo {
            seq: st.closed_seq,
            zid: t.zid(),
            whatami: t.whatami(),
            links,
            created_at: millis_since_epoch(t.created_at()),
            closed_at: millis_since_epoch(SystemTime::now()),
            reason: reason.to_string(),
            auth_identifier: t.auth_identifier().map(str::to_owned),
            stats: TransportCounters::of(t),
        });
    }

    /// The replies to a query on `query` (a key expression), from the live transports,
    /// with the timestamps of their Puts. (Sent by the caller, after the lock is
    /// released.)
    pub(crate) fn answer(&self, query: &OwnedKeyExpr, transports: &[Transport]) -> Vec<Sample> {
        let mut replies = Vec::new();
        {
            let st = lock(&self.state);
            self.collect_answers(&st, query, transports, &mut replies);
        }
        replies
    }

    fn collect_answers(
        &self,
        st: &AdminState,
        query: &OwnedKeyExpr,
        transports: &[Transport],
        out: &mut Vec<Sample>,
    ) {
        for t in transports {
            let Some(ts) = st.transport_ts.get(&t.zid()).copied() else {
                continue; // not announced yet: its Put will come live
            };
            let info = TransportInfo::of(t, true);
            for layout in LAYOUTS {
                let key = layout.transport_key(&self.own, &info.zid);
                out.extend(matching(
                    query,
                    key,
                    layout.json(&info, Some(&info.zid)),
                    ts,
                ));
            }
            for l in t.links() {
                let Some(ts) = st.link_ts.get(&(t.zid(), l.id)).copied() else {
                    continue;
                };
                let info = LinkInfo::of(t.zid(), &l);
                for layout in LAYOUTS {
                    let key = layout.link_key(&self.own, &info.zid, l.id);
                    out.extend(matching(query, key, layout.json(&info, None), ts));
                }
            }
        }
    }
}

/// The reply sample for a resource, if its key matches the query.
fn matching(
    query: &OwnedKeyExpr,
    key: String,
    payload: Bytes,
    ts: uhlc::Timestamp,
) -> Option<Sample> {
    let k = OwnedKeyExpr::new(key).ok()?;
    if !k.intersects(query) {
        return None;
    }
    admin_sample(k.to_string(), SampleKind::Put, payload, ts, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_json_zid_case() {
        let own: ZenohId = "f36e4392b8274714baa1a4f425f0feed".parse().expect("zid");
        let remote: ZenohId = "cddc6b8cac0d4d52a0fb55dcd693f293".parse().expect("zid");
        assert_eq!(
            Layout::Spec.transport_key(&own, &remote),
            "@/session/F36E4392B8274714BAA1A4F425F0FEED/transport/unicast/CDDC6B8CAC0D4D52A0FB55DCD693F293"
        );
        assert_eq!(
            Layout::Zenoh1.link_key(&own, &remote, 7),
            "@/f36e4392b8274714baa1a4f425f0feed/session/transport/unicast/cddc6b8cac0d4d52a0fb55dcd693f293/link/7"
        );
        let info = TransportInfo {
            zid: remote,
            whatami: WhatAmI::Router,
            is_qos: true,
            is_shm: false,
            created_at: 1,
            lease_ms: 10_000,
            auth_identifier: None,
            stats: None,
        };
        let spec =
            String::from_utf8(Layout::Spec.json(&info, Some(&remote)).to_vec()).expect("utf-8");
        assert!(
            spec.starts_with(r#"{"zid":"CDDC6B8CAC0D4D52A0FB55DCD693F293","whatami":"router","is_qos":true,"is_shm":false"#),
            "{spec}"
        );
        let z1 =
            String::from_utf8(Layout::Zenoh1.json(&info, Some(&remote)).to_vec()).expect("utf-8");
        assert!(
            z1.contains(r#""zid":"cddc6b8cac0d4d52a0fb55dcd693f293""#),
            "{z1}"
        );
        assert!(!spec.contains("stats"), "events carry no counters");
    }
}
