//! Time on the shortcut without a timer per request: one sleep per connection, armed at most
//! the shortest limit ahead, checked against the phase's real deadline when it fires (the way
//! nginx keeps its timers coarse); and the `Date` header, formatted once a second per thread.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, Sleep};

/// A connection's one sleep.
pub(crate) struct Clock {
    sleep: Pin<Box<Sleep>>,
    /// The shortest limit any phase uses: the sleep is never armed further ahead.
    step: Duration,
}

impl Clock {
    pub(crate) fn new(step: Duration) -> Clock {
        let step = step.max(Duration::from_millis(1));
        Clock {
            sleep: Box::pin(tokio::time::sleep(step)),
            step,
        }
    }

    /// Runs `f` until it finishes (`Some`) or `deadline` passes (`None`). The deadline may be
    /// anything at least [`Clock::new`]'s `step` from now, or earlier once the sleep has
    /// fired: the sleep fires at most `step` after it was last armed, and is armed again for
    /// `min(deadline, now + step)` while the deadline is ahead.
    pub(crate) async fn within<F: Future>(&mut self, deadline: Instant, f: F) -> Option<F::Output> {
        tokio::pin!(f);
        loop {
            tokio::select! {
                biased;
                r = &mut f => return Some(r),
                () = self.sleep.as_mut() => {
                    let now = Instant::now();
                    if now >= deadline {
                        self.sleep.as_mut().reset(now + self.step);
                        return None;
                    }
                    self.sleep.as_mut().reset(deadline.min(now + self.step));
                }
            }
        }
    }
}

thread_local! {
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `date: <now, IMF-fixdate>\r\n`.
pub(crate) fn write_date(out: &mut Vec<u8>) {
    let now = SystemTime::now();
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            d.1 = httpdate::fmt_http_date(now);
            d.0 = secs;
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(d.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}
