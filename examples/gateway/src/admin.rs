//! The admin HTTP API (a separate listener, loopback by default) and the admin web page.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /` | the admin page (HTML + JS, no build step) |
//! | `GET /api/status` | generation, config source, reload counters and last reload error, Redis source state |
//! | `GET /api/groups` | every group with its nodes, health, weights and counters |
//! | `GET /api/groups/{group}` | one group |
//! | `GET /api/rollouts` | every rollout with an `analysis` section: state, step, failing intervals, last judgement, history |
//! | `POST /api/rollouts/{group}/{action}` | `pause`, `resume`, `promote` or `abort` the group's judged rollout |
//! | `GET /api/traffic` | live windows (last two minutes) per group, node and rule: requests, errors, error rate, p50/p90/p99 latency |
//! | `POST /api/groups/{group}/nodes` | add a node: `{"address": "10.0.0.5:8080", "weight": 2}` (a node spec) |
//! | `DELETE /api/groups/{group}/nodes/{address}` | remove a node |
//! | `PUT /api/groups/{group}/nodes/{address}/weight` | `{"weight": 5}` (0..=10000) |
//! | `PUT /api/groups/{group}/nodes/{address}/drain` | `{"drain": true}` |
//! | `GET /upstream_add?upstream=NAME&server=ADDR[&weight=N]` | seed-style alias of adding (only with [`AdminState::with_legacy_get`]) |
//! | `GET /upstream_remove?upstream=NAME&server=ADDR` | alias of removing (without `upstream`: from every group holding it; legacy, as above) |
//! | `GET /upstream_list?upstream=NAME` | alias of `GET /api/groups/{group}` (legacy, as above) |
//! | `POST /api/reload` | re-read the config source; with a body: apply that YAML/JSON config |
//! | `GET /api/config` | the running config as YAML |
//! | `GET /api/lints` | the running config's lint warnings (`kind`, `rule`, `message`, `path`, `file`, `line`, `column`; see `gray_core::lint`) |
//! | `POST /api/explain[?format=text]` | explain the decision for a described request (`SimpleRequest` JSON) |
//! | `POST /api/what-if` | how a candidate config would route given requests, without applying it: `{"config": "...", "format": "yaml", "requests": [...]}` → the group transition matrix, per-rule takes and losses, and the candidate's lints |
//! | `GET /metrics` | Prometheus text (engine counters, reloads — TLS certificates too — upstream failures, retries, Redis source) |
//!
//! Changes answer `{"generation": N}`. Every change is validated by compiling the new config;
//! bad input answers **400** with the error text and changes nothing. When a token is
//! configured every route except `/` needs `Authorization: Bearer TOKEN` (else **401**; the
//! scheme is case-insensitive, RFC 9110 §11.1).
//!
//! # Who may change what (cross-site requests and DNS rebinding)
//!
//! A browser lets any page send some requests to any address — `POST` with a `text/plain` or
//! form body, `GET` of an image — without asking the server first. The admin API therefore
//! accepts a change only when a browser could not have sent it on behalf of another site:
//!
//! * **`POST` changes carry `Content-Type: application/json`** (for `/api/reload` also
//!   `application/yaml`, `application/x-yaml` or `application/toml`) **or an `X-Gray-Admin`
//!   header**; both make a browser ask first (CORS preflight), which this API never grants.
//!   Otherwise **415**. `PUT` and `DELETE` always need that preflight. `POST /api/explain`
//!   changes nothing and is exempt.
//! * **Changes from another site are refused** (**403**): `Sec-Fetch-Site` other than
//!   `same-origin` or `none`, or an `Origin` whose host differs from `Host`.
//! * **Without a token, `Host` must be this machine's name for itself** — an IP literal,
//!   `localhost` or a `*.localhost` name — so a hostile DNS name re-pointed at 127.0.0.1
//!   (DNS rebinding) is refused (**403**) even for reads. With a token, any `Host` is served.
//! * The seed-style `GET` aliases change state with a `GET`, which any page can trigger:
//!   they are off unless enabled ([`AdminState::with_legacy_get`], the gateway's
//!   `--admin-legacy-get`), and even then cross-site requests are refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use gray_core::spec::NodeSpec;
use gray_core::{Engine, RolloutAction, SimpleRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::proxy::ProxyStats;
use crate::reload::Reloader;
use crate::webhook::WebhookStats;

const PAGE: &str = include_str!("admin.html");

/// Shared state of the admin API. `Debug` never shows the token.
#[derive(Clone)]
pub struct AdminState {
    engine: Arc<Engine>,
    reloader: Reloader,
    token: Option<Arc<str>>,
    proxy_stats: Option<Arc<ProxyStats>>,
    redis: Option<Arc<gray_redis::RedisSource>>,
    webhooks: Option<Arc<WebhookStats>>,
    legacy_get: bool,
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

    /// Also exports the proxy's failure and retry counters on `/metrics`.
    pub fn with_proxy_stats(mut self, stats: Arc<ProxyStats>) -> Self {
        self.proxy_stats = Some(stats);
        self
    }
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/groups", get(groups))
        .route("/api/groups/{group}", get(group))
        .route("/api/traffic", get(traffic))
        .route("/api/rollouts", get(rollouts))
        .route("/api/rollouts/{group}/{action}", post(rollout_action))
        .route("/api/groups/{group}/nodes", post(add_node))
        .route(
            "/api/groups/{group}/nodes/{address}",
            axum::routing::delete(remove_node),
        )
        .route(
            "/api/groups/{group}/nodes/{address}/weight",
            put(set_weight).post(set_weight),
        )
        .route(
            "/api/groups/{group}/nodes/{address}/drain",
            put(drain).post(drain),
        )
        .route("/api/reload", post(reload))
        .route("/api/config", get(config))
        .route("/api/lints", get(lints))
        .route("/api/explain", post(explain))
        .route("/api/what-if", post(what_if))
        .route("/metrics", get(metrics))
        .route("/upstream_add", get(upstream_add))
        .route("/upstream_remove", get(upstream_remove))
        .route("/upstream_list", get(upstream_list))
        .route_layer(from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .merge(api)
        .layer(from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    (status, format!("{why}\n")).into_response()
}

/// The host part of a `Host` value (`[::1]:80` → `::1`, `a.example:80` → `a.example`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

/// A name a local client uses for this machine, which a DNS answer cannot re-point: an IP
/// literal, `localhost` or a `*.localhost` name (RFC 6761).
fn is_own_name(host: &str) -> bool {
    let name = host_name(host);
    let lower = name.to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok()
        || lower == "localhost"
        || lower.ends_with(".localhost")
}

/// A change of state (rather than a read).
fn is_change(req: &Request) -> bool {
    match *req.method() {
        Method::GET | Method::HEAD => {
            matches!(req.uri().path(), "/upstream_add" | "/upstream_remove")
        }
        Method::POST => req.uri().path() != "/api/explain",
        _ => true,
    }
}

/// The request's `Host` (HTTP/2: the authority).
fn request_host(req: &Request) -> Option<&str> {
    req.uri().authority().map(|a| a.as_str()).or_else(|| {
        req.headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
    })
}

/// Content types a browser cannot send cross-origin without a preflight, accepted on `POST`.
fn preflighted_type(req: &Request) -> bool {
    let Some(ct) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => true,
        "application/yaml" | "application/x-yaml" | "application/toml" => {
            req.uri().path() == "/api/reload"
        }
        _ => false,
    }
}

/// Refuses cross-site changes, changes a browser could send without a preflight, and (without
/// a token) requests for a `Host` that is not this machine's own name; see the module docs.
async fn guard(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let host = request_host(&req).map(str::to_owned);
    if s.token.is_none() {
        if let Some(h) = host.as_deref().filter(|h| !is_own_name(h)) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "admin API: Host {h:?} is not a local name of this listener (DNS \
                     rebinding protection); use an IP address or localhost, or start the \
                     gateway with --admin-token"
                ),
            );
        }
    }
    if is_change(&req) {
        let site = req
            .headers()
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok());
        if let Some(site) = site.filter(|v| !matches!(*v, "same-origin" | "none")) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!(
                    "admin API: refusing a change sent from another site (Sec-Fetch-Site: {site})"
                ),
            );
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            let origin_host = origin
                .split_once("://")
                .map(|(_, rest)| rest.trim_end_matches('/'));
            let same = match (origin_host, host.as_deref()) {
                (Some(o), Some(h)) => o.eq_ignore_ascii_case(h),
                _ => false,
            };
            if !same {
                return refuse(
                    StatusCode::FORBIDDEN,
                    format!("admin API: refusing a change from origin {origin:?}, which is not this admin listener"),
                );
            }
        }
        if req.method() == Method::POST
            && !preflighted_type(&req)
            && !req.headers().contains_key("x-gray-admin")
        {
            let accepted = if req.uri().path() == "/api/reload" {
                "application/json, application/yaml or application/toml"
            } else {
                "application/json"
            };
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "admin API: a POST that changes state needs Content-Type {accepted}, or an \
                     X-Gray-Admin header (a browser cannot send either from another site \
                     without asking first)"
                ),
            );
        }
    }
    if !s.legacy_get
        && matches!(
            req.uri().path(),
            "/upstream_add" | "/upstream_remove" | "/upstream_list"
        )
    {
        return refuse(
            StatusCode::NOT_FOUND,
            "the seed-style GET endpoints are off: use POST /api/groups/{group}/nodes and \
             DELETE /api/groups/{group}/nodes/{address}, or start the gateway with \
             --admin-legacy-get",
        );
    }
    next.run(req).await
}

