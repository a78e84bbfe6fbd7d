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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::NonZeroU128;
use std::ops::Bound;
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
    /// `…/transport/unicast`, the parent of every transport key of session `own`.
    fn transports_prefix(self, own: &ZenohId) -> String {
        match self {
            Layout::Spec => format!("@/session/{}/transport/unicast", upper(own)),
            Layout::Zenoh1 => format!("@/{own}/session/transport/unicast"),
        }
    }

    /// The key chunk of a remote zid.
    fn zid_chunk(self, remote: &ZenohId) -> String {
        match self {
            Layout::Spec => upper(remote),
            Layout::Zenoh1 => remote.to_string(),
        }
    }

    fn transport_key(self, own: &ZenohId, remote: &ZenohId) -> String {
        format!("{}/{}", self.transports_prefix(own), self.zid_chunk(remote))
    }

    fn link_key(self, own: &ZenohId, remote: &ZenohId, link: u64) -> String {
        format!("{}/link/{link}", self.transport_key(own, remote))
    }

    /// The JSON of a value in this layout, fields in declaration order. A value with a
    /// `zid` (the first field, upper-case hex) names it in lower case in Zenoh 1.x's
    /// layout.
    fn json<T: Serialize>(self, value: &T, has_zid: bool) -> Bytes {
        let mut text = match serde_json::to_vec(value) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("admin space: cannot serialize: {e}");
                return Bytes::new();
            }
        };
        if let (Layout::Zenoh1, true) = (self, has_zid) {
            const FIELD: &[u8] = br#"{"zid":""#;
            if let Some(rest) = text.strip_prefix(FIELD) {
                let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                text[FIELD.len()..FIELD.len() + hex].make_ascii_lowercase();
            }
        }
        Bytes::from(text)
    }
}

/// The key expressions the admin queryable answers on.
pub(crate) fn queryable_keys(own: &ZenohId) -> [String; 2] {
    [
        format!("@/session/{}/**", upper(own)),
        format!("@/{own}/session/**"),
    ]
}

/// The announced transports and links, the typed listeners, and the history of closed
/// transports.
#[derive(Default)]
pub(crate) struct AdminState {
    /// The transports whose Put was published, in zid order (a query walks it a slice at
    /// a time).
    live: BTreeMap<ZenohId, Live>,
    /// The timestamps of the Puts of live links.
    link_ts: HashMap<(ZenohId, u64), uhlc::Timestamp>,
    listeners: Vec<flume::Sender<ConnectivityEvent>>,
    closed: VecDeque<ClosedTransportInfo>,
    closed_seq: u64,
}

/// What a query can name in one layout.
#[derive(Clone, Copy)]
struct Wanted {
    layout: Layout,
    /// Some transport keys.
    transports: bool,
    /// Every transport key (none needs checking).
    every_transport: bool,
    /// Some link keys.
    links: bool,
}

/// A transport whose Put was published.
struct Live {
    /// The transport (for its counters, now and when it closes).
    transport: Transport,
    /// The ends of its links, for the closed-transport history.
    ends: Vec<LinkEnds>,
    /// The timestamp of its Put.
    ts: uhlc::Timestamp,
    /// Its key in each layout (kept so that a query over thousands of transports formats
    /// and checks no key).
    keys: [OwnedKeyExpr; LAYOUTS.len()],
}

/// The admin space of one session.
pub(crate) struct Admin {
    own: ZenohId,
    hlc: uhlc::HLC,
    state: Mutex<AdminState>,
    max_closed: usize,
}

/// `key` as a key expression (the admin space's keys are made of zids and numbers:
/// an error here is a bug, logged).
fn admin_key(key: String) -> Option<OwnedKeyExpr> {
    OwnedKeyExpr::new(key)
        .map_err(|e| tracing::error!("admin space: bad key: {e}"))
        .ok()
}

