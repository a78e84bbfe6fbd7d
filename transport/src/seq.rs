//! Sequence numbers of the FRAME/FRAGMENT channels: masks, wrap-around and the
//! receive-side ordering rule.
//!
//! Every (priority, reliability) channel has its own counter on each side. A sender's
//! counters all start at the initial SN it announced in its OPEN; the receiver expects
//! exactly that value first. SNs live in `0..=mask`, where the mask comes from the
//! frame-SN bits of the agreed resolution (see [`sn_mask`]). A receiver accepts a SN
//! when it lies strictly after the last accepted one and at most half the SN space
//! ahead: gaps are allowed (best-effort losses), duplicates and old SNs are dropped.

/// The SN mask for a resolution byte (its frame-SN bits 0-1).
///
/// 8 bit → `0x7f`, 16 bit → `0x3fff`, 32 bit → `0x0fffffff`: the mask keeps a SN zint at
/// 1, 2 or 4 bytes. The 64-bit setting (0b11) is treated like 32 bit: Zenoh 1.10.2 keeps
/// SNs in a `u32` and its configuration refuses "64bit", so it never offers it, and
/// Plexus never offers it either; the value only appears if a peer misbehaves.
pub fn sn_mask(resolution: u8) -> u32 {
    match resolution & 0b11 {
        0 => 0x7f,
        1 => 0x3fff,
        _ => 0x0fff_ffff,
    }
}

/// True when `sn` is a valid SN under `mask` (no bit outside the mask set).
pub fn in_range(sn: u32, mask: u32) -> bool {
    sn & !mask == 0
}

/// The SN after `sn`, wrapping to 0 past `mask`.
pub fn next(sn: u32, mask: u32) -> u32 {
    sn.wrapping_add(1) & mask
}

/// The SN before `sn`, wrapping to `mask` below 0.
pub fn prev(sn: u32, mask: u32) -> u32 {
    sn.wrapping_sub(1) & mask
}

/// True when `sn` comes after `last`: their distance modulo the SN space is non-zero
/// and at most `mask / 2`.
pub fn precedes(last: u32, sn: u32, mask: u32) -> bool {
    let gap = sn.wrapping_sub(last) & mask;
    gap != 0 && gap <= mask >> 1
}

/// The sending side of one channel: hands out consecutive SNs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxChannel {
    next: u32,
    mask: u32,
}

impl TxChannel {
    /// A channel whose first SN is `initial_sn` (reduced to the mask).
    pub fn new(initial_sn: u32, mask: u32) -> Self {
        TxChannel {
            next: initial_sn & mask,
            mask,
        }
    }

    /// Takes the next SN and advances the counter.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u32 {
        let sn = self.next;
        self.next = next(sn, self.mask);
        sn
    }

    /// The SN the next call to [`TxChannel::next`] will return.
    pub fn peek(&self) -> u32 {
        self.next
    }

    /// The channel's SN mask.
    pub fn mask(&self) -> u32 {
        self.mask
    }
}

/// The receiving side of one channel: accepts SNs that move forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxChannel {
    last: u32,
    mask: u32,
}

impl RxChannel {
    /// A channel expecting `initial_sn` first (the last accepted SN is `initial_sn - 1`).
    pub fn new(initial_sn: u32, mask: u32) -> Self {
        RxChannel {
            last: prev(initial_sn & mask, mask),
            mask,
        }
    }

    /// Accepts `sn` (and records it as the last one) if it comes after the last accepted SN.
    ///
    /// Returns false for duplicates, old SNs, SNs more than half the space ahead and SNs
    /// outside the mask. Zenoh drops the first three silently; a SN outside the mask is
    /// a link error there, so callers that want to be as strict can check [`in_range`].
    pub fn accept(&mut self, sn: u32) -> bool {
        if !in_range(sn, self.mask) || !precedes(self.last, sn, self.mask) {
            return false;
        }
        self.last = sn;
        true
    }

