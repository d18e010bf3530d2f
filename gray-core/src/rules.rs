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

use crate::error::{Error, ErrorKind, Location, Result};
use crate::expr::Expr;
use crate::request::fields::{FieldNamesBuilder, Fields, Slot, VarSlots};
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
    Cookie(Box<str>, Slot),
    Header(Box<str>, Slot),
    Query(Box<str>, Slot),
    ClientIp,
}

impl Key {
    pub(crate) fn compile(spec: &KeySpec, fields: &mut FieldNamesBuilder) -> Result<Key> {
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

    pub(crate) fn label(&self) -> String {
        match self {
            Key::Cookie(n, _) => format!("cookie {n:?}"),
            Key::Header(n, _) => format!("header {n:?}"),
            Key::Query(n, _) => format!("query {n:?}"),
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
            Key::Cookie(n, s) => ctx.cookie(*s, n).map(|v| f(v.as_bytes())).is_some(),
            Key::Header(n, s) => ctx.header(*s, n).map(|v| f(v.as_bytes())).is_some(),
            Key::Query(n, s) => ctx.query(*s, n).map(|v| f(v.as_bytes())).is_some(),
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

    /// The sticky 64-bit hash of the key under a salt (`salted` = [`sticky::salt_prefix`] of
    /// it), or `None` if the key is missing.
    pub(crate) fn hash<R: RequestView + ?Sized>(
        &self,
        ctx: &mut Ctx<'_, R>,
        salted: sticky::StickyHasher,
    ) -> Option<u64> {
        let mut out = None;
        self.with_bytes(ctx, &mut |b| {
            let mut h = salted;
            h.write(b);
            out = Some(h.finish());
        });
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
        slot: Slot,
        m: ValueMatcher,
    },
    Header {
        name: Box<str>,
        slot: Slot,
        m: ValueMatcher,
    },
    Query {
        name: Box<str>,
        slot: Slot,
        m: ValueMatcher,
    },
    Path(ValueMatcher),
    Host(ValueMatcher),
    Method(Box<[Box<str>]>),
    Percent {
        key: Key,
        threshold: u32,
        salt: Box<str>,
        /// [`sticky::salt_prefix`] of `salt`.
        salted: sticky::StickyHasher,
    },
    Expr {
        e: Box<Expr>,
        /// Per variable of `e`, where its value is found.
        vars: Box<[VarSlots]>,
    },
    All(Box<[Cond]>),
    Any(Box<[Cond]>),
    Not(Box<Cond>),
}

/// What the conditions of a snapshot share while it compiles: the IP sets (named ones plus
/// anonymous inline ones) and the names of the request fields they read.
pub(crate) struct CompileScope {
    pub(crate) builder: IpTableBuilder,
    pub(crate) names: HashMap<String, u32>,
    /// Index → display name (anonymous sets are shown as their entries).
    pub(crate) labels: Vec<String>,
    /// The nets of each set, kept for `trusted_proxies` expansion.
    pub(crate) nets: Vec<Vec<ipnet::IpNet>>,
    /// Cookie, header and query names, each given a slot (see [`crate::request::fields`]).
    pub(crate) fields: FieldNamesBuilder,
}

impl CompileScope {
    pub(crate) fn new() -> Self {
        CompileScope {
            builder: IpTableBuilder::new(),
            names: HashMap::new(),
            labels: Vec::new(),
            nets: Vec::new(),
            fields: FieldNamesBuilder::default(),
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
            let slot = sets.fields.cookie(&name);
            Cond::Cookie { name, slot, m }
        }
        ConditionSpec::Header(m) => {
            let (name, m) = value(m, "header", true, false)?;
            let slot = sets.fields.header(&name);
            Cond::Header {
                name: name.to_ascii_lowercase().into(),
                slot,
                m,
            }
        }
        ConditionSpec::Query(m) => {
            let (name, m) = value(m, "query", true, false)?;
            let slot = sets.fields.query(&name);
            Cond::Query { name, slot, m }
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
            let key = Key::compile(&p.key, &mut sets.fields)
                .map_err(|e| e.within(&format!("{pp}.key")))?;
            let salt: Box<str> = p.salt.as_deref().unwrap_or(rule_id).into();
            Cond::Percent {
                key,
                threshold: sticky::threshold(p.value),
                salted: sticky::salt_prefix(salt.as_bytes()),
                salt,
            }
        }
        ConditionSpec::Expr(src) => {
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
            Cond::Expr {
                e: Box::new(e),
                vars,
            }
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
/// several conditions share (client IP, its IP-set membership, the request fields the
/// snapshot reads).
pub(crate) struct Ctx<'r, R: RequestView + ?Sized> {
    pub(crate) req: &'r R,
    pub(crate) snap: &'r Snapshot,
    client_ip: Option<Option<IpAddr>>,
    mask: Option<Option<SetMask<'r>>>,
    fields: Fields<'r>,
}

impl<'r, R: RequestView + ?Sized> Ctx<'r, R> {
    pub(crate) fn new(req: &'r R, snap: &'r Snapshot) -> Self {
        Ctx {
            req,
            snap,
            client_ip: None,
            mask: None,
            fields: Fields::new(),
        }
    }

    /// The value of cookie `name` (its slot `slot`), as `req.cookie(name)` gives it.
    #[inline]
    pub(crate) fn cookie(&mut self, slot: Slot, name: &str) -> Option<&'r str> {
        self.fields.read_cookies(&self.snap.fields, self.req);
        self.fields.cookie(self.req, slot, name)
    }

    /// The first value of header `name` (lowercase; its slot `slot`).
    #[inline]
    pub(crate) fn header(&mut self, slot: Slot, name: &str) -> Option<&'r str> {
        self.fields.read_headers(&self.snap.fields, self.req);
        self.fields.header(self.req, slot, name)
    }

    /// The decoded value of query parameter `name` (its slot `slot`).
    #[inline]
    pub(crate) fn query(&mut self, slot: Slot, name: &str) -> Option<Cow<'_, str>> {
        self.fields.read_query(&self.snap.fields, self.req);
        self.fields.query(self.req, slot, name)
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

    /// Reads every kind of request field, so that [`Ctx::variable`] can answer from `&self`.
    fn read_fields(&mut self) {
        self.fields.read_all(&self.snap.fields, self.req);
    }

    /// [`Ctx::variable`] for a variable with [`VarSlots::complete`] slots: the value is
    /// borrowed from the context, no [`Cow`] needed.
    #[inline]
    fn variable_in_slots(&self, name: &str, slots: VarSlots) -> Option<&str> {
        match self
            .fields
            .query_in_slot(slots.query)
            .filter(|v| nonblank(v))
        {
            Some(v) => Some(v),
            None => self.variable_after_query(name, slots),
        }
    }

    /// Nepxion variable lookup: query parameter > cookie > header > built-in header; blank
    /// values count as absent. Call [`Ctx::read_fields`] first.
    fn variable(&self, name: &str, slots: VarSlots) -> Option<Cow<'_, str>> {
        match self
            .fields
            .query(self.req, slots.query, name)
            .filter(|v| nonblank(v))
        {
            Some(v) => Some(v),
            None => self.variable_after_query(name, slots).map(Cow::Borrowed),
        }
    }

    /// The cookie > header > built-in header part of [`Ctx::variable`].
    #[inline]
    fn variable_after_query(&self, name: &str, slots: VarSlots) -> Option<&'r str> {
        let nonblank = |v: &&str| nonblank(v);
        self.fields
            .cookie(self.req, slots.cookie, name)
            .filter(nonblank)
            .or_else(|| {
                self.fields
                    .header(self.req, slots.header, name)
                    .filter(nonblank)
            })
            .or_else(|| self.snap.builtin_header(name))
    }
}

/// Whether a value has something besides white space (`str::trim` would leave something).
#[inline]
fn nonblank(v: &str) -> bool {
    match v.as_bytes().first() {
        Some(b) if b.is_ascii() => !b.is_ascii_whitespace() || !v.trim().is_empty(),
        _ => !v.trim().is_empty(),
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
        Cond::Cookie { name, slot, m } => {
            let v = ctx.cookie(*slot, name);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("cookie {name:?} {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Header { name, slot, m } => {
            let v = ctx.header(*slot, name);
            let hit = m.matches(v);
            if T::ON {
                t.leaf(format!("header {name:?} {m}"), seen(v), hit);
            }
            hit
        }
        Cond::Query { name, slot, m } => {
            let v = ctx.query(*slot, name);
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
            salted,
        } => {
            let h = key.hash(ctx, *salted);
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
        Cond::Expr { e, vars } => eval_expr(e, vars, ctx, t),
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

/// [`eval`] of an expression, out of line: it needs more stack than the other conditions,
/// and keeping it apart keeps `eval`'s own frame small.
#[inline(never)]
fn eval_expr<R: RequestView + ?Sized, T: Tracer>(
    e: &Expr,
    slots: &[VarSlots],
    ctx: &mut Ctx<'_, R>,
    t: &mut T,
) -> bool {
    // Every field is read once up front; variables are then looked up when the
    // evaluation first needs them (`&&` and `||` short-circuit).
    ctx.read_fields();
    let ctx = &*ctx;
    let vars = e.variables();
    if !T::ON && slots.iter().all(|s| s.complete()) {
        // The usual case: every value is borrowed from the context.
        return e.eval_uncached(&mut |i| ctx.variable_in_slots(&vars[i], *slots.get(i)?));
    }
    // Owned values (decoded query parameters without a slot) live here.
    let vals: [OnceCell<Option<Cow<'_, str>>>; 4] = Default::default();
    let extra: OnceCell<Vec<OnceCell<Option<Cow<'_, str>>>>> = OnceCell::new();
    let mut lookup = |i: usize| -> Option<&str> {
        let s = *slots.get(i)?;
        if s.complete() {
            // Slotted values are borrowed from the context; no cell needed.
            return ctx.variable_in_slots(&vars[i], s);
        }
        cell(&vals, &extra, vars.len(), i)?
            .get_or_init(|| ctx.variable(&vars[i], s))
            .as_deref()
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
        e.eval_uncached(&mut lookup)
    }
}

/// Cell `i` of `n`: one of `first`, or of `rest` (created on first use, for expressions with
/// more variables than `first` holds).
fn cell<'a, T>(
    first: &'a [OnceCell<T>],
    rest: &'a OnceCell<Vec<OnceCell<T>>>,
    n: usize,
    i: usize,
) -> Option<&'a OnceCell<T>> {
    match first.get(i) {
        Some(c) => Some(c),
        None => rest
            .get_or_init(|| (first.len()..n).map(|_| OnceCell::new()).collect())
            .get(i - first.len()),
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
