//! Reassembly of FRAGMENTs into whole serialized network messages.
//!
//! A network message too large for one batch is serialized once, cut into slices and
//! sent as FRAGMENTs that take consecutive SNs of one (priority, reliability) channel;
//! the last one has `more == false`. A [`Defragmenter`] per channel glues the slices
//! back together; a transport keeps them in one [`DefragSet`], which holds the budget
//! and the timeout shared by all its channels.
//!
//! Error handling follows Zenoh 1.10.2 (`common/defragmentation.rs` and
//! `unicast/universal/rx.rs`): a defragmentation problem never closes the transport,
//! on reliable and best-effort channels alike. A SN gap inside a message or an
//! oversized message discards the partial message and is reported as a
//! [`DefragError`] that the caller logs and then carries on. When patch ≥ 1 was
//! agreed, the First marker restarts reassembly, a non-first fragment with no
//! message in progress is dropped, and the Drop marker discards the partial message.
//! Without the markers (patch 0) any fragment may start a message, so a
//! continuation seen after a gap can start a bogus message whose decoding then
//! fails; Zenoh drops such undecodable messages silently, and callers should too.
//!
//! # Limits against hostile peers
//!
//! - **One budget per transport.** `transport/link/rx/max_message_size` (Zenoh's key,
//!   1 GiB by default) caps one reassembled message, as in Zenoh, and also the bytes
//!   held by all the incomplete series of a transport together (Zenoh counts it per
//!   channel, 16 of them with QoS). A fragment that would go beyond the budget discards
//!   its own series ([`DefragError::OverBudget`]); the other series are kept.
//! - **The bytes counted are the bytes held.** Each fragment of a series is copied
//!   into the series' own buffer (grown by doubling, bounded by the budget; a large
//!   first fragment gets room for a second as large, so that a message just over one
//!   batch is copied once and never regrown, and room for the channel's last message
//!   and an eighth more, so that a stream of equal large messages is never regrown),
//!   and the budget counts that buffer's capacity. No slice of a receive buffer is kept, so
//!   1-byte fragments carried in large batches cannot pin those batches. The copy is
//!   the one the message needed anyway to be made contiguous; a message that is a
//!   single last fragment is still passed on without a copy and holds nothing.
//! - **Abandoned series time out.** A series that received no fragment for the
//!   set's idle timeout ([`DEFAULT_DEFRAG_TIMEOUT`], 10 s, Zenoh's default lease, by
//!   default; Plexus's own setting, Zenoh has none) is dropped by
//!   [`DefragSet::expire`]. The timeout counts from the *last* fragment, not the
//!   first, so a large message on a slow or congested link still completes as long
//!   as it makes progress; a sender that stopped mid-series (its process died, or
//!   it has no Drop marker at patch 0) no longer holds memory for the transport's life.
//! - **Everything is freed on close** ([`DefragSet::clear`]).

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::seq;
use crate::wire::transport::Fragment;

/// The default cap on a reassembled message and on the bytes held by a transport's
/// incomplete series (`transport/link/rx/max_message_size`, 1 GiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;

/// A first fragment at least this large gets room for a second one as large.
const SPECULATE_FROM: usize = 4096;

/// How long an incomplete series may go without a fragment before it is dropped
/// (Plexus's own limit; Zenoh keeps incomplete series until the transport closes).
pub const DEFAULT_DEFRAG_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a partial message was discarded (never fatal to the transport).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DefragError {
    /// A fragment did not carry the SN following the previous fragment of the message.
    #[error("fragment SN gap: expected {expected}, got {got}")]
    Gap {
        /// The SN that would have continued the message.
        expected: u32,
        /// The SN received.
        got: u32,
    },
    /// The message grew beyond the configured maximum.
    #[error("reassembled message of {size} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Size the message would have reached with this fragment.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The transport's incomplete series together would hold more than its budget.
    #[error(
        "reassembly of {size} bytes would take the transport's incomplete messages \
         beyond their budget of {budget} bytes ({held} bytes held by the others)"
    )]
    OverBudget {
        /// Size the message would have reached with this fragment.
        size: usize,
        /// Bytes held by the transport's other incomplete series.
        held: usize,
        /// The transport's budget.
        budget: usize,
    },
}

