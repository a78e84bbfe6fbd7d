//! Unicast transports: one per remote process, each carried by one or more links.
//!
//! [`TransportManager`] listens and connects, runs the handshake on every new link and
//! either opens a new [`Transport`] or joins the link to the transport that already
//! exists for the remote zid. Events and messages go to the [`TransportHandler`] given
//! at construction. Every task the manager and its transports spawn is tracked:
//! [`TransportManager::close`] returns once they have all ended.
//!
//! Limits (see [`TransportConfig`]): each handshake has an absolute deadline
//! (`open_timeout`, `accept_timeout`); at most `accept_pending` handshakes of accepted
//! links run at once (more connections are closed at once); at most `max_sessions`
//! transports are open; a link we accept joins a live transport only within
//! `max_links`, and above 1 only with Zenoh's multilink proof (see
//! [`crate::multilink`]); any joining link must carry the transport's multilink key, or
//! none if it has none. A refused link gets CLOSE with the reason in place of the
//! OPEN ack and never touches the transport it named.
//!
//! A link whose handshake fails (TLS or INIT/OPEN, e.g. refused credentials) never
//! reaches the handler: it is closed and logged once with its reason, at INFO while fewer
//! than [`REFUSALS_PER_INTERVAL`] were logged in the last [`REFUSAL_INTERVAL`], at DEBUG
//! beyond (the next INFO line says how many went to DEBUG), so strangers cannot fill the
//! log.

pub mod backoff;
pub mod backpressure;
mod config;
mod establish;
mod link;
mod refusal;
mod transport;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_link::{Endpoint, LinkReader, LinkWriter, Locator};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::config::{
    DEFAULT_ACCEPT_PENDING, DEFAULT_MAX_LINKS, DEFAULT_MAX_SESSIONS, QueueConfig, TransportConfig,
};
use self::establish::drive_handshake;
pub use self::refusal::{REFUSAL_INTERVAL, REFUSALS_PER_INTERVAL};
use self::refusal::{RefusalLevel, RefusalLog};
use self::transport::{NewLink, Registry};
pub use self::transport::{Transport, TransportStats, alive_transports};
use crate::error::TransportError;
use crate::event::TransportHandler;
use crate::handshake::{Established, Handshake, HandshakeError};
use crate::multilink::MultilinkKey;
use crate::pipeline::Batch;
use crate::sync::lock;
use crate::wire::ZenohId;
use crate::wire::transport::{
    BatchItem, BatchReader, Close, CloseReason, StreamFramer, TransportMessage,
};

pub(crate) struct ManagerInner {
    pub(crate) config: TransportConfig,
    pub(crate) handler: Arc<dyn TransportHandler>,
    transports: Mutex<HashMap<ZenohId, Transport>>,
    /// Zids held by accepted links admitted as the first link of a new transport and
    /// not added yet (their OPEN ack is on its way): see [`Reservation`]. Locked after
    /// `transports`.
    reserved: Mutex<HashMap<ZenohId, usize>>,
    listeners: Mutex<Vec<Locator>>,
    refusals: Mutex<RefusalLog>,
    /// Our multilink key, when `max_links` > 1.
    multilink: Option<Arc<MultilinkKey>>,
    /// Handshakes of accepted links in progress (bounded by `accept_pending`).
    accepting: AtomicUsize,
    next_link_id: AtomicU64,
    closed: AtomicBool,
    /// Every task of the manager and of its transports.
    pub(crate) tasks: TaskTracker,
    /// Stops the listeners and the handshakes in progress.
    cancel: CancellationToken,
}

/// Opens and accepts unicast transports and keeps the table of live ones.
///
/// Cheap to clone. [`TransportManager::close`] closes every transport and listener and
/// returns once every task they ran has ended; dropping the last clone stops the
/// listeners but leaves transports to their tasks.
#[derive(Clone)]
pub struct TransportManager {
    inner: Arc<ManagerInner>,
}

impl std::fmt::Debug for TransportManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportManager")
            .field("zid", &self.inner.config.zid)
            .finish()
    }
}

