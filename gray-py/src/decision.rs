//! `gray.Decision` and `gray.Explanation`: read-only views of gray-core results.

use gray_core::release::RouteKind;
use gray_core::spec::InboundPolicy;
use gray_core::{Decision, Explanation, NodeRef};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::convert::require_text;
use std::sync::Arc;

use crate::json::json_to_py;
use crate::names::Names;

/// Where one request goes: the matched rule, the serving group and node, and the headers to
/// set on the forwarded request.
///
/// A decision answers from the one snapshot (generation) that made it, even if the engine is
/// reloaded meanwhile. Attributes are computed on access.
#[pyclass(frozen, module = "gray._gray", name = "Decision")]
pub(crate) struct PyDecision {
    pub(crate) inner: Decision,
    /// The snapshot's names as Python strings.
    pub(crate) names: Arc<Names>,
}

#[pymethods]
impl PyDecision {
    /// The id of the matched rule, or None when no rule matched (the default group).
    #[getter]
    fn rule<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        self.inner.rule_id().map(|r| self.names.get(py, r))
    }

    /// The group serving the request (after any fallback).
    #[getter]
    fn group<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.names.get(py, self.inner.group())
    }

    /// The group the rules chose, before any fallback.
    #[getter]
    fn requested_group<'py>(&self, py: Python<'py>) -> Bound<'py, PyString> {
        self.names.get(py, self.inner.requested_group())
    }

    /// True when the request goes to a fallback group.
    #[getter]
    fn is_fallback(&self) -> bool {
        self.inner.is_fallback()
    }

    /// The picked node's address (`host:port`), or None when no upstream is available.
    #[getter]
    fn node(&self) -> Option<&str> {
        self.inner.node_address()
    }

    /// The picked node's metadata (version, region, env, zone, group, id; only those set), or
    /// None when no node was picked.
    #[getter]
    fn node_metadata<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        metadata_dict(py, self.inner.node())
    }

    /// True when neither the decided group nor its fallbacks had an available node: answer 503.
    #[getter]
    fn no_upstream(&self) -> bool {
        self.inner.no_upstream()
    }

    /// Headers to set on the forwarded request, as `(name, value)` pairs: the rule's
    /// `set_headers` and routes (`n-d-version`, ...), then the built-in headers.
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        pair_list(py, self.inner.headers())
    }

    /// The generation of the snapshot that decided.
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    /// What to do with routing headers that came with the request: `"override"` (strip them;
    /// the decision's headers win) or `"keep"` (they win; only safe behind a trusted edge).
    #[getter]
    fn inbound_policy(&self) -> &'static str {
        match self.inner.snapshot().inbound_policy() {
            InboundPolicy::Keep => "keep",
            _ => "override",
        }
    }

    /// True if `name` is a routing header (starts with one of `headers.routing_prefixes`,
    /// `n-d-` by default), compared case-insensitively.
    fn is_routing_header(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let name = require_text("name", name)?;
        Ok(self.inner.snapshot().is_routing_header(name))
    }

    /// True if the request's peer may send routing headers (`headers.trusted_peers`, or
    /// `inbound: keep` without that list).
    #[getter]
    fn trusts_inbound(&self) -> bool {
        self.inner.trusts_inbound()
    }

    /// Whether a forwarder passes inbound header `name` on as it arrived: always for
    /// non-routing headers; never for routing headers from untrusted peers; from trusted
    /// peers unless the decision sets the name (`override`) or always (`keep`).
    fn forward_inbound(&self, name: &Bound<'_, PyAny>) -> PyResult<bool> {
        let name = require_text("name", name)?;
        Ok(self.inner.forward_inbound(name))
    }

    /// The value the release chose for one dimension — `"version"`, `"region"`, `"address"`,
    /// `"version_weight"` or `"region_weight"` — as its `n-d-*` header text, or None.
    fn route(&self, kind: &Bound<'_, PyAny>) -> PyResult<Option<&str>> {
        Ok(self.inner.route(route_kind(kind)?))
    }

    /// The id of the route the release chose for one dimension (None for the defaults).
    fn route_id(&self, kind: &Bound<'_, PyAny>) -> PyResult<Option<&str>> {
        Ok(self.inner.route_id(route_kind(kind)?))
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<Decision rule={} group={} node={} generation={}>",
            opt_repr(py, self.inner.rule_id()),
            opt_repr(py, Some(self.inner.group())),
            opt_repr(py, self.inner.node_address()),
            self.inner.generation()
        )
    }
}

