//! The routing steps of a proxy: decide, pick the peer, rewrite the upstream request's headers.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use gray_core::{Decision, Engine};
use http::{HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use pingora::proxy::Session;
use pingora::upstreams::peer::HttpPeer;

use crate::view::PingoraRequestView;

/// The IP address of the session's TCP peer (`None` for a Unix socket).
pub fn peer_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// Decides the session's request: its header and the client address, with the spec's
/// trusted-proxy rules resolving the client IP.
pub fn decide(engine: &Engine, session: &Session) -> Decision {
    engine.decide(&PingoraRequestView::new(
        session.req_header(),
        peer_ip(session),
    ))
}

/// The decided node as a plain-HTTP pingora peer; `None` when no group had an available node
/// ([`Decision::no_upstream`]: answer 503) or when the node's address does not resolve.
///
/// A node address is `ip:port`, or `host:port`, resolved here (blocking) to its first address.
pub fn upstream_peer(decision: &Decision) -> Option<HttpPeer> {
    let address = decision.node_address()?;
    let addr: SocketAddr = match address.parse() {
        Ok(addr) => addr,
        Err(_) => address.to_socket_addrs().ok()?.next()?,
    };
    Some(HttpPeer::new(addr, false, String::new()))
}

/// Rewrites the upstream request's headers for `decision`, as `gray_tower::apply_decision`
/// does for an `http::HeaderMap`: inbound routing headers the decision does not forward
/// ([`Decision::forward_inbound`]: all of them from untrusted peers) are removed, then the
/// decision's headers are set, except a routing header a trusted peer sent under
/// `headers.inbound: keep`.
pub fn apply(decision: &Decision, req: &mut RequestHeader) {
    let snap = decision.snapshot();
    let dropped: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|k| snap.is_routing_header(k.as_str()) && !decision.forward_inbound(k.as_str()))
        .cloned()
        .collect();
    for name in &dropped {
        req.remove_header(name);
    }
    for (name, value) in decision.headers() {
        // Names and values were validated when the snapshot was compiled.
        let (Ok(header), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        let kept = snap.is_routing_header(header.as_str())
            && req.headers.contains_key(&header)
            && decision.forward_inbound(header.as_str());
        if !kept {
            // Cannot fail: `HeaderName` and `HeaderValue` are valid already.
            let _ = req.insert_header(header, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gray_core::{Format, SimpleRequest};

    #[test]
    fn apply_strips_untrusted_routing_headers_and_sets_the_decisions() {
        let engine = Engine::from_str(
            r#"
version: 1
groups: { stable: { nodes: [{ address: "127.0.0.1:7001" }] } }
rules: [{ id: all, when: { all: [] }, route: stable, routes: { version: "1.0" }, set_headers: { x-gray: all } }]
default: stable
"#,
            Format::Yaml,
        )
        .unwrap();
        let decision = engine.decide(&SimpleRequest::new("203.0.113.9".parse().unwrap()));
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("N-D-Version", "evil").unwrap();
        req.insert_header("n-d-region", "elsewhere").unwrap();
        req.insert_header("x-gray", "spoofed").unwrap();
        req.insert_header("accept", "*/*").unwrap();
        apply(&decision, &mut req);
        assert_eq!(req.headers["n-d-version"], "1.0");
        assert!(req.headers.get("n-d-region").is_none());
        assert_eq!(req.headers["x-gray"], "all");
        assert_eq!(req.headers["accept"], "*/*");
        let peer = upstream_peer(&decision).unwrap();
        assert_eq!(peer._address.to_string(), "127.0.0.1:7001");
    }
}