impl TransportManager {
    /// A manager that reports to `handler`.
    ///
    /// With `max_links` above 1, this makes the process's multilink key pair (RSA, as
    /// Zenoh); should that fail, links that would join a transport are refused.
    pub fn new(config: TransportConfig, handler: Arc<dyn TransportHandler>) -> Self {
        let multilink = if config.max_links <= 1 {
            None
        } else if let Some(key) = &config.multilink_key {
            Some(key.clone())
        } else {
            match MultilinkKey::generate() {
                Ok(key) => Some(Arc::new(key)),
                Err(e) => {
                    tracing::warn!("{e}: links that would join a transport will be refused");
                    None
                }
            }
        };
        TransportManager {
            inner: Arc::new(ManagerInner {
                multilink,
                config,
                handler,
                transports: Mutex::new(HashMap::new()),
                reserved: Mutex::new(HashMap::new()),
                listeners: Mutex::new(Vec::new()),
                refusals: Mutex::new(RefusalLog::default()),
                accepting: AtomicUsize::new(0),
                next_link_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                tasks: TaskTracker::new(),
                cancel: CancellationToken::new(),
            }),
        }
    }

    /// This process's id.
    pub fn zid(&self) -> ZenohId {
        self.inner.config.zid
    }

    /// The settings.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }

    /// Starts listening on `endpoint`; returns the bound locator (port 0 resolved).
    pub async fn listen(&self, endpoint: &Endpoint) -> Result<Locator, TransportError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(TransportError::ManagerClosed);
        }
        let mut listener = plexus_link::listen(endpoint, &self.inner.config.link).await?;
        let locator = listener.locator().clone();
        let weak = Arc::downgrade(&self.inner);
        let cancel = self.inner.cancel.clone();
        let tasks = self.inner.tasks.clone();
        self.inner.tasks.spawn(async move {
            let mut backoff = backoff::AcceptBackoff::default();
            loop {
                let accepted = tokio::select! {
                    _ = cancel.cancelled() => return,
                    a = listener.accept() => a,
                };
                let link = match accepted {
                    Ok(link) => {
                        backoff.succeeded();
                        link
                    }
                    // A TLS handshake that failed or timed out: one refused connection.
                    Err(
                        e @ (plexus_link::LinkError::Tls { .. }
                        | plexus_link::LinkError::TimedOut { .. }),
                    ) => {
                        let Some(inner) = weak.upgrade() else { return };
                        refused(&inner, listener.locator(), &e);
                        continue;
                    }
                    Err(e) => {
                        // A persistent error (e.g. out of descriptors) neither spins
                        // nor floods the log: see `backoff`.
                        let failure = backoff.failed(Instant::now());
                        match failure.log {
                            Some(0) => tracing::warn!(
                                "accepting on {} failed: {e}; retrying in {:?}",
                                listener.locator(),
                                failure.pause
                            ),
                            Some(n) => tracing::warn!(
                                "accepting on {} failed: {e}; retrying in {:?} ({n} more \
                                 failures since the last line)",
                                listener.locator(),
                                failure.pause
                            ),
                            None => {}
                        }
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            _ = tokio::time::sleep(failure.pause) => continue,
                        }
                    }
                };
                let Some(inner) = weak.upgrade() else { return };
                let on = listener.locator().clone();
                let limit = inner.config.accept_pending;
                if inner.accepting.load(Ordering::Acquire) >= limit {
                    // Closed at once (dropping the link closes it), logged within the
                    // refusal budget: a flood of connections costs one line per interval.
                    drop(link);
                    refused(
                        &inner,
                        &on,
                        &format_args!(
                            "{limit} handshakes already in progress \
                             (transport/unicast/accept_pending)"
                        ),
                    );
                    continue;
                }
                let pending = Pending::new(&inner);
                let cancel = cancel.clone();
                tasks.spawn(async move {
                    let accepted = tokio::select! {
                        _ = cancel.cancelled() => return,
                        r = accept_link(&inner, link, pending) => r,
                    };
                    if let Err(e) = accepted {
                        refused(&inner, &on, &e);
                    }
                });
            }
        });
        lock(&self.inner.listeners).push(locator.clone());
        tracing::debug!("listening on {locator}");
        Ok(locator)
    }

    /// The locators this manager listens on.
    pub fn locators(&self) -> Vec<Locator> {
        lock(&self.inner.listeners).clone()
    }

    /// Opens a link to `endpoint` and runs the handshake; returns the transport it opened
    /// or joined.
    pub async fn connect(&self, endpoint: &Endpoint) -> Result<Transport, TransportError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(TransportError::ManagerClosed);
        }
        let inner = self.inner.clone();
        let endpoint = endpoint.clone();
        // Tracked and cancelled by `close` like the handshakes of accepted links.
        let connect = self.inner.tasks.track_future(async move {
            let link = plexus_link::connect(&endpoint, &inner.config.link).await?;
            let cfg = inner.config.handshake(
                link.mtu(),
                inner.config.open_timeout,
                inner.multilink.clone(),
            );
            let (mut reader, mut writer) = link.split();
            let hs = Handshake::opener(cfg, Instant::now());
            let done = drive_handshake(&inner, hs, &mut reader, &mut writer, false).await?;
            add_link(&inner, done, reader, writer, false)
        });
        tokio::select! {
            _ = self.inner.cancel.cancelled() => Err(TransportError::ManagerClosed),
            r = connect => r,
        }
    }

    /// The live transports.
    pub fn transports(&self) -> Vec<Transport> {
        lock(&self.inner.transports).values().cloned().collect()
    }

    /// The live transport to `zid`, if any.
    pub fn transport(&self, zid: &ZenohId) -> Option<Transport> {
        lock(&self.inner.transports).get(zid).cloned()
    }

    /// Stops the listeners and closes every transport, sending CLOSE on each link;
    /// returns once every task of the manager and of its transports has ended.
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.cancel.cancel();
        let transports: Vec<Transport> = lock(&self.inner.transports).values().cloned().collect();
        let mut closing = tokio::task::JoinSet::new();
        for t in transports {
            closing.spawn(async move { t.close().await });
        }
        while closing.join_next().await.is_some() {}
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}

