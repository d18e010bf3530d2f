//! The `gray._gray` extension module: Python bindings for gray-core.
//!
//! Built with maturin (see `pyproject.toml`); the Python package `gray` (in `python/gray`)
//! re-exports these classes and adds the ASGI and WSGI middleware. Requests are read straight
//! from the caller's Python objects (module `request`), `Engine.decide` and `Engine.explain`
//! take their arguments by vectorcall (module `vectorcall`), decisions are lazy views of
//! gray-core results (module `decision`), instance selections for outgoing calls are
//! `gray.Selection` (module `selection`), and gray-core errors become `gray.ConfigError` & co.
//! (module `errors`).
//!
//! Deciding holds the interpreter: the request lives in Python objects that another thread
//! could change, and a decision costs well under the price of detaching and re-attaching.
//! Compiling (loading, reloading, admin changes) runs detached, so other Python threads keep
//! running while a large rule set compiles. `Engine.from_redis` (module `redis`) follows a Redis
//! namespace from a background Rust thread that never takes the interpreter.

mod convert;
mod decision;
mod engine;
mod errors;
mod json;
mod names;
mod redis;
mod request;
mod selection;
mod testing;
mod text;
mod vectorcall;

use pyo3::prelude::*;

use crate::convert::require_text;

/// The bucket `0..10000` of `key` under `salt`: the stickiness hash of `percent` conditions,
/// identical to gray-core's. A `percent: {value: p}` condition matches when
/// `sticky_bucket(salt, key) < p * 100`.
#[pyfunction]
fn sticky_bucket(salt: &Bound<'_, PyAny>, key: &Bound<'_, PyAny>) -> PyResult<u32> {
    Ok(gray_core::sticky::bucket(
        require_text("salt", salt)?.as_bytes(),
        require_text("key", key)?.as_bytes(),
    ))
}

/// The 64-bit salted stickiness hash behind `sticky_bucket`.
#[pyfunction]
fn sticky_hash(salt: &Bound<'_, PyAny>, key: &Bound<'_, PyAny>) -> PyResult<u64> {
    Ok(gray_core::sticky::salted_hash(
        require_text("salt", salt)?.as_bytes(),
        require_text("key", key)?.as_bytes(),
    ))
}

#[pymodule]
fn _gray(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::PyEngine>()?;
    vectorcall::register(&m.py().get_type::<engine::PyEngine>())?;
    m.add_class::<decision::PyDecision>()?;
    m.add_class::<decision::PyExplanation>()?;
    m.add_class::<selection::PySelection>()?;
    m.add_class::<selection::PyInstanceExplanation>()?;
    m.add_function(wrap_pyfunction!(sticky_bucket, m)?)?;
    m.add_function(wrap_pyfunction!(sticky_hash, m)?)?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    testing::register(m)?;
    Ok(())
}
