//! Reading arguments: type checks with clear `TypeError`s, peer addresses, and the pairs of
//! header and cookie containers (dicts, lists of pairs, Starlette and Werkzeug objects).

use std::net::IpAddr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::request::Text;
use crate::text::{is_text, text};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

pub(crate) fn type_error(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("{what} must be {expected}, not {}", type_name(got)))
}

/// An optional `str` / `bytes` argument.
pub(crate) fn opt_text<'py>(
    what: &str,
    obj: Option<&Bound<'py, PyAny>>,
) -> PyResult<Option<Text<'py>>> {
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
pub(crate) fn peer_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<IpAddr>> {
    let Some(o) = obj else { return Ok(None) };
    if o.is_none() {
        return Ok(None);
    }
    if is_text(o) {
        return Ok(text(o).and_then(parse_ip));
    }
    if let Some(packed) = o.getattr_opt(intern!(o.py(), "packed"))? {
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

pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
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

pub(crate) fn pair_of<'py>(
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
pub(crate) fn collect_pairs<'py>(
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
    if let Some(raw) = obj.getattr_opt(intern!(obj.py(), "raw"))? {
        if raw.is_instance_of::<PyList>() {
            return collect_pairs(what, Some(&raw));
        }
    }
    // Werkzeug `Headers`, `EnvironHeaders`, `MultiDict` and any other mapping.
    if let Some(items) = obj.getattr_opt(intern!(obj.py(), "items"))? {
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

/// An argument that must be `str` or `bytes` holding UTF-8 text.
pub(crate) fn require_text<'a>(what: &str, obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return text(obj)
            .ok_or_else(|| PyValueError::new_err(format!("{what} is not valid UTF-8 text")));
    }
    Err(type_error(what, "str", obj))
}
