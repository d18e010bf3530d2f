//! Compiling a [`Spec`] into an immutable [`Snapshot`].
//!
//! All the expensive work happens here, once per config change and off the request path: IP
//! sets (inline and from files) are merged into one longest-prefix-match table, regexes and
//! expressions are compiled, names are resolved to indices, selectors are built. A snapshot is
//! `Send + Sync` and never changes; the [`crate::Engine`] swaps whole snapshots atomically.
//!
//! Compilation is all-or-nothing: the first problem is returned as an [`Error`] naming the field
//! path, and nothing is half applied.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::client_ip::{ClientIpResolver, ForwardedHeader};
use crate::error::{Error, ErrorKind, Location, Result};
use crate::health::{HealthPolicy, NodeHealth};
use crate::ip::{self, IpTable};
use crate::request::RequestView;
use crate::rules::{compile_condition, CompileScope, Cond, Key};
use crate::select::Selector;
use crate::spec::{GroupSpec, InboundPolicy, Spec, MAX_WEIGHT};
use crate::upstream::{Counter, Group, Node, Rollout};

/// Health and counters that outlive snapshots, keyed by name. The engine owns one.
#[derive(Debug, Default)]
pub(crate) struct StateRegistry {
    nodes: Mutex<HashMap<(String, String), Arc<NodeHealth>>>,
    rules: Mutex<HashMap<String, Arc<Counter>>>,
    groups: Mutex<HashMap<String, Arc<Counter>>>,
}

fn get_or_new<K: std::hash::Hash + Eq, V: Default>(m: &Mutex<HashMap<K, Arc<V>>>, k: K) -> Arc<V> {
    m.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(k)
        .or_default()
        .clone()
}

impl StateRegistry {
    /// Forgets state nobody references any more (nodes removed by a reload).
    pub(crate) fn prune(&self) {
        fn prune_map<K, V>(m: &Mutex<HashMap<K, Arc<V>>>) {
            m.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, v| Arc::strong_count(v) > 1);
        }
        prune_map(&self.nodes);
        prune_map(&self.rules);
        prune_map(&self.groups);
    }
}

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: Box<str>,
    pub(crate) cond: Option<Cond>,
    /// Target group; `None` means the default group.
    pub(crate) group: Option<u32>,
    pub(crate) headers: Box<[(Box<str>, Box<str>)]>,
    pub(crate) counter: Arc<Counter>,
}

/// An immutable, compiled routing configuration.
///
/// Obtain one from [`crate::Engine::snapshot`]; it stays valid (and unchanged) for as long as
/// you hold it, whatever reloads happen meanwhile.
#[derive(Debug)]
pub struct Snapshot {
    pub(crate) generation: u64,
    pub(crate) spec: Arc<Spec>,
    pub(crate) ip_table: Arc<IpTable>,
    pub(crate) set_labels: Arc<Vec<String>>,
    pub(crate) resolver: ClientIpResolver,
    pub(crate) rules: Box<[Rule]>,
    pub(crate) groups: Box<[Group]>,
    pub(crate) group_index: HashMap<Box<str>, u32>,
    pub(crate) default_group: u32,
    pub(crate) builtin_headers: Box<[(Box<str>, Box<str>)]>,
    pub(crate) routing_prefixes: Box<[Box<str>]>,
    pub(crate) inbound: InboundPolicy,
    pub(crate) trusted_peers: Box<[ipnet::IpNet]>,
    pub(crate) release: Option<crate::release::Release>,
    /// The cookie, header and query names the conditions read, by slot.
    pub(crate) fields: crate::request::fields::FieldNames,
    pub(crate) compile_time: Duration,
}

impl Snapshot {
    /// The generation number (1 for the first snapshot of an engine, +1 per change).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The spec this snapshot was compiled from.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// How long compilation took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// Number of prefixes in the merged IP table.
    pub fn ip_prefix_count(&self) -> usize {
        self.ip_table.prefix_count()
    }

