//! Reconnect delays: exponential, capped, with jitter so that a fleet does not reconnect in
//! lock-step after a Redis outage.

use std::time::Duration;

/// Exponential backoff with "equal jitter": each delay is uniformly random in
/// `[d/2, d]`, where `d` doubles from `initial` up to `max`.
///
/// ```
/// use std::time::Duration;
/// use gray_redis::Backoff;
///
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
/// let first = b.next_delay();
/// assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
/// for _ in 0..10 { b.next_delay(); }
/// assert!(b.next_delay() <= Duration::from_secs(1));
/// b.reset();
/// assert!(b.next_delay() <= Duration::from_millis(100));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    /// Starts at `initial` and never exceeds `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let initial = initial.max(Duration::from_millis(1)).min(max);
        Backoff {
            initial,
            max,
            current: initial,
        }
    }

    /// The next delay to wait.
    pub fn next_delay(&mut self) -> Duration {
        self.next_with(gray_core::thread_random())
    }

    /// The next delay with the random value supplied (deterministic tests).
    pub fn next_with(&mut self, random: u64) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = d / 2;
        let span = u64::try_from((d - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(if span == 0 { 0 } else { random % (span + 1) })
    }

    /// Back to `initial` (after a successful connection).
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_caps_and_jitters_within_bounds() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        assert_eq!(b.next_with(0), ms(50));
        // d = 200 ms: 100 ms plus up to 100 ms of jitter.
        assert_eq!(b.next_with(100_000), ms(200));
        assert_eq!(b.next_with(0), ms(200));
        assert_eq!(b.next_with(0), ms(400));
        assert_eq!(b.next_with(0), ms(500));
        assert_eq!(b.next_with(0), ms(500));
        for r in [1u64, 7, 123_456_789, u64::MAX] {
            let d = b.next_with(r);
            assert!(d >= ms(500) && d <= ms(1000), "{d:?}");
        }
        b.reset();
        assert_eq!(b.next_with(0), ms(50));
    }
}
