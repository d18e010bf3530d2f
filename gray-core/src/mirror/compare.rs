//! Comparing a mirror's answer with the primary's, Diffy style.
//!
//! Two answers to the same request differ for two reasons: the builds behave differently (what
//! a canary comparison looks for), or the answer is not a function of the request (a timestamp,
//! a generated id, a random order). A second copy sent to another *baseline* node tells the two
//! apart: a field that differs between the primary and the baseline, which run the same build,
//! is noise, and a difference of the candidate there is not reported.
//!
//! ```
//! use gray_core::mirror::compare::{compare, Answer, BodyMode, Difference};
//!
//! let answer = |status, body: &str| Answer { status, headers: vec![], body: body.as_bytes().to_vec() };
//! let primary = answer(200, r#"{"v": 1, "ts": 100, "items": [1, 2]}"#);
//! let baseline = answer(200, r#"{"v": 1, "ts": 105, "items": [1, 2]}"#);
//! let candidate = answer(200, r#"{"v": 2, "ts": 107, "items": [1, 2]}"#);
//! let c = compare(&primary, &candidate, Some(&baseline), BodyMode::Json, &[]);
//! assert_eq!(c.differences, [Difference::Field { path: "v".into(), primary: "1".into(), candidate: "2".into() }]);
//! assert_eq!(c.noise, ["ts"]);
//! ```

use serde::Serialize;
use serde_json::Value;

/// One answer: its status, the compared headers (lower-case names) and its body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// The headers to compare, `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body (as much as was kept).
    pub body: Vec<u8>,
}

/// How bodies are compared (the spec's `compare.body`).
pub use crate::spec::CompareBody as BodyMode;

/// One difference of the candidate from the primary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// Another status.
    Status {
        /// The primary's.
        primary: u16,
        /// The candidate's.
        candidate: u16,
    },
    /// Another value (or presence) of a compared header.
    Header {
        /// The header.
        name: String,
        /// The primary's value, `None` when absent.
        primary: Option<String>,
        /// The candidate's.
        candidate: Option<String>,
    },
    /// A JSON field (dotted path, `[i]` for array items; `` for the root) with another value.
    Field {
        /// Where.
        path: String,
        /// The primary's value as JSON text (`absent` when missing).
        primary: String,
        /// The candidate's.
        candidate: String,
    },
    /// Bodies that differ (exact mode, or bodies that are not JSON).
    Body {
        /// Primary body length.
        primary_bytes: usize,
        /// Candidate body length.
        candidate_bytes: usize,
    },
}

impl Difference {
    /// `status`, `header`, `field` or `body`: the counter label.
    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Status { .. } => "status",
            Difference::Header { .. } => "header",
            Difference::Field { .. } => "field",
            Difference::Body { .. } => "body",
        }
    }

    /// Where: the header name or field path (`status` / `body` for those kinds).
    fn place(&self) -> String {
        match self {
            Difference::Status { .. } => "status".into(),
            Difference::Header { name, .. } => format!("header {name}"),
            Difference::Field { path, .. } => path.clone(),
            Difference::Body { .. } => "body".into(),
        }
    }
}

/// What a comparison found.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Comparison {
    /// The candidate's differences from the primary that the baseline does not also show.
    pub differences: Vec<Difference>,
    /// Places where the baseline differs from the primary too (noise), so any difference of
    /// the candidate there was not reported.
    pub noise: Vec<String>,
}

/// Compares `candidate` with `primary`, leaving out `ignore`d JSON paths and the places where
/// `baseline` (another copy to the primary's build) differs from the primary.
pub fn compare(
    primary: &Answer,
    candidate: &Answer,
    baseline: Option<&Answer>,
    mode: BodyMode,
    ignore: &[String],
) -> Comparison {
    let noise: Vec<String> = baseline
        .map(|b| {
            differences(primary, b, mode, ignore)
                .iter()
                .map(Difference::place)
                .collect()
        })
        .unwrap_or_default();
    let differences = differences(primary, candidate, mode, ignore)
        .into_iter()
        .filter(|d| !noise.contains(&d.place()))
        .collect();
    Comparison { differences, noise }
}

