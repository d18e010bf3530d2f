//! Groups and their nodes: list, add, remove, weight, drain.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use gray_core::spec::NodeSpec;
use serde::Deserialize;

use super::reply::{bad, changed, parse_json};
use super::state::AdminState;

pub(super) async fn groups(State(s): State<AdminState>) -> Response {
    Json(s.engine.groups()).into_response()
}

pub(super) async fn group(State(s): State<AdminState>, Path(group): Path<String>) -> Response {
    match s.engine.nodes(&group) {
        Ok(g) => Json(g).into_response(),
        Err(e) => bad(e),
    }
}

pub(super) async fn add_node(
    State(s): State<AdminState>,
    Path(group): Path<String>,
    body: Bytes,
) -> Response {
    match parse_json::<NodeSpec>(&body, "node") {
        Ok(node) => changed(s.engine.add_node(&group, node)),
        Err(e) => bad(e),
    }
}

pub(super) async fn remove_node(
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

pub(super) async fn set_weight(
    State(s): State<AdminState>,
    Path((group, address)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match parse_json::<WeightBody>(&body, "weight") {
        Ok(w) => changed(s.engine.set_weight(&group, &address, w.weight)),
        Err(e) => bad(e),
    }
}

pub(super) async fn drain(
    State(s): State<AdminState>,
    Path((group, address)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    match parse_json::<DrainBody>(&body, "drain") {
        Ok(d) => changed(s.engine.drain(&group, &address, d.drain)),
        Err(e) => bad(e),
    }
}
