//! Reading arguments: type checks with clear `TypeError`s, peer addresses and pairs.

use std::net::IpAddr;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::text::{is_text, text};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_string(), |n| n.to_string())
}

pub(crate) fn type_error(what: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    PyTypeError::new_err(format!("{what} must be {expected}, not {}", type_name(got)))
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

/// An IP address in text (surrounding blanks and IPv6 brackets allowed).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Some(v4) = dotted_quad(s.as_bytes()) {
        return Some(IpAddr::from(v4));
    }
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// The common case of [`parse_ip`], without the general parser: exactly four decimal octets
/// (`0`..`255`, no leading zeros), as the standard parser accepts them. `None` for anything
/// else, which the standard parser then decides.
fn dotted_quad(b: &[u8]) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let (mut part, mut value, mut digits) = (0, 0u16, 0);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                // No leading zeros, at most three digits.
                if (digits == 1 && value == 0) || digits == 3 {
                    return None;
                }
                value = value * 10 + u16::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 && part < 3 => {
                out[part] = u8::try_from(value).ok()?;
                (part, value, digits) = (part + 1, 0, 0);
            }
            _ => return None,
        }
    }
    if part != 3 || digits == 0 {
        return None;
    }
    out[3] = u8::try_from(value).ok()?;
    Some(out)
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

/// An argument that must be `str` or `bytes` holding UTF-8 text.
pub(crate) fn require_text<'a>(what: &str, obj: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    if is_text(obj) {
        return text(obj)
            .ok_or_else(|| PyValueError::new_err(format!("{what} is not valid UTF-8 text")));
    }
    Err(type_error(what, "str", obj))
}