impl Drop for ManagerInner {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The manager's table is the one its transports are listed in.
impl Registry for ManagerInner {
    fn forget(&self, transport: &Transport) {
        let mut table = lock(&self.transports);
        if table
            .get(&transport.zid())
            .is_some_and(|t| t.ptr_eq(transport))
        {
            table.remove(&transport.zid());
        }
    }
}

/// Counts one handshake of an accepted link in progress while it lives.
struct Pending(Arc<ManagerInner>);

impl Pending {
    fn new(inner: &Arc<ManagerInner>) -> Self {
        inner.accepting.fetch_add(1, Ordering::AcqRel);
        Pending(inner.clone())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.accepting.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs the handshake of an accepted link, counted in `pending` until it completes.
async fn accept_link(
    inner: &Arc<ManagerInner>,
    link: plexus_link::Link,
    pending: Pending,
) -> Result<Transport, TransportError> {
    if inner.closed.load(Ordering::Acquire) {
        return Err(TransportError::ManagerClosed);
    }
    let cfg = inner.config.handshake(
        link.mtu(),
        inner.config.accept_timeout,
        inner.multilink.clone(),
    );
    let (mut reader, mut writer) = link.split();
    let hs = Handshake::acceptor(cfg, Instant::now());
    let done = drive_handshake(inner, hs, &mut reader, &mut writer, true).await?;
    drop(pending);
    add_link(inner, done, reader, writer, true)
}

/// Decides whether a link whose handshake completed with `est` may open a transport
/// (`Ok(None)`) or join the live one to its zid (`Ok(Some(_))`), given the table of
/// live transports.
///
/// - A new transport needs a free slot: at most `max_sessions` are open.
/// - A link joins a transport only with the transport's multilink key: the same key
///   (the peer process's, proven by the opener with the multilink extension) or none
///   on both; else it is refused with INVALID, as Zenoh refuses a link whose transport
///   configuration differs.
/// - A link we accepted (`inbound`) joins a transport only while it holds fewer
///   accepted links than its limit: `max_links` when the transport has a multilink
///   key, else 1 (Zenoh's rule). Links we open are not counted (we chose whom to dial).
/// - A link authenticated as another user than the transport's is refused.
/// - While an accepted link holds a zid ([`Reservation`]: admitted as a new
///   transport's first link, its OPEN ack on its way, not added yet), another accepted
///   link with that zid and without the multilink proof is refused as if the transport
///   were there: two handshakes with one zid cannot both be told they opened it.
fn admit(
    inner: &ManagerInner,
    table: &HashMap<ZenohId, Transport>,
    reserved: &HashMap<ZenohId, usize>,
    est: &Established,
    inbound: bool,
) -> Result<Option<Transport>, TransportError> {
    let zid = est.remote_zid;
    let refuse = |reason, detail: String| TransportError::Refused {
        zid,
        reason,
        detail,
    };
    let Some(existing) = table.get(&zid).filter(|t| !t.is_closed()) else {
        if inbound && est.multilink_key.is_none() && reserved.contains_key(&zid) {
            return Err(refuse(
                CloseReason::MaxLinks,
                "another accepted link with this zid is opening its transport \
                 (transport/unicast/max_links = 1 without the multilink proof)"
                    .into(),
            ));
        }
        let max = inner.config.max_sessions;
        if table.len() >= max {
            return Err(refuse(
                CloseReason::MaxSessions,
                format!("{max} transports are open (transport/unicast/max_sessions)"),
            ));
        }
        return Ok(None);
    };
    // A link that authenticated as another user cannot join this user's transport.
    if let (Some(theirs), Some(ours)) = (est.auth_user.as_deref(), existing.auth_user())
        && theirs != ours
    {
        return Err(TransportError::AuthMismatch {
            zid,
            link_user: theirs.to_owned(),
            transport_user: ours.to_owned(),
        });
    }
    // The peer's multilink key is part of the transport, in both directions: Zenoh
    // refuses a link whose key differs from its transport's (present or not) as a
    // configuration mismatch, CLOSE(INVALID).
    let ours = existing.multilink_key();
    if est.multilink_key.as_ref() != ours {
        let detail = match (ours, &est.multilink_key) {
            (Some(_), Some(_)) => {
                "the link proves (multilink extension) another key than the live \
                 transport with this zid: it does not come from that process"
            }
            (Some(_), None) => {
                "the link does not prove (multilink extension) that it comes from the \
                 process of the live transport with this zid"
            }
            _ => {
                "the link agreed the multilink extension and the live transport with \
                 this zid did not"
            }
        };
        return Err(refuse(CloseReason::Invalid, detail.into()));
    }
    if inbound {
        let limit = if ours.is_some() {
            inner.config.max_links.max(1)
        } else {
            1
        };
        let held = existing.inbound_links();
        if held >= limit {
            let detail = if limit < inner.config.max_links {
                format!(
                    "a transport with this zid is live and holds {held} accepted link(s); \
                     more need the multilink proof (transport/unicast/max_links = {})",
                    inner.config.max_links
                )
            } else {
                format!(
                    "a transport with this zid is live and holds {held} accepted link(s) \
                     (transport/unicast/max_links = {limit})"
                )
            };
            return Err(refuse(CloseReason::MaxLinks, detail));
        }
    }
    Ok(Some(existing.clone()))
}

fn add_link(
    inner: &Arc<ManagerInner>,
    done: Handshaken<'_>,
    reader: LinkReader,
    writer: LinkWriter,
    inbound: bool,
) -> Result<Transport, TransportError> {
    let Handshaken {
        est,
        framer,
        leftover,
        reservation,
    } = done;
    let mut table = lock(&inner.transports);
    if inner.closed.load(Ordering::Acquire) {
        return Err(TransportError::ManagerClosed);
    }
    // Checked again, with the insertion or the count, under the lock: handshakes that
    // completed at the same time cannot go beyond a limit together. The link's own
    // hold on its zid ends here, in the same critical section as the insertion.
    let mut reserved = lock(&inner.reserved);
    if let Some(r) = reservation {
        r.release(&mut reserved);
    }
    let admitted = admit(inner, &table, &reserved, &est, inbound);
    drop(reserved);
    let admitted = match admitted {
        Ok(a) => a,
        Err(e) => {
            drop(table);
            if let TransportError::Refused { reason, .. } = &e {
                close_refused(inner, writer, *reason);
            }
            return Err(e);
        }
    };
    let link = NewLink {
        id: inner.next_link_id.fetch_add(1, Ordering::Relaxed),
        reader,
        writer,
        framer,
        leftover,
        inbound,
    };
    if let Some(existing) = admitted {
        if inbound {
            existing.count_inbound();
        }
        drop(table);
        existing.join_link(link);
        return Ok(existing);
    }
    let registry: Weak<ManagerInner> = Arc::downgrade(inner);
    let transport = Transport::new(
        registry,
        &inner.tasks,
        &inner.config,
        &est,
        link.reader.info(),
    );
    if inbound {
        transport.count_inbound();
    }
    table.insert(est.remote_zid, transport.clone());
    drop(table);
    // Listed before the handler is made, so that what the handler does as the
    // transport opens (the session announces it) finds its first link there.
    transport.join_link(link);
    let handler = inner.handler.opened(&transport);
    transport.start(handler);
    match transport.auth_identifier() {
        Some(id) => tracing::info!(
            "transport to {} ({}, authenticated as `{id}`) opened",
            est.remote_zid,
            est.remote_whatami
        ),
        None => tracing::info!(
            "transport to {} ({}) opened",
            est.remote_zid,
            est.remote_whatami
        ),
    }
    Ok(transport)
}

/// What a completed handshake hands to [`add_link`] (see [`drive_handshake`]).
pub(super) struct Handshaken<'a> {
    pub(super) est: Established,
    /// Holds any bytes that arrived after the last handshake message.
    pub(super) framer: StreamFramer,
    /// The rest of the batch that carried the last handshake message.
    pub(super) leftover: Option<Bytes>,
    /// An accepted link's hold on the zid, when it opens a new transport.
    pub(super) reservation: Option<Reservation<'a>>,
}

/// An accepted link's hold on its zid from its admission as the first link of a new
/// transport until [`add_link`] inserts it (or the link fails: dropped, it lets go).
pub(super) struct Reservation<'a> {
    inner: &'a ManagerInner,
    zid: ZenohId,
}

impl<'a> Reservation<'a> {
    /// Takes `zid` in `reserved` (the caller holds the lock).
    fn take(inner: &'a ManagerInner, reserved: &mut HashMap<ZenohId, usize>, zid: ZenohId) -> Self {
        *reserved.entry(zid).or_default() += 1;
        Reservation { inner, zid }
    }

