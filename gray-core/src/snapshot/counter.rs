//! Request and failure counters, shared by a snapshot's rules and groups and carried across
//! reloads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Request and failure counters of a rule or group.
#[derive(Debug, Default)]
pub struct Counter {
    pub(crate) requests: AtomicU64,
    pub(crate) failures: AtomicU64,
}

impl Counter {
    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
    /// Failures counted.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
