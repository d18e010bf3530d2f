//! Compiling groups: nodes (address, weight, health policy), the selector, a staged rollout's
//! per-step selectors, the hash key and the fallback chain.

use std::collections::HashMap;

use super::analysis::{compile_analysis, JudgedInput};
use super::condition::compile_key;
use super::names::GroupNames;
use super::registry::StateRegistry;
use super::scope::CompileScope;
use crate::error::{Error, ErrorKind, Result};
use crate::health::HealthPolicy;
use crate::outcome::FailMask;
use crate::select::{Algorithm, Selector};
use crate::snapshot::group::{Group, Node, Rollout};
use crate::spec::{GroupSpec, NodeSpec, RolloutSpec, SelectSpec, Spec, MAX_WEIGHT};
use crate::validate::check_address;

/// Compiles every group, in name order, and checks that fallbacks do not loop.
pub(super) fn compile_groups(
    spec: &Spec,
    names: &GroupNames<'_>,
    registry: &StateRegistry,
    scope: &mut CompileScope,
) -> Result<Vec<Group>> {
    let mut groups = Vec::with_capacity(spec.groups.len());
    for (name, g) in &spec.groups {
        let path = format!("groups.{name}");
        groups.push(compile_group(name, g, &path, registry, names, scope)?);
    }
    check_fallback_cycles(&groups)?;
    Ok(groups)
}

/// The selection algorithm of `select`.
fn algorithm(spec: SelectSpec) -> Algorithm {
    match spec {
        SelectSpec::RoundRobin => Algorithm::RoundRobin,
        SelectSpec::Random => Algorithm::Random,
        SelectSpec::Hash => Algorithm::Hash,
    }
}

fn compile_group(
    name: &str,
    g: &GroupSpec,
    path: &str,
    registry: &StateRegistry,
    names: &GroupNames<'_>,
    scope: &mut CompileScope,
) -> Result<Group> {
    if name.trim().is_empty() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            "a group name must not be empty",
        ));
    }
    let mut nodes = Vec::with_capacity(g.nodes.len());
    let mut addrs: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let np = format!("{path}.nodes[{i}]");
        if let Some(prev) = addrs.insert(n.address.as_str(), i) {
            return Err(Error::at(
                ErrorKind::Duplicate,
                format!("{np}.address"),
                format!("node {:?} is also nodes[{prev}] of this group", n.address),
            ));
        }
        nodes.push(compile_node(n, g, name, &np, registry)?);
    }
    let hash_key = match (&g.hash_key, g.select) {
        (Some(k), _) => Some(
            compile_key(k, &mut scope.fields).map_err(|e| e.within(&format!("{path}.hash_key")))?,
        ),
        (None, SelectSpec::Hash) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{path}.hash_key"),
                "`select: hash` needs a `hash_key` (cookie, header, query or client_ip)",
            ))
        }
        (None, _) => None,
    };
    let alg = algorithm(g.select);
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.address.as_str()).collect();
    let base: Vec<u32> = g.nodes.iter().map(|n| n.weight).collect();
    let (selectors, rollout) = match &g.rollout {
        None => (vec![Selector::new(alg, &base, &ids)], None),
        Some(r) => {
            let rp = format!("{path}.rollout");
            let (mut selectors, mut rollout) = compile_rollout(r, &rp, alg, &base, &ids, &addrs)?;
            if let (Some(a), Some(rollout)) = (&r.analysis, rollout.as_mut()) {
                let judged = JudgedInput {
                    group: name,
                    rollout: r,
                    path: &format!("{rp}.analysis"),
                    addrs: &addrs,
                    names,
                    registry,
                };
                let (aborted, j) = compile_analysis(a, &judged, &base, scope)?;
                selectors.push(Selector::new(alg, &aborted, &ids));
                rollout.judged = Some(j);
            }
            (selectors, rollout)
        }
    };
    let fallback = match &g.fallback {
        Some(f) if f == name => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{path}.fallback"),
                "a group cannot fall back to itself",
            ))
        }
        Some(f) => Some(names.index(f, &format!("{path}.fallback"))?),
        None => None,
    };
    let mirror = match &g.mirror {
        Some(m) => Some(Box::new(super::mirror::compile_mirror(
            m,
            &format!("{path}.mirror"),
            &format!("group {name}"),
            names,
            scope,
        )?)),
        None => None,
    };
    Ok(Group {
        name: name.into(),
        nodes: nodes.into(),
        selectors: selectors.into(),
        rollout,
        hash_key,
        hash_salt: crate::sticky::salt_prefix(name.as_bytes()),
        fallback,
        fail_on: FailMask::new(&g.fail_on),
        counter: registry.group(name),
        mirror,
    })
}

