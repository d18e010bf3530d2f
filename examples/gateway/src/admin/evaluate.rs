//! The admin calls that evaluate without changing routing: explain, what-if, the live sample
//! that feeds it, and the running config's lints.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use gray_core::SimpleRequest;

use super::reply::{bad, parse_json};
use super::state::AdminState;

pub(super) async fn sample(State(s): State<AdminState>) -> Response {
    Json(s.engine.sample_stats()).into_response()
}

/// `{"every": N, "capacity": N, "max_bytes": N}` (omitted fields: the defaults) turns the live
/// sample on, emptied; `{"off": true}` turns it off.
pub(super) async fn set_sample(State(s): State<AdminState>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        off: bool,
        every: Option<u32>,
        capacity: Option<usize>,
        max_bytes: Option<usize>,
    }
    let b: Body = match parse_json(&body, "sample") {
        Ok(b) => b,
        Err(e) => return bad(e),
    };
    let config = if b.off {
        None
    } else {
        let d = gray_core::sample::SampleConfig::default();
        Some(gray_core::sample::SampleConfig {
            every: b.every.unwrap_or(d.every),
            capacity: b.capacity.unwrap_or(d.capacity),
            max_bytes: b.max_bytes.unwrap_or(d.max_bytes),
        })
    };
    match s.engine.set_sampling(config) {
        Ok(()) => Json(s.engine.sample_stats()).into_response(),
        Err(e) => bad(e),
    }
}

pub(super) async fn lints(State(s): State<AdminState>) -> Response {
    Json(s.engine.lints()).into_response()
}

pub(super) async fn explain(
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
    #[serde(default)]
    requests: Option<Vec<SimpleRequest>>,
    /// `"live"`: the live sample instead of `requests`.
    #[serde(default)]
    sample: Option<String>,
}

pub(super) async fn what_if(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let text = match q.get("format").map(String::as_str) {
        None | Some("json") => false,
        Some("text") => true,
        Some(other) => return bad(format!("unknown format {other:?} (use json or text)")),
    };
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
    let requests = match (b.requests, b.sample.as_deref()) {
        (Some(r), None) => r,
        (None, Some("live")) => {
            if s.engine.sample_stats().config.is_none() {
                return bad("the live sample is off: start the gateway with --sample-every N or PUT /api/sample");
            }
            s.engine.sample()
        }
        (None, Some(other)) => return bad(format!("sample: {other:?} is not \"live\"")),
        (Some(_), Some(_)) => return bad("give either requests or sample, not both"),
        (None, None) => {
            return bad("give requests (a list of request descriptions) or \"sample\": \"live\"")
        }
    };
    let report = candidate.and_then(|spec| {
        let report = s.engine.what_if(spec, &requests);
        // Compile errors and lints of native text name its line and column.
        match format {
            Some(f) => report
                .map(|r| r.located_in(&b.config, f))
                .map_err(|e| e.located_in(&b.config, f)),
            None => report,
        }
    });
    match report {
        // As text (what `gateway what-if --admin` prints), with the counts in a header.
        Ok(r) if text => (
            [("x-gray-moved", format!("{}/{}", r.moved, r.requests))],
            r.to_string(),
        )
            .into_response(),
        Ok(r) => Json(r).into_response(),
        Err(e) => bad(e),
    }
}
