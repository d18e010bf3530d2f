//! A live sample: a bounded ring of recent requests, for what-if on real traffic.
//!
//! Off by default. When on ([`crate::Engine::set_sampling`]), one request in `every` that
//! [`crate::Engine::decide`] routes is copied into a ring of at most `capacity` requests and
//! `max_bytes` bytes; the oldest leave first. A copy keeps only what the running config reads:
//! method, path and host; the cookies, headers and query parameters its rules, keys and
//! expressions name; the peer address and the forwarded-address header only when the config
//! looks at the client IP. Other cookies (sessions), headers (credentials) and parameters are
//! never copied. A candidate that tests a field the live config does not read sees it missing
//! in the sample; a recorded file ([`crate::what_if::parse_requests`]) has no such limit.
//!
//! Cost: when off, one relaxed atomic load per decision. When on, one atomic add, and for a
//! sampled request a `try_lock` (a busy ring skips the request rather than wait) and the copy.
//!
//! ```
//! use gray_core::{sample::SampleConfig, Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! groups: { stable: {}, canary: {} }
//! rules: [{ id: c, when: { cookie: { name: canary, equals: "1" } }, route: canary }]
//! default: stable
//! "#, Format::Yaml)?;
//! engine.set_sampling(Some(SampleConfig { every: 1, ..SampleConfig::default() }))?;
//! let req = SimpleRequest::new("192.0.2.1".parse()?)
//!     .with_cookie("canary", "1")
//!     .with_cookie("session", "secret");
//! engine.decide(&req);
//! let kept = engine.sample();
//! assert_eq!(kept[0].cookies, [("canary".to_string(), "1".to_string())]);
//! assert!(kept[0].peer.is_unspecified(), "the config reads no client IP");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod needs;

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::request::{query, RequestView, SimpleRequest};
use crate::snapshot::Snapshot;
use needs::Needs;

/// How much of the traffic a live sample keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SampleConfig {
    /// Keep one request in this many (1: every request).
    pub every: u32,
    /// The most requests kept.
    pub capacity: usize,
    /// The most bytes of request text kept (method, path, query, host, names and values).
    pub max_bytes: usize,
}

impl Default for SampleConfig {
    /// One in 100, at most 10 000 requests and 8 MiB.
    fn default() -> Self {
        SampleConfig {
            every: 100,
            capacity: 10_000,
            max_bytes: 8 << 20,
        }
    }
}

impl SampleConfig {
    fn check(&self) -> Result<()> {
        let bad = |field: &str, why: &str| {
            Err(Error::at(
                ErrorKind::InvalidValue,
                format!("sample.{field}"),
                why.to_string(),
            ))
        };
        if self.every == 0 {
            return bad("every", "must be at least 1 (1 keeps every request)");
        }
        if self.capacity == 0 {
            return bad("capacity", "must be at least 1 (turn sampling off instead)");
        }
        if self.max_bytes == 0 {
            return bad("max_bytes", "must be at least 1");
        }
        Ok(())
    }
}

/// The state of the live sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleStats {
    /// The configuration, or `None` when sampling is off.
    pub config: Option<SampleConfig>,
    /// Requests in the ring.
    pub kept: usize,
    /// Bytes they hold.
    pub bytes: usize,
    /// Requests offered since sampling was turned on (every decision).
    pub seen: u64,
    /// Requests copied into the ring since then (older ones may have left it).
    pub sampled: u64,
}

struct Ring {
    config: Option<SampleConfig>,
    items: VecDeque<(SimpleRequest, usize)>,
    bytes: usize,
    sampled: u64,
    /// What the snapshot of this generation reads.
    needs: Option<(u64, Arc<Needs>)>,
}

/// The sampler an engine owns.
pub(crate) struct Sampler {
    /// 0: off.
    every: AtomicU32,
    seen: AtomicU64,
    ring: Mutex<Ring>,
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler {
            every: AtomicU32::new(0),
            seen: AtomicU64::new(0),
            ring: Mutex::new(Ring {
                config: None,
                items: VecDeque::new(),
                bytes: 0,
                sampled: 0,
                needs: None,
            }),
        }
    }
}

