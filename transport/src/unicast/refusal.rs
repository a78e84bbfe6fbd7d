//! How refused links are logged: a budget of INFO lines per interval, the rest at DEBUG.

use super::*;

/// How many refused links are logged at INFO per [`REFUSAL_INTERVAL`].
pub const REFUSALS_PER_INTERVAL: u32 = 10;
/// The window of [`REFUSALS_PER_INTERVAL`].
pub const REFUSAL_INTERVAL: Duration = Duration::from_secs(10);

/// Decides the level of each refused link's log line (sans-IO: the time is an input).
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    window_start: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

/// How to log one refusal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefusalLevel {
    /// At INFO, saying how many refusals since the last INFO line went to DEBUG.
    Info {
        /// Refusals logged at DEBUG since the last INFO line.
        suppressed: u64,
    },
    /// At DEBUG (the INFO budget of the window is spent).
    Debug,
}

impl RefusalLog {
    pub(crate) fn level(&mut self, now: Instant) -> RefusalLevel {
        let fresh = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= REFUSAL_INTERVAL);
        if fresh {
            self.window_start = Some(now);
            self.logged = 0;
        }
        if self.logged < REFUSALS_PER_INTERVAL {
            self.logged += 1;
            RefusalLevel::Info {
                suppressed: std::mem::take(&mut self.suppressed),
            }
        } else {
            self.suppressed += 1;
            RefusalLevel::Debug
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_at_info_within_budget_then_at_debug() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        for _ in 0..REFUSALS_PER_INTERVAL {
            assert_eq!(log.level(t0), RefusalLevel::Info { suppressed: 0 });
        }
        for _ in 0..5 {
            assert_eq!(log.level(t0 + REFUSAL_INTERVAL / 2), RefusalLevel::Debug);
        }
        // A new window: INFO again, saying how many went to DEBUG.
        assert_eq!(
            log.level(t0 + REFUSAL_INTERVAL),
            RefusalLevel::Info { suppressed: 5 }
        );
        assert_eq!(
            log.level(t0 + REFUSAL_INTERVAL),
            RefusalLevel::Info { suppressed: 0 }
        );
    }
}