fn differences(a: &Answer, b: &Answer, mode: BodyMode, ignore: &[String]) -> Vec<Difference> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push(Difference::Status {
            primary: a.status,
            candidate: b.status,
        });
    }
    let mut names: Vec<&String> = a.headers.iter().chain(&b.headers).map(|(n, _)| n).collect();
    names.sort();
    names.dedup();
    for name in names {
        let get = |x: &Answer| {
            x.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (pa, pb) = (get(a), get(b));
        if pa != pb {
            out.push(Difference::Header {
                name: name.clone(),
                primary: pa,
                candidate: pb,
            });
        }
    }
    let exact = |out: &mut Vec<Difference>| {
        if a.body != b.body {
            out.push(Difference::Body {
                primary_bytes: a.body.len(),
                candidate_bytes: b.body.len(),
            });
        }
    };
    match mode {
        BodyMode::None => {}
        BodyMode::Exact => exact(&mut out),
        BodyMode::Json => match (
            serde_json::from_slice::<Value>(&a.body),
            serde_json::from_slice::<Value>(&b.body),
        ) {
            (Ok(x), Ok(y)) => fields(&x, &y, String::new(), ignore, &mut out),
            _ => exact(&mut out),
        },
    }
    out
}

/// At most this many field differences per comparison (a wholly different body would list
/// every field).
const MAX_FIELDS: usize = 32;

fn fields(a: &Value, b: &Value, path: String, ignore: &[String], out: &mut Vec<Difference>) {
    if ignore.contains(&path) || out.len() >= MAX_FIELDS {
        return;
    }
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(va), Some(vb)) => fields(va, vb, join(k), ignore, out),
                    (va, vb) => leaf(va, vb, join(k), ignore, out),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                fields(va, vb, format!("{path}[{i}]"), ignore, out);
            }
        }
        _ if a == b => {}
        _ => leaf(Some(a), Some(b), path, ignore, out),
    }
}

fn leaf(
    a: Option<&Value>,
    b: Option<&Value>,
    path: String,
    ignore: &[String],
    out: &mut Vec<Difference>,
) {
    if ignore.contains(&path) || a == b {
        return;
    }
    let text = |v: Option<&Value>| match v {
        Some(v) => {
            let t = v.to_string();
            if t.chars().count() > 120 {
                format!("{}…", t.chars().take(120).collect::<String>())
            } else {
                t
            }
        }
        None => "absent".to_string(),
    };
    out.push(Difference::Field {
        path,
        primary: text(a),
        candidate: text(b),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        Answer {
            status,
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn status_headers_fields_and_noise() {
        let p = answer(
            200,
            &[("content-type", "application/json")],
            r#"{"a": {"b": 1, "c": [1, 2]}, "id": "x1"}"#,
        );
        let c = answer(
            500,
            &[("content-type", "text/plain")],
            r#"{"a": {"b": 2, "c": [1, 3]}, "id": "x2", "new": true}"#,
        );
        let base = answer(
            200,
            &[("content-type", "application/json")],
            r#"{"a": {"b": 1, "c": [1, 2]}, "id": "x9"}"#,
        );
        let got = compare(&p, &c, Some(&base), BodyMode::Json, &[]);
        let kinds: Vec<(&str, String)> = got
            .differences
            .iter()
            .map(|d| (d.kind(), d.place()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("status", "status".to_string()),
                ("header", "header content-type".to_string()),
                ("field", "a.b".to_string()),
                ("field", "a.c[1]".to_string()),
                ("field", "new".to_string()),
            ]
        );
        assert_eq!(got.noise, ["id"]);
        // Without a baseline the id is a difference; ignored paths never are.
        let plain = compare(&p, &c, None, BodyMode::Json, &["a.b".into(), "new".into()]);
        let places: Vec<String> = plain.differences.iter().map(|d| d.place()).collect();
        assert_eq!(places, ["status", "header content-type", "a.c[1]", "id"]);
    }

    #[test]
    fn exact_and_non_json_bodies() {
        let p = answer(200, &[], "hello");
        let c = answer(200, &[], "hullo");
        assert_eq!(
            compare(&p, &c, None, BodyMode::Json, &[]).differences,
            [Difference::Body {
                primary_bytes: 5,
                candidate_bytes: 5
            }]
        );
        assert!(compare(&p, &c, None, BodyMode::None, &[])
            .differences
            .is_empty());
        assert!(compare(&p, &p, None, BodyMode::Exact, &[])
            .differences
            .is_empty());
        // Equal JSON written differently is equal.
        let a = answer(200, &[], r#"{"x": 1, "y": [true]}"#);
        let b = answer(200, &[], r#"{ "y": [true], "x": 1 }"#);
        assert!(compare(&a, &b, None, BodyMode::Json, &[])
            .differences
            .is_empty());
    }
}
