//! A naive reference model of rule evaluation, for differential testing.
//!
//! [`decide`] reads the [`Spec`] directly on every call: a plain loop over the rules, a linear
//! scan over every prefix of every IP set, and direct string comparisons. Regexes are
//! supported only in the literal forms `lit`, `^lit`, `lit$` and `^lit$` (with `\`-escaped
//! metacharacters), which the model turns into contains / prefix / suffix / equals tests, so
//! the model does not share the regex engine with the code it checks. Specs outside the
//! model's subset (trusted proxies, expressions, hosts, other regexes) give `None`.
//!
//! [`generate`] turns fuzzer bytes into a spec inside that subset and a few requests, drawing
//! names, values, prefixes and addresses from small pools so that conditions and requests
//! collide often.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::spec::{
    ConditionSpec, GroupSpec, IpSetSpec, KeySpec, NodeSpec, PercentSpec, RangeSpec, RuleSpec, Spec,
    ValueMatchSpec,
};
use crate::{ip, sticky, SimpleRequest};

/// What the model decided: the matched rule (`None`: the default) and the requested group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDecision {
    /// The matched rule id.
    pub rule_id: Option<String>,
    /// The group the rules chose (before any fallback).
    pub group: String,
}

/// Decides like the engine, naively. `None` if the spec is outside the model's subset.
pub fn decide(spec: &Spec, req: &SimpleRequest) -> Option<ModelDecision> {
    if !spec.client_ip.trusted_proxies.is_empty() {
        return None;
    }
    for rule in &spec.rules {
        if !rule.enabled {
            continue;
        }
        let hit = match &rule.when {
            None => true,
            Some(c) => eval(spec, c, req, &rule.id)?,
        };
        if hit {
            return Some(ModelDecision {
                rule_id: Some(rule.id.clone()),
                group: rule.route.clone().unwrap_or_else(|| spec.default.clone()),
            });
        }
    }
    Some(ModelDecision {
        rule_id: None,
        group: spec.default.clone(),
    })
}

fn eval(spec: &Spec, c: &ConditionSpec, req: &SimpleRequest, rule_id: &str) -> Option<bool> {
    Some(match c {
        ConditionSpec::Ip(entries) => {
            let client = req.peer.to_canonical();
            let mut hit = false;
            for e in entries {
                let nets: Vec<IpNet> = match spec.ip_sets.get(e) {
                    Some(set) => {
                        if set.file.is_some() {
                            return None;
                        }
                        set.entries
                            .iter()
                            .map(|t| ip::parse_entry(t).ok())
                            .collect::<Option<_>>()?
                    }
                    None => vec![ip::parse_entry(e).ok()?],
                };
                hit |= nets.iter().any(|n| net_contains(n, client));
            }
            hit
        }
        ConditionSpec::Cookie(m) => {
            let name = m.name.as_deref()?;
            let v = req
                .cookies
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .or_else(|| cookie(&headers(req, "cookie"), name));
            value_matches(m, v)?
        }
        ConditionSpec::Header(m) => {
            let name = m.name.as_deref()?;
            value_matches(m, headers(req, name).first().copied())?
        }
        ConditionSpec::Query(m) => {
            let name = m.name.as_deref()?;
            let v = req.query.as_deref().and_then(|q| query(q, name));
            value_matches(m, v.as_deref())?
        }
        ConditionSpec::Path(m) => value_matches(m, Some(&req.path))?,
        ConditionSpec::Method(list) => list
            .iter()
            .any(|m| m.trim().eq_ignore_ascii_case(&req.method)),
        ConditionSpec::Percent(p) => {
            let key: Option<String> = match &p.key {
                KeySpec::Cookie(n) => req
                    .cookies
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .or_else(|| cookie(&headers(req, "cookie"), n).map(str::to_string)),
                KeySpec::Header(n) => headers(req, n).first().map(|v| v.to_string()),
                KeySpec::Query(n) => req.query.as_deref().and_then(|q| query(q, n)),
                KeySpec::ClientIp => Some(req.peer.to_canonical().to_string()),
            };
            let salt = p.salt.as_deref().unwrap_or(rule_id);
            key.is_some_and(|k| sticky::in_percent(salt.as_bytes(), k.as_bytes(), p.value))
        }
        ConditionSpec::All(list) => {
            let mut all = true;
            for c in list {
                all &= eval(spec, c, req, rule_id)?;
            }
            all
        }
        ConditionSpec::Any(list) => {
            let mut any = false;
            for c in list {
                any |= eval(spec, c, req, rule_id)?;
            }
            any
        }
        ConditionSpec::Not(c) => !eval(spec, c, req, rule_id)?,
        ConditionSpec::Host(_) | ConditionSpec::Expr(_) => return None,
    })
}

