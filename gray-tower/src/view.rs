//! [`RequestView`] over an `http::Request` (or its parts) and a peer address, without copying.
//!
//! ```
//! use gray_core::RequestView;
//! use gray_tower::{HttpRequestView, PeerAddr};
//!
//! let mut req = http::Request::get("http://shop.example.com:8080/api/items?uid=42")
//!     .header("cookie", "canary=xaaa; theme=dark")
//!     .header("x-raw", &b"caf\xc3\xa9"[..])   // UTF-8: present
//!     .header("x-bin", &b"\xff\xfe"[..])       // not UTF-8: counts as absent
//!     .body(())?;
//! req.extensions_mut().insert(PeerAddr("10.1.2.3:40000".parse()?));
//!
//! let view = HttpRequestView::new(&req);
//! assert_eq!(view.peer_ip(), Some("10.1.2.3".parse()?));
//! assert_eq!(view.path(), "/api/items");
//! assert_eq!(view.query_param("uid").as_deref(), Some("42"));
//! assert_eq!(view.cookie("canary"), Some("xaaa"));
//! assert_eq!(view.host(), Some("shop.example.com:8080"));
//! assert_eq!(view.header("x-raw"), Some("café"));
//! assert_eq!(view.header("x-bin"), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::net::IpAddr;

use gray_core::RequestView;
use http::{HeaderMap, Method, Request, Uri};

use crate::peer::peer_addr;

/// A borrowed view of an HTTP request for [`gray_core::Engine::decide`].
///
/// Header values that are not valid UTF-8 count as absent. The host is the URI authority
/// (HTTP/2 `:authority`, HTTP/1.1 absolute-form) without user info, else the `Host` header.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    peer: Option<IpAddr>,
}

impl<'a> HttpRequestView<'a> {
    /// A view of `req`; the peer comes from its extensions ([`crate::peer_addr`]).
    pub fn new<B>(req: &'a Request<B>) -> Self {
        HttpRequestView {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            peer: peer_addr(req.extensions()).map(|a| a.ip()),
        }
    }

    /// A view of request parts; the peer comes from their extensions.
    pub fn from_parts(parts: &'a http::request::Parts) -> Self {
        HttpRequestView {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            peer: peer_addr(&parts.extensions).map(|a| a.ip()),
        }
    }

    /// A view of a request line and headers held elsewhere, without a peer address.
    pub fn from_fields(method: &'a Method, uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        HttpRequestView {
            method,
            uri,
            headers,
            peer: None,
        }
    }

    /// Replaces the peer address (e.g. one known from elsewhere).
    pub fn with_peer(mut self, peer: Option<IpAddr>) -> Self {
        self.peer = peer;
        self
    }
}

const X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");
const X_REAL_IP: http::HeaderName = http::HeaderName::from_static("x-real-ip");

