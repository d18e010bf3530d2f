//! "Every request that matches A also matches B", decided from the spec alone.
//!
//! The answer is `true` only when it follows from the shapes of the two conditions (a CIDR
//! inside another, an exact value a later regex accepts, a smaller percentage of the same key
//! and salt, a conjunction that contains the other condition …); anything it cannot show is
//! `false`, so a shadowed-rule warning is never a guess.

use std::cell::RefCell;
use std::collections::HashMap;

use super::nets::Ranges;
use crate::compile::scope::CompileScope;
use crate::matcher::ValueMatcher;
use crate::spec::{ConditionSpec, PercentSpec, RuleSpec, ValueMatchSpec};

/// The rules a pair of conditions belong to (their percent salts default to the rule ids) and
/// whether a judged rollout moves their percentages.
#[derive(Clone, Copy)]
struct Pair<'a> {
    a_rule: &'a str,
    b_rule: &'a str,
    ramped: bool,
}

/// Decides implications, resolving IP set names once per `ip` list.
pub(super) struct Implication<'s> {
    scope: &'s CompileScope,
    ranges: RefCell<HashMap<*const Vec<String>, Option<std::rc::Rc<Ranges>>>>,
}

impl<'s> Implication<'s> {
    pub(super) fn new(scope: &'s CompileScope) -> Self {
        Implication {
            scope,
            ranges: RefCell::new(HashMap::new()),
        }
    }

    /// True when every request that `later` matches, `earlier` matches too.
    pub(super) fn rule_implies(&self, later: &RuleSpec, earlier: &RuleSpec, ramped: bool) -> bool {
        let p = Pair {
            a_rule: &later.id,
            b_rule: &earlier.id,
            ramped,
        };
        match (&later.when, &earlier.when) {
            (_, None) => true,
            (None, Some(b)) => always_true(b, ramped),
            (Some(a), Some(b)) => self.implies(a, b, p),
        }
    }

    /// True when the condition matches every request (no condition does).
    pub(super) fn always(&self, c: Option<&ConditionSpec>, _rule: &str, ramped: bool) -> bool {
        c.is_none_or(|c| always_true(c, ramped))
    }

    fn implies(&self, a: &ConditionSpec, b: &ConditionSpec, p: Pair<'_>) -> bool {
        use ConditionSpec as C;
        if always_true(b, p.ramped) || always_false(a, p.ramped) {
            return true;
        }
        match (a, b) {
            (_, C::All(bs)) => bs.iter().all(|b| self.implies(a, b, p)),
            (C::Any(as_), _) => as_.iter().all(|a| self.implies(a, b, p)),
            (C::All(as_), _) if as_.iter().any(|a| self.implies(a, b, p)) => true,
            (_, C::Any(bs)) => bs.iter().any(|b| self.implies(a, b, p)),
            (C::Not(x), C::Not(y)) => self.implies(y, x, p),
            (C::Ip(x), C::Ip(y)) => x == y || self.ip_within(x, y),
            (C::Cookie(x), C::Cookie(y)) | (C::Query(x), C::Query(y)) => {
                x.name == y.name && value_implies(x, y, false)
            }
            (C::Header(x), C::Header(y)) => {
                same_header(x.name.as_deref(), y.name.as_deref()) && value_implies(x, y, false)
            }
            (C::Path(x), C::Path(y)) => value_implies(x, y, false),
            (C::Host(x), C::Host(y)) => value_implies(x, y, true),
            (C::Method(x), C::Method(y)) => x
                .iter()
                .all(|m| y.iter().any(|n| m.eq_ignore_ascii_case(n))),
            (C::Percent(x), C::Percent(y)) => !p.ramped && percent_within(x, y, p),
            (C::Expr(x), C::Expr(y)) => x.trim() == y.trim(),
            _ => a == b,
        }
    }

    fn ip_within(&self, a: &Vec<String>, b: &Vec<String>) -> bool {
        match (self.ranges_of(a), self.ranges_of(b)) {
            (Some(a), Some(b)) => a.within(&b),
            _ => false,
        }
    }

    fn ranges_of(&self, entries: &Vec<String>) -> Option<std::rc::Rc<Ranges>> {
        let key = entries as *const Vec<String>;
        if let Some(r) = self.ranges.borrow().get(&key) {
            return r.clone();
        }
        let r = super::super::ip_sets::nets_of(entries, self.scope, "")
            .ok()
            .map(|n| std::rc::Rc::new(Ranges::new(&n)));
        self.ranges.borrow_mut().insert(key, r.clone());
        r
    }
}

