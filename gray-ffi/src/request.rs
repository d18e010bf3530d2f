//! A request given as plain C data, and the [`RequestView`] over it that borrows it.

use std::net::{IpAddr, SocketAddr};

use gray_core::RequestView;

use crate::status::Fail;
use crate::text::GrayStr;

/// One request header. Names compare case-insensitively; repeated names are separate entries,
/// in order.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct GrayHeader {
    /// The name, e.g. `X-Forwarded-For`.
    pub name: GrayStr,
    /// The value.
    pub value: GrayStr,
}

/// A request to decide, as plain C data. gray reads it during the call only and copies
/// nothing; zero-initialise it and fill in what you have.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GrayRequest {
    /// The TCP peer: an IP address (`10.0.0.1`, `2001:db8::1`) or a socket address
    /// (`10.0.0.1:5555`, `[2001:db8::1]:443`). Absent: unknown (no trusted proxy, no IP rule
    /// matches).
    pub peer: GrayStr,
    /// The method. Absent: `GET`.
    pub method: GrayStr,
    /// The path. Absent: `/`. With `query` absent, a `?` in the path starts the query.
    pub path: GrayStr,
    /// The raw query string, without `?`. Absent: none (or the part of `path` after `?`).
    pub query: GrayStr,
    /// The host the request is addressed to (`Host` or `:authority`), possibly with a port.
    /// Absent: the `Host` header, if any.
    pub host: GrayStr,
    /// The headers (may be NULL when `headers_len` is 0).
    pub headers: *const GrayHeader,
    /// The number of headers.
    pub headers_len: usize,
    /// A `Cookie` header value (`a=1; canary=xaaa`), read before any `Cookie` entry of
    /// `headers`. Absent: only those.
    pub cookie: GrayStr,
}

impl Default for GrayRequest {
    /// Every field absent: `GET /` from an unknown peer, no headers.
    fn default() -> GrayRequest {
        GrayRequest {
            peer: GrayStr::NONE,
            method: GrayStr::NONE,
            path: GrayStr::NONE,
            query: GrayStr::NONE,
            host: GrayStr::NONE,
            headers: std::ptr::null(),
            headers_len: 0,
            cookie: GrayStr::NONE,
        }
    }
}

/// A checked [`GrayRequest`]: every text is UTF-8 and every pointer valid for `'a`.
#[derive(Debug)]
pub(crate) struct CRequest<'a> {
    pub(crate) peer: Option<IpAddr>,
    /// The method, when given.
    pub(crate) method: Option<&'a str>,
    /// The path without the query, when given.
    pub(crate) path: Option<&'a str>,
    /// The query: given, or the part of a given path after `?`.
    pub(crate) query: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    headers: &'a [GrayHeader],
    pub(crate) cookie: Option<&'a str>,
}

impl<'a> CRequest<'a> {
    /// A request with every field absent.
    pub(crate) fn empty() -> CRequest<'a> {
        CRequest {
            peer: None,
            method: None,
            path: None,
            query: None,
            host: None,
            headers: &[],
            cookie: None,
        }
    }

    /// Checks `req`: UTF-8 everywhere (`GRAY_ERR_UTF8` naming the field), a peer that is an
    /// address (`GRAY_ERR_ARG`), no NULL header array with headers (`GRAY_ERR_NULL`).
    ///
    /// # Safety
    ///
    /// Every non-NULL pointer of `req` (its strings, `headers` for `headers_len` entries and
    /// their strings) is valid for reads and unchanged for `'a`.
    pub(crate) unsafe fn new(req: &'a GrayRequest) -> Result<CRequest<'a>, Fail> {
        let field = |name: &'static str| move || format!("request.{name}");
        // SAFETY: the pointers of `req` are valid for `'a` by this function's contract (the
        // same holds for each `text` call below).
        let peer_text = unsafe { req.peer.text(&field("peer")) }?;
        let peer = match peer_text {
            None => None,
            Some(t) => Some(parse_peer(t).ok_or_else(|| {
                Fail::arg(format!(
                    "request.peer {t:?} is not an IP address or socket address"
                ))
            })?),
        };
        // SAFETY: as above.
        let method = unsafe { req.method.text(&field("method")) }?;
        // SAFETY: as above.
        let full_path = unsafe { req.path.text(&field("path")) }?;
        // SAFETY: as above.
        let query = unsafe { req.query.text(&field("query")) }?;
        let (path, query) = match (full_path, query) {
            (Some(p), None) => match p.split_once('?') {
                Some((p, q)) => (Some(p), Some(q)),
                None => (Some(p), None),
            },
            (p, q) => (p, q),
        };
        // SAFETY: as above.
        let host = unsafe { req.host.text(&field("host")) }?;
        // SAFETY: as above.
        let cookie = unsafe { req.cookie.text(&field("cookie")) }?;
        let headers: &[GrayHeader] = if req.headers_len == 0 {
            &[]
        } else if req.headers.is_null() {
            return Err(Fail::null("request.headers (with headers_len > 0)"));
        } else {
            // SAFETY: not NULL and, by this function's contract, valid for `headers_len`
            // entries and `'a`.
            unsafe { std::slice::from_raw_parts(req.headers, req.headers_len) }
        };
        for (i, h) in headers.iter().enumerate() {
            // SAFETY: the header strings are valid for `'a` by this function's contract.
            let name = unsafe { h.name.text(&|| format!("request.headers[{i}].name")) }?;
            if name.is_none() {
                return Err(Fail::null(&format!("request.headers[{i}].name")));
            }
            // SAFETY: as above.
            unsafe { h.value.text(&|| format!("request.headers[{i}].value")) }?;
        }
        Ok(CRequest {
            peer,
            method,
            path,
            query,
            host,
            headers,
            cookie,
        })
    }

    /// The name and value of each header (both checked UTF-8 by [`CRequest::new`]; a value
    /// that is absent reads as empty).
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.headers.iter().map(|h| {
            // SAFETY: `new` checked the pointers, valid for `'a` by its contract (also for the
            // value below).
            let name = unsafe { h.name.bytes() }.unwrap_or_default();
            // SAFETY: as for the name.
            let value = unsafe { h.value.bytes() }.unwrap_or_default();
            // SAFETY: `new` checked that every header name and value is UTF-8 (once, rather
            // than on each of the several header lookups a decision makes).
            unsafe {
                (
                    std::str::from_utf8_unchecked(name),
                    std::str::from_utf8_unchecked(value),
                )
            }
        })
    }
}

