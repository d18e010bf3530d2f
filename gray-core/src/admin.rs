//! Runtime node administration (seed 002's `upstream_add` / `upstream_remove` /
//! `upstream_list`, without a restart and without a lock on the request path).
//!
//! Every change is a read-copy-update of the spec: copy, change, validate by compiling, swap.
//! Changes are serialised, so eight threads adding nodes at once all land; an invalid change
//! (unknown group, duplicate node, bad address, weight out of range) is rejected with a typed
//! error and changes nothing. Health state of nodes that stay is kept.
//!
//! ```
//! use gray_core::{Engine, ErrorKind, Format};
//! use gray_core::spec::NodeSpec;
//!
//! let engine = Engine::from_str("version: 1\ngroups: { web: { nodes: [] } }\ndefault: web\n", Format::Yaml)?;
//! engine.add_node("web", NodeSpec::new("127.0.0.1:8081"))?;
//! engine.add_node("web", NodeSpec::new("127.0.0.1:8082").with_weight(3))?;
//! engine.remove_node("web", "127.0.0.1:8081")?;
//! let nodes = engine.nodes("web")?;
//! assert_eq!(nodes.nodes.len(), 1);
//! assert_eq!(nodes.nodes[0].weight, 3);
//! assert_eq!(engine.add_node("nope", NodeSpec::new("127.0.0.1:1")).unwrap_err().kind(), ErrorKind::UnknownGroup);
//! # Ok::<(), gray_core::Error>(())
//! ```
//!
//! This module holds the spec edits behind those calls and the status views they return
//! ([`GroupStatus`], [`NodeStatus`]); the calls themselves are methods of [`crate::Engine`].

use serde::Serialize;

use crate::error::{unknown_group, Error, ErrorKind, Result};
use crate::health::{HealthSnapshot, HealthState};
use crate::snapshot::group::{Group, Node};
use crate::spec::{GroupSpec, NodeMetadata, NodeSpec, SelectSpec, Spec, MAX_WEIGHT};

fn group_mut<'a>(spec: &'a mut Spec, group: &str) -> Result<&'a mut GroupSpec> {
    if !spec.groups.contains_key(group) {
        return Err(unknown_group(
            ErrorKind::UnknownGroup,
            "group",
            group,
            spec.groups.keys().map(String::as_str),
        ));
    }
    spec.groups.get_mut(group).ok_or_else(|| {
        Error::at(
            ErrorKind::UnknownGroup,
            "group",
            format!("no group named {group:?}"),
        )
    })
}

fn no_node(group: &str, address: &str) -> Error {
    Error::at(
        ErrorKind::UnknownNode,
        "address",
        format!("group {group:?} has no node {address:?}"),
    )
}

fn node_mut<'a>(spec: &'a mut Spec, group: &str, address: &str) -> Result<&'a mut NodeSpec> {
    group_mut(spec, group)?
        .nodes
        .iter_mut()
        .find(|n| n.address == address)
        .ok_or_else(|| no_node(group, address))
}

/// A weight within `0..=MAX_WEIGHT`, or an `InvalidValue` error at path `weight`.
pub(crate) fn check_weight(weight: u32) -> Result<()> {
    if weight > MAX_WEIGHT {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            "weight",
            format!("weight {weight} is out of range 0..={MAX_WEIGHT}"),
        ));
    }
    Ok(())
}

/// Adds `node` to `group` (see [`crate::Engine::add_node`]).
pub(crate) fn add_node(spec: &mut Spec, group: &str, node: NodeSpec) -> Result<()> {
    check_weight(node.weight)?;
    let g = group_mut(spec, group)?;
    if g.nodes.iter().any(|n| n.address == node.address) {
        return Err(Error::at(
            ErrorKind::Duplicate,
            "address",
            format!("group {group:?} already has node {:?}", node.address),
        ));
    }
    g.nodes.push(node);
    Ok(())
}

/// Removes a node and its rollout weights (see [`crate::Engine::remove_node`]).
pub(crate) fn remove_node(spec: &mut Spec, group: &str, address: &str) -> Result<()> {
    let g = group_mut(spec, group)?;
    let before = g.nodes.len();
    g.nodes.retain(|n| n.address != address);
    if g.nodes.len() == before {
        return Err(no_node(group, address));
    }
    if let Some(r) = &mut g.rollout {
        for s in &mut r.steps {
            s.weights.remove(address);
        }
    }
    Ok(())
}

