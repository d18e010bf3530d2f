//! Request and response heads on the shortcut: parsed in place with `httparse` (every field
//! borrows the read buffer), checked for the shape the shortcut serves, and written out again
//! for the other side with the same rewriting as the hyper path ([`crate::ingress`],
//! [`crate::forward`], [`gray_tower::apply_decision`]).

use std::net::IpAddr;

use gray_core::{Decision, RequestView};

// Headers that describe one connection, never forwarded. `Transfer-Encoding` is among them
// for requests; a response's is kept when its chunked body passes through as it came.
use crate::forward::HOP_BY_HOP_NAMES as HOP_BY_HOP;

/// Header lines a request head may have on the shortcut; a head with more goes to hyper.
pub(crate) const MAX_HEADERS: usize = 64;
/// Header lines a node's response head may have (hyper's client allows 100).
const MAX_RESPONSE_HEADERS: usize = 128;

/// At most this many header names listed in `Connection` (beyond `close` and `keep-alive`).
const MAX_CONNECTION_NAMES: usize = 8;

/// Why a request head is not served on the shortcut (hyper serves it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotHere {
    /// More bytes are needed.
    Partial,
    /// Malformed, another version, a shape the shortcut leaves to hyper.
    Other,
}

/// A request head the shortcut serves: HTTP/1.1, origin-form target, no upgrade, no
/// `Expect`, no `Transfer-Encoding`, at most one `Content-Length`.
pub(crate) struct RequestHead<'b, 'h> {
    pub(crate) method: &'b str,
    /// The request target as sent (`/path?query`).
    pub(crate) target: &'b str,
    path: &'b str,
    query: Option<&'b str>,
    headers: &'h [httparse::Header<'b>],
    /// Bit `i` set: header `i` is hop-by-hop (never seen by the rules, never forwarded).
    hop: u64,
    /// Length of the head in bytes (the body starts there).
    pub(crate) len: usize,
    /// The body's length (`Content-Length`, 0 without).
    pub(crate) body: u64,
    /// The client asked to close the connection after this exchange.
    pub(crate) close: bool,
    has_host: bool,
}

/// Parses the request head at the start of `buf`.
pub(crate) fn parse_request<'b, 'h>(
    buf: &'b [u8],
    storage: &'h mut [httparse::Header<'b>; MAX_HEADERS],
) -> Result<RequestHead<'b, 'h>, NotHere> {
    let mut req = httparse::Request::new(storage);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(NotHere::Partial),
        Err(_) => return Err(NotHere::Other),
    };
    if req.version != Some(1) {
        return Err(NotHere::Other);
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Err(NotHere::Other);
    };
    if method == "CONNECT" || !target.starts_with('/') {
        return Err(NotHere::Other);
    }
    let headers: &'h [httparse::Header<'b>] = req.headers;
    let mut hop = 0u64;
    let mut body = None;
    let mut close = false;
    let mut has_host = false;
    let mut named: [&[u8]; MAX_CONNECTION_NAMES] = [b""; MAX_CONNECTION_NAMES];
    let mut n_named = 0;
    for (i, h) in headers.iter().enumerate() {
        let name = h.name;
        if name.eq_ignore_ascii_case("upgrade")
            || name.eq_ignore_ascii_case("expect")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            return Err(NotHere::Other);
        }
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(h.value).ok_or(NotHere::Other)?;
            if body.is_some_and(|b| b != n) {
                return Err(NotHere::Other);
            }
            body = Some(n);
        } else if name.eq_ignore_ascii_case("host") {
            has_host = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.is_empty() || token.eq_ignore_ascii_case(b"keep-alive") {
                } else if token.eq_ignore_ascii_case(b"upgrade") || n_named == MAX_CONNECTION_NAMES
                {
                    return Err(NotHere::Other);
                } else {
                    named[n_named] = token;
                    n_named += 1;
                }
            }
        }
        if HOP_BY_HOP.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            hop |= 1 << i;
        }
    }
    if n_named > 0 {
        for (i, h) in headers.iter().enumerate() {
            if named[..n_named]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(h.name.as_bytes()))
            {
                hop |= 1 << i;
            }
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    Ok(RequestHead {
        method,
        target,
        path,
        query,
        headers,
        hop,
        len,
        body: body.unwrap_or(0),
        close,
        has_host,
    })
}

