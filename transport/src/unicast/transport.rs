//! One unicast transport: its links, its TX pipeline, its RX state, and how it closes.
//!
//! Each link has two tasks (see `link`): a reader and a writer that owns the link's
//! writing half. The first link's writer also drains the TX pipeline. Every task is
//! tracked: [`Transport::close`] returns after they have ended. Closing never waits on
//! a blocked writer for long: a writer told to stop cuts its write (and the link with
//! it) after a short grace.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use tokio::sync::{Notify, watch};
use tokio_util::task::TaskTracker;

use super::backpressure;
use super::config::{QueueConfig, TransportConfig};
use crate::defrag::DefragSet;
use crate::event::{CloseCause, LinkSnapshot, PeerHandler, TransportEvent};
use crate::handshake::Established;
use crate::pipeline::{Pipeline, Pushed, SendOptions};
use crate::seq::RxChannel;
use crate::sync::lock;
use crate::wire::network::NetworkMessage;
use crate::wire::transport::{CloseReason, StreamFramer};
use crate::wire::{CongestionControl, Priority, Reliability, WhatAmI, ZenohId};
use plexus_link::{LinkInfo, LinkReader, LinkWriter};

/// How many `TransportInner`s exist in this process (open or not yet freed).
static ALIVE: AtomicUsize = AtomicUsize::new(0);

/// How many transports exist in this process: open ones, and closed ones something
/// still holds. Once every transport is closed and its handles are dropped, zero.
/// (A debugging aid: a count that does not return to zero is a leak.)
pub fn alive_transports() -> usize {
    ALIVE.load(Ordering::Acquire)
}

/// What a transport needs from the table of live transports it is listed in (the
/// manager's, which implements this). The transport holds it weakly: a transport may
/// outlive its manager, and then has nothing to tell.
pub(super) trait Registry: Send + Sync {
    /// Called once, when `transport` closes: it leaves the table, unless the table
    /// already lists another transport for its zid.
    fn forget(&self, transport: &Transport);
}

/// Message and byte counters of a transport.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Network messages sent.
    pub tx_msgs: AtomicU64,
    /// Bytes written to links (batches, prefixes included).
    pub tx_bytes: AtomicU64,
    /// Network messages received.
    pub rx_msgs: AtomicU64,
    /// Bytes read from links.
    pub rx_bytes: AtomicU64,
    /// Messages dropped by congestion control.
    pub dropped: AtomicU64,
}

/// What a link's tasks are told to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LinkCmd {
    /// Keep going.
    Run,
    /// Stop reading; the writer finishes its write (within a grace), sends CLOSE with
    /// this reason if any, and shuts the link down.
    Close(Option<CloseReason>),
    /// Stop at once, cutting a write in progress.
    Cut,
}

/// What a link's reader and writer share.
pub(super) struct LinkShared {
    pub(super) id: u64,
    pub(super) cmd: watch::Sender<LinkCmd>,
    /// Last measured round-trip time in microseconds (`u64::MAX` = none yet).
    pub(super) rtt_us: AtomicU64,
    /// The probe to answer (`u64::MAX` = none): at most one pong is outstanding.
    pub(super) pong: AtomicU64,
    /// Wakes the writer: a pong to send, or it became the link that writes data.
    pub(super) wake: Notify,
    /// Bytes written to this link (batches, prefixes included).
    pub(super) tx_bytes: AtomicU64,
    /// Bytes read from this link.
    pub(super) rx_bytes: AtomicU64,
}

impl LinkShared {
    /// Tells the link's tasks to stop, unless they were already told.
    pub(super) fn stop(&self, how: LinkCmd) {
        self.cmd.send_if_modified(|c| {
            if *c == LinkCmd::Run || (how == LinkCmd::Cut && *c != LinkCmd::Cut) {
                *c = how;
                true
            } else {
                false
            }
        });
    }
}

pub(super) struct LinkState {
    pub(super) snapshot: LinkSnapshot,
    pub(super) shared: Arc<LinkShared>,
    /// A link we accepted (counted against `max_links`).
    pub(super) inbound: bool,
}