/// One node of group `group` at path `np`: address, weight, health policy (the node's own
/// `max_fails`/`fail_timeout`, else the group's).
fn compile_node(
    n: &NodeSpec,
    g: &GroupSpec,
    group: &str,
    np: &str,
    registry: &StateRegistry,
) -> Result<Node> {
    check_address(&n.address)
        .map_err(|m| Error::at(ErrorKind::InvalidValue, format!("{np}.address"), m))?;
    if n.weight > MAX_WEIGHT {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            format!("{np}.weight"),
            format!("weight {} is out of range 0..={MAX_WEIGHT}", n.weight),
        ));
    }
    let policy = HealthPolicy::new(
        n.max_fails.unwrap_or(g.max_fails),
        n.fail_timeout.map_or(g.fail_timeout.0, |d| d.0),
    );
    if policy.max_fails > 0 && policy.fail_timeout.is_zero() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            format!("{np}.fail_timeout"),
            "fail_timeout must be positive when max_fails > 0",
        ));
    }
    Ok(Node {
        address: n.address.as_str().into(),
        weight: n.weight,
        drain: n.drain,
        policy,
        health: registry.node(group, &n.address),
        traffic: registry.node_traffic(group, &n.address),
        metadata: n.metadata.clone(),
    })
}

/// The selectors of a staged rollout, one per step, and its schedule.
fn compile_rollout(
    r: &RolloutSpec,
    rp: &str,
    alg: Algorithm,
    base: &[u32],
    ids: &[&str],
    addrs: &HashMap<&str, usize>,
) -> Result<(Vec<Selector>, Option<Rollout>)> {
    if r.analysis.is_none() {
        if let Some(i) = r.steps.iter().position(|s| !s.percent.is_empty()) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{rp}.steps[{i}].percent"),
                "ramping a rule's percent needs an `analysis` section (a judged rollout)",
            ));
        }
    }
    if r.steps.is_empty() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            format!("{rp}.steps"),
            "a rollout needs at least one step",
        ));
    }
    let mut selectors = Vec::new();
    let mut starts = Vec::new();
    let mut at = r.start.saturating_mul(1000);
    for (si, step) in r.steps.iter().enumerate() {
        let sp = format!("{rp}.steps[{si}]");
        let mut w = base.to_vec();
        for (addr, weight) in &step.weights {
            let Some(&i) = addrs.get(addr.as_str()) else {
                return Err(Error::at(
                    ErrorKind::UnknownReference,
                    format!("{sp}.weights"),
                    format!("{addr:?} is not a node of this group"),
                ));
            };
            if *weight > MAX_WEIGHT {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{sp}.weights.{addr}"),
                    format!("weight {weight} is out of range 0..={MAX_WEIGHT}"),
                ));
            }
            w[i] = *weight;
        }
        match (&step.hold, si + 1 == r.steps.len()) {
            (None, false) => {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{sp}.hold"),
                    "every step but the last needs `hold`",
                ))
            }
            (Some(d), false) if d.0.is_zero() => {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{sp}.hold"),
                    "`hold` must be positive",
                ))
            }
            _ => {}
        }
        starts.push(at);
        at = at.saturating_add(
            step.hold
                .map_or(0, |d| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX)),
        );
        selectors.push(Selector::new(alg, &w, ids));
    }
    Ok((
        selectors,
        Some(Rollout {
            starts: starts.into(),
            judged: None,
        }),
    ))
}

fn check_fallback_cycles(groups: &[Group]) -> Result<()> {
    for (start, g) in groups.iter().enumerate() {
        let mut seen = vec![start];
        let mut cur = g.fallback;
        while let Some(next) = cur {
            if seen.contains(&(next as usize)) {
                let chain: Vec<&str> = seen
                    .iter()
                    .map(|&i| &*groups[i].name)
                    .chain([&*groups[next as usize].name])
                    .collect();
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("groups.{}.fallback", g.name),
                    format!("fallback chain loops: {}", chain.join(" → ")),
                ));
            }
            seen.push(next as usize);
            cur = groups[next as usize].fallback;
        }
    }
    Ok(())
}