/// Why a request was routed where it was: every rule evaluated, each condition's outcome and
/// the value it saw, the client-IP resolution and each group tried.
///
/// `str(explanation)` (or `.text`) is the indented report; `.to_dict()` the same as data.
#[pyclass(frozen, module = "gray._gray", name = "Explanation")]
pub(crate) struct PyExplanation {
    pub(crate) inner: Explanation,
}

#[pymethods]
impl PyExplanation {
    /// The report as indented text.
    #[getter]
    fn text(&self) -> String {
        self.inner.to_string()
    }

    /// The matched rule id, or None for the default group.
    #[getter]
    fn rule(&self) -> Option<&str> {
        self.inner.rule.as_deref()
    }

    /// The serving group.
    #[getter]
    fn group(&self) -> &str {
        &self.inner.group
    }

    /// The node, or None (no upstream).
    #[getter]
    fn node(&self) -> Option<&str> {
        self.inner.node.as_deref()
    }

    /// The resolved client IP, or None.
    #[getter]
    fn client_ip(&self) -> Option<&str> {
        self.inner.client_ip.as_deref()
    }

    /// Everything as plain data (dicts, lists, str, int, bool, None).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner)
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "<Explanation rule={} group={} node={} generation={}>",
            opt_repr(py, self.inner.rule.as_deref()),
            opt_repr(py, Some(&self.inner.group)),
            opt_repr(py, self.inner.node.as_deref()),
            self.inner.generation
        )
    }
}

/// The metadata of `node` (only the fields set) as a dict, or None without a node.
pub(crate) fn metadata_dict<'py>(
    py: Python<'py>,
    node: Option<NodeRef<'_>>,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Some(n) = node else {
        return Ok(None);
    };
    let d = PyDict::new(py);
    let m = n.metadata;
    for (k, v) in [
        ("version", &m.version),
        ("region", &m.region),
        ("env", &m.env),
        ("zone", &m.zone),
        ("group", &m.group),
        ("id", &m.id),
    ] {
        if let Some(v) = v {
            d.set_item(k, v)?;
        }
    }
    Ok(Some(d))
}

/// `(name, value)` pairs as a list of `(str, str)` tuples.
pub(crate) fn pair_list<'py, K: AsRef<str>, V: AsRef<str>>(
    py: Python<'py>,
    pairs: impl IntoIterator<Item = (K, V)>,
) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for (k, v) in pairs {
        list.append(PyTuple::new(
            py,
            [PyString::new(py, k.as_ref()), PyString::new(py, v.as_ref())],
        )?)?;
    }
    Ok(list)
}

fn route_kind(kind: &Bound<'_, PyAny>) -> PyResult<RouteKind> {
    match require_text("kind", kind)? {
        "version" => Ok(RouteKind::Version),
        "region" => Ok(RouteKind::Region),
        "address" => Ok(RouteKind::Address),
        "version_weight" | "version-weight" => Ok(RouteKind::VersionWeight),
        "region_weight" | "region-weight" => Ok(RouteKind::RegionWeight),
        other => Err(PyValueError::new_err(format!(
            "kind must be 'version', 'region', 'address', 'version_weight' or 'region_weight', not {other:?}"
        ))),
    }
}

/// `'text'` or `None`, as Python prints an optional string.
pub(crate) fn opt_repr(py: Python<'_>, s: Option<&str>) -> String {
    match s {
        None => "None".to_string(),
        Some(s) => PyString::new(py, s)
            .repr()
            .map_or_else(|_| format!("{s:?}"), |r| r.to_string()),
    }
}
