//! Serialisable gray-core values (explanations, node status) handed to Python as plain data.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use serde::Serialize;

static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Converts any serialisable value to dicts, lists, str, int, float, bool and None (through
/// JSON, with the standard library's `json.loads`).
pub(crate) fn json_to_py<'py, T: Serialize>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value)
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?;
    let loads = LOADS.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("json")?.getattr("loads")?.unbind())
    })?;
    loads.bind(py).call1((text,))
}

/// Converts a Python value to a serde type through JSON (`json.dumps`), so that gray-core's
/// `deny_unknown_fields` reports misspelt keys.
pub(crate) fn py_to_serde<T: serde::de::DeserializeOwned>(
    obj: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<T> {
    let text: String = obj
        .py()
        .import("json")?
        .getattr("dumps")?
        .call1((obj,))
        .map_err(|e| {
            pyo3::exceptions::PyTypeError::new_err(format!("{what} must be JSON-like data: {e}"))
        })?
        .extract()?;
    serde_json::from_str(&text)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(format!("{what}: {e}")))
}