impl LinkState {
    fn snapshot(&self) -> LinkSnapshot {
        let mut s = self.snapshot.clone();
        let rtt = self.shared.rtt_us.load(Ordering::Relaxed);
        s.rtt_us = (rtt != u64::MAX).then_some(rtt);
        s.tx_bytes = self.shared.tx_bytes.load(Ordering::Relaxed);
        s.rx_bytes = self.shared.rx_bytes.load(Ordering::Relaxed);
        s
    }
}

/// A link listed in its transport (see [`Transport::join_link`]) whose reader and
/// writer have not started.
pub(super) struct Listed {
    snapshot: LinkSnapshot,
    shared: Arc<LinkShared>,
    cmd_rx: watch::Receiver<LinkCmd>,
    link: NewLink,
}

/// A link whose handshake completed, on its way into a transport.
pub(super) struct NewLink {
    /// The manager's id for it.
    pub(super) id: u64,
    pub(super) reader: LinkReader,
    pub(super) writer: LinkWriter,
    /// Holds any bytes that arrived after the last handshake message.
    pub(super) framer: StreamFramer,
    /// The rest of the batch that carried the last handshake message: its first input.
    pub(super) leftover: Option<Bytes>,
    /// Accepted (counted in the transport's inbound links) rather than opened by us.
    pub(super) inbound: bool,
}

pub(super) struct RxState {
    pub(super) channels: Vec<[RxChannel; 2]>,
    /// All channels' defragmenters, indexed `priority * 2 + rx_channel(reliability)`.
    pub(super) defrag: DefragSet,
}

pub(super) struct TransportInner {
    pub(super) zid: ZenohId,
    pub(super) whatami: WhatAmI,
    pub(super) qos: bool,
    pub(super) batch_size: u16,
    pub(super) local_lease: Duration,
    pub(super) remote_lease: Duration,
    pub(super) keep_alive: u32,
    pub(super) rtt_probes: bool,
    pub(super) defrag_timeout: Duration,
    pub(super) queue: QueueConfig,
    pub(super) created_at: SystemTime,
    /// The user the peer proved with usrpwd when the transport opened.
    pub(super) auth_user: Option<String>,
    /// That user, else the peer's certificate name on that link (see `auth_identifier`).
    pub(super) auth_identifier: Option<String>,
    /// The facts of the link that opened the transport.
    pub(super) first_link: Arc<LinkInfo>,
    /// The peer's multilink key from the link that opened the transport.
    pub(super) multilink_key: Option<bytes::Bytes>,
    /// Accepted links, counted when admitted (under the manager's table lock) and
    /// uncounted when removed.
    pub(super) inbound: AtomicUsize,
    pub(super) pipeline: Pipeline,
    pub(super) tx_ready: Notify,
    /// Set while the writer sleeps: producers notify `tx_ready` only then.
    pub(super) writer_parked: AtomicBool,
    /// Set while the writer holds a batch back for more messages: producers notify
    /// `tx_ready` once a batch is finished (full, express or fragmented).
    pub(super) writer_gathering: AtomicBool,
    /// Notified after every pull that took something, and when the transport closes.
    pub(super) tx_space: Notify,
    /// Set by the writer from before it pulls batches until they are written.
    pub(super) tx_in_flight: AtomicBool,
    /// Notified by the writer each time it has written what it pulled.
    pub(super) tx_drained: Notify,
    /// When the writer last started or finished a write (ms since `epoch`).
    pub(super) tx_progress: AtomicU64,
    pub(super) links: Mutex<Vec<LinkState>>,
    /// The id of the link whose writer drains the pipeline (the first one; 0 = none).
    pub(super) primary: AtomicU64,
    /// Serialises link additions/removals with their events so handlers see them in order.
    /// Holds the links listed before [`Transport::start`] installed the handler (the
    /// first, and those whose handshake completed while the handler was being made),
    /// for `start` to start.
    pub(super) events: Mutex<Vec<Listed>>,
    pub(super) rx: Mutex<RxState>,
    /// Set while some fragment series is incomplete (`rx.defrag` holds bytes), so the
    /// reader looks for idle series to drop without taking the lock otherwise.
    pub(super) defrag_busy: AtomicBool,
    /// Taken away when the transport closes: the handler (the session's face) holds
    /// this transport, and the cycle must not outlive it.
    pub(super) handler: Mutex<Option<Arc<dyn PeerHandler>>>,
    pub(super) closed: watch::Sender<bool>,
    pub(super) close_cause: Mutex<Option<CloseCause>>,
    /// The table that lists this transport, told when it closes.
    pub(super) registry: Weak<dyn Registry>,
    pub(super) stats: TransportStats,
    pub(super) epoch: tokio::time::Instant,
    /// Counts RTT measurements, so callers can wait for a fresh one.
    pub(super) rtt_updates: watch::Sender<u64>,
    /// The link tasks of this transport.
    pub(super) tasks: TaskTracker,
    /// The manager's tracker, which counts them too.
    pub(super) manager_tasks: TaskTracker,
}