/// A `Content-Length` value: digits only, no sign, no list (RFC 9110 §8.6).
fn parse_length(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A header value as text, as `http::HeaderValue::to_str` gives it: visible ASCII and tabs.
fn text(v: &[u8]) -> Option<&str> {
    if v.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        std::str::from_utf8(v.trim_ascii()).ok()
    } else {
        None
    }
}

/// The request as the rules see it (hop-by-hop headers removed, as on the hyper path).
pub(crate) struct View<'a, 'b, 'h> {
    pub(crate) head: &'a RequestHead<'b, 'h>,
    pub(crate) peer: IpAddr,
}

impl RequestView for View<'_, '_, '_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        Some(self.peer)
    }

    fn method(&self) -> &str {
        self.head.method
    }

    fn path(&self) -> &str {
        self.head.path
    }

    fn query(&self) -> Option<&str> {
        self.head.query
    }

    fn for_each_header<'s>(&'s self, name: &str, f: &mut dyn FnMut(&'s str) -> bool) {
        for (i, h) in self.head.headers.iter().enumerate() {
            if self.head.hop & (1 << i) != 0 || !h.name.eq_ignore_ascii_case(name) {
                continue;
            }
            if let Some(v) = text(h.value) {
                if !f(v) {
                    return;
                }
            }
        }
    }
}

/// Writes the request for the node into `out`: the request line as sent (HTTP/1.1), the
/// client's headers without hop-by-hop ones and without the inbound headers `decision` does
/// not forward, the decision's headers, `Host` (the node when the client sent none), one
/// merged `X-Forwarded-For` with the peer appended and `X-Forwarded-Proto: http`.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    head: &RequestHead<'_, '_>,
    decision: &Decision,
    peer: IpAddr,
    node: &str,
) {
    let snap = decision.snapshot();
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded = 0usize;
    for (i, h) in head.headers.iter().enumerate() {
        if head.hop & (1 << i) != 0 {
            continue;
        }
        let name = h.name;
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            forwarded += 1;
            continue;
        }
        if name.eq_ignore_ascii_case("x-forwarded-proto") {
            continue;
        }
        let routing = snap.is_routing_header(name);
        if routing && !decision.forward_inbound(name) {
            continue;
        }
        // A decision header replaces the client's, unless a trusted inbound routing header
        // wins (`inbound: keep`).
        if !routing
            && decision
                .headers()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            continue;
        }
        line(out, name.as_bytes(), h.value);
    }
    for (name, value) in decision.headers() {
        if snap.is_routing_header(name) && decision.forward_inbound(name) && inbound(head, name) {
            continue;
        }
        line(out, name.as_bytes(), value.as_bytes());
    }
    if !head.has_host {
        line(out, b"host", node.as_bytes());
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if forwarded > 0 {
        for h in head.headers.iter() {
            if h.name.eq_ignore_ascii_case("x-forwarded-for") {
                let v = h.value.trim_ascii();
                if !v.is_empty() && text(v).is_some() {
                    out.extend_from_slice(v);
                    out.extend_from_slice(b", ");
                }
            }
        }
    }
    write_ip(out, peer);
    out.extend_from_slice(b"\r\nx-forwarded-proto: http\r\n\r\n");
}

