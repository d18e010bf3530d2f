//! [`SimpleRequest`]: an owned request for tests, explain calls and the admin API.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::view::RequestView;
use super::{cookie, scan};

/// An owned request description: for tests, `explain` calls and the admin API.
///
/// Deserialises from `{"peer": "1.2.3.4", "method": "GET", "path": "/", "query": "a=1",
/// "host": "example.com", "headers": [["x-a", "1"]], "cookies": {"canary": "xaaa"}}`; every
/// field is optional (peer defaults to 127.0.0.1, method to GET, path to `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleRequest {
    /// TCP peer address.
    #[serde(default = "default_peer")]
    pub peer: IpAddr,
    /// Method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path without query.
    #[serde(default = "default_path")]
    pub path: String,
    /// Raw query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Host (also looked up as a `host` header when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Headers in order; names are stored lowercase.
    #[serde(default, deserialize_with = "de_headers")]
    pub headers: Vec<(String, String)>,
    /// Cookies given separately (in addition to any `Cookie` header).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "de_headers_keep_case"
    )]
    pub cookies: Vec<(String, String)>,
}

fn default_peer() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}
fn default_method() -> String {
    "GET".into()
}
fn default_path() -> String {
    "/".into()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Pairs {
    Map(std::collections::BTreeMap<String, String>),
    List(Vec<(String, String)>),
}

fn de_headers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let mut v = de_headers_keep_case(d)?;
    for (k, _) in &mut v {
        k.make_ascii_lowercase();
    }
    Ok(v)
}

fn de_headers_keep_case<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<(String, String)>, D::Error> {
    Ok(match Pairs::deserialize(d)? {
        Pairs::Map(m) => m.into_iter().collect(),
        Pairs::List(l) => l,
    })
}

impl SimpleRequest {
    /// A `GET /` from `peer`.
    pub fn new(peer: IpAddr) -> Self {
        SimpleRequest {
            peer,
            method: default_method(),
            path: default_path(),
            query: None,
            host: None,
            headers: Vec::new(),
            cookies: Vec::new(),
        }
    }

    /// Sets the method.
    pub fn with_method(mut self, m: &str) -> Self {
        self.method = m.to_string();
        self
    }

    /// Sets the path; a `?query` part is split off into the query.
    pub fn with_path(mut self, p: &str) -> Self {
        match p.split_once('?') {
            Some((p, q)) => {
                self.path = p.to_string();
                self.query = Some(q.to_string());
            }
            None => self.path = p.to_string(),
        }
        self
    }

    /// Sets the raw query string.
    pub fn with_query(mut self, q: &str) -> Self {
        self.query = Some(q.to_string());
        self
    }

    /// Sets the host.
    pub fn with_host(mut self, h: &str) -> Self {
        self.host = Some(h.to_string());
        self
    }

    /// Adds a header (the name is lowercased).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_string()));
        self
    }

    /// Adds a cookie.
    pub fn with_cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.push((name.to_string(), value.to_string()));
        self
    }
}

impl RequestView for SimpleRequest {
    fn peer_ip(&self) -> Option<IpAddr> {
        Some(self.peer)
    }
    fn method(&self) -> &str {
        &self.method
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn for_each_header<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a str) -> bool) {
        let name = name.as_bytes();
        for (k, v) in &self.headers {
            let k = k.as_bytes();
            // Lengths first: most names differ there, and it is one comparison.
            if k.len() == name.len() && scan::eq_ignore_ascii_case(k, name) && !f(v) {
                return;
            }
        }
    }
    fn all_headers<'a>(&'a self, f: &mut dyn FnMut(&'a str, &'a str)) -> bool {
        for (k, v) in &self.headers {
            f(k, v);
        }
        true
    }
    fn host(&self) -> Option<&str> {
        self.host.as_deref().or_else(|| self.header("host"))
    }
    fn cookie(&self, name: &str) -> Option<&str> {
        if let Some((_, v)) = self.cookies.iter().find(|(k, _)| k == name) {
            return Some(v);
        }
        let mut out = None;
        self.for_each_header("cookie", &mut |v| {
            out = cookie::find(v, name);
            out.is_none()
        });
        out
    }
    fn cookies_in_headers(&self) -> bool {
        // Explicit `cookies` come first in `cookie`; without them only the headers count.
        self.cookies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserialises_maps_and_lists() {
        let r: SimpleRequest = serde_json::from_str(
            r#"{"peer":"::1","headers":{"X-A":"1"},"cookies":[["c","v"]],"path":"/p"}"#,
        )
        .unwrap();
        assert_eq!(r.header("x-a"), Some("1"));
        assert_eq!(r.cookie("c"), Some("v"));
        assert_eq!(r.path(), "/p");
        assert_eq!(r.method(), "GET");
    }

    #[test]
    fn cookies_across_several_header_lines() {
        let r = SimpleRequest::new(default_peer())
            .with_header("cookie", "a=1")
            .with_header("cookie", "b=2");
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("a"), Some("1"));
        assert_eq!(r.cookie("c"), None);
    }

    #[test]
    fn path_splits_query() {
        let r = SimpleRequest::new(default_peer()).with_path("/x?a=%41");
        assert_eq!(r.path(), "/x");
        assert_eq!(r.query_param("a").as_deref(), Some("A"));
    }
}
