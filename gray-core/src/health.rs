//! Passive health checking with nginx's `max_fails` / `fail_timeout` semantics.
//!
//! Every node of a group owns a [`NodeHealth`]: a handful of atomics that the
//! request path updates with the outcome of each request ([`NodeHealth::report`])
//! and consults before a node is offered to a selector
//! ([`NodeHealth::is_available`]). There are no locks and no allocation; the
//! caller supplies the time in milliseconds (see [`Clock`]) so that behaviour is
//! deterministic under test.
//!
//! # Behaviour (modelled on nginx's round-robin peer bookkeeping)
//!
//! nginx keeps, per peer, a failure counter and two timestamps (the time of the
//! last failure and the time the peer was last "checked"). A peer whose failure
//! count has reached `max_fails` is skipped by the balancer until `fail_timeout`
//! has passed since it was last checked; then it becomes eligible again. The
//! first request that is sent to it after that moves the "checked" time forward,
//! so only that one request goes through until its outcome is known. When the
//! request succeeds the counter is reset and the peer is fully back; when it
//! fails the counter is still at (or above) `max_fails`, so the peer is skipped
//! again at once for another `fail_timeout`. A success only clears the counter
//! when it comes after a "check" that is later than the last failure, i.e. a
//! success that races with a burst of failures does not hide them.
//!
//! This module follows that model, expressed with millisecond timestamps:
//!
//! * **Counting window.** The first failure opens a window of `fail_timeout`
//!   (the half-open interval `[first_failure, first_failure + fail_timeout)`).
//!   Failures inside the window are added up. A failure after the window has
//!   closed (while the node is not ejected) starts a new window with a count of
//!   1, so failures spread over more than `fail_timeout` never eject a node. This
//!   is what nginx documents for `max_fails`; nginx's code itself only forgets
//!   old failures when a *success* arrives after the window, which we do too.
//! * **Ejection.** When the count reaches `max_fails` the node is *tripped*: it
//!   is unavailable ([`HealthState::Down`]) until `fail_timeout` after the last
//!   failure.
//! * **Half-open.** Once that time has passed the node is available again but
//!   still tripped ([`HealthSnapshot::probing`]). A success then resets the count
//!   to 0 (fully healthy); another failure keeps the count at or above
//!   `max_fails` and so ejects the node again immediately, for another
//!   `fail_timeout`. To let exactly one trial request through, as nginx does,
//!   call [`NodeHealth::on_selected`] when the node is picked: the first pick in
//!   the half-open state claims the trial and keeps the node unavailable for
//!   another `fail_timeout` unless a success arrives first. Without that call
//!   every request is let through while half-open until the first outcome is
//!   reported.
//! * **Successes** inside the counting window (or while ejected, e.g. a slow
//!   request that was sent before the ejection) do not reset the count, as in
//!   nginx.
//! * `max_fails == 0` disables ejection; failures are still counted for
//!   [`NodeHealth::snapshot`].
//! * When every node of a group is unavailable nginx marks them all live again
//!   ("quick recovery"); callers that want this can call [`NodeHealth::revive`]
//!   on each node when selection finds nothing.
//!
//! # Concurrency
//!
//! All state lives in independent atomics. Timestamps are only moved forward
//! (`fetch_max`) and the failure count is updated with compare-and-swap loops,
//! so concurrent reports never panic and never leave an impossible state. A
//! race can at worst let one extra request through to a node that is being
//! ejected, or lose one failure at the exact moment a counting window rolls
//! over.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use gray_core::health::{Clock, HealthPolicy, HealthState, ManualClock, NodeHealth};
//!
//! let policy = HealthPolicy { max_fails: 2, fail_timeout: Duration::from_secs(10) };
//! let clock = ManualClock::new(0);
//! let node = NodeHealth::new();
//!
//! node.report(&policy, false, clock.now_ms());
//! assert!(node.is_available(&policy, clock.now_ms())); // 1 failure < max_fails
//! clock.advance(1_000);
//! node.report(&policy, false, clock.now_ms()); // 2nd failure inside the window
//! assert!(!node.is_available(&policy, clock.now_ms()));
//! assert_eq!(
//!     node.snapshot(&policy, clock.now_ms()).state,
//!     HealthState::Down { until_ms: 11_000 }
//! );
//!
//! clock.set(11_000); // fail_timeout after the last failure: half-open
//! assert!(node.is_available(&policy, clock.now_ms()));
//! node.report(&policy, true, clock.now_ms()); // trial request succeeded
//! assert_eq!(node.snapshot(&policy, clock.now_ms()).fails, 0);
//! ```

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// A source of monotonic time in milliseconds.
///
/// The health functions take `now_ms` as an argument; a `Clock` is the usual
/// way to obtain it. Use [`SystemClock`] in production and [`ManualClock`] in
/// tests.
pub trait Clock: Send + Sync {
    /// Milliseconds since an arbitrary, fixed origin. Never decreases.
    fn now_ms(&self) -> u64;
}

