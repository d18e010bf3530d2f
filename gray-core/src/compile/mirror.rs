//! Compiling a `mirror` section of a rule or a group.

use super::condition::compile_key;
use super::names::GroupNames;
use super::scope::CompileScope;
use crate::error::{Error, ErrorKind, Result};
use crate::snapshot::mirror::{Compare, Mirror};
use crate::spec::{MirrorSpec, SAFE_METHODS};
use crate::validate::{check_header, is_token};

/// Compiles `m` at `path`; `id` names the mirror (`rule beta`, `group web`).
pub(super) fn compile_mirror(
    m: &MirrorSpec,
    path: &str,
    id: &str,
    names: &GroupNames<'_>,
    scope: &mut CompileScope,
) -> Result<Mirror> {
    let invalid = |field: &str, why: String| {
        Err(Error::at(
            ErrorKind::InvalidValue,
            format!("{path}.{field}"),
            why,
        ))
    };
    let to = names.index(&m.to, &format!("{path}.to"))?;
    if !(0.0..=100.0).contains(&m.percent) || (m.percent * 100.0).fract() != 0.0 {
        return invalid(
            "percent",
            format!(
                "{} is not a percentage from 0 to 100 in steps of 0.01",
                m.percent
            ),
        );
    }
    let methods: Vec<Box<str>> = match &m.methods {
        Some(list) => {
            for (i, x) in list.iter().enumerate() {
                if !is_token(x) {
                    return invalid(&format!("methods[{i}]"), format!("{x:?} is not a method"));
                }
            }
            list.iter().map(|x| x.to_ascii_uppercase().into()).collect()
        }
        None => SAFE_METHODS.iter().map(|x| (*x).into()).collect(),
    };
    if m.max_in_flight == 0 {
        return invalid("max_in_flight", "must be at least 1".into());
    }
    if m.timeout.0.is_zero() {
        return invalid("timeout", "must be longer than 0".into());
    }
    check_header(&m.header, "1", &format!("{path}.header"))?;
    if let Some(h) = &m.host {
        check_header("host", h, &format!("{path}.host"))?;
        if h.is_empty() {
            return invalid(
                "host",
                "must not be empty (omit it to keep the request's)".into(),
            );
        }
    }
    let key = match &m.key {
        Some(k) => {
            Some(compile_key(k, &mut scope.fields).map_err(|e| e.within(&format!("{path}.key")))?)
        }
        None => None,
    };
    let compare = match &m.compare {
        Some(c) => {
            let baseline = match &c.baseline {
                Some(b) => Some(names.index(b, &format!("{path}.compare.baseline"))?),
                None => None,
            };
            for (i, h) in c.headers.iter().enumerate() {
                if !is_token(h) {
                    return invalid(
                        &format!("compare.headers[{i}]"),
                        format!("{h:?} is not a header name"),
                    );
                }
            }
            Some(Compare {
                baseline,
                headers: c
                    .headers
                    .iter()
                    .map(|h| h.to_ascii_lowercase().into())
                    .collect(),
                body: c.body,
                ignore: c.ignore.clone().into(),
                max_body: c.max_body,
            })
        }
        None => None,
    };
    Ok(Mirror {
        id: id.into(),
        to,
        threshold: (m.percent * 100.0).round() as u32,
        key,
        salted: crate::sticky::salt_prefix(id.as_bytes()),
        methods: methods.into(),
        max_body: m.max_body,
        max_in_flight: m.max_in_flight,
        timeout: m.timeout.0,
        header: m.header.to_ascii_lowercase().into(),
        host: m.host.as_deref().map(Into::into),
        compare,
    })
}
