//! The exception hierarchy of the `gray` package and the mapping from gray-core errors.
//!
//! ```text
//! GrayError(Exception)
//! ├── ConfigError(GrayError, ValueError)     bad spec, bad admin change; .kind .path .line .column
//! │   └── ExpressionError(ConfigError)       a Nepxion-style expression did not parse
//! └── UnknownNameError(GrayError, LookupError)  admin call named a group or node that does not exist
//!
//! NepxionWarning(UserWarning)                 part of a Nepxion rule that gray does not apply
//! ```
//!
//! The classes are created once per interpreter with `type(...)` so that `ConfigError` can
//! also be a `ValueError` (multiple bases) and `except ValueError` keeps working.

use gray_core::{Error, ErrorKind};
use std::ffi::CString;

use gray_core::nepxion::Warning;
use pyo3::exceptions::{PyException, PyLookupError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

struct Classes {
    gray: Py<PyType>,
    config: Py<PyType>,
    expression: Py<PyType>,
    unknown: Py<PyType>,
    nepxion_warning: Py<PyType>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

const GRAY_DOC: &str = "Base class of every error raised by gray.";
const CONFIG_DOC: &str = "A spec, rule file or admin change was rejected.\n\n\
Attributes: kind (e.g. 'invalid_regex'), path (field path such as \
'rules[2].when.cookie.regex', '' when unknown), line and column (1-based, or None), \
message (the explanation without the location).";
const EXPRESSION_DOC: &str = "A Nepxion-style condition expression did not parse; line and \
column point at the offending character in the config text, or, when line is None, column counts \
within the expression.";
const UNKNOWN_DOC: &str = "An admin call named a group or node that does not exist.";
const NEPXION_WARNING_DOC: &str = "Part of an imported Nepxion rule that gray does not apply \
(an unknown or misplaced element, <register>, <parameter>); the message says where.";

fn make_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: &[Bound<'py, PyAny>],
    doc: &str,
    config_attrs: bool,
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "gray")?;
    ns.set_item("__doc__", doc)?;
    if config_attrs {
        ns.set_item("kind", "")?;
        ns.set_item("path", "")?;
        ns.set_item("line", py.None())?;
        ns.set_item("column", py.None())?;
        ns.set_item("message", "")?;
    }
    let ty = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, ns))?;
    Ok(ty.cast_into::<PyType>()?.unbind())
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || {
        let gray = make_class(
            py,
            "GrayError",
            &[py.get_type::<PyException>().into_any()],
            GRAY_DOC,
            false,
        )?;
        let config = make_class(
            py,
            "ConfigError",
            &[
                gray.bind(py).clone().into_any(),
                py.get_type::<PyValueError>().into_any(),
            ],
            CONFIG_DOC,
            true,
        )?;
        let expression = make_class(
            py,
            "ExpressionError",
            &[config.bind(py).clone().into_any()],
            EXPRESSION_DOC,
            true,
        )?;
        let unknown = make_class(
            py,
            "UnknownNameError",
            &[
                gray.bind(py).clone().into_any(),
                py.get_type::<PyLookupError>().into_any(),
            ],
            UNKNOWN_DOC,
            false,
        )?;
        let nepxion_warning = make_class(
            py,
            "NepxionWarning",
            &[py.get_type::<PyUserWarning>().into_any()],
            NEPXION_WARNING_DOC,
            false,
        )?;
        Ok(Classes {
            gray,
            config,
            expression,
            unknown,
            nepxion_warning,
        })
    })
}

/// Adds the exception classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let c = classes(py)?;
    m.add("GrayError", c.gray.bind(py))?;
    m.add("ConfigError", c.config.bind(py))?;
    m.add("ExpressionError", c.expression.bind(py))?;
    m.add("UnknownNameError", c.unknown.bind(py))?;
    m.add("NepxionWarning", c.nepxion_warning.bind(py))?;
    Ok(())
}

/// Issues each Nepxion import warning as a Python `gray.NepxionWarning` (so `warnings`
/// filters can show, silence or escalate them), attributed to the caller.
pub(crate) fn warn_nepxion(py: Python<'_>, warnings: &[Warning]) -> PyResult<()> {
    let c = classes(py)?;
    for w in warnings {
        let text = CString::new(w.to_string().replace('\0', " "))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        PyErr::warn(py, c.nepxion_warning.bind(py).as_any(), &text, 1)?;
    }
    Ok(())
}

/// The snake_case name of a kind (`invalid_regex`).
fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => "syntax",
        ErrorKind::InvalidValue => "invalid_value",
        ErrorKind::InvalidIp => "invalid_ip",
        ErrorKind::InvalidRegex => "invalid_regex",
        ErrorKind::InvalidExpression => "invalid_expression",
        ErrorKind::UnknownReference => "unknown_reference",
        ErrorKind::Duplicate => "duplicate",
        ErrorKind::Io => "io",
        ErrorKind::UnknownGroup => "unknown_group",
        ErrorKind::UnknownNode => "unknown_node",
        ErrorKind::UnsupportedVersion => "unsupported_version",
        ErrorKind::Source => "source",
        _ => "other",
    }
}

/// Converts a gray-core error into the matching Python exception.
pub(crate) fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    match build(py, e) {
        Ok(err) => err,
        Err(err) => err,
    }
}

fn build(py: Python<'_>, e: &Error) -> PyResult<PyErr> {
    let c = classes(py)?;
    let (ty, attrs) = match e.kind() {
        ErrorKind::UnknownGroup | ErrorKind::UnknownNode => (&c.unknown, false),
        ErrorKind::InvalidExpression => (&c.expression, true),
        ErrorKind::Source => (&c.gray, false),
        _ => (&c.config, true),
    };
    let inst = ty.bind(py).call1((e.to_string(),))?;
    let loc = e.location();
    inst.setattr("kind", kind_name(e.kind()))?;
    inst.setattr("message", e.message())?;
    if attrs {
        inst.setattr("path", &loc.path)?;
        inst.setattr("line", loc.line)?;
        inst.setattr("column", loc.column)?;
    }
    Ok(PyErr::from_value(inst))
}