/// The real monotonic clock: milliseconds since the first time any
/// `SystemClock` was read in this process (effectively process start).
///
/// It never goes backwards and ignores wall-clock changes. On Linux it reads the kernel's
/// coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`, through the `coarsetime` crate; the other
/// systems' equivalents elsewhere), which costs a few nanoseconds instead of the twenty or so
/// of a precise read, at the resolution of the kernel tick (1 to 4 ms usually). Every reading
/// gray takes is compared with `fail_timeout`s of seconds, ejection periods and 10-second
/// live-window slots, where a tick does not matter, and one is taken on every recorded
/// outcome.
///
/// ```
/// use gray_core::health::{Clock, SystemClock};
///
/// let a = SystemClock.now_ms();
/// std::thread::sleep(std::time::Duration::from_millis(30));
/// let b = SystemClock.now_ms();
/// assert!(b >= a + 20, "{a} then {b}");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl SystemClock {
    /// Creates the clock (a zero-sized handle; all instances share one origin).
    pub const fn new() -> Self {
        SystemClock
    }
}

impl Clock for SystemClock {
    #[inline]
    fn now_ms(&self) -> u64 {
        static ORIGIN: OnceLock<coarsetime::Instant> = OnceLock::new();
        let now = coarsetime::Instant::now_without_cache_update();
        now.duration_since(*ORIGIN.get_or_init(|| now)).as_millis()
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// Creates a clock that reads `start_ms`.
    pub const fn new(start_ms: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_ms),
        }
    }

    /// Moves the clock forward by `ms` (saturating) and returns the new time.
    pub fn advance(&self, ms: u64) -> u64 {
        let prev = self
            .now
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(ms))
            })
            .unwrap_or_else(|t| t);
        prev.saturating_add(ms)
    }

    /// Sets the clock to `ms`. Tests may move it backwards; the health code
    /// tolerates that (it uses saturating arithmetic) but real clocks never do.
    pub fn set(&self, ms: u64) {
        self.now.store(ms, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}

/// Passive health-check parameters of one node (nginx's `server ... max_fails=N
/// fail_timeout=T`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HealthPolicy {
    /// Number of failures within `fail_timeout` that make the node unavailable.
    /// `0` disables ejection entirely.
    pub max_fails: u32,
    /// Both the length of the failure-counting window and how long an ejected
    /// node stays unavailable after its last failure.
    pub fail_timeout: Duration,
}

impl HealthPolicy {
    /// Creates a policy.
    pub const fn new(max_fails: u32, fail_timeout: Duration) -> Self {
        HealthPolicy {
            max_fails,
            fail_timeout,
        }
    }

    /// `fail_timeout` in whole milliseconds (saturating at `u64::MAX`).
    pub fn fail_timeout_ms(&self) -> u64 {
        u64::try_from(self.fail_timeout.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a failure count of `fails` has tripped this policy.
    fn tripped(&self, fails: u32) -> bool {
        self.max_fails != 0 && fails >= self.max_fails
    }
}

impl Default for HealthPolicy {
    /// nginx's defaults: `max_fails=1 fail_timeout=10s`.
    fn default() -> Self {
        HealthPolicy::new(1, Duration::from_secs(10))
    }
}

/// Whether a node may receive requests, as seen by [`NodeHealth::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HealthState {
    /// Available (healthy, or half-open: see [`HealthSnapshot::probing`]).
    Up,
    /// Ejected after too many failures; available again at `until_ms`.
    Down {
        /// Time (same clock as `now_ms`) at which the node becomes eligible
        /// for a trial request.
        until_ms: u64,
    },
}

/// A point-in-time view of one node's health, for status pages and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HealthSnapshot {
    /// Up or down (with the end of the ejection).
    pub state: HealthState,
    /// Failures in the current counting window (0 once the window has passed
    /// without tripping); while tripped, the failures since the trip began.
    pub fails: u32,
    /// `true` when the node's ejection has ended but no success has been seen
    /// yet (half-open): it is available, and one more failure ejects it again.
    pub probing: bool,
    /// Requests counted with [`NodeHealth::count_request`].
    pub total_requests: u64,
    /// Failures ever reported with [`NodeHealth::report`].
    pub total_failures: u64,
}

