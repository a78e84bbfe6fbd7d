//! The TX pipeline: per-priority stages that pack network messages into batches.
//!
//! Producers call [`Pipeline::push`] from any thread: the message is encoded straight
//! into the batch under construction for its priority (a FRAME header is added when the
//! channel changes), or cut into FRAGMENTs when it cannot fit in one batch. The writer
//! task calls [`Pipeline::pull`], which hands over every finished batch and the batch
//! under construction, highest priority first. Two lock-free signals tell the writer
//! when to pull: [`Pipeline::pending`] (messages queued since the last pull, so it can
//! see producers still at work and let the batch fill) and [`Pipeline::has_ready`] (a
//! batch was closed by an express message, by filling up or by fragmentation: write it
//! now). A lone message leaves at once.
//!
//! Congestion control. Each stage holds at most its *bound* of finished batches (Zenoh's
//! `transport/link/tx/queue/size/*`). A message that finds its stage full is not refused
//! at once: it is queued beyond the bound and the push says [`Pushed::Over`], so that its
//! producer waits (asynchronously, see `unicast`) for the writer's next pull before it
//! produces more. Every producer adds at most what it pushes between two waits, so the
//! memory beyond the bound is bounded by the number of producers. Producers that will not
//! wait get a small fixed slack instead (one bound more), past which `Block` messages are
//! refused ([`Pushed::Full`]) and `Drop` ones dropped. Once a stage was marked congested
//! ([`Pipeline::set_congested`], after a `Drop` producer waited `wait_before_drop` in vain),
//! later `Drop` messages are dropped at once, without a lock, until the writer pulls:
//! only one wait per congestion episode, as in Zenoh.
//!
//! Batch buffers are allocated when a stage first needs one and return to a small pool
//! after they are written; a closed pipeline frees them ([`Pipeline::clear`]). Every
//! batch buffer starts with two bytes reserved for the length prefix of streamed links;
//! [`Batch::wire`] gives the bytes to write. A fragment's batch holds its header; the
//! slice of the payload it carries stays where the message had it (a [`Bytes`] tail,
//! written with the header in one vectored write), so a large message is not copied
//! before the socket copies it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;

use crate::seq::TxChannel;
use crate::sync::lock;
use crate::wire::network::NetworkMessage;
use crate::wire::transport::{Fragment, FrameHeader, TransportMessage};
use crate::wire::{CongestionControl, Priority, Reliability};

/// How a message is to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SendOptions {
    /// The priority channel.
    pub priority: Priority,
    /// Reliable or best-effort channel.
    pub reliability: Reliability,
    /// What to do when the queue is full.
    pub congestion: CongestionControl,
    /// Flush the batch right after this message.
    pub express: bool,
}

/// What became of a pushed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued for sending, within the stage's bound.
    Queued,
    /// Queued, but beyond the stage's bound: its producer should wait for the writer's
    /// next pull before it pushes more.
    Over {
        /// The message was cut into fragments (Zenoh lets such a `Drop` message wait
        /// longer: `max_wait_before_drop_fragments`).
        fragmented: bool,
        /// [`Pipeline::pulls`] as the message was queued (read under the stage's lock):
        /// the pull that takes it makes the count move past this.
        mark: u64,
    },
    /// Dropped (congestion control `Drop`): the stage is congested, or full past the
    /// slack of a producer that does not wait.
    Dropped,
    /// Refused (congestion control `Block`): the stage is full past the slack of a
    /// producer that does not wait.
    Full,
    /// The pipeline is closed.
    Closed,
}

/// A finished batch: two reserved prefix bytes, then the batch content.
///
/// The content may end in a `tail` that is written after the buffer without being copied
/// into it: the slice of a large payload that a fragment carries.
#[derive(Debug)]
pub struct Batch {
    /// Empty (no allocation) until the first message; then the prefix and the content.
    buf: Vec<u8>,
    tail: Bytes,
}

