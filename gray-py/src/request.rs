//! gray-core's [`RequestView`] over borrowed Python objects.
//!
//! Building a [`PyRequest`] checks the types of the caller's objects (this is where
//! `TypeError`s come from) and borrows the UTF-8 text of each string once, without copying it.
//! The request keeps a reference to every object whose text it borrowed — for `(name, value)`
//! tuples, the tuple, which cannot change and holds both — so that text stays alive and
//! unchanged until the decision is made, whatever else happens to the containers meanwhile.
//! gray-core then reads plain `&str`s, without calling back into Python.
//!
//! Three shapes are understood:
//!
//! * keyword arguments of `Engine.decide` — `headers` as a `dict`, a list of `(name, value)`
//!   pairs, a Starlette `Headers` (its `raw` list) or any object with `items()` (Werkzeug
//!   `Headers`); names and values are `str` or `bytes`;
//! * an ASGI scope (`Engine.decide_asgi`): `client`, `method`, `path`, `query_string`, `headers`;
//! * a WSGI environ (`Engine.decide_wsgi`): `REMOTE_ADDR`, `REQUEST_METHOD`, `SCRIPT_NAME` +
//!   `PATH_INFO`, `QUERY_STRING` and the `HTTP_*` / `CONTENT_*` keys.
//!
//! Values that are not valid text (non-UTF-8 bytes, lone surrogates) count as absent: they are
//! left out, as are pairs whose name is not valid text.

use std::cell::OnceCell;
use std::net::IpAddr;

use gray_core::RequestView;
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::convert::{pair_of, parse_ip, peer_of, type_error};
use crate::text::{is_text, kind, text, text_as, text_of, Kind};

/// A reference to text held by a [`PyRequest`]: the address and length of UTF-8 bytes that the
/// request keeps alive (see [`PyRequest::get`]). Not a borrow: only the request can turn it
/// into a `&str`.
#[derive(Clone, Copy)]
struct TextRef {
    ptr: *const u8,
    len: usize,
}

impl TextRef {
    /// Only for text that outlives the request: `'static` text, or text of an object or buffer
    /// the request holds.
    fn new(s: &str) -> TextRef {
        TextRef {
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }

    /// The bytes `at` of this text (a range on character boundaries).
    fn slice(self, at: std::ops::Range<usize>) -> TextRef {
        TextRef {
            ptr: self.ptr.wrapping_add(at.start),
            len: at.len(),
        }
    }

    /// A placeholder for the bytes `at` of text still being built: not text until made so
    /// with [`TextRef::slice`] of [`TextRef::as_offset`].
    fn offset(at: std::ops::Range<usize>) -> TextRef {
        TextRef {
            ptr: std::ptr::null::<u8>().wrapping_add(at.start),
            len: at.len(),
        }
    }

    /// The range an [`TextRef::offset`] placeholder stands for.
    fn as_offset(self) -> std::ops::Range<usize> {
        let start = self.ptr as usize;
        start..start + self.len
    }
}

/// A `(name, value)` pair and the objects holding its text.
struct NamedValue<'py> {
    name: TextRef,
    value: TextRef,
    _objects: Objects<'py>,
}

/// The objects an [`NamedValue`]'s text lives in (none for text held elsewhere). Only held, never
/// read.
#[allow(dead_code)]
enum Objects<'py> {
    None,
    /// A `(name, value)` tuple (it holds both), or a value whose name is text held elsewhere.
    One(Bound<'py, PyAny>),
    /// A name and a value.
    Two(Bound<'py, PyAny>, Bound<'py, PyAny>),
}

/// The most single-valued arguments one request reads (`method`, `path`, `query`, `host`,
/// `cookie_header`).
const ARGS: usize = 5;

