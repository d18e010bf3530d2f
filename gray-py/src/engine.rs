//! `gray.Engine`: the routing engine, shareable between threads.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gray_core::spec::{DurationSpec, NodeMetadata, NodeSpec};
use gray_core::{Decision, Engine, Format, Outcome, RolloutAction};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyString, PyTuple};

use crate::convert::type_error;
use crate::decision::{PyDecision, PyExplanation};
use crate::errors::{to_py, warn_nepxion};
use crate::json::{json_to_py, py_to_serde};
use crate::names::NameCache;
use crate::request::{Args, PyRequest};
use crate::selection::{with_request, PyInstanceExplanation, PySelection};

/// A compiled rule set: decides where requests go, explains why, and takes reloads and node
/// changes at runtime. Safe to share between threads; every change is atomic and a rejected
/// change leaves the running rules untouched.
#[pyclass(frozen, module = "gray._gray", name = "Engine")]
pub(crate) struct PyEngine {
    inner: Arc<Engine>,
    names: NameCache,
    /// The Redis source keeping `inner` in step, for engines made by `from_redis`.
    redis: Mutex<Option<gray_redis::RedisSource>>,
}

fn format_of(name: &str) -> PyResult<Format> {
    Format::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "format must be 'yaml', 'json' or 'toml', not {name:?}"
        ))
    })
}

fn fail_timeout(obj: &Bound<'_, PyAny>) -> PyResult<DurationSpec> {
    if obj.is_instance_of::<PyString>() {
        let s: String = obj.extract()?;
        return DurationSpec::parse(&s)
            .map_err(|e| PyValueError::new_err(format!("fail_timeout {s:?}: {e}")));
    }
    if obj.is_instance_of::<PyInt>() || obj.is_instance_of::<PyFloat>() {
        let secs: f64 = obj.extract()?;
        return Duration::try_from_secs_f64(secs)
            .map(DurationSpec)
            .map_err(|_| {
                PyValueError::new_err(format!(
                    "fail_timeout must be a non-negative number of seconds, not {secs}"
                ))
            });
    }
    Err(PyTypeError::new_err(
        "fail_timeout must be seconds (int or float) or a duration string such as '10s'",
    ))
}

/// An HTTP status (an `int` from 100 to 999, not a `bool`) as an [`Outcome`].
fn status_outcome(status: &Bound<'_, PyAny>) -> PyResult<Outcome> {
    if status.is_instance_of::<PyBool>() || !status.is_instance_of::<PyInt>() {
        return Err(type_error(
            "status",
            "an int HTTP status such as 503",
            status,
        ));
    }
    match status.extract::<i64>() {
        Ok(s @ 100..=999) => Ok(Outcome::Status(s as u16)),
        _ => Err(PyValueError::new_err(format!(
            "status must be an HTTP status from 100 to 999, not {}",
            status.repr()?
        ))),
    }
}