impl Batch {
    fn new(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&[0, 0]);
        Batch {
            buf,
            tail: Bytes::new(),
        }
    }

    /// A batch without a buffer yet.
    const fn unallocated() -> Self {
        Batch {
            buf: Vec::new(),
            tail: Bytes::new(),
        }
    }

    /// A batch holding one transport message (KEEP_ALIVE, CLOSE, OAM).
    pub fn single(msg: &TransportMessage) -> Self {
        let mut b = Batch::new(Vec::with_capacity(16));
        msg.write(&mut b.buf);
        b
    }

    fn len(&self) -> usize {
        self.buf.len().saturating_sub(2) + self.tail.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the 2-byte little-endian length prefix; call before [`Batch::wire`].
    pub fn seal(&mut self) {
        let len = (self.len() as u16).to_le_bytes();
        self.buf[..2].copy_from_slice(&len);
    }

    /// The bytes to write on a link, in two parts to be written one after the other
    /// (the second is often empty): with the length prefix if `streamed` (seal first),
    /// without it for datagram links.
    pub fn wire(&self, streamed: bool) -> [&[u8]; 2] {
        let head = if streamed {
            &self.buf[..]
        } else {
            &self.buf[2..]
        };
        [head, &self.tail]
    }

    /// How many bytes [`Batch::wire`] gives.
    pub fn wire_len(&self, streamed: bool) -> usize {
        self.len() + if streamed { 2 } else { 0 }
    }

    /// The underlying buffer, to hand back to [`Pipeline::recycle`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}

struct Stage {
    current: Batch,
    /// Reliability of the FRAME open at the end of `current`, if any.
    open_frame: Option<Reliability>,
    ready: VecDeque<Batch>,
    /// Finished batches that may wait before congestion control applies.
    bound: usize,
    tx: [TxChannel; 2],
    scratch: Vec<u8>,
}

impl Stage {
    /// No finished batch may join the queue within its bound.
    fn full(&self) -> bool {
        self.ready.len() >= self.bound
    }
}

fn channel(r: Reliability) -> usize {
    match r {
        Reliability::Reliable => 0,
        Reliability::BestEffort => 1,
    }
}

/// How many written batch buffers a pipeline keeps for reuse (a queue's default bound:
/// a busy writer hands back as many as producers fill; it trims them when idle).
const POOL_MAX: usize = 16;

/// Room past a batch's capacity in its buffer: the message that overflows a batch (to be
/// taken back and written in the next) does not make the buffer grow, which would copy
/// the whole batch to a fresh allocation.
const HEADROOM: usize = 4096;

/// The TX pipeline of one transport.
#[derive(Debug)]
pub struct Pipeline {
    stages: Vec<Mutex<Stage>>,
    pool: Mutex<Vec<Vec<u8>>>,
    qos: bool,
    /// Largest batch content, excluding the length prefix.
    capacity: usize,
    closed: AtomicBool,
    /// Messages queued since the last pull (cheap to poll: no stage lock).
    pending: AtomicUsize,
    /// When the first of them was queued: nanoseconds since `epoch` (read once per pull,
    /// not per message).
    first_pending_at: AtomicU64,
    epoch: std::time::Instant,
    /// A finished batch waits (full, express or fragmented): write without delay.
    ready: AtomicBool,
    /// Stages (bit per stage index) whose `Drop` messages are dropped until the next pull.
    congested: AtomicU8,
    /// A `Block` message waits beyond a bound (set by push, cleared by pull).
    blocked: AtomicBool,
    /// How many pulls took something: a producer that went over a bound waits for this
    /// to move.
    pulls: AtomicU64,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("current", &self.current.len())
            .field("ready", &self.ready.len())
            .field("bound", &self.bound)
            .finish()
    }
}

impl Pipeline {
    /// A pipeline with one stage per priority if `qos`, else one stage (Data).
    ///
    /// `batch_size` is the negotiated size including the 2-byte prefix on streamed
    /// links; `initial_sn` and `sn_mask` come from the handshake; `bounds[p]` finished
    /// batches may wait in priority `p`'s stage before congestion control applies (a
    /// missing or zero entry counts as 1; without QoS the single stage takes Data's).
    pub fn new(
        qos: bool,
        batch_size: u16,
        streamed: bool,
        initial_sn: u32,
        sn_mask: u32,
        bounds: &[usize],
    ) -> Self {
        let n = if qos { Priority::ALL.len() } else { 1 };
        let capacity = batch_size as usize - if streamed { 2 } else { 0 };
        let bound_of = |i: usize| {
            let p = if qos { i } else { Priority::Data as usize };
            bounds.get(p).copied().unwrap_or(1).max(1)
        };
        let stages = (0..n)
            .map(|i| {
                Mutex::new(Stage {
                    current: Batch::unallocated(),
                    open_frame: None,
                    ready: VecDeque::new(),
                    bound: bound_of(i),
                    tx: [
                        TxChannel::new(initial_sn, sn_mask),
                        TxChannel::new(initial_sn, sn_mask),
                    ],
                    scratch: Vec::new(),
                })
            })
            .collect();
        Pipeline {
            stages,
            pool: Mutex::new(Vec::new()),
            qos,
            capacity,
            closed: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            congested: AtomicU8::new(0),
            blocked: AtomicBool::new(false),
            pulls: AtomicU64::new(0),
            first_pending_at: AtomicU64::new(0),
            epoch: std::time::Instant::now(),
        }
    }

