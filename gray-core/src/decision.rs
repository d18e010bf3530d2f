//! The result of routing one request.

use std::fmt;
use std::sync::Arc;

use crate::eval::route::Routed;
use crate::snapshot::release::{Choice, Field};
use crate::snapshot::Snapshot;
use crate::spec::release::{RouteKind, HEADERS};
use crate::spec::NodeMetadata;

/// What gray decided for one request.
///
/// A decision keeps the snapshot it was made from alive (one `Arc`), so every accessor answers
/// from exactly one generation even if the engine reloads meanwhile. Building one allocates
/// nothing.
///
/// ```
/// use gray_core::{Engine, Format, SimpleRequest};
///
/// let engine = Engine::from_str(r#"
/// version: 1
/// groups:
///   stable: { nodes: [{ address: "127.0.0.1:6002" }] }
///   canary: { nodes: [{ address: "127.0.0.1:6004" }], fallback: stable }
/// rules:
///   - { id: c, when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }, route: canary,
///       set_headers: { x-gray: canary } }
/// default: stable
/// "#, Format::Yaml)?;
/// let d = engine.decide(&SimpleRequest::new("10.0.0.1".parse()?).with_header("cookie", "canary=xAAA"));
/// assert_eq!(d.rule_id(), Some("c"));
/// assert_eq!(d.group(), "canary");
/// assert_eq!(d.node_address(), Some("127.0.0.1:6004"));
/// assert_eq!(d.headers().collect::<Vec<_>>(), [("x-gray", "canary")]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Decision {
    pub(crate) snapshot: Arc<Snapshot>,
    pub(crate) rule: Option<u32>,
    pub(crate) requested: u32,
    pub(crate) served: Option<u32>,
    pub(crate) node: Option<u32>,
    /// The release's per-dimension resolution ([`crate::release`]).
    pub(crate) release: Choice,
    /// Whether the request came from a peer whose inbound routing headers are believed.
    pub(crate) inbound_trusted: bool,
}

/// What [`Decision::headers`] yields, as a small comparable value: within one snapshot, two
/// decisions with equal keys have equal headers (same names, values and order).
///
/// Obtained from [`Decision::headers_key`]. It lets an adapter convert a decision's headers
/// into its HTTP library's types once per snapshot and key, and reuse them for every request
/// with the same key. Keys of decisions from different snapshots (see
/// [`Decision::snapshot`]) say nothing about each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadersKey {
    rule: Option<u32>,
    release: [u32; 5],
}

/// The node a decision picked.
#[derive(Debug, Clone, Copy)]
pub struct NodeRef<'a> {
    /// `ip:port` or `host:port`.
    pub address: &'a str,
    /// Node metadata (version, region, ...).
    pub metadata: &'a NodeMetadata,
    /// Index of the node within its group.
    pub index: usize,
}

impl<'a> NodeRef<'a> {
    /// Node `node` of group `group`.
    pub(crate) fn of(snap: &'a Snapshot, group: u32, node: u32) -> Option<NodeRef<'a>> {
        let n = snap.groups.get(group as usize)?.nodes.get(node as usize)?;
        Some(NodeRef {
            address: &n.address,
            metadata: &n.metadata,
            index: node as usize,
        })
    }
}

impl Decision {
    /// The decision for `routed`, made from `snapshot`: the one constructor, shared by
    /// [`crate::Engine::decide`] and [`crate::Engine::explain`].
    pub(crate) fn new(snapshot: Arc<Snapshot>, routed: Routed) -> Decision {
        let Routed {
            rule,
            requested,
            served,
            node,
            release,
            inbound_trusted,
        } = routed;
        Decision {
            snapshot,
            rule,
            requested,
            served,
            node,
            release,
            inbound_trusted,
        }
    }

    /// The generation of the snapshot that decided.
    pub fn generation(&self) -> u64 {
        self.snapshot.generation
    }

    /// The id of the matched rule, or `None` when no rule matched (default group).
    pub fn rule_id(&self) -> Option<&str> {
        self.rule.map(|r| &*self.snapshot.rules[r as usize].id)
    }

    /// The group serving the request: the decided group, or its fallback when the decided
    /// group had no available node. With no upstream at all, the decided group.
    pub fn group(&self) -> &str {
        &self.snapshot.groups[self.served.unwrap_or(self.requested) as usize].name
    }