    /// The last accepted SN (initially the one before the initial SN).
    pub fn last(&self) -> u32 {
        self.last
    }

    /// The SN that would continue the channel without a gap.
    pub fn expected(&self) -> u32 {
        next(self.last, self.mask)
    }

    /// The channel's SN mask.
    pub fn mask(&self) -> u32 {
        self.mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MASKS: [u32; 3] = [0x7f, 0x3fff, 0x0fff_ffff];

    #[test]
    fn masks_per_resolution() {
        assert_eq!(sn_mask(0x08), 0x7f);
        assert_eq!(sn_mask(0x09), 0x3fff);
        assert_eq!(sn_mask(0x0a), 0x0fff_ffff);
        assert_eq!(sn_mask(0x0b), 0x0fff_ffff);
    }

    #[test]
    fn wrap_around_at_each_mask() {
        for mask in MASKS {
            let mut tx = TxChannel::new(mask - 1, mask);
            assert_eq!(tx.next(), mask - 1);
            assert_eq!(tx.next(), mask);
            assert_eq!(tx.next(), 0);
            assert_eq!(tx.next(), 1);
            let mut rx = RxChannel::new(mask - 1, mask);
            assert!(rx.accept(mask - 1));
            assert!(rx.accept(mask));
            assert!(rx.accept(0), "mask {mask:#x}: 0 follows the mask");
            assert!(rx.accept(1));
            assert_eq!(rx.expected(), 2);
        }
    }

    #[test]
    fn initial_zero_starts_at_mask() {
        for mask in MASKS {
            let mut rx = RxChannel::new(0, mask);
            assert_eq!(rx.last(), mask);
            assert!(rx.accept(0));
        }
    }

    #[test]
    fn duplicates_rejected_gaps_accepted() {
        let mut rx = RxChannel::new(10, 0x7f);
        assert!(rx.accept(10));
        assert!(!rx.accept(10), "duplicate");
        assert!(rx.accept(15), "gap");
        assert!(!rx.accept(12), "older than the last");
        assert!(rx.accept(16));
    }

    #[test]
    fn far_past_and_far_future_rejected() {
        let mask = 0x7f;
        let mut rx = RxChannel::new(100, mask);
        assert!(rx.accept(100));
        // Exactly half the space ahead is still accepted, one more is not.
        assert!(precedes(100, (100 + 63) & mask, mask));
        assert!(!precedes(100, (100 + 64) & mask, mask));
        assert!(!rx.accept(100 - 30), "far past");
        assert!(!rx.accept(0x80), "outside the mask");
        assert!(!rx.accept(u32::MAX));
        assert_eq!(rx.last(), 100);
        let mask = 0x0fff_ffff;
        let mut rx = RxChannel::new(5, mask);
        assert!(rx.accept(5));
        assert!(!rx.accept(5 + (mask >> 1) + 1));
        assert!(rx.accept(5 + (mask >> 1)));
    }

    proptest! {
        #[test]
        fn consecutive_tx_always_accepted(mask_i in 0usize..3, initial in any::<u32>(), n in 1usize..400) {
            let mask = MASKS[mask_i];
            let mut tx = TxChannel::new(initial, mask);
            let mut rx = RxChannel::new(initial, mask);
            for _ in 0..n {
                let sn = tx.next();
                prop_assert!(in_range(sn, mask));
                prop_assert_eq!(rx.expected(), sn);
                prop_assert!(rx.accept(sn));
                prop_assert!(!rx.accept(sn));
            }
        }

        #[test]
        fn forward_jumps_within_half_accepted(mask_i in 0usize..3, last in any::<u32>(), jump in 1u32..64) {
            let mask = MASKS[mask_i];
            let last = last & mask;
            prop_assert!(precedes(last, (last + jump) & mask, mask));
            prop_assert!(!precedes(last, last.wrapping_sub(jump) & mask, mask));
        }
    }
}
