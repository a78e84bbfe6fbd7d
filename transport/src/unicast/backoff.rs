//! The accept loop's answer to a failing `accept` (sans-IO: the time is an input).
//!
//! Out of descriptors (EMFILE/ENFILE), or out of memory for sockets, `accept` fails
//! until something is closed, while the connection that could not be taken stays in
//! the listen queue, so the listener is ready again at once. Retrying at once would
//! spin a core and log a line per retry. Instead each failure in a row doubles the
//! pause before the next `accept`, from [`ACCEPT_PAUSE_MIN`] up to
//! [`ACCEPT_PAUSE_MAX`], and one success starts over; the failures are logged at WARN
//! once per [`ACCEPT_LOG_INTERVAL`], with how many there were since the last line.

use std::time::{Duration, Instant};

/// The pause after the first failed `accept` in a row.
pub const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
/// The longest pause between two `accept`s that fail.
pub const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);
/// At most one log line about failed `accept`s per this interval.
pub const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// What to do after a failed `accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AcceptFailure {
    /// How long to wait before the next `accept`.
    pub(crate) pause: Duration,
    /// Log this failure, with how many others went unlogged since the last line.
    pub(crate) log: Option<u64>,
}

/// The state of one listener's accept loop.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    /// The pause after the last failure (zero after a success).
    pause: Duration,
    last_log: Option<Instant>,
    unlogged: u64,
}

impl AcceptBackoff {
    /// An `accept` failed at `now`.
    pub(crate) fn failed(&mut self, now: Instant) -> AcceptFailure {
        self.pause = (self.pause * 2).clamp(ACCEPT_PAUSE_MIN, ACCEPT_PAUSE_MAX);
        let due = self
            .last_log
            .is_none_or(|t| now.saturating_duration_since(t) >= ACCEPT_LOG_INTERVAL);
        let log = if due {
            self.last_log = Some(now);
            Some(std::mem::take(&mut self.unlogged))
        } else {
            self.unlogged += 1;
            None
        };
        AcceptFailure {
            pause: self.pause,
            log,
        }
    }

    /// An `accept` succeeded: the next failure pauses briefly again.
    pub(crate) fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_the_cap_and_start_over_after_a_success() {
        let t0 = Instant::now();
        let mut b = AcceptBackoff::default();
        let pauses: Vec<Duration> = (0..10).map(|_| b.failed(t0).pause).collect();
        assert_eq!(pauses[0], ACCEPT_PAUSE_MIN);
        assert_eq!(pauses[1], ACCEPT_PAUSE_MIN * 2);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*pauses.last().unwrap(), ACCEPT_PAUSE_MAX);
        b.succeeded();
        assert_eq!(b.failed(t0).pause, ACCEPT_PAUSE_MIN);
    }

    #[test]
    fn one_line_per_interval_counting_the_rest() {
        let t0 = Instant::now();
        let mut b = AcceptBackoff::default();
        assert_eq!(b.failed(t0).log, Some(0));
        for i in 1..=50u64 {
            let at = t0 + ACCEPT_LOG_INTERVAL * (i as u32) / 51;
            assert_eq!(b.failed(at).log, None);
        }
        b.succeeded();
        assert_eq!(b.failed(t0 + ACCEPT_LOG_INTERVAL).log, Some(50));
        assert_eq!(b.failed(t0 + ACCEPT_LOG_INTERVAL).log, None);
    }

    #[test]
    fn at_most_a_few_hundred_accepts_per_minute_while_failing() {
        // A minute of failures: the total of the pauses covers it with few attempts.
        let t0 = Instant::now();
        let mut b = AcceptBackoff::default();
        let (mut now, mut attempts, mut lines) = (t0, 0, 0);
        while now < t0 + Duration::from_secs(60) {
            let f = b.failed(now);
            attempts += 1;
            lines += usize::from(f.log.is_some());
            now += f.pause;
        }
        assert!(attempts < 80, "{attempts} attempts");
        assert_eq!(lines, 6);
    }
}
