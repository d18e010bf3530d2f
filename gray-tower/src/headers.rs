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

use gray_core::Decision;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Strips the inbound headers the decision does not forward and sets the decision's headers.
pub fn apply_decision(decision: &Decision, headers: &mut HeaderMap) {
    let snap = decision.snapshot();
    if headers
        .keys()
        .any(|k| !decision.forward_inbound(k.as_str()))
    {
        let dropped: Vec<HeaderName> = headers
            .keys()
            .filter(|k| !decision.forward_inbound(k.as_str()))
            .cloned()
            .collect();
        for name in dropped {
            headers.remove(&name);
        }
    }
    for (name, value) in decision.headers() {
        // Names and values were validated when the snapshot was compiled; a failure here
        // means an impossible header, which is skipped rather than sent malformed.
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            tracing::warn!(
                header = name,
                "skipping a decision header that is not valid HTTP"
            );
            continue;
        };
        // A trusted inbound routing header that survived the strip wins (`inbound: keep`).
        if snap.is_routing_header(name.as_str())
            && headers.contains_key(&name)
            && decision.forward_inbound(name.as_str())
        {
            continue;
        }
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gray_core::{Engine, Format, SimpleRequest};

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
        h.append("accept", "*/*".parse().unwrap());
        apply_decision(&d, &mut h);
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
}
