//! gray-core's [`RequestView`] over borrowed Python objects.
//!
//! A [`PyRequest`] keeps references to the caller's objects (header pairs, strings, bytes) plus
//! a 64-bit fingerprint of each header name, and reads values only when a rule asks for them:
//! no text is copied into Rust maps. The `Cookie` headers are split once, on the first cookie
//! lookup, into byte ranges of the caller's strings. Three shapes are understood:
//!
//! * keyword arguments of `Engine.decide` — `headers` as a `dict`, a list of `(name, value)`
//!   pairs, a Starlette `Headers` (its `raw` list) or any object with `items()` (Werkzeug
//!   `Headers`); names and values are `str` or `bytes`;
//! * an ASGI scope (`Engine.decide_asgi`): `client`, `method`, `path`, `query_string`, `headers`;
//! * a WSGI environ (`Engine.decide_wsgi`): `REMOTE_ADDR`, `REQUEST_METHOD`, `SCRIPT_NAME` +
//!   `PATH_INFO`, `QUERY_STRING` and the `HTTP_*` / `CONTENT_*` keys.
//!
//! Values that are not valid text (non-UTF-8 bytes, lone surrogates) count as absent.

use std::cell::OnceCell;
use std::net::IpAddr;
use std::ops::Range;

use gray_core::RequestView;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{collect_pairs, opt_text, pair_of, parse_ip, peer_of, type_error};
use crate::text::{is_text, text};

/// A text value: a Python object read lazily, or text we had to build.
pub(crate) enum Text<'py> {
    Obj(Bound<'py, PyAny>),
    Owned(String),
    Static(&'static str),
    /// Present but not representable as UTF-8.
    Invalid,
}

impl Text<'_> {
    fn get(&self) -> Option<&str> {
        match self {
            Text::Obj(o) => text(o),
            Text::Owned(s) => Some(s),
            Text::Static(s) => Some(s),
            Text::Invalid => None,
        }
    }
}

/// How header names are spelled in the source.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Naming {
    /// `X-Forwarded-For`, any case.
    Http,
    /// WSGI: `HTTP_X_FORWARDED_FOR`, `CONTENT_TYPE`.
    Wsgi,
}

/// One header: the name object, a fingerprint of its normalised (lowercase, `-`) spelling
/// computed once per request so that lookups compare integers instead of re-reading and
/// case-folding every name, and the value.
struct Header<'py> {
    name: Bound<'py, PyAny>,
    fingerprint: u64,
    value: Text<'py>,
}

/// FNV-1a over the lowercase bytes of a header name; WSGI names are first mapped back
/// (`HTTP_X_A` → `x-a`). `None` for WSGI keys that are not headers.
fn fingerprint(name: &str, naming: Naming) -> Option<u64> {
    let bytes = match naming {
        Naming::Http => name.as_bytes(),
        Naming::Wsgi => match name.strip_prefix("HTTP_") {
            Some(rest) => rest.as_bytes(),
            None if name == "CONTENT_TYPE" || name == "CONTENT_LENGTH" => name.as_bytes(),
            None => return None,
        },
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        let b = match (naming, b) {
            (Naming::Wsgi, b'_') => b'-',
            _ => b.to_ascii_lowercase(),
        };
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    Some(h)
}

/// One request, borrowed from Python objects. Only valid while attached to the interpreter.
pub(crate) struct PyRequest<'py> {
    peer: Option<IpAddr>,
    method: Text<'py>,
    /// May still hold `?query` when no query was given separately.
    path: Text<'py>,
    query: Option<Text<'py>>,
    host: Option<Text<'py>>,
    headers: Vec<Header<'py>>,
    naming: Naming,
    cookies: Vec<(Bound<'py, PyAny>, Text<'py>)>,
    cookie_header: Option<Text<'py>>,
    /// Every cookie of the `Cookie` headers, parsed on the first cookie lookup: rules often
    /// read several cookies (and expressions look each variable up as a cookie), and
    /// re-splitting the header for each would cost more than the rest of the lookup.
    cookie_index: OnceCell<Vec<CookieRef>>,
}

/// Where the source of [`CookieRef`] is.
const COOKIE_HEADER_ARG: usize = usize::MAX;

/// One cookie: its source (`cookie_header` or an index into `headers`) and the byte ranges of
/// its name and value in that source's text.
struct CookieRef {
    source: usize,
    name: Range<usize>,
    value: Range<usize>,
}

