//! Runtime node administration and metrics (seed 002's `upstream_add` / `upstream_remove` /
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

use std::fmt::Write as _;

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::spec::{GroupSpec, NodeSpec, Spec, MAX_WEIGHT};
use crate::upstream::GroupStatus;

impl NodeSpec {
    /// A node with weight 1 and the group's health defaults.
    pub fn new(address: &str) -> NodeSpec {
        NodeSpec {
            address: address.to_string(),
            weight: 1,
            max_fails: None,
            fail_timeout: None,
            drain: false,
            metadata: Default::default(),
        }
    }

    /// Sets the weight.
    pub fn with_weight(mut self, weight: u32) -> NodeSpec {
        self.weight = weight;
        self
    }
}

fn group_mut<'a>(spec: &'a mut Spec, group: &str) -> Result<&'a mut GroupSpec> {
    let known: Vec<String> = spec.groups.keys().cloned().collect();
    spec.groups.get_mut(group).ok_or_else(|| {
        Error::at(
            ErrorKind::UnknownGroup,
            "group",
            format!("no group named {group:?} (groups: {})", known.join(", ")),
        )
    })
}

fn node_mut<'a>(spec: &'a mut Spec, group: &str, address: &str) -> Result<&'a mut NodeSpec> {
    group_mut(spec, group)?
        .nodes
        .iter_mut()
        .find(|n| n.address == address)
        .ok_or_else(|| {
            Error::at(
                ErrorKind::UnknownNode,
                "address",
                format!("group {group:?} has no node {address:?}"),
            )
        })
}

fn check_weight(weight: u32) -> Result<()> {
    if weight > MAX_WEIGHT {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            "weight",
            format!("weight {weight} is out of range 0..={MAX_WEIGHT}"),
        ));
    }
    Ok(())
}

impl Engine {
    /// Adds a node to a group. Returns the new generation.
    pub fn add_node(&self, group: &str, node: NodeSpec) -> Result<u64> {
        check_weight(node.weight)?;
        self.update(|spec| {
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
        })
        .map(|(_, g)| g)
    }

    /// Removes a node. Requests already routed to it finish normally.
    pub fn remove_node(&self, group: &str, address: &str) -> Result<u64> {
        self.update(|spec| {
            let g = group_mut(spec, group)?;
            let before = g.nodes.len();
            g.nodes.retain(|n| n.address != address);
            if g.nodes.len() == before {
                return Err(Error::at(
                    ErrorKind::UnknownNode,
                    "address",
                    format!("group {group:?} has no node {address:?}"),
                ));
            }
            if let Some(r) = &mut g.rollout {
                for s in &mut r.steps {
                    s.weights.remove(address);
                }
            }
            Ok(())
        })
        .map(|(_, g)| g)
    }

    /// Sets a node's weight (0..=10000; 0 = never chosen).
    pub fn set_weight(&self, group: &str, address: &str, weight: u32) -> Result<u64> {
        check_weight(weight)?;
        self.update(|spec| {
            node_mut(spec, group, address)?.weight = weight;
            Ok(())
        })
        .map(|(_, g)| g)
    }

    /// Starts (`true`) or ends (`false`) draining a node: it finishes what it has and gets no
    /// new requests.
    pub fn drain(&self, group: &str, address: &str, drain: bool) -> Result<u64> {
        self.update(|spec| {
            node_mut(spec, group, address)?.drain = drain;
            Ok(())
        })
        .map(|(_, g)| g)
    }

    /// Nodes of a group with weight, health and counters.
    pub fn nodes(&self, group: &str) -> Result<GroupStatus> {
        let snap = self.snapshot();
        let gi = crate::engine::group_index(&snap, group)?;
        Ok(
            snap.groups[gi as usize].status(
                self.now_ms(),
                self.unix_ms(),
                &snap.spec.groups[group],
            ),
        )
    }

