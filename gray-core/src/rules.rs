//! Compiled conditions and their evaluation.
//!
//! [`compile_condition`] turns a [`ConditionSpec`] into a [`Cond`] tree once per snapshot: names
//! are lowercased, regexes and expressions compiled, IP set names resolved to bit indices of the
//! snapshot's merged IP table, percentages turned into bucket thresholds. [`eval`] then tests a
//! request without allocating. The same function produces explanations: it is generic over a
//! [`Tracer`], and the no-op tracer compiles away.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::IpAddr;

use crate::cookie::Jar;
use crate::error::{Error, ErrorKind, Location, Result};
use crate::expr::Expr;
use crate::ip::{self, IpTableBuilder, SetMask};
use crate::matcher::ValueMatcher;
use crate::request::RequestView;
use crate::snapshot::Snapshot;
use crate::spec::{ConditionSpec, KeySpec, ValueMatchSpec};
use crate::sticky;

/// Deepest allowed nesting of `all` / `any` / `not`.
pub(crate) const MAX_CONDITION_DEPTH: usize = 32;

/// Where a request key comes from (stickiness, hash selection).
#[derive(Debug, Clone)]
pub(crate) enum Key {
    Cookie(Box<str>),
    Header(Box<str>),
    Query(Box<str>),
    ClientIp,
}

impl Key {
    pub(crate) fn compile(spec: &KeySpec) -> Result<Key> {
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
                Key::Cookie(n.as_str().into())
            }
            KeySpec::Header(n) => {
                check(n, "header")?;
                Key::Header(n.to_ascii_lowercase().into())
            }
            KeySpec::Query(n) => {
                check(n, "query")?;
                Key::Query(n.as_str().into())
            }
            KeySpec::ClientIp => Key::ClientIp,
        })
    }

    pub(crate) fn label(&self) -> String {
        match self {
            Key::Cookie(n) => format!("cookie {n:?}"),
            Key::Header(n) => format!("header {n:?}"),
            Key::Query(n) => format!("query {n:?}"),
            Key::ClientIp => "client IP".to_string(),
        }
    }

    /// Feeds the key's bytes to `f`; returns false (and does not call `f`) if the key is missing.
    pub(crate) fn with_bytes<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        f: &mut dyn FnMut(&[u8]),
    ) -> bool {
        match self {
            Key::Cookie(n) => ctx.cookie(n).map(|v| f(v.as_bytes())).is_some(),
            Key::Header(n) => ctx.req.header(n).map(|v| f(v.as_bytes())).is_some(),
            Key::Query(n) => ctx.req.query_param(n).map(|v| f(v.as_bytes())).is_some(),
            Key::ClientIp => match ctx.client_ip() {
                Some(ip) => {
                    let mut buf = IpText::default();
                    f(buf.format(ip));
                    true
                }
                None => false,
            },
        }
    }

    /// The sticky 64-bit hash of the key under `salt`, or `None` if the key is missing.
    pub(crate) fn hash<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        salt: &[u8],
    ) -> Option<u64> {
        let mut out = None;
        self.with_bytes(ctx, &mut |b| out = Some(sticky::salted_hash(salt, b)));
        out
    }
}

/// Formats an IP address into a stack buffer (no allocation).
pub(crate) struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        IpText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    pub(crate) fn format(&mut self, ip: IpAddr) -> &[u8] {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut self.buf[..]);
        let _ = write!(cur, "{ip}");
        self.len = cur.position() as usize;
        &self.buf[..self.len]
    }
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    Ip {
        sets: Box<[u32]>,
        label: Box<str>,
    },
    Cookie {
        name: Box<str>,
        m: ValueMatcher,
    },
    Header {
        name: Box<str>,
        m: ValueMatcher,
    },
    Query {
        name: Box<str>,
        m: ValueMatcher,
    },
    Path(ValueMatcher),
    Host(ValueMatcher),
    Method(Box<[Box<str>]>),
    Percent {
        key: Key,
        threshold: u32,
        salt: Box<str>,
    },
    Expr(Box<Expr>),
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
}

