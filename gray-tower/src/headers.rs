//! Header priority: what happens to inbound routing headers and the decision's headers.
//!
//! Clients may send routing headers (`n-d-version`, ... — see the spec's
//! `headers.routing_prefixes`). [`apply_decision`] follows
//! [`Decision::forward_inbound`]: inbound routing headers from peers that are not trusted
//! (`headers.trusted_peers`) are all stripped, so an untrusted client can never steer the
//! services behind the gateway; from trusted peers, `headers.inbound: override` (the default)
//! replaces the ones the decision sets and keeps the rest, `inbound: keep` lets them win over
//! the decision's values. Then the decision's headers are set. Non-routing decision headers
//! (e.g. a rule's `set_headers: { x-gray: canary }`) always replace what the client sent.
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest};
//! use gray_tower::apply_decision;
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! groups: { stable: { nodes: [{ address: "127.0.0.1:7001" }] } }
//! rules: [{ id: all, when: { all: [] }, route: stable, routes: { version: "1.0" }, set_headers: { x-gray: all } }]
//! default: stable
//! "#, Format::Yaml)?;
//! let decision = engine.decide(&SimpleRequest::new("203.0.113.9".parse()?));
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("n-d-version", "evil".parse()?);
//! headers.insert("n-d-region", "elsewhere".parse()?);
//! headers.insert("x-gray", "spoofed".parse()?);
//! apply_decision(&decision, &mut headers);
//! assert_eq!(headers["n-d-version"], "1.0");
//! assert!(headers.get("n-d-region").is_none());
//! assert_eq!(headers["x-gray"], "all");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwapOption;
use gray_core::{Decision, HeadersKey, Snapshot};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Strips the inbound headers the decision does not forward and sets the decision's headers.
///
/// This converts each of the decision's headers into `http` types afresh. [`crate::Gray`]
/// gives the same result faster: it converts each snapshot's headers once and clones them per
/// request.
pub fn apply_decision(decision: &Decision, headers: &mut HeaderMap) {
    let snap = decision.snapshot();
    if headers.keys().any(|k| snap.is_routing_header(k.as_str())) {
        strip_inbound(decision, headers);
    }
    for (name, value) in decision.headers() {
        set_parsed(decision, headers, name, value);
    }
}

/// Removes every inbound header the decision does not forward.
fn strip_inbound(decision: &Decision, headers: &mut HeaderMap) {
    let dropped: Vec<HeaderName> = headers
        .keys()
        .filter(|k| !decision.forward_inbound(k.as_str()))
        .cloned()
        .collect();
    for name in dropped {
        headers.remove(&name);
    }
}

/// Sets one decision header, converting it into `http` types first.
fn set_parsed(decision: &Decision, headers: &mut HeaderMap, name: &str, value: &str) {
    // Names and values were validated when the snapshot was compiled; a failure here means an
    // impossible header, which is skipped rather than sent malformed.
    let (Ok(header), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) else {
        tracing::warn!(
            header = name,
            "skipping a decision header that is not valid HTTP"
        );
        return;
    };
    let routing = decision.snapshot().is_routing_header(header.as_str());
    set(decision, headers, routing, header, value);
}

/// Sets a decision header unless a trusted inbound routing header of that name survived the
/// strip and wins (`inbound: keep`).
fn set(
    decision: &Decision,
    headers: &mut HeaderMap,
    routing: bool,
    name: HeaderName,
    value: HeaderValue,
) {
    if routing && headers.contains_key(&name) && decision.forward_inbound(name.as_str()) {
        return;
    }
    headers.insert(name, value);
}

/// How many header sets ([`HeadersKey`]s) one snapshot's cache holds at most. A snapshot has
/// a bounded number of them (matched rule × the release's choices), so this is only a guard;
/// decisions beyond it convert their headers per request.
const CACHE_LIMIT: usize = 1024;