fn always_true(c: &ConditionSpec, ramped: bool) -> bool {
    use ConditionSpec as C;
    match c {
        C::Percent(p) => !ramped && p.value >= 100.0,
        C::All(v) => v.iter().all(|c| always_true(c, ramped)),
        C::Any(v) => v.iter().any(|c| always_true(c, ramped)),
        C::Not(c) => always_false(c, ramped),
        _ => false,
    }
}

fn always_false(c: &ConditionSpec, ramped: bool) -> bool {
    use ConditionSpec as C;
    match c {
        C::Percent(p) => !ramped && p.value <= 0.0,
        C::All(v) => v.iter().any(|c| always_false(c, ramped)),
        C::Any(v) => v.iter().all(|c| always_false(c, ramped)),
        C::Not(c) => always_true(c, ramped),
        _ => false,
    }
}

/// Header names compare case-insensitively, `_` as `-` (as routing does).
fn same_header(a: Option<&str>, b: Option<&str>) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace('_', "-");
    match (a, b) {
        (Some(a), Some(b)) => norm(a) == norm(b),
        _ => false,
    }
}

/// Same key, same salt (the rule id when none is written), and a smaller or equal share:
/// `bucket(salt, key) < a` implies `bucket(salt, key) < b` when `a <= b`.
fn percent_within(a: &PercentSpec, b: &PercentSpec, p: Pair<'_>) -> bool {
    let salt_a = a.salt.as_deref().unwrap_or(p.a_rule);
    let salt_b = b.salt.as_deref().unwrap_or(p.b_rule);
    a.key == b.key && salt_a == salt_b && a.value <= b.value
}