/// IP sets while a snapshot is being compiled: named sets plus anonymous inline ones.
pub(crate) struct IpSets {
    pub(crate) builder: IpTableBuilder,
    pub(crate) names: HashMap<String, u32>,
    /// Index → display name (anonymous sets are shown as their entries).
    pub(crate) labels: Vec<String>,
    /// The nets of each set, kept for `trusted_proxies` expansion.
    pub(crate) nets: Vec<Vec<ipnet::IpNet>>,
}

impl IpSets {
    pub(crate) fn new() -> Self {
        IpSets {
            builder: IpTableBuilder::new(),
            names: HashMap::new(),
            labels: Vec::new(),
            nets: Vec::new(),
        }
    }

    pub(crate) fn add_set(&mut self, label: String, nets: Vec<ipnet::IpNet>) -> u32 {
        let idx = self.labels.len() as u32;
        for n in &nets {
            self.builder.add(idx, *n);
        }
        self.labels.push(label);
        self.nets.push(nets);
        idx
    }

    /// Resolves a list of set names and inline entries into set indices. Inline entries of one
    /// list form one anonymous set.
    pub(crate) fn resolve(&mut self, entries: &[String], path: &str) -> Result<Vec<u32>> {
        let mut sets = Vec::new();
        let mut inline = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(&idx) = self.names.get(e.as_str()) {
                sets.push(idx);
            } else if looks_like_ip(e) {
                let net = ip::parse_entry(e).map_err(|err| {
                    Error::at(
                        ErrorKind::InvalidIp,
                        format!("{path}[{i}]"),
                        err.to_string(),
                    )
                })?;
                inline.push(net);
            } else {
                let mut known: Vec<&str> = self.names.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(Error::at(
                    ErrorKind::UnknownReference,
                    format!("{path}[{i}]"),
                    format!(
                        "{e:?} is neither an IP/CIDR nor a defined ip_sets name (defined: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        if !inline.is_empty() {
            let label = inline
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            sets.push(self.add_set(label, inline));
        }
        Ok(sets)
    }
}

/// True if the text is meant as an address (digits/hex with `.`, `:` or `/`), not a set name.
pub(crate) fn looks_like_ip(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.contains(['.', ':', '/'])
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/' | '[' | ']'))
}

/// Compiles a condition tree. `path` is the field path for errors, `rule_id` the default salt.
pub(crate) fn compile_condition(
    spec: &ConditionSpec,
    path: &str,
    rule_id: &str,
    sets: &mut IpSets,
    depth: usize,
) -> Result<Cond> {
    if depth > MAX_CONDITION_DEPTH {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            format!("conditions are nested more than {MAX_CONDITION_DEPTH} levels deep"),
        ));
    }
    let value = |m: &ValueMatchSpec,
                 kind: &str,
                 named: bool,
                 icase: bool|
     -> Result<(Box<str>, ValueMatcher)> {
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
    };
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
            let (name, m) = value(m, "cookie", true, false)?;
            Cond::Cookie { name, m }
        }
        ConditionSpec::Header(m) => {
            let (name, m) = value(m, "header", true, false)?;
            Cond::Header {
                name: name.to_ascii_lowercase().into(),
                m,
            }
        }
        ConditionSpec::Query(m) => {
            let (name, m) = value(m, "query", true, false)?;
            Cond::Query { name, m }
        }
        ConditionSpec::Path(m) => Cond::Path(value(m, "path", false, false)?.1),
        ConditionSpec::Host(m) => Cond::Host(value(m, "host", false, true)?.1),
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
        ConditionSpec::Percent(p) => {
            let pp = format!("{path}.percent");
            if !(0.0..=100.0).contains(&p.value) {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{pp}.value"),
                    format!("percentage {} must be between 0 and 100", p.value),
                ));
            }
            let key = Key::compile(&p.key).map_err(|e| e.within(&format!("{pp}.key")))?;
            Cond::Percent {
                key,
                threshold: sticky::threshold(p.value),
                salt: p.salt.as_deref().unwrap_or(rule_id).into(),
            }
        }
        ConditionSpec::Expr(src) => {
            let e = Expr::parse(src).map_err(|e| {
                // The column points into the expression (the message shows it with a caret).
                Error::new(
                    ErrorKind::InvalidExpression,
                    Location {
                        path: format!("{path}.expr"),
                        line: None,
                        column: Some(e.column()),
                    },
                    e.to_string(),
                )
            })?;
            Cond::Expr(Box::new(e))
        }
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