    /// The group the rules chose, before any fallback.
    pub fn requested_group(&self) -> &str {
        &self.snapshot.groups[self.requested as usize].name
    }

    /// True if the request goes to a fallback group.
    pub fn is_fallback(&self) -> bool {
        self.served.is_some_and(|s| s != self.requested)
    }

    /// The picked node, if any group had one available.
    pub fn node(&self) -> Option<NodeRef<'_>> {
        NodeRef::of(&self.snapshot, self.served?, self.node?)
    }

    /// The picked node's address.
    pub fn node_address(&self) -> Option<&str> {
        self.node().map(|n| n.address)
    }

    /// True when neither the decided group nor its fallbacks had an available node; a gateway
    /// should answer 503. [`crate::Engine::explain`] says why.
    pub fn no_upstream(&self) -> bool {
        self.node.is_none()
    }

    /// Headers to set on the forwarded request: the matched rule's `set_headers` and routes,
    /// then the release's `n-d-*` values, then built-in headers, each skipping names an
    /// earlier source set. Allocation-free: every value points into the snapshot.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let rule: &[(Box<str>, Box<str>)] = match self.rule {
            Some(r) => &self.snapshot.rules[r as usize].headers,
            None => &[],
        };
        let in_rule = move |k: &str| rule.iter().any(|(rk, _)| &**rk == k);
        let release = self
            .snapshot
            .release
            .iter()
            .flat_map(move |r| r.headers(&self.release))
            .filter(move |(k, _)| !in_rule(k));
        let builtin = self
            .snapshot
            .builtin_headers
            .iter()
            .map(|(k, v)| (&**k, &**v))
            .filter(move |(k, _)| !in_rule(k) && !HEADERS.contains(k));
        rule.iter()
            .map(|(k, v)| (&**k, &**v))
            .chain(release)
            .chain(builtin)
    }

    /// The key of [`Decision::headers`]: what the headers depend on besides the snapshot (the
    /// matched rule and the release's per-dimension choice).
    ///
    /// ```
    /// use gray_core::{Engine, Format, SimpleRequest};
    ///
    /// let engine = Engine::from_str(r#"
    /// version: 1
    /// groups: { g: { nodes: [{ address: "127.0.0.1:1" }] } }
    /// rules: [{ id: t, when: { header: { name: x-t, equals: "1" } }, route: g, set_headers: { x-gray: t } }]
    /// default: g
    /// "#, Format::Yaml)?;
    /// let peer = "10.0.0.1".parse()?;
    /// let a = engine.decide(&SimpleRequest::new(peer).with_header("x-t", "1"));
    /// let b = engine.decide(&SimpleRequest::new(peer).with_header("x-t", "1").with_path("/b"));
    /// let c = engine.decide(&SimpleRequest::new(peer));
    /// assert_eq!(a.headers_key(), b.headers_key());
    /// assert_ne!(a.headers_key(), c.headers_key());
    /// assert_eq!(a.headers().collect::<Vec<_>>(), b.headers().collect::<Vec<_>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn headers_key(&self) -> HeadersKey {
        HeadersKey {
            rule: self.rule,
            release: self.release.0,
        }
    }

    /// The value the release chose for one dimension (the text of its `n-d-*` header), e.g.
    /// `{"svc-a":"1.1","svc-b":"1.1"}` for [`crate::release::RouteKind::Version`].
    pub fn route(&self, kind: RouteKind) -> Option<&str> {
        let r = self.snapshot.release.as_ref()?;
        r.own(&self.release, Field::of(kind)).map(|v| &*v.header)
    }

    /// The route id the release chose for one dimension (`None` for `defaults` or nothing).
    pub fn route_id(&self, kind: RouteKind) -> Option<&str> {
        let r = self.snapshot.release.as_ref()?;
        let i = self.release.0[kind as usize];
        r.routes.get(i as usize).map(|r| &*r.id)
    }

    /// True if the request's peer is trusted to send routing headers
    /// (`headers.trusted_peers`, or `inbound: keep` without that list). A forwarding layer
    /// then keeps inbound `n-d-*` headers that [`Decision::headers`] does not replace (or, with
    /// `inbound: keep`, that it does); otherwise it strips every inbound routing header.
    pub fn trusts_inbound(&self) -> bool {
        self.inbound_trusted
    }

    /// Whether a forwarding proxy passes on an inbound header `name` as it arrived.
    ///
    /// Headers that are not routing headers (`headers.routing_prefixes`) always pass. Inbound
    /// routing headers from untrusted peers never do (they are stripped). From trusted peers,
    /// with `inbound: override` they pass unless [`Decision::headers`] sets the same name;
    /// with `inbound: keep` they pass and the decision's value for that name is not set.
    ///
    /// A forwarder therefore: drops every inbound header for which this is false, then sets
    /// each of [`Decision::headers`] unless the request has that header and this is true.
    ///
    /// ```
    /// use gray_core::{Engine, Format, SimpleRequest};
    ///
    /// let engine = Engine::from_str(r#"
    /// version: 1
    /// default: a
    /// groups: { a: { nodes: [] } }
    /// release: { defaults: { version: "1.0" } }
    /// headers: { trusted_peers: ["10.0.0.0/8"] }
    /// "#, Format::Yaml)?;
    /// let client = engine.decide(&SimpleRequest::new("203.0.113.1".parse()?));
    /// assert!(!client.forward_inbound("n-d-region"));     // stripped
    /// assert!(client.forward_inbound("x-request-id"));    // not a routing header
    /// let peer = engine.decide(&SimpleRequest::new("10.0.0.7".parse()?));
    /// assert!(peer.forward_inbound("n-d-region"));        // trusted, not set by the decision
    /// assert!(!peer.forward_inbound("n-d-version"));      // replaced by the decision
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn forward_inbound(&self, name: &str) -> bool {
        if !self.snapshot.is_routing_header(name) {
            return true;
        }
        if !self.inbound_trusted {
            return false;
        }
        self.snapshot.inbound_passes(name, self.headers())
    }

    /// The snapshot that made this decision.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }
}