impl Drop for TransportInner {
    fn drop(&mut self) {
        ALIVE.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A unicast transport to one remote process. Cheap to clone.
#[derive(Clone)]
pub struct Transport {
    pub(super) inner: Arc<TransportInner>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("zid", &self.inner.zid)
            .field("whatami", &self.inner.whatami)
            .finish()
    }
}

impl Transport {
    /// A transport opened by the handshake `est` on `first_link`, listed in `registry`;
    /// its tasks are tracked by `manager_tasks` too.
    pub(super) fn new(
        registry: Weak<dyn Registry>,
        manager_tasks: &TaskTracker,
        config: &TransportConfig,
        est: &Established,
        first_link: &Arc<LinkInfo>,
    ) -> Self {
        let certificate_name = first_link.auth_identifier();
        let n = if est.qos { Priority::ALL.len() } else { 1 };
        let rx = RxState {
            channels: (0..n)
                .map(|_| {
                    [
                        RxChannel::new(est.remote_initial_sn, est.sn_mask),
                        RxChannel::new(est.remote_initial_sn, est.sn_mask),
                    ]
                })
                .collect(),
            defrag: DefragSet::new(
                n * 2,
                config.max_message_size,
                est.sn_mask,
                est.patch,
                config.defrag_timeout,
            ),
        };
        ALIVE.fetch_add(1, Ordering::AcqRel);
        Transport {
            inner: Arc::new(TransportInner {
                zid: est.remote_zid,
                whatami: est.remote_whatami,
                qos: est.qos,
                batch_size: est.batch_size,
                local_lease: est.local_lease,
                remote_lease: est.remote_lease,
                keep_alive: config.keep_alive.max(1),
                rtt_probes: config.rtt_probes,
                defrag_timeout: config.defrag_timeout,
                queue: config.queue.clone(),
                created_at: SystemTime::now(),
                auth_user: est.auth_user.clone(),
                auth_identifier: est
                    .auth_user
                    .clone()
                    .or_else(|| certificate_name.map(str::to_owned)),
                first_link: first_link.clone(),
                multilink_key: est.multilink_key.clone(),
                inbound: AtomicUsize::new(0),
                pipeline: Pipeline::new(
                    est.qos,
                    est.batch_size,
                    true,
                    est.local_initial_sn,
                    est.sn_mask,
                    &config.queue.size,
                ),
                tx_ready: Notify::new(),
                writer_parked: AtomicBool::new(false),
                writer_gathering: AtomicBool::new(false),
                tx_space: Notify::new(),
                tx_in_flight: AtomicBool::new(false),
                tx_drained: Notify::new(),
                tx_progress: AtomicU64::new(0),
                links: Mutex::new(Vec::new()),
                primary: AtomicU64::new(0),
                events: Mutex::new(Vec::new()),
                rx: Mutex::new(rx),
                defrag_busy: AtomicBool::new(false),
                handler: Mutex::new(None),
                closed: watch::channel(false).0,
                close_cause: Mutex::new(None),
                registry,
                stats: TransportStats::default(),
                epoch: tokio::time::Instant::now(),
                rtt_updates: watch::channel(0).0,
                tasks: TaskTracker::new(),
                manager_tasks: manager_tasks.clone(),
            }),
        }
    }

    pub(super) fn ptr_eq(&self, other: &Transport) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// The remote process's id.
    pub fn zid(&self) -> ZenohId {
        self.inner.zid
    }

    /// The remote process's kind.
    pub fn whatami(&self) -> WhatAmI {
        self.inner.whatami
    }

    /// True when one channel per priority was agreed.
    pub fn is_qos(&self) -> bool {
        self.inner.qos
    }

