//! gray-core's [`RequestView`] over borrowed Python objects.
//!
//! A [`PyRequest`] keeps references to the caller's objects (header pairs, strings, bytes) and
//! reads their text only when a rule asks for it: nothing is copied into Rust maps, and a
//! request whose rules look at one cookie reads one header. Three shapes are understood:
//!
//! * keyword arguments of `Engine.decide` — `headers` as a `dict`, a list of `(name, value)`
//!   pairs, a Starlette `Headers` (its `raw` list) or any object with `items()` (Werkzeug
//!   `Headers`); names and values are `str` or `bytes`;
//! * an ASGI scope (`Engine.decide_asgi`): `client`, `method`, `path`, `query_string`, `headers`;
//! * a WSGI environ (`Engine.decide_wsgi`): `REMOTE_ADDR`, `REQUEST_METHOD`, `SCRIPT_NAME` +
//!   `PATH_INFO`, `QUERY_STRING` and the `HTTP_*` / `CONTENT_*` keys.
//!
//! Values that are not valid text (non-UTF-8 bytes, lone surrogates) count as absent.

use std::net::IpAddr;

use gray_core::RequestView;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

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

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

fn type_error(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("{what} must be {expected}, not {}", type_name(got)))
}

/// An optional `str` / `bytes` argument.
fn opt_text<'py>(what: &str, obj: Option<&Bound<'py, PyAny>>) -> PyResult<Option<Text<'py>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) if is_text(o) => Ok(Some(Text::Obj(o.clone()))),
        Some(o) => Err(type_error(what, "str, bytes or None", o)),
    }
}

/// Parses a peer address: `str`/`bytes` (text that is not an IP address — a Unix socket path,
/// a test client's name — means "no peer"), an `ipaddress` object (its `packed` bytes), or
/// `None`.
fn peer_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<IpAddr>> {
    let Some(o) = obj else { return Ok(None) };
    if o.is_none() {
        return Ok(None);
    }
    if is_text(o) {
        return Ok(text(o).and_then(parse_ip));
    }
    if let Some(packed) = o.getattr_opt("packed")? {
        if let Ok(b) = packed.cast::<PyBytes>() {
            let b = b.as_bytes();
            if let Ok(v4) = <[u8; 4]>::try_from(b) {
                return Ok(Some(IpAddr::from(v4)));
            }
            if let Ok(v6) = <[u8; 16]>::try_from(b) {
                return Ok(Some(IpAddr::from(v6)));
            }
        }
    }
    Err(type_error(
        "peer_ip",
        "str, bytes, an ipaddress address or None",
        o,
    ))
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// Appends `(name, value)` to `out`; a value that is a list or tuple adds one pair per item.
fn push_pair<'py>(
    what: &str,
    out: &mut Vec<(Bound<'py, PyAny>, Text<'py>)>,
    k: Bound<'py, PyAny>,
    v: Bound<'py, PyAny>,
) -> PyResult<()> {
    if !is_text(&k) {
        return Err(type_error(&format!("{what} names"), "str or bytes", &k));
    }
    if is_text(&v) {
        out.push((k, Text::Obj(v)));
        return Ok(());
    }
    if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
        for item in v.try_iter()? {
            let item = item?;
            if !is_text(&item) {
                return Err(value_type_error(what, &k, &item));
            }
            out.push((k.clone(), Text::Obj(item)));
        }
        return Ok(());
    }
    Err(value_type_error(what, &k, &v))
}

fn value_type_error(what: &str, k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>) -> PyErr {
    let name = text(k).unwrap_or("?");
    type_error(
        &format!("{what}[{name:?}]"),
        "str, bytes or a list of them",
        v,
    )
}

fn pair_of<'py>(
    what: &str,
    item: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() == 2 {
            return Ok((t.get_item(0)?, t.get_item(1)?));
        }
    } else if let Ok(l) = item.cast::<PyList>() {
        if l.len() == 2 {
            return Ok((l.get_item(0)?, l.get_item(1)?));
        }
    }
    Err(type_error(
        &format!("items of {what}"),
        "(name, value) pairs",
        item,
    ))
}

/// Collects the pairs of a `dict`, a list/tuple of pairs, a Starlette `Headers` (`raw`) or any
/// object with `items()`. Holds references only.
fn collect_pairs<'py>(
    what: &str,
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<(Bound<'py, PyAny>, Text<'py>)>> {
    let mut out = Vec::new();
    let Some(obj) = obj else { return Ok(out) };
    if obj.is_none() {
        return Ok(out);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        out.reserve(d.len());
        for (k, v) in d.iter() {
            push_pair(what, &mut out, k, v)?;
        }
        return Ok(out);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        for item in obj.try_iter()? {
            let (k, v) = pair_of(what, &item?)?;
            push_pair(what, &mut out, k, v)?;
        }
        return Ok(out);
    }
    if is_text(obj) {
        return Err(type_error(
            what,
            "a dict, a list of (name, value) pairs or a headers object",
            obj,
        ));
    }
    // Starlette / FastAPI `Headers`: the raw ASGI list of (bytes, bytes).
    if let Some(raw) = obj.getattr_opt("raw")? {
        if raw.is_instance_of::<PyList>() {
            return collect_pairs(what, Some(&raw));
        }
    }
    // Werkzeug `Headers`, `EnvironHeaders`, `MultiDict` and any other mapping.
    if let Some(items) = obj.getattr_opt("items")? {
        if items.is_callable() {
            for item in items.call0()?.try_iter()? {
                let (k, v) = pair_of(what, &item?)?;
                push_pair(what, &mut out, k, v)?;
            }
            return Ok(out);
        }
    }
    Err(type_error(
        what,
        "a dict, a list of (name, value) pairs or a headers object",
        obj,
    ))
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
        })
    }

    /// From an ASGI connection scope (`http` or `websocket`).
    pub(crate) fn from_asgi(scope: &Bound<'py, PyAny>) -> PyResult<Self> {
        let scope = scope
            .cast::<PyDict>()
            .map_err(|_| type_error("scope", "an ASGI scope dict", scope))?;
        let client = scope.get_item("client")?;
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
        let method = scope.get_item("method")?;
        let path = scope.get_item("path")?;
        let query = scope.get_item("query_string")?;
        let headers = scope.get_item("headers")?;
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
        })
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
        let mut out = None;
        self.for_each_header("cookie", &mut |v| {
            out = gray_core::cookie::find(v, name);
            out.is_none()
        });
        out
    }
}

/// An argument that must be `str` or `bytes` holding UTF-8 text.
pub(crate) fn require_text<'a>(what: &str, obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return text(obj).ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("{what} is not valid UTF-8 text"))
        });
    }
    Err(type_error(what, "str", obj))
}