/// Byte-wise comparison whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer TOKEN` value; the scheme is case-insensitive.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn auth(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|g| same_secret(g.as_bytes(), token.as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "admin token required: send Authorization: Bearer <token>\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

fn bad(e: impl std::fmt::Display) -> Response {
    (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
}

fn changed(result: gray_core::Result<u64>) -> Response {
    match result {
        Ok(generation) => Json(serde_json::json!({ "generation": generation })).into_response(),
        Err(e) => bad(e),
    }
}

fn parse_json<T: DeserializeOwned>(body: &Bytes, what: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("invalid {what} JSON: {e}"))
}

async fn status(State(s): State<AdminState>) -> Response {
    let mut body = serde_json::json!({
        "generation": s.engine.generation(),
        "config": s.reloader.source().describe(),
        "reload": s.reloader.status(),
        "lints": s.engine.snapshot().lints().len(),
    });
    if let Some(source) = &s.redis {
        let st = source.status();
        body["redis"] = serde_json::json!({
            "namespace": st.namespace,
            "connected": st.connected,
            "in_sync": st.in_sync,
            "origin": st.origin.as_str(),
            "last_applied_generation": st.last_applied_generation,
            "last_error": st.last_error.map(|e| e.to_string()),
            "log_id": st.log_id,
            "ip_set_members": st.ip_set_members,
        });
    }
    Json(body).into_response()
}

