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
//! Every batch buffer starts with two bytes reserved for the length prefix of streamed
//! links; [`Batch::as_prefixed`] and [`Batch::payload`] give the bytes to write.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::seq::TxChannel;
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
    /// Queued for sending.
    Queued,
    /// Dropped: the queue was full and the message's congestion control is `Drop`.
    Dropped,
    /// The queue was full; retry after the writer frees room (congestion control `Block`).
    Full,
    /// The pipeline is closed.
    Closed,
}

/// A finished batch: two reserved prefix bytes, then the batch content.
#[derive(Debug)]
pub struct Batch {
    buf: Vec<u8>,
}

impl Batch {
    fn new(mut buf: Vec<u8>) -> Self {
        buf.clear();
        buf.extend_from_slice(&[0, 0]);
        Batch { buf }
    }

    /// A batch holding one transport message (KEEP_ALIVE, CLOSE, OAM).
    pub fn single(msg: &TransportMessage) -> Self {
        let mut b = Batch::new(Vec::with_capacity(16));
        msg.write(&mut b.buf);
        b
    }

    fn len(&self) -> usize {
        self.buf.len() - 2
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the 2-byte little-endian length prefix; call before [`Batch::as_prefixed`].
    pub fn seal(&mut self) {
        let len = (self.len() as u16).to_le_bytes();
        self.buf[..2].copy_from_slice(&len);
    }

    /// The batch with its length prefix (for streamed links), as sealed.
    pub fn as_prefixed(&self) -> &[u8] {
        &self.buf
    }

    /// The batch without a prefix (for datagram links).
    pub fn payload(&self) -> &[u8] {
        &self.buf[2..]
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
    tx: [TxChannel; 2],
    scratch: Vec<u8>,
}

fn channel(r: Reliability) -> usize {
    match r {
        Reliability::Reliable => 0,
        Reliability::BestEffort => 1,
    }
}

/// The TX pipeline of one transport.
#[derive(Debug)]
pub struct Pipeline {
    stages: Vec<Mutex<Stage>>,
    pool: Mutex<Vec<Vec<u8>>>,
    qos: bool,
    /// Largest batch content, excluding the length prefix.
    capacity: usize,
    max_ready: usize,
    closed: std::sync::atomic::AtomicBool,
    /// Messages queued since the last pull (cheap to poll: no stage lock).
    pending: std::sync::atomic::AtomicUsize,
    /// A finished batch waits (full, express or fragmented): write without delay.
    ready: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("current", &self.current.len())
            .field("ready", &self.ready.len())
            .finish()
    }
}

impl Pipeline {
    /// A pipeline with one stage per priority if `qos`, else one stage (Data).
    ///
    /// `batch_size` is the negotiated size including the 2-byte prefix on streamed
    /// links; `initial_sn` and `sn_mask` come from the handshake; at most `max_ready`
    /// finished batches wait per priority before congestion control applies.
    pub fn new(
        qos: bool,
        batch_size: u16,
        streamed: bool,
        initial_sn: u32,
        sn_mask: u32,
        max_ready: usize,
    ) -> Self {
        let n = if qos { Priority::ALL.len() } else { 1 };
        let capacity = batch_size as usize - if streamed { 2 } else { 0 };
        let stages = (0..n)
            .map(|_| {
                Mutex::new(Stage {
                    current: Batch::new(Vec::with_capacity(capacity + 2)),
                    open_frame: None,
                    ready: VecDeque::new(),
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
            max_ready: max_ready.max(1),
            closed: std::sync::atomic::AtomicBool::new(false),
            pending: std::sync::atomic::AtomicUsize::new(0),
            ready: std::sync::atomic::AtomicBool::new(false),
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
            .unwrap_or_else(|| Vec::with_capacity(self.capacity + 2));
        Batch::new(buf)
    }

    /// Returns a written batch's buffer for reuse.
    pub fn recycle(&self, batch: Batch) {
        let mut pool = lock(&self.pool);
        if pool.len() < 64 {
            pool.push(batch.into_buffer());
        }
    }

    /// Stops accepting messages; later pushes return [`Pushed::Closed`].
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Encodes `msg` into its priority's stage.
    pub fn push(&self, msg: &NetworkMessage, opts: SendOptions) -> Pushed {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Pushed::Closed;
        }
        let idx = self.stage_index(opts.priority);
        let priority = self.priority_of(idx);
        let mut guard = lock(&self.stages[idx]);
        let stage = &mut *guard;
        if stage.ready.len() >= self.max_ready {
            return match opts.congestion {
                CongestionControl::Drop => Pushed::Dropped,
                CongestionControl::Block => Pushed::Full,
            };
        }
        let ch = channel(opts.reliability);
        // Try the current batch first, then a fresh one.
        for attempt in 0..2 {
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
                self.pending
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                return Pushed::Queued;
            }
            stage.current.buf.truncate(mark);
            if attempt == 0 && !stage.current.is_empty() {
                self.finish(stage);
            } else {
                break;
            }
        }
        // Too large for one batch: serialize once and cut into fragments.
        self.fragment(stage, msg, opts.reliability, priority);
        self.pending
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Pushed::Queued
    }

    fn finish(&self, stage: &mut Stage) {
        if stage.current.is_empty() {
            return;
        }
        let full = std::mem::replace(&mut stage.current, self.new_batch());
        stage.ready.push_back(full);
        stage.open_frame = None;
        self.ready.store(true, std::sync::atomic::Ordering::Release);
    }

    fn fragment(
        &self,
        stage: &mut Stage,
        msg: &NetworkMessage,
        reliability: Reliability,
        priority: Priority,
    ) {
        self.finish(stage);
        // The encoded message is `head` followed by the payload bytes, which are copied
        // straight from the message into the fragments.
        let mut head = std::mem::take(&mut stage.scratch);
        head.clear();
        let tail = msg.write_head(&mut head);
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
                payload: bytes::Bytes::new(),
            };
            let mut batch = self.new_batch();
            self.ready.store(true, std::sync::atomic::Ordering::Release);
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
                batch.buf.extend_from_slice(&tail[from..end - head.len()]);
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
    pub fn pull(&self, out: &mut Vec<Batch>) -> usize {
        let before = out.len();
        // At most one stage per priority: the guards fit on the stack.
        let mut stages: [Option<std::sync::MutexGuard<'_, Stage>>; Priority::ALL.len()] =
            std::array::from_fn(|i| self.stages.get(i).map(lock));
        self.pending.store(0, std::sync::atomic::Ordering::Release);
        self.ready
            .store(false, std::sync::atomic::Ordering::Release);
        for stage in stages.iter_mut().flatten() {
            out.extend(stage.ready.drain(..));
            if !stage.current.is_empty() {
                let cur = std::mem::replace(&mut stage.current, self.new_batch());
                stage.open_frame = None;
                out.push(cur);
            }
        }
        out.len() - before
    }

    /// True when a message was queued since the last pull; no lock taken.
    pub fn has_pending(&self) -> bool {
        self.pending() != 0
    }

    /// How many messages were queued since the last pull; no lock taken.
    pub fn pending(&self) -> usize {
        self.pending.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// True when a finished batch waits (it filled up, or an express message or a
    /// fragmented one closed it): worth writing at once. No lock taken.
    pub fn has_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// True when no batch waits to be written.
    pub fn is_empty(&self) -> bool {
        self.stages.iter().all(|s| {
            let s = lock(s);
            s.ready.is_empty() && s.current.is_empty()
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a stage lock leaves a consistent (if partial) batch.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::defrag::Defragmenter;
    use crate::seq::{RxChannel, sn_mask};
    use crate::wire::network::{NetQos, Push, PushBody, WireExpr};
    use crate::wire::transport::{BatchItem, BatchReader};
    use crate::wire::zenoh::Put;
    use crate::wire::{Encoding, Reader};

    const MASK: u32 = 0x0fff_ffff;

    fn put(key: &str, len: usize) -> NetworkMessage {
        NetworkMessage::Push(Push {
            wire_expr: WireExpr::key(key),
            qos: NetQos::default(),
            timestamp: None,
            node_id: 0,
            body: PushBody::Put(Put {
                timestamp: None,
                encoding: Encoding::default(),
                source_info: None,
                attachment: None,
                payload: Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
                unknown_exts: Default::default(),
            }),
            unknown_exts: Default::default(),
        })
    }

    /// (key, payload length) of each message, so failures print something readable.
    fn summary(msgs: &[NetworkMessage]) -> Vec<(String, usize)> {
        msgs.iter()
            .map(|m| match m {
                NetworkMessage::Push(p) => match &p.body {
                    PushBody::Put(put) => (p.wire_expr.suffix.clone(), put.payload.len()),
                    other => (format!("{other:?}"), 0),
                },
                other => (format!("{other:?}"), 0),
            })
            .collect()
    }

    fn opts(priority: Priority, reliability: Reliability) -> SendOptions {
        SendOptions {
            priority,
            reliability,
            ..SendOptions::default()
        }
    }

    /// Decodes pulled batches back into (frame/fragment headers, messages) like a receiver,
    /// checking each batch's length against the capacity and SN continuity per channel.
    fn receive(
        batches: &mut [Batch],
        capacity: usize,
        initial: u32,
    ) -> Vec<(Priority, NetworkMessage)> {
        let mut rx: Vec<[RxChannel; 2]> = (0..8)
            .map(|_| [RxChannel::new(initial, MASK), RxChannel::new(initial, MASK)])
            .collect();
        let mut defrag: Vec<Defragmenter> = (0..16)
            .map(|_| Defragmenter::new(1 << 30, MASK, 1))
            .collect();
        let mut out = Vec::new();
        for b in batches.iter_mut() {
            b.seal();
            let prefixed = b.as_prefixed();
            let len = u16::from_le_bytes([prefixed[0], prefixed[1]]) as usize;
            assert_eq!(len + 2, prefixed.len());
            assert!(len + 2 <= capacity + 2, "batch of {len} exceeds {capacity}");
            let mut current = None;
            for item in BatchReader::read_all(Bytes::copy_from_slice(b.payload())).expect("decodes")
            {
                match item {
                    BatchItem::Transport(TransportMessage::Frame(h)) => {
                        let ch = channel(h.reliability);
                        assert!(
                            rx[h.priority as usize][ch].accept(h.sn),
                            "sn {} in order",
                            h.sn
                        );
                        current = Some(h.priority);
                    }
                    BatchItem::Network(m) => out.push((current.expect("inside a frame"), m)),
                    BatchItem::Transport(TransportMessage::Fragment(f)) => {
                        let ch = channel(f.reliability);
                        let ok = rx[f.priority as usize][ch].accept(f.sn);
                        assert!(ok, "fragment sn {} in order", f.sn);
                        let d = &mut defrag[f.priority as usize * 2 + ch];
                        if let Some(whole) = d.handle_fragment(&f, ok).expect("reassembles") {
                            let m = NetworkMessage::read(&mut Reader::new(whole)).expect("decodes");
                            out.push((f.priority, m));
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        out
    }

    #[test]
    fn small_messages_share_one_batch_and_one_frame() {
        let p = Pipeline::new(true, 1024, true, 7, MASK, 16);
        for i in 0..10 {
            assert_eq!(
                p.push(&put(&format!("k/{i}"), 8), SendOptions::default()),
                Pushed::Queued
            );
        }
        let mut batches = Vec::new();
        assert_eq!(p.pull(&mut batches), 1);
        let got = receive(&mut batches, 1022, 7);
        assert_eq!(got.len(), 10);
        assert_eq!(got[3].1, put("k/3", 8));
        assert!(p.is_empty());
    }

    #[test]
    fn batches_fill_up_to_the_batch_size() {
        let p = Pipeline::new(false, 256, true, 0, MASK, 64);
        let msgs: Vec<_> = (0..40).map(|i| put(&format!("key/{i}"), 20)).collect();
        for m in &msgs {
            p.push(m, SendOptions::default());
        }
        let mut batches = Vec::new();
        let n = p.pull(&mut batches);
        assert!(
            n > 1,
            "40 messages of ~30 bytes need several 256-byte batches"
        );
        let got: Vec<_> = receive(&mut batches, 254, 0)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(got, msgs, "all arrive, in order");
    }

    #[test]
    fn reliability_change_opens_a_new_frame_with_its_own_sn() {
        let p = Pipeline::new(true, 1024, true, 100, MASK, 16);
        p.push(&put("a", 1), opts(Priority::Data, Reliability::Reliable));
        p.push(&put("b", 1), opts(Priority::Data, Reliability::BestEffort));
        p.push(&put("c", 1), opts(Priority::Data, Reliability::Reliable));
        let mut batches = Vec::new();
        p.pull(&mut batches);
        let items =
            BatchReader::read_all(Bytes::copy_from_slice(batches[0].payload())).expect("decodes");
        let sns: Vec<(Reliability, u32)> = items
            .iter()
            .filter_map(|i| match i {
                BatchItem::Transport(TransportMessage::Frame(h)) => Some((h.reliability, h.sn)),
                _ => None,
            })
            .collect();
        assert_eq!(
            sns,
            [
                (Reliability::Reliable, 100),
                (Reliability::BestEffort, 100),
                (Reliability::Reliable, 101)
            ]
        );
    }

    #[test]
    fn large_messages_are_fragmented_and_reassemble() {
        // The queue bound counts batches: room for every fragment of the big message.
        let p = Pipeline::new(true, 1000, true, 5, MASK, 1000);
        p.push(&put("small", 3), SendOptions::default());
        let big = put("big", 100_009);
        p.push(&big, SendOptions::default());
        p.push(&put("after", 3), SendOptions::default());
        let mut batches = Vec::new();
        let n = p.pull(&mut batches);
        assert!(n > 100, "100 kB in 1000-byte batches: {n} batches");
        let got: Vec<_> = receive(&mut batches, 998, 5)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        let want = [put("small", 3), big, put("after", 3)];
        assert_eq!(summary(&got), summary(&want));
        assert!(got == want, "payload bytes differ");
    }

    #[test]
    fn fragments_cut_across_the_head_and_the_payload() {
        // Tiny batches: the key alone spans several fragments, then the payload does.
        let p = Pipeline::new(false, 64, true, 0, MASK, 1000);
        let long_key = format!("k/{}", "x".repeat(150));
        let big = put(&long_key, 300);
        let del = NetworkMessage::Push(Push {
            wire_expr: WireExpr::key(&long_key),
            qos: NetQos::default(),
            timestamp: None,
            node_id: 0,
            body: PushBody::Del(Default::default()),
            unknown_exts: Default::default(),
        });
        p.push(&big, SendOptions::default());
        p.push(&del, SendOptions::default());
        let mut batches = Vec::new();
        assert!(p.pull(&mut batches) > 8);
        let got: Vec<_> = receive(&mut batches, 62, 0)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert!(got == [big, del], "{:?}", summary(&got));
    }

    #[test]
    fn priorities_are_pulled_highest_first_and_express_flushes() {
        let p = Pipeline::new(true, 1024, true, 0, MASK, 16);
        p.push(
            &put("low", 1),
            opts(Priority::Background, Reliability::Reliable),
        );
        let express = SendOptions {
            express: true,
            ..opts(Priority::RealTime, Reliability::Reliable)
        };
        p.push(&put("rt1", 1), express);
        p.push(&put("rt2", 1), express);
        let mut batches = Vec::new();
        assert_eq!(
            p.pull(&mut batches),
            3,
            "two express batches and one background batch"
        );
        let got = receive(&mut batches, 1022, 0);
        let order: Vec<Priority> = got.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            order,
            [Priority::RealTime, Priority::RealTime, Priority::Background]
        );
    }

    #[test]
    fn pending_counts_messages_and_ready_flags_what_must_go_now() {
        let p = Pipeline::new(true, 256, true, 0, MASK, 64);
        assert_eq!((p.pending(), p.has_ready()), (0, false));
        p.push(&put("a", 1), SendOptions::default());
        p.push(&put("b", 1), SendOptions::default());
        assert_eq!(p.pending(), 2);
        assert!(!p.has_ready(), "a batch still filling up is not urgent");
        let mut batches = Vec::new();
        p.pull(&mut batches);
        assert_eq!(
            (p.pending(), p.has_ready()),
            (0, false),
            "a pull resets both"
        );

        // An express message closes its batch.
        let express = SendOptions {
            express: true,
            ..SendOptions::default()
        };
        p.push(&put("x", 1), express);
        assert!(p.has_ready());
        p.pull(&mut batches);

        // So does filling a batch up.
        for i in 0..20 {
            p.push(&put(&format!("k{i}"), 40), SendOptions::default());
        }
        assert!(p.has_ready(), "20 messages of ~45 bytes overflow 254 bytes");
        p.pull(&mut batches);

        // And a message cut into fragments.
        assert!(!p.has_ready());
        p.push(&put("big", 1000), SendOptions::default());
        assert!(p.has_ready());
    }

    #[test]
    fn without_qos_everything_goes_on_data() {
        let p = Pipeline::new(false, 1024, true, 0, MASK, 16);
        p.push(&put("x", 1), opts(Priority::Control, Reliability::Reliable));
        let mut batches = Vec::new();
        p.pull(&mut batches);
        assert_eq!(receive(&mut batches, 1022, 0)[0].0, Priority::Data);
    }

    #[test]
    fn full_queue_drops_or_asks_to_block() {
        let p = Pipeline::new(false, 64, true, 0, MASK, 2);
        let mut outcomes = Vec::new();
        for i in 0..20 {
            outcomes.push(p.push(&put(&format!("k{i}"), 40), SendOptions::default()));
        }
        assert!(outcomes.contains(&Pushed::Dropped), "{outcomes:?}");
        let block = SendOptions {
            congestion: CongestionControl::Block,
            ..SendOptions::default()
        };
        assert_eq!(p.push(&put("b", 40), block), Pushed::Full);
        let mut batches = Vec::new();
        p.pull(&mut batches);
        assert_eq!(
            p.push(&put("b", 40), block),
            Pushed::Queued,
            "room after the writer pulled"
        );
        p.close();
        assert_eq!(p.push(&put("c", 1), block), Pushed::Closed);
    }

    #[test]
    fn sn_wraps_within_the_mask() {
        let mask = sn_mask(0); // 8-bit resolution
        let p = Pipeline::new(false, 1024, true, mask - 1, mask, 16);
        let express = SendOptions {
            express: true,
            ..SendOptions::default()
        };
        for _ in 0..4 {
            p.push(&put("w", 1), express);
        }
        let mut batches = Vec::new();
        p.pull(&mut batches);
        let sns: Vec<u32> = batches
            .iter()
            .map(|b| {
                match &BatchReader::read_all(Bytes::copy_from_slice(b.payload())).expect("decodes")
                    [0]
                {
                    BatchItem::Transport(TransportMessage::Frame(h)) => h.sn,
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(sns, [mask - 1, mask, 0, 1]);
    }
}
