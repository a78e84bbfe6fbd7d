//! One unicast transport: its links, its TX pipeline and writer task, its RX state.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, SystemTime};

use plexus_link::{LinkReader, LinkWriter};
use tokio::sync::{Notify, watch};

use super::{ManagerInner, lock};
use crate::defrag::Defragmenter;
use crate::event::{CloseCause, LinkSnapshot, PeerHandler, TransportEvent};
use crate::handshake::Established;
use crate::pipeline::{Batch, Pipeline, Pushed, SendOptions};
use crate::seq::RxChannel;
use crate::wire::network::NetworkMessage;
use crate::wire::transport::{Close, CloseReason, StreamFramer, TransportMessage};
use crate::wire::{Priority, Reliability, WhatAmI, ZenohId};

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

pub(super) struct LinkState {
    pub(super) snapshot: LinkSnapshot,
    pub(super) writer: Arc<tokio::sync::Mutex<LinkWriter>>,
    pub(super) rtt_us: Arc<AtomicU64>,
    pub(super) last_tx: Arc<AtomicU64>,
    pub(super) stop: watch::Sender<bool>,
}

impl LinkState {
    fn snapshot(&self) -> LinkSnapshot {
        let mut s = self.snapshot.clone();
        let rtt = self.rtt_us.load(Ordering::Relaxed);
        s.rtt_us = (rtt != u64::MAX).then_some(rtt);
        s
    }
}

pub(super) struct RxState {
    pub(super) channels: Vec<[RxChannel; 2]>,
    pub(super) defrag: Vec<[Defragmenter; 2]>,
}

