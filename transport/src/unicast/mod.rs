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
use self::transport::Registry;
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
            let (est, framer, leftover) =
                drive_handshake(&inner, hs, &mut reader, &mut writer, false).await?;
            add_link(&inner, est, reader, writer, framer, leftover, false)
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
    let (est, framer, leftover) =
        drive_handshake(inner, hs, &mut reader, &mut writer, true).await?;
    drop(pending);
    add_link(inner, est, reader, writer, framer, leftover, true)
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
fn admit(
    inner: &ManagerInner,
    table: &HashMap<ZenohId, Transport>,
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
    est: Established,
    reader: LinkReader,
    writer: LinkWriter,
    framer: StreamFramer,
    leftover: Option<Bytes>,
    inbound: bool,
) -> Result<Transport, TransportError> {
    let link_id = inner.next_link_id.fetch_add(1, Ordering::Relaxed);
    let mut table = lock(&inner.transports);
    if inner.closed.load(Ordering::Acquire) {
        return Err(TransportError::ManagerClosed);
    }
    // Checked again, with the insertion or the count, under the lock: handshakes that
    // completed at the same time cannot go beyond a limit together.
    let admitted = match admit(inner, &table, &est, inbound) {
        Ok(a) => a,
        Err(e) => {
            drop(table);
            if let TransportError::Refused { reason, .. } = &e {
                close_refused(inner, writer, *reason);
            }
            return Err(e);
        }
    };
    if let Some(existing) = admitted {
        if inbound {
            existing.count_inbound();
        }
        drop(table);
        existing.join_link(link_id, reader, writer, framer, leftover, inbound);
        return Ok(existing);
    }
    let registry: Weak<ManagerInner> = Arc::downgrade(inner);
    let transport = Transport::new(registry, &inner.tasks, &inner.config, &est, reader.info());
    if inbound {
        transport.count_inbound();
    }
    table.insert(est.remote_zid, transport.clone());
    drop(table);
    let handler = inner.handler.opened(&transport);
    transport.start(handler, link_id, reader, writer, framer, leftover, inbound);
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

/// Sends CLOSE(`reason`) on a link refused after its handshake, then closes it.
fn close_refused(inner: &ManagerInner, mut writer: LinkWriter, reason: CloseReason) {
    let streamed = writer.info().is_streamed();
    inner.tasks.spawn(async move {
        let mut b = Batch::single(&TransportMessage::Close(Close {
            reason,
            session: false,
        }));
        b.seal();
        let _ =
            tokio::time::timeout(Duration::from_secs(1), writer.write_all(b.wire(streamed))).await;
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
