//! [`RequestView`]: read access to a request, borrowed from the HTTP stack that holds it.

use std::borrow::Cow;
use std::net::IpAddr;

use super::{cookie, query};

/// Read access to one request.
///
/// Header names passed in are lowercase ASCII; implementations compare case-insensitively.
/// A header value that is not valid UTF-8 should be treated as absent.
pub trait RequestView {
    /// The address of the TCP peer (the proxy in front of gray, or the client).
    fn peer_ip(&self) -> Option<IpAddr>;
    /// The method, e.g. `GET`.
    fn method(&self) -> &str;
    /// The path, without the query string.
    fn path(&self) -> &str;
    /// The raw query string, without `?`.
    fn query(&self) -> Option<&str>;
    /// Calls `f` with each value of header `name` in order until `f` returns `false`.
    fn for_each_header<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a str) -> bool);

    /// The host the request is addressed to (`Host` header or HTTP/2 `:authority`), possibly
    /// with a port.
    fn host(&self) -> Option<&str> {
        self.header("host")
    }

    /// The first value of header `name`.
    fn header(&self, name: &str) -> Option<&str> {
        let mut out = None;
        self.for_each_header(name, &mut |v| {
            out = Some(v);
            false
        });
        out
    }

    /// The value of cookie `name` (case-sensitive), searched in every `Cookie` header.
    fn cookie(&self, name: &str) -> Option<&str> {
        let mut out = None;
        self.for_each_header("cookie", &mut |v| {
            out = cookie::find(v, name);
            out.is_none()
        });
        out
    }

    /// The percent-decoded value of query parameter `name`.
    fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        query::find(self.query()?, name)
    }

    /// Calls `f` with the name and value of every header, in order, and returns `true`; or
    /// returns `false` without calling `f` when the view cannot list its headers (the provided
    /// default).
    ///
    /// A decision that reads several headers lists them once and keeps the values its rules
    /// need, instead of calling [`header`](Self::header) once per name; views over a header
    /// list or map should implement it. Names may be in any ASCII case. The values must be the
    /// ones [`for_each_header`](Self::for_each_header) gives for that name (skip values that
    /// are not valid UTF-8 in both).
    fn all_headers<'a>(&'a self, f: &mut dyn FnMut(&'a str, &'a str)) -> bool {
        let _ = f;
        false
    }

    /// Whether [`cookie`](Self::cookie) reads exactly the `Cookie` header lines, as the
    /// provided implementation does. When `true`, a decision parses those lines once and
    /// answers every cookie condition from that parse, instead of calling `cookie` once per
    /// condition. Return `true` from an implementation that does not override `cookie`; the
    /// default `false` is always correct, only slower when rules test several cookies.
    fn cookies_in_headers(&self) -> bool {
        false
    }
}

impl<T: RequestView + ?Sized> RequestView for &T {
    fn peer_ip(&self) -> Option<IpAddr> {
        (**self).peer_ip()
    }
    fn method(&self) -> &str {
        (**self).method()
    }
    fn path(&self) -> &str {
        (**self).path()
    }
    fn query(&self) -> Option<&str> {
        (**self).query()
    }
    fn for_each_header<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a str) -> bool) {
        (**self).for_each_header(name, f)
    }
    fn host(&self) -> Option<&str> {
        (**self).host()
    }
    fn header(&self, name: &str) -> Option<&str> {
        (**self).header(name)
    }
    fn cookie(&self, name: &str) -> Option<&str> {
        (**self).cookie(name)
    }
    fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        (**self).query_param(name)
    }
    fn all_headers<'a>(&'a self, f: &mut dyn FnMut(&'a str, &'a str)) -> bool {
        (**self).all_headers(f)
    }
    fn cookies_in_headers(&self) -> bool {
        (**self).cookies_in_headers()
    }
}
