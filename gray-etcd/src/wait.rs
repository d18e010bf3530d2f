//! Waiting on a value behind a mutex, woken by a condition variable: sleeps that a stop cuts
//! short, and waits for a predicate (shared by the source and the registration threads).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Locks, ignoring poisoning (the values guarded stay consistent on a panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Waits until `pred` holds for the value, `stop` is set, or `timeout` passes; returns
/// whether `pred` held.
pub(crate) fn wait_until<T>(
    m: &Mutex<T>,
    cv: &Condvar,
    stop: Option<&AtomicBool>,
    timeout: Duration,
    pred: impl Fn(&T) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let mut g = lock(m);
    loop {
        if pred(&g) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline || stop.is_some_and(|s| s.load(Ordering::SeqCst)) {
            return false;
        }
        g = cv
            .wait_timeout(g, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Sleeps for `d` unless `stop` is set first (the setter notifies `cv`).
pub(crate) fn sleep<T>(m: &Mutex<T>, cv: &Condvar, stop: &AtomicBool, d: Duration) {
    wait_until(m, cv, Some(stop), d, |_| false);
}
