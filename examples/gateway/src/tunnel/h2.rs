//! WebSocket over HTTP/2 (RFC 8441): an extended `CONNECT` with `:protocol websocket` from the
//! client, an RFC 6455 HTTP/1.1 upgrade to the node.
//!
//! [`crate::ingress`] turns the client's `CONNECT` into the `GET` it stands for (so the rules
//! see the same request as from an HTTP/1.1 WebSocket client) and marks it with
//! [`ExtendedConnect`] and [`super::Upgrade`] `websocket`; the decision then picks the node from
//! its cookies, headers and client address as for any request. The proxy forwards it to the
//! node over HTTP/1.1 as `GET` with `Connection: Upgrade`, `Upgrade: websocket`,
//! `Sec-WebSocket-Version: 13` and a fresh random `Sec-WebSocket-Key`
//! ([`ExtendedConnect::prepare`]), with the client's other end-to-end headers
//! (`Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`, cookies, ...) and the decision's
//! headers. Then ([`splice`]):
//!
//! * the node answers **101** with the `Sec-WebSocket-Accept` that belongs to the key: the
//!   client gets **200** with the node's headers (`Sec-WebSocket-Protocol`,
//!   `-Extensions`, ...) less the connection-specific ones, and its stream is tunnelled to the
//!   node's upgraded connection both ways until either side closes;
//! * a wrong or missing `Sec-WebSocket-Accept`: **502**, and the node's connection is closed;
//! * any other answer goes to the client as an ordinary response — except a 2xx, which on a
//!   `CONNECT` would mean "tunnel established" to the client: that is a **502** too.
//!
//! The tunnel keeps the client connection's lease like an HTTP/1.1 one: it counts against the
//! connection cap, shutdown waits for it until the deadline cuts it, and the HTTP/2 connection
//! does not count as idle while it is open.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;

use crate::body::{text_response, Body};
use crate::server::ConnectionLease;

/// The GUID of RFC 6455 §1.3, appended to the key for the accept value.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const SEC_WEBSOCKET_KEY: HeaderName = HeaderName::from_static("sec-websocket-key");
const SEC_WEBSOCKET_ACCEPT: HeaderName = HeaderName::from_static("sec-websocket-accept");
const SEC_WEBSOCKET_VERSION: HeaderName = HeaderName::from_static("sec-websocket-version");

/// Marks a request that came as an RFC 8441 extended `CONNECT` for WebSocket, with the
/// handshake key the gateway made for the node (in the request's extensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedConnect {
    key: HeaderValue,
    accept: HeaderValue,
}

/// No random bytes could be had for a WebSocket key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRandomKey;

impl std::fmt::Display for NoRandomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the system's random source failed: no WebSocket key could be made")
    }
}

impl std::error::Error for NoRandomKey {}

impl ExtendedConnect {
    /// A WebSocket handshake with a fresh key: 16 random bytes, base64 (RFC 6455 §4.1).
    pub fn websocket() -> Result<ExtendedConnect, NoRandomKey> {
        use ring::rand::SecureRandom as _;
        let mut nonce = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| NoRandomKey)?;
        Ok(ExtendedConnect::with_key(&STANDARD.encode(nonce)))
    }

    /// The handshake for `key` (base64 text, so always a valid header value).
    fn with_key(key: &str) -> ExtendedConnect {
        let accept = accept_for(key);
        ExtendedConnect {
            key: HeaderValue::from_str(key).unwrap_or(HeaderValue::from_static("")),
            accept: HeaderValue::from_str(&accept).unwrap_or(HeaderValue::from_static("")),
        }
    }

    /// Sets the handshake headers of the node's request (after `Connection: upgrade` and
    /// `Upgrade: websocket` were restored): `Sec-WebSocket-Version: 13` and the key; a
    /// `Sec-WebSocket-Accept` the client may have sent is removed.
    pub fn prepare(&self, headers: &mut HeaderMap) {
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        headers.insert(SEC_WEBSOCKET_KEY, self.key.clone());
        headers.remove(SEC_WEBSOCKET_ACCEPT);
    }
}

/// `Sec-WebSocket-Accept` for `key`: base64 of the SHA-1 of the key and the GUID (RFC 6455
/// §4.2.2).
pub fn accept_for(key: &str) -> String {
    let mut text = String::with_capacity(key.len() + GUID.len());
    text.push_str(key);
    text.push_str(GUID);
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes());
    STANDARD.encode(digest.as_ref())
}

/// Finishes a forwarded extended `CONNECT`: checks the node's answer and, on a good `101`,
/// answers the client `200` and starts the tunnel between the client's HTTP/2 stream
/// (`client`) and the node's connection. See the [module docs](self).
pub fn splice(
    mut resp: Response<Body>,
    client: Option<OnUpgrade>,
    lease: Option<ConnectionLease>,
    node: &str,
    ws: &ExtendedConnect,
) -> Response<Body> {
    let status = resp.status();
    if status.is_success() {
        return text_response(
            StatusCode::BAD_GATEWAY,
            format!("upstream {node} answered the WebSocket handshake with {status} instead of 101 Switching Protocols"),
        );
    }
    if status != StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    if resp.headers().get(SEC_WEBSOCKET_ACCEPT) != Some(&ws.accept) {
        return text_response(
            StatusCode::BAD_GATEWAY,
            format!("upstream {node} answered the WebSocket handshake with a wrong Sec-WebSocket-Accept"),
        );
    }
    let Some(client) = client else {
        return text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the client's stream cannot be taken over for the tunnel",
        );
    };
    let upstream = hyper::upgrade::on(&mut resp);
    let mut ok = Response::new(Empty::new().map_err(|never| match never {}).boxed());
    let headers = ok.headers_mut();
    *headers = std::mem::take(resp.headers_mut());
    for name in [header::CONNECTION, header::UPGRADE, SEC_WEBSOCKET_ACCEPT] {
        headers.remove(name);
    }
    super::run(client, upstream, lease, node);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_value_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        assert_eq!(
            accept_for("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let ws = ExtendedConnect::with_key("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(ws.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn keys_are_fresh_16_byte_nonces() {
        let (a, b) = (
            ExtendedConnect::websocket().unwrap(),
            ExtendedConnect::websocket().unwrap(),
        );
        assert_ne!(a.key, b.key);
        let raw = STANDARD.decode(a.key.as_bytes()).unwrap();
        assert_eq!(raw.len(), 16);
        let mut h = HeaderMap::new();
        h.insert("sec-websocket-accept", "forged".parse().unwrap());
        a.prepare(&mut h);
        assert_eq!(h["sec-websocket-version"], "13");
        assert_eq!(h["sec-websocket-key"], a.key);
        assert!(h.get("sec-websocket-accept").is_none());
    }

    #[test]
    fn answers_other_than_101_with_the_right_accept_are_not_tunnelled() {
        let ws = ExtendedConnect::with_key("dGhlIHNhbXBsZSBub25jZQ==");
        let answer = |status: u16, accept: Option<&str>| {
            let mut r = text_response(StatusCode::from_u16(status).unwrap(), "node");
            if let Some(a) = accept {
                r.headers_mut()
                    .insert("sec-websocket-accept", a.parse().unwrap());
            }
            splice(r, None, None, "n:1", &ws).status().as_u16()
        };
        assert_eq!(answer(403, None), 403);
        assert_eq!(answer(200, None), 502);
        assert_eq!(answer(101, Some("wrong")), 502);
        assert_eq!(answer(101, None), 502);
        // The right accept, but no client stream to take over.
        assert_eq!(answer(101, Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")), 500);
    }
}
