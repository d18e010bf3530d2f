//! [`PingoraRequestView`]: [`RequestView`] over pingora's request header and client address.

use std::net::IpAddr;

use gray_core::RequestView;
use gray_tower::HttpRequestView;
use pingora::http::RequestHeader;

/// A borrowed view of a pingora request for [`gray_core::Engine::decide`].
///
/// pingora's [`RequestHeader`] holds an `http::request::Parts`, so this view reads it as
/// [`gray_tower::HttpRequestView`] reads an `http::Request`: header values that are not valid
/// UTF-8 count as absent; the host is the URI authority (HTTP/2 `:authority`, HTTP/1.1
/// absolute-form) without user info, else the `Host` header; every header is listed once for
/// expressions ([`RequestView::all_headers`]) and the `Cookie` lines are parsed once per
/// decision ([`RequestView::cookies_in_headers`]).
///
/// ```
/// use gray_core::RequestView;
/// use gray_pingora::PingoraRequestView;
/// use pingora::http::RequestHeader;
///
/// let mut req = RequestHeader::build("GET", b"/api/items?uid=42", None)?;
/// req.insert_header("Host", "shop.example.com")?;
/// req.insert_header("Cookie", "canary=xaaa; theme=dark")?;
/// let view = PingoraRequestView::new(&req, Some("10.1.2.3".parse()?));
/// assert_eq!(view.peer_ip(), Some("10.1.2.3".parse()?));
/// assert_eq!(view.path(), "/api/items");
/// assert_eq!(view.query_param("uid").as_deref(), Some("42"));
/// assert_eq!(view.cookie("canary"), Some("xaaa"));
/// assert_eq!(view.host(), Some("shop.example.com"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PingoraRequestView<'a>(HttpRequestView<'a>);

impl<'a> PingoraRequestView<'a> {
    /// A view of `req` whose TCP peer is `peer` (see [`crate::peer_ip`] for a session's).
    pub fn new(req: &'a RequestHeader, peer: Option<IpAddr>) -> Self {
        PingoraRequestView(
            HttpRequestView::from_fields(&req.method, &req.uri, &req.headers).with_peer(peer),
        )
    }
}

impl RequestView for PingoraRequestView<'_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        self.0.peer_ip()
    }

    fn method(&self) -> &str {
        self.0.method()
    }

    fn path(&self) -> &str {
        self.0.path()
    }

    fn query(&self) -> Option<&str> {
        self.0.query()
    }

    fn for_each_header<'b>(&'b self, name: &str, f: &mut dyn FnMut(&'b str) -> bool) {
        self.0.for_each_header(name, f);
    }

    fn all_headers<'b>(&'b self, f: &mut dyn FnMut(&'b str, &'b str)) -> bool {
        self.0.all_headers(f)
    }

    fn cookies_in_headers(&self) -> bool {
        self.0.cookies_in_headers()
    }

    fn host(&self) -> Option<&str> {
        self.0.host()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_headers_authority_and_binary_values() {
        let mut req = RequestHeader::build("POST", b"/x?q=1", None).unwrap();
        req.append_header("Host", "a.example").unwrap();
        assert_eq!(
            PingoraRequestView::new(&req, None).host(),
            Some("a.example")
        );
        req.remove_header("host");
        // An HTTP/2 request's `:authority` (pingora puts it into the URI) wins over `Host`.
        req.set_uri("http://u:p@b.example:81/x?q=1".parse().unwrap());
        req.append_header("Cookie", "a=1").unwrap();
        req.append_header("cookie", "b=2").unwrap();
        req.append_header("x-bin", &b"\xff"[..]).unwrap();
        let view = PingoraRequestView::new(&req, None);
        assert_eq!(view.host(), Some("b.example:81"));
        assert_eq!(view.method(), "POST");
        assert_eq!(view.query(), Some("q=1"));
        assert_eq!(view.cookie("b"), Some("2"));
        assert_eq!(view.header("x-bin"), None);
        assert_eq!(view.peer_ip(), None);
        let mut all = Vec::new();
        assert!(view.all_headers(&mut |n, v| all.push((n, v))));
        assert_eq!(all, [("cookie", "a=1"), ("cookie", "b=2")]);
        assert!(view.cookies_in_headers());
    }
}