/// Whether `net` holds `ip` (already canonical), by the table's address rules.
fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    ip::linear_contains(&[(0, *net)], 0, ip)
}

/// Every value of header `name`, in order.
fn headers<'a>(req: &'a SimpleRequest, name: &str) -> Vec<&'a str> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first cookie called `name` across `lines` of `Cookie` headers, parsed directly.
pub fn cookie<'a>(lines: &[&'a str], name: &str) -> Option<&'a str> {
    for line in lines {
        for pair in line.split(';') {
            let Some(eq) = pair.find('=') else { continue };
            let n = pair[..eq].trim_matches(|c| c == ' ' || c == '\t');
            let mut v = pair[eq + 1..].trim_matches(|c| c == ' ' || c == '\t');
            if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                v = &v[1..v.len() - 1];
            }
            if !n.is_empty() && n == name {
                return Some(v);
            }
        }
    }
    None
}

/// The first query parameter called `name`, percent-decoded directly.
fn query(q: &str, name: &str) -> Option<String> {
    q.split('&').filter(|p| !p.is_empty()).find_map(|pair| {
        let (k, v) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A literal regex (`lit`, `^lit`, `lit$`, `^lit$`): (anchored start, anchored end, literal).
fn literal_regex(p: &str) -> Option<(bool, bool, String)> {
    let (start, p) = match p.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, p),
    };
    let (end, p) = match p.strip_suffix('$') {
        Some(r) if !r.ends_with('\\') => (true, r),
        _ => (false, p),
    };
    let mut lit = String::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => lit.push(chars.next()?),
            c if "^$.*+?()[]{}|".contains(c) => return None,
            c if !c.is_ascii() => return None,
            c => lit.push(c),
        }
    }
    Some((start, end, lit))
}

