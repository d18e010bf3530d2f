//! Borrowing UTF-8 text out of Python `str` and `bytes` objects without copying.
//!
//! `bytes` are read in place (`PyBytes_AsStringAndSize`, part of the stable ABI). For `str`,
//! the stable ABI of Python 3.9 only offers encoding into a fresh `bytes` object, which would
//! cost two allocations per header read. CPython has exported `PyUnicode_AsUTF8AndSize` from
//! every 3.x release we support (it entered the limited API listing in 3.10, unchanged); it
//! returns the string's own UTF-8 buffer — for ASCII strings the object's data itself — which
//! lives as long as the object. On Windows, where an abi3 extension links against `python3.dll`
//! and that export only exists from 3.10, the crate enables `abi3-py310` and takes the
//! declaration PyO3 provides for that version.
//!
//! Exact `str` and `bytes` objects are recognised by comparing their type pointer; only
//! subclasses need the (out-of-line, under the stable ABI) subtype checks.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// What an object is, as far as reading text goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Bytes,
    Other,
}

/// Whether `obj` is a `str`, `bytes` (or a subclass of either) or something else.
#[inline]
pub(crate) fn kind(obj: Borrowed<'_, '_, PyAny>) -> Kind {
    if obj.is_exact_instance_of::<PyString>() {
        Kind::Str
    } else if obj.is_exact_instance_of::<PyBytes>() {
        Kind::Bytes
    } else if obj.is_instance_of::<PyString>() {
        Kind::Str
    } else if obj.is_instance_of::<PyBytes>() {
        Kind::Bytes
    } else {
        Kind::Other
    }
}

/// True for `str` and `bytes` objects.
#[inline]
pub(crate) fn is_text(obj: &Bound<'_, PyAny>) -> bool {
    kind(obj.as_borrowed()) != Kind::Other
}

/// The UTF-8 text of a `str` or `bytes` object, borrowed for as long as the object reference.
///
/// Returns `None` for other types, for `bytes` that are not UTF-8 and for strings holding lone
/// surrogates (which have no UTF-8 form); such values count as absent, as gray-core's
/// `RequestView` asks.
#[inline]
pub(crate) fn text<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    text_of(obj.as_borrowed())
}

/// [`text`] for a borrowed reference (an item of a tuple, say): the text lives as long as the
/// reference is valid.
#[inline]
pub(crate) fn text_of<'a>(obj: Borrowed<'a, '_, PyAny>) -> Option<&'a str> {
    text_as(obj, kind(obj))
}

/// [`text_of`] for an object whose [`kind`] is known.
#[inline]
pub(crate) fn text_as<'a>(obj: Borrowed<'a, '_, PyAny>, kind: Kind) -> Option<&'a str> {
    match kind {
        Kind::Str => str_utf8(obj),
        Kind::Bytes => utf8(bytes_of(obj)?),
        Kind::Other => None,
    }
}

/// `b` as text if it is UTF-8. Header bytes are nearly always ASCII, which is checked a word
/// at a time; only other bytes go through the full validation.
#[inline]
fn utf8(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        // SAFETY: ASCII is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b).ok()
}

/// The contents of a `bytes` object (`obj` must be one).
fn bytes_of<'a>(obj: Borrowed<'a, '_, PyAny>) -> Option<&'a [u8]> {
    use pyo3::ffi;

    let mut ptr: *mut std::os::raw::c_char = std::ptr::null_mut();
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `obj` is a live `bytes` object (checked by the caller) and we are attached to the
    // interpreter (the `Borrowed` proves both). On success CPython points `ptr` at the object's
    // own `size` bytes, immutable and alive as long as the object, which `obj` guarantees for
    // `'a`.
    let rc = unsafe { ffi::PyBytes_AsStringAndSize(obj.as_ptr(), &mut ptr, &mut size) };
    if rc != 0 || ptr.is_null() {
        drop(PyErr::take(obj.py()));
        return None;
    }
    let len = usize::try_from(size).ok()?;
    // SAFETY: see above.
    Some(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// The UTF-8 buffer of a `str` object (`s` must be one).
fn str_utf8<'a>(s: Borrowed<'a, '_, PyAny>) -> Option<&'a str> {
    use pyo3::ffi;
    #[cfg(windows)]
    use pyo3::ffi::PyUnicode_AsUTF8AndSize;

    #[cfg(not(windows))]
    extern "C" {
        fn PyUnicode_AsUTF8AndSize(
            unicode: *mut ffi::PyObject,
            size: *mut ffi::Py_ssize_t,
        ) -> *const std::os::raw::c_char;
    }

    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` object (checked by the caller) and we are attached to the
    // interpreter (the `Borrowed` proves both). On success CPython returns a pointer to `size`
    // bytes of valid UTF-8 owned by the string object (cached in it for non-ASCII strings),
    // which is immutable and kept alive by `s` for at least `'a`.
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if ptr.is_null() {
        // A lone surrogate: clear the UnicodeEncodeError and treat the value as absent.
        drop(PyErr::take(s.py()));
        return None;
    }
    let len = usize::try_from(size).ok()?;
    // SAFETY: see above; CPython guarantees the buffer is `len` bytes of valid UTF-8.
    Some(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr.cast::<u8>(), len))
    })
}