/// One request, its text borrowed from Python objects. Only valid while attached to the
/// interpreter (it holds `Bound` references).
pub(crate) struct PyRequest<'py> {
    /// The objects of single-valued arguments whose text [`TextRef`] values point into (a fixed
    /// array: no allocation), and any beyond it.
    args: [Option<Bound<'py, PyAny>>; ARGS],
    more_args: Vec<Bound<'py, PyAny>>,
    /// Text built here (WSGI re-decoding, `SCRIPT_NAME` + `PATH_INFO`, WSGI header names).
    /// A `Box<str>`'s bytes stay where they are when the list grows.
    owned: Vec<Box<str>>,
    peer: Option<IpAddr>,
    method: TextRef,
    /// Without the query.
    path: TextRef,
    /// Not empty.
    query: Option<TextRef>,
    /// The `host` argument when one was given (`Some(None)`: given but not valid text).
    host: Option<Option<TextRef>>,
    cookie_header: Option<TextRef>,
    /// Names as given (any case; WSGI names in HTTP spelling).
    headers: Vec<NamedValue<'py>>,
    /// The `cookies` argument.
    cookies: Vec<NamedValue<'py>>,
    /// Every cookie of the `Cookie` headers, parsed on the first direct cookie lookup (made
    /// only when gray-core cannot read the cookies itself: with a `cookies` argument, or for
    /// more cookie names than it keeps slots for).
    cookie_index: OnceCell<Vec<(TextRef, TextRef)>>,
}

/// The keyword arguments of `Engine.decide` / `Engine.explain`.
#[derive(Default)]
pub(crate) struct Args<'py> {
    pub(crate) peer: Option<Bound<'py, PyAny>>,
    pub(crate) headers: Option<Bound<'py, PyAny>>,
    pub(crate) cookies: Option<Bound<'py, PyAny>>,
    pub(crate) cookie_header: Option<Bound<'py, PyAny>>,
    pub(crate) query: Option<Bound<'py, PyAny>>,
    pub(crate) path: Option<Bound<'py, PyAny>>,
    pub(crate) method: Option<Bound<'py, PyAny>>,
    pub(crate) host: Option<Bound<'py, PyAny>>,
}

impl<'py> Args<'py> {
    /// Binds the `count` positional arguments (the first being `first`) of a call
    /// `(peer_ip=None, *, headers=None, cookies=None, cookie_header=None, query=None, path=None,
    /// method=None, host=None)` of method `func` (`"Engine.decide()"`); then [`Args::keyword`]
    /// binds each keyword argument. Calls that do not fit get the errors Python gives for any
    /// method with this signature.
    pub(crate) fn positional(
        func: &str,
        count: usize,
        first: Option<Borrowed<'_, 'py, PyAny>>,
    ) -> PyResult<Self> {
        if count > 1 {
            return Err(PyTypeError::new_err(format!(
                "{func} takes from 0 to 1 positional arguments but {count} were given"
            )));
        }
        Ok(Args {
            peer: first.map(|p| p.to_owned()),
            ..Args::default()
        })
    }

    /// Binds keyword argument `key=value` (see [`Args::positional`]).
    pub(crate) fn keyword(
        &mut self,
        func: &str,
        key: Borrowed<'_, 'py, PyAny>,
        value: Borrowed<'_, 'py, PyAny>,
    ) -> PyResult<()> {
        let name = if kind(key) == Kind::Str {
            text_of(key)
        } else {
            None
        };
        let slot = match name {
            Some("headers") => &mut self.headers,
            Some("cookies") => &mut self.cookies,
            Some("cookie_header") => &mut self.cookie_header,
            Some("query") => &mut self.query,
            Some("path") => &mut self.path,
            Some("method") => &mut self.method,
            Some("host") => &mut self.host,
            Some("peer_ip") => &mut self.peer,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{func} got an unexpected keyword argument '{}'",
                    key.to_owned()
                )))
            }
        };
        if slot.replace(value.to_owned()).is_some() {
            return Err(PyTypeError::new_err(format!(
                "{func} got multiple values for argument '{}'",
                name.unwrap_or_default()
            )));
        }
        Ok(())
    }
}

impl<'py> PyRequest<'py> {
    fn empty() -> Self {
        PyRequest {
            args: Default::default(),
            more_args: Vec::new(),
            owned: Vec::new(),
            peer: None,
            method: TextRef::new("GET"),
            path: TextRef::new("/"),
            query: None,
            host: None,
            cookie_header: None,
            headers: Vec::new(),
            cookies: Vec::new(),
            cookie_index: OnceCell::new(),
        }
    }

