//! Locks whose holders never leave their data half-written (every write
//! under them is one assignment, insert or push): a holder that panicked
//! left it whole, so it is used, never silently dropped.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
