//! Where a decision gets time and randomness: the passive-health clock, the Unix time of
//! staged rollouts, and the random numbers of weighted picks. The engine owns one set;
//! [`crate::EngineBuilder`] lets tests and simulations inject their own.

use std::cell::Cell;
use std::sync::Arc;

use crate::health::{Clock, SystemClock};

/// A source of uniformly random `u64`s (weighted random selection, Nepxion gray picks).
pub type RandomFn = Arc<dyn Fn() -> u64 + Send + Sync>;
/// A source of the current Unix time in milliseconds (staged rollouts).
pub type UnixTimeFn = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The engine's time and randomness.
pub(crate) struct Sources {
    clock: Arc<dyn Clock>,
    unix_ms: UnixTimeFn,
    random: RandomFn,
}

impl Sources {
    /// The given sources, or the system's for those left out.
    pub(crate) fn new(
        clock: Option<Arc<dyn Clock>>,
        unix_ms: Option<UnixTimeFn>,
        random: Option<RandomFn>,
    ) -> Sources {
        Sources {
            clock: clock.unwrap_or_else(|| Arc::new(SystemClock)),
            unix_ms: unix_ms.unwrap_or_else(|| Arc::new(system_unix_ms)),
            random: random.unwrap_or_else(|| Arc::new(thread_random)),
        }
    }

    /// Monotonic milliseconds (passive health).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Unix milliseconds (staged rollouts).
    #[inline]
    pub(crate) fn unix_ms(&self) -> u64 {
        (self.unix_ms)()
    }

    /// A random `u64`.
    #[inline]
    pub(crate) fn random(&self) -> u64 {
        (self.random)()
    }
}

thread_local! {
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// The default random source: a per-thread xorshift64* generator seeded from the OS-seeded
/// `RandomState`. Not cryptographic; it only spreads load.
pub fn thread_random() -> u64 {
    RNG.with(|c| {
        let mut x = c.get();
        if x == 0 {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_usize(&c as *const _ as usize);
            x = h.finish() | 1;
        }
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        c.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn system_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