    /// The text `h` points into. Sound because of how `TextRef` values are made: each points
    /// into `'static` text, into a `Box<str>` in `self.owned`, or into the UTF-8 buffer of a
    /// `str` or `bytes` object that the request references (in `args` / `more_args` or in the
    /// [`NamedValue`] the text belongs to, directly or through the tuple holding it). Those buffers
    /// are immutable and live as long as their objects, and the request drops no reference
    /// before it is dropped itself.
    #[inline]
    fn get(&self, h: TextRef) -> &str {
        // SAFETY: see above; the bytes were valid UTF-8 when `h` was made and cannot change.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(h.ptr, h.len)) }
    }

    /// The text of single-valued argument `obj`, keeping `obj` referenced; `None` if it is
    /// not valid text.
    fn hold(&mut self, obj: Bound<'py, PyAny>) -> Option<TextRef> {
        let h = TextRef::new(text(&obj)?);
        self.keep_arg(obj);
        Some(h)
    }

    /// Keeps the object of a single-valued argument referenced.
    fn keep_arg(&mut self, obj: Bound<'py, PyAny>) {
        match self.args.iter_mut().find(|a| a.is_none()) {
            Some(free) => *free = Some(obj),
            None => self.more_args.push(obj),
        }
    }

    /// Text built here, kept with the request.
    fn hold_owned(&mut self, s: String) -> TextRef {
        let s = s.into_boxed_str();
        let h = TextRef::new(&s);
        self.owned.push(s);
        h
    }

    /// An optional `str` / `bytes` argument: `None` when absent (or `None`), `Some(None)` when
    /// present but not valid text.
    fn text_arg(
        &mut self,
        what: &str,
        obj: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Option<Option<TextRef>>> {
        match obj {
            None => Ok(None),
            Some(o) if o.is_none() => Ok(None),
            Some(o) if is_text(&o) => Ok(Some(self.hold(o))),
            Some(o) => Err(type_error(what, "str, bytes or None", &o)),
        }
    }

    /// Sets `path` and, when no query was given separately, the query after its `?`.
    fn set_path(&mut self, path: Option<TextRef>, query: Option<Option<TextRef>>) {
        let full = path.map_or("", |p| self.get(p));
        let (path, query_in_path) = match full.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (full, None),
        };
        let query = match query {
            Some(q) => q.map(|q| self.get(q)),
            None => query_in_path,
        };
        let (path, query) = (
            TextRef::new(path),
            query.filter(|q| !q.is_empty()).map(TextRef::new),
        );
        self.path = path;
        self.query = query;
    }

    /// From `Engine.decide` keyword arguments.
    pub(crate) fn from_args(a: Args<'py>) -> PyResult<Self> {
        let mut r = PyRequest::empty();
        r.peer = peer_of(a.peer.as_ref())?;
        if let Some(m) = r.text_arg("method", a.method)? {
            r.method = m.unwrap_or(TextRef::new(""));
        }
        let path = r.text_arg("path", a.path)?;
        let query = r.text_arg("query", a.query)?;
        r.host = r.text_arg("host", a.host)?;
        let mut headers = Vec::new();
        r.collect_pairs("headers", a.headers.as_ref(), &mut headers)?;
        r.headers = headers;
        let mut cookies = Vec::new();
        r.collect_pairs("cookies", a.cookies.as_ref(), &mut cookies)?;
        r.cookies = cookies;
        r.cookie_header = r.text_arg("cookie_header", a.cookie_header)?.flatten();
        r.set_path(path.unwrap_or(Some(TextRef::new("/"))), query);
        Ok(r)
    }

