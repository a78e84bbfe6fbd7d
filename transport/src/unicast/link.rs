//! The tasks of one link: the reader (decoding batches, with lease expiry and
//! back-pressure) and the writer (which owns the link's writing half: keep-alives, RTT
//! probes and their answers, and, on the transport's first link, the TX pipeline).
//!
//! Nothing else writes to a link, so no lock guards it and no write is ever cut in the
//! middle of a batch, except when the link is being closed: a writer told to stop gets
//! a short grace to finish, then its write is abandoned and the link closed with it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use plexus_link::{LinkError, LinkReader, LinkWriter};
use tokio::sync::watch;

use super::backpressure;
use super::transport::{LinkCmd, LinkShared, Transport, rx_channel};
use crate::event::{CloseCause, EachPush, PeerHandler, PushSink};
use crate::lease::Lease;
use crate::pipeline::Batch;
use crate::sync::lock;
use crate::wire::network::{NetworkMessage, Push};
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

/// Largest write the writer makes at once (at least one batch). Each part of it the
/// socket takes counts as progress; the fewer the writes, the fewer the reader's wake-ups
/// on the other side (one write per 64 KiB batch halved the rate of 16 KiB messages).
const WRITE_CHUNK: usize = 1 << 20;

/// How long a writer told to close may finish its write, and then send CLOSE.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How often a writer stuck in a write looks whether a `Block` message waits.
const WATCH_PERIOD: Duration = Duration::from_millis(100);

/// How many times the writer yields, looking for more to send, before it sleeps.
const WRITER_SPINS: usize = 16;

/// How long the writer watches a message that is not urgent for company, at least and at
/// most: twice the gap between the messages queued so far, within these bounds. A lone
/// message is watched the least. Producers slower than one message per half the most
/// are not worth waiting for: each of their messages leaves at once.
const GATHER_WATCH_MIN: Duration = Duration::from_micros(1);
const GATHER_WATCH_MAX: Duration = Duration::from_micros(10);

/// What the writer takes from the pipeline (see `gather`).
enum Take {
    /// The finished batches only: producers are filling the one under construction.
    Finished,
    /// Everything, the batch under construction included.
    All,
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

/// Why a write did not complete.
enum Stop {
    /// The link failed.
    Failed(LinkError),
    /// The link's tasks were told to stop (cut now, or the grace ran out).
    Cut,
}

impl Transport {
    /// The reader task of a link: reads until the link fails, expires or is stopped.
    pub(super) async fn link_reader(
        self,
        shared: Arc<LinkShared>,
        mut reader: LinkReader,
        mut framer: StreamFramer,
        leftover: Option<Bytes>,
        mut cmd: watch::Receiver<LinkCmd>,
    ) {
        let Some(handler) = self.handler() else {
            return;
        };
        let exit = self
            .rx_loop(
                &shared,
                &*handler,
                &mut reader,
                &mut framer,
                leftover,
                &mut cmd,
            )
            .await;
        drop(handler);
        let Some(exit) = exit else { return };
        if exit.whole {
            self.remove_all_links(exit.cause, LinkCmd::Close(None));
        } else {
            self.remove_link(shared.id, exit.cause, LinkCmd::Close(exit.send_close));
        }
    }

