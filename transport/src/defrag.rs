//! Reassembly of FRAGMENTs into whole serialized network messages.
//!
//! A network message too large for one batch is serialized once, cut into slices and
//! sent as FRAGMENTs that take consecutive SNs of one (priority, reliability) channel;
//! the last one has `more == false`. A [`Defragmenter`] per channel glues the slices
//! back together.
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

use bytes::{Bytes, BytesMut};

use crate::seq;
use crate::wire::transport::Fragment;

/// The default cap on a reassembled message (`transport/link/rx/max_message_size`, 1 GiB).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 30;

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
}

/// Reassembles the fragments of one (priority, reliability) channel.
#[derive(Debug)]
pub struct Defragmenter {
    max: usize,
    mask: u32,
    markers: bool,
    parts: Vec<Bytes>,
    len: usize,
    /// The SN the next fragment of the message in progress must carry, if one is.
    expected: Option<u32>,
}

impl Defragmenter {
    /// A defragmenter capping messages at `max_message_size` bytes, for SNs under
    /// `sn_mask`, honouring the First/Drop markers iff the agreed `patch` is ≥ 1.
    pub fn new(max_message_size: usize, sn_mask: u32, patch: u64) -> Self {
        Defragmenter {
            max: max_message_size,
            mask: sn_mask,
            markers: patch >= 1,
            parts: Vec::new(),
            len: 0,
            expected: None,
        }
    }

    /// True when no message is being reassembled.
    pub fn is_empty(&self) -> bool {
        self.expected.is_none()
    }

    /// Bytes gathered so far for the message in progress.
    pub fn pending_len(&self) -> usize {
        self.len
    }

    /// Discards the message in progress.
    pub fn clear(&mut self) {
        self.parts.clear();
        self.len = 0;
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
        let size = self.len.saturating_add(frag.payload.len());
        if size > self.max {
            self.clear();
            return Err(DefragError::TooLarge {
                size,
                max: self.max,
            });
        }
        self.len = size;
        self.expected = Some(seq::next(frag.sn, self.mask));
        if !frag.payload.is_empty() {
            self.parts.push(frag.payload.clone());
        }
        if frag.more {
            return Ok(None);
        }
        let out = match self.parts.len() {
            0 => Bytes::new(),
            1 => self.parts.pop().unwrap_or_default(),
            _ => {
                let mut buf = BytesMut::with_capacity(self.len);
                for p in &self.parts {
                    buf.extend_from_slice(p);
                }
                buf.freeze()
            }
        };
        self.clear();
        Ok(Some(out))
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