    fn stage_index(&self, p: Priority) -> usize {
        if self.qos { p as usize } else { 0 }
    }

    fn priority_of(&self, stage: usize) -> Priority {
        if self.qos {
            Priority::from_bits(stage as u8)
        } else {
            Priority::Data
        }
    }

    fn new_batch(&self) -> Batch {
        let buf = lock(&self.pool)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.capacity + 2 + HEADROOM));
        Batch::new(buf)
    }

    /// Returns a written batch's buffer for reuse.
    pub fn recycle(&self, batch: Batch) {
        let buf = batch.into_buffer();
        if buf.capacity() < self.capacity + 2 || self.closed.load(Ordering::Acquire) {
            return;
        }
        let mut pool = lock(&self.pool);
        if pool.len() < POOL_MAX {
            pool.push(buf);
        }
    }

    /// Frees pooled buffers beyond `keep` (the writer calls it when it goes idle).
    pub fn trim(&self, keep: usize) {
        lock(&self.pool).truncate(keep);
    }

    /// Stops accepting messages; later pushes return [`Pushed::Closed`].
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// True once [`Pipeline::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the pipeline and frees every batch it holds (what was queued is lost).
    pub fn clear(&self) {
        self.close();
        for s in &self.stages {
            let mut s = lock(s);
            s.ready = VecDeque::new();
            s.current = Batch::unallocated();
            s.open_frame = None;
            s.scratch = Vec::new();
        }
        *lock(&self.pool) = Vec::new();
    }

    /// Encodes `msg` into its priority's stage.
    ///
    /// When the stage is full, `waits` is asked whether the producer will wait for the
    /// writer (then the message goes beyond the bound: [`Pushed::Over`]) or not (then it
    /// may use a slack of one bound more, past which it is refused or dropped).
    #[inline]
    pub fn push(
        &self,
        msg: &NetworkMessage,
        opts: SendOptions,
        waits: impl FnOnce() -> bool,
    ) -> Pushed {
        if self.closed.load(Ordering::Acquire) {
            return Pushed::Closed;
        }
        let idx = self.stage_index(opts.priority);
        let droppable = opts.congestion == CongestionControl::Drop;
        if droppable && self.congested.load(Ordering::Relaxed) & (1 << idx) != 0 {
            return Pushed::Dropped;
        }
        let priority = self.priority_of(idx);
        let mut guard = lock(&self.stages[idx]);
        let stage = &mut *guard;
        let was_full = stage.full();
        if was_full {
            if droppable && self.congested.load(Ordering::Relaxed) & (1 << idx) != 0 {
                return Pushed::Dropped;
            }
            if stage.ready.len() >= 2 * stage.bound && !waits() {
                return if droppable {
                    Pushed::Dropped
                } else {
                    Pushed::Full
                };
            }
        }
        if stage.current.buf.len() < 2 {
            stage.current = self.new_batch();
        }
        let ch = channel(opts.reliability);
        // At least this many bytes: a message that cannot fit is not written only to be
        // taken back (a copy of its payload, and a buffer grown for nothing).
        let least = msg.min_wire_len();
        // Try the current batch first, then a fresh one.
        let mut fits = false;
        for attempt in 0..2 {
            if stage.current.len() + least <= self.capacity {
                let mark = stage.current.buf.len();
                let needs_header = stage.open_frame != Some(opts.reliability);
                if needs_header {
                    let header = FrameHeader {
                        reliability: opts.reliability,
                        sn: stage.tx[ch].peek(),
                        priority,
                    };
                    header.write(&mut stage.current.buf);
                }
                msg.write(&mut stage.current.buf);
                if stage.current.len() <= self.capacity {
                    if needs_header {
                        stage.tx[ch].next();
                        stage.open_frame = Some(opts.reliability);
                    }
                    if opts.express {
                        self.finish(stage);
                    }
                    fits = true;
                    break;
                }
                stage.current.buf.truncate(mark);
            }
            if attempt == 0 && !stage.current.is_empty() {
                self.finish(stage);
                stage.current = self.new_batch();
            } else {
                break;
            }
        }
        if !fits {
            // Too large for one batch: serialize once and cut into fragments.
            self.fragment(stage, msg, opts.reliability, priority);
        }
        if self.pending.fetch_add(1, Ordering::SeqCst) == 0 {
            self.first_pending_at.store(self.nanos(), Ordering::Relaxed);
        }
        if was_full || stage.ready.len() > stage.bound {
            if !droppable {
                self.blocked.store(true, Ordering::Release);
            }
            Pushed::Over {
                fragmented: !fits,
                mark: self.pulls.load(Ordering::Acquire),
            }
        } else {
            Pushed::Queued
        }
    }

    fn finish(&self, stage: &mut Stage) {
        if stage.current.is_empty() {
            return;
        }
        let full = std::mem::replace(&mut stage.current, Batch::unallocated());
        stage.ready.push_back(full);
        stage.open_frame = None;
        self.ready.store(true, Ordering::SeqCst);
    }

    fn fragment(
        &self,
        stage: &mut Stage,
        msg: &NetworkMessage,
        reliability: Reliability,
        priority: Priority,
    ) {
        self.finish(stage);
        // The encoded message is `head` followed by the payload bytes. Head bytes are
        // copied into the fragments; the payload is not: each fragment's batch refers to
        // its slice, written from where the message holds it.
        let mut head = std::mem::take(&mut stage.scratch);
        head.clear();
        let tail = msg.write_head(&mut head).clone();
        let total = head.len() + tail.len();
        let ch = channel(reliability);
        let mut offset = 0;
        let mut first = true;
        while offset < total {
            let mut frag = Fragment {
                reliability,
                more: true,
                sn: stage.tx[ch].next(),
                priority,
                first,
                drop: false,
                payload: Bytes::new(),
            };
            let mut batch = self.new_batch();
            self.ready.store(true, Ordering::SeqCst);
            frag.write_header(&mut batch.buf);
            let room = self.capacity.saturating_sub(batch.len()).max(1);
            let end = (offset + room).min(total);
            if end == total {
                // Rewrite the header with M cleared for the last slice.
                frag.more = false;
                batch.buf.truncate(2);
                frag.write_header(&mut batch.buf);
            }
            if offset < head.len() {
                batch
                    .buf
                    .extend_from_slice(&head[offset..end.min(head.len())]);
            }
            if end > head.len() {
                let from = offset.max(head.len()) - head.len();
                batch.tail = tail.slice(from..end - head.len());
            }
            stage.ready.push_back(batch);
            offset = end;
            first = false;
        }
        stage.scratch = head;
    }

    /// Moves every batch waiting to be written into `out`, highest priority first,
    /// including the batches under construction. Returns the number of batches added.
    ///
    /// Every stage is locked before any is drained, so one pull sees a single instant:
    /// a message queued after another on a lower priority never leaves before it.
    /// A pull that takes something frees every stage: it ends congestion episodes and
    /// releases the producers waiting for room.
    pub fn pull(&self, out: &mut Vec<Batch>) -> usize {
        let mut stages = self.lock_stages();
        self.take(&mut stages, out, Priority::ALL.len())
    }

    /// Moves the finished batches into `out`, highest priority first, and leaves the
    /// batch under construction of the lowest priority that had one finished (and of every
    /// priority below it) to fill up. Returns the number of batches added.
    ///
    /// For a writer that waited for a batch to fill while producers kept adding: it takes
    /// what is full and lets them go on with the rest. As [`Pipeline::pull`], it keeps the
    /// order across priorities: the batches under construction of the priorities above
    /// the lowest one taken go too, since their messages may precede the finished ones
    /// (a key-expression declaration before the publications that use it).
    pub fn pull_finished(&self, out: &mut Vec<Batch>) -> usize {
        let mut stages = self.lock_stages();
        // Stages are indexed highest priority first.
        match stages
            .iter()
            .rposition(|s| s.as_ref().is_some_and(|s| !s.ready.is_empty()))
        {
            Some(lowest) => self.take(&mut stages, out, lowest),
            None => 0,
        }
    }

    /// Every stage, locked (at most one per priority: the guards fit on the stack).
    fn lock_stages(&self) -> [Option<MutexGuard<'_, Stage>>; Priority::ALL.len()] {
        std::array::from_fn(|i| self.stages.get(i).map(lock))
    }

    /// Moves every finished batch into `out`, and the batches under construction of the
    /// stages before index `keep_from`; what stays counts as pending. A take that moves
    /// something frees every stage.
    fn take(
        &self,
        stages: &mut [Option<MutexGuard<'_, Stage>>],
        out: &mut Vec<Batch>,
        keep_from: usize,
    ) -> usize {
        let before = out.len();
        self.ready.store(false, Ordering::SeqCst);
        let mut filling = false;
        for (i, stage) in stages.iter_mut().enumerate() {
            let Some(stage) = stage else { continue };
            out.extend(stage.ready.drain(..));
            if i < keep_from && !stage.current.is_empty() {
                let cur = std::mem::replace(&mut stage.current, Batch::unallocated());
                stage.open_frame = None;
                out.push(cur);
            }
            filling |= !stage.current.is_empty();
        }
        // No push can run meanwhile: every stage is locked.
        if filling {
            self.first_pending_at.store(self.nanos(), Ordering::Relaxed);
        }
        self.pending.store(usize::from(filling), Ordering::SeqCst);
        let n = out.len() - before;
        if n > 0 {
            self.congested.store(0, Ordering::Release);
            self.blocked.store(false, Ordering::Release);
            self.pulls.fetch_add(1, Ordering::AcqRel);
        }
        n
    }

    fn nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// How long ago the first message still pending was queued (zero when none is);
    /// with [`Pipeline::pending`], the pace at which producers add. No lock taken.
    pub fn pending_age(&self) -> Duration {
        if self.pending() == 0 {
            return Duration::ZERO;
        }
        let since = self.first_pending_at.load(Ordering::Relaxed);
        Duration::from_nanos(self.nanos().saturating_sub(since))
    }

    /// True when a message was queued since the last pull; no lock taken.
    pub fn has_pending(&self) -> bool {
        self.pending() != 0
    }

    /// How many messages were queued since the last pull; no lock taken.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }

    /// True when a finished batch waits (it filled up, or an express message or a
    /// fragmented one closed it): worth writing at once. No lock taken.
    pub fn has_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// True when no batch waits to be written.
    pub fn is_empty(&self) -> bool {
        self.stages.iter().all(|s| {
            let s = lock(s);
            s.ready.is_empty() && s.current.is_empty()
        })
    }

    /// Bytes of encoded messages waiting to be written: the finished batches and the
    /// batch being filled, across every stage. Takes each stage's lock (for monitoring,
    /// not for the hot path).
    pub fn queued_bytes(&self) -> usize {
        self.stages
            .iter()
            .map(|s| {
                let s = lock(s);
                s.ready.iter().map(Batch::len).sum::<usize>() + s.current.len()
            })
            .sum()
    }

    /// How many pulls have taken something so far.
    pub fn pulls(&self) -> u64 {
        self.pulls.load(Ordering::Acquire)
    }

    /// True while a `Block` message waits beyond a stage's bound (until the next pull).
    pub fn is_blocked(&self) -> bool {
        self.blocked.load(Ordering::Acquire)
    }

    /// From now until the next pull, `Drop` messages of `priority` are dropped at once.
    pub fn set_congested(&self, priority: Priority) {
        let idx = self.stage_index(priority);
        // Unless a pull freed the stage meanwhile.
        let s = lock(&self.stages[idx]);
        if s.full() {
            self.congested.fetch_or(1 << idx, Ordering::AcqRel);
        }
    }

    /// True when `priority`'s `Drop` messages are dropped at once.
    pub fn is_congested(&self, priority: Priority) -> bool {
        self.congested.load(Ordering::Acquire) & (1 << self.stage_index(priority)) != 0
    }
}

#[cfg(test)]
pub(crate) mod tests;