    /// From an ASGI connection scope (`http` or `websocket`).
    pub(crate) fn from_asgi(scope: &Bound<'py, PyAny>) -> PyResult<Self> {
        let scope = scope
            .cast::<PyDict>()
            .map_err(|_| type_error("scope", "an ASGI scope dict", scope))?;
        let py = scope.py();
        let mut r = PyRequest::empty();
        let client = scope.get_item(intern!(py, "client"))?;
        r.peer = match &client {
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
        if let Some(m) = r.text_arg("scope['method']", method)? {
            r.method = m.unwrap_or(TextRef::new(""));
        }
        let path = r.text_arg("scope['path']", path)?;
        let query = r.text_arg("scope['query_string']", query)?;
        let mut pairs = Vec::new();
        r.collect_pairs("scope['headers']", headers.as_ref(), &mut pairs)?;
        r.headers = pairs;
        r.set_path(path.unwrap_or(Some(TextRef::new("/"))), query);
        Ok(r)
    }

    /// From a WSGI environ.
    pub(crate) fn from_wsgi(environ: &Bound<'py, PyAny>) -> PyResult<Self> {
        let env = environ
            .cast::<PyDict>()
            .map_err(|_| type_error("environ", "a WSGI environ dict", environ))?;
        let mut r = PyRequest::empty();
        // Header names in HTTP spelling, back to back; each entry's name is first its range
        // there ([`TextRef::offset`]), made into its text once the names are complete.
        let mut names = String::with_capacity(256);
        let mut headers = Vec::with_capacity(env.len());
        let mut script = None;
        let mut path_info = None;
        let mut query = None;
        for (k, v) in env.iter() {
            let Some(key) = text(&k) else { continue };
            match key {
                "REMOTE_ADDR" => r.peer = text(&v).and_then(parse_ip),
                "REQUEST_METHOD" => r.method = r.wsgi_arg(v).unwrap_or(TextRef::new("")),
                "SCRIPT_NAME" => script = Some(r.wsgi_arg(v)),
                "PATH_INFO" => path_info = Some(r.wsgi_arg(v)),
                "QUERY_STRING" => query = Some(r.wsgi_arg(v)),
                _ => {
                    let start = names.len();
                    if push_http_name(key, &mut names) {
                        if let Some((value, object)) = r.wsgi_text(v) {
                            headers.push(NamedValue {
                                name: TextRef::offset(start..names.len()),
                                value,
                                _objects: object.map_or(Objects::None, Objects::One),
                            });
                        } else {
                            names.truncate(start);
                        }
                    }
                }
            }
        }
        if !headers.is_empty() {
            let names = r.hold_owned(names);
            for e in &mut headers {
                e.name = names.slice(e.name.as_offset());
            }
            r.headers = headers;
        }
        let path = match (script, path_info) {
            (Some(s), Some(p)) if s.is_some_and(|s| !r.get(s).is_empty()) => match (s, p) {
                (Some(s), Some(p)) => {
                    let joined = format!("{}{}", r.get(s), r.get(p));
                    Some(r.hold_owned(joined))
                }
                _ => None,
            },
            (_, Some(p)) => p,
            (Some(s), None) => s,
            (None, None) => Some(TextRef::new("/")),
        };
        r.set_path(path, query);
        Ok(r)
    }

    /// A WSGI value: its text, read back from latin-1 as PEP 3333 asks (non-ASCII text is
    /// copied), and the object to hold when the text is its own; `None` when that text is not
    /// UTF-8.
    fn wsgi_text(&mut self, v: Bound<'py, PyAny>) -> Option<(TextRef, Option<Bound<'py, PyAny>>)> {
        let s = text(&v)?;
        if s.is_ascii() {
            return Some((TextRef::new(s), Some(v)));
        }
        let bytes: Option<Vec<u8>> = s.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect();
        let s = String::from_utf8(bytes?).ok()?;
        Some((self.hold_owned(s), None))
    }

    /// [`Self::wsgi_text`] for a single-valued variable.
    fn wsgi_arg(&mut self, v: Bound<'py, PyAny>) -> Option<TextRef> {
        let (h, object) = self.wsgi_text(v)?;
        if let Some(o) = object {
            self.keep_arg(o);
        }
        Some(h)
    }

    /// Appends the `(name, value)` pairs of a `dict`, a list/tuple of pairs, a Starlette
    /// `Headers` (`raw`) or any object with `items()` to `out`, leaving out pairs whose name or
    /// value is not valid text.
    fn collect_pairs(
        &mut self,
        what: &str,
        obj: Option<&Bound<'py, PyAny>>,
        out: &mut Vec<NamedValue<'py>>,
    ) -> PyResult<()> {
        let Some(obj) = obj else { return Ok(()) };
        if obj.is_none() {
            return Ok(());
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            out.reserve(d.len());
            for (k, v) in d.iter() {
                self.push_pair(what, out, k, v)?;
            }
            return Ok(());
        }
        // Exact lists and tuples are walked by index; subclasses through their own iterator.
        if let Ok(l) = obj.cast_exact::<PyList>() {
            out.reserve(l.len());
            for item in l.iter() {
                self.push_item(what, out, item)?;
            }
            return Ok(());
        }
        if let Ok(t) = obj.cast_exact::<PyTuple>() {
            out.reserve(t.len());
            for item in t.iter() {
                self.push_item(what, out, item)?;
            }
            return Ok(());
        }
        if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
            for item in obj.try_iter()? {
                self.push_item(what, out, item?)?;
            }
            return Ok(());
        }
        let expected = "a dict, a list of (name, value) pairs or a headers object";
        if is_text(obj) {
            return Err(type_error(what, expected, obj));
        }
        // Starlette / FastAPI `Headers`: the raw ASGI list of (bytes, bytes).
        if let Some(raw) = obj.getattr_opt(intern!(obj.py(), "raw"))? {
            if raw.is_instance_of::<PyList>() {
                return self.collect_pairs(what, Some(&raw), out);
            }
        }
        // Werkzeug `Headers`, `EnvironHeaders`, `MultiDict` and any other mapping.
        if let Some(items) = obj.getattr_opt(intern!(obj.py(), "items"))? {
            if items.is_callable() {
                for item in items.call0()?.try_iter()? {
                    self.push_item(what, out, item?)?;
                }
                return Ok(());
            }
        }
        Err(type_error(what, expected, obj))
    }