/// A sample of the admin space: a Put carries JSON, a Delete the reason as an attachment.
fn admin_sample(
    key: OwnedKeyExpr,
    kind: SampleKind,
    payload: Bytes,
    ts: uhlc::Timestamp,
    reason: Option<&str>,
) -> Sample {
    let mut sample = Sample::new(key, kind, payload);
    if kind == SampleKind::Put {
        sample.encoding = Encoding::APPLICATION_JSON;
    }
    sample.timestamp = Some(ts);
    sample.attachment = reason.map(|r| Bytes::from(serde_json::json!({ "reason": r }).to_string()));
    sample
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

    /// Records an opened transport; returns the samples to publish (after the lock is
    /// released, so subscribers may query the admin space from their callbacks).
    pub(crate) fn transport_opened(&self, t: &Transport) -> Vec<Sample> {
        let info = TransportInfo::of(t, false);
        let mut st = lock(&self.state);
        let ts = self.hlc.new_timestamp();
        let keys = LAYOUTS.map(|l| admin_key(l.transport_key(&self.own, &info.zid)));
        let [Some(spec), Some(zenoh1)] = keys else {
            return Vec::new();
        };
        let keys = [spec, zenoh1];
        let out = LAYOUTS
            .iter()
            .zip(&keys)
            .map(|(l, key)| {
                let json = l.json(&info, true);
                admin_sample(key.clone(), SampleKind::Put, json, ts, None)
            })
            .collect();
        let live = Live {
            transport: t.clone(),
            ends: Vec::new(),
            ts,
            keys,
        };
        st.live.insert(info.zid, live);
        Self::notify(&mut st, ConnectivityEvent::TransportOpened(info));
        out
    }

    /// Records an added link; returns the samples to publish.
    pub(crate) fn link_added(&self, zid: ZenohId, l: &LinkSnapshot) -> Vec<Sample> {
        let info = LinkInfo::of(zid, l);
        let mut st = lock(&self.state);
        let ts = self.hlc.new_timestamp();
        st.link_ts.insert((zid, l.id), ts);
        if let Some(Live { ends, .. }) = st.live.get_mut(&zid)
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
                let key = admin_key(lay.link_key(&self.own, &zid, l.id))?;
                Some(admin_sample(
                    key,
                    SampleKind::Put,
                    lay.json(&info, false),
                    ts,
                    None,
                ))
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
                let key = admin_key(lay.link_key(&self.own, &zid, l.id))?;
                let reason = Some(reason.as_str());
                Some(admin_sample(
                    key,
                    SampleKind::Delete,
                    Bytes::new(),
                    ts,
                    reason,
                ))
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
        let Some(live) = st.live.remove(&zid) else {
            return Vec::new();
        };
        self.remember_closed(&mut st, &live.transport, live.ends, &reason);
        let ts = self.hlc.new_timestamp();
        let out = live
            .keys
            .into_iter()
            .map(|key| admin_sample(key, SampleKind::Delete, Bytes::new(), ts, Some(&reason)))
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

    /// Answers a query on `query` (a key expression) from the announced transports and
    /// links: passes each reply to `send`, with the timestamp of its resource's Put. The
    /// state is locked to copy a slice of the transports at a time, never while `send`
    /// runs (a callback may query the admin space), and the replies are not collected: a
    /// query over ten thousand transports holds a few replies at a time.
    pub(crate) fn answer(&self, query: &OwnedKeyExpr, mut send: impl FnMut(Sample)) {
        /// Transports copied per lock.
        const SLICE: usize = 64;
        // Which kinds of resource of each layout the query can name: a few intersections
        // per query, so that a query for transports builds no link and a query in one
        // layout nothing of the other; and whether it names every transport, so that
        // their keys need no check.
        let pattern = |p: String| OwnedKeyExpr::new(p).ok();
        let wanted = LAYOUTS.map(|layout| {
            let prefix = layout.transports_prefix(&self.own);
            let transports = pattern(format!("{prefix}/*")).filter(|p| p.intersects(query));
            let links = pattern(format!("{prefix}/*/link/*")).is_some_and(|p| p.intersects(query));
            Wanted {
                layout,
                every_transport: transports.as_ref().is_some_and(|p| query.includes(p)),
                transports: transports.is_some(),
                links,
            }
        });
        let mut slice = Vec::with_capacity(SLICE);
        let mut after = None;
        loop {
            {
                let st = lock(&self.state);
                let rest = match after {
                    None => st.live.range(..),
                    Some(z) => st.live.range((Bound::Excluded(z), Bound::Unbounded)),
                };
                slice.extend(rest.take(SLICE).map(|(zid, live)| {
                    // Only the keys of the layouts the query can name.
                    let keys: [Option<OwnedKeyExpr>; LAYOUTS.len()] = std::array::from_fn(|i| {
                        (wanted[i].transports || wanted[i].links).then(|| live.keys[i].clone())
                    });
                    (*zid, live.transport.clone(), keys, live.ts)
                }));
            }
            let Some(&(last, ..)) = slice.last() else {
                return;
            };
            after = Some(last);
            for (zid, t, keys, ts) in slice.drain(..) {
                let mut info = None;
                let mut links = None;
                for (want, key) in wanted.iter().zip(keys) {
                    let Some(key) = key else {
                        continue;
                    };
                    if want.transports && (want.every_transport || key.intersects(query)) {
                        let info = info.get_or_insert_with(|| TransportInfo::of(&t, true));
                        let json = want.layout.json(info, true);
                        send(admin_sample(key.clone(), SampleKind::Put, json, ts, None));
                    }
                    if want.links {
                        let links = links.get_or_insert_with(|| t.links());
                        self.answer_links(query, want.layout, &key, zid, links, &mut send);
                    }
                }
            }
        }
    }

    /// The replies of a transport's announced links (keys under `transport_key`).
    fn answer_links(
        &self,
        query: &OwnedKeyExpr,
        layout: Layout,
        transport_key: &OwnedKeyExpr,
        zid: ZenohId,
        links: &[LinkSnapshot],
        send: &mut impl FnMut(Sample),
    ) {
        for l in links {
            let Some(ts) = lock(&self.state).link_ts.get(&(zid, l.id)).copied() else {
                continue; // not announced yet: its Put will come live
            };
            let Some(key) = admin_key(format!("{transport_key}/link/{}", l.id)) else {
                continue;
            };
            if key.intersects(query) {
                let json = layout.json(&LinkInfo::of(zid, l), false);
                send(admin_sample(key, SampleKind::Put, json, ts, None));
            }
        }
    }
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
        let spec = String::from_utf8(Layout::Spec.json(&info, true).to_vec()).expect("utf-8");
        assert!(
            spec.starts_with(r#"{"zid":"CDDC6B8CAC0D4D52A0FB55DCD693F293","whatami":"router","is_qos":true,"is_shm":false"#),
            "{spec}"
        );
        let z1 = String::from_utf8(Layout::Zenoh1.json(&info, true).to_vec()).expect("utf-8");
        assert!(
            z1.contains(r#""zid":"cddc6b8cac0d4d52a0fb55dcd693f293""#),
            "{z1}"
        );
        assert!(!spec.contains("stats"), "events carry no counters");
    }
}
