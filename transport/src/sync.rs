//! Small synchronisation helpers shared by the crate's modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the guard even if a thread panicked while holding it: the panic
/// is not passed on to every later user of the lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
