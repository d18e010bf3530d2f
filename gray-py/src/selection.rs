//! `gray.Selection` and `gray.InstanceExplanation`: the calling side of a service, which
//! instance of a callee an outgoing call goes to and with which routing headers
//! (`Engine.select_instance`, `Engine.explain_instance`).
//!
//! The inbound request is read like `Engine.decide` reads it (the same arguments, bound by
//! [`bind`]); since that view only borrows the caller's objects, everything a selection
//! answers that depends on it — the outgoing headers — is computed while selecting.

use gray_core::{Engine, InstanceExplanation, Selection};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::convert::require_text;
use crate::decision::{metadata_dict, opt_repr, pair_list};
use crate::json::json_to_py;
use crate::request::{Args, PyRequest};

/// The instance chosen for one outgoing call, and what the call carries.
///
/// Answers from the snapshot (generation) that selected, even if the engine is reloaded
/// meanwhile.
#[pyclass(frozen, module = "gray._gray", name = "Selection")]
pub(crate) struct PySelection {
    inner: Selection,
    /// [`Selection::outgoing_headers`] for the inbound request it was selected for.
    outgoing: Vec<(String, String)>,
}

#[pymethods]
impl PySelection {
    /// The chosen instance's address (`host:port`), or None: unknown service, or no instance
    /// passed the filters.
    #[getter]
    fn address(&self) -> Option<&str> {
        self.inner.node_address()
    }

    /// The service (group) the instance was chosen from; None for an unknown service.
    #[getter]
    fn service(&self) -> Option<&str> {
        self.inner.service()
    }

    /// The chosen instance's metadata (version, region, env, zone, group, id; only those
    /// set), or None.
    #[getter]
    fn node_metadata<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        metadata_dict(py, self.inner.node())
    }

    /// True if the inbound request's peer may send routing headers (`headers.trusted_peers`,
    /// or `inbound: keep` without that list): only then are its `n-d-*` headers believed and
    /// passed on.
    #[getter]
    fn trusts_inbound(&self) -> bool {
        self.inner.trusts_inbound()
    }

    /// The routing headers this service's own release resolved, as `(name, value)` pairs.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pair_list(py, self.inner.headers())
    }

    /// The routing headers the outgoing call carries, as `(name, value)` pairs: the inbound
    /// ones a trusted peer sent (as `forward_inbound` allows), then the own release's. Set
    /// them on the call after removing every routing header it had.
    #[getter]
    fn outgoing_headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pair_list(py, self.outgoing.iter().map(|(k, v)| (k, v)))
    }

    /// Whether inbound routing header `name` travels on with the call: never from an
    /// untrusted peer, never for a header that is not a routing header; from a trusted peer
    /// unless the own release sets it and `inbound` is `override`.
    fn forward_inbound(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.forward_inbound(require_text("name", name)?))
    }

    /// True if `name` is a routing header (starts with one of `headers.routing_prefixes`,
    /// `n-d-` by default), compared case-insensitively.
    fn is_routing_header(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let name = require_text("name", name)?;
        Ok(self.inner.snapshot().is_routing_header(name))
    }

    /// The generation of the snapshot that selected.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.snapshot().generation()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<Selection service={} address={} trusts_inbound={}>",
            opt_repr(py, self.inner.service()),
            opt_repr(py, self.inner.node_address()),
            if self.inner.trusts_inbound() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// How an instance of a service was chosen: the values in force and where each came from
/// (`own` release or trusted `inbound` header), then every filter step.
///
/// `str(explanation)` (or `.text`) is the indented report; `.to_dict()` the same as data.
#[pyclass(frozen, module = "gray._gray", name = "InstanceExplanation")]
pub(crate) struct PyInstanceExplanation {
    inner: InstanceExplanation,
}

#[pymethods]
impl PyInstanceExplanation {
    /// The service (group) asked for.
    #[getter]
    fn service(&self) -> &str {
        &self.inner.service
    }

    /// Whether the inbound peer may send routing headers.
    #[getter]
    fn trusts_inbound(&self) -> bool {
        self.inner.inbound_trusted
    }

    /// The chosen instance's address, or None.
    #[getter]
    fn address(&self) -> Option<&str> {
        self.inner.node.as_deref()
    }

    /// `(header, value for this service, source)` triples; source is `"own"` or `"inbound"`.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (h, v, s) in &self.inner.values {
            list.append(PyTuple::new(
                py,
                [
                    PyString::new(py, h),
                    PyString::new(py, v),
                    PyString::new(py, s),
                ],
            )?)?;
        }
        Ok(list)
    }

    /// The filter steps in order, as dicts with `filter`, `value` and `outcome`.
    #[getter]
    fn steps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.steps)
    }

    /// The report as indented text.
    #[getter]
    fn text(&self) -> String {
        self.inner.to_string()
    }

    /// Everything as plain data: `service`, `inbound_trusted`, `release` (how the own
    /// release resolved, or None), `values`, `steps`, `node`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner)
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<InstanceExplanation service={} address={}>",
            opt_repr(py, Some(&self.inner.service)),
            opt_repr(py, self.inner.node.as_deref()),
        )
    }
}

/// Binds the arguments after `service` of `Engine.select_instance` / `explain_instance`
/// (`func`) exactly as `Engine.decide` binds its own.
fn bind<'py>(
    func: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Args<'py>> {
    if args.len() > 1 {
        // Counted with `service`, as Python counts the arguments of any method.
        return Err(PyTypeError::new_err(format!(
            "{func} takes from 1 to 2 positional arguments but {} were given",
            args.len() + 1
        )));
    }
    let mut a = Args::positional(func, args.len(), args.iter_borrowed().next())?;
    if let Some(kwargs) = kwargs {
        for (k, v) in kwargs.iter() {
            a.keyword(func, k.as_borrowed(), v.as_borrowed())?;
        }
    }
    Ok(a)
}

/// The service name argument: text naming a group.
fn service_name<'a>(service: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    let name = require_text("service", service)?;
    if name.is_empty() {
        return Err(PyValueError::new_err(
            "service must name a group of the spec, not ''",
        ));
    }
    Ok(name)
}

/// Runs `f` with the service name and the inbound request of a call of `func`
/// (`Engine.select_instance` or `Engine.explain_instance`): `(service, peer_ip=None, *,
/// headers=..., ...)`, the request bound as `Engine.decide` binds it.
pub(crate) fn with_request<'py, T>(
    func: &str,
    service: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    f: impl FnOnce(&str, &PyRequest<'py>) -> T,
) -> PyResult<T> {
    let name = service_name(service)?;
    let req = PyRequest::from_args(bind(func, args, kwargs)?)?;
    Ok(f(name, &req))
}

impl PySelection {
    /// `Engine.select_instance`: the instance of `service` for a call made while handling
    /// `req`, with the headers the call carries.
    pub(crate) fn select(engine: &Engine, service: &str, req: &PyRequest<'_>) -> Self {
        let inner = engine.select_instance(service, req);
        let outgoing = inner.outgoing_headers(req);
        PySelection { inner, outgoing }
    }
}

impl PyInstanceExplanation {
    /// `Engine.explain_instance`.
    pub(crate) fn explain(engine: &Engine, service: &str, req: &PyRequest<'_>) -> Self {
        PyInstanceExplanation {
            inner: engine.explain_instance(service, req),
        }
    }
}
