//! Borrowing UTF-8 text out of Python `str` and `bytes` objects without copying.
//!
//! `bytes` are read in place (`PyBytes_AsString`, part of the stable ABI). For `str`, the stable
//! ABI of Python 3.9 only offers encoding into a fresh `bytes` object, which would cost two
//! allocations per header name compared while scanning a request. CPython has exported
//! `PyUnicode_AsUTF8AndSize` from every 3.x release we support (it entered the limited API
//! listing in 3.10, unchanged); it returns the string's own UTF-8 buffer — for ASCII strings
//! the object's data itself — which lives as long as the object. On Windows, where an abi3
//! extension links against `python3.dll` and that export only exists from 3.10, the crate
//! enables `abi3-py310` and uses PyO3's safe `to_str`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The UTF-8 text of a `str` or `bytes` object, borrowed for as long as the object reference.
///
/// Returns `None` for other types, for `bytes` that are not UTF-8 and for strings holding lone
/// surrogates (which have no UTF-8 form); such values count as absent, as gray-core's
/// `RequestView` asks.
pub(crate) fn text<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return std::str::from_utf8(b.as_bytes()).ok();
    }
    let s = obj.cast::<PyString>().ok()?;
    str_utf8(s)
}

/// True for `str` and `bytes` objects.
pub(crate) fn is_text(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>()
}

#[cfg(windows)]
fn str_utf8<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    s.to_str().ok()
}

#[cfg(not(windows))]
fn str_utf8<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    use std::os::raw::c_char;

    use pyo3::ffi;

    extern "C" {
        fn PyUnicode_AsUTF8AndSize(
            unicode: *mut ffi::PyObject,
            size: *mut ffi::Py_ssize_t,
        ) -> *const c_char;
    }

    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` object and we are attached to the interpreter (the `Bound`
    // proves both). On success CPython returns a pointer to `size` bytes of valid UTF-8 owned by
    // the string object (cached in it for non-ASCII strings), which is immutable and kept alive
    // by `s` for at least `'a`.
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