    /// Group names in order.
    pub fn group_names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|g| &*g.name)
    }

    /// Rule ids in order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    /// The merged IP table.
    pub(crate) fn ip_table(&self) -> &IpTable {
        &self.ip_table
    }

    /// True if `name` starts with one of the routing-header prefixes (`n-d-` by default).
    ///
    /// Case is ignored and `_` counts as `-`: CGI and WSGI servers read `n_d_env` as
    /// `HTTP_N_D_ENV`, the same variable as `n-d-env`, so an underscore spelling must be
    /// stripped from untrusted peers like the dashed one.
    ///
    /// ```
    /// use gray_core::{Engine, Format};
    /// let engine = Engine::from_str("version: 1\ndefault: g\ngroups: { g: {} }\n", Format::Yaml)?;
    /// let snap = engine.snapshot();
    /// assert!(snap.is_routing_header("N-D-Version"));
    /// assert!(snap.is_routing_header("n_d_env"));
    /// assert!(!snap.is_routing_header("x-gray"));
    /// # Ok::<(), gray_core::Error>(())
    /// ```
    pub fn is_routing_header(&self, name: &str) -> bool {
        self.routing_prefixes.iter().any(|p| {
            name.len() >= p.len() && routing_name_eq(&name.as_bytes()[..p.len()], p.as_bytes())
        })
    }

    /// Whether inbound routing headers are overridden (the default) or kept.
    pub fn inbound_policy(&self) -> InboundPolicy {
        self.inbound
    }

    /// True if inbound routing headers from this peer are believed: the peer is in
    /// `headers.trusted_peers`, or that list is empty and `headers.inbound` is `keep`.
    pub fn trusts_inbound(&self, peer: Option<IpAddr>) -> bool {
        if self.trusted_peers.is_empty() {
            return self.inbound == InboundPolicy::Keep;
        }
        peer.is_some_and(|p| {
            let p = p.to_canonical();
            self.trusted_peers.iter().any(|n| n.contains(&p))
        })
    }

    /// True if the spec has a `release` section.
    pub fn has_release(&self) -> bool {
        self.release.is_some()
    }

    /// A built-in header (lowest-priority expression variable), by case-insensitive name.
    pub(crate) fn builtin_header(&self, name: &str) -> Option<&str> {
        self.builtin_headers
            .iter()
            .find(|(k, _)| crate::request::scan::eq_ignore_ascii_case(k.as_bytes(), name.as_bytes()))
            .map(|(_, v)| &**v)
    }

    pub(crate) fn group_by_name(&self, name: &str) -> Option<u32> {
        self.group_index.get(name).copied()
    }

    /// The client address of a request: the forwarded header is believed only from trusted
    /// proxies (see [`crate::client_ip`]).
    pub(crate) fn resolve_client_ip<R: RequestView + ?Sized>(
        &self,
        req: &R,
        peer: IpAddr,
    ) -> IpAddr {
        let mut lines: [&str; 8] = [""; 8];
        let mut n = 0usize;
        let mut overflow: Vec<&str> = Vec::new();
        let peer = peer.to_canonical();
        if !self.resolver.is_trusted(peer) {
            return peer;
        }
        req.for_each_header(self.resolver.header().header_name(), &mut |v| {
            if n < lines.len() {
                lines[n] = v;
                n += 1;
            } else {
                overflow.push(v);
            }
            true
        });
        if overflow.is_empty() {
            self.resolver
                .resolve_trusted(peer, lines[..n].iter().copied())
        } else {
            self.resolver
                .resolve_trusted(peer, lines.iter().copied().chain(overflow))
        }
    }
}

/// Options for [`compile`].
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CompileInput<'a> {
    pub(crate) generation: u64,
    pub(crate) previous: Option<&'a Snapshot>,
}

