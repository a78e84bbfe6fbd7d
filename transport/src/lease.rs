//! Link liveness as a state machine: when a keep-alive is due and when the link expired.
//!
//! Each side announces its own lease in OPEN. A side sends KEEP_ALIVE when it has written
//! nothing for `own lease / keep_alive`, and drops the link when it has read nothing for
//! the *remote* lease. Feed it reads and writes with [`Lease::handle_rx`] and
//! [`Lease::handle_tx`], sleep until [`Lease::poll_timeout`], then call
//! [`Lease::handle_timeout`].

use std::time::{Duration, Instant};

/// The longest period the timers use (a year): longer leases are cut to it, so that no
/// instant computed here overflows, whatever was configured or announced.
const LONGEST: Duration = Duration::from_secs(365 * 24 * 3600);

/// What the link must do when the lease timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseAction {
    /// Nothing was written for a keep-alive period: send KEEP_ALIVE.
    SendKeepAlive,
    /// Nothing was read for the remote lease: drop the link (no CLOSE, as Zenoh does).
    Expired,
}

/// The lease and keep-alive timers of one link.
#[derive(Clone, Debug)]
pub struct Lease {
    keep_alive_period: Duration,
    remote_lease: Duration,
    last_rx: Instant,
    last_tx: Instant,
}

impl Lease {
    /// Timers for a link that was just established at `now`.
    ///
    /// `local_lease / keep_alive` is the keep-alive period (at least 1 ms);
    /// `remote_lease` is what the peer announced. Both are cut to a year at most.
    pub fn new(
        local_lease: Duration,
        keep_alive: u32,
        remote_lease: Duration,
        now: Instant,
    ) -> Self {
        Lease {
            keep_alive_period: (local_lease / keep_alive.max(1))
                .clamp(Duration::from_millis(1), LONGEST),
            remote_lease: remote_lease.min(LONGEST),
            last_rx: now,
            last_tx: now,
        }
    }

    /// Something was read from the link at `now`.
    pub fn handle_rx(&mut self, now: Instant) {
        self.last_rx = self.last_rx.max(now);
    }

    /// Something was written to the link at `now`.
    pub fn handle_tx(&mut self, now: Instant) {
        self.last_tx = self.last_tx.max(now);
    }

    /// When the link expires if nothing is read before.
    pub fn expiry(&self) -> Instant {
        self.last_rx + self.remote_lease
    }

    /// When a keep-alive is due if nothing is written before.
    pub fn keep_alive_due(&self) -> Instant {
        self.last_tx + self.keep_alive_period
    }

    /// The next instant at which [`Lease::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Instant {
        self.expiry().min(self.keep_alive_due())
    }

    /// What to do at `now`. Expiry wins over a due keep-alive. After `SendKeepAlive`
    /// the keep-alive counts as written at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<LeaseAction> {
        if now >= self.expiry() {
            return Some(LeaseAction::Expired);
        }
        if now >= self.keep_alive_due() {
            self.handle_tx(now);
            return Some(LeaseAction::SendKeepAlive);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn keep_alive_every_quarter_lease_while_idle() {
        let t0 = Instant::now();
        let mut l = Lease::new(ms(1000), 4, ms(10_000), t0);
        assert_eq!(l.poll_timeout(), t0 + ms(250));
        assert_eq!(l.handle_timeout(t0 + ms(249)), None);
        assert_eq!(
            l.handle_timeout(t0 + ms(250)),
            Some(LeaseAction::SendKeepAlive)
        );
        assert_eq!(l.poll_timeout(), t0 + ms(500));
        // Data written in between postpones the next keep-alive.
        l.handle_tx(t0 + ms(400));
        assert_eq!(l.handle_timeout(t0 + ms(500)), None);
        assert_eq!(l.poll_timeout(), t0 + ms(650));
    }

    #[test]
    fn expires_after_the_remote_lease_without_input() {
        let t0 = Instant::now();
        let mut l = Lease::new(ms(10_000), 4, ms(1000), t0);
        assert_eq!(l.poll_timeout(), t0 + ms(1000));
        l.handle_rx(t0 + ms(900));
        assert_eq!(l.handle_timeout(t0 + ms(1000)), None);
        assert_eq!(l.poll_timeout(), t0 + ms(1900));
        assert_eq!(l.handle_timeout(t0 + ms(1900)), Some(LeaseAction::Expired));
    }

    #[test]
    fn expiry_wins_over_a_due_keep_alive() {
        let t0 = Instant::now();
        let mut l = Lease::new(ms(400), 4, ms(100), t0);
        assert_eq!(l.handle_timeout(t0 + ms(150)), Some(LeaseAction::Expired));
    }

    #[test]
    fn two_sides_with_keep_alives_never_expire() {
        // A with a 1 s lease, B with 10 s; each side's keep-alives feed the other's rx.
        let t0 = Instant::now();
        let mut a = Lease::new(ms(1000), 4, ms(10_000), t0);
        let mut b = Lease::new(ms(10_000), 4, ms(1000), t0);
        let mut now = t0;
        for _ in 0..1000 {
            now = a.poll_timeout().min(b.poll_timeout());
            if let Some(action) = a.handle_timeout(now) {
                assert_eq!(
                    action,
                    LeaseAction::SendKeepAlive,
                    "A expired at {:?}",
                    now - t0
                );
                b.handle_rx(now);
            }
            if let Some(action) = b.handle_timeout(now) {
                assert_eq!(
                    action,
                    LeaseAction::SendKeepAlive,
                    "B expired at {:?}",
                    now - t0
                );
                a.handle_rx(now);
            }
        }
        assert!(now - t0 >= Duration::from_secs(60), "simulated a minute");
    }

    #[test]
    fn a_silent_peer_expires_exactly_once_its_lease_is_over() {
        let t0 = Instant::now();
        let mut a = Lease::new(ms(1000), 4, ms(500), t0);
        let mut keep_alives = 0;
        let expired_at = loop {
            let now = a.poll_timeout();
            match a.handle_timeout(now) {
                Some(LeaseAction::SendKeepAlive) => keep_alives += 1,
                Some(LeaseAction::Expired) => break now,
                None => {}
            }
        };
        assert_eq!(expired_at - t0, ms(500));
        // One at 250 ms; at 500 ms the expiry wins over the second.
        assert_eq!(keep_alives, 1);
    }

    #[test]
    fn any_lease_value_is_safe() {
        // u64::MAX seconds (what OPEN can carry) must not overflow an instant.
        let t0 = Instant::now();
        let huge = Duration::from_secs(u64::MAX);
        let mut l = Lease::new(huge, 1, huge, t0);
        assert_eq!(l.expiry(), t0 + LONGEST);
        assert_eq!(l.keep_alive_due(), t0 + LONGEST);
        assert_eq!(l.handle_timeout(t0 + ms(1)), None);
        let mut z = Lease::new(Duration::ZERO, 0, Duration::ZERO, t0);
        assert_eq!(z.handle_timeout(t0), Some(LeaseAction::Expired));
    }
}
