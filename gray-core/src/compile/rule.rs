//! Compiling rules (id, condition, target group, headers to set) and the header policy
//! (built-in headers, routing-header prefixes).

use std::collections::HashMap;

use super::condition::compile_condition;
use super::names::GroupNames;
use super::registry::StateRegistry;
use super::scope::CompileScope;
use crate::error::{Error, ErrorKind, Result};
use crate::snapshot::rule::Rule;
use crate::spec::Spec;
use crate::validate::{check_header, is_token};

/// Header pairs, lowercase names.
type Headers = Box<[(Box<str>, Box<str>)]>;

/// Compiles the enabled rules, in order. Disabled rules are validated too.
pub(super) fn compile_rules(
    spec: &Spec,
    names: &GroupNames<'_>,
    registry: &StateRegistry,
    scope: &mut CompileScope,
) -> Result<Vec<Rule>> {
    let mut rules = Vec::with_capacity(spec.rules.len());
    let mut seen = HashMap::new();
    for (i, r) in spec.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        if r.id.trim().is_empty() {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{path}.id"),
                "a rule id must not be empty",
            ));
        }
        if let Some(prev) = seen.insert(r.id.clone(), i) {
            return Err(Error::at(
                ErrorKind::Duplicate,
                format!("{path}.id"),
                format!("rule id {:?} is also used by rules[{prev}]", r.id),
            ));
        }
        let path = format!("rules[{i}] (id {:?})", r.id);
        let cond = match &r.when {
            Some(c) => Some(compile_condition(
                c,
                &format!("{path}.when"),
                &r.id,
                scope,
                0,
            )?),
            None => None,
        };
        let group = match &r.route {
            Some(g) => Some(names.index(g, &format!("{path}.route"))?),
            None => None,
        };
        let mut headers: Vec<(Box<str>, Box<str>)> = Vec::new();
        for (k, v) in &r.set_headers {
            check_header(k, v, &format!("{path}.set_headers.{k}"))?;
            headers.push((k.to_ascii_lowercase().into(), v.as_str().into()));
        }
        for (k, v) in r.routes.headers() {
            check_header(k, v, &format!("{path}.routes"))?;
            headers.push((k.into(), v.into()));
        }
        let mirror = match &r.mirror {
            Some(m) => Some(Box::new(super::mirror::compile_mirror(
                m,
                &format!("{path}.mirror"),
                &format!("rule {}", r.id),
                names,
                scope,
            )?)),
            None => None,
        };
        if !r.enabled {
            continue;
        }
        rules.push(Rule {
            id: r.id.as_str().into(),
            cond,
            group,
            headers: headers.into(),
            counter: registry.rule(&r.id),
            traffic: registry.rule_traffic(&r.id),
            mirror,
        });
    }
    for (rule, (_, path)) in &scope.ramps {
        if !scope.ramped.contains(rule) {
            return Err(Error::at(
                ErrorKind::UnknownReference,
                path.clone(),
                format!("no rule {rule:?} with a `percent` condition to ramp"),
            ));
        }
    }
    Ok(rules)
}

/// The built-in headers and the lowercase routing-header prefixes of `headers`.
pub(super) fn compile_header_policy(spec: &Spec) -> Result<(Headers, Box<[Box<str>]>)> {
    let mut builtin = Vec::new();
    for (k, v) in &spec.headers.builtin {
        check_header(k, v, &format!("headers.builtin.{k}"))?;
        builtin.push((k.to_ascii_lowercase().into_boxed_str(), v.as_str().into()));
    }
    for (i, p) in spec.headers.routing_prefixes.iter().enumerate() {
        if p.is_empty() || !is_token(p) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("headers.routing_prefixes[{i}]"),
                format!("{p:?} is not a header-name prefix"),
            ));
        }
    }
    let prefixes = spec
        .headers
        .routing_prefixes
        .iter()
        .map(|p| p.to_ascii_lowercase().into())
        .collect();
    Ok((builtin.into(), prefixes))
}