/// The keyword arguments of `Engine.decide` / `Engine.explain`.
pub(crate) struct Args<'a, 'py> {
    pub(crate) peer: Option<&'a Bound<'py, PyAny>>,
    pub(crate) headers: Option<&'a Bound<'py, PyAny>>,
    pub(crate) cookies: Option<&'a Bound<'py, PyAny>>,
    pub(crate) cookie_header: Option<&'a Bound<'py, PyAny>>,
    pub(crate) query: Option<&'a Bound<'py, PyAny>>,
    pub(crate) path: Option<&'a Bound<'py, PyAny>>,
    pub(crate) method: Option<&'a Bound<'py, PyAny>>,
    pub(crate) host: Option<&'a Bound<'py, PyAny>>,
}

/// Fingerprints `(name, value)` pairs; names that are not text can never match and are dropped.
fn with_fingerprints<'py>(pairs: Vec<(Bound<'py, PyAny>, Text<'py>)>) -> Vec<Header<'py>> {
    pairs
        .into_iter()
        .filter_map(|(name, value)| {
            let fingerprint = fingerprint(text(&name)?, Naming::Http)?;
            Some(Header {
                name,
                fingerprint,
                value,
            })
        })
        .collect()
}

impl<'py> PyRequest<'py> {
    /// From `Engine.decide` keyword arguments.
    pub(crate) fn from_args(a: &Args<'_, 'py>) -> PyResult<Self> {
        Ok(PyRequest {
            peer: peer_of(a.peer)?,
            method: opt_text("method", a.method)?.unwrap_or(Text::Static("GET")),
            path: opt_text("path", a.path)?.unwrap_or(Text::Static("/")),
            query: opt_text("query", a.query)?,
            host: opt_text("host", a.host)?,
            headers: with_fingerprints(collect_pairs("headers", a.headers)?),
            naming: Naming::Http,
            cookies: collect_pairs("cookies", a.cookies)?,
            cookie_header: opt_text("cookie_header", a.cookie_header)?,
            cookie_index: OnceCell::new(),
        })
    }

    /// From an ASGI connection scope (`http` or `websocket`).
    pub(crate) fn from_asgi(scope: &Bound<'py, PyAny>) -> PyResult<Self> {
        let scope = scope
            .cast::<PyDict>()
            .map_err(|_| type_error("scope", "an ASGI scope dict", scope))?;
        let py = scope.py();
        let client = scope.get_item(intern!(py, "client"))?;
        let peer = match &client {
            Some(c) if !c.is_none() => {
                let host = pair_of("scope['client']", c)?.0;
                if is_text(&host) {
                    text(&host).and_then(parse_ip)
                } else {
                    None
                }
            }
            _ => None,
        };
        let method = scope.get_item(intern!(py, "method"))?;
        let path = scope.get_item(intern!(py, "path"))?;
        let query = scope.get_item(intern!(py, "query_string"))?;
        let headers = scope.get_item(intern!(py, "headers"))?;
        Ok(PyRequest {
            peer,
            method: opt_text("scope['method']", method.as_ref())?.unwrap_or(Text::Static("GET")),
            path: opt_text("scope['path']", path.as_ref())?.unwrap_or(Text::Static("/")),
            query: opt_text("scope['query_string']", query.as_ref())?,
            host: None,
            headers: with_fingerprints(collect_pairs("scope['headers']", headers.as_ref())?),
            naming: Naming::Http,
            cookies: Vec::new(),
            cookie_header: None,
            cookie_index: OnceCell::new(),
        })
    }

    /// From a WSGI environ.
    pub(crate) fn from_wsgi(environ: &Bound<'py, PyAny>) -> PyResult<Self> {
        let env = environ
            .cast::<PyDict>()
            .map_err(|_| type_error("environ", "a WSGI environ dict", environ))?;
        let mut headers = Vec::new();
        let mut peer = None;
        let mut method = Text::Static("GET");
        let mut script = None;
        let mut path_info = None;
        let mut query = None;
        for (k, v) in env.iter() {
            let Some(key) = text(&k) else { continue };
            match key {
                "REMOTE_ADDR" => peer = text(&v).and_then(parse_ip),
                "REQUEST_METHOD" => method = wsgi_text(v),
                "SCRIPT_NAME" => script = Some(wsgi_text(v)),
                "PATH_INFO" => path_info = Some(wsgi_text(v)),
                "QUERY_STRING" => query = Some(wsgi_text(v)),
                _ => {
                    if let Some(fingerprint) = fingerprint(key, Naming::Wsgi) {
                        headers.push(Header {
                            name: k.clone(),
                            fingerprint,
                            value: wsgi_text(v),
                        });
                    }
                }
            }
        }
        let path = match (script, path_info) {
            (Some(s), Some(p)) if s.get().is_some_and(|s| !s.is_empty()) => {
                match (s.get(), p.get()) {
                    (Some(s), Some(p)) => Text::Owned(format!("{s}{p}")),
                    _ => Text::Invalid,
                }
            }
            (_, Some(p)) => p,
            (Some(s), None) => s,
            (None, None) => Text::Static("/"),
        };
        Ok(PyRequest {
            peer,
            method,
            path,
            query,
            host: None,
            headers,
            naming: Naming::Wsgi,
            cookies: Vec::new(),
            cookie_header: None,
            cookie_index: OnceCell::new(),
        })
    }