    /// Shared memory is not supported by Plexus: always false.
    pub fn is_shm(&self) -> bool {
        false
    }

    /// The agreed batch size.
    pub fn batch_size(&self) -> u16 {
        self.inner.batch_size
    }

    /// The lease we announced.
    pub fn local_lease(&self) -> Duration {
        self.inner.local_lease
    }

    /// The lease the remote process announced.
    pub fn remote_lease(&self) -> Duration {
        self.inner.remote_lease
    }

    /// When the transport opened.
    pub fn created_at(&self) -> SystemTime {
        self.inner.created_at
    }

    /// Who the peer proved to be on the link that opened the transport: the user of its
    /// usrpwd authentication, else the common name of its TLS certificate; `None` when it
    /// proved nothing (or we opened the link and it did not present a certificate).
    pub fn auth_identifier(&self) -> Option<&str> {
        self.inner.auth_identifier.as_deref()
    }

    /// The facts of the link that opened the transport (available from the moment the
    /// transport is handed to its handler, before its first `LinkAdded` event).
    pub fn first_link(&self) -> &Arc<LinkInfo> {
        &self.inner.first_link
    }

    /// The user the peer proved with usrpwd authentication when the transport opened.
    pub fn auth_user(&self) -> Option<&str> {
        self.inner.auth_user.as_deref()
    }

    /// The peer's multilink key, when the link that opened the transport agreed the
    /// multilink extension.
    pub(super) fn multilink_key(&self) -> Option<&bytes::Bytes> {
        self.inner.multilink_key.as_ref()
    }

    /// How many of the links are (or are about to be) links we accepted.
    pub(super) fn inbound_links(&self) -> usize {
        self.inner.inbound.load(Ordering::Acquire)
    }

    /// Counts an accepted link about to join.
    pub(super) fn count_inbound(&self) {
        self.inner.inbound.fetch_add(1, Ordering::AcqRel);
    }

