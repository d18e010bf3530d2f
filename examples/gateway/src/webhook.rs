//! Rollout webhooks: after each judgement tick, every new transition of a judged rollout whose
//! `analysis.webhook` is set is POSTed there as JSON:
//! `{"group": "web", "transition": {"at_unix_ms": …, "from": {…}, "to": {"state": "aborted"},
//! "reason": "…"}, "status": {…}}`. Delivery is best effort: one attempt with a 5 s timeout, a
//! failure is logged and counted, never retried (the history stays in `/api/rollouts`).
//! `https://` URLs are verified against the CA of `--upstream-ca`, else the bundled Mozilla
//! roots (the upstreams' trust, [`crate::UpstreamTls`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gray_core::Engine;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::upstream_tls::Connector;

/// Delivery counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct WebhookStats {
    /// POSTs answered with a 2xx.
    pub delivered: AtomicU64,
    /// POSTs that failed (connect error, timeout, non-2xx).
    pub failed: AtomicU64,
}

/// Sends the transitions not sent yet.
pub(crate) struct Webhooks {
    client: Client<Connector, Full<Bytes>>,
    /// Per group: transitions seen so far.
    seen: HashMap<String, u64>,
    stats: Arc<WebhookStats>,
}

impl Webhooks {
    pub(crate) fn new(stats: Arc<WebhookStats>, tls: rustls::ClientConfig) -> Webhooks {
        Webhooks {
            client: Client::builder(TokioExecutor::new())
                .build(Connector::new(tls, Duration::from_secs(5))),
            seen: HashMap::new(),
            stats,
        }
    }

    /// Posts the transitions made since the last call.
    pub(crate) fn after_tick(&mut self, engine: &Engine) {
        let snap = engine.snapshot();
        for status in engine.rollouts() {
            let seen = self.seen.entry(status.group.clone()).or_insert(0);
            let new = status.transitions.saturating_sub(*seen);
            *seen = status.transitions;
            if new == 0 {
                continue;
            }
            let url = snap
                .spec()
                .groups
                .get(&status.group)
                .and_then(|g| g.rollout.as_ref())
                .and_then(|r| r.analysis.as_ref())
                .and_then(|a| a.webhook.clone());
            let Some(url) = url else { continue };
            let skip = status.history.len().saturating_sub(new as usize);
            for t in status.history.iter().skip(skip) {
                let body = serde_json::json!({
                    "group": status.group,
                    "transition": t,
                    "status": status,
                });
                self.post(&url, body.to_string());
            }
        }
    }

    fn post(&self, url: &str, body: String) {
        let req = http::Request::post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        let Ok(req) = req else {
            tracing::warn!(url, "rollout webhook: not a valid URL");
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let client = self.client.clone();
        let stats = self.stats.clone();
        let url = url.to_string();
        tokio::spawn(async move {
            match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
                Ok(Ok(resp)) if resp.status().is_success() => {
                    stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Ok(resp)) => {
                    tracing::warn!(
                        url,
                        status = resp.status().as_u16(),
                        "rollout webhook refused"
                    );
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Err(e)) => {
                    tracing::warn!(url, error = %e, "rollout webhook failed");
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    tracing::warn!(url, "rollout webhook timed out");
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
}
