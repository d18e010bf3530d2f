//! Route values, lists, wildcards and weights: the small value language shared by the native
//! `release` section, the Nepxion importer and the `n-d-*` headers.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};

/// Service name → value.
type PerService = Box<[(Box<str>, Box<str>)]>;

/// A compiled route value: the header text to propagate and, for a JSON object, the value per
/// service.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub(crate) header: Box<str>,
    per_service: Option<PerService>,
}

impl Value {
    /// Parses a route value. `weights` additionally checks each service value is a weight list.
    pub(crate) fn parse(raw: &str, path: &str, weights: bool) -> Result<Value> {
        let raw = raw.trim();
        let bad = |msg: String| Error::at(ErrorKind::InvalidValue, path, msg);
        if raw.is_empty() {
            return Err(bad("a route value must not be empty".into()));
        }
        let mut header = raw.to_string();
        let per_service = if raw.starts_with('{') {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw)
                .map_err(|e| {
                    bad(format!(
                        "{raw:?} starts like a JSON object but is not one ({e}); write \
                         {{\"service\":\"value\"}} or a plain value"
                    ))
                })?;
            let mut out = Vec::with_capacity(map.len());
            for (k, v) in map {
                let serde_json::Value::String(s) = v else {
                    return Err(bad(format!("the value for service {k:?} must be a string")));
                };
                if weights {
                    parse_weights(&s).map_err(|m| bad(format!("service {k:?}: {m}")))?;
                }
                out.push((k.into_boxed_str(), s.into_boxed_str()));
            }
            // Propagate the compact form: rule files often spread the map over lines.
            let compact: std::collections::BTreeMap<&str, &str> =
                out.iter().map(|(k, v)| (&**k, &**v)).collect();
            header = serde_json::to_string(&compact).unwrap_or(header);
            Some(out.into_boxed_slice())
        } else {
            if weights {
                parse_weights(raw).map_err(bad)?;
            }
            None
        };
        crate::validate::check_header("n-d-value", &header, path)?;
        Ok(Value {
            header: header.into(),
            per_service,
        })
    }

    /// The value that applies to `service`, or `None` when the service is not constrained.
    pub(crate) fn for_service(&self, service: &str) -> Option<&str> {
        match &self.per_service {
            None => Some(&self.header),
            Some(m) => m.iter().find(|(k, _)| &**k == service).map(|(_, v)| &**v),
        }
    }
}

/// The value for `service` in a route value that arrived in a header. Lenient like Nepxion: a
/// text that is not a JSON object of strings applies to every service as it is.
pub(crate) fn inbound_for_service<'a>(raw: &'a str, service: &str) -> Option<Cow<'a, str>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if raw.starts_with('{') {
        if let Ok(map) =
            serde_json::from_str::<std::collections::HashMap<Cow<'a, str>, Cow<'a, str>>>(raw)
        {
            return map.into_iter().find(|(k, _)| k == service).map(|(_, v)| v);
        }
    }
    Some(Cow::Borrowed(raw))
}

/// Items of a `;`-separated list (empty items skipped).
pub(crate) fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(';').map(str::trim).filter(|s| !s.is_empty())
}

/// True if `value` is in the list, exactly or by a `*` / `?` wildcard pattern.
pub(crate) fn list_matches(list: &str, value: &str) -> bool {
    items(list).any(|p| p == value) || items(list).any(|p| is_pattern(p) && glob(p, value))
}

fn is_pattern(p: &str) -> bool {
    p.contains(['*', '?'])
}

/// Address matching: each list item is tried against `host:port`, then `host`, then `port`.
pub(crate) fn address_matches(list: &str, address: &str) -> bool {
    let (host, port) = split_address(address);
    list_matches(list, address)
        || list_matches(list, host)
        || port.is_some_and(|p| list_matches(list, p))
}

fn split_address(a: &str) -> (&str, Option<&str>) {
    if let Some(rest) = a.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once("]:") {
            return (h, Some(p));
        }
        return (rest.trim_end_matches(']'), None);
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (a, None),
    }
}

/// Wildcard match: `?` is one character, `*` (and `**`) any run of characters. Linear time
/// (the classic two-pointer algorithm with one backtrack point), no allocation.
pub(crate) fn glob(pattern: &str, value: &str) -> bool {
    let p: &[u8] = pattern.as_bytes();
    let v: &[u8] = value.as_bytes();
    let (mut pi, mut vi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            while pi < p.len() && p[pi] == b'*' {
                pi += 1;
            }
            star = Some((pi, vi));
        } else if pi < p.len() && (p[pi] == v[vi] || (p[pi] == b'?' && is_char_start(v, vi))) {
            if p[pi] == b'?' {
                vi += utf8_len(v[vi]);
            } else {
                vi += 1;
            }
            pi += 1;
        } else if let Some((sp, sv)) = star {
            let next = sv + utf8_len(v[sv]);
            star = Some((sp, next));
            pi = sp;
            vi = next;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

fn is_char_start(v: &[u8], i: usize) -> bool {
    (v[i] & 0xc0) != 0x80
}

fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xff => 4,
        _ => 1,
    }
}

/// Strictly parses `key=weight;key=weight`: keys non-empty and unique, weights integers
/// 0..=1_000_000, at least one entry.
pub(crate) fn parse_weights(s: &str) -> std::result::Result<Vec<(String, u32)>, String> {
    let mut out: Vec<(String, u32)> = Vec::new();
    for item in items(s) {
        let Some((k, w)) = item.split_once('=') else {
            return Err(format!(
                "weight entry {item:?} in {s:?} needs the form key=weight"
            ));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("weight entry {item:?} in {s:?} has no key"));
        }
        let w: u32 = w
            .trim()
            .parse()
            .ok()
            .filter(|w| *w <= 1_000_000)
            .ok_or_else(|| {
                format!(
                    "weight {:?} for {k:?} in {s:?} is not an integer between 0 and 1000000",
                    w.trim()
                )
            })?;
        if out.iter().any(|(o, _)| o == k) {
            return Err(format!("{k:?} appears twice in {s:?}"));
        }
        out.push((k.to_string(), w));
    }
    if out.is_empty() {
        return Err(format!("{s:?} has no key=weight entries"));
    }
    Ok(out)
}