/// Reassembles the fragments of one (priority, reliability) channel.
#[derive(Debug)]
pub struct Defragmenter {
    max: usize,
    mask: u32,
    markers: bool,
    /// The message in progress, copied out of the batches it came in (a `Vec`, so that
    /// growing it is a `realloc`, which need not copy).
    buf: Vec<u8>,
    /// The SN the next fragment of the message in progress must carry, if one is.
    expected: Option<u32>,
    /// The size of the last message reassembled here: the next large one gets room for
    /// as much at its first fragment (a stream of equal messages is never regrown).
    last_size: usize,
}

impl Defragmenter {
    /// A defragmenter capping messages at `max_message_size` bytes, for SNs under
    /// `sn_mask`, honouring the First/Drop markers iff the agreed `patch` is ≥ 1.
    pub fn new(max_message_size: usize, sn_mask: u32, patch: u64) -> Self {
        Defragmenter {
            max: max_message_size,
            mask: sn_mask,
            markers: patch >= 1,
            buf: Vec::new(),
            expected: None,
            last_size: 0,
        }
    }

    /// True when no message is being reassembled.
    pub fn is_empty(&self) -> bool {
        self.expected.is_none()
    }

    /// Bytes gathered so far for the message in progress.
    pub fn pending_len(&self) -> usize {
        self.buf.len()
    }

    /// Bytes of memory held for the message in progress (its buffer's capacity).
    pub fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// Discards the message in progress and frees its buffer.
    pub fn clear(&mut self) {
        self.buf = Vec::new();
        self.expected = None;
    }

    /// Feeds one fragment; `sn_accepted` is the channel's [`crate::seq::RxChannel::accept`]
    /// verdict for its SN.
    ///
    /// Returns the whole serialized network message when the last fragment arrives,
    /// `Ok(None)` while more are needed or when the fragment was dropped (SN refused,
    /// Drop marker, continuation without a message in progress), and an error when the
    /// partial message had to be discarded.
    pub fn handle_fragment(
        &mut self,
        frag: &Fragment,
        sn_accepted: bool,
    ) -> Result<Option<Bytes>, DefragError> {
        self.feed(frag, sn_accepted, self.max, 0)
    }

    /// [`Defragmenter::handle_fragment`] with at most `room` bytes of buffer allowed
    /// for this series (`others` bytes are held by the other series of the budget).
    fn feed(
        &mut self,
        frag: &Fragment,
        sn_accepted: bool,
        room: usize,
        others: usize,
    ) -> Result<Option<Bytes>, DefragError> {
        if !sn_accepted {
            // Duplicates and stale SNs are dropped before reassembly sees them.
            return Ok(None);
        }
        if self.markers {
            if frag.first {
                self.clear();
            } else if self.is_empty() {
                // The start of this message was lost or dropped: nothing to continue.
                return Ok(None);
            }
            if frag.drop {
                self.clear();
                return Ok(None);
            }
        }
        let expected = *self.expected.get_or_insert(frag.sn);
        if frag.sn != expected {
            self.clear();
            return Err(DefragError::Gap {
                expected,
                got: frag.sn,
            });
        }
        let size = self.buf.len().saturating_add(frag.payload.len());
        if size > self.max {
            self.clear();
            return Err(DefragError::TooLarge {
                size,
                max: self.max,
            });
        }
        if !frag.more && self.buf.is_empty() {
            // A whole message in one fragment: passed on as it is, nothing held.
            self.clear();
            return Ok(Some(frag.payload.clone()));
        }
        if size > self.buf.capacity() {
            if size > room {
                self.clear();
                return Err(DefragError::OverBudget {
                    size,
                    held: others,
                    budget: others.saturating_add(room),
                });
            }
            // Doubling keeps the copies linear in the message's size; never beyond
            // the maximum nor the room left in the budget. A large first fragment
            // came from a batch its message overflowed, and the next is likely as
            // large (a message just over one batch has two): room for two at once,
            // so that the common case is one copy of each fragment and no regrowth.
            // A stream of large messages gets room for the last one's size and a
            // little more (regrowing a 1 MiB message copied twice its size).
            let first = if self.buf.is_empty() && frag.more && size >= SPECULATE_FROM {
                let last = self.last_size.saturating_add(self.last_size / 8);
                size.saturating_mul(2).max(last)
            } else {
                size
            };
            let cap = self
                .buf
                .capacity()
                .saturating_mul(2)
                .max(first)
                .min(self.max)
                .min(room)
                .max(size);
            self.buf.reserve_exact(cap - self.buf.len());
        }
        self.buf.extend_from_slice(&frag.payload);
        self.expected = Some(seq::next(frag.sn, self.mask));
        if frag.more {
            return Ok(None);
        }
        // Not trimmed to its length: giving the spare room back to the allocator
        // returned it to the system at once, and the next large message faulted in
        // fresh pages (a 1 MiB message cost 3× the CPU). Unless the room was sized for
        // a much larger last message: a small message after a huge one would otherwise
        // hand the application (which may keep it) all of that room.
        if self.buf.capacity() / 2 > self.buf.len() {
            self.buf.shrink_to_fit();
        }
        let out = Bytes::from(std::mem::take(&mut self.buf));
        self.clear();
        self.last_size = out.len();
        Ok(Some(out))
    }
}