/// Whether the client sent header `name` (not hop-by-hop).
fn inbound(head: &RequestHead<'_, '_>, name: &str) -> bool {
    head.headers
        .iter()
        .enumerate()
        .any(|(i, h)| head.hop & (1 << i) == 0 && h.name.eq_ignore_ascii_case(name))
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn write_ip(out: &mut Vec<u8>, ip: IpAddr) {
    use std::io::Write as _;
    let _ = write!(out, "{}", ip.to_canonical());
}

/// How a response body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (a `HEAD` request, 1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`, passed through as it comes.
    Chunked,
    /// Until the node closes the connection; sent to the client chunked.
    UntilClose,
}

/// A parsed response head.
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    /// Length of the head in bytes.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    /// The node's connection can carry another request after this body.
    pub(crate) reusable: bool,
}

/// Why a response head could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadResponse {
    Partial,
    Malformed,
}

/// Parses the response head at the start of `buf` (an interim 1xx response is reported as
/// such, status below 200, for the caller to skip).
pub(crate) fn parse_response(buf: &[u8], head_request: bool) -> Result<ResponseHead, BadResponse> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut storage);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(BadResponse::Partial),
        Err(_) => return Err(BadResponse::Malformed),
    };
    let status = resp.code.ok_or(BadResponse::Malformed)?;
    let mut reusable = resp.version == Some(1);
    let mut length = None;
    let mut chunked = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_length(h.value).ok_or(BadResponse::Malformed)?;
            if length.is_some_and(|l| l != n) {
                return Err(BadResponse::Malformed);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("connection")
            && h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
        {
            reusable = false;
        }
    }
    let framing = if head_request || status < 200 || status == 204 || status == 304 {
        Framing::Empty
    } else if let Some(chunked) = chunked {
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::UntilClose
    };
    if framing == Framing::UntilClose {
        reusable = false;
    }
    Ok(ResponseHead {
        status,
        len,
        framing,
        reusable,
    })
}

