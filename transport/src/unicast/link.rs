//! The tasks of one link: reading and decoding batches (with lease expiry), and sending
//! keep-alives and RTT probes while the link is idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_link::{LinkReader, LinkWriter};
use tokio::sync::{Notify, watch};

use super::lock;
use super::transport::{Transport, rx_channel};
use crate::event::CloseCause;
use crate::lease::{Lease, LeaseAction};
use crate::pipeline::Batch;
use crate::wire::network::NetworkMessage;
use crate::wire::transport::{
    BatchItem, BatchReader, Close, CloseReason, OamBody, StreamFramer, TransportMessage,
    TransportOam,
};
use crate::wire::{Priority, Reader};

/// OAM id of an RTT probe; the body is the sender's clock in microseconds.
pub const OAM_RTT_PING: u16 = 0x7001;
/// OAM id of the answer to a probe; the body echoes the probe's.
pub const OAM_RTT_PONG: u16 = 0x7002;

/// Largest single read from a link.
const READ_CHUNK: usize = 65536;

/// The longest the reader holds back for a backlog before it reads on anyway (so two
/// processes each waiting for the other to read cannot stall for good).
const BACKLOG_WAIT_MAX: Duration = Duration::from_millis(100);

pub(super) struct LinkCtx {
    pub(super) id: u64,
    pub(super) writer: Arc<tokio::sync::Mutex<LinkWriter>>,
    pub(super) rtt_us: Arc<AtomicU64>,
    pub(super) last_tx: Arc<AtomicU64>,
}

/// Why the RX loop stopped.
struct Exit {
    cause: CloseCause,
    /// Close every link of the transport, not just this one.
    whole: bool,
    /// Send CLOSE with this reason before closing the link.
    send_close: Option<CloseReason>,
}

impl Exit {
    fn link(cause: CloseCause) -> Self {
        Exit {
            cause,
            whole: false,
            send_close: None,
        }
    }

    fn malformed(what: String) -> Self {
        Exit {
            cause: CloseCause::Malformed(what),
            whole: false,
            send_close: Some(CloseReason::Invalid),
        }
    }
}

