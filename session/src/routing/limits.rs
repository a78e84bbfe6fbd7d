//! Limits on what one face (a remote process) may declare to us: Plexus's own bounds
//! (Zenoh has none), so that a hostile or broken peer cannot make the session hold
//! unbounded routing state.
//!
//! Every subscriber, queryable, liveliness token, token interest and key-expression id
//! a face declares counts as one declaration, and its key (the resolved key
//! expression) counts its bytes. A declaration whose key is longer than
//! [`MAX_KEY_EXPR_LEN`], or that would take the face beyond [`MAX_DECLARATIONS`] or
//! [`MAX_DECLARED_BYTES`], is refused: it is not applied (nothing is routed for it)
//! and the transport carries on, since closing it would make every other
//! declaration and message of a process that merely declared too much fail with it.
//! Zenoh has no way to tell the peer; the refusal is logged at WARN, the first one of
//! a face at once and then at most one line per [`REFUSAL_LOG_INTERVAL`] with the
//! count of the others. Undeclaring frees the room; closing the face frees all.

use std::time::{Duration, Instant};

/// The most declarations one face may hold at once.
pub(crate) const MAX_DECLARATIONS: usize = 100_000;
/// The longest key expression a face may declare, in bytes.
pub(crate) const MAX_KEY_EXPR_LEN: usize = 4096;
/// The most key bytes one face's declarations may hold together.
pub(crate) const MAX_DECLARED_BYTES: usize = 16 << 20;
/// At most one log line about a face's refused declarations per this interval.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a declaration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("its key expression of {len} bytes is longer than {MAX_KEY_EXPR_LEN} bytes")]
    KeyTooLong { len: usize },
    #[error("the process already holds {MAX_DECLARATIONS} declarations")]
    TooMany,
    #[error(
        "the process's declarations would hold more than {MAX_DECLARED_BYTES} bytes of key \
         expressions"
    )]
    TooManyBytes,
}

/// One face's count of declarations and key bytes, and its refusal log.
#[derive(Debug, Default)]
pub(crate) struct DeclBudget {
    count: usize,
    bytes: usize,
    refused: u64,
    last_log: Option<Instant>,
}

impl DeclBudget {
    /// Admits a declaration with a key of `len` bytes, replacing one whose key had
    /// `replaced` bytes if the id was in use; counts it if admitted.
    pub(crate) fn admit(&mut self, replaced: Option<usize>, len: usize) -> Result<(), Refused> {
        if len > MAX_KEY_EXPR_LEN {
            return Err(Refused::KeyTooLong { len });
        }
        let count = self.count + usize::from(replaced.is_none());
        if count > MAX_DECLARATIONS {
            return Err(Refused::TooMany);
        }
        let bytes = self.bytes - replaced.unwrap_or(0) + len;
        if bytes > MAX_DECLARED_BYTES {
            return Err(Refused::TooManyBytes);
        }
        self.count = count;
        self.bytes = bytes;
        Ok(())
    }

    /// A declaration with a key of `len` bytes was withdrawn.
    pub(crate) fn release(&mut self, len: usize) {
        self.count = self.count.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(len);
    }

    /// A declaration was refused at `now`: `Some(others)` when a line is due, with how
    /// many refusals went unlogged since the last one.
    pub(crate) fn refused(&mut self, now: Instant) -> Option<u64> {
        let due = self
            .last_log
            .is_none_or(|t| now.saturating_duration_since(t) >= REFUSAL_LOG_INTERVAL);
        if due {
            self.last_log = Some(now);
            Some(std::mem::take(&mut self.refused))
        } else {
            self.refused += 1;
            None
        }
    }

    /// Declarations held.
    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Key bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Logs a refused declaration of `what` (e.g. "subscriber 7") on `key` from `zid`,
/// within the face's log budget.
pub(crate) fn log_refusal(
    zid: &dyn std::fmt::Display,
    budget: &mut DeclBudget,
    what: std::fmt::Arguments<'_>,
    key: &str,
    why: Refused,
) {
    match budget.refused(Instant::now()) {
        Some(0) => tracing::warn!("from {zid}: refused {what} on `{}`: {why}", shown(key)),
        Some(n) => tracing::warn!(
            "from {zid}: refused {what} on `{}`: {why} ({n} more refusals since the last line)",
            shown(key)
        ),
        None => tracing::debug!("from {zid}: refused {what} on `{}`: {why}", shown(key)),
    }
}

/// A key for a log line: at most 64 characters of it.
pub(crate) fn shown(key: &str) -> String {
    match key.char_indices().nth(64) {
        Some((i, _)) => format!("{}… ({} bytes)", &key[..i], key.len()),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_replacements_and_releases() {
        let mut b = DeclBudget::default();
        b.admit(None, 10).unwrap();
        b.admit(None, 20).unwrap();
        assert_eq!((b.count(), b.bytes()), (2, 30));
        // The same id declared again replaces: one declaration, the new key's bytes.
        b.admit(Some(20), 5).unwrap();
        assert_eq!((b.count(), b.bytes()), (2, 15));
        b.release(5);
        assert_eq!((b.count(), b.bytes()), (1, 10));
    }

    #[test]
    fn refuses_long_keys_too_many_and_too_many_bytes() {
        let mut b = DeclBudget::default();
        assert_eq!(
            b.admit(None, MAX_KEY_EXPR_LEN + 1),
            Err(Refused::KeyTooLong {
                len: MAX_KEY_EXPR_LEN + 1
            })
        );
        assert_eq!(b.count(), 0);
        let per = MAX_KEY_EXPR_LEN;
        let fit = MAX_DECLARED_BYTES / per;
        for _ in 0..fit {
            b.admit(None, per).unwrap();
        }
        assert_eq!(b.admit(None, per), Err(Refused::TooManyBytes));
        assert_eq!(b.bytes(), fit * per);
        // Short keys still fit until the count is reached.
        let mut c = DeclBudget::default();
        for _ in 0..MAX_DECLARATIONS {
            c.admit(None, 1).unwrap();
        }
        assert_eq!(c.admit(None, 1), Err(Refused::TooMany));
        // A replacement adds no declaration.
        assert_eq!(c.admit(Some(1), 2), Ok(()));
        c.release(2);
        assert_eq!(c.admit(None, 1), Ok(()));
    }

    #[test]
    fn one_line_per_interval() {
        let t0 = Instant::now();
        let mut b = DeclBudget::default();
        assert_eq!(b.refused(t0), Some(0));
        for _ in 0..1000 {
            assert_eq!(b.refused(t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(b.refused(t0 + REFUSAL_LOG_INTERVAL), Some(1000));
    }

    #[test]
    fn long_keys_are_shortened_in_logs() {
        assert_eq!(shown("a/b"), "a/b");
        let long = "k".repeat(5000);
        let s = shown(&long);
        assert!(s.starts_with(&"k".repeat(64)));
        assert!(s.ends_with("(5000 bytes)"));
    }
}