/// Whether every value (of one cookie, header, parameter, path or host) that `a` accepts, `b`
/// accepts. `host` compares case-insensitively, as host matching does.
fn value_implies(a: &ValueMatchSpec, b: &ValueMatchSpec, host: bool) -> bool {
    let (a_name, b_name) = (&a.name, &b.name);
    let strip = |v: &ValueMatchSpec| ValueMatchSpec {
        name: None,
        ..v.clone()
    };
    if strip(a) == strip(b) {
        return true;
    }
    let _ = (a_name, b_name);
    // `present` is implied by every test but `absent` / `present: false` (a missing value
    // fails every other operator, `invert` included).
    let a_absent = a.absent == Some(true) || a.present == Some(false);
    let b_absent = b.absent == Some(true) || b.present == Some(false);
    if b.present == Some(true) && !b.invert {
        return !a_absent;
    }
    if a_absent || b_absent {
        return a_absent && b_absent;
    }
    if a.invert || b.invert || (a.ignore_case && !b.ignore_case && !host) {
        return false;
    }
    // Exact values: each must pass `b` (compiled only here: a regex costs a compile).
    let exact: Option<Vec<&str>> = match (&a.equals, &a.one_of) {
        (Some(v), _) => Some(vec![v.as_str()]),
        (_, Some(list)) => Some(list.iter().map(String::as_str).collect()),
        _ => None,
    };
    if let Some(values) = exact {
        let Ok(bm) = ValueMatcher::compile(b, host) else {
            return false;
        };
        return values.iter().all(|v| bm.matches(Some(v)));
    }
    // Affixes: a longer prefix (suffix, substring) of a shorter one.
    let fold = |s: &str| {
        if b.ignore_case || host {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let pairs = [
        (&a.prefix, &b.prefix, 0u8),
        (&a.suffix, &b.suffix, 1),
        (&a.prefix, &b.contains, 2),
        (&a.suffix, &b.contains, 2),
        (&a.contains, &b.contains, 2),
    ];
    for (x, y, how) in pairs {
        if let (Some(x), Some(y)) = (x, y) {
            let (x, y) = (fold(x), fold(y));
            return match how {
                0 => x.starts_with(&y),
                1 => x.ends_with(&y),
                _ => x.contains(&y),
            };
        }
    }
    if let (Some(x), Some(y)) = (&a.range, &b.range) {
        let lo = match (x.min, y.min) {
            (_, None) => true,
            (Some(a), Some(b)) => a >= b,
            (None, Some(_)) => false,
        };
        let hi = match (x.max, y.max) {
            (_, None) => true,
            (Some(a), Some(b)) => a <= b,
            (None, Some(_)) => false,
        };
        return lo && hi;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(yaml: &str) -> ConditionSpec {
        crate::spec::yaml_from_str(yaml).unwrap()
    }

    fn implies(a: &str, b: &str) -> bool {
        let scope = CompileScope::new();
        let imp = Implication::new(&scope);
        let p = Pair {
            a_rule: "a",
            b_rule: "b",
            ramped: false,
        };
        imp.implies(&cond(a), &cond(b), p)
    }

    #[test]
    fn implications_that_hold() {
        for (a, b) in [
            ("{ ip: ['10.1.2.0/24'] }", "{ ip: ['10.0.0.0/8'] }"),
            (
                "{ cookie: { name: c, equals: xaaa } }",
                "{ cookie: { name: c, regex: 'aaa$' } }",
            ),
            (
                "{ cookie: { name: c, in: [a1, a2] } }",
                "{ cookie: { name: c, prefix: a } }",
            ),
            (
                "{ cookie: { name: c, prefix: beta- } }",
                "{ cookie: { name: c, present: true } }",
            ),
            (
                "{ header: { name: X_User, prefix: abc } }",
                "{ header: { name: x-user, prefix: ab } }",
            ),
            (
                "{ query: { name: n, range: { min: 2, max: 3 } } }",
                "{ query: { name: n, range: { min: 1 } } }",
            ),
            (
                "{ host: { equals: API.example.com } }",
                "{ host: { suffix: example.com } }",
            ),
            ("{ method: [get] }", "{ method: [GET, POST] }"),
            (
                "{ percent: { key: { cookie: uid }, value: 5, salt: s } }",
                "{ percent: { key: { cookie: uid }, value: 10, salt: s } }",
            ),
            (
                "{ all: [{ method: [GET] }, { path: { prefix: /api } }] }",
                "{ path: { prefix: /api } }",
            ),
            (
                "{ path: { prefix: /api/v2 } }",
                "{ any: [{ method: [PUT] }, { path: { prefix: /api } }] }",
            ),
            (
                "{ any: [{ ip: ['10.0.0.1'] }, { ip: ['10.0.0.2'] }] }",
                "{ ip: ['10.0.0.0/30'] }",
            ),
            (
                "{ not: { ip: ['10.0.0.0/8'] } }",
                "{ not: { ip: ['10.1.0.0/16'] } }",
            ),
            (
                "{ method: [GET] }",
                "{ percent: { key: client_ip, value: 100 } }",
            ),
            ("{ method: [GET] }", "{ all: [] }"),
            (
                "{ expr: \"#H['a'] == '1'\" }",
                "{ expr: \" #H['a'] == '1' \" }",
            ),
        ] {
            assert!(implies(a, b), "{a} ⇒ {b}");
        }
    }

    #[test]
    fn implications_that_do_not_hold() {
        for (a, b) in [
            ("{ ip: ['10.0.0.0/8'] }", "{ ip: ['10.1.2.0/24'] }"),
            (
                "{ cookie: { name: c, equals: xaab } }",
                "{ cookie: { name: c, regex: 'aaa$' } }",
            ),
            (
                "{ cookie: { name: d, equals: xaaa } }",
                "{ cookie: { name: c, regex: 'aaa$' } }",
            ),
            (
                "{ cookie: { name: c, regex: 'aaa$' } }",
                "{ cookie: { name: c, regex: 'a$' } }",
            ),
            (
                "{ cookie: { name: c, equals: A, ignore_case: true } }",
                "{ cookie: { name: c, equals: A } }",
            ),
            (
                "{ cookie: { name: c, equals: a, invert: true } }",
                "{ cookie: { name: c, equals: b } }",
            ),
            (
                "{ cookie: { name: c, absent: true } }",
                "{ cookie: { name: c, present: true } }",
            ),
            (
                "{ percent: { key: { cookie: uid }, value: 5 } }",
                "{ percent: { key: { cookie: uid }, value: 10 } }",
            ),
            (
                "{ percent: { key: { cookie: uid }, value: 20, salt: s } }",
                "{ percent: { key: { cookie: uid }, value: 10, salt: s } }",
            ),
            (
                "{ path: { prefix: /api } }",
                "{ all: [{ method: [GET] }, { path: { prefix: /api } }] }",
            ),
            ("{ method: [GET, POST] }", "{ method: [GET] }"),
            (
                "{ expr: \"#H['a'] == '1'\" }",
                "{ expr: \"#H['a'] == '2'\" }",
            ),
            (
                "{ method: [GET] }",
                "{ percent: { key: client_ip, value: 99.99 } }",
            ),
        ] {
            assert!(!implies(a, b), "{a} does not imply {b}");
        }
    }
}