pub(super) struct TransportInner {
    pub(super) zid: ZenohId,
    pub(super) whatami: WhatAmI,
    pub(super) qos: bool,
    pub(super) batch_size: u16,
    pub(super) local_lease: Duration,
    pub(super) remote_lease: Duration,
    pub(super) created_at: SystemTime,
    /// The user the peer proved with usrpwd when the transport opened.
    pub(super) auth_user: Option<String>,
    /// That user, else the peer's certificate name on that link (see `auth_identifier`).
    pub(super) auth_identifier: Option<String>,
    pub(super) pipeline: Pipeline,
    pub(super) tx_ready: Notify,
    /// Set while the writer task sleeps on `tx_ready`: producers notify it only then.
    pub(super) writer_parked: AtomicBool,
    pub(super) tx_space: Notify,
    /// Set by the writer task from before it pulls batches until they are written.
    pub(super) tx_in_flight: AtomicBool,
    /// Notified by the writer task each time it has written what it pulled.
    pub(super) tx_drained: Notify,
    pub(super) links: Mutex<Vec<LinkState>>,
    /// Serialises link additions/removals with their events so handlers see them in order.
    pub(super) events: Mutex<()>,
    pub(super) rx: Mutex<RxState>,
    pub(super) handler: OnceLock<Arc<dyn PeerHandler>>,
    pub(super) closed: AtomicBool,
    pub(super) close_cause: Mutex<Option<CloseCause>>,
    pub(super) manager: Weak<ManagerInner>,
    pub(super) stats: TransportStats,
    pub(super) epoch: tokio::time::Instant,
    /// Counts RTT measurements, so callers can wait for a fresh one.
    pub(super) rtt_updates: watch::Sender<u64>,
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
    pub(super) fn new(
        manager: Weak<ManagerInner>,
        est: &Established,
        certificate_name: Option<&str>,
    ) -> Self {
        let (max_message_size, queue_batches) = manager
            .upgrade()
            .map(|m| (m.config.max_message_size, m.config.queue_batches))
            .unwrap_or((1 << 30, 16));
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
            defrag: (0..n)
                .map(|_| {
                    [
                        Defragmenter::new(max_message_size, est.sn_mask, est.patch),
                        Defragmenter::new(max_message_size, est.sn_mask, est.patch),
                    ]
                })
                .collect(),
        };
        Transport {
            inner: Arc::new(TransportInner {
                zid: est.remote_zid,
                whatami: est.remote_whatami,
                qos: est.qos,
                batch_size: est.batch_size,
                local_lease: est.local_lease,
                remote_lease: est.remote_lease,
                created_at: SystemTime::now(),
                auth_user: est.auth_user.clone(),
                auth_identifier: est
                    .auth_user
                    .clone()
                    .or_else(|| certificate_name.map(str::to_owned)),
                pipeline: Pipeline::new(
                    est.qos,
                    est.batch_size,
                    true,
                    est.local_initial_sn,
                    est.sn_mask,
                    queue_batches,
                ),
                tx_ready: Notify::new(),
                writer_parked: AtomicBool::new(false),
                tx_space: Notify::new(),
                tx_in_flight: AtomicBool::new(false),
                tx_drained: Notify::new(),
                links: Mutex::new(Vec::new()),
                events: Mutex::new(()),
                rx: Mutex::new(rx),
                handler: OnceLock::new(),
                closed: AtomicBool::new(false),
                close_cause: Mutex::new(None),
                manager,
                stats: TransportStats::default(),
                epoch: tokio::time::Instant::now(),
                rtt_updates: watch::channel(0).0,
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

    /// The user the peer proved with usrpwd authentication when the transport opened.
    pub fn auth_user(&self) -> Option<&str> {
        self.inner.auth_user.as_deref()
    }

    /// Message and byte counters.
    pub fn stats(&self) -> &TransportStats {
        &self.inner.stats
    }

    /// True once the transport closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
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

    /// Queues `msg`, waiting for room if the queue is full and `opts` says `Block`.
    /// Returns false if the message was dropped (congestion control `Drop`).
    pub async fn send(
        &self,
        msg: &NetworkMessage,
        opts: SendOptions,
    ) -> Result<bool, crate::TransportError> {
        loop {
            let space = self.inner.tx_space.notified();
            match self.try_send(msg, opts)? {
                Pushed::Queued => return Ok(true),
                Pushed::Dropped => return Ok(false),
                Pushed::Full => {
                    // Bounded: the writer frees room or the transport closes.
                    if tokio::time::timeout(self.inner.remote_lease, space)
                        .await
                        .is_err()
                        && self.is_closed()
                    {
                        return Err(crate::TransportError::Closed {
                            zid: self.inner.zid,
                        });
                    }
                }
                Pushed::Closed => {
                    return Err(crate::TransportError::Closed {
                        zid: self.inner.zid,
                    });
                }
            }
        }
    }

    /// Queues `msg` without waiting; a full queue gives [`Pushed::Full`] for `Block`
    /// messages and [`Pushed::Dropped`] for `Drop` ones.
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
        let r = self.inner.pipeline.push(msg, opts);
        match r {
            Pushed::Queued => {
                self.inner.stats.tx_msgs.fetch_add(1, Ordering::Relaxed);
                // The push's SeqCst count pairs with the writer's SeqCst flag: either it
                // sees the message, or this sees it parked.
                if self.inner.writer_parked.load(Ordering::SeqCst) {
                    self.inner.tx_ready.notify_one();
                }
            }
            Pushed::Dropped => {
                self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Pushed::Closed => {
                return Err(crate::TransportError::Closed {
                    zid: self.inner.zid,
                });
            }
            Pushed::Full => {
                self.inner.tx_ready.notify_one();
            }
        }
        Ok(r)
    }

    /// Sends CLOSE on every link and closes the transport.
    pub async fn close(&self) {
        self.close_with(CloseReason::Generic, CloseCause::Local)
            .await;
    }

    pub(super) async fn close_with(&self, reason: CloseReason, cause: CloseCause) {
        self.inner.pipeline.close();
        // Let queued data leave before the CLOSE, within a bound.
        // Queued means pulled *and written*: the writer may hold batches it has taken
        // from the pipeline but not written yet.
        let flushed = async {
            loop {
                let drained = self.inner.tx_drained.notified();
                tokio::pin!(drained);
                drained.as_mut().enable();
                // Pipeline first, then the flag: the writer sets the flag before it pulls.
                if self.inner.pipeline.is_empty() && !self.inner.tx_in_flight.load(Ordering::SeqCst)
                {
                    break;
                }
                self.inner.tx_ready.notify_one();
                drained.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_millis(500), flushed).await;
        // Stop the links' tasks before the CLOSE goes out: the peer answers it by closing
        // its end, and a reader that saw that end of stream first would remove its link
        // as `LinkFailed` instead of `cause`.
        let writers: Vec<_> = lock(&self.inner.links)
            .iter()
            .map(|l| {
                let _ = l.stop.send(true);
                (l.writer.clone(), l.snapshot.info.is_streamed())
            })
            .collect();
        for (writer, streamed) in writers {
            let mut batch = Batch::single(&TransportMessage::Close(Close {
                reason,
                session: false,
            }));
            let mut w = writer.lock().await;
            batch.seal();
            let data: &[u8] = if streamed {
                batch.as_prefixed()
            } else {
                batch.payload()
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), w.write_all(data)).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), w.close()).await;
        }
        self.remove_all_links(cause);
    }

    pub(super) fn start(
        &self,
        handler: Arc<dyn PeerHandler>,
        link_id: u64,
        reader: LinkReader,
        writer: LinkWriter,
        framer: StreamFramer,
    ) {
        let _ = self.inner.handler.set(handler);
        let t = self.clone();
        tokio::spawn(async move { t.writer_task().await });
        self.join_link(link_id, reader, writer, framer);
    }

    pub(super) fn join_link(
        &self,
        link_id: u64,
        reader: LinkReader,
        writer: LinkWriter,
        framer: StreamFramer,
    ) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let state = LinkState {
            snapshot: LinkSnapshot {
                id: link_id,
                info: reader.info().clone(),
                created_at: SystemTime::now(),
                rtt_us: None,
                auth_identifier: reader
                    .info()
                    .auth_identifier()
                    .map(str::to_owned)
                    .or_else(|| self.inner.auth_user.clone()),
            },
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            rtt_us: Arc::new(AtomicU64::new(u64::MAX)),
            last_tx: Arc::new(AtomicU64::new(0)),
            stop: stop_tx,
        };
        {
            let _order = lock(&self.inner.events);
            if self.is_closed() {
                return;
            }
            let snap = state.snapshot();
            let ctx = super::link::LinkCtx {
                id: link_id,
                writer: state.writer.clone(),
                rtt_us: state.rtt_us.clone(),
                last_tx: state.last_tx.clone(),
            };
            lock(&self.inner.links).push(state);
            self.emit(TransportEvent::LinkAdded(snap));
            tracing::debug!("transport {}: link {link_id} added", self.inner.zid);
            let t = self.clone();
            tokio::spawn(async move { t.link_task(ctx, reader, framer, stop_rx).await });
        }
    }