    /// The text a [`CookieRef`] points into.
    fn cookie_source(&self, source: usize) -> Option<&str> {
        match source {
            COOKIE_HEADER_ARG => self.cookie_header.as_ref()?.get(),
            i => self.headers.get(i)?.value.get(),
        }
    }

    /// Parses every `Cookie` header once (`cookie_header` first, then the headers in order),
    /// with gray-core's parser, so lookups keep its semantics: first occurrence wins.
    fn index_cookies(&self) -> Vec<CookieRef> {
        let mut out = Vec::new();
        let mut add = |source: usize, text: &str| {
            let base = text.as_ptr() as usize;
            for (n, v) in gray_core::cookie::iter(text) {
                let at = |s: &str| {
                    let start = s.as_ptr() as usize - base;
                    start..start + s.len()
                };
                out.push(CookieRef {
                    source,
                    name: at(n),
                    value: at(v),
                });
            }
        };
        if let Some(c) = self.cookie_header.as_ref().and_then(Text::get) {
            add(COOKIE_HEADER_ARG, c);
        }
        if let Some(want) = fingerprint("cookie", Naming::Http) {
            for (i, h) in self.headers.iter().enumerate() {
                if h.fingerprint == want && self.name_matches(&h.name, "cookie") {
                    if let Some(v) = h.value.get() {
                        add(i, v);
                    }
                }
            }
        }
        out
    }

    fn name_matches(&self, key: &Bound<'_, PyAny>, name: &str) -> bool {
        let Some(k) = text(key) else { return false };
        match self.naming {
            Naming::Http => k.eq_ignore_ascii_case(name),
            Naming::Wsgi => wsgi_name_matches(k, name),
        }
    }
}

/// WSGI strings carry the request bytes decoded as latin-1 (PEP 3333); re-read non-ASCII ones
/// as UTF-8.
fn wsgi_text(v: Bound<'_, PyAny>) -> Text<'_> {
    match text(&v) {
        Some(s) if s.is_ascii() => Text::Obj(v),
        Some(s) => {
            let bytes: Option<Vec<u8>> =
                s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
            bytes
                .and_then(|b| String::from_utf8(b).ok())
                .map_or(Text::Invalid, Text::Owned)
        }
        None => Text::Invalid,
    }
}

/// `HTTP_X_FORWARDED_FOR` matches `x-forwarded-for`; `CONTENT_TYPE` matches `content-type`.
fn wsgi_name_matches(key: &str, name: &str) -> bool {
    let rest = match key.strip_prefix("HTTP_") {
        Some(r) => r,
        None if key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" => key,
        None => return false,
    };
    rest.len() == name.len()
        && rest.bytes().zip(name.bytes()).all(|(a, b)| {
            let b = if b == b'-' {
                b'_'
            } else {
                b.to_ascii_uppercase()
            };
            a == b
        })
}

impl RequestView for PyRequest<'_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn method(&self) -> &str {
        self.method.get().unwrap_or("")
    }

    fn path(&self) -> &str {
        let p = self.path.get().unwrap_or("");
        p.split_once('?').map_or(p, |(p, _)| p)
    }

    fn query(&self) -> Option<&str> {
        let q = match &self.query {
            Some(q) => q.get(),
            None => self
                .path
                .get()
                .and_then(|p| p.split_once('?'))
                .map(|(_, q)| q),
        };
        q.filter(|q| !q.is_empty())
    }

    fn for_each_header<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a str) -> bool) {
        if name.eq_ignore_ascii_case("cookie") {
            if let Some(c) = self.cookie_header.as_ref().and_then(Text::get) {
                if !f(c) {
                    return;
                }
            }
        }
        let Some(want) = fingerprint(name, Naming::Http) else {
            return;
        };
        for h in &self.headers {
            if h.fingerprint == want && self.name_matches(&h.name, name) {
                if let Some(v) = h.value.get() {
                    if !f(v) {
                        return;
                    }
                }
            }
        }
    }

    fn host(&self) -> Option<&str> {
        match &self.host {
            Some(h) => h.get(),
            None => self.header("host"),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        for (k, v) in &self.cookies {
            if text(k) == Some(name) {
                if let Some(v) = v.get() {
                    return Some(v);
                }
            }
        }
        let index = self.cookie_index.get_or_init(|| self.index_cookies());
        index.iter().find_map(|c| {
            let text = self.cookie_source(c.source)?;
            if text.get(c.name.clone()) == Some(name) {
                text.get(c.value.clone())
            } else {
                None
            }
        })
    }
}
