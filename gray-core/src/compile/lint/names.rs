//! Cookie and header names that look like a typo of a name the rest of the spec uses.
//!
//! A misspelt name (`canray` for `canary`, `x-user-idd`) does not fail: the rule just never
//! sees a value. So every name a condition tests is counted with all other uses of that name
//! (conditions, percent and hash keys, expressions' `#H['…']`, `set_headers`), and a name used
//! by this one condition only, within one edit (two for names of eight or more characters,
//! Damerau–Levenshtein) of a name used elsewhere, is reported. Names shorter than four
//! characters are never reported: `id` and `ip` are both real.

use std::collections::HashMap;

use crate::error::Location;
use crate::expr::variable_names;
use crate::lint::{Lint, LintKind};
use crate::spec::{ConditionSpec, KeySpec, RuleSpec, Spec};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Cookie,
    Header,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Cookie => "cookie",
            Kind::Header => "header",
        }
    }

    /// The form names are compared in: header names case-insensitively with `_` as `-`.
    fn norm(self, name: &str) -> String {
        match self {
            Kind::Cookie => name.to_string(),
            Kind::Header => name.to_ascii_lowercase().replace('_', "-"),
        }
    }
}

/// One use of a name: by the condition of rule `rule` (an index into the enabled rules), or by
/// something else (`None`).
struct Use {
    kind: Kind,
    name: String,
    rule: Option<usize>,
}

fn key_use(k: &KeySpec, rule: Option<usize>, out: &mut Vec<Use>) {
    let (kind, name) = match k {
        KeySpec::Cookie(n) => (Kind::Cookie, n),
        KeySpec::Header(n) => (Kind::Header, n),
        _ => return,
    };
    out.push(Use {
        kind,
        name: kind.norm(name),
        rule,
    });
}

fn condition_uses(c: &ConditionSpec, rule: usize, out: &mut Vec<Use>) {
    use ConditionSpec as C;
    let (kind, name) = match c {
        C::Cookie(v) => (Kind::Cookie, &v.name),
        C::Header(v) => (Kind::Header, &v.name),
        C::Percent(p) => return key_use(&p.key, Some(rule), out),
        C::Expr(src) => {
            // Expression variables are header (or parameter) names; they count as uses,
            // not as names to check.
            for v in variable_names(src) {
                out.push(Use {
                    kind: Kind::Header,
                    name: Kind::Header.norm(&v),
                    rule: None,
                });
            }
            return;
        }
        C::All(v) | C::Any(v) => return v.iter().for_each(|c| condition_uses(c, rule, out)),
        C::Not(c) => return condition_uses(c, rule, out),
        _ => return,
    };
    if let Some(name) = name {
        out.push(Use {
            kind,
            name: kind.norm(name),
            rule: Some(rule),
        });
    }
}

/// Reports likely typos among the names `rules` (the enabled rules, with their spec index)
/// test.
pub(super) fn typos(spec: &Spec, rules: &[(usize, &RuleSpec)], out: &mut Vec<Lint>) {
    let mut uses = Vec::new();
    for (k, (_, r)) in rules.iter().enumerate() {
        if let Some(c) = &r.when {
            condition_uses(c, k, &mut uses);
        }
    }
    for r in &spec.rules {
        for name in r.set_headers.keys() {
            uses.push(Use {
                kind: Kind::Header,
                name: Kind::Header.norm(name),
                rule: None,
            });
        }
    }
    for g in spec.groups.values() {
        if let Some(k) = &g.hash_key {
            key_use(k, None, &mut uses);
        }
    }
    // Per name: how many uses, the position of the first, and whether something other than a
    // condition uses it (an expression, a key, `set_headers`: then it is surely meant).
    let mut count: HashMap<(Kind, &str), (usize, usize, bool)> = HashMap::new();
    for (i, u) in uses.iter().enumerate() {
        let c = count
            .entry((u.kind, u.name.as_str()))
            .or_insert((0, i, false));
        c.0 += 1;
        c.2 |= u.rule.is_none();
    }
    if count.len() > super::MAX_PAIRWISE {
        return;
    }
    let mut reported = std::collections::HashSet::new();
    for (i, u) in uses.iter().enumerate() {
        let Some(rule) = u.rule else { continue };
        let (n, _, _) = count[&(u.kind, u.name.as_str())];
        if n != 1 || u.name.chars().count() < 4 {
            continue;
        }
        let limit = if u.name.chars().count() >= 8 { 2 } else { 1 };
        let best = count
            .iter()
            .filter(|((kind, name), (m, first, meant))| {
                *kind == u.kind
                    && *name != u.name
                    // Of two names that one condition each uses, the later one is the suspect.
                    && (*m > 1 || *meant || *first < i)
                    && name.chars().count() >= 4
            })
            .map(|((_, name), (m, _, _))| (strsim::osa_distance(&u.name, name), *m, *name))
            .filter(|(d, _, _)| *d <= limit)
            .min_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        let Some((_, uses_of, like)) = best else {
            continue;
        };
        if !reported.insert((u.kind, u.name.clone())) {
            continue;
        }
        let (index, r) = rules[rule];
        let times = if uses_of == 1 {
            "once"
        } else {
            "more than once"
        };
        out.push(Lint {
            kind: LintKind::LikelyTypo,
            rule: Some(r.id.clone()),
            location: Location::path(format!("rules[{index}] (id {:?}).when", r.id)),
            message: format!(
                "{} {:?} is used by this rule only and looks like a typo of {:?}, which the \
                 config uses {times}; if the names are both right, ignore this",
                u.kind.word(),
                u.name,
                like
            ),
        });
    }
}
