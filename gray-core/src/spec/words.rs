//! Conditions in words, for people: the admin console's rule list and the like.
//!
//! ```
//! use gray_core::spec::ConditionSpec;
//!
//! let c: ConditionSpec = serde_json::from_str(
//!     r#"{"all": [{"cookie": {"name": "canary", "regex": "aaa$"}}, {"not": {"ip": ["office"]}}]}"#,
//! )?;
//! assert_eq!(c.to_string(), "cookie canary matches /aaa$/ and not (client IP in office)");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::fmt;

use super::key::KeySpec;
use super::rule::{ConditionSpec, ValueMatchSpec};

impl fmt::Display for ConditionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ConditionSpec as C;
        let joined = |f: &mut fmt::Formatter<'_>, v: &[ConditionSpec], word: &str| {
            for (i, c) in v.iter().enumerate() {
                if i > 0 {
                    write!(f, " {word} ")?;
                }
                match c {
                    C::All(_) | C::Any(_) if v.len() > 1 => write!(f, "({c})")?,
                    _ => write!(f, "{c}")?,
                }
            }
            Ok(())
        };
        match self {
            C::Ip(sets) => write!(f, "client IP in {}", sets.join(", ")),
            C::Cookie(v) => value(f, "cookie", v),
            C::Header(v) => value(f, "header", v),
            C::Query(v) => value(f, "query parameter", v),
            C::Path(v) => value(f, "path", v),
            C::Host(v) => value(f, "host", v),
            C::Method(m) => write!(f, "method {}", m.join(" or ")),
            C::Percent(p) => {
                let key = match &p.key {
                    KeySpec::Cookie(n) => format!("cookie {n}"),
                    KeySpec::Header(n) => format!("header {n}"),
                    KeySpec::Query(n) => format!("query parameter {n}"),
                    KeySpec::ClientIp => "client IP".to_string(),
                };
                write!(f, "{}% of {key}", p.value)?;
                if let Some(s) = &p.salt {
                    write!(f, " (salt {s})")?;
                }
                Ok(())
            }
            C::Expr(e) => write!(f, "expression {e}"),
            C::All(v) if v.is_empty() => f.write_str("always"),
            C::Any(v) if v.is_empty() => f.write_str("never"),
            C::All(v) => joined(f, v, "and"),
            C::Any(v) => joined(f, v, "or"),
            C::Not(c) => write!(f, "not ({c})"),
        }
    }
}

fn value(f: &mut fmt::Formatter<'_>, what: &str, v: &ValueMatchSpec) -> fmt::Result {
    f.write_str(what)?;
    if let Some(n) = &v.name {
        write!(f, " {n}")?;
    }
    let not = if v.invert { " not" } else { "" };
    if let Some(x) = &v.equals {
        write!(f, " is{not} {x:?}")?;
    } else if let Some(list) = &v.one_of {
        let list: Vec<String> = list.iter().map(|x| format!("{x:?}")).collect();
        write!(f, " is{not} one of {}", list.join(", "))?;
    } else if let Some(x) = &v.regex {
        let verb = if v.invert {
            "does not match"
        } else {
            "matches"
        };
        write!(f, " {verb} /{x}/")?;
    } else if let Some(x) = &v.prefix {
        write!(f, "{not} starts with {x:?}")?;
    } else if let Some(x) = &v.suffix {
        write!(f, "{not} ends with {x:?}")?;
    } else if let Some(x) = &v.contains {
        write!(f, "{not} contains {x:?}")?;
    } else if let Some(r) = &v.range {
        match (r.min, r.max) {
            (Some(a), Some(b)) => write!(f, " is{not} between {a} and {b}")?,
            (Some(a), None) => write!(f, " is{not} at least {a}")?,
            (None, Some(b)) => write!(f, " is{not} at most {b}")?,
            (None, None) => write!(f, " is a number")?,
        }
    } else if v.present == Some(true) || v.absent == Some(false) {
        f.write_str(" is present")?;
    } else if v.absent == Some(true) || v.present == Some(false) {
        f.write_str(" is absent")?;
    }
    if v.ignore_case {
        f.write_str(" (any case)")?;
    }
    Ok(())
}