impl Transport {
    pub(super) async fn link_task(
        self,
        ctx: LinkCtx,
        mut reader: LinkReader,
        mut framer: StreamFramer,
        mut stop: watch::Receiver<bool>,
    ) {
        let streamed = reader.info().is_streamed();
        let keep_alive_now = Arc::new(Notify::new());
        let keepalive = tokio::spawn(self.clone().keepalive_task(
            ctx.writer.clone(),
            ctx.last_tx.clone(),
            keep_alive_now.clone(),
            stop.clone(),
        ));
        let exit = self
            .rx_loop(&ctx, &mut reader, &mut framer, &mut stop, &keep_alive_now)
            .await;
        keepalive.abort();
        let Some(exit) = exit else { return };
        if let Some(reason) = exit.send_close {
            let mut w = ctx.writer.lock().await;
            let mut batch = Batch::single(&TransportMessage::Close(Close {
                reason,
                session: false,
            }));
            batch.seal();
            let data: &[u8] = if streamed {
                batch.as_prefixed()
            } else {
                batch.payload()
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), w.write_all(data)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), ctx.writer.lock().await.close()).await;
        if exit.whole {
            self.close_links_after_peer(exit.cause);
        } else {
            self.remove_link(ctx.id, exit.cause);
        }
    }

    fn close_links_after_peer(&self, cause: CloseCause) {
        let ids: Vec<u64> = lock(&self.inner.links)
            .iter()
            .map(|l| l.snapshot.id)
            .collect();
        for id in ids {
            self.remove_link(id, cause.clone());
        }
    }

    /// Reads and handles batches until the link fails, expires or is stopped. The lease
    /// state machine lives here; keep-alives it asks for are sent by the keep-alive task.
    async fn rx_loop(
        &self,
        ctx: &LinkCtx,
        reader: &mut LinkReader,
        framer: &mut StreamFramer,
        stop: &mut watch::Receiver<bool>,
        keep_alive_now: &Notify,
    ) -> Option<Exit> {
        let streamed = reader.info().is_streamed();
        let keep_alive = self
            .inner
            .manager
            .upgrade()
            .map(|m| m.config.keep_alive)
            .unwrap_or(4);
        let mut lease = Lease::new(
            self.inner.local_lease,
            keep_alive,
            self.inner.remote_lease,
            Instant::now(),
        );
        let mut received = false;
        loop {
            if streamed {
                loop {
                    match framer.next_batch() {
                        Ok(Some(batch)) => {
                            if let Err(exit) = self.handle_batch(ctx, batch) {
                                return Some(exit);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => return Some(Exit::malformed(e.to_string())),
                    }
                }
            } else {
                // A read cancelled by the timer may have left a partial datagram behind.
                framer.buffer_mut().clear();
            }
            // Only after data arrived: a silent remote's lease must still run out.
            if std::mem::take(&mut received)
                && let Some(wait) = self.inner.handler.get().and_then(|h| h.backlog())
            {
                tokio::select! {
                    biased;
                    _ = stop.changed() => return None,
                    _ = wait => {}
                    _ = tokio::time::sleep(BACKLOG_WAIT_MAX) => {}
                }
                // Holding back is not the remote's silence.
                lease.handle_rx(Instant::now());
            }
            let deadline = tokio::time::Instant::from_std(lease.poll_timeout());
            let read = tokio::select! {
                biased;
                _ = stop.changed() => return None,
                r = reader.read_buf(framer.buffer_mut(), READ_CHUNK) => r,
                _ = tokio::time::sleep_until(deadline) => {
                    let written = self.inner.epoch + Duration::from_millis(ctx.last_tx.load(Ordering::Relaxed));
                    lease.handle_tx(written.into_std());
                    match lease.handle_timeout(Instant::now()) {
                        Some(LeaseAction::Expired) => return Some(Exit::link(CloseCause::LeaseExpired)),
                        Some(LeaseAction::SendKeepAlive) => keep_alive_now.notify_one(),
                        None => {}
                    }
                    continue;
                }
            };
            match read {
                Err(e) => return Some(Exit::link(CloseCause::LinkFailed(e.to_string()))),
                Ok(0) if streamed => {
                    return Some(Exit::link(CloseCause::LinkFailed("closed by peer".into())));
                }
                Ok(n) => {
                    received = true;
                    lease.handle_rx(Instant::now());
                    self.inner
                        .stats
                        .rx_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    if !streamed {
                        let batch = framer.buffer_mut().split().freeze();
                        if let Err(exit) = self.handle_batch(ctx, batch) {
                            return Some(exit);
                        }
                    }
                }
            }
        }
    }

    fn channel_index(&self, p: Priority) -> Result<usize, Exit> {
        if self.inner.qos {
            Ok(p as usize)
        } else if p == Priority::Data {
            Ok(0)
        } else {
            Err(Exit::malformed(format!(
                "priority {p:?} on a transport without QoS"
            )))
        }
    }

    /// Decodes one batch and delivers its messages on this task.
    fn handle_batch(&self, ctx: &LinkCtx, batch: Bytes) -> Result<(), Exit> {
        let mut reader = BatchReader::new(batch);
        let mut accepting = false;
        let handler = self.inner.handler.get();
        let mut pushes = 0u64;
        let result = loop {
            // The hot path: PUSHes inside a frame go straight to the handler.
            // Matched in place: the PUSH is not moved out of the result.
            let mut next = reader.next_push();
            match &mut next {
                Ok(Some(push)) => {
                    if accepting && let Some(h) = handler {
                        pushes += 1;
                        h.push(push);
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => break Err(Exit::malformed(e.to_string())),
            }
            match self.handle_item(ctx, &mut reader, &mut accepting) {
                Ok(true) => {}
                Ok(false) => break Ok(()),
                Err(exit) => break Err(exit),
            }
        };
        self.inner
            .stats
            .rx_msgs
            .fetch_add(pushes, Ordering::Relaxed);
        result
    }

    /// Handles the batch's next item other than a PUSH in a frame; false at its end.
    fn handle_item(
        &self,
        ctx: &LinkCtx,
        reader: &mut BatchReader,
        accepting: &mut bool,
    ) -> Result<bool, Exit> {
        let item = match reader.next_item() {
            Ok(Some(item)) => item,
            Ok(None) => return Ok(false),
            Err(e) => return Err(Exit::malformed(e.to_string())),
        };
        match item {
            BatchItem::Network(msg) => {
                if *accepting {
                    self.deliver(msg);
                }
            }
            BatchItem::Transport(TransportMessage::Frame(h)) => {
                let idx = self.channel_index(h.priority)?;
                let ch = rx_channel(h.reliability);
                *accepting = lock(&self.inner.rx).channels[idx][ch].accept(h.sn);
                if !*accepting {
                    tracing::debug!(
                        "transport {}: dropped frame with stale sn {}",
                        self.inner.zid,
                        h.sn
                    );
                }
            }
            BatchItem::Transport(TransportMessage::Fragment(f)) => {
                *accepting = false;
                let idx = self.channel_index(f.priority)?;
                let ch = rx_channel(f.reliability);
                let whole = {
                    let mut rx = lock(&self.inner.rx);
                    let ok = rx.channels[idx][ch].accept(f.sn);
                    rx.defrag[idx][ch].handle_fragment(&f, ok)
                };
                // As in Zenoh, a failed reassembly loses that message only.
                match whole {
                    Ok(Some(bytes)) => match NetworkMessage::read(&mut Reader::new(bytes)) {
                        Ok(msg) => self.deliver(msg),
                        Err(e) => tracing::debug!(
                            "transport {}: dropped undecodable reassembled message: {e}",
                            self.inner.zid
                        ),
                    },
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!("transport {}: dropped fragments: {e}", self.inner.zid)
                    }
                }
            }
            BatchItem::Transport(TransportMessage::KeepAlive) => *accepting = false,
            BatchItem::Transport(TransportMessage::Close(c)) => {
                return Err(Exit {
                    cause: CloseCause::ByPeer(c.reason),
                    whole: c.session,
                    send_close: None,
                });
            }
            BatchItem::Transport(TransportMessage::Oam(oam)) => {
                *accepting = false;
                self.handle_oam(ctx, oam);
            }
            BatchItem::Transport(m @ (TransportMessage::Init(_) | TransportMessage::Open(_))) => {
                let name = if matches!(m, TransportMessage::Init(_)) {
                    "INIT"
                } else {
                    "OPEN"
                };
                return Err(Exit::malformed(format!("{name} on an established link")));
            }
        }
        Ok(true)
    }

    fn handle_oam(&self, ctx: &LinkCtx, oam: TransportOam) {
        match (oam.id, oam.body) {
            (OAM_RTT_PING, OamBody::Z64(t)) => {
                let pong = TransportMessage::Oam(TransportOam {
                    id: OAM_RTT_PONG,
                    priority: self.control_priority(),
                    body: OamBody::Z64(t),
                });
                let writer = ctx.writer.clone();
                let last_tx = ctx.last_tx.clone();
                let t = self.clone();
                tokio::spawn(async move { t.send_single(&writer, &last_tx, &pong).await });
            }
            (OAM_RTT_PONG, OamBody::Z64(t)) => {
                let now = self.inner.epoch.elapsed().as_micros() as u64;
                if let Some(rtt) = now.checked_sub(t) {
                    ctx.rtt_us.store(rtt, Ordering::Relaxed);
                    self.inner.rtt_updates.send_modify(|n| *n += 1);
                }
            }
            (id, _) => tracing::debug!("transport {}: ignored OAM 0x{id:04x}", self.inner.zid),
        }
    }

    fn control_priority(&self) -> Priority {
        if self.inner.qos {
            Priority::Control
        } else {
            Priority::Data
        }
    }

    async fn send_single(
        &self,
        writer: &tokio::sync::Mutex<LinkWriter>,
        last_tx: &AtomicU64,
        msg: &TransportMessage,
    ) {
        let mut batch = Batch::single(msg);
        batch.seal();
        let mut w = writer.lock().await;
        let data: &[u8] = if w.info().is_streamed() {
            batch.as_prefixed()
        } else {
            batch.payload()
        };
        if tokio::time::timeout(Duration::from_secs(1), w.write_all(data))
            .await
            .is_ok()
        {
            last_tx.store(
                self.inner.epoch.elapsed().as_millis() as u64,
                Ordering::Relaxed,
            );
            self.inner
                .stats
                .tx_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
        }
    }

    /// Sends KEEP_ALIVE when the lease machine asks for one, and RTT probes on a timer.
    async fn keepalive_task(
        self,
        writer: Arc<tokio::sync::Mutex<LinkWriter>>,
        last_tx: Arc<AtomicU64>,
        keep_alive_now: Arc<Notify>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (keep_alive, probes) = self
            .inner
            .manager
            .upgrade()
            .map(|m| (m.config.keep_alive.max(1), m.config.rtt_probes))
            .unwrap_or((4, false));
        let period = (self.inner.local_lease / keep_alive).max(Duration::from_millis(10));
        let mut probe = tokio::time::interval(period.max(Duration::from_secs(1)));
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let msg = tokio::select! {
                _ = stop.changed() => return,
                _ = keep_alive_now.notified() => TransportMessage::KeepAlive,
                _ = probe.tick(), if probes => TransportMessage::Oam(TransportOam {
                    id: OAM_RTT_PING,
                    priority: self.control_priority(),
                    body: OamBody::Z64(self.inner.epoch.elapsed().as_micros() as u64),
                }),
            };
            self.send_single(&writer, &last_tx, &msg).await;
        }
    }
}