/// Sets a node's weight (see [`crate::Engine::set_weight`]).
pub(crate) fn set_weight(spec: &mut Spec, group: &str, address: &str, weight: u32) -> Result<()> {
    check_weight(weight)?;
    node_mut(spec, group, address)?.weight = weight;
    Ok(())
}

/// Starts or ends draining a node (see [`crate::Engine::drain`]).
pub(crate) fn set_drain(spec: &mut Spec, group: &str, address: &str, drain: bool) -> Result<()> {
    node_mut(spec, group, address)?.drain = drain;
    Ok(())
}

impl Group {
    /// A status view for admin listings.
    pub(crate) fn status(&self, now_ms: u64, unix_ms: u64, spec: &GroupSpec) -> GroupStatus {
        let step = self.step(unix_ms);
        let weights = self.weights(unix_ms);
        GroupStatus {
            name: self.name.to_string(),
            select: spec.select,
            fallback: spec.fallback.clone(),
            rollout_step: self.rollout.as_ref().map(|_| step),
            rollout_steps: self.rollout.as_ref().map(|r| r.starts.len()),
            requests: self.counter.requests(),
            failures: self.counter.failures(),
            available: self.has_available(now_ms, unix_ms),
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| NodeStatus::new(n, weights.get(i).copied().unwrap_or(0), now_ms))
                .collect(),
        }
    }
}

/// Admin view of a rule, in evaluation order ([`crate::Engine::rules`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleStatus {
    /// Rule id.
    pub id: String,
    /// The rule's description, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The condition in words (`always` for a rule without one).
    pub condition: String,
    /// The group it routes to (the default group when it names none).
    pub group: String,
    /// Requests it matched (since the counter first existed; kept across reloads).
    pub requests: u64,
    /// Failures reported for those requests.
    pub failures: u64,
    /// `requests` over all requests routed (by any rule or the default).
    pub share: f64,
    /// When its count was last seen to grow (Unix ms), at the precision of
    /// [`crate::Engine::tick`] or of calls to [`crate::Engine::rules`]; `None` before that.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_hit_unix_ms: Option<u64>,
}

/// Admin view of a group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Selection algorithm.
    pub select: SelectSpec,
    /// Fallback group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Current staged-rollout step (0-based), if the group has a rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_step: Option<usize>,
    /// Number of rollout steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout_steps: Option<usize>,
    /// Requests routed to this group.
    pub requests: u64,
    /// Failures reported for this group.
    pub failures: u64,
    /// True if a node can be picked now.
    pub available: bool,
    /// The nodes.
    pub nodes: Vec<NodeStatus>,
}

/// Admin view of a node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    /// Address.
    pub address: String,
    /// Weight in force now (configured, or the current rollout step's).
    pub weight: u32,
    /// Configured weight.
    pub configured_weight: u32,
    /// Draining.
    pub drain: bool,
    /// `up`, `down`, `probing` or `draining`.
    pub health: &'static str,
    /// Milliseconds until an ejected node is tried again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_for_ms: Option<u64>,
    /// Failures in the current window.
    pub fails: u32,
    /// `max_fails` in force.
    pub max_fails: u32,
    /// `fail_timeout` in force, in milliseconds.
    pub fail_timeout_ms: u64,
    /// Requests sent.
    pub requests: u64,
    /// Failures reported.
    pub failures: u64,
    /// Metadata.
    pub metadata: NodeMetadata,
}

impl NodeStatus {
    fn new(n: &Node, weight: u32, now_ms: u64) -> Self {
        let h: HealthSnapshot = n.health.snapshot(&n.policy, now_ms);
        let (health, down_for_ms) = match h.state {
            _ if n.drain => ("draining", None),
            HealthState::Down { until_ms } => ("down", Some(until_ms.saturating_sub(now_ms))),
            HealthState::Up if h.probing => ("probing", None),
            HealthState::Up => ("up", None),
        };
        NodeStatus {
            address: n.address.to_string(),
            weight,
            configured_weight: n.weight,
            drain: n.drain,
            health,
            down_for_ms,
            fails: h.fails,
            max_fails: n.policy.max_fails,
            fail_timeout_ms: n.policy.fail_timeout_ms(),
            requests: h.total_requests,
            failures: h.total_failures,
            metadata: n.metadata.clone(),
        }
    }
}
