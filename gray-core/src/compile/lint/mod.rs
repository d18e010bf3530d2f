//! The checks behind [`crate::lint`], run on every compile once the spec is known to be valid.
//!
//! * `implies` — does every request that matches one condition match another (shadowed rules);
//! * `nets` — client-IP sets as sorted ranges: containment and the first overlap;
//! * `names` — cookie and header names and the ones that look like typos of each other.
//!
//! Each check is conservative: it warns only when it can show the problem from the spec alone
//! (an expression, a regex against a regex, a ramped percentage are taken as "unknown"), so a
//! warning is worth reading. IP ranges are built only for rules that need them, and the checks
//! that compare rules pair by pair (shadowing, overlapping IP sets, names) run only when a spec
//! has at most [`MAX_PAIRWISE`] enabled rules (distinct names), so that a compile stays cheap:
//! a spec that large is generated, and generators have their own checks.

mod implies;
mod names;
mod nets;

use std::collections::HashMap;

use super::scope::CompileScope;
use crate::error::Location;
use crate::lint::{Lint, LintKind};
use crate::spec::{ConditionSpec, KeySpec, PercentSpec, RuleSpec, Spec};
use implies::Implication;
use nets::Ranges;

/// The most enabled rules (and distinct cookie or header names) the pairwise checks compare.
pub(crate) const MAX_PAIRWISE: usize = 2000;

/// Lints a spec that compiled. `scope` resolves IP set names; rules in `ramped` have a judged
/// rollout moving their percentages, so those are not taken at their written value.
pub(super) fn lint(spec: &Spec, scope: &CompileScope) -> Vec<Lint> {
    let mut out = Vec::new();
    let rules: Vec<(usize, &RuleSpec)> = spec
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.enabled)
        .collect();
    let path = |i: usize, r: &RuleSpec| match r.when {
        Some(_) => format!("rules[{i}] (id {:?}).when", r.id),
        None => format!("rules[{i}] (id {:?})", r.id),
    };
    let group_of = |r: &RuleSpec| r.route.as_deref().unwrap_or(&spec.default).to_string();
    let imp = Implication::new(scope);

    // Shadowed rules: an earlier rule matches everything a later one would.
    let pairwise = rules.len() <= MAX_PAIRWISE;
    let mut shadowed = vec![false; rules.len()];
    for (b, &(bi, rb)) in rules.iter().enumerate().filter(|_| pairwise) {
        let ramped_b = scope.ramped.contains(&rb.id);
        for &(ai, ra) in &rules[..b] {
            let ramped = ramped_b || scope.ramped.contains(&ra.id);
            if imp.rule_implies(rb, ra, ramped) {
                shadowed[b] = true;
                let why = match &ra.when {
                    None => "has no condition, so it matches every request".to_string(),
                    Some(_) if imp.always(ra.when.as_ref(), &ra.id, ramped) => {
                        "matches every request".to_string()
                    }
                    Some(_) => "matches every request this one matches".to_string(),
                };
                out.push(Lint {
                    kind: LintKind::ShadowedRule,
                    rule: Some(rb.id.clone()),
                    location: Location::path(path(bi, rb)),
                    message: format!(
                        "rule {:?} can never match: rule {:?} (rules[{ai}]) comes first and {why}; \
                         move this rule above it, narrow the earlier one, or remove this one",
                        rb.id, ra.id
                    ),
                });
                break;
            }
        }
    }

    // Overlapping IP sets routed to different groups.
    let mut ranges: HashMap<usize, Option<Ranges>> = HashMap::new();
    let ip_rules: Vec<usize> = (0..rules.len())
        .filter(|&k| pairwise && !shadowed[k] && rules[k].1.when.as_ref().is_some_and(mentions_ip))
        .collect();
    for (n, &b) in ip_rules.iter().enumerate() {
        let (bi, rb) = rules[b];
        for &a in &ip_rules[..n] {
            let (ai, ra) = rules[a];
            if group_of(ra) == group_of(rb) {
                continue;
            }
            for k in [a, b] {
                ranges
                    .entry(k)
                    .or_insert_with(|| positive_ips(rules[k].1, scope).map(|n| Ranges::new(&n)));
            }
            let (Some(Some(ra_ips)), Some(Some(rb_ips))) = (ranges.get(&a), ranges.get(&b)) else {
                continue;
            };
            if let Some(net) = ra_ips.first_overlap(rb_ips) {
                out.push(Lint {
                    kind: LintKind::OverlappingIpSets,
                    rule: Some(rb.id.clone()),
                    location: Location::path(path(bi, rb)),
                    message: format!(
                        "rule {:?} (to group {:?}) and rule {:?} (rules[{ai}], to group {:?}) \
                         both match client IPs in {net}; for those addresses the earlier rule \
                         wins when both conditions hold",
                        rb.id,
                        group_of(rb),
                        ra.id,
                        group_of(ra)
                    ),
                });
                break;
            }
        }
    }

    // Percent conditions sharing key and salt across rules.
    let mut by_salt: HashMap<(String, String), (usize, &RuleSpec, f64)> = HashMap::new();
    for &(bi, rb) in &rules {
        let mut seen_here = Vec::new();
        if let Some(c) = &rb.when {
            percents(c, &mut |p| seen_here.push(p.clone()));
        }
        for p in seen_here {
            let salt = p.salt.clone().unwrap_or_else(|| rb.id.clone());
            let key = (key_name(&p.key), salt.clone());
            match by_salt.get(&key) {
                Some(&(ai, ra, av)) if ra.id != rb.id => {
                    out.push(Lint {
                        kind: LintKind::SharedPercentSalt,
                        rule: Some(rb.id.clone()),
                        location: Location::path(path(bi, rb)),
                        message: format!(
                            "rule {:?} and rule {:?} (rules[{ai}]) take percentages of {} with \
                             the same salt {salt:?}: the {}% of one are inside the {}% of the \
                             other, not an independent sample; give each rule its own `salt` \
                             (or none: the rule id is the default)",
                            rb.id,
                            ra.id,
                            key.0,
                            av.min(p.value),
                            av.max(p.value)
                        ),
                    });
                }
                Some(_) => {}
                None => {
                    by_salt.insert(key, (bi, rb, p.value));
                }
            }
        }
    }

    // Groups that can serve nobody.
    for (name, g) in &spec.groups {
        let why = if g.nodes.is_empty() {
            "has no nodes"
        } else if g.rollout.is_none() && g.nodes.iter().all(|n| n.weight == 0) {
            "has only nodes of weight 0"
        } else {
            continue;
        };
        let then = match &g.fallback {
            Some(f) => format!("every request routed to it goes to its fallback {f:?}"),
            None => "requests routed to it get no upstream".to_string(),
        };
        out.push(Lint {
            kind: LintKind::EmptyGroup,
            rule: None,
            location: Location::path(format!("groups.{name}.nodes")),
            message: format!("group {name:?} {why}: {then}"),
        });
    }

    names::typos(spec, &rules, &mut out);
    out
}