/// Lock-free passive health state of one node.
///
/// See the [module documentation](self) for the exact semantics.
#[derive(Debug, Default)]
pub struct NodeHealth {
    /// Failures in the current window, or since the node tripped.
    fails: AtomicU32,
    /// Time of the failure that opened the current counting window.
    window_start_ms: AtomicU64,
    /// Time of the most recent failure (nginx's `accessed`).
    last_fail_ms: AtomicU64,
    /// Anchor of the ejection: the later of the last failure and the last
    /// half-open trial claimed by [`NodeHealth::on_selected`] (nginx's
    /// `checked`).
    checked_ms: AtomicU64,
    total_requests: AtomicU64,
    total_failures: AtomicU64,
}

impl NodeHealth {
    /// A healthy node with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one request sent to this node (for [`HealthSnapshot::total_requests`]).
    /// Independent of [`report`](Self::report), which records outcomes.
    #[inline]
    pub fn count_request(&self) {
        self.total_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the outcome of one request to this node at time `now_ms`.
    ///
    /// `ok == false` counts a failure (and may eject the node); `ok == true`
    /// resets the failure count when the counting window, or the ejection that
    /// followed the last failure, is over.
    pub fn report(&self, policy: &HealthPolicy, ok: bool, now_ms: u64) {
        let timeout = policy.fail_timeout_ms();
        if ok {
            self.report_success(policy, timeout, now_ms);
        } else {
            self.report_failure(policy, timeout, now_ms);
        }
    }

    fn report_success(&self, policy: &HealthPolicy, timeout: u64, now_ms: u64) {
        let fails = self.fails.load(Ordering::Acquire);
        if fails == 0 {
            return;
        }
        let reset = if policy.tripped(fails) {
            // The trial request after an ejection (or any request completing
            // after the ejection that followed the last failure).
            now_ms
                >= self
                    .last_fail_ms
                    .load(Ordering::Acquire)
                    .saturating_add(timeout)
        } else {
            now_ms
                >= self
                    .window_start_ms
                    .load(Ordering::Acquire)
                    .saturating_add(timeout)
        };
        if reset {
            // Only if no failure slipped in meanwhile.
            let _ = self
                .fails
                .compare_exchange(fails, 0, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    fn report_failure(&self, policy: &HealthPolicy, timeout: u64, now_ms: u64) {
        self.total_failures.fetch_add(1, Ordering::Relaxed);
        // Timestamps first, so that a reader who sees the new count also sees
        // the ejection anchor that goes with it.
        self.last_fail_ms.fetch_max(now_ms, Ordering::AcqRel);
        self.checked_ms.fetch_max(now_ms, Ordering::AcqRel);
        let mut cur = self.fails.load(Ordering::Acquire);
        loop {
            let window_start = self.window_start_ms.load(Ordering::Acquire);
            let new_window = cur == 0
                || (!policy.tripped(cur) && now_ms >= window_start.saturating_add(timeout));
            let next = if new_window { 1 } else { cur.saturating_add(1) };
            match self
                .fails
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if new_window {
                        self.window_start_ms.store(now_ms, Ordering::Release);
                    }
                    return;
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts one failure in [`HealthSnapshot::total_failures`] only: the failure
    /// window and the ejection state are left alone, so this never ejects the node (the
    /// engine uses it for the last available node of a group without a fallback).
    pub fn count_failure(&self) {
        self.total_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether the node may be offered to a selector at `now_ms`: it has not
    /// tripped, or its ejection has ended (half-open), or `max_fails == 0`.
    #[inline]
    pub fn is_available(&self, policy: &HealthPolicy, now_ms: u64) -> bool {
        if !policy.tripped(self.fails.load(Ordering::Acquire)) {
            return true;
        }
        now_ms >= self.down_until(policy)
    }

    /// Whether the node is ejected or half-open (its availability then depends on the time).
    /// While it is not, [`is_available`](Self::is_available) and
    /// [`on_selected`](Self::on_selected) do not read `now_ms`.
    #[inline]
    pub(crate) fn is_tripped(&self, policy: &HealthPolicy) -> bool {
        policy.tripped(self.fails.load(Ordering::Acquire))
    }

    /// Tells the health state that this node was chosen for a request at
    /// `now_ms`. Returns `true` when this choice is the single half-open trial
    /// request: the node then stays unavailable for another `fail_timeout`
    /// unless that request reports success first (nginx's behaviour). Returns
    /// `false` (and changes nothing) in every other state.
    ///
    /// Calling this is optional; see the [module documentation](self).
    #[inline]
    pub fn on_selected(&self, policy: &HealthPolicy, now_ms: u64) -> bool {
        if !policy.tripped(self.fails.load(Ordering::Acquire)) {
            return false;
        }
        let checked = self.checked_ms.load(Ordering::Acquire);
        if now_ms < checked.saturating_add(policy.fail_timeout_ms()) {
            return false;
        }
        self.checked_ms
            .compare_exchange(checked, now_ms, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Clears the failure count so the node is immediately and fully available.
    ///
    /// nginx does this to every peer of a group when all of them are
    /// unavailable, so that traffic resumes as soon as possible; an operator
    /// action may use it too. Totals are kept.
    pub fn revive(&self) {
        self.fails.store(0, Ordering::Release);
    }

    /// A consistent-enough view of the node at `now_ms` (fields are read one
    /// by one, so a concurrent update may be half visible).
    pub fn snapshot(&self, policy: &HealthPolicy, now_ms: u64) -> HealthSnapshot {
        let fails = self.fails.load(Ordering::Acquire);
        let timeout = policy.fail_timeout_ms();
        let (state, probing, fails_now) = if policy.tripped(fails) {
            let until_ms = self.down_until(policy);
            if now_ms < until_ms {
                (HealthState::Down { until_ms }, false, fails)
            } else {
                (HealthState::Up, true, fails)
            }
        } else {
            let start = self.window_start_ms.load(Ordering::Acquire);
            let in_window = fails > 0 && now_ms < start.saturating_add(timeout);
            (HealthState::Up, false, if in_window { fails } else { 0 })
        };
        HealthSnapshot {
            state,
            fails: fails_now,
            probing,
            total_requests: self.total_requests.load(Ordering::Relaxed),
            total_failures: self.total_failures.load(Ordering::Relaxed),
        }
    }

    /// End of the current ejection (meaningful only while tripped).
    fn down_until(&self, policy: &HealthPolicy) -> u64 {
        self.checked_ms
            .load(Ordering::Acquire)
            .saturating_add(policy.fail_timeout_ms())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::thread;

    fn policy(max_fails: u32, secs: u64) -> HealthPolicy {
        HealthPolicy::new(max_fails, Duration::from_secs(secs))
    }

    #[test]
    fn failures_within_window_eject() {
        let p = policy(3, 10);
        let h = NodeHealth::new();
        h.report(&p, false, 1_000);
        h.report(&p, false, 5_000);
        assert!(h.is_available(&p, 5_000));
        h.report(&p, false, 10_999); // still inside [1000, 11000)
        assert!(!h.is_available(&p, 10_999));
        let s = h.snapshot(&p, 11_000);
        assert_eq!(s.state, HealthState::Down { until_ms: 20_999 });
        assert_eq!(s.fails, 3);
        assert_eq!(s.total_failures, 3);
        assert!(!s.probing);
    }

    #[test]
    fn fewer_failures_do_not_eject() {
        let p = policy(3, 10);
        let h = NodeHealth::new();
        h.report(&p, false, 0);
        h.report(&p, false, 1);
        assert!(h.is_available(&p, 2));
        let s = h.snapshot(&p, 2);
        assert_eq!(s.state, HealthState::Up);
        assert_eq!(s.fails, 2);
        // Window expires: fails reported as 0.
        assert_eq!(h.snapshot(&p, 10_000).fails, 0);
    }

    #[test]
    fn failures_spread_over_more_than_fail_timeout_do_not_eject() {
        let p = policy(2, 10);
        let h = NodeHealth::new();
        for i in 0..20u64 {
            h.report(&p, false, i * 10_000); // each at the window's edge
            assert!(h.is_available(&p, i * 10_000), "ejected at {i}");
        }
        // A second failure 1 ms before the last window closes does eject.
        h.report(&p, false, 199_999);
        assert!(!h.is_available(&p, 199_999));
    }

    #[test]
    fn success_within_window_does_not_reset_but_after_window_does() {
        let p = policy(2, 10);
        let h = NodeHealth::new();
        h.report(&p, false, 0);
        h.report(&p, true, 5_000);
        assert_eq!(h.snapshot(&p, 5_000).fails, 1);
        h.report(&p, false, 9_000); // second failure in window: ejected
        assert!(!h.is_available(&p, 9_000));

        let h = NodeHealth::new();
        h.report(&p, false, 0);
        h.report(&p, true, 10_000);
        assert_eq!(h.fails.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn node_returns_after_fail_timeout() {
        let p = policy(1, 10);
        let h = NodeHealth::new();
        h.report(&p, false, 100);
        assert!(!h.is_available(&p, 100));
        assert!(!h.is_available(&p, 10_099));
        assert!(h.is_available(&p, 10_100));
        let s = h.snapshot(&p, 10_100);
        assert_eq!(s.state, HealthState::Up);
        assert!(s.probing);
    }

    #[test]
    fn half_open_failure_ejects_again_success_restores() {
        let p = policy(3, 10);
        let h = NodeHealth::new();
        for t in [0, 1, 2] {
            h.report(&p, false, t);
        }
        assert!(!h.is_available(&p, 5_000));
        // Half-open at 10_002; a single failure ejects again.
        assert!(h.is_available(&p, 10_002));
        h.report(&p, false, 10_003);
        assert!(!h.is_available(&p, 10_003));
        assert_eq!(
            h.snapshot(&p, 10_003).state,
            HealthState::Down { until_ms: 20_003 }
        );
        // A success while still ejected (late response) does not restore.
        h.report(&p, true, 15_000);
        assert!(!h.is_available(&p, 15_000));
        // Half-open again; a success restores fully.
        assert!(h.is_available(&p, 20_003));
        h.report(&p, true, 20_010);
        let s = h.snapshot(&p, 20_010);
        assert_eq!(s.state, HealthState::Up);
        assert_eq!(s.fails, 0);
        assert!(!s.probing);
        // Fully restored: a single failure no longer ejects.
        h.report(&p, false, 20_020);
        assert!(h.is_available(&p, 20_020));
    }

    #[test]
    fn on_selected_lets_one_trial_through() {
        let p = policy(1, 10);
        let h = NodeHealth::new();
        h.report(&p, false, 0);
        assert!(!h.on_selected(&p, 5_000)); // still down: no trial
        assert!(h.is_available(&p, 10_000));
        assert!(h.on_selected(&p, 10_000)); // first pick claims the trial
        assert!(!h.on_selected(&p, 10_000)); // only one
        assert!(!h.is_available(&p, 10_001)); // others wait for its outcome
        h.report(&p, true, 10_050);
        assert!(h.is_available(&p, 10_051));
        assert!(!h.on_selected(&p, 10_051)); // healthy: not a trial

        // A trial that never reports keeps the node out for another timeout,
        // then the next trial is allowed.
        let h = NodeHealth::new();
        h.report(&p, false, 0);
        assert!(h.on_selected(&p, 10_000));
        assert!(!h.is_available(&p, 19_999));
        assert!(h.is_available(&p, 20_000));
        // A trial failure ejects again from the failure time.
        assert!(h.on_selected(&p, 20_000));
        h.report(&p, false, 20_500);
        assert_eq!(
            h.snapshot(&p, 20_500).state,
            HealthState::Down { until_ms: 30_500 }
        );
    }

    #[test]
    fn max_fails_zero_never_ejects() {
        let p = policy(0, 10);
        let h = NodeHealth::new();
        for t in 0..1_000 {
            h.report(&p, false, t);
            assert!(h.is_available(&p, t));
            assert!(!h.on_selected(&p, t));
        }
        let s = h.snapshot(&p, 999);
        assert_eq!(s.state, HealthState::Up);
        assert_eq!(s.fails, 1_000);
        assert_eq!(s.total_failures, 1_000);
    }

    #[test]
    fn zero_fail_timeout_never_keeps_node_down() {
        let p = HealthPolicy::new(1, Duration::ZERO);
        let h = NodeHealth::new();
        h.report(&p, false, 7);
        assert!(h.is_available(&p, 7));
        h.report(&p, true, 7);
        assert_eq!(h.snapshot(&p, 7).fails, 0);
    }

    #[test]
    fn revive_and_counters() {
        let p = policy(1, 10);
        let h = NodeHealth::new();
        h.count_request();
        h.count_request();
        h.report(&p, false, 0);
        assert!(!h.is_available(&p, 1));
        h.revive();
        assert!(h.is_available(&p, 1));
        let s = h.snapshot(&p, 1);
        assert_eq!((s.total_requests, s.total_failures, s.fails), (2, 1, 0));
    }

    #[test]
    fn backwards_time_does_not_panic() {
        let p = policy(2, 10);
        let h = NodeHealth::new();
        h.report(&p, false, u64::MAX - 1);
        h.report(&p, false, 3);
        h.report(&p, true, 0);
        let _ = h.snapshot(&p, 0);
        let _ = h.is_available(&p, u64::MAX);
        let _ = h.on_selected(&p, u64::MAX);
    }

    #[test]
    fn concurrent_reports_are_consistent() {
        let p = policy(3, 10);
        let h = Arc::new(NodeHealth::new());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let h = Arc::clone(&h);
                thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.count_request();
                        // Same instant for everyone: all failures land in one
                        // window; successes inside it must not reset anything.
                        h.report(&p, i % 4 == 0, 1_000);
                        let _ = h.is_available(&p, 1_000);
                        let _ = h.on_selected(&p, 1_000);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("reporter thread panicked");
        }
        let s = h.snapshot(&p, 1_000);
        assert_eq!(s.total_requests, 80_000);
        assert_eq!(s.total_failures, 60_000);
        assert_eq!(s.fails, 60_000);
        assert_eq!(s.state, HealthState::Down { until_ms: 11_000 });
        // After the window, one success fully restores.
        h.report(&p, true, 11_000);
        let s = h.snapshot(&p, 11_000);
        assert_eq!((s.state, s.fails), (HealthState::Up, 0));
    }

    #[test]
    fn concurrent_reports_with_moving_clock() {
        let p = policy(5, 1);
        let clock = Arc::new(ManualClock::new(0));
        let h = Arc::new(NodeHealth::new());
        let threads: Vec<_> = (0..8u64)
            .map(|k| {
                let h = Arc::clone(&h);
                let clock = Arc::clone(&clock);
                thread::spawn(move || {
                    for i in 0..5_000u64 {
                        let now = clock.advance(1);
                        h.report(&p, (i + k) % 3 == 0, now);
                        let _ = h.on_selected(&p, now);
                        let _ = h.snapshot(&p, now);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("reporter thread panicked");
        }
        let now = clock.now_ms();
        let s = h.snapshot(&p, now);
        assert!(u64::from(s.fails) <= s.total_failures);
        // Quiet period then a success: healthy again.
        let later = clock.advance(10_000);
        h.report(&p, true, later);
        let s = h.snapshot(&p, later);
        assert_eq!((s.state, s.fails, s.probing), (HealthState::Up, 0, false));
    }

    #[test]
    fn clocks() {
        let c = ManualClock::new(5);
        assert_eq!(c.advance(10), 15);
        c.set(3);
        assert_eq!(c.now_ms(), 3);
        c.set(u64::MAX);
        assert_eq!(c.advance(1), u64::MAX);
        let s = SystemClock::new();
        let a = s.now_ms();
        let b = s.now_ms();
        assert!(b >= a);
        let dynamic: &dyn Clock = &s;
        assert!(dynamic.now_ms() >= b);
    }

    #[test]
    fn policy_defaults_match_nginx() {
        let p = HealthPolicy::default();
        assert_eq!(p.max_fails, 1);
        assert_eq!(p.fail_timeout_ms(), 10_000);
        assert_eq!(
            HealthPolicy::new(1, Duration::MAX).fail_timeout_ms(),
            u64::MAX
        );
    }
}