    pub(super) fn emit(&self, ev: TransportEvent) {
        if let Some(h) = self.inner.handler.get() {
            h.event(ev);
        }
    }

    pub(super) fn deliver(&self, msg: NetworkMessage) {
        self.inner.stats.rx_msgs.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = self.inner.handler.get() {
            h.message(msg);
        }
    }

    /// Removes one link; closes the transport when it was the last.
    pub(super) fn remove_link(&self, link_id: u64, cause: CloseCause) {
        let _order = lock(&self.inner.events);
        let removed = {
            let mut links = lock(&self.inner.links);
            let pos = links.iter().position(|l| l.snapshot.id == link_id);
            pos.map(|p| links.remove(p))
        };
        let Some(state) = removed else { return };
        let _ = state.stop.send(true);
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

    fn remove_all_links(&self, cause: CloseCause) {
        let _order = lock(&self.inner.events);
        let removed: Vec<LinkState> = lock(&self.inner.links).drain(..).collect();
        for state in removed {
            let _ = state.stop.send(true);
            self.emit(TransportEvent::LinkRemoved {
                link: state.snapshot(),
                cause: cause.clone(),
            });
        }
        self.finish_close(cause);
    }

    /// Marks the transport closed and emits `Closed`; call with the events lock held.
    fn finish_close(&self, cause: CloseCause) {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.pipeline.close();
        *lock(&self.inner.close_cause) = Some(cause.clone());
        if let Some(m) = self.inner.manager.upgrade() {
            super::forget(&m, self);
        }
        tracing::info!("transport to {} closed: {cause}", self.inner.zid);
        self.emit(TransportEvent::Closed { cause });
        self.inner.tx_ready.notify_one();
        self.inner.tx_space.notify_waiters();
    }

    /// Moves batches from the pipeline to the first link; ends when the transport closes.
    async fn writer_task(self) {
        let mut batches: Vec<Batch> = Vec::new();
        loop {
            // Before sleeping, give a busy producer a moment: a few yields usually catch
            // its next message without a wake-up (a futex call and a context switch),
            // and let a batch gather more than one message.
            let mut work = false;
            for _ in 0..WRITER_SPINS {
                if self.inner.pipeline.has_pending() {
                    work = true;
                    break;
                }
                tokio::task::yield_now().await;
            }
            if !work {
                self.inner.writer_parked.store(true, Ordering::SeqCst);
                if !self.inner.pipeline.has_pending() {
                    self.inner.tx_ready.notified().await;
                }
                self.inner.writer_parked.store(false, Ordering::SeqCst);
            }
            loop {
                self.gather();
                batches.clear();
                self.inner.tx_in_flight.store(true, Ordering::SeqCst);
                if self.inner.pipeline.pull(&mut batches) == 0 {
                    self.inner.tx_in_flight.store(false, Ordering::SeqCst);
                    self.inner.tx_drained.notify_waiters();
                    break;
                }
                self.inner.tx_space.notify_waiters();
                let target = lock(&self.inner.links).first().map(|l| {
                    (
                        l.snapshot.id,
                        l.writer.clone(),
                        l.last_tx.clone(),
                        l.snapshot.info.is_streamed(),
                    )
                });
                let Some((link_id, writer, last_tx, streamed)) = target else {
                    // No link left: the data cannot leave.
                    batches.clear();
                    self.inner.tx_in_flight.store(false, Ordering::SeqCst);
                    self.inner.tx_drained.notify_waiters();
                    break;
                };
                let mut w = writer.lock().await;
                let mut bytes = 0u64;
                let res = if streamed {
                    for b in batches.iter_mut() {
                        b.seal();
                        bytes += b.as_prefixed().len() as u64;
                    }
                    let slices: Vec<&[u8]> = batches.iter().map(Batch::as_prefixed).collect();
                    w.write_vectored_all(&slices).await
                } else {
                    let mut res = Ok(());
                    for b in batches.iter() {
                        bytes += b.payload().len() as u64;
                        res = w.write_all(b.payload()).await;
                        if res.is_err() {
                            break;
                        }
                    }
                    res
                };
                drop(w);
                last_tx.store(
                    self.inner.epoch.elapsed().as_millis() as u64,
                    Ordering::Relaxed,
                );
                self.inner
                    .stats
                    .tx_bytes
                    .fetch_add(bytes, Ordering::Relaxed);
                for b in batches.drain(..) {
                    self.inner.pipeline.recycle(b);
                }
                if let Err(e) = res {
                    self.remove_link(link_id, CloseCause::LinkFailed(e.to_string()));
                }
            }
            if self.is_closed() && self.inner.pipeline.is_empty() {
                return;
            }
        }
    }
}

/// How many times the writer yields, looking for more to send, before it sleeps.
const WRITER_SPINS: usize = 16;

/// How long the writer watches a message that is not urgent for company: if no other
/// message follows within this time, it leaves alone.
const GATHER_QUIET: Duration = Duration::from_micros(1);

/// How long the writer naps, while producers keep adding to a batch, before it looks
/// again (the kernel's timer slack usually makes it longer).
const GATHER_NAP: Duration = Duration::from_micros(20);

/// The longest the writer waits for a batch that keeps filling up.
const GATHER_MAX: Duration = Duration::from_micros(200);

impl Transport {
    /// Lets a batch fill up before it is written, so that one write carries many
    /// messages. Express messages, full batches and fragments go at once. A message
    /// that no other follows within [`GATHER_QUIET`] goes then. While producers keep
    /// adding, the writer naps (leaving the CPU to them) up to [`GATHER_MAX`].
    fn gather(&self) {
        let pipeline = &self.inner.pipeline;
        let seen = pipeline.pending();
        if seen == 0 || pipeline.has_ready() {
            return;
        }
        let start = std::time::Instant::now();
        // Is a producer still at work? Watch the count briefly.
        loop {
            for _ in 0..16 {
                std::hint::spin_loop();
            }
            if pipeline.has_ready() {
                return;
            }
            if pipeline.pending() != seen {
                break;
            }
            if start.elapsed() >= GATHER_QUIET {
                return;
            }
        }
        // It is: nap while the batch keeps growing.
        loop {
            let before = pipeline.pending();
            std::thread::sleep(GATHER_NAP);
            if pipeline.has_ready() || pipeline.pending() == before || start.elapsed() >= GATHER_MAX
            {
                return;
            }
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
