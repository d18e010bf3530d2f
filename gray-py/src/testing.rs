//! Hooks for the Python tests and benchmarks, in the private submodule `gray._gray._testing`:
//! nothing the `gray` package exports, nothing an application should call.

use gray_core::RequestView;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::type_error;
use crate::request::{Args, PyRequest};

/// Adds the `_testing` submodule to `m`.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let t = PyModule::new(m.py(), "_testing")?;
    // Compares the two ways a decision reads headers.
    t.add_function(wrap_pyfunction!(header_views, &t)?)?;
    // Lets the benchmark refuse to report figures of an unoptimised build.
    t.add("debug_build", cfg!(debug_assertions))?;
    m.add_submodule(&t)
}

/// For the tests: what the view of a request lists with `all_headers`, and what
/// `for_each_header` gives for each of `names`. `kind` says what `request` is: `"args"` (a dict
/// of `Engine.decide` keyword arguments), `"asgi"` (a scope) or `"wsgi"` (an environ).
#[pyfunction]
#[allow(clippy::type_complexity)]
fn header_views(
    kind: &str,
    request: &Bound<'_, PyAny>,
    names: Vec<String>,
) -> PyResult<(Vec<(String, String)>, Vec<Vec<String>>)> {
    let req = match kind {
        "args" => {
            let d = request
                .cast::<PyDict>()
                .map_err(|_| type_error("request", "a dict", request))?;
            let mut args = Args::default();
            for (k, v) in d.iter() {
                args.keyword("_testing.header_views()", k.as_borrowed(), v.as_borrowed())?;
            }
            PyRequest::from_args(args)?
        }
        "asgi" => PyRequest::from_asgi(request)?,
        "wsgi" => PyRequest::from_wsgi(request)?,
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "kind must be 'args', 'asgi' or 'wsgi'",
            ))
        }
    };
    let mut listed = Vec::new();
    if !req.all_headers(&mut |k, v| listed.push((k.to_string(), v.to_string()))) {
        return Err(pyo3::exceptions::PyAssertionError::new_err(
            "the view did not list its headers",
        ));
    }
    let looked_up = names
        .iter()
        .map(|n| {
            let mut values = Vec::new();
            req.for_each_header(n, &mut |v| {
                values.push(v.to_string());
                true
            });
            values
        })
        .collect();
    Ok((listed, looked_up))
}