/// Per-request evaluation state: the request, the snapshot, and lazily computed facts that
/// several conditions share (client IP, its IP-set membership).
pub(crate) struct Ctx<'r, R: RequestView + ?Sized> {
    pub(crate) req: &'r R,
    pub(crate) snap: &'r Snapshot,
    client_ip: Option<Option<IpAddr>>,
    mask: Option<Option<SetMask<'r>>>,
    /// The request's cookies, parsed on first use (when `req.cookies_in_headers()`).
    jar: OnceCell<Option<Jar<'r>>>,
}

impl<'r, R: RequestView + ?Sized> Ctx<'r, R> {
    pub(crate) fn new(req: &'r R, snap: &'r Snapshot) -> Self {
        Ctx {
            req,
            snap,
            client_ip: None,
            mask: None,
            jar: OnceCell::new(),
        }
    }

    /// The value of cookie `name`, as `req.cookie(name)` gives it.
    #[inline]
    pub(crate) fn cookie(&self, name: &str) -> Option<&'r str> {
        let req = self.req;
        let jar = self.jar.get_or_init(|| {
            req.cookies_in_headers().then(|| {
                let mut jar = Jar::new();
                req.for_each_header("cookie", &mut |line| jar.add_line(line));
                jar
            })
        });
        match jar.as_ref().and_then(|j| j.get(name)) {
            Some(v) => v,
            None => req.cookie(name),
        }
    }

    /// The client address (trusted-proxy rules applied), resolved once.
    pub(crate) fn client_ip(&mut self) -> Option<IpAddr> {
        if let Some(ip) = self.client_ip {
            return ip;
        }
        let ip = self
            .req
            .peer_ip()
            .map(|peer| self.snap.resolve_client_ip(self.req, peer));
        self.client_ip = Some(ip);
        ip
    }

    /// Which IP sets hold the client address.
    pub(crate) fn ip_mask(&mut self) -> Option<SetMask<'r>> {
        if let Some(m) = self.mask {
            return m;
        }
        let snap = self.snap;
        let m = self.client_ip().map(|ip| snap.ip_table().lookup(ip));
        self.mask = Some(m);
        m
    }

    /// Nepxion variable lookup: query parameter > cookie > header > built-in header; blank
    /// values count as absent.
    pub(crate) fn variable(&self, name: &str) -> Option<Cow<'r, str>> {
        let nonblank = |v: &str| !v.trim().is_empty();
        if let Some(v) = self.req.query_param(name).filter(|v| nonblank(v)) {
            return Some(v);
        }
        if let Some(v) = self.cookie(name).filter(|v| nonblank(v)) {
            return Some(Cow::Borrowed(v));
        }
        let lower_is_same = !name.bytes().any(|b| b.is_ascii_uppercase());
        let header = if lower_is_same {
            self.req.header(name)
        } else {
            // Header names are case-insensitive; RequestView wants lowercase.
            let mut buf = [0u8; 128];
            if name.len() <= buf.len() {
                buf[..name.len()].copy_from_slice(name.as_bytes());
                buf[..name.len()].make_ascii_lowercase();
                std::str::from_utf8(&buf[..name.len()])
                    .ok()
                    .and_then(|n| self.req.header(n))
            } else {
                self.req.header(&name.to_ascii_lowercase())
            }
        };
        if let Some(v) = header.filter(|v| nonblank(v)) {
            return Some(Cow::Borrowed(v));
        }
        self.snap.builtin_header(name).map(Cow::Borrowed)
    }
}

