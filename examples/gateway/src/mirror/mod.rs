//! Sending mirror copies beside the requests they copy (see `gray_core::mirror`).
//!
//! The client's request is answered exactly as without a mirror: the copy is spawned as its own
//! task, its response is read to the end and dropped, and nothing the copy does (a slow or
//! dead mirror node, a timeout) reaches the client. Bounds keep a mirror from costing more than
//! it is allowed: at most `max_in_flight` copies of one mirror run at once (one more is dropped
//! and counted, never queued), each within its `timeout`; a request body is copied only while
//! it stays within `max_body` — the client's body streams to the primary node as it arrives,
//! and a copy whose body grows past the limit is dropped, so the primary never waits for it.
//!
//! Counters on `/metrics`: `gray_gateway_mirror_requests_total{mirror,result}` (`ok`, `failed`,
//! `timeout`), `gray_gateway_mirror_dropped_total{mirror,reason}` (`in_flight`,
//! `body_too_large`, `method`, `no_node`), `gray_gateway_mirror_compared_total`,
//! `gray_gateway_mirror_differences_total` and the histogram
//! `gray_gateway_mirror_duration_seconds`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use gray_core::mirror::Mirroring;
use hyper_util::client::legacy::Client;
use tokio::sync::Semaphore;

use crate::upstream_tls::{Connector, UpstreamTls};

mod send;
mod shared;
mod tap;

pub(crate) use send::Ticket;
use shared::*;

/// Sends the copies of one gateway.
#[derive(Clone)]
pub struct Mirrors {
    shared: Arc<Shared>,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl std::fmt::Debug for Mirrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirrors").finish_non_exhaustive()
    }
}

impl Mirrors {
    /// Copies go out with `client` (the proxy's connector: HTTPS nodes as `upstream_tls`
    /// says).
    pub(crate) fn new(connector: Connector, upstream_tls: UpstreamTls) -> Mirrors {
        Mirrors {
            shared: Arc::new(Shared {
                client: Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector),
                upstream_tls,
                latest: Mutex::default(),
            }),
            entries: Arc::default(),
        }
    }

    /// The entry of `mirror`, made on first use; with `bound`, its in-flight bound is brought
    /// in line with the config (a new semaphore: copies in flight finish on the old one; the
    /// counters carry on). Allocates only the first time a mirror is seen.
    fn entry(&self, mirror: &str, bound: Option<u32>) -> Entry {
        let mut map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = map.get_mut(mirror) {
            if let Some(bound) = bound.filter(|b| *b != e.bound) {
                e.slots = Arc::new(Semaphore::new(bound as usize));
                e.bound = bound;
            }
            return e.clone();
        }
        let bound = bound.unwrap_or(1);
        let e = Entry {
            slots: Arc::new(Semaphore::new(bound as usize)),
            bound,
            counts: Arc::default(),
            latency: Arc::default(),
        };
        map.insert(mirror.to_string(), e.clone());
        e
    }

    /// What to do with the request the proxy is about to send: `None` when nothing is copied;
    /// else a ticket that takes the request's parts and body. Counts skipped copies.
    pub(crate) fn ticket(&self, mirroring: Option<Mirroring>) -> Option<Ticket> {
        match mirroring? {
            Mirroring::Skipped { mirror, reason } => {
                let e = self.entry(&mirror, None);
                let i = match reason {
                    gray_core::mirror::SkipReason::Method => METHOD,
                    gray_core::mirror::SkipReason::NoNode => NO_NODE,
                };
                e.counts[i].fetch_add(1, Ordering::Relaxed);
                None
            }
            Mirroring::Send(plan) => {
                let e = self.entry(&plan.mirror, Some(plan.max_in_flight));
                match e.slots.clone().try_acquire_owned() {
                    Ok(permit) => Some(Ticket {
                        plan: *plan,
                        entry: e,
                        permit,
                        shared: self.shared.clone(),
                    }),
                    Err(_) => {
                        e.counts[IN_FLIGHT].fetch_add(1, Ordering::Relaxed);
                        None
                    }
                }
            }
        }
    }

    /// The latest differing pairs (newest last), values of secret headers redacted.
    pub fn latest(&self) -> Vec<serde_json::Value> {
        self.shared.latest()
    }

    /// The counters in the Prometheus text format.
    pub fn write_prometheus(&self, out: &mut String) {
        let map = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        out.push_str("# HELP gray_gateway_mirror_requests_total Mirror copies sent, by result (the copy's answer is discarded).\n# TYPE gray_gateway_mirror_requests_total counter\n");
        for name in &names {
            for (i, result) in [(OK, "ok"), (FAILED, "failed"), (TIMEOUT, "timeout")] {
                let _ = writeln!(
                    out,
                    "gray_gateway_mirror_requests_total{{mirror=\"{name}\",result=\"{result}\"}} {}",
                    map[*name].counts[i].load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP gray_gateway_mirror_compared_total Copies whose answer was compared with the primary's, by result (`not_compared`: a body past the limit, or the primary's answer was not complete).\n# TYPE gray_gateway_mirror_compared_total counter\n");
        for name in &names {
            let c = &map[*name].counts;
            let same = c[COMPARED].load(Ordering::Relaxed) - c[DIFFERING].load(Ordering::Relaxed);
            for (result, n) in [
                ("same", same),
                ("different", c[DIFFERING].load(Ordering::Relaxed)),
                ("not_compared", c[UNCOMPARED].load(Ordering::Relaxed)),
            ] {
                let _ = writeln!(
                    out,
                    "gray_gateway_mirror_compared_total{{mirror=\"{name}\",result=\"{result}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP gray_gateway_mirror_differences_total Differences of copies from the primary (noise left out), by kind.\n# TYPE gray_gateway_mirror_differences_total counter\n");
        for name in &names {
            for (i, kind) in [
                (D_STATUS, "status"),
                (D_HEADER, "header"),
                (D_FIELD, "field"),
                (D_BODY, "body"),
            ] {
                let _ = writeln!(
                    out,
                    "gray_gateway_mirror_differences_total{{mirror=\"{name}\",kind=\"{kind}\"}} {}",
                    map[*name].counts[i].load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP gray_gateway_mirror_duration_seconds How long mirror copies took, from sending to the end of the answer (or the failure).\n# TYPE gray_gateway_mirror_duration_seconds histogram\n");
        for name in &names {
            map[*name].latency.write(name, out);
        }
        out.push_str("# HELP gray_gateway_mirror_dropped_total Requests a mirror sampled but did not copy, by reason.\n# TYPE gray_gateway_mirror_dropped_total counter\n");
        for name in &names {
            for (i, reason) in [
                (IN_FLIGHT, "in_flight"),
                (BODY, "body_too_large"),
                (METHOD, "method"),
                (NO_NODE, "no_node"),
            ] {
                let _ = writeln!(
                    out,
                    "gray_gateway_mirror_dropped_total{{mirror=\"{name}\",reason=\"{reason}\"}} {}",
                    map[*name].counts[i].load(Ordering::Relaxed)
                );
            }
        }
    }
}
