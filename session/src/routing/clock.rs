//! The session's hybrid logical clock (when timestamping is on), with a cheap way to stamp
//! what one read of a link brings: the physical clock is read once per read, and the
//! read's messages get consecutive HLC times from a range reserved for this thread.
//!
//! Every timestamp stays unique and the clock monotonic: a range is reserved by taking a
//! timestamp and moving the clock past the range's end in one step that no other issuing
//! of timestamps can interleave with (the `issue` lock), so later timestamps, on any
//! thread, come after the range. The messages of one read arrived together, so one
//! physical reading dates them all; a range is used only within the transport's
//! back-pressure scope around that read (`backpressure::scope_generation`), never later.

use std::cell::Cell;
use std::sync::Mutex;

use plexus_transport::unicast::backpressure;

use crate::sync::lock;

/// HLC time units (2^-32 s) reserved at once: about 3.8 µs, more stamps than one 64 KiB
/// read holds.
const RESERVED: u64 = 1 << 14;

/// A range reserved on this thread: (clock id, scope generation, next time, end).
type Range = (u128, u64, u64, u64);

thread_local! {
    static RANGE: Cell<Range> = const { Cell::new((0, 0, 0, 0)) };
}

/// The session's clock.
pub(crate) struct Hlc {
    hlc: uhlc::HLC,
    /// Held while issuing a timestamp or reserving a range.
    issue: Mutex<()>,
}

impl Hlc {
    pub(crate) fn new(hlc: uhlc::HLC) -> Hlc {
        Hlc {
            hlc,
            issue: Mutex::new(()),
        }
    }

    /// A new timestamp (reads the physical clock).
    pub(crate) fn new_timestamp(&self) -> uhlc::Timestamp {
        let _issuing = lock(&self.issue);
        self.hlc.new_timestamp()
    }

    /// Lets a received timestamp move the clock on; an error if it is too far ahead.
    pub(crate) fn update_with_timestamp(&self, ts: &uhlc::Timestamp) -> Result<(), String> {
        self.hlc.update_with_timestamp(ts)
    }

    /// A timestamp for a message being received: inside a link's read (a back-pressure
    /// scope), from this thread's reserved range; elsewhere, [`Hlc::new_timestamp`].
    pub(crate) fn stamp(&self) -> uhlc::Timestamp {
        let Some(generation) = backpressure::scope_generation() else {
            return self.new_timestamp();
        };
        let id = *self.hlc.get_id();
        let key = u128::from_le_bytes(id.to_le_bytes());
        RANGE.with(|range| {
            let (k, g, next, end) = range.get();
            if k == key && g == generation && next < end {
                range.set((k, g, next + 1, end));
                return uhlc::Timestamp::new(uhlc::NTP64(next), id);
            }
            let first = self.reserve();
            let start = first.get_time().as_u64();
            range.set((key, generation, start + 1, start + RESERVED));
            first
        })
    }

    /// A timestamp whose next [`RESERVED`] − 1 times nobody else will issue.
    fn reserve(&self) -> uhlc::Timestamp {
        let _issuing = lock(&self.issue);
        let first = self.hlc.new_timestamp();
        let end = uhlc::NTP64(first.get_time().as_u64() + RESERVED);
        // Within the clock's drift bound by far: this cannot fail.
        let _ = self
            .hlc
            .update_with_timestamp(&uhlc::Timestamp::new(end, *first.get_id()));
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn hlc() -> Hlc {
        Hlc::new(uhlc::HLC::default())
    }

    #[test]
    fn outside_a_scope_every_stamp_reads_the_clock() {
        let h = hlc();
        let a = h.stamp();
        let b = h.stamp();
        assert!(b > a);
        assert_eq!(backpressure::scope_generation(), None);
    }

    #[test]
    fn one_read_gets_consecutive_times_and_later_stamps_come_after_them() {
        let h = hlc();
        let scope = backpressure::Scope::begin();
        let stamps: Vec<_> = (0..100).map(|_| h.stamp()).collect();
        drop(scope);
        let t0 = stamps[0].get_time().as_u64();
        for (i, s) in stamps.iter().enumerate() {
            assert_eq!(
                s.get_time().as_u64(),
                t0 + i as u64,
                "consecutive within one read"
            );
        }
        // Anything issued afterwards, on this thread or another, is past the range.
        let later = h.new_timestamp();
        assert!(later.get_time().as_u64() >= t0 + RESERVED);
        let other = std::thread::scope(|s| s.spawn(|| h.new_timestamp()).join().unwrap());
        assert!(other > later);
        // A new read reserves a new range after those.
        let scope = backpressure::Scope::begin();
        let next = h.stamp();
        drop(scope);
        assert!(next > other);
    }

    #[test]
    fn stamps_from_many_threads_are_unique() {
        let h = hlc();
        let all: Vec<uhlc::Timestamp> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..4)
                .map(|w| {
                    let h = &h;
                    s.spawn(move || {
                        let mut out = Vec::new();
                        for read in 0..200 {
                            let scope = (w + read) % 3 != 0;
                            let guard = scope.then(backpressure::Scope::begin);
                            for _ in 0..50 {
                                out.push(h.stamp());
                            }
                            out.push(h.new_timestamp());
                            drop(guard);
                        }
                        out
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let unique: HashSet<_> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "a timestamp was issued twice");
    }

    #[test]
    fn a_range_is_not_used_past_its_read() {
        let h = hlc();
        let scope = backpressure::Scope::begin();
        let first = h.stamp();
        drop(scope);
        // Outside the read, the clock is read again rather than the range continued.
        let outside = h.stamp();
        assert!(outside.get_time().as_u64() >= first.get_time().as_u64() + RESERVED);
    }
}