impl Sampler {
    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Turns sampling on with `config` (emptying the ring), or off (`None`, dropping it).
    pub(crate) fn configure(&self, config: Option<SampleConfig>) -> Result<()> {
        if let Some(c) = &config {
            c.check()?;
        }
        let mut ring = self.lock();
        ring.config = config;
        ring.items = VecDeque::new();
        ring.bytes = 0;
        ring.sampled = 0;
        self.seen.store(0, Ordering::Relaxed);
        self.every
            .store(config.map_or(0, |c| c.every), Ordering::Relaxed);
        Ok(())
    }

    /// Offers a routed request: the whole cost when sampling is off is this load.
    #[inline]
    pub(crate) fn offer<R: RequestView + ?Sized>(&self, snap: &Snapshot, req: &R) {
        let every = self.every.load(Ordering::Relaxed);
        if every != 0 {
            self.offer_on(every, snap, req);
        }
    }

    #[cold]
    #[inline(never)]
    fn offer_on<R: RequestView + ?Sized>(&self, every: u32, snap: &Snapshot, req: &R) {
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        if n % u64::from(every) != 0 {
            return;
        }
        // A request never waits for the ring.
        let Ok(mut ring) = self.ring.try_lock() else {
            return;
        };
        let Some(config) = ring.config else { return };
        let needs = match &ring.needs {
            Some((g, n)) if *g == snap.generation => n.clone(),
            _ => {
                let n = Arc::new(Needs::of(&snap.spec));
                ring.needs = Some((snap.generation, n.clone()));
                n
            }
        };
        let copy = capture(req, &needs);
        let size = bytes(&copy);
        if size > config.max_bytes {
            return;
        }
        ring.items.push_back((copy, size));
        ring.bytes += size;
        ring.sampled += 1;
        while ring.items.len() > config.capacity || ring.bytes > config.max_bytes {
            match ring.items.pop_front() {
                Some((_, s)) => ring.bytes -= s,
                None => break,
            }
        }
    }

    /// The requests in the ring, oldest first.
    pub(crate) fn requests(&self) -> Vec<SimpleRequest> {
        self.lock().items.iter().map(|(r, _)| r.clone()).collect()
    }

    pub(crate) fn stats(&self) -> SampleStats {
        let ring = self.lock();
        SampleStats {
            config: ring.config,
            kept: ring.items.len(),
            bytes: ring.bytes,
            seen: self.seen.load(Ordering::Relaxed),
            sampled: ring.sampled,
        }
    }
}

/// The parts of `req` that `needs` names.
fn capture<R: RequestView + ?Sized>(req: &R, needs: &Needs) -> SimpleRequest {
    let peer = match needs.client_ip {
        true => req.peer_ip(),
        false => None,
    };
    let mut out = SimpleRequest::new(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    out.method = req.method().to_string();
    out.path = req.path().to_string();
    out.host = req.host().map(str::to_string);
    if let Some(q) = req.query() {
        let mut kept = String::new();
        query::for_each_pair(q, |k, v| {
            if needs.query.contains(&*query::decode(k)) {
                if !kept.is_empty() {
                    kept.push('&');
                }
                kept.push_str(k);
                kept.push('=');
                kept.push_str(v);
            }
        });
        if !kept.is_empty() {
            out.query = Some(kept);
        }
    }
    for name in &needs.headers {
        req.for_each_header(name, &mut |v| {
            out.headers.push((name.clone(), v.to_string()));
            true
        });
    }
    for name in &needs.cookies {
        if let Some(v) = req.cookie(name) {
            out.cookies.push((name.clone(), v.to_string()));
        }
    }
    out
}

fn bytes(r: &SimpleRequest) -> usize {
    let pairs = |v: &[(String, String)]| v.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    r.method.len()
        + r.path.len()
        + r.query.as_ref().map_or(0, String::len)
        + r.host.as_ref().map_or(0, String::len)
        + pairs(&r.headers)
        + pairs(&r.cookies)
}

#[cfg(test)]
mod tests;