impl RequestView for HttpRequestView<'_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    fn for_each_header<'b>(&'b self, name: &str, f: &mut dyn FnMut(&'b str) -> bool) {
        // The names every decision asks for are matched to ready-made `HeaderName`s: looking
        // a map up by `&str` first parses and validates the name.
        let values = match name {
            "cookie" => self.headers.get_all(http::header::COOKIE),
            "x-forwarded-for" => self.headers.get_all(X_FORWARDED_FOR),
            "x-real-ip" => self.headers.get_all(X_REAL_IP),
            "forwarded" => self.headers.get_all(http::header::FORWARDED),
            "host" => self.headers.get_all(http::header::HOST),
            _ => self.headers.get_all(name),
        };
        for value in values {
            if let Ok(s) = std::str::from_utf8(value.as_bytes()) {
                if !f(s) {
                    return;
                }
            }
        }
    }

    fn all_headers<'b>(&'b self, f: &mut dyn FnMut(&'b str, &'b str)) -> bool {
        // `HeaderMap::iter` yields every value once, a name's values in the order `get_all`
        // gives them; names are lowercase.
        for (name, value) in self.headers {
            if let Ok(s) = std::str::from_utf8(value.as_bytes()) {
                f(name.as_str(), s);
            }
        }
        true
    }

    fn cookies_in_headers(&self) -> bool {
        // `cookie` is the provided one (the `Cookie` header lines), so a decision may parse
        // those lines once for all its cookie conditions.
        true
    }

    fn host(&self) -> Option<&str> {
        match self.uri.authority() {
            Some(a) => {
                let s = a.as_str();
                Some(s.rsplit_once('@').map_or(s, |(_, host)| host))
            }
            None => self.header("host"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_when_uri_has_no_authority_and_userinfo_is_dropped() {
        let req = Request::get("/x")
            .header("Host", "a.example")
            .body(())
            .unwrap();
        assert_eq!(HttpRequestView::new(&req).host(), Some("a.example"));
        let req = Request::get("http://user:pw@b.example:81/")
            .body(())
            .unwrap();
        assert_eq!(HttpRequestView::new(&req).host(), Some("b.example:81"));
        let req = Request::get("/").body(()).unwrap();
        assert_eq!(HttpRequestView::new(&req).host(), None);
    }

    #[test]
    fn repeated_headers_are_visited_in_order_and_mixed_case_names_match() {
        let req = Request::get("/")
            .header("Cookie", "a=1")
            .header("cookie", "b=2")
            .body(())
            .unwrap();
        let view = HttpRequestView::new(&req);
        let mut seen = Vec::new();
        view.for_each_header("cookie", &mut |v| {
            seen.push(v);
            true
        });
        assert_eq!(seen, ["a=1", "b=2"]);
        assert_eq!(view.cookie("b"), Some("2"));
        assert_eq!(view.header("COOKIE"), Some("a=1"));
        assert_eq!(view.header("bad name\n"), None);
        assert_eq!(view.peer_ip(), None);
        assert_eq!(view.method(), "GET");
        assert_eq!(view.query(), None);
    }

    #[test]
    fn all_headers_agrees_with_for_each_header() {
        let req = Request::get("/")
            .header("Cookie", "a=1")
            .header("X-Tag", "one")
            .header("cookie", "b=2")
            .header("x-bin", &b"\xff"[..])
            .header("X-TAG", "two")
            .header("x-Bin", "text")
            .header("accept", "*/*")
            .body(())
            .unwrap();
        let view = HttpRequestView::new(&req);
        let mut all: Vec<(&str, &str)> = Vec::new();
        assert!(view.all_headers(&mut |n, v| all.push((n, v))));
        assert_eq!(
            all.len(),
            6,
            "every valid value once, the non-UTF-8 one skipped: {all:?}"
        );
        let names: std::collections::BTreeSet<String> =
            all.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        assert_eq!(names.len(), 4);
        for name in &names {
            let listed: Vec<&str> = all
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
                .collect();
            let mut each = Vec::new();
            view.for_each_header(name, &mut |v| {
                each.push(v);
                true
            });
            assert_eq!(listed, each, "{name}");
        }
        assert_eq!(
            all.iter()
                .filter(|(n, _)| *n == "x-tag")
                .map(|(_, v)| *v)
                .collect::<Vec<_>>(),
            ["one", "two"]
        );
        assert_eq!(
            all.iter()
                .filter(|(n, _)| *n == "x-bin")
                .map(|(_, v)| *v)
                .collect::<Vec<_>>(),
            ["text"]
        );
    }

    #[test]
    fn from_parts_matches_new() {
        let mut req = Request::post("/p?q=1").body(()).unwrap();
        req.extensions_mut()
            .insert(crate::PeerAddr("[::1]:9".parse().unwrap()));
        let a = HttpRequestView::new(&req).peer_ip();
        let (parts, ()) = req.into_parts();
        let v = HttpRequestView::from_parts(&parts);
        assert_eq!(v.peer_ip(), a);
        assert_eq!(v.method(), "POST");
        assert_eq!(v.query(), Some("q=1"));
        let v = v.with_peer(None);
        assert_eq!(v.peer_ip(), None);
    }
}