    /// Reads and handles batches until the link fails, expires or is stopped.
    ///
    /// The batches of each read are handled inside a back-pressure scope; if they were
    /// passed on to transports whose queues are full, the reader waits for those (see
    /// `backpressure`) before it reads more, so a source is slowed down instead of
    /// memory growing. The lease runs while it reads, not while it holds back.
    async fn rx_loop(
        &self,
        shared: &LinkShared,
        handler: &dyn PeerHandler,
        reader: &mut LinkReader,
        framer: &mut StreamFramer,
        leftover: Option<Bytes>,
        cmd: &mut watch::Receiver<LinkCmd>,
    ) -> Option<Exit> {
        let streamed = reader.info().is_streamed();
        let mut lease = Lease::new(
            self.inner.local_lease,
            self.inner.keep_alive,
            self.inner.remote_lease,
            Instant::now(),
        );
        if *cmd.borrow() != LinkCmd::Run {
            return None;
        }
        // The first batch to handle: what arrived with the handshake's last message.
        let mut pending: Option<Bytes> = leftover;
        let mut busy = false;
        loop {
            let scope = backpressure::Scope::begin();
            let handled = if streamed {
                let first = match pending.take() {
                    Some(batch) => self.handle_batch(shared, handler, batch),
                    None => Ok(()),
                };
                if let Err(exit) = first {
                    Err(exit)
                } else {
                    loop {
                        match framer.next_batch() {
                            Ok(Some(batch)) => {
                                if let Err(exit) = self.handle_batch(shared, handler, batch) {
                                    break Err(exit);
                                }
                            }
                            Ok(None) => break Ok(()),
                            Err(e) => break Err(Exit::malformed(e.to_string())),
                        }
                    }
                }
            } else {
                // A read cancelled by the timer may have left a partial datagram behind.
                framer.buffer_mut().clear();
                match pending.take() {
                    Some(batch) => self.handle_batch(shared, handler, batch),
                    None => Ok(()),
                }
            };
            let relief = scope.end();
            let woke = backpressure::woke_writer();
            if let Err(exit) = handled {
                return Some(exit);
            }
            if let Some(relief) = relief {
                tokio::select! {
                    biased;
                    _ = cmd.changed() => return None,
                    _ = relief => {}
                }
                // Holding back is not the remote's silence.
                lease.handle_rx(Instant::now());
            } else if std::mem::take(&mut busy) && woke {
                // A busy stream is always ready to read: without a yield, the writers
                // this task woke wait in its worker's LIFO slot (which other workers do
                // not steal) until the task's whole cooperative budget is spent.
                tokio::task::yield_now().await;
            }
            let mut deadline = lease.expiry();
            if self.inner.defrag_busy.load(Ordering::Relaxed)
                && let Some(at) = lock(&self.inner.rx).defrag.next_expiry()
            {
                deadline = deadline.min(at);
            }
            let read = tokio::select! {
                biased;
                _ = cmd.changed() => return None,
                r = reader.read_buf(framer.buffer_mut(), READ_CHUNK) => r,
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                    let now = Instant::now();
                    if now >= lease.expiry() {
                        return Some(Exit::link(CloseCause::LeaseExpired));
                    }
                    self.expire_fragments(now);
                    continue;
                }
            };
            match read {
                Err(e) => return Some(Exit::link(CloseCause::LinkFailed(e.to_string()))),
                Ok(0) if streamed => {
                    return Some(Exit::link(CloseCause::LinkFailed("closed by peer".into())));
                }
                Ok(n) => {
                    busy = n >= READ_CHUNK / 2;
                    lease.handle_rx(Instant::now());
                    self.inner
                        .stats
                        .rx_bytes
                        .fetch_add(n as u64, Ordering::Relaxed);
                    shared.rx_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if !streamed {
                        pending = Some(framer.buffer_mut().split().freeze());
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
    fn handle_batch(
        &self,
        shared: &LinkShared,
        handler: &dyn PeerHandler,
        batch: Bytes,
    ) -> Result<(), Exit> {
        let mut reader = BatchReader::new(batch);
        let mut accepting = false;
        let mut pushes = 0u64;
        // The hot path: PUSHes inside a frame are decoded into this one place and go
        // straight to the handler's sink (which may take their parts).
        let mut push = Push::default();
        let mut result = None;
        let mut read = |sink: &mut dyn PushSink| {
            if result.is_some() {
                return; // Read already.
            }
            result = Some(loop {
                match reader.next_push_into(&mut push) {
                    Ok(true) => {
                        if accepting {
                            pushes += 1;
                            sink.push(&mut push);
                        }
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => break Err(Exit::malformed(e.to_string())),
                }
                match self.handle_item(shared, handler, &mut reader, &mut accepting) {
                    Ok(true) => {}
                    Ok(false) => break Ok(()),
                    Err(exit) => break Err(exit),
                }
            });
        };
        handler.batch(&mut read);
        // A handler that did not read the batch gets its PUSHes one by one.
        read(&mut EachPush(handler));
        self.inner
            .stats
            .rx_msgs
            .fetch_add(pushes, Ordering::Relaxed);
        result.unwrap_or(Ok(()))
    }

    fn deliver(&self, handler: &dyn PeerHandler, msg: NetworkMessage) {
        self.inner.stats.rx_msgs.fetch_add(1, Ordering::Relaxed);
        handler.message(msg);
    }

    /// Handles the batch's next item other than a PUSH in a frame; false at its end.
    fn handle_item(
        &self,
        shared: &LinkShared,
        handler: &dyn PeerHandler,
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
                    self.deliver(handler, msg);
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
                    let whole = rx
                        .defrag
                        .handle_fragment(idx * 2 + ch, &f, ok, Instant::now());
                    self.inner
                        .defrag_busy
                        .store(rx.defrag.held() > 0, Ordering::Relaxed);
                    whole
                };
                // As in Zenoh, a failed reassembly loses that message only.
                match whole {
                    Ok(Some(bytes)) => match NetworkMessage::read(&mut Reader::new(bytes)) {
                        Ok(msg) => self.deliver(handler, msg),
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
                self.handle_oam(shared, oam);
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

    /// Drops the incomplete fragment series that made no progress for the timeout.
    fn expire_fragments(&self, now: Instant) {
        let mut rx = lock(&self.inner.rx);
        let freed = rx.defrag.expire(now);
        self.inner
            .defrag_busy
            .store(rx.defrag.held() > 0, Ordering::Relaxed);
        drop(rx);
        if freed > 0 {
            tracing::debug!(
                "transport {}: dropped incomplete fragmented messages ({freed} bytes) idle for {:?}",
                self.inner.zid,
                self.inner.defrag_timeout
            );
        }
    }

    fn handle_oam(&self, shared: &LinkShared, oam: TransportOam) {
        match (oam.id, oam.body) {
            (OAM_RTT_PING, OamBody::Z64(t)) => {
                // One answer outstanding at most: a newer probe replaces an unsent one.
                shared.pong.store(t, Ordering::Release);
                shared.wake.notify_one();
            }
            (OAM_RTT_PONG, OamBody::Z64(t)) => {
                let now = self.inner.epoch.elapsed().as_micros() as u64;
                if let Some(rtt) = now.checked_sub(t) {
                    shared.rtt_us.store(rtt, Ordering::Relaxed);
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

    fn oam(&self, id: u16, t: u64) -> TransportMessage {
        TransportMessage::Oam(TransportOam {
            id,
            priority: self.control_priority(),
            body: OamBody::Z64(t),
        })
    }

    /// The writer task of a link: the only code that writes to it.
    pub(super) async fn link_writer(
        self,
        shared: Arc<LinkShared>,
        mut w: LinkWriter,
        mut cmd: watch::Receiver<LinkCmd>,
    ) {
        let streamed = w.info().is_streamed();
        let end = self.tx_loop(&shared, &mut w, streamed, &mut cmd).await;
        let LinkCmd::Close(reason) = end else {
            return;
        };
        // Closing: CLOSE if asked and the stream is at a batch boundary, then shut the
        // link down; bounded, and cut short if told to.
        let close = async {
            if let Some(reason) = reason {
                let mut b = Batch::single(&TransportMessage::Close(Close {
                    reason,
                    session: false,
                }));
                b.seal();
                let _ = w.write_vectored_all(&b.wire(streamed)).await;
            }
            let _ = w.close().await;
        };
        tokio::select! {
            _ = tokio::time::timeout(CLOSE_GRACE, close) => {}
            _ = cmd.wait_for(|c| *c == LinkCmd::Cut) => {}
        }
    }

    /// Writes until told to stop; returns how (`Run` never).
    async fn tx_loop(
        &self,
        shared: &LinkShared,
        w: &mut LinkWriter,
        streamed: bool,
        cmd: &mut watch::Receiver<LinkCmd>,
    ) -> LinkCmd {
        let inner = &self.inner;
        // Only the keep-alive half of the lease machine runs here (expiry is the reader's).
        let mut lease = Lease::new(
            inner.local_lease,
            inner.keep_alive,
            inner.remote_lease,
            Instant::now(),
        );
        let period = (inner.local_lease / inner.keep_alive).max(Duration::from_millis(10));
        let mut probe = tokio::time::interval(period.max(Duration::from_secs(1)));
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batches: Vec<Batch> = Vec::new();
        let (mut ping_due, mut keep_alive_due) = (false, false);
        loop {
            let now_cmd = *cmd.borrow_and_update();
            if now_cmd != LinkCmd::Run {
                return now_cmd;
            }
            // Control messages first, each a batch of its own, in one write.
            let mut control = Vec::new();
            let pong = shared.pong.swap(u64::MAX, Ordering::AcqRel);
            if pong != u64::MAX {
                control.push(self.oam(OAM_RTT_PONG, pong));
            }
            if std::mem::take(&mut ping_due) {
                control.push(self.oam(OAM_RTT_PING, inner.epoch.elapsed().as_micros() as u64));
            }
            if std::mem::take(&mut keep_alive_due) {
                control.push(TransportMessage::KeepAlive);
            }
            if !control.is_empty() {
                let mut batches: Vec<Batch> = control.iter().map(Batch::single).collect();
                let mut bytes = 0;
                for b in batches.iter_mut() {
                    b.seal();
                    bytes += b.wire_len(streamed) as u64;
                }
                for chunk in batches.chunks(if streamed { batches.len() } else { 1 }) {
                    let slices: Vec<&[u8]> = chunk.iter().flat_map(|b| b.wire(streamed)).collect();
                    if let Err(stop) = self.write_guarded(w, &slices, cmd, false).await {
                        return self.stopped(shared, stop);
                    }
                }
                lease.handle_tx(Instant::now());
                inner.stats.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
                shared.tx_bytes.fetch_add(bytes, Ordering::Relaxed);
            }
            let primary = self.is_primary(shared.id);
            if primary {
                match self
                    .write_pipeline(shared, w, streamed, cmd, &mut batches)
                    .await
                {
                    Ok(true) => {
                        lease.handle_tx(Instant::now());
                        continue;
                    }
                    Ok(false) => {}
                    Err(stop) => return self.stopped(shared, stop),
                }
                // Before sleeping, give a busy producer a moment: a few yields usually
                // catch its next message without a wake-up (a futex call and a context
                // switch), and let a batch gather more than one message.
                let mut work = false;
                for _ in 0..WRITER_SPINS {
                    if inner.pipeline.has_pending() {
                        work = true;
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                if work {
                    continue;
                }
                inner.writer_parked.store(true, Ordering::SeqCst);
                if inner.pipeline.has_pending() {
                    inner.writer_parked.store(false, Ordering::SeqCst);
                    continue;
                }
            }
            let keep_alive_at = tokio::time::Instant::from_std(lease.keep_alive_due());
            tokio::select! {
                biased;
                _ = cmd.changed() => {}
                _ = shared.wake.notified() => {}
                _ = inner.tx_ready.notified(), if primary => {}
                _ = tokio::time::sleep_until(keep_alive_at) => {
                    // Idle for a keep-alive period: the batch buffers kept for a busy
                    // producer go (trimming each time the writer waits made a busy
                    // producer allocate and fault in fresh ones all the time).
                    inner.pipeline.trim(1);
                    keep_alive_due = true;
                    lease.handle_tx(Instant::now());
                }
                _ = probe.tick(), if inner.rtt_probes => ping_due = true,
            }
            if primary {
                inner.writer_parked.store(false, Ordering::SeqCst);
            }
        }
    }

    /// What the writer does after a write stopped: a failed link is removed.
    fn stopped(&self, shared: &LinkShared, stop: Stop) -> LinkCmd {
        if let Stop::Failed(e) = stop {
            self.remove_link(
                shared.id,
                CloseCause::LinkFailed(e.to_string()),
                LinkCmd::Cut,
            );
        }
        LinkCmd::Cut
    }

    /// Pulls batches from the pipeline and writes them until it is empty; true if it
    /// wrote anything. Returns early when a pong waits or the link stopped being first.
    async fn write_pipeline(
        &self,
        shared: &LinkShared,
        w: &mut LinkWriter,
        streamed: bool,
        cmd: &mut watch::Receiver<LinkCmd>,
        batches: &mut Vec<Batch>,
    ) -> Result<bool, Stop> {
        let inner = &self.inner;
        let mut wrote = false;
        loop {
            let take = self.gather(shared, cmd).await;
            batches.clear();
            inner.tx_in_flight.store(true, Ordering::SeqCst);
            let pulled = match take {
                Take::Finished => inner.pipeline.pull_finished(batches),
                Take::All => inner.pipeline.pull(batches),
            };
            if pulled == 0 {
                inner.tx_in_flight.store(false, Ordering::SeqCst);
                inner.tx_drained.notify_waiters();
                return Ok(wrote);
            }
            inner.tx_space.notify_waiters();
            let res = self.write_batches(shared, w, batches, streamed, cmd).await;
            for b in batches.drain(..) {
                inner.pipeline.recycle(b);
            }
            if let Err(stop) = res {
                inner.tx_in_flight.store(false, Ordering::SeqCst);
                inner.tx_drained.notify_waiters();
                return Err(stop);
            }
            wrote = true;
            if shared.pong.load(Ordering::Acquire) != u64::MAX || !self.is_primary(shared.id) {
                inner.tx_in_flight.store(false, Ordering::SeqCst);
                inner.tx_drained.notify_waiters();
                return Ok(true);
            }
        }
    }

    /// Writes pulled batches, several per system call on streamed links (up to
    /// [`WRITE_CHUNK`] bytes), one per datagram otherwise, noting progress as the socket
    /// takes them.
    async fn write_batches(
        &self,
        shared: &LinkShared,
        w: &mut LinkWriter,
        batches: &mut [Batch],
        streamed: bool,
        cmd: &mut watch::Receiver<LinkCmd>,
    ) -> Result<(), Stop> {
        for b in batches.iter_mut() {
            b.seal();
        }
        let mut i = 0;
        while i < batches.len() {
            let mut j = i;
            let mut bytes = 0;
            while j < batches.len()
                && (j == i || (streamed && bytes + batches[j].wire_len(true) <= WRITE_CHUNK))
            {
                bytes += batches[j].wire_len(streamed);
                j += 1;
            }
            let slices: Vec<&[u8]> = batches[i..j]
                .iter()
                .flat_map(|b| b.wire(streamed))
                .collect();
            self.inner
                .tx_progress
                .store(self.millis_now(), Ordering::Release);
            self.write_guarded(w, &slices, cmd, true).await?;
            self.inner
                .stats
                .tx_bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
            shared.tx_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            i = j;
        }
        self.inner
            .tx_progress
            .store(self.millis_now(), Ordering::Release);
        Ok(())
    }

    /// One write, abandoned only if the link's tasks are told to stop (at once for a
    /// cut, after [`CLOSE_GRACE`] for a close). With `watchdog`, a write that makes no
    /// progress for `wait_before_close` while a `Block` message waits closes the
    /// transport as a slow consumer.
    async fn write_guarded(
        &self,
        w: &mut LinkWriter,
        slices: &[&[u8]],
        cmd: &mut watch::Receiver<LinkCmd>,
        watchdog: bool,
    ) -> Result<(), Stop> {
        let mut noted = |_: usize| {
            self.inner
                .tx_progress
                .store(self.millis_now(), Ordering::Release);
        };
        let write = w.write_vectored_all_noting(slices, &mut noted);
        tokio::pin!(write);
        let wait_before_close = self.inner.queue.wait_before_close;
        let mut check = tokio::time::Instant::now() + wait_before_close;
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            match *cmd.borrow_and_update() {
                LinkCmd::Run => {}
                LinkCmd::Close(_) => {
                    grace.get_or_insert_with(|| tokio::time::Instant::now() + CLOSE_GRACE);
                }
                LinkCmd::Cut => return Err(Stop::Cut),
            }
            let grace_at = grace.unwrap_or(check);
            tokio::select! {
                biased;
                r = &mut write => return r.map_err(Stop::Failed),
                _ = cmd.changed() => {}
                _ = tokio::time::sleep_until(grace_at), if grace.is_some() => return Err(Stop::Cut),
                _ = tokio::time::sleep_until(check), if watchdog => {
                    if self.inner.pipeline.is_blocked() && self.writer_stuck() {
                        self.close_slow_consumer();
                    }
                    check = tokio::time::Instant::now() + WATCH_PERIOD.min(wait_before_close);
                }
            }
        }
    }

    /// Lets a batch fill up before it is written, so that one write carries many
    /// messages (Zenoh's adaptive batching), and says what to take.
    ///
    /// Finished batches (full, express or fragmented) go at once, without the batch under
    /// construction when producers are still at it. The batch under construction goes at
    /// once unless producers are seen adding to it: the writer yields and looks whether the
    /// count of queued messages moves, for twice the gap between the messages queued so
    /// far (within [`GATHER_WATCH_MIN`] and [`GATHER_WATCH_MAX`]). If it moves, the writer
    /// sleeps until a producer finishes a batch (it is told, see `writer_gathering`) or
    /// `batching_time_limit` has passed. Nothing here naps the thread: what decides is
    /// the producers' pace, read from the clock, and the only timer is the runtime's, as a
    /// bound.
    async fn gather(&self, shared: &LinkShared, cmd: &mut watch::Receiver<LinkCmd>) -> Take {
        let inner = &self.inner;
        let pipeline = &inner.pipeline;
        if pipeline.has_ready() {
            return Take::Finished;
        }
        let seen = pipeline.pending();
        if !inner.queue.batching {
            return Take::All;
        }
        if seen == 0 {
            // Nothing counted yet; a push may be under way, its message written but not
            // counted: leave its batch to the next look.
            return Take::Finished;
        }
        let watch = if seen >= 2 {
            (pipeline.pending_age() / (seen - 1) as u32 * 2)
                .clamp(GATHER_WATCH_MIN, GATHER_WATCH_MAX)
        } else {
            GATHER_WATCH_MIN
        };
        let start = std::time::Instant::now();
        loop {
            // Lets a producer on this worker run; costs no timer.
            tokio::task::yield_now().await;
            if pipeline.has_ready() {
                return Take::Finished;
            }
            if pipeline.pending() != seen {
                break;
            }
            if start.elapsed() >= watch {
                return Take::All;
            }
        }
        let deadline = tokio::time::Instant::now() + inner.queue.batching_time_limit;
        inner.writer_gathering.store(true, Ordering::SeqCst);
        let take = loop {
            let finished = inner.tx_ready.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            // The flag is up before this look: a producer that finishes a batch after it
            // sees the flag and notifies. A notification may also be an old one (stored
            // while the writer was waking up): only a finished batch ends the wait.
            if pipeline.has_ready() {
                break Take::Finished;
            }
            if shared.pong.load(Ordering::Acquire) != u64::MAX || pipeline.is_closed() {
                break Take::All;
            }
            tokio::select! {
                biased;
                _ = &mut finished => {}
                _ = shared.wake.notified() => {
                    // A pong (or another errand) waits: leave the signal to the writer's loop.
                    shared.wake.notify_one();
                    break Take::All;
                }
                _ = cmd.changed() => break Take::All,
                _ = tokio::time::sleep_until(deadline) => break Take::All,
            }
        };
        inner.writer_gathering.store(false, Ordering::SeqCst);
        take
    }
}
