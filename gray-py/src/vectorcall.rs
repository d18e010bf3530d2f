//! `Engine.decide` and `Engine.explain`, called with the vectorcall convention.
//!
//! `decide` is the one call made per request, so how Python hands it its arguments matters.
//! Built for the stable ABI of Python 3.9, PyO3 declares methods with the tuple-and-dict
//! convention: every call builds a dict of its keyword arguments, and PyO3 then encodes each
//! keyword name into a new `bytes` object to compare it. These two methods are declared here
//! instead, with `METH_FASTCALL | METH_KEYWORDS` (PEP 590): the arguments arrive as an array
//! plus a tuple of keyword names, which [`Args`] binds by reading the names in place.
//!
//! That convention is part of the stable ABI from Python 3.10 on; CPython has implemented it,
//! unchanged, since 3.7, so a module built for 3.9 can use it on every interpreter it loads in.
//! The methods are added to the `Engine` type when the module is initialised, as method
//! descriptors (`PyDescr_NewMethod`), exactly what a method declared in C would be.

use std::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::ffi;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

use crate::engine::PyEngine;
use crate::request::Args;

/// `METH_FASTCALL | METH_KEYWORDS` (CPython's values since 3.7).
const FASTCALL_KEYWORDS: c_int = 0x0080 | 0x0002;

/// The C signature of a `METH_FASTCALL | METH_KEYWORDS` function.
type FastCall = unsafe extern "C" fn(
    *mut ffi::PyObject,
    *const *mut ffi::PyObject,
    ffi::Py_ssize_t,
    *mut ffi::PyObject,
) -> *mut ffi::PyObject;

/// A method definition CPython reads (never writes) for as long as the process lives.
struct Def(ffi::PyMethodDef);

// SAFETY: the definition is immutable; its pointers are to static C strings and a function.
unsafe impl Sync for Def {}

const fn def(name: &'static CStr, f: FastCall, doc: &'static CStr) -> Def {
    Def(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            // SAFETY: CPython calls `ml_meth` with the signature its flags name
            // (`FASTCALL_KEYWORDS`), which is `f`'s; the field's declared type is only the
            // generic slot, as in C, where such functions are stored with a cast.
            PyCFunction: unsafe { std::mem::transmute::<FastCall, ffi::PyCFunction>(f) },
        },
        ml_flags: FASTCALL_KEYWORDS,
        ml_doc: doc.as_ptr(),
    })
}

// The docstrings start with the text signature (the form `inspect.signature` reads).
static DECIDE: Def = def(
    c"decide",
    decide,
    c"decide($self, peer_ip=None, *, headers=None, cookies=None, cookie_header=None, query=None, path=None, method=None, host=None)
--

Routes one request. `headers` may be a dict, a list of `(name, value)` pairs (`str` or
`bytes`), a Starlette `Headers` or a Werkzeug `Headers`; `cookies` a mapping of cookie
values (searched before any `Cookie` header); `cookie_header` a raw `Cookie` header.
`path` may carry `?query` when `query` is not given. A `peer_ip` that is not an IP
address (a Unix socket, a test client's name) counts as unknown.",
);

static EXPLAIN: Def = def(
    c"explain",
    explain,
    c"explain($self, peer_ip=None, *, headers=None, cookies=None, cookie_header=None, query=None, path=None, method=None, host=None)
--

Explains how a request (same arguments as `decide`) is routed. Counts nothing.",
);

/// Adds `decide` and `explain` to the `Engine` type.
pub(crate) fn register(engine: &Bound<'_, PyType>) -> PyResult<()> {
    for (name, def) in [("decide", &DECIDE), ("explain", &EXPLAIN)] {
        // SAFETY: `engine` is a type object and `def` a valid definition that lives forever;
        // CPython only reads it. The result is a new reference or NULL with an exception set.
        let descr = unsafe {
            let descr =
                ffi::PyDescr_NewMethod(engine.as_type_ptr(), std::ptr::from_ref(&def.0).cast_mut());
            Bound::from_owned_ptr_or_err(engine.py(), descr)?
        };
        engine.setattr(name, descr)?;
    }
    Ok(())
}

unsafe extern "C" fn decide(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython as a `FASTCALL_KEYWORDS` method of `Engine`.
    unsafe {
        call(
            slf,
            args,
            nargs,
            kwnames,
            "Engine.decide()",
            |engine, py, a| {
                Ok(Bound::new(py, engine.decide_args(py, a)?)?
                    .into_any()
                    .unbind())
            },
        )
    }
}

unsafe extern "C" fn explain(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: called by CPython as a `FASTCALL_KEYWORDS` method of `Engine`.
    unsafe {
        call(
            slf,
            args,
            nargs,
            kwnames,
            "Engine.explain()",
            |engine, py, a| Ok(Bound::new(py, engine.explain_args(a)?)?.into_any().unbind()),
        )
    }
}

/// Runs `f` for a vectorcall of method `func`: binds the arguments, returns a new reference,
/// or NULL with the error (or a panic, as `PanicException`) raised.
///
/// # Safety
///
/// The arguments must be those CPython passes to a `METH_FASTCALL | METH_KEYWORDS` method:
/// the thread is attached, `args` holds `nargs` positional arguments followed by one value per
/// name in `kwnames` (a tuple of `str`, or NULL).
unsafe fn call(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    func: &str,
    f: impl FnOnce(&PyEngine, Python<'_>, Args<'_>) -> PyResult<Py<PyAny>>,
) -> *mut ffi::PyObject {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        Python::attach(|py| {
            // SAFETY: the caller's contract (see above).
            let result = unsafe { bind_and_run(py, slf, args, nargs, kwnames, func, f) };
            match result {
                Ok(obj) => obj.into_ptr(),
                Err(e) => {
                    e.restore(py);
                    std::ptr::null_mut()
                }
            }
        })
    }));
    outcome.unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic in gray".to_string());
        Python::attach(|py| PanicException::new_err(msg).restore(py));
        std::ptr::null_mut()
    })
}

/// The body of [`call`].
///
/// # Safety
///
/// As for [`call`].
unsafe fn bind_and_run(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
    func: &str,
    f: impl FnOnce(&PyEngine, Python<'_>, Args<'_>) -> PyResult<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    // SAFETY: `slf` is the object the method was called on, alive for the call.
    let slf = unsafe { Borrowed::from_ptr(py, slf) };
    let engine = slf.cast::<PyEngine>()?;
    // SAFETY: `kwnames` is NULL or a tuple, alive for the call.
    let kwnames = unsafe { Borrowed::from_ptr_or_opt(py, kwnames) }
        .map(|k| k.cast::<PyTuple>())
        .transpose()?;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    let total = nargs + kwnames.as_ref().map_or(0, |k| k.len());
    let values: &[*mut ffi::PyObject] = if total == 0 {
        &[]
    } else {
        // SAFETY: CPython passes `nargs` positional values followed by one value per keyword
        // name, all alive for the call.
        unsafe { std::slice::from_raw_parts(args, total) }
    };
    // SAFETY: the values are valid object pointers (see above).
    let value = |i: usize| unsafe { Borrowed::from_ptr(py, values[i]) };
    let mut a = Args::positional(func, nargs, (nargs > 0).then(|| value(0)))?;
    if let Some(names) = kwnames {
        for (i, name) in names.iter_borrowed().enumerate() {
            a.keyword(func, name, value(nargs + i))?;
        }
    }
    f(engine.get(), py, a)
}