/// [`RequestView::for_each_header`] over a `cookie` field read first (for `name == "cookie"`)
/// and then a header list: `f` with each value of `name` (any case) until it returns false.
pub(crate) fn each_value<'b>(
    cookie: Option<&'b str>,
    headers: impl Iterator<Item = (&'b str, &'b str)>,
    name: &str,
    f: &mut dyn FnMut(&'b str) -> bool,
) {
    if name == "cookie" {
        if let Some(c) = cookie {
            if !f(c) {
                return;
            }
        }
    }
    for (k, v) in headers {
        if k.eq_ignore_ascii_case(name) && !f(v) {
            return;
        }
    }
}

/// [`RequestView::all_headers`] over a `cookie` field and a header list.
pub(crate) fn each_header<'b>(
    cookie: Option<&'b str>,
    headers: impl Iterator<Item = (&'b str, &'b str)>,
    f: &mut dyn FnMut(&'b str, &'b str),
) -> bool {
    if let Some(c) = cookie {
        f("cookie", c);
    }
    for (k, v) in headers {
        f(k, v);
    }
    true
}

/// An IP address, or the IP of a socket address.
fn parse_peer(t: &str) -> Option<IpAddr> {
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl RequestView for CRequest<'_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn method(&self) -> &str {
        self.method.unwrap_or("GET")
    }

    fn path(&self) -> &str {
        self.path.unwrap_or("/")
    }

    fn query(&self) -> Option<&str> {
        self.query
    }

    fn for_each_header<'b>(&'b self, name: &str, f: &mut dyn FnMut(&'b str) -> bool) {
        each_value(self.cookie, self.pairs(), name, f);
    }

    fn all_headers<'b>(&'b self, f: &mut dyn FnMut(&'b str, &'b str)) -> bool {
        each_header(self.cookie, self.pairs(), f)
    }

    fn host(&self) -> Option<&str> {
        self.host.or_else(|| self.header("host"))
    }

    fn cookies_in_headers(&self) -> bool {
        // `cookie` is the provided one: the `cookie` field and the `Cookie` entries, all seen
        // through `for_each_header("cookie")`.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[GrayHeader]) -> GrayRequest {
        GrayRequest {
            peer: GrayStr::new("10.0.0.1:4000"),
            method: GrayStr::NONE,
            path: GrayStr::new("/a?x=1"),
            query: GrayStr::NONE,
            host: GrayStr::NONE,
            headers: headers.as_ptr(),
            headers_len: headers.len(),
            cookie: GrayStr::new("canary=xaaa"),
        }
    }

    #[test]
    fn reads_every_field_without_copying() {
        let headers = [
            GrayHeader {
                name: GrayStr::new("Host"),
                value: GrayStr::new("shop.example.com"),
            },
            GrayHeader {
                name: GrayStr::new("COOKIE"),
                value: GrayStr::new("uid=7"),
            },
        ];
        let req = request(&headers);
        // SAFETY: every pointer of `req` borrows `headers` or a literal, alive for the test.
        let view = unsafe { CRequest::new(&req) }.expect("valid request");
        assert_eq!(view.peer_ip(), Some("10.0.0.1".parse().expect("ip")));
        assert_eq!(view.method(), "GET");
        assert_eq!((view.path(), view.query()), ("/a", Some("x=1")));
        assert_eq!(view.host(), Some("shop.example.com"));
        assert_eq!(view.cookie("canary"), Some("xaaa"));
        assert_eq!(view.cookie("uid"), Some("7"));
        assert_eq!(view.query_param("x").as_deref(), Some("1"));
    }

    #[test]
    fn rejects_bad_text_and_addresses() {
        let bad = [GrayHeader {
            name: GrayStr::new("x-a"),
            value: GrayStr {
                ptr: b"\xff".as_ptr().cast(),
                len: 1,
            },
        }];
        let req = request(&bad);
        // SAFETY: as above.
        let err = unsafe { CRequest::new(&req) }.expect_err("bad UTF-8");
        assert_eq!(err.status(), crate::GrayStatus::GRAY_ERR_UTF8);
        let mut req = request(&[]);
        req.peer = GrayStr::new("not-an-ip");
        // SAFETY: as above.
        let err = unsafe { CRequest::new(&req) }.expect_err("bad peer");
        assert_eq!(err.status(), crate::GrayStatus::GRAY_ERR_ARG);
        req.peer = GrayStr::NONE;
        req.headers = std::ptr::null();
        req.headers_len = 1;
        // SAFETY: as above; the NULL array is what is tested.
        let err = unsafe { CRequest::new(&req) }.expect_err("NULL headers");
        assert_eq!(err.status(), crate::GrayStatus::GRAY_ERR_NULL);
    }
}