/// The decision headers of one snapshot as ready-made `http` values, shared by every clone of
/// the [`crate::Gray`] services one layer makes.
///
/// [`apply_decision`] parses and copies each decision header into a fresh `HeaderName` and
/// `HeaderValue` per request. The cache does that once per snapshot and
/// [`Decision::headers_key`] (equal keys within a snapshot mean equal headers): a request then
/// clones the values (reference-count increments) and checks its inbound header names against
/// the snapshot's routing prefixes with a first-byte test before any full comparison.
///
/// Entries belong to one snapshot: the cache keeps that snapshot alive and starts afresh when
/// a decision comes from a newer one, so a reload can never serve the previous snapshot's
/// headers. Decisions still in flight from an older snapshot take the uncached path.
#[derive(Default)]
pub(crate) struct HeaderCache {
    current: ArcSwapOption<Prepared>,
    /// Serialises the (rare) rebuilds, so concurrent misses do not race to replace each other.
    fill: Mutex<()>,
}

impl std::fmt::Debug for HeaderCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current.load();
        f.debug_struct("HeaderCache")
            .field(
                "generation",
                &current.as_ref().map(|p| p.snapshot.generation()),
            )
            .field("sets", &current.as_ref().map_or(0, |p| p.sets.len()))
            .finish()
    }
}

/// One snapshot's prepared headers.
struct Prepared {
    snapshot: Arc<Snapshot>,
    prefixes: RoutingPrefixes,
    /// Sorted by key, keys unique.
    sets: Box<[(HeadersKey, Arc<[Entry]>)]>,
}

/// A decision header ready to insert.
struct Entry {
    name: HeaderName,
    value: HeaderValue,
    /// Whether `name` is a routing header of the snapshot.
    routing: bool,
}

/// A snapshot's routing-header prefixes (lowercase), with a table of their first bytes.
struct RoutingPrefixes {
    first: [u64; 4],
    prefixes: Box<[Box<[u8]>]>,
}

impl RoutingPrefixes {
    fn of(snapshot: &Snapshot) -> RoutingPrefixes {
        let prefixes: Box<[Box<[u8]>]> = snapshot
            .spec()
            .headers
            .routing_prefixes
            .iter()
            .map(|p| p.to_ascii_lowercase().into_bytes().into_boxed_slice())
            .collect();
        let mut first = [0u64; 4];
        for p in &prefixes {
            if let Some(&b) = p.first() {
                for b in [b, dash(b), if b == b'-' { b'_' } else { b }] {
                    first[usize::from(b >> 6)] |= 1 << (b & 63);
                }
            }
        }
        RoutingPrefixes { first, prefixes }
    }

    /// [`Snapshot::is_routing_header`] for a header name from a `HeaderMap` (always
    /// lowercase).
    fn matches(&self, name: &[u8]) -> bool {
        let Some(&b) = name.first() else {
            return false;
        };
        // `_` counts as `-` (see `Snapshot::is_routing_header`): `n_d_env` is stripped too.
        self.first[usize::from(b >> 6)] >> (b & 63) & 1 == 1
            && self.prefixes.iter().any(|p| {
                name.len() >= p.len()
                    && name[..p.len()]
                        .iter()
                        .zip(p.iter())
                        .all(|(&n, &q)| dash(n) == dash(q))
            })
    }
}

/// `_` as `-` (header names from a `HeaderMap` and the prefixes are lowercase already).
fn dash(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b
    }
}

/// `decision`'s headers as `http` values; one that is not valid HTTP (impossible: the snapshot
/// validated them) is skipped, as [`apply_decision`] skips it.
fn entries(decision: &Decision) -> Arc<[Entry]> {
    let snapshot = decision.snapshot();
    decision
        .headers()
        .filter_map(|(name, value)| {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => Some(Entry {
                    routing: snapshot.is_routing_header(name.as_str()),
                    name,
                    value,
                }),
                _ => {
                    tracing::warn!(
                        header = name,
                        "skipping a decision header that is not valid HTTP"
                    );
                    None
                }
            }
        })
        .collect()
}