fn value_matches(m: &ValueMatchSpec, v: Option<&str>) -> Option<bool> {
    let icase = m.ignore_case;
    let eq = |a: &str, b: &str| {
        if icase {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    let lower = |s: &str| {
        if icase {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    if m.present == Some(true) || m.absent == Some(false) {
        return Some(v.is_some());
    }
    if m.present == Some(false) || m.absent == Some(true) {
        return Some(v.is_none());
    }
    let Some(v) = v else { return Some(false) };
    let hit = if let Some(e) = &m.equals {
        eq(v, e)
    } else if let Some(list) = &m.one_of {
        list.iter().any(|e| eq(v, e))
    } else if let Some(p) = &m.prefix {
        v.get(..p.len()).is_some_and(|h| eq(h, p))
    } else if let Some(s) = &m.suffix {
        v.len() >= s.len() && v.get(v.len() - s.len()..).is_some_and(|t| eq(t, s))
    } else if let Some(c) = &m.contains {
        lower(v).contains(&lower(c))
    } else if let Some(r) = &m.regex {
        let (start, end, lit) = literal_regex(r)?;
        let (v, lit) = (lower(v), lower(&lit));
        match (start, end) {
            (true, true) => v == lit,
            (true, false) => v.starts_with(&lit),
            (false, true) => v.ends_with(&lit),
            (false, false) => v.contains(&lit),
        }
    } else if let Some(r) = &m.range {
        match v.trim().parse::<f64>() {
            Ok(n) if !n.is_nan() => {
                r.min.is_none_or(|lo| n >= lo) && r.max.is_none_or(|hi| n <= hi)
            }
            _ => false,
        }
    } else {
        return None;
    };
    Some(hit != m.invert)
}

// ---------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------

/// Reads choices from fuzzer bytes; zeros once they run out.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n
    }
    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }
}

const VALUES: &[&str] = &[
    "a", "A", "ab", "aB", "b", "abc", "", "1", "2.5", "-3", " 10 ", "x y", "é", "a=b", "\"q\"",
    "a.c", "abc-1",
];
const COOKIE_NAMES: &[&str] = &["a", "A", "uid", "b"];
const HEADER_NAMES: &[&str] = &["x-a", "X-B", "uid"];
const QUERY_NAMES: &[&str] = &["a", "uid", "x y"];
const METHODS: &[&str] = &["GET", "post", "Put", "DELETE"];
const PATHS: &[&str] = &["/", "/a", "/api/v2/x", "/A/b", "/a.c"];
const RANGES: &[f64] = &[-3.0, 0.0, 1.0, 2.5, 10.0];
const PERCENTS: &[f64] = &[0.0, 5.0, 50.0, 99.99, 100.0];
const V4: &[&str] = &[
    "10.0.0.0",
    "10.1.0.0",
    "192.0.2.0",
    "0.0.0.0",
    "255.255.255.255",
];
const V6: &[&str] = &[
    "2001:db8::",
    "::",
    "::ffff:10.0.0.0",
    "ffff::",
    "2001:db8:1::",
];
const PEERS: &[&str] = &[
    "10.0.0.1",
    "10.1.2.3",
    "192.0.2.7",
    "203.0.113.1",
    "0.0.0.0",
    "255.255.255.255",
    "::ffff:10.1.2.3",
    "2001:db8::1",
    "2001:db8:1::5",
    "::1",
    "ffff::1",
    "::",
];

fn gen_net(c: &mut Choices<'_>) -> String {
    let net = if c.flag() {
        let a: IpAddr = c.pick(V4).parse().expect("pool address");
        IpNet::new(a, c.pick(&[0u8, 8, 16, 24, 31, 32])).expect("valid length")
    } else {
        let a: IpAddr = c.pick(V6).parse().expect("pool address");
        IpNet::new(a, c.pick(&[0u8, 16, 32, 48, 96, 104, 120, 128])).expect("valid length")
    };
    net.trunc().to_string()
}

fn gen_value(c: &mut Choices<'_>, name: Option<&str>) -> ValueMatchSpec {
    let mut m = ValueMatchSpec {
        name: name.map(str::to_string),
        ignore_case: c.flag(),
        ..ValueMatchSpec::default()
    };
    let v = c.pick(VALUES).to_string();
    match c.below(10) {
        // The model reads regexes as literals; keep them ASCII so case folding is ASCII.
        2 if !v.is_ascii() => m.equals = Some(v),
        0 => m.equals = Some(v),
        1 => m.one_of = Some(vec![v, c.pick(VALUES).to_string()]),
        2 => {
            let lit = regex::escape(&v);
            m.regex = Some(match c.below(4) {
                0 => lit,
                1 => format!("^{lit}"),
                2 => format!("{lit}$"),
                _ => format!("^{lit}$"),
            })
        }
        3 => m.prefix = Some(v),
        4 => m.suffix = Some(v),
        5 => m.contains = Some(v),
        6 => {
            let (a, b) = (c.pick(RANGES), c.pick(RANGES));
            m.range = Some(match c.below(3) {
                0 => RangeSpec {
                    min: Some(a.min(b)),
                    max: Some(a.max(b)),
                },
                1 => RangeSpec {
                    min: Some(a),
                    max: None,
                },
                _ => RangeSpec {
                    min: None,
                    max: Some(a),
                },
            })
        }
        7 => m.present = Some(c.flag()),
        _ => m.absent = Some(true),
    }
    if m.present.is_none() && m.absent.is_none() {
        m.invert = c.flag();
    }
    m
}

fn gen_condition(c: &mut Choices<'_>, sets: usize, depth: usize) -> ConditionSpec {
    let kinds = if depth >= 3 { 7 } else { 10 };
    match c.below(kinds) {
        0 => {
            let mut entries = Vec::new();
            for _ in 0..=c.below(2) {
                if sets > 0 && c.flag() {
                    entries.push(format!("s{}", c.below(sets)));
                } else {
                    entries.push(gen_net(c));
                }
            }
            ConditionSpec::Ip(entries)
        }
        1 => {
            let n = c.pick(COOKIE_NAMES);
            ConditionSpec::Cookie(gen_value(c, Some(n)))
        }
        2 => {
            let n = c.pick(HEADER_NAMES);
            ConditionSpec::Header(gen_value(c, Some(n)))
        }
        3 => {
            let n = c.pick(QUERY_NAMES);
            ConditionSpec::Query(gen_value(c, Some(n)))
        }
        4 => ConditionSpec::Path(gen_value(c, None)),
        5 => ConditionSpec::Method((0..=c.below(2)).map(|_| c.pick(METHODS).into()).collect()),
        6 => {
            let key = match c.below(4) {
                0 => KeySpec::Cookie(c.pick(COOKIE_NAMES).into()),
                1 => KeySpec::Header(c.pick(HEADER_NAMES).into()),
                2 => KeySpec::Query(c.pick(QUERY_NAMES).into()),
                _ => KeySpec::ClientIp,
            };
            ConditionSpec::Percent(PercentSpec {
                key,
                value: c.pick(PERCENTS),
                salt: c.flag().then(|| "s".to_string()),
            })
        }
        7 => ConditionSpec::All(
            (0..c.below(3))
                .map(|_| gen_condition(c, sets, depth + 1))
                .collect(),
        ),
        8 => ConditionSpec::Any(
            (0..c.below(3))
                .map(|_| gen_condition(c, sets, depth + 1))
                .collect(),
        ),
        _ => ConditionSpec::Not(Box::new(gen_condition(c, sets, depth + 1))),
    }
}

fn gen_cookie_line(c: &mut Choices<'_>) -> String {
    let mut line = String::new();
    for i in 0..=c.below(4) {
        if i > 0 {
            line.push_str(c.pick(&["; ", ";", " ; ", ";\t"]));
        }
        let (n, v) = (c.pick(COOKIE_NAMES), c.pick(VALUES));
        match c.below(5) {
            0 => line.push_str(n),
            1 => line.push_str(&format!("={v}")),
            2 => line.push_str(&format!("{n}=\"{v}\"")),
            3 => line.push_str(&format!(" {n} = {v} ")),
            _ => line.push_str(&format!("{n}={v}")),
        }
    }
    line
}

fn gen_request(c: &mut Choices<'_>) -> SimpleRequest {
    let peer: IpAddr = c.pick(PEERS).parse().expect("pool address");
    let mut r = SimpleRequest::new(peer)
        .with_method(c.pick(&["GET", "POST", "put", "PATCH"]))
        .with_path(c.pick(PATHS));
    if c.flag() {
        let mut q = String::new();
        for i in 0..=c.below(3) {
            if i > 0 {
                q.push('&');
            }
            let k = c.pick(&["a", "uid", "u%69d", "x+y", "x%20y", "", "b"]);
            let v = c.pick(&["1", "%41", "a+b", "%zz", "%4", "2.5", "", "%C3%A9", "%ff"]);
            match c.below(3) {
                0 => q.push_str(k),
                _ => q.push_str(&format!("{k}={v}")),
            }
        }
        r = r.with_query(&q);
    }
    for _ in 0..c.below(4) {
        let name = c.pick(&["x-a", "X-B", "uid", "x-a"]);
        r = r.with_header(name, c.pick(VALUES));
    }
    for _ in 0..c.below(3) {
        let line = gen_cookie_line(c);
        r = r.with_header("cookie", &line);
    }
    r
}

/// A spec inside the model's subset and 1 to 4 requests, from fuzzer bytes.
pub fn generate(data: &[u8]) -> (Spec, Vec<SimpleRequest>) {
    let mut c = Choices(data);
    let mut spec: Spec =
        crate::spec::yaml_from_str("version: 1\ndefault: g0\n").expect("the skeleton spec parses");
    for g in ["g0", "g1", "g2"] {
        let node = NodeSpec {
            address: format!("127.0.0.1:{}", 7000 + u16::from(g.as_bytes()[1])),
            weight: 1,
            max_fails: None,
            fail_timeout: None,
            drain: false,
            metadata: Default::default(),
        };
        spec.groups.insert(
            g.to_string(),
            GroupSpec {
                nodes: vec![node],
                ..GroupSpec::default()
            },
        );
    }
    let sets = c.below(4);
    for s in 0..sets {
        spec.ip_sets.insert(
            format!("s{s}"),
            IpSetSpec {
                entries: (0..=c.below(6)).map(|_| gen_net(&mut c)).collect(),
                file: None,
            },
        );
    }
    for i in 0..=c.below(6) {
        spec.rules.push(RuleSpec {
            id: format!("r{i}"),
            description: None,
            enabled: c.below(8) != 0,
            when: (c.below(8) != 0).then(|| gen_condition(&mut c, sets, 0)),
            route: c.flag().then(|| c.pick(&["g0", "g1", "g2"]).to_string()),
            set_headers: Default::default(),
            routes: Default::default(),
            mirror: None,
        });
    }
    let requests = (0..=c.below(4)).map(|_| gen_request(&mut c)).collect();
    (spec, requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_regexes() {
        assert_eq!(literal_regex("^a\\.c$"), Some((true, true, "a.c".into())));
        assert_eq!(literal_regex("ab"), Some((false, false, "ab".into())));
        assert_eq!(literal_regex("a.c"), None);
        assert_eq!(literal_regex("a\\$"), Some((false, false, "a$".into())));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a+b%41%4"), "a bA%4");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
