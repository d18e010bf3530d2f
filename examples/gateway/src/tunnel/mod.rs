//! HTTP/1.1 protocol upgrades (WebSocket and any other `Upgrade`) tunnelled to the decided node.
//!
//! [`crate::ingress`] removes hop-by-hop headers before the decision, `Upgrade` among them; for
//! an HTTP/1.1 request whose `Connection` names `upgrade` it first records the protocol
//! ([`Upgrade`], a request extension). The request is then decided like any other — the rules
//! (cookie canary, IP gray list, ...) pick the node — and [`crate::proxy`] forwards it with
//! `Connection: upgrade` and the `Upgrade` header restored. When the node answers
//! `101 Switching Protocols`, that answer goes to the client and both connections are handed to
//! a tunnel that copies bytes both ways until either side closes ([`splice`]). Any other
//! answer is an ordinary response and the client's connection stays HTTP.
//!
//! A tunnel keeps its client connection's [`ConnectionLease`]: it counts against the
//! connection cap, graceful shutdown waits for it, and the shutdown deadline cuts it. It has no
//! idle timeout of its own (WebSocket peers keep their connection alive with pings): it lasts
//! until either side closes or the shutdown deadline passes.
//!
//! WebSocket over HTTP/2 (RFC 8441 extended `CONNECT` with `:protocol websocket`) is
//! translated to this HTTP/1.1 upgrade for the node and back ([`h2`]): the gateway's HTTP/2
//! server announces `SETTINGS_ENABLE_CONNECT_PROTOCOL`, the request is decided like the
//! HTTP/1.1 `GET` it becomes, and its stream is tunnelled to the node's upgraded connection
//! the same way, lease and shutdown included. Other `:protocol` values are refused (**501**).

use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::body::{text_response, Body};
use crate::server::ConnectionLease;

pub mod h2;

/// The protocol an HTTP/1.1 request asked to upgrade to (its `Upgrade` header), kept in the
/// request's extensions after the hop-by-hop headers were removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade(pub HeaderValue);

/// The upgrade a request asks for: HTTP/1.1, `Connection` naming `upgrade`, and an `Upgrade`
/// header.
pub fn requested(version: Version, headers: &HeaderMap) -> Option<Upgrade> {
    if version != Version::HTTP_11 {
        return None;
    }
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    let protocol = headers.get(header::UPGRADE)?;
    asks.then(|| Upgrade(protocol.clone()))
}

/// Sets `Connection: upgrade` and `Upgrade` on a request or a `101` response (after its
/// hop-by-hop headers were removed).
pub fn restore(headers: &mut HeaderMap, protocol: &HeaderValue) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol.clone());
}

/// Finishes a forwarded request: a `101` from the node starts the tunnel between `client`
/// (the client's pending upgrade) and the node's connection; a `101` to a request that did
/// not ask for an upgrade is a broken exchange (502). Other responses pass unchanged.
pub fn splice(
    mut resp: Response<Body>,
    client: Option<OnUpgrade>,
    lease: Option<ConnectionLease>,
    node: &str,
) -> Response<Body> {
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    let Some(client) = client else {
        return text_response(
            StatusCode::BAD_GATEWAY,
            format!("upstream {node} switched protocols though the request asked for no upgrade"),
        );
    };
    let upstream = hyper::upgrade::on(&mut resp);
    run(client, upstream, lease, node);
    resp
}

/// Copies bytes both ways between the client's and the node's upgraded connections, once both
/// upgrades are done, until either side closes or the lease is cut (the shutdown deadline).
fn run(client: OnUpgrade, upstream: OnUpgrade, lease: Option<ConnectionLease>, node: &str) {
    let node = node.to_owned();
    tokio::spawn(async move {
        // The client connection is busy while the tunnel is open.
        let _open = lease.as_ref().map(ConnectionLease::tunnel);
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(both) => both,
            Err(e) => {
                tracing::debug!(node, error = %e, "upgrade failed before the tunnel started");
                return;
            }
        };
        let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
        let cut = async {
            match lease {
                Some(mut l) => l.cut().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = tokio::io::copy_bidirectional(&mut client, &mut upstream) => match r {
                Ok((up, down)) => tracing::debug!(node, up, down, "tunnel closed"),
                Err(e) => tracing::debug!(node, error = %e, "tunnel broke"),
            },
            () = cut => tracing::debug!(node, "tunnel cut at shutdown"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_needs_http11_connection_upgrade_and_the_header() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        assert_eq!(
            requested(Version::HTTP_11, &h),
            Some(Upgrade(HeaderValue::from_static("websocket")))
        );
        assert_eq!(requested(Version::HTTP_2, &h), None);
        assert_eq!(requested(Version::HTTP_10, &h), None);
        h.insert("connection", "keep-alive".parse().unwrap());
        assert_eq!(requested(Version::HTTP_11, &h), None);
        h.insert("connection", "upgrade".parse().unwrap());
        h.remove("upgrade");
        assert_eq!(requested(Version::HTTP_11, &h), None);
    }
}