impl Prepared {
    /// A cache for `decision`'s snapshot holding `sets` plus the decision's headers.
    fn build(decision: &Decision, sets: &[(HeadersKey, Arc<[Entry]>)]) -> Prepared {
        let key = decision.headers_key();
        let mut all = sets.to_vec();
        if all.len() < CACHE_LIMIT {
            if let Err(i) = all.binary_search_by_key(&key, |(k, _)| *k) {
                all.insert(i, (key, entries(decision)));
            }
        }
        Prepared {
            snapshot: decision.snapshot().clone(),
            prefixes: RoutingPrefixes::of(decision.snapshot()),
            sets: all.into(),
        }
    }

    /// The prepared headers of decisions with `key`, if cached.
    fn find(&self, key: HeadersKey) -> Option<&[Entry]> {
        let i = self.sets.binary_search_by_key(&key, |(k, _)| *k).ok()?;
        Some(&self.sets[i].1)
    }

    /// Applies `decision` (made from this snapshot) to `headers`. Returns whether its headers
    /// were missing from the cache and could be added.
    fn apply(&self, decision: &Decision, headers: &mut HeaderMap) -> bool {
        if headers
            .keys()
            .any(|k| self.prefixes.matches(k.as_str().as_bytes()))
        {
            strip_inbound(decision, headers);
        }
        match self.find(decision.headers_key()) {
            Some(entries) => {
                for e in entries {
                    set(
                        decision,
                        headers,
                        e.routing,
                        e.name.clone(),
                        e.value.clone(),
                    );
                }
                false
            }
            None => {
                for (name, value) in decision.headers() {
                    set_parsed(decision, headers, name, value);
                }
                self.sets.len() < CACHE_LIMIT
            }
        }
    }
}

impl HeaderCache {
    /// What [`apply_decision`] does, with the snapshot's headers converted once.
    pub(crate) fn apply(&self, decision: &Decision, headers: &mut HeaderMap) {
        let current = self.current.load();
        match current.as_ref() {
            Some(p) if Arc::ptr_eq(&p.snapshot, decision.snapshot()) => {
                if p.apply(decision, headers) {
                    drop(current);
                    self.learn(decision);
                }
            }
            // A decision still in flight from before a reload: the cache stays with the newer
            // snapshot.
            Some(p) if p.snapshot.generation() > decision.generation() => {
                apply_decision(decision, headers);
            }
            _ => {
                drop(current);
                match self.learn(decision) {
                    Some(p) => {
                        p.apply(decision, headers);
                    }
                    None => apply_decision(decision, headers),
                }
            }
        }
    }

