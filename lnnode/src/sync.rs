//! Locks whose holders write whole values (one push, insert or
//! assignment): a holder that panicked left the data whole, so it is used,
//! never silently dropped.

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