/// The defragmenters of one transport (one per priority and reliability), with one
/// budget of held bytes and one idle timeout for them all (see the module docs).
#[derive(Debug)]
pub struct DefragSet {
    channels: Vec<Defragmenter>,
    /// When each channel's series in progress last received a fragment.
    last: Vec<Option<Instant>>,
    budget: usize,
    held: usize,
    timeout: Duration,
    /// Set by [`DefragSet::close`]: fragments are dropped from then on.
    closed: bool,
}

impl DefragSet {
    /// `channels` defragmenters (see [`Defragmenter::new`]) sharing a budget of
    /// `max_message_size` held bytes; a series idle for `timeout` is dropped by
    /// [`DefragSet::expire`].
    pub fn new(
        channels: usize,
        max_message_size: usize,
        sn_mask: u32,
        patch: u64,
        timeout: Duration,
    ) -> Self {
        DefragSet {
            channels: (0..channels)
                .map(|_| Defragmenter::new(max_message_size, sn_mask, patch))
                .collect(),
            last: vec![None; channels],
            budget: max_message_size,
            held: 0,
            timeout,
            closed: false,
        }
    }

    /// Bytes of memory held by all the incomplete series.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The budget of held bytes.
    pub fn budget(&self) -> usize {
        self.budget
    }

    /// Feeds one fragment to `channel` (see [`Defragmenter::handle_fragment`]) at `now`.
    /// A channel out of range, or a closed set, drops the fragment.
    pub fn handle_fragment(
        &mut self,
        channel: usize,
        frag: &Fragment,
        sn_accepted: bool,
        now: Instant,
    ) -> Result<Option<Bytes>, DefragError> {
        let Some(d) = self.channels.get_mut(channel).filter(|_| !self.closed) else {
            return Ok(None);
        };
        let before = d.held();
        let others = self.held - before;
        let res = d.feed(
            frag,
            sn_accepted,
            self.budget.saturating_sub(others),
            others,
        );
        self.held = others + d.held();
        self.last[channel] = (!d.is_empty()).then_some(now);
        res
    }