/// Compiles a spec. `registry` supplies health/counter state that survives reloads.
pub(crate) fn compile(
    spec: Spec,
    input: CompileInput<'_>,
    registry: &StateRegistry,
) -> Result<Snapshot> {
    let started = Instant::now();
    let spec = Arc::new(spec);

    // IP sets: reuse the previous table when the sets and inline entries are unchanged.
    let mut sets = CompileScope::new();
    let mut reuse_table = None;
    let mut names: Vec<&String> = spec.ip_sets.keys().collect();
    names.sort();
    for (name, set) in &spec.ip_sets {
        let path = format!("ip_sets.{name}");
        if name.trim().is_empty() || crate::rules::looks_like_ip(name) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                path,
                "an IP set name must be a word, not empty and not an address",
            ));
        }
        let mut nets = Vec::with_capacity(set.entries.len());
        for (i, e) in set.entries.iter().enumerate() {
            nets.push(ip::parse_entry(e).map_err(|err| {
                Error::at(
                    ErrorKind::InvalidIp,
                    format!("{path}.entries[{i}]"),
                    err.to_string(),
                )
            })?);
        }
        if let Some(file) = &set.file {
            let full = match &spec.base_dir {
                Some(base) if file.is_relative() => base.join(file),
                _ => file.clone(),
            };
            let text = std::fs::read_to_string(&full).map_err(|e| {
                Error::at(
                    ErrorKind::Io,
                    format!("{path}.file"),
                    format!("cannot read {}: {e}", full.display()),
                )
            })?;
            let more = ip::parse_list(&text).map_err(|(line, err)| {
                // The line is in the IP list file, which the location names.
                Error::new(
                    ErrorKind::InvalidIp,
                    Location::new(format!("{path}.file"), Some(line), None)
                        .in_file(full.display().to_string()),
                    err.to_string(),
                )
            })?;
            nets.extend(more);
        }
        let idx = sets.add_set(name.clone(), nets);
        sets.names.insert(name.clone(), idx);
    }

    // Client IP.
    let trusted = nets_of(
        &spec.client_ip.trusted_proxies,
        &sets,
        "client_ip.trusted_proxies",
    )?;
    let header = match spec.client_ip.header.trim().to_ascii_lowercase().as_str() {
        "x-forwarded-for" => ForwardedHeader::XForwardedFor,
        "x-real-ip" => ForwardedHeader::XRealIp,
        "forwarded" => ForwardedHeader::Forwarded,
        "" => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "client_ip.header",
                "the header name must not be empty",
            ))
        }
        other if !is_token(other) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "client_ip.header",
                format!("{other:?} is not a valid header name"),
            ))
        }
        other => ForwardedHeader::Other(other.to_string()),
    };
    let resolver = ClientIpResolver::new(trusted, header, spec.client_ip.recursive);

    // Groups.
    let mut group_index: HashMap<Box<str>, u32> = HashMap::new();
    for (i, name) in spec.groups.keys().enumerate() {
        group_index.insert(name.as_str().into(), i as u32);
    }
    let lookup_group = |name: &str, path: &str| -> Result<u32> {
        group_index.get(name).copied().ok_or_else(|| {
            let known: Vec<&str> = spec.groups.keys().map(String::as_str).collect();
            Error::at(
                ErrorKind::UnknownReference,
                path,
                format!(
                    "no group named {name:?} (groups: {})",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )
        })
    };
    let mut groups = Vec::with_capacity(spec.groups.len());
    for (name, g) in &spec.groups {
        let path = format!("groups.{name}");
        groups.push(compile_group(
            name,
            g,
            &path,
            registry,
            &lookup_group,
            &mut sets.fields,
        )?);
    }
    check_fallback_cycles(&groups, &spec)?;
    let default_group = lookup_group(&spec.default, "default")?;

    // Rules.
    let mut rules = Vec::with_capacity(spec.rules.len());
    let mut seen = HashMap::new();
    for (i, r) in spec.rules.iter().enumerate() {
        let path = format!("rules[{i}]");
        if r.id.trim().is_empty() {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{path}.id"),
                "a rule id must not be empty",
            ));
        }
        if let Some(prev) = seen.insert(r.id.clone(), i) {
            return Err(Error::at(
                ErrorKind::Duplicate,
                format!("{path}.id"),
                format!("rule id {:?} is also used by rules[{prev}]", r.id),
            ));
        }
        let path = format!("rules[{i}] (id {:?})", r.id);
        let cond = match &r.when {
            Some(c) => Some(compile_condition(
                c,
                &format!("{path}.when"),
                &r.id,
                &mut sets,
                0,
            )?),
            None => None,
        };
        let group = match &r.route {
            Some(g) => Some(lookup_group(g, &format!("{path}.route"))?),
            None => None,
        };
        let mut headers: Vec<(Box<str>, Box<str>)> = Vec::new();
        for (k, v) in &r.set_headers {
            check_header(k, v, &format!("{path}.set_headers.{k}"))?;
            headers.push((k.to_ascii_lowercase().into(), v.as_str().into()));
        }
        for (k, v) in route_headers(&r.routes) {
            check_header(k, v, &format!("{path}.routes"))?;
            headers.push((k.into(), v.into()));
        }
        if !r.enabled {
            continue;
        }
        rules.push(Rule {
            id: r.id.as_str().into(),
            cond,
            group,
            headers: headers.into(),
            counter: get_or_new(&registry.rules, r.id.clone()),
        });
    }

    let mut builtin = Vec::new();
    for (k, v) in &spec.headers.builtin {
        check_header(k, v, &format!("headers.builtin.{k}"))?;
        builtin.push((k.to_ascii_lowercase().into_boxed_str(), v.as_str().into()));
    }
    for (i, p) in spec.headers.routing_prefixes.iter().enumerate() {
        if p.is_empty() || !is_token(p) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("headers.routing_prefixes[{i}]"),
                format!("{p:?} is not a header-name prefix"),
            ));
        }
    }

    let release = match &spec.release {
        Some(r) => Some(crate::release::compile_release(r, &mut sets)?),
        None => None,
    };
    let trusted_peers = nets_of(&spec.headers.trusted_peers, &sets, "headers.trusted_peers")?;

    let fields = std::mem::take(&mut sets.fields).build();

    // The IP table is the last thing built because conditions may add anonymous sets.
    let same_sets = input.previous.is_some_and(|p| {
        *p.set_labels == sets.labels
            && p.spec.ip_sets == spec.ip_sets
            && p.spec.base_dir == spec.base_dir
    });
    if same_sets {
        reuse_table = input
            .previous
            .map(|p| (p.ip_table.clone(), p.set_labels.clone()));
    }
    let (ip_table, set_labels) = match reuse_table {
        Some(t) => t,
        None => {
            let CompileScope {
                builder, labels, ..
            } = sets;
            (Arc::new(builder.build()), Arc::new(labels))
        }
    };

    Ok(Snapshot {
        generation: input.generation,
        ip_table,
        set_labels,
        resolver,
        rules: rules.into(),
        groups: groups.into(),
        group_index,
        default_group,
        builtin_headers: builtin.into(),
        routing_prefixes: spec
            .headers
            .routing_prefixes
            .iter()
            .map(|p| p.to_ascii_lowercase().into())
            .collect(),
        inbound: spec.headers.inbound,
        trusted_peers: trusted_peers.into(),
        release,
        fields,
        compile_time: started.elapsed(),
        spec,
    })
}

