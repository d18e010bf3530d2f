//! The state every admin handler shares.

use std::sync::Arc;

use gray_core::Engine;

use crate::proxy::ProxyStats;
use crate::reload::Reloader;
use crate::webhook::WebhookStats;

/// Shared state of the admin API. `Debug` never shows the token.
#[derive(Clone)]
pub struct AdminState {
    pub(super) engine: Arc<Engine>,
    pub(super) reloader: Reloader,
    pub(super) token: Option<Arc<str>>,
    pub(super) proxy_stats: Option<Arc<ProxyStats>>,
    pub(super) redis: Option<Arc<gray_redis::RedisSource>>,
    pub(super) webhooks: Option<Arc<WebhookStats>>,
    pub(super) legacy_get: bool,
    /// The Redis URL and namespace of a fleet whose rollouts are judged together: rollout
    /// calls then move the fleet's state.
    pub(super) fleet: Option<(String, String)>,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("generation", &self.engine.generation())
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("legacy_get", &self.legacy_get)
            .finish_non_exhaustive()
    }
}

impl AdminState {
    /// State for `engine`; `token` protects every API route when set.
    pub fn new(engine: Arc<Engine>, reloader: Reloader, token: Option<String>) -> Self {
        AdminState {
            engine,
            reloader,
            token: token.map(Into::into),
            proxy_stats: None,
            redis: None,
            webhooks: None,
            legacy_get: false,
            fleet: None,
        }
    }

    /// Also reports rollout webhook deliveries on `/metrics`.
    pub fn with_webhook_stats(mut self, stats: Arc<WebhookStats>) -> Self {
        self.webhooks = Some(stats);
        self
    }

    /// Also serves the seed-style `GET /upstream_add`, `/upstream_remove` and
    /// `/upstream_list` (off by default: a `GET` that changes state can be triggered by any
    /// web page).
    pub fn with_legacy_get(mut self, on: bool) -> Self {
        self.legacy_get = on;
        self
    }

    /// Also reports the Redis source on `/api/status` and `/metrics`.
    pub fn with_redis(mut self, source: Arc<gray_redis::RedisSource>) -> Self {
        self.redis = Some(source);
        self
    }

    /// Rollout calls move the fleet's rollout (Redis `url`, `namespace`) rather than this
    /// engine's alone.
    pub fn with_fleet(mut self, url: String, namespace: String) -> Self {
        self.fleet = Some((url, namespace));
        self
    }

    /// Also exports the proxy's failure and retry counters on `/metrics`.
    pub fn with_proxy_stats(mut self, stats: Arc<ProxyStats>) -> Self {
        self.proxy_stats = Some(stats);
        self
    }
}
