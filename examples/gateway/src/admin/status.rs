//! Status, rollouts, traffic, the config (read and reload) and the Prometheus metrics.

use std::fmt::Write as _;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use gray_core::RolloutAction;

use super::reply::{bad, changed};
use super::state::AdminState;

pub(super) async fn status(State(s): State<AdminState>) -> Response {
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

pub(super) async fn rollouts(State(s): State<AdminState>) -> Response {
    Json(s.engine.rollouts()).into_response()
}

pub(super) async fn rollout_action(
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
    if let Some((url, ns)) = s.fleet.clone() {
        // The fleet's state: every engine, this one included, follows it within a second.
        let g = group.clone();
        let done = tokio::task::spawn_blocking(move || {
            gray_redis::Publisher::connect(&url, &ns)?.rollout_action(&g, action)
        })
        .await;
        return match done {
            Ok(Ok(state)) => {
                Json(serde_json::json!({ "group": group, "fleet": state })).into_response()
            }
            Ok(Err(e)) => bad(e),
            Err(e) => bad(e),
        };
    }
    match s.engine.rollout_action(&group, action) {
        Ok(status) => Json(status).into_response(),
        Err(e) => bad(e),
    }
}

/// The latest copies whose answer differed from the primary's (secret headers redacted).
pub(super) async fn mirrors(State(s): State<AdminState>) -> Response {
    let latest = s
        .proxy_stats
        .as_ref()
        .and_then(|p| p.mirrors())
        .map(|m| m.latest())
        .unwrap_or_default();
    Json(serde_json::json!({ "latest": latest })).into_response()
}

pub(super) async fn rules(State(s): State<AdminState>) -> Response {
    Json(s.engine.rules()).into_response()
}

pub(super) async fn traffic(State(s): State<AdminState>) -> Response {
    Json(s.engine.traffic()).into_response()
}

pub(super) async fn reload(State(s): State<AdminState>, body: Bytes) -> Response {
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

pub(super) async fn config(State(s): State<AdminState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml; charset=utf-8")],
        s.engine.snapshot().spec().to_yaml(),
    )
        .into_response()
}

pub(super) async fn metrics(State(s): State<AdminState>) -> Response {
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
