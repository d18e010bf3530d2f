//! The clock the benchmarks measure with.
//!
//! The benchmark machine is shared, so wall-clock time includes every moment another
//! process holds the CPU. By default the benchmarks therefore measure the **CPU time of the
//! measuring thread** (`CLOCK_THREAD_CPUTIME_ID`): the cost of the code itself, independent of
//! how busy the machine is. `GRAY_BENCH_CLOCK=wall` switches to wall-clock time (criterion's
//! usual measurement), which is what a quiet, dedicated machine would show.

use std::time::{Duration, Instant};

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{Criterion, Throughput};

/// Which time a measurement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockKind {
    /// CPU time consumed by the calling thread.
    ThreadCpu,
    /// Wall-clock time.
    Wall,
}

impl ClockKind {
    /// From `GRAY_BENCH_CLOCK` (`wall` or `cpu`, default `cpu`).
    pub fn from_env() -> ClockKind {
        match std::env::var("GRAY_BENCH_CLOCK").as_deref() {
            Ok("wall") => ClockKind::Wall,
            _ => ClockKind::ThreadCpu,
        }
    }

    /// A point in time of this clock.
    pub fn now(self) -> Stamp {
        match self {
            ClockKind::Wall => Stamp::Wall(Instant::now()),
            ClockKind::ThreadCpu => Stamp::Cpu(thread_cpu()),
        }
    }
}

/// A reading of a [`ClockKind`].
#[derive(Debug, Clone, Copy)]
pub enum Stamp {
    /// Wall clock.
    Wall(Instant),
    /// Thread CPU time since the thread started.
    Cpu(Duration),
}

impl Stamp {
    /// Time elapsed on the same clock since this reading.
    pub fn elapsed(self) -> Duration {
        match self {
            Stamp::Wall(i) => i.elapsed(),
            Stamp::Cpu(d) => thread_cpu().saturating_sub(d),
        }
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes to it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A criterion [`Measurement`] reading a [`ClockKind`].
#[derive(Debug, Clone, Copy)]
pub struct BenchClock(pub ClockKind);

impl Measurement for BenchClock {
    type Intermediate = Stamp;
    type Value = Duration;

    fn start(&self) -> Stamp {
        self.0.now()
    }
    fn end(&self, i: Stamp) -> Duration {
        i.elapsed()
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Formats nanoseconds as ns / µs / ms / s.
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (div, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e3, "µs")
        } else if typical < 1e9 {
            (1e6, "ms")
        } else {
            (1e9, "s")
        };
        values.iter_mut().for_each(|v| *v /= div);
        unit
    }

    fn scale_throughputs(&self, typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                n as f64
            }
        };
        let _ = typical;
        values.iter_mut().for_each(|v| *v = per * 1e9 / *v);
        "/s"
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// The criterion configuration of every gray benchmark: the [`BenchClock`] chosen by
/// `GRAY_BENCH_CLOCK`, 1 s warm-up and 3 s measurement (command-line flags still override).
pub fn criterion() -> Criterion<BenchClock> {
    Criterion::default()
        .with_measurement(BenchClock(ClockKind::from_env()))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_clock_advances_with_work() {
        let t = ClockKind::ThreadCpu.now();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(t.elapsed() > Duration::ZERO, "{x}");
        let mut v = [1500.0, 2500.0];
        assert_eq!(Nanos.scale_values(2000.0, &mut v), "µs");
        assert_eq!(v, [1.5, 2.5]);
    }
}