    /// Every group's status, in name order.
    pub fn groups(&self) -> Vec<GroupStatus> {
        let snap = self.snapshot();
        let (now, unix) = (self.now_ms(), self.unix_ms());
        snap.groups
            .iter()
            .map(|g| g.status(now, unix, &snap.spec.groups[&*g.name]))
            .collect()
    }

    /// Counters per rule: `(rule id, requests matched, failures reported)`.
    pub fn rule_counters(&self) -> Vec<(String, u64, u64)> {
        let snap = self.snapshot();
        snap.rules
            .iter()
            .map(|r| (r.id.to_string(), r.counter.requests(), r.counter.failures()))
            .collect()
    }

    /// All counters in the Prometheus text exposition format.
    pub fn metrics(&self) -> String {
        let snap = self.snapshot();
        let mut out = String::new();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        out.push_str("# HELP gray_generation Generation of the serving snapshot.\n# TYPE gray_generation gauge\n");
        let _ = writeln!(out, "gray_generation {}", snap.generation);
        out.push_str("# HELP gray_rule_requests_total Requests matched by a rule.\n# TYPE gray_rule_requests_total counter\n");
        for r in snap.rules.iter() {
            let _ = writeln!(
                out,
                "gray_rule_requests_total{{rule=\"{}\"}} {}",
                esc(&r.id),
                r.counter.requests()
            );
        }
        out.push_str("# HELP gray_rule_failures_total Failures reported for requests a rule routed.\n# TYPE gray_rule_failures_total counter\n");
        for r in snap.rules.iter() {
            let _ = writeln!(
                out,
                "gray_rule_failures_total{{rule=\"{}\"}} {}",
                esc(&r.id),
                r.counter.failures()
            );
        }
        let groups = self.groups();
        out.push_str("# HELP gray_group_requests_total Requests served by a group.\n# TYPE gray_group_requests_total counter\n");
        for g in &groups {
            let _ = writeln!(
                out,
                "gray_group_requests_total{{group=\"{}\"}} {}",
                esc(&g.name),
                g.requests
            );
        }
        out.push_str("# HELP gray_group_failures_total Failures reported for a group.\n# TYPE gray_group_failures_total counter\n");
        for g in &groups {
            let _ = writeln!(
                out,
                "gray_group_failures_total{{group=\"{}\"}} {}",
                esc(&g.name),
                g.failures
            );
        }
        out.push_str("# HELP gray_node_requests_total Requests sent to a node.\n# TYPE gray_node_requests_total counter\n");
        for g in &groups {
            for n in &g.nodes {
                let _ = writeln!(
                    out,
                    "gray_node_requests_total{{group=\"{}\",node=\"{}\"}} {}",
                    esc(&g.name),
                    esc(&n.address),
                    n.requests
                );
            }
        }
        out.push_str("# HELP gray_node_failures_total Failures reported for a node.\n# TYPE gray_node_failures_total counter\n");
        for g in &groups {
            for n in &g.nodes {
                let _ = writeln!(
                    out,
                    "gray_node_failures_total{{group=\"{}\",node=\"{}\"}} {}",
                    esc(&g.name),
                    esc(&n.address),
                    n.failures
                );
            }
        }
        out.push_str(
            "# HELP gray_node_up 1 if the node can receive requests.\n# TYPE gray_node_up gauge\n",
        );
        for g in &groups {
            for n in &g.nodes {
                let up = u8::from(n.health == "up" || n.health == "probing");
                let _ = writeln!(
                    out,
                    "gray_node_up{{group=\"{}\",node=\"{}\"}} {up}",
                    esc(&g.name),
                    esc(&n.address)
                );
            }
        }
        out.push_str("# HELP gray_node_weight Weight in force.\n# TYPE gray_node_weight gauge\n");
        for g in &groups {
            for n in &g.nodes {
                let _ = writeln!(
                    out,
                    "gray_node_weight{{group=\"{}\",node=\"{}\"}} {}",
                    esc(&g.name),
                    esc(&n.address),
                    n.weight
                );
            }
        }
        out
    }
}
