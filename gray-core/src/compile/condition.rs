//! Compiling one condition tree: names lowercased, regexes and expressions compiled, IP set
//! names resolved to bit indices of the snapshot's merged IP table, percentages turned into
//! bucket thresholds.

use super::scope::CompileScope;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::expr::Expr;
use crate::matcher::ValueMatcher;
use crate::request::field_index::FieldNamesBuilder;
use crate::snapshot::rule::{Cond, Key};
use crate::spec::{ConditionSpec, KeySpec, PercentSpec, ValueMatchSpec};
use crate::sticky;

/// Deepest allowed nesting of `all` / `any` / `not`.
pub(crate) const MAX_CONDITION_DEPTH: usize = 32;

/// Compiles a condition tree. `path` is the field path for errors, `rule_id` the default salt.
pub(crate) fn compile_condition(
    spec: &ConditionSpec,
    path: &str,
    rule_id: &str,
    sets: &mut CompileScope,
    depth: usize,
) -> Result<Cond> {
    if depth > MAX_CONDITION_DEPTH {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            format!("conditions are nested more than {MAX_CONDITION_DEPTH} levels deep"),
        ));
    }
    Ok(match spec {
        ConditionSpec::Ip(entries) => {
            if entries.is_empty() {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{path}.ip"),
                    "`ip` needs at least one set name or CIDR",
                ));
            }
            let idx = sets.resolve(entries, &format!("{path}.ip"))?;
            Cond::Ip {
                sets: idx.into(),
                label: entries.join(", ").into(),
            }
        }
        ConditionSpec::Cookie(m) => {
            let (name, m) = value_condition(m, path, "cookie", true, false)?;
            let slot = sets.fields.cookie(&name);
            Cond::Cookie { name, slot, m }
        }
        ConditionSpec::Header(m) => {
            let (name, m) = value_condition(m, path, "header", true, false)?;
            let slot = sets.fields.header(&name);
            Cond::Header {
                name: name.to_ascii_lowercase().into(),
                slot,
                m,
            }
        }
        ConditionSpec::Query(m) => {
            let (name, m) = value_condition(m, path, "query", true, false)?;
            let slot = sets.fields.query(&name);
            Cond::Query { name, slot, m }
        }
        ConditionSpec::Path(m) => Cond::Path(value_condition(m, path, "path", false, false)?.1),
        ConditionSpec::Host(m) => Cond::Host(value_condition(m, path, "host", false, true)?.1),
        ConditionSpec::Method(list) => {
            if list.is_empty() || list.iter().any(|m| m.trim().is_empty()) {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{path}.method"),
                    "`method` needs a list of non-empty method names",
                ));
            }
            Cond::Method(
                list.iter()
                    .map(|m| m.trim().to_ascii_uppercase().into())
                    .collect(),
            )
        }
        ConditionSpec::Percent(p) => compile_percent(p, path, rule_id, sets)?,
        ConditionSpec::Expr(src) => compile_expr(src, path, sets)?,
        ConditionSpec::All(list) | ConditionSpec::Any(list) => {
            let kind = if matches!(spec, ConditionSpec::All(_)) {
                "all"
            } else {
                "any"
            };
            let mut out = Vec::with_capacity(list.len());
            for (i, c) in list.iter().enumerate() {
                out.push(compile_condition(
                    c,
                    &format!("{path}.{kind}[{i}]"),
                    rule_id,
                    sets,
                    depth + 1,
                )?);
            }
            if kind == "all" {
                Cond::All(out.into())
            } else {
                Cond::Any(out.into())
            }
        }
        ConditionSpec::Not(c) => Cond::Not(Box::new(compile_condition(
            c,
            &format!("{path}.not"),
            rule_id,
            sets,
            depth + 1,
        )?)),
    })
}

/// The field name (when `named`) and the compiled matcher of a value condition of `kind` at
/// `path`; `icase` forces case-insensitive matching (hosts).
fn value_condition(
    m: &ValueMatchSpec,
    path: &str,
    kind: &str,
    named: bool,
    icase: bool,
) -> Result<(Box<str>, ValueMatcher)> {
    let p = format!("{path}.{kind}");
    let name = match (&m.name, named) {
        (Some(n), true) if !n.trim().is_empty() => n.as_str().into(),
        (_, true) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{p}.name"),
                format!("a {kind} condition needs a non-empty `name`"),
            ))
        }
        (Some(_), false) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{p}.name"),
                format!("a {kind} condition has no `name`"),
            ))
        }
        (None, false) => Box::from(""),
    };
    let m = ValueMatcher::compile(m, icase).map_err(|e| e.within(&p))?;
    Ok((name, m))
}

/// A sticky percentage of a request key: the key, its salt (the rule id by default) and the
/// bucket threshold.
fn compile_percent(
    p: &PercentSpec,
    path: &str,
    rule_id: &str,
    sets: &mut CompileScope,
) -> Result<Cond> {
    let pp = format!("{path}.percent");
    if !(0.0..=100.0).contains(&p.value) {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            format!("{pp}.value"),
            format!("percentage {} must be between 0 and 100", p.value),
        ));
    }
    let key = compile_key(&p.key, &mut sets.fields).map_err(|e| e.within(&format!("{pp}.key")))?;
    let salt: Box<str> = p.salt.as_deref().unwrap_or(rule_id).into();
    Ok(Cond::Percent {
        key,
        threshold: sticky::threshold(p.value),
        ramp: sets.ramps.get(rule_id).map(|(r, _)| {
            sets.ramped.insert(rule_id.to_string());
            r.clone()
        }),
        salted: sticky::salt_prefix(salt.as_bytes()),
        salt,
    })
}

/// An expression, with where each of its variables is found.
fn compile_expr(src: &str, path: &str, sets: &mut CompileScope) -> Result<Cond> {
    let e = Expr::parse(src).map_err(|e| {
        // The column points into the expression (the message shows it with a caret).
        Error::new(
            ErrorKind::InvalidExpression,
            Location::new(format!("{path}.expr"), None, Some(e.column())),
            e.to_string(),
        )
    })?;
    let vars = e
        .variables()
        .iter()
        .map(|v| sets.fields.variable(v))
        .collect();
    Ok(Cond::Expr {
        e: Box::new(e),
        vars,
    })
}

/// Compiles where a request key comes from, giving its field a slot.
pub(crate) fn compile_key(spec: &KeySpec, fields: &mut FieldNamesBuilder) -> Result<Key> {
    let check = |n: &str, what: &str| {
        if n.trim().is_empty() {
            Err(Error::at(
                ErrorKind::InvalidValue,
                what,
                format!("{what} name must not be empty"),
            ))
        } else {
            Ok(())
        }
    };
    Ok(match spec {
        KeySpec::Cookie(n) => {
            check(n, "cookie")?;
            Key::Cookie(n.as_str().into(), fields.cookie(n))
        }
        KeySpec::Header(n) => {
            check(n, "header")?;
            Key::Header(n.to_ascii_lowercase().into(), fields.header(n))
        }
        KeySpec::Query(n) => {
            check(n, "query")?;
            Key::Query(n.as_str().into(), fields.query(n))
        }
        KeySpec::ClientIp => Key::ClientIp,
    })
}