/// The weight of `key` in a weight list, read leniently (a malformed weight counts as 0, as
/// in Nepxion); `None` when the key is not listed.
pub(crate) fn weight_of(list: &str, key: &str) -> Option<u32> {
    items(list).find_map(|item| {
        let (k, w) = item.split_once('=')?;
        (k.trim() == key).then(|| w.trim().parse().unwrap_or(0))
    })
}

/// Picks an index with probability proportional to its weight; zero weights are never picked;
/// `None` when every weight is zero.
pub(crate) fn weighted_index(
    weights: impl Iterator<Item = u32> + Clone,
    random: u64,
) -> Option<usize> {
    let total: u64 = weights.clone().map(u64::from).sum();
    if total == 0 {
        return None;
    }
    let mut r = random % total;
    for (i, w) in weights.enumerate() {
        let w = u64::from(w);
        if r < w {
            return Some(i);
        }
        r -= w;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("*0", "1.0"));
        assert!(glob("?.0", "1.0"));
        assert!(!glob("?.0", "10.0"));
        assert!(glob("4*1", "4001"));
        assert!(glob("4??1", "4001"));
        assert!(!glob("4??1", "40001"));
        assert!(glob("3*2", "3002"));
        assert!(glob("2021*", "20210601-1"));
        assert!(glob("**", ""));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
        assert!(glob("?", "日"));
        assert!(!glob("", "x"));
        // Linear even on hostile patterns.
        let v = "a".repeat(10_000);
        assert!(!glob(&format!("{}b", "*a".repeat(500)), &v));
    }

    #[test]
    fn lists_and_addresses() {
        assert!(list_matches("1.0;1.1", "1.1"));
        assert!(!list_matches("1.0;1.1", "1.2"));
        assert!(list_matches("1.0;;*2", "1.2"));
        assert!(address_matches("3001;4*1", "127.0.0.1:3001"));
        assert!(address_matches("3001;4*1", "127.0.0.1:4001"));
        assert!(!address_matches("3001;4*1", "127.0.0.1:4002"));
        assert!(address_matches("10.0.0.1", "10.0.0.1:80"));
        assert!(address_matches("[::1]:80", "[::1]:80"));
        assert!(address_matches("::1", "[::1]:80"));
    }

    #[test]
    fn values() {
        let v = Value::parse("{\n  \"b\": \"1.1;1.2\",\n  \"a\": \"1.0\"\n}", "p", false).unwrap();
        assert_eq!(&*v.header, r#"{"a":"1.0","b":"1.1;1.2"}"#);
        assert!(Value::parse("1.0\n1.1", "p", false).is_err());
        assert_eq!(v.for_service("a"), Some("1.0"));
        assert_eq!(v.for_service("b"), Some("1.1;1.2"));
        assert_eq!(v.for_service("c"), None);
        let v = Value::parse("1.0;1.1", "p", false).unwrap();
        assert_eq!(v.for_service("anything"), Some("1.0;1.1"));
        let e = Value::parse(r#"{"a":1}"#, "p", false).unwrap_err();
        assert!(e.to_string().contains("must be a string"), "{e}");
        let e = Value::parse(r#"{"a":"1.0""#, "p", false).unwrap_err();
        assert!(e.to_string().contains("JSON object"), "{e}");
        let e = Value::parse(r#"{"a":"1.0=abc"}"#, "p", true).unwrap_err();
        assert!(e.to_string().contains("abc"), "{e}");
        assert!(Value::parse("1.0=90;1.1=10", "p", true).is_ok());
        assert!(Value::parse("", "p", false).is_err());
    }

    #[test]
    fn inbound_values() {
        assert_eq!(
            inbound_for_service(r#"{"a":"1.0","b":"1.1"}"#, "b").as_deref(),
            Some("1.1")
        );
        assert_eq!(inbound_for_service(r#"{"a":"1.0"}"#, "b"), None);
        assert_eq!(inbound_for_service("1.0", "b").as_deref(), Some("1.0"));
        assert_eq!(
            inbound_for_service("{broken", "b").as_deref(),
            Some("{broken")
        );
        assert_eq!(inbound_for_service("  ", "b"), None);
    }

    #[test]
    fn weights() {
        assert_eq!(
            parse_weights("1.0=90;1.1=10").unwrap(),
            [("1.0".to_string(), 90), ("1.1".to_string(), 10)]
        );
        for bad in [
            "1.0=abc",
            "1.0",
            "=5",
            "1.0=-1",
            "1.0=1;1.0=2",
            ";",
            "1.0=1.5",
        ] {
            assert!(parse_weights(bad).is_err(), "{bad}");
        }
        assert_eq!(weight_of("1.0=90;1.1=10", "1.1"), Some(10));
        assert_eq!(weight_of("1.0=x", "1.0"), Some(0));
        assert_eq!(weight_of("1.0=90", "2.0"), None);
        let w = [0u32, 10, 0, 90];
        assert_eq!(weighted_index(w.iter().copied(), 0), Some(1));
        assert_eq!(weighted_index(w.iter().copied(), 9), Some(1));
        assert_eq!(weighted_index(w.iter().copied(), 10), Some(3));
        assert_eq!(weighted_index([0u32, 0].iter().copied(), 5), None);
    }
}