    fn uncount(&self, inbound: bool) {
        if inbound {
            self.inner.inbound.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Message and byte counters.
    pub fn stats(&self) -> &TransportStats {
        &self.inner.stats
    }

    /// Bytes of encoded messages waiting in the TX queue (monitoring: takes the queue's
    /// locks).
    pub fn tx_queued_bytes(&self) -> usize {
        self.inner.pipeline.queued_bytes()
    }

    /// Bytes of memory held by the incomplete fragment series received on this
    /// transport (bounded by `transport/link/rx/max_message_size`; 0 once closed).
    pub fn defrag_held(&self) -> usize {
        lock(&self.inner.rx).defrag.held()
    }

    /// True once the transport closed.
    pub fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    /// Resolves once the transport has closed (at once if it has).
    pub async fn closed(&self) {
        let mut rx = self.inner.closed.subscribe();
        // The sender lives as long as `self`: this cannot fail.
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Why the transport closed, once it has.
    pub fn close_cause(&self) -> Option<CloseCause> {
        lock(&self.inner.close_cause).clone()
    }

    /// A receiver that changes each time a link's round-trip time is measured.
    pub fn rtt_updates(&self) -> watch::Receiver<u64> {
        self.inner.rtt_updates.subscribe()
    }

    /// The live links.
    pub fn links(&self) -> Vec<LinkSnapshot> {
        lock(&self.inner.links)
            .iter()
            .map(LinkState::snapshot)
            .collect()
    }

    /// Queues `msg`, then, if its queue was full, waits for room: with `Block` until the
    /// writer takes what waits (a transport whose writer makes no progress for
    /// `wait_before_close` closes as a slow consumer, which ends the wait); with `Drop` at
    /// most `wait_before_drop`. Returns false if the message was dropped.
    pub async fn send(
        &self,
        msg: &NetworkMessage,
        opts: SendOptions,
    ) -> Result<bool, crate::TransportError> {
        let scope = backpressure::Scope::begin();
        let r = self.try_send(msg, opts);
        if let Some(wait) = scope.end() {
            wait.await;
        }
        match r? {
            Pushed::Queued | Pushed::Over { .. } => Ok(true),
            Pushed::Dropped | Pushed::Full => Ok(false),
            Pushed::Closed => Err(self.closed_error()),
        }
    }

    /// Queues `msg` without waiting.
    ///
    /// A message that finds its queue full goes beyond the bound ([`Pushed::Over`]):
    /// inside a [`backpressure::Scope`] (a link's reader, [`Transport::send`], a session's
    /// publication) this transport is noted and the scope's owner waits for it before it
    /// produces more; outside one, a slack of one more bound is allowed, past which a
    /// `Block` message is refused ([`Pushed::Full`]) and a `Drop` one dropped. Both count
    /// as dropped in [`TransportStats::dropped`].
    #[inline]
    pub fn try_send(
        &self,
        msg: &NetworkMessage,
        opts: SendOptions,
    ) -> Result<Pushed, crate::TransportError> {
        let opts = if self.inner.qos {
            opts
        } else {
            SendOptions {
                priority: Priority::Data,
                ..opts
            }
        };
        let r = self.inner.pipeline.push(msg, opts, backpressure::in_scope);
        match r {
            Pushed::Queued => {
                self.inner.stats.tx_msgs.fetch_add(1, Ordering::Relaxed);
                // The push's SeqCst count pairs with the writer's SeqCst flags: either it
                // sees the message (or the finished batch), or this sees it parked (or
                // gathering).
                if self.inner.writer_parked.load(Ordering::SeqCst)
                    || (self.inner.writer_gathering.load(Ordering::SeqCst)
                        && self.inner.pipeline.has_ready())
                {
                    self.inner.tx_ready.notify_one();
                    backpressure::note_woke_writer();
                }
            }
            Pushed::Over { fragmented, mark } => {
                self.inner.stats.tx_msgs.fetch_add(1, Ordering::Relaxed);
                self.inner.tx_ready.notify_one();
                backpressure::note_woke_writer();
                backpressure::note(self, opts, fragmented, mark);
            }
            Pushed::Dropped | Pushed::Full => {
                self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Pushed::Closed => return Err(self.closed_error()),
        }
        Ok(r)
    }

    fn closed_error(&self) -> crate::TransportError {
        crate::TransportError::Closed {
            zid: self.inner.zid,
        }
    }

    /// Waits until the writer has pulled since pull number `mark` or the transport has
    /// closed (true), or until `deadline` (false).
    pub(super) async fn wait_pull(&self, mark: u64, deadline: tokio::time::Instant) -> bool {
        loop {
            let space = self.inner.tx_space.notified();
            tokio::pin!(space);
            space.as_mut().enable();
            if self.inner.pipeline.pulls() > mark || self.is_closed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, space).await.is_err() {
                return false;
            }
        }
    }

    /// True when the writer has been inside one write for `wait_before_close`.
    pub(super) fn writer_stuck(&self) -> bool {
        self.inner.tx_in_flight.load(Ordering::SeqCst)
            && self
                .millis_now()
                .saturating_sub(self.inner.tx_progress.load(Ordering::Acquire))
                >= self.inner.queue.wait_before_close.as_millis() as u64
    }

    /// Milliseconds since the transport's epoch.
    pub(super) fn millis_now(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }

    /// Closes a transport whose writer has not moved for `wait_before_close` while a
    /// `Block` message waited: its links are cut and it closes with
    /// [`CloseCause::SlowConsumer`].
    pub(super) fn close_slow_consumer(&self) {
        if self.is_closed() {
            return;
        }
        tracing::warn!(
            "transport to {}: no progress writing for {:?} while messages wait: closing it as a slow consumer",
            self.inner.zid,
            self.inner.queue.wait_before_close
        );
        self.remove_all_links(CloseCause::SlowConsumer, LinkCmd::Cut);
    }

    /// Sends CLOSE on every link and closes the transport; returns once its tasks ended.
    pub async fn close(&self) {
        self.close_with(CloseReason::Generic, CloseCause::Local)
            .await;
    }

    pub(super) async fn close_with(&self, reason: CloseReason, cause: CloseCause) {
        if !self.is_closed() {
            self.inner.pipeline.close();
            // Let queued data leave before the CLOSE, within a bound. Queued means
            // pulled *and written*: the writer may hold batches it has not written yet.
            let flushed = async {
                loop {
                    let drained = self.inner.tx_drained.notified();
                    tokio::pin!(drained);
                    drained.as_mut().enable();
                    // Pipeline first, then the flag: the writer sets the flag before it pulls.
                    if self.inner.pipeline.is_empty()
                        && !self.inner.tx_in_flight.load(Ordering::SeqCst)
                    {
                        break;
                    }
                    self.inner.tx_ready.notify_one();
                    drained.await;
                }
            };
            let _ = tokio::time::timeout(Duration::from_millis(500), flushed).await;
            // Remove the links (and report it) before the CLOSE goes out: the peer answers
            // it by closing its end, and a reader that saw that end of stream first would
            // remove its link as `LinkFailed` instead of `cause`.
            self.remove_all_links(cause, LinkCmd::Close(Some(reason)));
        }
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }

    /// Installs `handler` and starts the links listed before it was there (the first
    /// link, and any that joined while the handler was being made), in order.
    pub(super) fn start(&self, handler: Arc<dyn PeerHandler>) {
        let mut early = lock(&self.inner.events);
        if self.is_closed() {
            // Closed (by its manager's close) between its creation and now: the
            // handler saw it open, so it hears that it closed; then it goes, with
            // what it holds (a handler holding its transport would keep it alive).
            // The closing removed (and uncounted) the listed links; their sockets go.
            let cause = self.close_cause().unwrap_or(CloseCause::Local);
            handler.event(TransportEvent::Closed { cause });
            early.clear();
            return;
        }
        *lock(&self.inner.handler) = Some(handler);
        for link in std::mem::take(&mut *early) {
            self.run(link);
        }
    }

    /// Adds a link whose handshake completed: it is listed at once; its reader and
    /// writer start now if the transport has its handler, else with [`Transport::start`]
    /// (a reader needs the handler, and the handler hears `LinkAdded` after it opened).
    pub(super) fn join_link(&self, link: NewLink) {
        let mut early = lock(&self.inner.events);
        if self.is_closed() {
            self.uncount(link.inbound);
            return;
        }
        let listed = self.list(link);
        if lock(&self.inner.handler).is_some() {
            self.run(listed);
        } else {
            early.push(listed);
        }
    }

    /// Lists `link` among the transport's links, without starting it.
    fn list(&self, link: NewLink) -> Listed {
        let (id, info) = (link.id, link.reader.info());
        let (cmd, cmd_rx) = watch::channel(LinkCmd::Run);
        let shared = Arc::new(LinkShared {
            id,
            cmd,
            rtt_us: AtomicU64::new(u64::MAX),
            pong: AtomicU64::new(u64::MAX),
            wake: Notify::new(),
            tx_bytes: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
        });
        let snapshot = LinkSnapshot {
            id,
            info: info.clone(),
            created_at: SystemTime::now(),
            rtt_us: None,
            tx_bytes: 0,
            rx_bytes: 0,
            auth_identifier: info
                .auth_identifier()
                .map(str::to_owned)
                .or_else(|| self.inner.auth_user.clone()),
        };
        let mut links = lock(&self.inner.links);
        links.push(LinkState {
            snapshot: snapshot.clone(),
            shared: shared.clone(),
            inbound: link.inbound,
        });
        self.set_primary(&links);
        Listed {
            snapshot,
            shared,
            cmd_rx,
            link,
        }
    }

    /// Tells the handler that `link` was added and starts its reader and writer; call
    /// with the events lock held.
    fn run(&self, link: Listed) {
        let Listed {
            snapshot,
            shared,
            cmd_rx,
            link,
        } = link;
        let NewLink {
            id,
            reader,
            writer,
            framer,
            leftover,
            ..
        } = link;
        self.emit(TransportEvent::LinkAdded(snapshot));
        tracing::debug!("transport {}: link {id} added", self.inner.zid);
        let t = self.clone();
        let rx_shared = shared.clone();
        let rx_cmd = cmd_rx.clone();
        self.spawn(async move {
            t.link_reader(rx_shared, reader, framer, leftover, rx_cmd)
                .await
        });
        let t = self.clone();
        self.spawn(async move { t.link_writer(shared, writer, cmd_rx).await });
    }

    fn spawn<F: std::future::Future<Output = ()> + Send + 'static>(&self, f: F) {
        let f = self
            .inner
            .manager_tasks
            .track_future(self.inner.tasks.track_future(f));
        tokio::spawn(f);
    }

    /// Makes the first link the one that writes data, and wakes its writer if it changed.
    fn set_primary(&self, links: &[LinkState]) {
        let first = links.first().map(|l| l.shared.id).unwrap_or(0);
        if self.inner.primary.swap(first, Ordering::AcqRel) != first
            && let Some(l) = links.first()
        {
            l.shared.wake.notify_one();
        }
    }

    pub(super) fn is_primary(&self, link_id: u64) -> bool {
        self.inner.primary.load(Ordering::Acquire) == link_id
    }

    /// The handler, while the transport is open.
    pub(super) fn handler(&self) -> Option<Arc<dyn PeerHandler>> {
        lock(&self.inner.handler).clone()
    }

    pub(super) fn emit(&self, ev: TransportEvent) {
        if let Some(h) = self.handler() {
            h.event(ev);
        }
    }

    /// Removes one link, telling its tasks `how` to stop; closes the transport when it
    /// was the last.
    pub(super) fn remove_link(&self, link_id: u64, cause: CloseCause, how: LinkCmd) {
        let _order = lock(&self.inner.events);
        let removed = {
            let mut links = lock(&self.inner.links);
            let pos = links.iter().position(|l| l.snapshot.id == link_id);
            let removed = pos.map(|p| links.remove(p));
            self.set_primary(&links);
            removed
        };
        let Some(state) = removed else { return };
        self.uncount(state.inbound);
        state.shared.stop(how);
        tracing::debug!(
            "transport {}: link {link_id} removed ({cause})",
            self.inner.zid
        );
        self.emit(TransportEvent::LinkRemoved {
            link: state.snapshot(),
            cause: cause.clone(),
        });
        if lock(&self.inner.links).is_empty() {
            self.finish_close(cause);
        }
    }

    pub(super) fn remove_all_links(&self, cause: CloseCause, how: LinkCmd) {
        let _order = lock(&self.inner.events);
        let removed: Vec<LinkState> = {
            let mut links = lock(&self.inner.links);
            let removed = links.drain(..).collect();
            self.set_primary(&links);
            removed
        };
        for state in removed {
            self.uncount(state.inbound);
            state.shared.stop(how);
            self.emit(TransportEvent::LinkRemoved {
                link: state.snapshot(),
                cause: cause.clone(),
            });
        }
        self.finish_close(cause);
    }

    /// Marks the transport closed and emits `Closed`; call with the events lock held.
    fn finish_close(&self, cause: CloseCause) {
        // Before the transport shows as closed; idempotent.
        lock(&self.inner.rx).defrag.close();
        self.inner.defrag_busy.store(false, Ordering::Relaxed);
        if self.inner.closed.send_replace(true) {
            return;
        }
        self.inner.pipeline.clear();
        *lock(&self.inner.close_cause) = Some(cause.clone());
        if let Some(registry) = self.inner.registry.upgrade() {
            registry.forget(self);
        }
        tracing::info!("transport to {} closed: {cause}", self.inner.zid);
        self.emit(TransportEvent::Closed { cause });
        // Nothing follows `Closed`: let the handler (and what it holds) go.
        let handler = lock(&self.inner.handler).take();
        drop(handler);
        self.inner.tx_ready.notify_one();
        self.inner.tx_space.notify_waiters();
        self.inner.tx_drained.notify_waiters();
    }

    /// How long the producer of a message sent with `opts` that went beyond its bound
    /// waits for room: `None` (until the writer moves or the transport closes) for
    /// `Block`, `wait_before_drop` (or `max_wait_before_drop_fragments`) for `Drop`.
    pub(super) fn drop_wait(&self, opts: SendOptions, fragmented: bool) -> Option<Duration> {
        match opts.congestion {
            CongestionControl::Block => None,
            CongestionControl::Drop if fragmented => {
                Some(self.inner.queue.max_wait_before_drop_fragments)
            }
            CongestionControl::Drop => Some(self.inner.queue.wait_before_drop),
        }
    }
}

/// Index of the RX channel for a reliability.
pub(super) fn rx_channel(r: Reliability) -> usize {
    match r {
        Reliability::Reliable => 0,
        Reliability::BestEffort => 1,
    }
}