impl fmt::Debug for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decision")
            .field("generation", &self.generation())
            .field("rule", &self.rule_id())
            .field("group", &self.group())
            .field("fallback", &self.is_fallback())
            .field("node", &self.node_address())
            .finish()
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} → group {}",
            self.rule_id().unwrap_or("(default)"),
            self.group()
        )?;
        if self.is_fallback() {
            write!(f, " (fallback from {})", self.requested_group())?;
        }
        match self.node_address() {
            Some(a) => write!(f, " → node {a}")?,
            None => f.write_str(" → no upstream")?,
        }
        write!(f, " [generation {}]", self.generation())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Engine, Format, SimpleRequest};

    /// Equal keys mean equal headers, across rules, release choices and built-in headers (the
    /// converse need not hold: rule `b` sets nothing of its own, like the default).
    #[test]
    fn equal_headers_keys_mean_equal_headers() {
        let engine = Engine::from_str(
            r##"
version: 1
default: g
groups: { g: { nodes: [{ address: "127.0.0.1:1" }] } }
rules:
  - { id: a, when: { header: { name: x-r, equals: a } }, route: g,
      set_headers: { x-gray: a, env-tag: rule }, routes: { region: eu } }
  - { id: b, when: { header: { name: x-r, equals: b } }, route: g }
release:
  routes:
    v2: { type: version, value: "2.0" }
    v3: { type: version, value: "3.0" }
  blue_green:
    - { id: two, when: "#H['x-v'] == '2'", version: v2 }
    - { id: three, when: "#H['x-v'] == '3'", version: v3 }
  defaults: { version: "1.0" }
headers: { builtin: { env-tag: blue } }
"##,
            Format::Yaml,
        )
        .unwrap();
        let mut seen = Vec::new();
        for r in ["", "a", "b"] {
            for v in ["", "2", "3"] {
                for path in ["/", "/other"] {
                    let req = SimpleRequest::new("10.0.0.1".parse().unwrap())
                        .with_path(path)
                        .with_header("x-r", r)
                        .with_header("x-v", v);
                    let d = engine.decide(&req);
                    let headers: Vec<(String, String)> = d
                        .headers()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    seen.push((d.headers_key(), headers));
                }
            }
        }
        for (k1, h1) in &seen {
            for (k2, h2) in &seen {
                if k1 == k2 {
                    assert_eq!(h1, h2, "{k1:?}");
                }
            }
        }
        let distinct: std::collections::BTreeSet<_> = seen.iter().map(|(k, _)| *k).collect();
        assert_eq!(distinct.len(), 9, "3 rules × 3 version choices");
    }
}