/// Expands a list of CIDRs, addresses and `ip_sets` names into networks.
fn nets_of(entries: &[String], sets: &CompileScope, path: &str) -> Result<Vec<ipnet::IpNet>> {
    let mut out = Vec::new();
    for (i, t) in entries.iter().enumerate() {
        if let Some(&idx) = sets.names.get(t.as_str()) {
            out.extend(sets.nets[idx as usize].iter().copied());
        } else {
            out.push(ip::parse_entry(t).map_err(|e| {
                Error::at(
                    ErrorKind::InvalidIp,
                    format!("{path}[{i}]"),
                    format!("{e} (and no ip_sets entry has this name)"),
                )
            })?);
        }
    }
    Ok(out)
}

fn compile_group(
    name: &str,
    g: &GroupSpec,
    path: &str,
    registry: &StateRegistry,
    lookup_group: &dyn Fn(&str, &str) -> Result<u32>,
    fields: &mut crate::request::fields::FieldNamesBuilder,
) -> Result<Group> {
    if name.trim().is_empty() {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            "a group name must not be empty",
        ));
    }
    let mut nodes = Vec::with_capacity(g.nodes.len());
    let mut addrs: HashMap<&str, usize> = HashMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        let np = format!("{path}.nodes[{i}]");
        check_address(&n.address)
            .map_err(|m| Error::at(ErrorKind::InvalidValue, format!("{np}.address"), m))?;
        if let Some(prev) = addrs.insert(n.address.as_str(), i) {
            return Err(Error::at(
                ErrorKind::Duplicate,
                format!("{np}.address"),
                format!("node {:?} is also nodes[{prev}] of this group", n.address),
            ));
        }
        if n.weight > MAX_WEIGHT {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{np}.weight"),
                format!("weight {} is out of range 0..={MAX_WEIGHT}", n.weight),
            ));
        }
        let policy = HealthPolicy::new(
            n.max_fails.unwrap_or(g.max_fails),
            n.fail_timeout.map_or(g.fail_timeout.0, |d| d.0),
        );
        if policy.max_fails > 0 && policy.fail_timeout.is_zero() {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{np}.fail_timeout"),
                "fail_timeout must be positive when max_fails > 0",
            ));
        }
        nodes.push(Node {
            address: n.address.as_str().into(),
            weight: n.weight,
            drain: n.drain,
            policy,
            health: get_or_new(&registry.nodes, (name.to_string(), n.address.clone())),
            metadata: n.metadata.clone(),
        });
    }
    let hash_key = match (&g.hash_key, g.select) {
        (Some(k), _) => {
            Some(Key::compile(k, fields).map_err(|e| e.within(&format!("{path}.hash_key")))?)
        }
        (None, crate::spec::SelectSpec::Hash) => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{path}.hash_key"),
                "`select: hash` needs a `hash_key` (cookie, header, query or client_ip)",
            ))
        }
        (None, _) => None,
    };
    let alg = Group::algorithm(g.select);
    let ids: Vec<&str> = g.nodes.iter().map(|n| n.address.as_str()).collect();
    let base: Vec<u32> = g.nodes.iter().map(|n| n.weight).collect();
    let (selectors, rollout) = match &g.rollout {
        None => (vec![Selector::new(alg, &base, &ids)], None),
        Some(r) => {
            let rp = format!("{path}.rollout");
            if r.steps.is_empty() {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("{rp}.steps"),
                    "a rollout needs at least one step",
                ));
            }
            let mut selectors = Vec::new();
            let mut starts = Vec::new();
            let mut at = r.start.saturating_mul(1000);
            for (si, step) in r.steps.iter().enumerate() {
                let sp = format!("{rp}.steps[{si}]");
                let mut w = base.clone();
                for (addr, weight) in &step.weights {
                    let Some(&i) = addrs.get(addr.as_str()) else {
                        return Err(Error::at(
                            ErrorKind::UnknownReference,
                            format!("{sp}.weights"),
                            format!("{addr:?} is not a node of this group"),
                        ));
                    };
                    if *weight > MAX_WEIGHT {
                        return Err(Error::at(
                            ErrorKind::InvalidValue,
                            format!("{sp}.weights.{addr}"),
                            format!("weight {weight} is out of range 0..={MAX_WEIGHT}"),
                        ));
                    }
                    w[i] = *weight;
                }
                match (&step.hold, si + 1 == r.steps.len()) {
                    (None, false) => {
                        return Err(Error::at(
                            ErrorKind::InvalidValue,
                            format!("{sp}.hold"),
                            "every step but the last needs `hold`",
                        ))
                    }
                    (Some(d), false) if d.0.is_zero() => {
                        return Err(Error::at(
                            ErrorKind::InvalidValue,
                            format!("{sp}.hold"),
                            "`hold` must be positive",
                        ))
                    }
                    _ => {}
                }
                starts.push(at);
                at = at.saturating_add(
                    step.hold
                        .map_or(0, |d| u64::try_from(d.0.as_millis()).unwrap_or(u64::MAX)),
                );
                selectors.push(Selector::new(alg, &w, &ids));
            }
            (
                selectors,
                Some(Rollout {
                    starts: starts.into(),
                }),
            )
        }
    };
    let fallback = match &g.fallback {
        Some(f) if f == name => {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                format!("{path}.fallback"),
                "a group cannot fall back to itself",
            ))
        }
        Some(f) => Some(lookup_group(f, &format!("{path}.fallback"))?),
        None => None,
    };
    Ok(Group {
        name: name.into(),
        nodes: nodes.into(),
        selectors: selectors.into(),
        rollout,
        hash_key,
        hash_salt: crate::sticky::salt_prefix(name.as_bytes()),
        fallback,
        fail_on: crate::outcome::FailMask::new(&g.fail_on),
        counter: get_or_new(&registry.groups, name.to_string()),
    })
}