    /// When the oldest idle series times out, if any series is in progress.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.last
            .iter()
            .flatten()
            .min()
            .map(|t| t.checked_add(self.timeout).unwrap_or(*t))
    }

    /// Drops the series idle for the timeout at `now`; returns how many bytes that freed.
    pub fn expire(&mut self, now: Instant) -> usize {
        let mut freed = 0;
        for (d, last) in self.channels.iter_mut().zip(self.last.iter_mut()) {
            if let Some(t) = *last
                && now.saturating_duration_since(t) >= self.timeout
            {
                freed += d.held();
                d.clear();
                *last = None;
            }
        }
        self.held -= freed;
        freed
    }

    /// Drops every series in progress and frees their buffers.
    pub fn clear(&mut self) {
        for d in &mut self.channels {
            d.clear();
        }
        self.last.iter_mut().for_each(|l| *l = None);
        self.held = 0;
    }

    /// Frees everything, as [`DefragSet::clear`], and drops every fragment from now on
    /// (the transport closed: a batch still being read holds nothing more).
    pub fn close(&mut self) {
        self.clear();
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Priority, Reliability};

    fn frag(sn: u32, more: bool, first: bool, payload: &[u8]) -> Fragment {
        Fragment {
            reliability: Reliability::Reliable,
            more,
            sn,
            priority: Priority::Data,
            first,
            drop: false,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn three_fragments_like_the_pubsub_capture() {
        // pubsub.jsonl: a 100009-byte PUSH cut into 49144 + 49145 + 1720 bytes.
        let msg = pattern(100_009);
        let (a, rest) = msg.split_at(49_144);
        let (b, c) = rest.split_at(49_145);
        assert_eq!(c.len(), 1720);
        let mask = 0x0fff_ffff;
        let sn0 = 0x0fff_fffe; // also crosses the wrap-around
        let mut d = Defragmenter::new(DEFAULT_MAX_MESSAGE_SIZE, mask, 1);
        assert_eq!(d.handle_fragment(&frag(sn0, true, true, a), true), Ok(None));
        assert_eq!(
            d.handle_fragment(&frag(sn0 + 1, true, false, b), true),
            Ok(None)
        );
        assert_eq!(d.pending_len(), 49_144 + 49_145);
        let out = d.handle_fragment(&frag(0, false, false, c), true).unwrap();
        assert_eq!(out.as_deref(), Some(&msg[..]));
        assert!(d.is_empty());
    }

    #[test]
    fn a_stream_of_large_messages_is_not_regrown() {
        // 1 MiB messages in 64 KiB fragments, as a publisher of 1 MiB samples sends them.
        let msg = pattern((1 << 20) + 15);
        let mut d = Defragmenter::new(DEFAULT_MAX_MESSAGE_SIZE, 0x0fff_ffff, 1);
        let mut sn = 0;
        let mut capacities = Vec::new();
        for _ in 0..3 {
            let chunks: Vec<&[u8]> = msg.chunks(65_530).collect();
            let mut seen = Vec::new();
            for (i, chunk) in chunks.iter().enumerate() {
                let last = i + 1 == chunks.len();
                let out = d.handle_fragment(&frag(sn, !last, i == 0, chunk), true);
                sn += 1;
                if last {
                    assert_eq!(out.unwrap().as_deref(), Some(&msg[..]));
                } else {
                    assert_eq!(out, Ok(None));
                    seen.push(d.held());
                }
            }
            capacities.push(seen);
        }
        // The first message grows its buffer by doubling; the next ones get room for
        // a whole message at their first fragment, and keep it.
        assert!(capacities[0].first() < capacities[0].last());
        for seen in &capacities[1..] {
            assert!(seen[0] >= msg.len(), "room for {} bytes", seen[0]);
            assert!(seen.iter().all(|&c| c == seen[0]), "regrown: {seen:?}");
            assert!(
                seen[0] <= msg.len() + msg.len() / 8,
                "{} bytes held",
                seen[0]
            );
        }
    }

    #[test]
    fn a_small_message_after_a_large_one_does_not_keep_its_room() {
        let mut d = Defragmenter::new(DEFAULT_MAX_MESSAGE_SIZE, 0x0fff_ffff, 1);
        let large = pattern(1 << 20);
        let mut sn = 0;
        for (i, chunk) in large.chunks(65_530).enumerate() {
            let more = (i + 1) * 65_530 < large.len();
            let _ = d.handle_fragment(&frag(sn, more, i == 0, chunk), true);
            sn += 1;
        }
        // Two 5,000-byte fragments: the first gets room for the last message.
        let small = pattern(10_000);
        assert_eq!(
            d.handle_fragment(&frag(sn, true, true, &small[..5_000]), true),
            Ok(None)
        );
        assert!(d.held() >= large.len(), "room for {} bytes", d.held());
        let out = d
            .handle_fragment(&frag(sn + 1, false, false, &small[5_000..]), true)
            .unwrap()
            .expect("whole");
        assert_eq!(&out[..], &small[..]);
        let kept = Vec::from(out).capacity();
        assert!(
            kept <= 2 * small.len(),
            "a 10,000-byte message keeps {kept} bytes"
        );
    }

    #[test]
    fn out_of_order_sn_discards() {
        let mut d = Defragmenter::new(1024, 0x7f, 1);
        assert_eq!(
            d.handle_fragment(&frag(5, true, true, b"ab"), true),
            Ok(None)
        );
        assert_eq!(
            d.handle_fragment(&frag(7, false, false, b"cd"), true),
            Err(DefragError::Gap {
                expected: 6,
                got: 7
            })
        );
        assert!(d.is_empty());
        // The orphaned continuation is dropped (no start marker), then a new message works.
        assert_eq!(
            d.handle_fragment(&frag(8, false, false, b"x"), true),
            Ok(None)
        );
        assert_eq!(
            d.handle_fragment(&frag(9, true, true, b"ef"), true),
            Ok(None)
        );
        let out = d.handle_fragment(&frag(10, false, false, b"gh"), true);
        assert_eq!(out, Ok(Some(Bytes::from_static(b"efgh"))));
    }

    #[test]
    fn refused_sn_is_ignored() {
        let mut d = Defragmenter::new(1024, 0x7f, 1);
        assert_eq!(
            d.handle_fragment(&frag(1, true, true, b"ab"), true),
            Ok(None)
        );
        // A duplicate the channel refused leaves the message in progress alone.
        assert_eq!(
            d.handle_fragment(&frag(1, true, true, b"zz"), false),
            Ok(None)
        );
        let out = d.handle_fragment(&frag(2, false, false, b"cd"), true);
        assert_eq!(out, Ok(Some(Bytes::from_static(b"abcd"))));
    }

    #[test]
    fn too_large() {
        let mut d = Defragmenter::new(10, 0x7f, 1);
        assert_eq!(
            d.handle_fragment(&frag(1, true, true, &[0; 6]), true),
            Ok(None)
        );
        assert_eq!(
            d.handle_fragment(&frag(2, true, false, &[0; 5]), true),
            Err(DefragError::TooLarge { size: 11, max: 10 })
        );
        assert!(d.is_empty());
        // Exactly the maximum is fine.
        assert_eq!(
            d.handle_fragment(&frag(3, true, true, &[1; 4]), true),
            Ok(None)
        );
        let out = d.handle_fragment(&frag(4, false, false, &[2; 6]), true);
        assert_eq!(out.unwrap().map(|b| b.len()), Some(10));
    }

    #[test]
    fn drop_marker_discards() {
        let mut d = Defragmenter::new(1024, 0x7f, 1);
        assert_eq!(
            d.handle_fragment(&frag(1, true, true, b"ab"), true),
            Ok(None)
        );
        let mut dropped = frag(2, false, false, b"");
        dropped.drop = true;
        assert_eq!(d.handle_fragment(&dropped, true), Ok(None));
        assert!(d.is_empty());
        assert_eq!(
            d.handle_fragment(&frag(3, false, false, b"cd"), true),
            Ok(None)
        );
    }

    #[test]
    fn first_marker_restarts() {
        let mut d = Defragmenter::new(1024, 0x7f, 1);
        assert_eq!(
            d.handle_fragment(&frag(1, true, true, b"old"), true),
            Ok(None)
        );
        // A new first fragment (even after a gap) abandons the old message quietly.
        assert_eq!(
            d.handle_fragment(&frag(5, true, true, b"ne"), true),
            Ok(None)
        );
        let out = d.handle_fragment(&frag(6, false, false, b"w"), true);
        assert_eq!(out, Ok(Some(Bytes::from_static(b"new"))));
    }

    #[test]
    fn markers_ignored_without_patch() {
        let mut d = Defragmenter::new(1024, 0x7f, 0);
        // Patch 0: any fragment starts a message, Drop is not honoured.
        assert_eq!(
            d.handle_fragment(&frag(1, true, false, b"ab"), true),
            Ok(None)
        );
        let mut marked = frag(2, true, true, b"cd");
        marked.drop = true;
        assert_eq!(d.handle_fragment(&marked, true), Ok(None));
        let out = d.handle_fragment(&frag(3, false, false, b"ef"), true);
        assert_eq!(out, Ok(Some(Bytes::from_static(b"abcdef"))));
        // A lone last fragment is a whole message, returned without a copy.
        let f = frag(4, false, false, b"solo");
        let out = d.handle_fragment(&f, true).unwrap().unwrap();
        assert_eq!(out.as_ptr(), f.payload.as_ptr());
    }
}

#[cfg(test)]
mod budget_tests {
    use super::*;
    use crate::wire::{Priority, Reliability};

    fn frag(sn: u32, more: bool, first: bool, payload: Bytes) -> Fragment {
        Fragment {
            reliability: Reliability::Reliable,
            more,
            sn,
            priority: Priority::Data,
            first,
            drop: false,
            payload,
        }
    }

    #[test]
    fn one_budget_for_all_channels() {
        let t0 = Instant::now();
        let mut set = DefragSet::new(16, 1000, 0xffff, 1, DEFAULT_DEFRAG_TIMEOUT);
        // 600 bytes in progress on channel 0.
        let a = Bytes::from(vec![1u8; 600]);
        assert_eq!(
            set.handle_fragment(0, &frag(1, true, true, a), true, t0),
            Ok(None)
        );
        assert_eq!(set.held(), 600);
        // Another channel may not take the transport beyond 1000 bytes, though its
        // own message (500 bytes) is under the per-message maximum.
        let b = Bytes::from(vec![2u8; 500]);
        assert_eq!(
            set.handle_fragment(3, &frag(1, true, true, b), true, t0),
            Err(DefragError::OverBudget {
                size: 500,
                held: 600,
                budget: 1000
            })
        );
        assert_eq!(set.held(), 600);
        // The first series is untouched and completes.
        let c = Bytes::from(vec![3u8; 400]);
        let out = set.handle_fragment(0, &frag(2, false, false, c), true, t0);
        assert_eq!(out.unwrap().map(|m| m.len()), Some(1000));
        assert_eq!(set.held(), 0);
        // Then the room is back.
        let b = Bytes::from(vec![2u8; 500]);
        assert_eq!(
            set.handle_fragment(3, &frag(7, true, true, b), true, t0),
            Ok(None)
        );
        assert_eq!(set.held(), 500);
    }

    #[test]
    fn a_message_just_over_one_batch_is_not_regrown() {
        // A 64 KiB payload in 64 KiB batches: one large fragment and a small one.
        let t0 = Instant::now();
        let mut set = DefragSet::new(2, 1 << 30, 0x0fff_ffff, 1, DEFAULT_DEFRAG_TIMEOUT);
        let big = Bytes::from(vec![7u8; 65_000]);
        assert_eq!(
            set.handle_fragment(0, &frag(1, true, true, big), true, t0),
            Ok(None)
        );
        let at = set.channels[0].buf.as_ptr();
        let room = set.held();
        assert!(room >= 2 * 65_000, "room for two large fragments: {room}");
        let small = Bytes::from(vec![8u8; 600]);
        assert_eq!(
            set.handle_fragment(0, &frag(2, true, false, small), true, t0),
            Ok(None)
        );
        // The second fragment went into the same buffer, not a regrown copy.
        assert_eq!(set.channels[0].buf.as_ptr(), at);
        assert_eq!(set.held(), room);
        let last = Bytes::from_static(b"end");
        let out = set
            .handle_fragment(0, &frag(3, false, false, last), true, t0)
            .unwrap()
            .unwrap();
        assert_eq!(out.len(), 65_603);
        assert_eq!((out[0], out[65_000], &out[65_600..]), (7, 8, &b"end"[..]));
        assert_eq!(set.held(), 0);
    }

    #[test]
    fn tiny_fragments_do_not_pin_their_batches() {
        // 1-byte fragments sliced out of 64 KiB batches: what is held is what is
        // counted, a few bytes, not the batches.
        let t0 = Instant::now();
        let mut set = DefragSet::new(2, 1 << 20, 0x0fff_ffff, 1, DEFAULT_DEFRAG_TIMEOUT);
        for i in 0..200u32 {
            let batch = Bytes::from(vec![i as u8; 65536]);
            let one = batch.slice(100..101);
            assert_eq!(
                set.handle_fragment(0, &frag(i, true, i == 0, one), true, t0),
                Ok(None)
            );
            // No slice of the batch was kept.
            assert!(batch.is_unique(), "fragment {i} pins its batch");
        }
        // The budget counts the series' own buffer, which holds the 200 bytes.
        assert!(
            set.held() >= 200 && set.held() <= 512,
            "held {}",
            set.held()
        );
        let out = set
            .handle_fragment(
                0,
                &frag(200, false, false, Bytes::from_static(b"!")),
                true,
                t0,
            )
            .unwrap()
            .unwrap();
        assert_eq!(out.len(), 201);
        assert_eq!(out[0], 0);
        assert_eq!(out[199], 199);
        assert_eq!(set.held(), 0);
    }

    #[test]
    fn budget_bounds_many_tiny_fragments() {
        let t0 = Instant::now();
        let mut set = DefragSet::new(16, 4096, 0x0fff_ffff, 1, DEFAULT_DEFRAG_TIMEOUT);
        let mut over = 0;
        for ch in 0..16 {
            for i in 0..300u32 {
                let f = frag(i, true, i == 0, Bytes::from_static(b"x"));
                match set.handle_fragment(ch, &f, true, t0) {
                    Ok(None) => {}
                    Err(DefragError::OverBudget { .. }) => over += 1,
                    other => panic!("unexpected {other:?}"),
                }
                assert!(set.held() <= 4096, "held {}", set.held());
            }
        }
        assert!(over > 0);
    }

    #[test]
    fn idle_series_time_out() {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(10);
        let mut set = DefragSet::new(4, 1 << 20, 0xffff, 1, timeout);
        assert_eq!(set.next_expiry(), None);
        let f = |sn, first| frag(sn, true, first, Bytes::from(vec![0u8; 100]));
        set.handle_fragment(0, &f(1, true), true, t0).unwrap();
        set.handle_fragment(1, &f(1, true), true, t0 + Duration::from_secs(4))
            .unwrap();
        // Progress on channel 0 restarts its clock.
        set.handle_fragment(0, &f(2, false), true, t0 + Duration::from_secs(6))
            .unwrap();
        assert_eq!(set.next_expiry(), Some(t0 + Duration::from_secs(14)));
        assert_eq!(set.expire(t0 + Duration::from_secs(13)), 0);
        let held = set.held();
        let freed = set.expire(t0 + Duration::from_secs(14));
        assert!(freed > 0);
        assert_eq!(set.held(), held - freed);
        assert_eq!(set.next_expiry(), Some(t0 + Duration::from_secs(16)));
        // The dropped series cannot be continued; channel 0 still can.
        assert_eq!(
            set.handle_fragment(1, &f(2, false), true, t0 + Duration::from_secs(15)),
            Ok(None)
        );
        let last = frag(3, false, false, Bytes::from_static(b"end"));
        let out = set.handle_fragment(0, &last, true, t0 + Duration::from_secs(15));
        assert_eq!(out.unwrap().map(|m| m.len()), Some(203));
        assert_eq!(set.held(), 0);
        assert_eq!(set.next_expiry(), None);
    }

    #[test]
    fn clear_frees_everything() {
        let t0 = Instant::now();
        let mut set = DefragSet::new(4, 1 << 20, 0xffff, 1, DEFAULT_DEFRAG_TIMEOUT);
        for ch in 0..4 {
            let f = frag(1, true, true, Bytes::from(vec![0u8; 1000]));
            set.handle_fragment(ch, &f, true, t0).unwrap();
        }
        assert!(set.held() >= 4000);
        set.clear();
        assert_eq!(set.held(), 0);
        assert_eq!(set.next_expiry(), None);
        // Out-of-range channels are ignored, not a panic.
        let f = frag(1, true, true, Bytes::from_static(b"x"));
        assert_eq!(set.handle_fragment(99, &f, true, t0), Ok(None));
        // Cleared, it goes on working; closed, it holds nothing more.
        set.handle_fragment(0, &f, true, t0).unwrap();
        assert_eq!(set.held(), 1);
        set.close();
        assert_eq!(set.held(), 0);
        set.handle_fragment(1, &f, true, t0).unwrap();
        assert_eq!(set.held(), 0);
    }
}
