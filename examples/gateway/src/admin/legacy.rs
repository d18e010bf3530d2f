//! Seed 002's admin calls as aliases (`GET /upstream_add`, `/upstream_remove`,
//! `/upstream_list`), served only with `--admin-legacy-get`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use gray_core::spec::NodeSpec;

use super::nodes::group;
use super::reply::{bad, changed};
use super::state::AdminState;

fn param<'a>(q: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, String> {
    q.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("missing query parameter {name:?}"))
}

pub(super) async fn upstream_add(
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

pub(super) async fn upstream_remove(
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

pub(super) async fn upstream_list(
    State(s): State<AdminState>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    match param(&q, "upstream") {
        Ok(g) => group(State(s), Path(g.to_owned())).await,
        Err(e) => bad(e),
    }
}