async fn lints(State(s): State<AdminState>) -> Response {
    Json(s.engine.lints()).into_response()
}

async fn groups(State(s): State<AdminState>) -> Response {
    Json(s.engine.groups()).into_response()
}

async fn rollouts(State(s): State<AdminState>) -> Response {
    Json(s.engine.rollouts()).into_response()
}

async fn rollout_action(
    State(s): State<AdminState>,
    Path((group, action)): Path<(String, String)>,
) -> Response {
    let action = match action.as_str() {
        "pause" => RolloutAction::Pause,
        "resume" => RolloutAction::Resume,
        "promote" => RolloutAction::Promote,
        "abort" => RolloutAction::Abort,
        other => {
            return (
                StatusCode::NOT_FOUND,
                format!("no rollout action {other:?}: pause, resume, promote or abort\n"),
            )
                .into_response()
        }
    };
    match s.engine.rollout_action(&group, action) {
        Ok(status) => Json(status).into_response(),
        Err(e) => bad(e),
    }
}

async fn traffic(State(s): State<AdminState>) -> Response {
    Json(s.engine.traffic()).into_response()
}

async fn group(State(s): State<AdminState>, Path(group): Path<String>) -> Response {
    match s.engine.nodes(&group) {
        Ok(g) => Json(g).into_response(),
        Err(e) => bad(e),
    }
}