/// True when the condition has an `ip` test outside a `not`.
fn mentions_ip(c: &ConditionSpec) -> bool {
    match c {
        ConditionSpec::Ip(_) => true,
        ConditionSpec::All(v) | ConditionSpec::Any(v) => v.iter().any(mentions_ip),
        _ => false,
    }
}

/// The client IPs a rule's `ip` tests accept (outside `not`), or `None` when a name does not
/// resolve (it compiled, so that does not happen).
fn positive_ips(r: &RuleSpec, scope: &CompileScope) -> Option<Vec<ipnet::IpNet>> {
    fn walk(c: &ConditionSpec, scope: &CompileScope, out: &mut Vec<ipnet::IpNet>) -> Option<()> {
        match c {
            ConditionSpec::Ip(entries) => {
                out.extend(super::ip_sets::nets_of(entries, scope, "").ok()?)
            }
            ConditionSpec::All(v) | ConditionSpec::Any(v) => {
                for c in v {
                    walk(c, scope, out)?;
                }
            }
            _ => {}
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(r.when.as_ref()?, scope, &mut out)?;
    Some(out)
}

/// Every percent condition in a tree.
fn percents<'a>(c: &'a ConditionSpec, f: &mut dyn FnMut(&'a PercentSpec)) {
    match c {
        ConditionSpec::Percent(p) => f(p),
        ConditionSpec::All(v) | ConditionSpec::Any(v) => v.iter().for_each(|c| percents(c, f)),
        ConditionSpec::Not(c) => percents(c, f),
        _ => {}
    }
}

/// A request key in words, for messages and as a map key.
fn key_name(k: &KeySpec) -> String {
    match k {
        KeySpec::Cookie(n) => format!("cookie {n:?}"),
        KeySpec::Header(n) => format!("header {:?}", n.to_ascii_lowercase()),
        KeySpec::Query(n) => format!("query parameter {n:?}"),
        KeySpec::ClientIp => "the client IP".to_string(),
    }
}

#[cfg(test)]
mod tests;