/// Writes the response head for the client into `out`: the node's status line as HTTP/1.1, its
/// headers without hop-by-hop ones (a chunked body's `Transfer-Encoding` kept), `Date` when the
/// node sent none, `Transfer-Encoding: chunked` for a body delimited by the node's close, and
/// `Connection: close` when the client's connection ends after it.
pub(crate) fn write_response(out: &mut Vec<u8>, buf: &[u8], framing: Framing, close: bool) {
    let mut storage = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut storage);
    if !matches!(resp.parse(buf), Ok(httparse::Status::Complete(_))) {
        return;
    }
    let code = resp.code.unwrap_or(502);
    write_status(out, code, resp.reason.unwrap_or(""));
    let mut named: [&[u8]; MAX_CONNECTION_NAMES] = [b""; MAX_CONNECTION_NAMES];
    let mut n_named = 0;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|&b| b == b',') {
                let t = t.trim_ascii();
                if !t.is_empty() && n_named < MAX_CONNECTION_NAMES {
                    named[n_named] = t;
                    n_named += 1;
                }
            }
        }
    }
    let mut date = false;
    for h in resp.headers.iter() {
        let name = h.name;
        let keep_te = framing == Framing::Chunked && name.eq_ignore_ascii_case("transfer-encoding");
        if (!keep_te && HOP_BY_HOP.iter().any(|n| name.eq_ignore_ascii_case(n)))
            || named[..n_named]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        {
            continue;
        }
        date |= name.eq_ignore_ascii_case("date");
        line(out, name.as_bytes(), h.value);
    }
    if !date {
        super::clock::write_date(out);
    }
    if framing == Framing::UntilClose {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn write_status(out: &mut Vec<u8>, code: u16, reason: &str) {
    use std::io::Write as _;
    let _ = write!(out, "HTTP/1.1 {code} {reason}\r\n");
}

/// Writes one of the gateway's own plain-text answers (as [`crate::body::text_response`]).
pub(crate) fn write_text(out: &mut Vec<u8>, status: http::StatusCode, text: &str, close: bool) {
    use std::io::Write as _;
    write_status(
        out,
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
    );
    out.extend_from_slice(b"content-type: text/plain; charset=utf-8\r\n");
    let _ = write!(out, "content-length: {}\r\n", text.len() + 1);
    super::clock::write_date(out);
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<(usize, u64, bool), NotHere> {
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        parse_request(raw.as_bytes(), &mut storage).map(|h| (h.len, h.body, h.close))
    }

    #[test]
    fn shapes_left_to_hyper() {
        assert_eq!(
            parse("GET / HTTP/1.1\r\nHost: a\r\n"),
            Err(NotHere::Partial)
        );
        for raw in [
            "GET / HTTP/1.0\r\n\r\n",
            "GET http://a/ HTTP/1.1\r\n\r\n",
            "CONNECT a:443 HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        ] {
            assert_eq!(parse(raw), Err(NotHere::Other), "{raw:?}");
        }
        let raw = "POST /a?b HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
        assert_eq!(parse(raw), Ok((raw.len() - 3, 3, true)));
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_not_seen_nor_forwarded() {
        let engine = gray_core::Engine::from_str(
            "version: 1\ngroups: { g: { nodes: [{ address: \"127.0.0.1:1\" }] } }\ndefault: g\n",
            gray_core::Format::Yaml,
        )
        .unwrap();
        let raw = "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nConnection: x-secret, keep-alive\r\n\
                   X-Secret: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 1.2.3.4\r\n\
                   X-Forwarded-Proto: https\r\nn-d-version: 9\r\nAccept: */*\r\n\r\n";
        let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let head = parse_request(raw.as_bytes(), &mut storage).unwrap();
        let view = View {
            head: &head,
            peer: "10.0.0.1".parse().unwrap(),
        };
        assert_eq!(view.header("x-secret"), None);
        assert_eq!(view.header("accept"), Some("*/*"));
        assert_eq!(view.query(), Some("q=1"));
        let d = engine.decide(&view);
        let mut out = Vec::new();
        write_request(&mut out, &head, &d, view.peer, "127.0.0.1:1");
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "GET /p?q=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\
             x-forwarded-for: 1.2.3.4, 10.0.0.1\r\nx-forwarded-proto: http\r\n\r\n"
        );
    }

    #[test]
    fn response_framing() {
        let f = |raw: &str, head: bool| {
            parse_response(raw.as_bytes(), head).map(|r| (r.framing, r.reusable))
        };
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
            Ok((Framing::Length(5), true))
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true),
            Ok((Framing::Empty, true))
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                false
            ),
            Ok((Framing::Chunked, true))
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\n\r\n", false),
            Ok((Framing::UntilClose, false))
        );
        assert_eq!(
            f(
                "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
                false
            ),
            Ok((Framing::Empty, false))
        );
        assert_eq!(
            f("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false),
            Ok((Framing::Length(1), false))
        );
        assert_eq!(
            f(
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                false
            )
            .err(),
            Some(BadResponse::Malformed)
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\n", false).err(),
            Some(BadResponse::Partial)
        );
        // As many header lines as hyper's client accepts (100) pass.
        let many: String = (0..100).map(|i| format!("x-h{i}: v\r\n")).collect();
        let raw = format!("HTTP/1.1 200 OK\r\n{many}Content-Length: 0\r\n\r\n");
        assert_eq!(f(&raw, false), Ok((Framing::Length(0), true)));
        let mut big = Vec::new();
        write_response(&mut big, raw.as_bytes(), Framing::Length(0), false);
        assert!(String::from_utf8(big).unwrap().contains("x-h99: v\r\n"));
        let mut out = Vec::new();
        write_response(
            &mut out,
            b"HTTP/1.1 200 OK\r\nConnection: x-a\r\nX-A: 1\r\nKeep-Alive: 1\r\nDate: d\r\nContent-Length: 0\r\n\r\n",
            Framing::Length(0),
            true,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 0\r\nconnection: close\r\n\r\n"
        );
    }
}