/// Receives evaluation events to build an explanation. `ON = false` compiles every call away.
pub(crate) trait Tracer {
    const ON: bool;
    /// A composite (`all`/`any`/`not`) starts.
    fn open(&mut self) {}
    /// The composite that was opened last ends.
    fn close(&mut self, _label: String, _outcome: bool) {}
    /// A leaf condition was tested.
    fn leaf(&mut self, _label: String, _seen: Option<String>, _outcome: bool) {}
}

/// The hot-path tracer: records nothing.
pub(crate) struct NoTrace;

impl Tracer for NoTrace {
    const ON: bool = false;
}

/// Longest value shown in explanations before it is shortened.
pub(crate) const SHOW_MAX: usize = 80;

/// Shortens a value for display: `abc…(+1234 bytes)`.
pub(crate) fn shorten(v: &str) -> String {
    if v.len() <= SHOW_MAX {
        return v.to_string();
    }
    let mut end = SHOW_MAX;
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…(+{} bytes)", &v[..end], v.len() - end)
}

fn seen(v: Option<&str>) -> Option<String> {
    v.map(shorten)
}

/// Evaluates a condition. With a recording tracer every branch is evaluated (no short-circuit)
/// so the explanation shows every outcome; the result is the same either way.
pub(crate) fn eval<R: RequestView + ?Sized, T: Tracer>(
    c: &Cond,
    ctx: &mut Ctx<'_, R>,
    t: &mut T,
) -> bool {
    match c {
        Cond::Ip { sets, label } => {
            let mask = ctx.ip_mask();
            let hit = mask.is_some_and(|m| sets.iter().any(|&s| m.contains(s)));
            if T::ON {
                let ip = ctx.client_ip().map(|ip| ip.to_string());
                t.leaf(format!("client IP in [{label}]"), ip, hit);
            }
            hit
        }
        Cond::Cookie { name, m } => {
            let v = ctx.cookie(name);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("cookie {name:?} {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Header { name, m } => {
            let v = ctx.req.header(name);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("header {name:?} {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Query { name, m } => {
            let v = ctx.req.query_param(name);
            let hit = m.matches(v.as_deref());
            if T::ON {
                t.leaf(format!("query {name:?} {m}"), seen(v.as_deref()), hit);
            }
            hit
        }
        Cond::Path(m) => {
            let v = ctx.req.path();
            let hit = m.matches(Some(v));
            if T::ON {
                t.leaf(format!("path {m}"), seen(Some(v)), hit);
            }
            hit
        }
        Cond::Host(m) => {
            let v = ctx.req.host().map(strip_port);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("host {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Method(list) => {
            let v = ctx.req.method();
            let hit = list.iter().any(|m| m.eq_ignore_ascii_case(v));
            if T::ON {
                t.leaf(format!("method in {list:?}"), seen(Some(v)), hit);
            }
            hit
        }
        Cond::Percent {
            key,
            threshold,
            salt,
        } => {
            let h = key.hash(ctx, salt.as_bytes());
            let bucket = h.map(|h| (h % u64::from(sticky::BUCKETS)) as u32);
            let hit = bucket.is_some_and(|b| b < *threshold);
            if T::ON {
                let seen = bucket.map(|b| format!("bucket {b} of 10000"));
                t.leaf(
                    format!(
                        "{} in sticky {}% (salt {salt:?}; missing key = no match)",
                        key.label(),
                        f64::from(*threshold) / 100.0
                    ),
                    seen,
                    hit,
                );
            }
            hit
        }
        Cond::Expr(e) => {
            // Variables are looked up when the evaluation first needs them (`&&` and `||`
            // short-circuit), each at most once.
            let vars = e.variables();
            let vals: [OnceCell<Option<Cow<'_, str>>>; 8] = Default::default();
            let extra: Vec<OnceCell<Option<Cow<'_, str>>>> = if vars.len() > vals.len() {
                vars[vals.len()..].iter().map(|_| OnceCell::new()).collect()
            } else {
                Vec::new()
            };
            let ctx = &*ctx;
            let mut lookup = |i: usize| -> Option<&str> {
                let cell = match vals.get(i) {
                    Some(c) => c,
                    None => extra.get(i - vals.len())?,
                };
                cell.get_or_init(|| ctx.variable(&vars[i])).as_deref()
            };
            if T::ON {
                let (hit, steps) = e.eval_explained(&mut lookup);
                t.open();
                for st in &steps {
                    let side = |v: &Option<String>| {
                        v.as_deref()
                            .map_or("null".to_string(), |v| format!("{:?}", shorten(v)))
                    };
                    t.leaf(
                        st.text.clone(),
                        Some(format!("{} vs {}", side(&st.left), side(&st.right))),
                        st.result,
                    );
                }
                let shown: Vec<String> = vars
                    .iter()
                    .enumerate()
                    .map(|(i, n)| match lookup(i) {
                        Some(v) => format!("{n}={}", shorten(v)),
                        None => format!("{n}=null"),
                    })
                    .collect();
                t.close(format!("expr {} [{}]", e.source(), shown.join(", ")), hit);
                hit
            } else {
                e.eval(&mut lookup)
            }
        }
        Cond::All(list) => {
            if T::ON {
                t.open();
                let mut all = true;
                for c in list.iter() {
                    all &= eval(c, ctx, t);
                }
                t.close("all of".into(), all);
                all
            } else {
                list.iter().all(|c| eval(c, ctx, t))
            }
        }
        Cond::Any(list) => {
            if T::ON {
                t.open();
                let mut any = false;
                for c in list.iter() {
                    any |= eval(c, ctx, t);
                }
                t.close("any of".into(), any);
                any
            } else {
                list.iter().any(|c| eval(c, ctx, t))
            }
        }
        Cond::Not(c) => {
            if T::ON {
                t.open();
                let hit = !eval(c, ctx, t);
                t.close("not".into(), hit);
                hit
            } else {
                !eval(c, ctx, t)
            }
        }
    }
}

/// `example.com:8080` → `example.com`, `[::1]:80` → `::1`, trailing dot removed.
pub(crate) fn strip_port(host: &str) -> &str {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.bytes().filter(|&b| b == b':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    h.strip_suffix('.').unwrap_or(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_formats_without_allocating() {
        let mut t = IpText::default();
        assert_eq!(t.format("10.1.2.3".parse().unwrap()), b"10.1.2.3");
        assert_eq!(
            t.format("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap())
                .len(),
            39
        );
    }

    #[test]
    fn hosts_lose_ports() {
        assert_eq!(strip_port("a.example.com:8080"), "a.example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("example.com."), "example.com");
    }

    #[test]
    fn ip_vs_set_name() {
        assert!(looks_like_ip("10.0.0.0/8"));
        assert!(looks_like_ip("::1"));
        assert!(looks_like_ip("2001:db8::/32"));
        assert!(!looks_like_ip("testers"));
        assert!(!looks_like_ip("office-cidrs"));
        assert!(!looks_like_ip("cafe"));
    }

    #[test]
    fn shorten_long_values() {
        assert_eq!(shorten("abc"), "abc");
        let long = "x".repeat(200);
        let s = shorten(&long);
        assert!(
            s.starts_with(&"x".repeat(80)) && s.ends_with("(+120 bytes)"),
            "{s}"
        );
        let uni = "日".repeat(100);
        assert!(shorten(&uni).contains('…'));
    }
}