async fn add_node(State(s): State<AdminState>, Path(group): Path<String>, body: Bytes) -> Response {
    match parse_json::<NodeSpec>(&body, "node") {
        Ok(node) => changed(s.engine.add_node(&group, node)),
        Err(e) => bad(e),
    }
}

async fn remove_node(
    State(s): State<AdminState>,
    Path((group, address)): Path<(String, String)>,
) -> Response {
    changed(s.engine.remove_node(&group, &address))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeightBody {
    weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DrainBody {
    drain: bool,
}

async fn set_weight(
    State(s): State<AdminState>,
    Path((group, address)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match parse_json::<WeightBody>(&body, "weight") {
        Ok(w) => changed(s.engine.set_weight(&group, &address, w.weight)),
        Err(e) => bad(e),
    }
}

async fn drain(
    State(s): State<AdminState>,
    Path((group, address)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match parse_json::<DrainBody>(&body, "drain") {
        Ok(d) => changed(s.engine.drain(&group, &address, d.drain)),
        Err(e) => bad(e),
    }
}

async fn reload(State(s): State<AdminState>, body: Bytes) -> Response {
    if body.iter().all(u8::is_ascii_whitespace) {
        return changed(s.reloader.reload_async("admin API").await);
    }
    match String::from_utf8(body.to_vec()) {
        Ok(text) => changed(
            s.reloader
                .apply_text_async(text, "admin API (posted config)")
                .await,
        ),
        Err(e) => bad(format!(
            "the posted config is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )),
    }
}

async fn config(State(s): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        s.engine.snapshot().spec().to_yaml(),
    )
        .into_response()
}

async fn explain(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let req: SimpleRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SimpleRequest::new([127, 0, 0, 1].into())
    } else {
        match parse_json(&body, "request") {
            Ok(r) => r,
            Err(e) => return bad(e),
        }
    };
    let explanation = s.engine.explain(&req);
    match q.get("format").map(String::as_str) {
        Some("text") => explanation.to_string().into_response(),
        None | Some("json") => Json(explanation).into_response(),
        Some(other) => bad(format!("unknown format {other:?} (use json or text)")),
    }
}

/// The body of `POST /api/what-if`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WhatIfBody {
    /// The candidate config text.
    config: String,
    /// `yaml` (default), `json`, `toml`, or `nepxion` (XML or JSON, applied to the running
    /// spec as `reload_nepxion` would).
    #[serde(default)]
    format: Option<String>,
    /// Request descriptions, the form `/api/explain` takes.
    requests: Vec<SimpleRequest>,
}

async fn what_if(State(s): State<AdminState>, body: Bytes) -> Response {
    let b: WhatIfBody = match parse_json(&body, "what-if") {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let (candidate, format) = match b.format.as_deref().unwrap_or("yaml") {
        "nepxion" => (
            gray_core::nepxion::import(&b.config).map(|import| {
                let mut spec = s.engine.snapshot().spec().clone();
                import.apply_to(&mut spec);
                spec
            }),
            None,
        ),
        name => match gray_core::Format::from_name(name) {
            Some(format) => (gray_core::Spec::from_str(&b.config, format), Some(format)),
            None => {
                return bad(format!(
                    "unknown format {name:?} (use yaml, json, toml or nepxion)"
                ))
            }
        },
    };
    let report = candidate.and_then(|spec| {
        let report = s.engine.what_if(spec, &b.requests);
        // Compile errors and lints of native text name its line and column.
        match format {
            Some(f) => report
                .map(|r| r.located_in(&b.config, f))
                .map_err(|e| e.located_in(&b.config, f)),
            None => report,
        }
    });
    match report {
        Ok(r) => Json(r).into_response(),
        Err(e) => bad(e),
    }
}

async fn metrics(State(s): State<AdminState>) -> Response {
    let mut out = s.engine.metrics();
    if let Some(stats) = &s.proxy_stats {
        stats.write_prometheus(&mut out);
    }
    if let Some(source) = &s.redis {
        out.push_str(&source.metrics());
    }
    if let Some(w) = &s.webhooks {
        out.push_str("# HELP gray_gateway_rollout_webhooks_total Rollout transition webhook POSTs by result.\n# TYPE gray_gateway_rollout_webhooks_total counter\n");
        for (result, n) in [("delivered", &w.delivered), ("failed", &w.failed)] {
            let _ = writeln!(
                out,
                "gray_gateway_rollout_webhooks_total{{result=\"{result}\"}} {}",
                n.load(std::sync::atomic::Ordering::Relaxed)
            );
        }
    }
    let r = s.reloader.status();
    out.push_str("# HELP gray_gateway_config_reloads_total Config reload attempts by result.\n# TYPE gray_gateway_config_reloads_total counter\n");
    let _ = writeln!(
        out,
        "gray_gateway_config_reloads_total{{result=\"ok\"}} {}",
        r.reloads
    );
    let _ = writeln!(
        out,
        "gray_gateway_config_reloads_total{{result=\"rejected\"}} {}",
        r.rejected
    );
    if let Some(t) = &r.tls {
        out.push_str("# HELP gray_gateway_tls_reloads_total TLS certificate reload attempts by result (a rejected one keeps the certificates in use).\n# TYPE gray_gateway_tls_reloads_total counter\n");
        for (result, n) in [("ok", t.reloads), ("rejected", t.rejected)] {
            let _ = writeln!(
                out,
                "gray_gateway_tls_reloads_total{{result=\"{result}\"}} {n}"
            );
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

fn param<'a>(q: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("missing query parameter {name:?}"))
}

async fn upstream_add(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let (group, server) = match (param(&q, "upstream"), param(&q, "server")) {
        (Ok(g), Ok(a)) => (g, a),
        (Err(e), _) | (_, Err(e)) => return bad(e),
    };
    let weight = match q.get("weight").map(|w| w.parse::<u32>()) {
        None => 1,
        Some(Ok(w)) => w,
        Some(Err(e)) => return bad(format!("invalid weight: {e}")),
    };
    changed(
        s.engine
            .add_node(group, NodeSpec::new(server).with_weight(weight)),
    )
}

async fn upstream_remove(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let server = match param(&q, "server") {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    if let Some(group) = q.get("upstream").filter(|g| !g.is_empty()) {
        return changed(s.engine.remove_node(group, server));
    }
    let holders: Vec<String> = s
        .engine
        .groups()
        .into_iter()
        .filter(|g| g.nodes.iter().any(|n| n.address == server))
        .map(|g| g.name)
        .collect();
    if holders.is_empty() {
        return bad(format!("no group has node {server:?}"));
    }
    let mut last = Ok(s.engine.generation());
    for g in &holders {
        last = s.engine.remove_node(g, server);
        if last.is_err() {
            break;
        }
    }
    changed(last)
}

async fn upstream_list(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    match param(&q, "upstream") {
        Ok(g) => group(State(s), Path(g.to_owned())).await,
        Err(e) => bad(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_names_are_ip_literals_and_localhost() {
        for h in [
            "127.0.0.1:18090",
            "[::1]:18090",
            "10.1.2.3",
            "localhost:8080",
            "LOCALHOST",
            "admin.localhost:1",
        ] {
            assert!(is_own_name(h), "{h}");
        }
        for h in [
            "attacker.example",
            "attacker.example:18090",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_own_name(h), "{h}");
        }
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer s3cret"), Some("s3cret"));
        assert_eq!(bearer_token("bearer s3cret"), Some("s3cret"));
        assert_eq!(bearer_token("BEARER  s3cret "), Some("s3cret"));
        assert_eq!(bearer_token("Basic s3cret"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