    /// Appends one item of a list or tuple of pairs.
    fn push_item(
        &mut self,
        what: &str,
        out: &mut Vec<NamedValue<'py>>,
        item: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        // The common shape, `(str, str)` or `(bytes, bytes)`: hold the tuple, borrow its items.
        let tuple = match item.cast_exact::<PyTuple>() {
            Ok(t) => Some(t),
            Err(_) => item.cast::<PyTuple>().ok(),
        };
        if let Some(t) = tuple.filter(|t| t.len() == 2) {
            // SAFETY: both indices are below the length, and a tuple's length cannot change.
            let (k, v) = unsafe {
                (
                    t.get_borrowed_item_unchecked(0),
                    t.get_borrowed_item_unchecked(1),
                )
            };
            let (k_kind, v_kind) = (kind(k), kind(v));
            if k_kind != Kind::Other && v_kind != Kind::Other {
                if let (Some(k), Some(v)) = (text_as(k, k_kind), text_as(v, v_kind)) {
                    let (name, value) = (TextRef::new(k), TextRef::new(v));
                    out.push(NamedValue {
                        name,
                        value,
                        _objects: Objects::One(item),
                    });
                }
                return Ok(());
            }
        }
        let (k, v) = pair_of(what, &item)?;
        self.push_pair(what, out, k, v)
    }