    /// Lets go of the zid in `reserved` (the caller holds the lock).
    fn release(self, reserved: &mut HashMap<ZenohId, usize>) {
        unreserve(reserved, self.zid);
        std::mem::forget(self);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        unreserve(&mut lock(&self.inner.reserved), self.zid);
    }
}

fn unreserve(reserved: &mut HashMap<ZenohId, usize>, zid: ZenohId) {
    if let Some(n) = reserved.get_mut(&zid) {
        *n -= 1;
        if *n == 0 {
            reserved.remove(&zid);
        }
    }
}

/// Sends CLOSE(`reason`) on a link refused after its handshake, then closes it.
fn close_refused(inner: &ManagerInner, mut writer: LinkWriter, reason: CloseReason) {
    let streamed = writer.info().is_streamed();
    inner.tasks.spawn(async move {
        let mut b = Batch::single(&TransportMessage::Close(Close {
            reason,
            session: false,
        }));
        b.seal();
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            writer.write_vectored_all(&b.wire(streamed)),
        )
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.close()).await;
    });
}

/// Logs a refused incoming link once, at a rate-limited level.
fn refused(inner: &ManagerInner, on: &Locator, err: &dyn fmt::Display) {
    let level = lock(&inner.refusals).level(Instant::now());
    match level {
        RefusalLevel::Info { suppressed: 0 } => {
            tracing::info!("refused a link on {on}: {err}");
        }
        RefusalLevel::Info { suppressed } => {
            tracing::info!(
                "refused a link on {on}: {err} ({suppressed} more refusals were logged at DEBUG \
                 since the last one at INFO)"
            );
        }
        RefusalLevel::Debug => tracing::debug!("refused a link on {on}: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::PeerHandler;
    use crate::handshake::HandshakeConfig;
    use crate::wire::WhatAmI;
    use crate::wire::network::NetworkMessage;

    struct Nothing;
    impl TransportHandler for Nothing {
        fn opened(&self, _: &Transport) -> Arc<dyn PeerHandler> {
            Arc::new(Nothing)
        }
    }
    impl PeerHandler for Nothing {
        fn message(&self, _: NetworkMessage) {}
        fn event(&self, _: crate::event::TransportEvent) {}
    }

    /// Stands for a second handshake with the same zid that completes while the
    /// transport's handler is being made: `opened` tells how many links it finds, then
    /// adds that link (through `add_link`, as its accept task would) before it
    /// returns; the peer handler it returns tells what it hears.
    struct JoinsWhileOpening {
        manager: std::sync::OnceLock<Weak<ManagerInner>>,
        second: Mutex<Option<(Established, LinkReader, LinkWriter)>>,
        heard: flume::Sender<String>,
    }
    impl TransportHandler for JoinsWhileOpening {
        fn opened(&self, t: &Transport) -> Arc<dyn PeerHandler> {
            let _ = self
                .heard
                .send(format!("opened with {} link(s)", t.links().len()));
            let inner = self.manager.get().and_then(Weak::upgrade).expect("manager");
            let (est, reader, writer) = lock(&self.second).take().expect("second link");
            let done = Handshaken {
                framer: StreamFramer::new(est.batch_size),
                est,
                leftover: None,
                reservation: None,
            };
            add_link(&inner, done, reader, writer, false).expect("the second link joins");
            Arc::new(Heard(self.heard.clone()))
        }
    }
    struct Heard(flume::Sender<String>);
    impl PeerHandler for Heard {
        fn message(&self, msg: NetworkMessage) {
            if let NetworkMessage::Push(p) = msg {
                let _ = self.0.send(format!("push {}", p.wire_expr.suffix));
            }
        }
        fn event(&self, event: crate::event::TransportEvent) {
            if let crate::event::TransportEvent::LinkAdded(l) = event {
                let _ = self.0.send(format!("link {}", l.id));
            }
        }
    }

    /// Our end and the far end of a fresh TCP link on loopback.
    async fn tcp_link_pair() -> (plexus_link::Link, plexus_link::Link) {
        let config = plexus_link::LinkConfig::default();
        let ep: Endpoint = "tcp/127.0.0.1:0".parse().expect("endpoint");
        let mut listener = plexus_link::listen(&ep, &config).await.expect("listen");
        let at = listener.locator().to_endpoint();
        let (ours, far) = tokio::join!(listener.accept(), plexus_link::connect(&at, &config));
        (ours.expect("accept"), far.expect("connect"))
    }

    /// A transport's first link is listed when its handler is made (what the session
    /// announces then has it). A link that joins while the handler is being made
    /// (after the transport is in the table, before the handler is installed) starts
    /// once the handler is there: the handler hears `LinkAdded` for it after the first
    /// link's, and what arrives on it. It used to get a reader that found no handler
    /// and stopped: the peer's data on that link was never read (a Zenoh peer with two
    /// links, writing on the second, reached nothing).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_link_joining_while_its_transport_opens_is_read() {
        const WAIT: Duration = Duration::from_secs(10);
        let ours = ZenohId::random();
        let zid = ZenohId::random();
        let (first, _far_first) = tcp_link_pair().await;
        let (second, mut far_second) = tcp_link_pair().await;
        let (heard, hear) = flume::unbounded();
        let (second_reader, second_writer) = second.split();
        let handler = Arc::new(JoinsWhileOpening {
            manager: std::sync::OnceLock::new(),
            second: Mutex::new(Some((accepted(ours, zid), second_reader, second_writer))),
            heard,
        });
        let mgr =
            TransportManager::new(TransportConfig::new(ours, WhatAmI::Router), handler.clone());
        let _ = handler.manager.set(Arc::downgrade(&mgr.inner));
        let est = accepted(ours, zid);
        let sn = est.remote_initial_sn;
        let done = Handshaken {
            framer: StreamFramer::new(est.batch_size),
            est,
            leftover: None,
            reservation: None,
        };
        let (reader, writer) = first.split();
        let t = add_link(&mgr.inner, done, reader, writer, false).expect("first link");

        let next = async || {
            tokio::time::timeout(WAIT, hear.recv_async())
                .await
                .expect("the handler heard nothing within 10 s")
                .expect("handler gone")
        };
        let ids: Vec<u64> = t.links().iter().map(|l| l.id).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        assert_eq!(next().await, "opened with 1 link(s)");
        assert_eq!(next().await, format!("link {}", ids[0]));
        assert_eq!(next().await, format!("link {}", ids[1]));
        // The peer writes on the link that joined early: it is read.
        let mut batch = Vec::new();
        crate::wire::transport::FrameHeader {
            reliability: crate::wire::Reliability::Reliable,
            sn,
            priority: crate::wire::Priority::Data,
        }
        .write(&mut batch);
        crate::pipeline::tests::put("on/the/second/link", 4).write(&mut batch);
        let mut prefixed = (batch.len() as u16).to_le_bytes().to_vec();
        prefixed.extend_from_slice(&batch);
        far_second.write_all(&prefixed).await.expect("write");
        assert_eq!(next().await, "push on/the/second/link");
        mgr.close().await;
    }

    /// What the acceptor of `ours` established with an opener announcing `zid`.
    fn accepted(ours: ZenohId, zid: ZenohId) -> Established {
        let t0 = Instant::now();
        let mut opener = Handshake::opener(HandshakeConfig::new(zid, WhatAmI::Peer), t0);
        let mut acceptor = Handshake::acceptor(HandshakeConfig::new(ours, WhatAmI::Router), t0);
        for _ in 0..4 {
            while let Some(m) = opener.poll_transmit() {
                acceptor.handle_message(m, t0).expect("acceptor step");
            }
            while let Some(m) = acceptor.poll_transmit() {
                opener.handle_message(m, t0).expect("opener step");
            }
        }
        acceptor.completed().expect("established").clone()
    }

    #[test]
    fn a_zid_held_by_an_accepted_link_refuses_the_next_one() {
        let ours = ZenohId::random();
        let mgr = TransportManager::new(
            TransportConfig::new(ours, WhatAmI::Router),
            Arc::new(Nothing),
        );
        let inner = &*mgr.inner;
        let zid = ZenohId::random();
        let est = accepted(ours, zid);
        let table = HashMap::new();
        let mut reserved = HashMap::new();
        // The first accepted link with the zid opens a new transport and holds the zid.
        assert!(matches!(
            admit(inner, &table, &reserved, &est, true),
            Ok(None)
        ));
        let hold = Reservation::take(inner, &mut reserved, zid);
        // The next one is refused as if the transport were there.
        match admit(inner, &table, &reserved, &est, true) {
            Err(TransportError::Refused { reason, detail, .. }) => {
                assert_eq!(reason, CloseReason::MaxLinks);
                assert!(detail.contains("another accepted link"), "{detail}");
            }
            other => panic!("expected a MAX_LINKS refusal, got {other:?}"),
        }
        // A link we opened ourselves is not counted, as with a live transport; another
        // zid is not held.
        assert!(matches!(
            admit(inner, &table, &reserved, &est, false),
            Ok(None)
        ));
        let other = accepted(ours, ZenohId::random());
        assert!(matches!(
            admit(inner, &table, &reserved, &other, true),
            Ok(None)
        ));
        // Released (the link was added, or it failed), the zid is free again.
        *lock(&inner.reserved) = reserved;
        drop(hold);
        assert!(lock(&inner.reserved).is_empty());
        let reserved = HashMap::new();
        assert!(matches!(
            admit(inner, &table, &reserved, &est, true),
            Ok(None)
        ));
    }
}