fn check_fallback_cycles(groups: &[Group], spec: &Spec) -> Result<()> {
    for (start, g) in groups.iter().enumerate() {
        let mut seen = vec![start];
        let mut cur = g.fallback;
        while let Some(next) = cur {
            if seen.contains(&(next as usize)) {
                let chain: Vec<&str> = seen
                    .iter()
                    .map(|&i| &*groups[i].name)
                    .chain([&*groups[next as usize].name])
                    .collect();
                let _ = spec;
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    format!("groups.{}.fallback", g.name),
                    format!("fallback chain loops: {}", chain.join(" → ")),
                ));
            }
            seen.push(next as usize);
            cur = groups[next as usize].fallback;
        }
    }
    Ok(())
}

/// RFC 7230 token characters (header names).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn check_header(name: &str, value: &str, path: &str) -> Result<()> {
    if !is_token(name) {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            format!("{name:?} is not a valid header name"),
        ));
    }
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Error::at(
            ErrorKind::InvalidValue,
            path,
            "header values must not contain control characters (CR, LF, NUL, ...)",
        ));
    }
    Ok(())
}

/// Validates `ip:port`, `[v6]:port` or `host:port`.
pub(crate) fn check_address(a: &str) -> std::result::Result<(), String> {
    if a.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(());
    }
    let Some((host, port)) = a.rsplit_once(':') else {
        return Err(format!(
            "{a:?} needs a port: use ip:port, [ipv6]:port or host:port"
        ));
    };
    if port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(format!("{a:?} has an invalid port {port:?}"));
    }
    if host.starts_with('[') || host.parse::<IpAddr>().is_ok() || host.contains(':') {
        return Err(format!(
            "{a:?} is not a valid address (IPv6 needs brackets: [::1]:80)"
        ));
    }
    let ok_label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(ok_label) {
        return Err(format!("{a:?} has an invalid host name {host:?}"));
    }
    Ok(())
}

/// The `n-d-*` headers that carry a rule's per-service routes down the call chain.
pub(crate) fn route_headers(
    r: &crate::spec::RoutesSpec,
) -> impl Iterator<Item = (&'static str, &str)> {
    [
        ("n-d-version", &r.version),
        ("n-d-region", &r.region),
        ("n-d-address", &r.address),
        ("n-d-version-weight", &r.version_weight),
        ("n-d-region-weight", &r.region_weight),
        ("n-d-env", &r.env),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Snapshot>();
}

/// Header-name equality for routing headers: ASCII case-insensitive, `_` equal to `-` (see
/// [`Snapshot::is_routing_header`]).
pub(crate) fn routing_name_eq(a: &[u8], b: &[u8]) -> bool {
    let norm = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == norm(y))
}