    /// Makes the cache serve `decision`'s snapshot and hold its headers, unless it already
    /// serves a newer snapshot (then `None`).
    fn learn(&self, decision: &Decision) -> Option<Arc<Prepared>> {
        let _fill = self.fill.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.current.load_full();
        let same = match &current {
            Some(p) if Arc::ptr_eq(&p.snapshot, decision.snapshot()) => Some(p),
            Some(p) if p.snapshot.generation() > decision.generation() => return None,
            _ => None,
        };
        if let Some(p) = same {
            if p.find(decision.headers_key()).is_some() || p.sets.len() >= CACHE_LIMIT {
                return Some(p.clone());
            }
        }
        let prepared = Arc::new(Prepared::build(
            decision,
            same.map_or(&[][..], |p| &p.sets[..]),
        ));
        self.current.store(Some(prepared.clone()));
        Some(prepared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gray_core::{Engine, Format, SimpleRequest};
    use std::sync::Arc;

    fn decide(policy: &str) -> Decision {
        decide_from(policy, "", "10.0.0.1")
    }

    fn decide_from(policy: &str, extra: &str, peer: &str) -> Decision {
        let engine = Engine::from_str(
            &format!(
                r#"
version: 1
groups: {{ g: {{ nodes: [{{ address: "127.0.0.1:1" }}] }} }}
rules: [{{ id: r, when: {{ all: [] }}, route: g, routes: {{ version: "2" }} }}]
default: g
headers: {{ inbound: {policy}, builtin: {{ env-tag: blue }}{extra} }}
"#
            ),
            Format::Yaml,
        )
        .unwrap();
        engine.decide(&SimpleRequest::new(peer.parse().unwrap()))
    }

    #[test]
    fn override_strips_every_inbound_routing_header_in_any_case() {
        let d = decide("override");
        let mut h = HeaderMap::new();
        h.append("N-D-Version", "x".parse().unwrap());
        h.append("n-d-version", "y".parse().unwrap());
        h.append("n-d-zone", "z".parse().unwrap());
        h.append("n_d_env", "u".parse().unwrap());
        h.append("N_D-Region", "u".parse().unwrap());
        h.append("accept", "*/*".parse().unwrap());
        apply_decision(&d, &mut h);
        assert!(
            !h.contains_key("n_d_env"),
            "underscore spellings are routing headers too"
        );
        assert!(!h.contains_key("n_d-region"));
        assert_eq!(h.get_all("n-d-version").iter().count(), 1);
        assert_eq!(h["n-d-version"], "2");
        assert!(!h.contains_key("n-d-zone"));
        assert_eq!(h["accept"], "*/*");
        assert_eq!(h["env-tag"], "blue");
    }

    #[test]
    fn keep_lets_inbound_routing_headers_win() {
        let d = decide("keep");
        let mut h = HeaderMap::new();
        h.append("n-d-version", "9".parse().unwrap());
        h.append("n-d-zone", "z".parse().unwrap());
        apply_decision(&d, &mut h);
        assert_eq!(h["n-d-version"], "9");
        assert_eq!(h["n-d-zone"], "z");
        assert_eq!(h["env-tag"], "blue");
    }

    #[test]
    fn trusted_peers_pass_routing_headers_the_decision_does_not_set() {
        let spoof = || {
            let mut h = HeaderMap::new();
            h.append("n-d-version", "9".parse().unwrap());
            h.append("n-d-zone", "z".parse().unwrap());
            h
        };
        let trusted = ", trusted_peers: [\"10.0.0.0/8\"]";
        let mut h = spoof();
        apply_decision(&decide_from("override", trusted, "10.1.1.1"), &mut h);
        assert_eq!(h["n-d-version"], "2", "the decision replaces what it sets");
        assert_eq!(h["n-d-zone"], "z", "a trusted peer's other values pass");
        let mut h = spoof();
        apply_decision(&decide_from("override", trusted, "203.0.113.1"), &mut h);
        assert_eq!(h["n-d-version"], "2");
        assert!(
            !h.contains_key("n-d-zone"),
            "untrusted peers' values are stripped"
        );
        let mut h = spoof();
        apply_decision(&decide_from("keep", trusted, "203.0.113.1"), &mut h);
        assert_eq!(h["n-d-version"], "2", "keep trusts only trusted peers");
        assert!(!h.contains_key("n-d-zone"));
    }

    /// A spec with rule headers, release values, built-in headers and custom prefixes.
    fn rich(headers: &str, version_a: &str) -> String {
        format!(
            r##"
version: 1
default: g
groups: {{ g: {{ nodes: [{{ address: "127.0.0.1:1" }}] }} }}
rules:
  - {{ id: tagged, when: {{ header: {{ name: x-who, equals: tagged }} }}, route: g,
      set_headers: {{ x-gray: tagged, x-r-mark: rule }}, routes: {{ region: eu }} }}
  - {{ id: plain, when: {{ header: {{ name: x-who, equals: plain }} }}, route: g }}
release:
  routes:
    a: {{ type: version, value: "{version_a}" }}
  blue_green:
    - {{ id: testers, when: "#H['user'] == 'tester'", version: a }}
  defaults: {{ version: "1.0", env: prod }}
headers: {{ builtin: {{ env-tag: blue, x-r-zone: z1 }}{headers} }}
"##
        )
    }

    fn pairs(h: &HeaderMap) -> Vec<(String, Vec<u8>)> {
        h.iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    fn inbound(list: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in list {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    /// The cached path gives exactly what `apply_decision` gives, cold and warm, for every
    /// inbound policy, trusted and untrusted peers and custom routing prefixes.
    #[test]
    fn cache_agrees_with_apply_decision() {
        let policies = [
            "",
            ", inbound: keep",
            ", inbound: override",
            ", trusted_peers: [\"10.0.0.0/8\"]",
            ", inbound: keep, trusted_peers: [\"10.0.0.0/8\"]",
            ", routing_prefixes: [\"N-D-\", \"x-R-\"]",
            ", routing_prefixes: [\"N-D-\", \"x-R-\"], inbound: keep",
            ", routing_prefixes: [\"x-r-\"], trusted_peers: [\"10.0.0.0/8\"]",
        ];
        let requests: [&[(&str, &str)]; 6] = [
            &[("x-who", "tagged"), ("accept", "*/*")],
            &[("x-who", "plain"), ("n-d-version", "evil")],
            &[
                ("x-who", "plain"),
                ("user", "tester"),
                ("n-d-version", "evil"),
            ],
            &[
                ("N-D-Version", "x"),
                ("n-d-version", "y"),
                ("n-d-zone", "z"),
                ("n-dx", "not routing"),
                ("x-r-zone", "spoof"),
                ("x-r-other", "o"),
                ("x-gray", "spoof"),
                ("x-who", "tagged"),
            ],
            &[("n-d-region", "r"), ("n-d-env", "e"), ("env-tag", "green")],
            &[],
        ];
        for policy in policies {
            let engine = Engine::from_str(&rich(policy, "2.0"), Format::Yaml).unwrap();
            let cache = HeaderCache::default();
            for peer in ["10.1.1.1", "203.0.113.5"] {
                for list in requests {
                    let mut req = SimpleRequest::new(peer.parse().unwrap());
                    for (k, v) in list {
                        req = req.with_header(k, v);
                    }
                    let d = engine.decide(&req);
                    let mut want = inbound(list);
                    apply_decision(&d, &mut want);
                    for round in ["cold", "warm"] {
                        let mut got = inbound(list);
                        cache.apply(&d, &mut got);
                        assert_eq!(
                            pairs(&got),
                            pairs(&want),
                            "{policy} from {peer} with {list:?} ({round})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn untrusted_routing_headers_are_stripped_on_the_cached_path() {
        let engine = Engine::from_str(
            &rich(", inbound: keep, trusted_peers: [\"10.0.0.0/8\"]", "2.0"),
            Format::Yaml,
        )
        .unwrap();
        let cache = HeaderCache::default();
        let spoof = [
            ("n-d-version", "9"),
            ("n-d-zone", "z"),
            ("n_d_env", "e"),
            ("x-who", "plain"),
        ];
        let req = SimpleRequest::new("203.0.113.5".parse().unwrap()).with_header("x-who", "plain");
        for _ in 0..2 {
            let mut h = inbound(&spoof);
            cache.apply(&engine.decide(&req), &mut h);
            assert_eq!(h["n-d-version"], "1.0");
            assert!(!h.contains_key("n-d-zone"));
            assert!(
                !h.contains_key("n_d_env"),
                "the underscore spelling is stripped"
            );
        }
        let trusted = SimpleRequest::new("10.2.2.2".parse().unwrap()).with_header("x-who", "plain");
        let mut h = inbound(&spoof);
        cache.apply(&engine.decide(&trusted), &mut h);
        assert_eq!(h["n-d-version"], "9", "inbound: keep from a trusted peer");
        assert_eq!(h["n-d-zone"], "z");
    }

    #[test]
    fn a_reload_replaces_cached_headers_and_prefixes() {
        let engine = Engine::from_str(&rich("", "2.0"), Format::Yaml).unwrap();
        let cache = HeaderCache::default();
        let tagged = SimpleRequest::new("203.0.113.5".parse().unwrap())
            .with_header("x-who", "tagged")
            .with_header("user", "tester");
        let list = [("x-r-mark", "spoof"), ("x-r-other", "o"), ("n-d-zone", "z")];
        let old = engine.decide(&tagged);
        let mut h = inbound(&list);
        cache.apply(&old, &mut h);
        assert_eq!(h["n-d-version"], "2.0");
        assert_eq!(h["x-r-mark"], "rule");
        assert_eq!(h["x-r-other"], "o", "x-r- is not a routing prefix yet");
        assert!(!h.contains_key("n-d-zone"), "n-d- is a routing prefix");

        engine
            .reload_str(
                &rich(", routing_prefixes: [\"x-r-\"]", "3.0")
                    .replace("x-gray: tagged", "x-gray: retagged"),
                Format::Yaml,
            )
            .unwrap();
        let new = engine.decide(&tagged);
        assert_eq!(new.generation(), 2);
        let mut h = inbound(&[("x-r-other", "o"), ("accept", "*/*")]);
        cache.apply(&new, &mut h);
        assert!(!h.contains_key("x-r-other"), "x-r- is a routing prefix now");
        assert_eq!(h["x-gray"], "retagged");
        for _ in 0..2 {
            let mut h = inbound(&list);
            cache.apply(&new, &mut h);
            assert_eq!(h["x-gray"], "retagged");
            assert_eq!(h["n-d-version"], "3.0");
            assert_eq!(h["n-d-zone"], "z", "n-d- is no longer a routing prefix");
            assert_eq!(h["x-r-mark"], "rule");
            assert!(!h.contains_key("x-r-other"), "x-r- is a routing prefix now");
        }
        assert_eq!(
            cache.current.load().as_ref().unwrap().snapshot.generation(),
            2
        );

        // A decision still in flight from the old snapshot gets the old snapshot's headers and
        // leaves the cache with the new one.
        let mut h = inbound(&list);
        cache.apply(&old, &mut h);
        assert_eq!(h["x-gray"], "tagged");
        assert_eq!(h["n-d-version"], "2.0");
        assert!(!h.contains_key("n-d-zone"));
        assert_eq!(h["x-r-other"], "o");
        assert_eq!(
            cache.current.load().as_ref().unwrap().snapshot.generation(),
            2
        );
    }

    #[test]
    fn the_cache_converts_each_header_set_once() {
        let engine = Engine::from_str(&rich("", "2.0"), Format::Yaml).unwrap();
        let cache = HeaderCache::default();
        let sets = |c: &HeaderCache| c.current.load().as_ref().map_or(0, |p| p.sets.len());
        let peer = "203.0.113.5".parse().unwrap();
        let plain = engine.decide(&SimpleRequest::new(peer));
        cache.apply(&plain, &mut HeaderMap::new());
        assert_eq!(sets(&cache), 1);
        let before = Arc::as_ptr(cache.current.load().as_ref().unwrap());
        let again = engine.decide(&SimpleRequest::new(peer).with_path("/elsewhere"));
        let mut h = HeaderMap::new();
        cache.apply(&again, &mut h);
        assert_eq!(
            Arc::as_ptr(cache.current.load().as_ref().unwrap()),
            before,
            "a warm cache is not rebuilt"
        );
        assert_eq!(h["n-d-version"], "1.0");
        assert_eq!(h["n-d-env"], "prod");
        assert_eq!(h["env-tag"], "blue");
        assert_eq!(h["x-r-zone"], "z1");
        assert_eq!(h.len(), 4);
        let tagged = engine.decide(
            &SimpleRequest::new(peer)
                .with_header("x-who", "tagged")
                .with_header("user", "tester"),
        );
        let mut h = HeaderMap::new();
        cache.apply(&tagged, &mut h);
        assert_eq!(sets(&cache), 2);
        assert_eq!(h["x-gray"], "tagged");
        assert_eq!(h["n-d-version"], "2.0");
        assert_eq!(h["n-d-region"], "eu");
        assert!(format!("{cache:?}").contains("sets: 2"));
    }
}
