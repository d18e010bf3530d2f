//! Rewriting a request for the upstream and a response for the client: hop-by-hop headers
//! (RFC 9110 §7.6.1), `X-Forwarded-For` / `X-Forwarded-Proto`, `Host`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::Uri;

/// Headers that describe one connection, never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// The same headers by name, with `Upgrade` (removed too; see [`remove_hop_by_hop`]), for
/// paths that work on raw heads ([`crate::fast`]).
pub(crate) const HOP_BY_HOP_NAMES: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including every header named in `Connection`, and `Upgrade`
/// (an upgrade is recorded before and restored by [`crate::tunnel`]).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // The common `Connection` values (`keep-alive`, `close`, `upgrade`) name nothing beyond
    // the fixed list: only other names are parsed and collected.
    let names_more = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|n| !is_connection_option(n.trim()));
    if names_more {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP.iter() {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
}

/// `Connection` tokens that are removed anyway or name no header.
fn is_connection_option(token: &str) -> bool {
    token.is_empty()
        || token.eq_ignore_ascii_case("keep-alive")
        || token.eq_ignore_ascii_case("close")
        || token.eq_ignore_ascii_case("upgrade")
}

/// Appends the peer to `X-Forwarded-For` (merging repeated header lines into one, in order)
/// and sets `X-Forwarded-Proto` to `https` for a client connection over TLS, else `http`.
pub fn append_forwarded_for(headers: &mut HeaderMap, peer: Option<IpAddr>, tls: bool) {
    use std::io::Write as _;
    const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
    if let Some(peer) = peer {
        // The peer is formatted on the stack; the value is built once.
        let mut text = [0u8; 48];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        let _ = write!(cursor, "{}", peer.to_canonical());
        let end = usize::try_from(cursor.position()).unwrap_or(0);
        let peer = &text[..end];
        let earlier = || {
            headers
                .get_all(&XFF)
                .iter()
                .filter(|v| v.to_str().is_ok())
                .map(|v| v.as_bytes().trim_ascii())
                .filter(|v| !v.is_empty())
        };
        let before: usize = earlier().map(|v| v.len() + 2).sum();
        let value = if before == 0 {
            HeaderValue::from_bytes(peer)
        } else {
            let mut joined = Vec::with_capacity(before + peer.len());
            for v in earlier() {
                joined.extend_from_slice(v);
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(peer);
            HeaderValue::from_maybe_shared(bytes::Bytes::from(joined))
        };
        if let Ok(v) = value {
            headers.insert(XFF, v);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );
}

/// Methods whose request may be sent twice with the effect of once (RFC 9110 §9.2.2; `POST`,
/// `PATCH` and `CONNECT` are not).
pub fn idempotent(m: &http::Method) -> bool {
    idempotent_name(m.as_str())
}

/// [`idempotent`] for a method given by name (case-sensitive, as methods are).
pub fn idempotent_name(m: &str) -> bool {
    matches!(m, "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE")
}

/// Sets `Host` from the request URI's authority (HTTP/2 `:authority`) when absent.
pub fn ensure_host(headers: &mut HeaderMap, uri: &Uri) {
    if headers.contains_key(header::HOST) {
        return;
    }
    if let Some(v) = uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        headers.insert(header::HOST, v);
    }
}

/// The origin-form target for the upstream (`/path?query`, `/` when the URI has none): the
/// node is reached by connecting to it, not named in the request line.
pub fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => Uri::from_static("/"),
    }
}

/// The upstream URI: `http://{node}{path and query}`, or `https://` when `https`.
pub fn upstream_uri(https: bool, node: &str, uri: &Uri) -> Result<Uri, http::Error> {
    let pq = uri.path_and_query().map_or("/", |p| p.as_str());
    Uri::builder()
        .scheme(if https { "https" } else { "http" })
        .authority(node)
        .path_and_query(pq)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_list_is_the_header_list_and_upgrade() {
        let list = HOP_BY_HOP;
        let mut names: Vec<&str> = list.iter().map(HeaderName::as_str).collect();
        names.push(header::UPGRADE.as_str());
        assert_eq!(names, HOP_BY_HOP_NAMES);
    }

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, X-Secret".parse().unwrap());
        h.insert("x-secret", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.insert("te", "trailers".parse().unwrap());
        h.insert("accept", "*/*".parse().unwrap());
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["accept"], "*/*");
    }

    #[test]
    fn forwarded_for_is_appended_and_merged() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", "1.1.1.1".parse().unwrap());
        h.append("x-forwarded-for", "2.2.2.2, 3.3.3.3".parse().unwrap());
        append_forwarded_for(&mut h, Some("::ffff:127.0.0.1".parse().unwrap()), false);
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-proto"], "http");
        let mut h = HeaderMap::new();
        append_forwarded_for(&mut h, Some("10.0.0.1".parse().unwrap()), true);
        assert_eq!(h["x-forwarded-for"], "10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn host_from_authority_and_upstream_uri() {
        let uri: Uri = "http://shop.example:8443/a/b?c=d".parse().unwrap();
        let mut h = HeaderMap::new();
        ensure_host(&mut h, &uri);
        assert_eq!(h["host"], "shop.example:8443");
        assert_eq!(
            upstream_uri(false, "127.0.0.1:9000", &uri)
                .unwrap()
                .to_string(),
            "http://127.0.0.1:9000/a/b?c=d"
        );
        assert_eq!(
            upstream_uri(true, "[::1]:9000", &"/".parse().unwrap())
                .unwrap()
                .to_string(),
            "https://[::1]:9000/"
        );
        assert!(upstream_uri(false, "bad node", &uri).is_err());
    }
}