    /// Appends `(name, value)`; a value that is a list or tuple adds one pair per item.
    fn push_pair(
        &mut self,
        what: &str,
        out: &mut Vec<NamedValue<'py>>,
        k: Bound<'py, PyAny>,
        v: Bound<'py, PyAny>,
    ) -> PyResult<()> {
        if !is_text(&k) {
            return Err(type_error(&format!("{what} names"), "str or bytes", &k));
        }
        if is_text(&v) {
            if let (Some(name), Some(value)) =
                (text(&k).map(TextRef::new), text(&v).map(TextRef::new))
            {
                out.push(NamedValue {
                    name,
                    value,
                    _objects: Objects::Two(k, v),
                });
            }
            return Ok(());
        }
        if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            let name = text(&k).map(TextRef::new);
            for item in v.try_iter()? {
                let item = item?;
                if !is_text(&item) {
                    return Err(value_type_error(what, &k, &item));
                }
                if let (Some(name), Some(value)) = (name, text(&item).map(TextRef::new)) {
                    out.push(NamedValue {
                        name,
                        value,
                        _objects: Objects::Two(k.clone(), item),
                    });
                }
            }
            return Ok(());
        }
        Err(value_type_error(what, &k, &v))
    }

    /// Parses every `Cookie` header once (`cookie_header` first, then the headers in order),
    /// with gray-core's parser, so lookups keep its semantics: first occurrence wins.
    fn index_cookies(&self) -> Vec<(TextRef, TextRef)> {
        let mut out = Vec::new();
        self.for_each_header("cookie", &mut |line| {
            out.extend(
                gray_core::cookie::iter(line).map(|(k, v)| (TextRef::new(k), TextRef::new(v))),
            );
            true
        });
        out
    }
}

fn value_type_error(what: &str, k: &Bound<'_, PyAny>, v: &Bound<'_, PyAny>) -> PyErr {
    let name = text(k).unwrap_or("?");
    type_error(
        &format!("{what}[{name:?}]"),
        "str, bytes or a list of them",
        v,
    )
}

/// Appends the HTTP spelling of WSGI key `key` (`HTTP_X_FORWARDED_FOR` → `x-forwarded-for`,
/// `CONTENT_TYPE` → `content-type`) to `out` and returns `true`; returns `false` for keys that
/// are not headers, and for keys no header name maps to (lowercase letters or `-` after the
/// prefix: servers spell header keys in capitals and `_`).
fn push_http_name(key: &str, out: &mut String) -> bool {
    let rest = match key.strip_prefix("HTTP_") {
        Some(r) => r,
        None if key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" => key,
        None => return false,
    };
    let start = out.len();
    // SAFETY: only ASCII bytes are changed, into ASCII bytes, and the bytes added are dropped
    // again before returning `false`: `out` stays UTF-8 (no byte of a multi-byte character is
    // ASCII).
    let buf = unsafe { out.as_mut_vec() };
    buf.extend_from_slice(rest.as_bytes());
    let mut maps = true;
    for b in &mut buf[start..] {
        match *b {
            b'a'..=b'z' | b'-' => maps = false,
            b'_' => *b = b'-',
            _ => b.make_ascii_lowercase(),
        }
    }
    if !maps {
        buf.truncate(start);
    }
    maps
}

impl RequestView for PyRequest<'_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn method(&self) -> &str {
        self.get(self.method)
    }

    fn path(&self) -> &str {
        self.get(self.path)
    }

    fn query(&self) -> Option<&str> {
        self.query.map(|q| self.get(q))
    }

    fn for_each_header<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a str) -> bool) {
        if let Some(c) = self.cookie_header {
            if name.eq_ignore_ascii_case("cookie") && !f(self.get(c)) {
                return;
            }
        }
        for e in &self.headers {
            let k = self.get(e.name);
            if k.len() == name.len() && k.eq_ignore_ascii_case(name) && !f(self.get(e.value)) {
                return;
            }
        }
    }

    fn all_headers<'a>(&'a self, f: &mut dyn FnMut(&'a str, &'a str)) -> bool {
        if let Some(c) = self.cookie_header {
            f("cookie", self.get(c));
        }
        for e in &self.headers {
            f(self.get(e.name), self.get(e.value));
        }
        true
    }

    fn host(&self) -> Option<&str> {
        match self.host {
            Some(h) => h.map(|h| self.get(h)),
            None => self.header("host"),
        }
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        for e in &self.cookies {
            if self.get(e.name) == name {
                return Some(self.get(e.value));
            }
        }
        let index = self.cookie_index.get_or_init(|| self.index_cookies());
        index
            .iter()
            .find(|&&(k, _)| self.get(k) == name)
            .map(|&(_, v)| self.get(v))
    }

    fn cookies_in_headers(&self) -> bool {
        // `cookie` searches the `cookies` argument first; without one it reads exactly the
        // `Cookie` header lines, as the provided implementation does.
        self.cookies.is_empty()
    }
}