/// An optional latency in seconds (an int or float, finite and not negative), as a duration.
fn latency_of(latency: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(l) = latency.filter(|l| !l.is_none()) else {
        return Ok(None);
    };
    if l.is_instance_of::<PyBool>()
        || !(l.is_instance_of::<PyInt>() || l.is_instance_of::<PyFloat>())
    {
        return Err(type_error(
            "latency",
            "seconds as a float, e.g. time.perf_counter() - start",
            l,
        ));
    }
    let secs: f64 = l.extract()?;
    Duration::try_from_secs_f64(secs).map(Some).map_err(|_| {
        PyValueError::new_err(format!(
            "latency must be a finite, non-negative number of seconds, not {}",
            l.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    })
}

/// Records `outcome` for `decision`, timed when `latency` is given.
fn record_with(
    engine: &Engine,
    decision: &PyDecision,
    outcome: Outcome,
    latency: Option<Duration>,
) {
    match latency {
        Some(l) => engine.record_timed(&decision.inner, outcome, l),
        None => engine.record(&decision.inner, outcome),
    }
}

/// `"connect"`, `"timeout"` or `"reset"` as an [`Outcome`].
fn error_outcome(kind: &Bound<'_, PyAny>) -> PyResult<Outcome> {
    if !kind.is_instance_of::<PyString>() {
        return Err(type_error("kind", "'connect', 'timeout' or 'reset'", kind));
    }
    match kind.extract::<String>()?.as_str() {
        "connect" => Ok(Outcome::ConnectError),
        "timeout" => Ok(Outcome::Timeout),
        "reset" => Ok(Outcome::Reset),
        other => Err(PyValueError::new_err(format!(
            "kind must be 'connect', 'timeout' or 'reset', not {other:?}"
        ))),
    }
}

impl PyEngine {
    fn record_node_with(
        &self,
        py: Python<'_>,
        group: &str,
        address: &str,
        outcome: Outcome,
        latency: Option<Duration>,
    ) -> PyResult<()> {
        match latency {
            Some(l) => self.inner.record_node_timed(group, address, outcome, l),
            None => self.inner.record_node(group, address, outcome),
        }
        .map_err(|e| to_py(py, &e))
    }

    fn wrap(inner: Engine) -> Self {
        PyEngine {
            inner: Arc::new(inner),
            names: NameCache::default(),
            redis: Mutex::new(None),
        }
    }

    fn redis_source(&self) -> std::sync::MutexGuard<'_, Option<gray_redis::RedisSource>> {
        self.redis.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `Engine.decide` (declared in `crate::vectorcall`).
    pub(crate) fn decide_args(&self, py: Python<'_>, args: Args<'_>) -> PyResult<PyDecision> {
        let req = PyRequest::from_args(args)?;
        Ok(self.decision(py, self.inner.decide(&req)))
    }

    /// `Engine.explain` (declared in `crate::vectorcall`).
    pub(crate) fn explain_args(&self, args: Args<'_>) -> PyResult<PyExplanation> {
        let req = PyRequest::from_args(args)?;
        Ok(PyExplanation {
            inner: self.inner.explain(&req),
        })
    }

    fn decision(&self, py: Python<'_>, inner: Decision) -> PyDecision {
        let names = self.names.for_decision(py, &inner);
        PyDecision { inner, names }
    }
}

#[pymethods]
impl PyEngine {
    /// Reads, parses and compiles a spec file (YAML, JSON or TOML by extension).
    #[staticmethod]
    fn from_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        py.detach(|| Engine::from_file(&path))
            .map(PyEngine::wrap)
            .map_err(|e| to_py(py, &e))
    }

    /// Parses and compiles a spec from text; `format` is `"yaml"`, `"json"` or `"toml"`.
    #[staticmethod]
    #[pyo3(signature = (text, format = None), text_signature = "(text, format='yaml')")]
    fn from_str(py: Python<'_>, text: String, format: Option<String>) -> PyResult<Self> {
        let format = format_of(format.as_deref().unwrap_or("yaml"))?;
        py.detach(|| Engine::from_str(&text, format))
            .map(PyEngine::wrap)
            .map_err(|e| to_py(py, &e))
    }

    /// An engine serving a Nepxion Discovery rule (XML `<rule>` or JSON `RuleEntity`,
    /// detected from the first character) with no instances yet: add them with `add_node`.
    /// Parts gray does not apply are issued as `gray.NepxionWarning`s; errors name the element
    /// path, line and column (`gray.ConfigError`).
    #[staticmethod]
    fn from_nepxion(py: Python<'_>, text: String) -> PyResult<Self> {
        let (inner, warnings) = py
            .detach(|| Engine::from_nepxion(&text))
            .map_err(|e| to_py(py, &e))?;
        warn_nepxion(py, &warnings)?;
        Ok(PyEngine::wrap(inner))
    }

    /// An engine whose rules and IP sets follow a Redis namespace, as published with the
    /// `gray-redis` command: a background thread applies each change through the validated
    /// reload (a rejected change is reported in `redis_status()` and the running rules stay),
    /// and decisions never wait on Redis. Every accepted state is written to `dump`; when Redis
    /// cannot be reached within `connect_timeout` seconds the engine starts from that dump and
    /// keeps retrying. Raises `gray.GrayError` (kind `"source"`) when neither works.
    #[staticmethod]
    #[pyo3(
        signature = (url, namespace = "default".to_string(), *, dump = None, connect_timeout = 2.0, resync_interval = 60.0),
        text_signature = "(url, namespace='default', *, dump=None, connect_timeout=2.0, resync_interval=60.0)"
    )]
    fn from_redis(
        py: Python<'_>,
        url: String,
        namespace: String,
        dump: Option<PathBuf>,
        connect_timeout: f64,
        resync_interval: f64,
    ) -> PyResult<Self> {
        let mut config = gray_redis::SourceConfig::new(url, namespace)
            .connect_timeout(crate::redis::seconds("connect_timeout", connect_timeout)?)
            .resync_interval(crate::redis::seconds("resync_interval", resync_interval)?);
        config.dump = dump;
        let (inner, source) = py
            .detach(|| gray_redis::RedisSource::start(config))
            .map_err(|e| to_py(py, &e))?;
        Ok(PyEngine {
            inner,
            names: NameCache::default(),
            redis: Mutex::new(Some(source)),
        })
    }

    /// The state of the Redis source (connected, in sync, where the rules came from, the last
    /// error, counters), or `None` for an engine that does not follow Redis.
    fn redis_status<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let status = self.redis_source().as_ref().map(|s| s.status());
        status.map(|st| crate::redis::status(py, &st)).transpose()
    }

    /// Stops following Redis (waits up to about a second for the thread); the engine keeps
    /// its current rules and `redis_status()` is `None` from then on. Does nothing for an
    /// engine that does not follow Redis.
    fn close(&self, py: Python<'_>) {
        let source = self.redis_source().take();
        if let Some(source) = source {
            py.detach(move || source.stop());
        }
    }

    /// Replaces the release rules with a Nepxion rule (XML or JSON), keeping groups and
    /// nodes. Atomic, like `reload`; warnings as in `from_nepxion`. Returns the generation.
    fn reload_nepxion(&self, py: Python<'_>, text: String) -> PyResult<u64> {
        let (generation, warnings) = py
            .detach(|| self.inner.reload_nepxion(&text))
            .map_err(|e| to_py(py, &e))?;
        warn_nepxion(py, &warnings)?;
        Ok(generation)
    }

    /// Routes the request of an ASGI `http` or `websocket` scope (peer = `scope["client"]`).
    fn decide_asgi(&self, scope: &Bound<'_, PyAny>) -> PyResult<PyDecision> {
        let req = PyRequest::from_asgi(scope)?;
        Ok(self.decision(scope.py(), self.inner.decide(&req)))
    }

    /// Routes the request of a WSGI environ (peer = `environ["REMOTE_ADDR"]`).
    fn decide_wsgi(&self, environ: &Bound<'_, PyAny>) -> PyResult<PyDecision> {
        let req = PyRequest::from_wsgi(environ)?;
        Ok(self.decision(environ.py(), self.inner.decide(&req)))
    }

    /// Explains the request of an ASGI scope.
    fn explain_asgi(&self, scope: &Bound<'_, PyAny>) -> PyResult<PyExplanation> {
        let req = PyRequest::from_asgi(scope)?;
        Ok(PyExplanation {
            inner: self.inner.explain(&req),
        })
    }

    /// Explains the request of a WSGI environ.
    fn explain_wsgi(&self, environ: &Bound<'_, PyAny>) -> PyResult<PyExplanation> {
        let req = PyRequest::from_wsgi(environ)?;
        Ok(PyExplanation {
            inner: self.inner.explain(&req),
        })
    }

    /// Picks the instance of `service` (a group of the spec) that an outgoing call made while
    /// handling the inbound request goes to, honouring this service's `release` and the
    /// inbound routing headers when the peer is trusted. The inbound request is given as to
    /// `decide` (no arguments: an empty request, as outside any inbound request).
    #[pyo3(
        signature = (service, *args, **kwargs),
        text_signature = "(self, /, service, peer_ip=None, *, headers=None, cookies=None, cookie_header=None, query=None, path=None, method=None, host=None)"
    )]
    fn select_instance(
        &self,
        service: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PySelection> {
        let func = "Engine.select_instance()";
        with_request(func, service, args, kwargs, |name, req| {
            PySelection::select(&self.inner, name, req)
        })
    }

    /// Explains `select_instance` (same arguments): the values in force and where they came
    /// from, then every filter step. Counts nothing.
    #[pyo3(
        signature = (service, *args, **kwargs),
        text_signature = "(self, /, service, peer_ip=None, *, headers=None, cookies=None, cookie_header=None, query=None, path=None, method=None, host=None)"
    )]
    fn explain_instance(
        &self,
        service: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<PyInstanceExplanation> {
        let func = "Engine.explain_instance()";
        with_request(func, service, args, kwargs, |name, req| {
            PyInstanceExplanation::explain(&self.inner, name, req)
        })
    }

    /// Replaces the rules with a spec given as text. Atomic: on error (`ConfigError`) the old
    /// rules keep serving. Returns the new generation.
    #[pyo3(signature = (text, format = None), text_signature = "(self, /, text, format='yaml')")]
    fn reload(&self, py: Python<'_>, text: String, format: Option<String>) -> PyResult<u64> {
        let format = format_of(format.as_deref().unwrap_or("yaml"))?;
        py.detach(|| self.inner.reload_str(&text, format))
            .map_err(|e| to_py(py, &e))
    }

    /// How the candidate spec `text` would route `requests` (a list of request descriptions:
    /// dicts with `peer`, `method`, `path`, `query`, `host`, `headers`, `cookies`, as
    /// `explain` takes) compared with the running one, without applying it: a dict with
    /// `requests`, `moved`, `moved_share`, `cells` (the group transition matrix), `rules` and
    /// `lints` (the candidate's warnings, as `lints()` gives them).
    /// A candidate that does not compile raises `ConfigError` with its line and column.
    /// `requests=None` uses the live sample (see `set_sampling`).
    #[pyo3(
        signature = (text, requests = None, format = None),
        text_signature = "(self, /, text, requests=None, format='yaml')"
    )]
    fn what_if<'py>(
        &self,
        py: Python<'py>,
        text: String,
        requests: Option<&Bound<'py, PyAny>>,
        format: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let format = format_of(format.as_deref().unwrap_or("yaml"))?;
        let requests: Vec<gray_core::SimpleRequest> = match requests {
            Some(r) => py_to_serde(r, "requests")?,
            None => self.inner.sample(),
        };
        let report = py
            .detach(|| {
                let spec = gray_core::Spec::from_str(&text, format)?;
                self.inner
                    .what_if(spec, &requests)
                    .map(|r| r.located_in(&text, format))
                    .map_err(|e| e.located_in(&text, format))
            })
            .map_err(|e| to_py(py, &e))?;
        json_to_py(py, &report)
    }

    /// Keeps one routed request in `every` in a live sample for `what_if` (at most `capacity`
    /// requests and `max_bytes` bytes; only the fields the config reads). `every=None` turns
    /// sampling off and drops the sample. A zero raises `ConfigError`.
    #[pyo3(signature = (every, capacity = 10_000, max_bytes = 8_388_608))]
    fn set_sampling(
        &self,
        py: Python<'_>,
        every: Option<u32>,
        capacity: usize,
        max_bytes: usize,
    ) -> PyResult<()> {
        let config = every.map(|every| gray_core::sample::SampleConfig {
            every,
            capacity,
            max_bytes,
        });
        self.inner.set_sampling(config).map_err(|e| to_py(py, &e))
    }

    /// The live sample, oldest first: request descriptions as `explain` takes them.
    fn sample<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.sample())
    }

    /// The live sample's state: `config` (or None when off), `kept`, `bytes`, `seen`,
    /// `sampled`.
    fn sample_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.sample_stats())
    }

    /// The enabled rules in order: dicts with `id`, `description`, `condition` (in words),
    /// `group`, `requests`, `failures`, `share` and `last_hit_unix_ms` (noted by `tick` and by
    /// each call).
    fn rules<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.rules())
    }

    /// Warnings about the running spec (it applied; these are configs that probably do not do
    /// what was meant): a list of dicts with `kind` (`shadowed_rule`, `overlapping_ip_sets`,
    /// `shared_percent_salt`, `empty_group`, `likely_typo`), `rule`, `message`, `path`, `file`,
    /// `line` and `column`.
    fn lints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.lints())
    }

    /// Replaces the rules with a spec file. Atomic, like `reload`.
    fn reload_file(&self, py: Python<'_>, path: PathBuf) -> PyResult<u64> {
        py.detach(|| self.inner.reload_file(&path))
            .map_err(|e| to_py(py, &e))
    }

    /// Adds a node to a group. Returns the new generation.
    #[pyo3(signature = (group, address, weight = 1, *, drain = false, max_fails = None, fail_timeout = None, metadata = None))]
    #[allow(clippy::too_many_arguments)]
    fn add_node(
        &self,
        py: Python<'_>,
        group: String,
        address: String,
        weight: u32,
        drain: bool,
        max_fails: Option<u32>,
        fail_timeout: Option<&Bound<'_, PyAny>>,
        metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let mut node = NodeSpec::new(&address).with_weight(weight);
        node.drain = drain;
        node.max_fails = max_fails;
        node.fail_timeout = fail_timeout.map(self::fail_timeout).transpose()?;
        if let Some(m) = metadata.filter(|m| !m.is_none()) {
            node.metadata = py_to_serde::<NodeMetadata>(m, "metadata")?;
        }
        py.detach(|| self.inner.add_node(&group, node))
            .map_err(|e| to_py(py, &e))
    }

    /// Removes a node from a group. Returns the new generation.
    fn remove_node(&self, py: Python<'_>, group: String, address: String) -> PyResult<u64> {
        py.detach(|| self.inner.remove_node(&group, &address))
            .map_err(|e| to_py(py, &e))
    }

    /// Sets a node's weight (0..=10000; 0 = never chosen). Returns the new generation.
    fn set_weight(
        &self,
        py: Python<'_>,
        group: String,
        address: String,
        weight: u32,
    ) -> PyResult<u64> {
        py.detach(|| self.inner.set_weight(&group, &address, weight))
            .map_err(|e| to_py(py, &e))
    }

    /// Starts (`drain=True`) or ends draining a node. Returns the new generation.
    #[pyo3(signature = (group, address, drain = true))]
    fn drain(&self, py: Python<'_>, group: String, address: String, drain: bool) -> PyResult<u64> {
        py.detach(|| self.inner.drain(&group, &address, drain))
            .map_err(|e| to_py(py, &e))
    }

    /// The nodes of a group with weight, health and counters, as dicts.
    fn nodes<'py>(&self, py: Python<'py>, group: String) -> PyResult<Bound<'py, PyAny>> {
        let status = self.inner.nodes(&group).map_err(|e| to_py(py, &e))?;
        json_to_py(py, &status.nodes)
    }

    /// Every group's status (name, select, fallback, counters, nodes), in name order.
    fn groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.groups())
    }

    /// Records the outcome of the request `decision` routed (passive health, counters),
    /// classified by the caller: `ok=False` is a failure whatever the group's `fail_on` says.
    /// `record` / `record_error` let the group's `fail_on` decide instead.
    fn report(&self, decision: &PyDecision, ok: bool) {
        self.inner.report(&decision.inner, ok);
    }

    /// `report` for a node named by group and address.
    fn report_node(
        &self,
        py: Python<'_>,
        group: String,
        address: String,
        ok: bool,
    ) -> PyResult<()> {
        self.inner
            .report_node(&group, &address, ok)
            .map_err(|e| to_py(py, &e))
    }

    /// Records the HTTP status the node answered the request `decision` routed with; the
    /// served group's `fail_on` decides whether it is a failure (by default no status is).
    /// With `latency` (seconds) it is also observed in the node's latency histogram and in the
    /// live windows (`traffic()`).
    #[pyo3(signature = (decision, status, latency = None))]
    fn record(
        &self,
        decision: &PyDecision,
        status: &Bound<'_, PyAny>,
        latency: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = status_outcome(status)?;
        record_with(&self.inner, decision, outcome, latency_of(latency)?);
        Ok(())
    }

    /// Records that the request `decision` routed failed without a response: `kind` is
    /// `"connect"` (connecting failed), `"timeout"` (connecting or the response headers timed
    /// out) or `"reset"` (the node broke the exchange). The group's `fail_on` decides
    /// (`error` covers connect and reset, `timeout` timeouts; both by default).
    #[pyo3(signature = (decision, kind, latency = None))]
    fn record_error(
        &self,
        decision: &PyDecision,
        kind: &Bound<'_, PyAny>,
        latency: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = error_outcome(kind)?;
        record_with(&self.inner, decision, outcome, latency_of(latency)?);
        Ok(())
    }

    /// `record` for a node named by group and address.
    #[pyo3(signature = (group, address, status, latency = None))]
    fn record_node(
        &self,
        py: Python<'_>,
        group: String,
        address: String,
        status: &Bound<'_, PyAny>,
        latency: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = status_outcome(status)?;
        self.record_node_with(py, &group, &address, outcome, latency_of(latency)?)
    }

    /// `record_error` for a node named by group and address.
    #[pyo3(signature = (group, address, kind, latency = None))]
    fn record_node_error(
        &self,
        py: Python<'_>,
        group: String,
        address: String,
        kind: &Bound<'_, PyAny>,
        latency: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let outcome = error_outcome(kind)?;
        self.record_node_with(py, &group, &address, outcome, latency_of(latency)?)
    }

    /// Judges the rollouts with an `analysis` section whose interval ended and moves them
    /// (advance, promote, abort, pause). Call it every second or so from a thread.
    fn tick(&self, py: Python<'_>) {
        let engine = self.inner.clone();
        py.detach(move || engine.tick());
    }

    /// Every rollout with an `analysis` section: state, steps, failing intervals, last
    /// judgement and history.
    fn rollouts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.rollouts())
    }

    /// `"pause"`, `"resume"`, `"promote"` or `"abort"` the judged rollout of `group`; returns
    /// its status.
    fn rollout_action<'py>(
        &self,
        py: Python<'py>,
        group: String,
        action: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !action.is_instance_of::<PyString>() {
            return Err(type_error(
                "action",
                "'pause', 'resume', 'promote' or 'abort'",
                action,
            ));
        }
        let action = match action.extract::<String>()?.as_str() {
            "pause" => RolloutAction::Pause,
            "resume" => RolloutAction::Resume,
            "promote" => RolloutAction::Promote,
            "abort" => RolloutAction::Abort,
            other => {
                return Err(PyValueError::new_err(format!(
                    "action must be 'pause', 'resume', 'promote' or 'abort', not {other:?}"
                )))
            }
        };
        let status = self
            .inner
            .rollout_action(&group, action)
            .map_err(|e| to_py(py, &e))?;
        json_to_py(py, &status)
    }

    /// The live windows of every group, node and rule over the last two minutes: requests,
    /// errors (5xx, connect errors, resets, timeouts), error rate and p50/p90/p99 latency in
    /// milliseconds, from the outcomes recorded with a latency.
    fn traffic<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.inner.traffic())
    }

    /// All counters in the Prometheus text exposition format (with the Redis source's, for an
    /// engine made by `from_redis`).
    fn metrics(&self) -> String {
        let mut out = self.inner.metrics();
        if let Some(source) = self.redis_source().as_ref() {
            out.push_str(&source.metrics());
        }
        out
    }

    /// The running spec as `"yaml"` or `"json"` text.
    #[pyo3(signature = (format = None), text_signature = "(self, /, format='yaml')")]
    fn spec(&self, format: Option<String>) -> PyResult<String> {
        let snap = self.inner.snapshot();
        match format_of(format.as_deref().unwrap_or("yaml"))? {
            Format::Json => Ok(snap.spec().to_json()),
            Format::Yaml => Ok(snap.spec().to_yaml()),
            _ => Err(PyValueError::new_err("spec() writes 'yaml' or 'json'")),
        }
    }

    /// The generation of the running snapshot (1, then +1 per change).
    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation()
    }

    fn __repr__(&self) -> String {
        format!("<Engine generation={}>", self.inner.generation())
    }
}
