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
//! | `GET /api/sample`, `PUT /api/sample` | the live request sample's state (counts only, never requests); `{"every": 10, "capacity": 10000, "max_bytes": 8388608}` turns it on, `{"off": true}` off |
//! | `GET /api/mirrors` | the latest mirror copies whose answer differed from the primary's: request method and path, the differences (noise left out), secret headers redacted |
//! | `GET /api/rules` | the rules in order: condition in words, group, hits, share of all requests, last hit time |
//! | `GET /api/lints` | the running config's lint warnings (`kind`, `rule`, `message`, `path`, `file`, `line`, `column`; see `gray_core::lint`) |
//! | `POST /api/explain[?format=text]` | explain the decision for a described request (`SimpleRequest` JSON) |
//! | `POST /api/what-if` | how a candidate config would route given requests, without applying it: `{"config": "...", "format": "yaml", "requests": [...]}` (or `"sample": "live"` for the live sample; `?format=text` for the text report, counts in `x-gray-moved: MOVED/TOTAL`) → the group transition matrix, per-rule takes and losses, and the candidate's lints |
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

use axum::middleware::from_fn_with_state;
use axum::response::Html;
use axum::routing::{get, post, put};
use axum::Router;

mod evaluate;
mod guard;
mod legacy;
mod nodes;
mod reply;
mod state;
mod status;

use evaluate::{explain, lints, sample, set_sample, what_if};
use guard::{auth, guard};
use legacy::{upstream_add, upstream_list, upstream_remove};
use nodes::{add_node, drain, group, groups, remove_node, set_weight};
pub use state::AdminState;
use status::{config, metrics, mirrors, reload, rollout_action, rollouts, rules, status, traffic};

const PAGE: &str = include_str!("admin.html");

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/api/status", get(status))
        .route("/api/groups", get(groups))
        .route("/api/groups/{group}", get(group))
        .route("/api/traffic", get(traffic))
        .route("/api/rules", get(rules))
        .route("/api/mirrors", get(mirrors))
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
        .route("/api/sample", get(sample).put(set_sample))
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
