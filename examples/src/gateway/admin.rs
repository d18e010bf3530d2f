//! The admin HTTP API (a separate listener, loopback by default) and the admin web page.
//!
//! | method and path | does |
//! |---|---|
//! | `GET /` | the admin page (HTML + JS, no build step) |
//! | `GET /api/status` | generation, config source, reload counters and last reload error, Redis source state |
//! | `GET /api/groups` | every group with its nodes, health, weights and counters |
//! | `GET /api/groups/{group}` | one group |
//! | `POST /api/groups/{group}/nodes` | add a node: `{"address": "10.0.0.5:8080", "weight": 2}` (a node spec) |
//! | `DELETE /api/groups/{group}/nodes/{address}` | remove a node |
//! | `PUT /api/groups/{group}/nodes/{address}/weight` | `{"weight": 5}` (0..=10000) |
//! | `PUT /api/groups/{group}/nodes/{address}/drain` | `{"drain": true}` |
//! | `GET /upstream_add?upstream=NAME&server=ADDR[&weight=N]` | seed-style alias of adding |
//! | `GET /upstream_remove?upstream=NAME&server=ADDR` | alias of removing (without `upstream`: from every group holding it) |
//! | `GET /upstream_list?upstream=NAME` | alias of `GET /api/groups/{group}` |
//! | `POST /api/reload` | re-read the config source; with a body: apply that YAML/JSON config |
//! | `GET /api/config` | the running config as YAML |
//! | `POST /api/explain[?format=text]` | explain the decision for a described request (`SimpleRequest` JSON) |
//! | `GET /metrics` | Prometheus text (engine counters, reloads, upstream failures, retries, Redis source) |
//!
//! Changes answer `{"generation": N}`. Every change is validated by compiling the new config;
//! bad input answers **400** with the error text and changes nothing. When a token is
//! configured every route except `/` needs `Authorization: Bearer TOKEN` (else **401**).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use gray_core::spec::NodeSpec;
use gray_core::{Engine, SimpleRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::proxy::ProxyStats;
use super::reload::Reloader;

const PAGE: &str = include_str!("admin.html");

/// Shared state of the admin API.
#[derive(Debug, Clone)]
pub struct AdminState {
    engine: Arc<Engine>,
    reloader: Reloader,
    token: Option<Arc<str>>,
    proxy_stats: Option<Arc<ProxyStats>>,
    redis: Option<Arc<gray_redis::RedisSource>>,
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
        }
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
        .route("/api/explain", post(explain))
        .route("/metrics", get(metrics))
        .route("/upstream_add", get(upstream_add))
        .route("/upstream_remove", get(upstream_remove))
        .route("/upstream_list", get(upstream_list))
        .route_layer(from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .merge(api)
        .with_state(state)
}

/// Byte-wise comparison whose time does not depend on where the inputs differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
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

async fn groups(State(s): State<AdminState>) -> Response {
    Json(s.engine.groups()).into_response()
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
        return changed(s.reloader.reload("admin API"));
    }
    match std::str::from_utf8(&body) {
        Ok(text) => changed(s.reloader.apply_text(text, "admin API (posted config)")),
        Err(_) => bad("the posted config is not UTF-8"),
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

async fn metrics(State(s): State<AdminState>) -> Response {
    let mut out = s.engine.metrics();
    if let Some(stats) = &s.proxy_stats {
        stats.write_prometheus(&mut out);
    }
    if let Some(source) = &s.redis {
        out.push_str(&source.metrics());
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
