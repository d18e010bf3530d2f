//! HTTP/2 upstreams: which nodes the gateway speaks HTTP/2 to.
//!
//! Like [`crate::upstream_tls`], node addresses carry no protocol, so the gateway is told
//! which nodes speak HTTP/2 ([`UpstreamH2::targets`], `--upstream-h2 TARGET`): a group name
//! (every node of that group), a node address (that node, in any group) or `*` (every node).
//! What that means depends on whether the node is reached over TLS:
//!
//! * **An HTTPS node** (also named by `--upstream-tls`) is offered ALPN `h2, http/1.1`, and the
//!   connection is HTTP/2 when the node selects `h2`, HTTP/1.1 otherwise — so listing a node
//!   that only speaks HTTP/1.1 costs nothing. (A node that chose HTTP/1.1 is asked again once
//!   the pool's idle timeout has passed.)
//! * **A plain node** is spoken to with HTTP/2 prior knowledge (h2c, RFC 9113 §3.3): there is
//!   nothing to negotiate, so the node must speak h2c — an HTTP/1.1-only node listed here
//!   fails every exchange (**502**).
//!
//! HTTP/2 is opt-in, for HTTPS nodes as well, because it changes how load reaches a node: a
//! worker sends all its requests to a node over **one** multiplexed connection
//! ([`crate::pool`]) instead of one connection per request in flight, so a load balancer in
//! front of a "node" sees one connection per gateway worker, and a node's concurrent-stream
//! limit becomes the queue. Nothing changes for a deployment that does not ask for it.
//!
//! Requests to such a node go out with a URI carrying scheme and authority (`:scheme` is
//! `https` over TLS, `http` for h2c; `:authority` is the request's `Host`, which replaces the
//! `Host` header) and without connection-specific headers. An upgrade request (WebSocket over
//! HTTP/1.1, or the translated RFC 8441 extended `CONNECT`, [`crate::tunnel`]) always goes to
//! the node over HTTP/1.1. Mirrored copies and webhooks stay HTTP/1.1.

use crate::upstream_tls::names;

/// Which upstream nodes speak HTTP/2; see the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamH2 {
    /// Group names, node addresses, or `*` for every node.
    pub targets: Vec<String>,
}

impl UpstreamH2 {
    /// True when node `node` of group `group` may be spoken to over HTTP/2.
    pub fn applies(&self, group: &str, node: &str) -> bool {
        names(&self.targets, group, node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_have_the_upstream_tls_syntax() {
        let h2 = UpstreamH2 {
            targets: vec!["canary".into(), "10.0.0.9:80".into()],
        };
        let named: Vec<bool> = [
            ("canary", "a:1"),
            ("stable", "10.0.0.9:80"),
            ("stable", "a:1"),
        ]
        .iter()
        .map(|(g, n)| h2.applies(g, n))
        .collect();
        assert_eq!(named, [true, true, false]);
        assert!(!UpstreamH2::default().applies("any", "h:1"));
    }
}
