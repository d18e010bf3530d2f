//! `Engine.from_redis`: an engine that follows a Redis namespace (see the `gray-redis` crate).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gray_core::Engine;
use gray_redis::{RedisSource, SourceConfig, SourceStatus};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::to_py;
use crate::json::json_to_py;

/// A positive, finite number of seconds.
fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} must be a positive number of seconds, not {secs}"
            ))
        })
}

/// Starts following `namespace` (blocking at most `connect_timeout` on Redis, without the GIL).
pub(crate) fn start(
    py: Python<'_>,
    url: String,
    namespace: String,
    dump: Option<PathBuf>,
    connect_timeout: f64,
    resync_interval: f64,
) -> PyResult<(Arc<Engine>, RedisSource)> {
    let mut config = SourceConfig::new(url, namespace)
        .connect_timeout(seconds("connect_timeout", connect_timeout)?)
        .resync_interval(seconds("resync_interval", resync_interval)?);
    config.dump = dump;
    py.detach(|| RedisSource::start(config))
        .map_err(|e| to_py(py, &e))
}

/// The status as a plain dict (the `RedisStatus` TypedDict of the stubs).
pub(crate) fn status<'py>(py: Python<'py>, st: &SourceStatus) -> PyResult<Bound<'py, PyAny>> {
    json_to_py(
        py,
        &serde_json::json!({
            "namespace": st.namespace,
            "connected": st.connected,
            "in_sync": st.in_sync,
            "origin": st.origin.as_str(),
            "last_applied_generation": st.last_applied_generation,
            "last_error": st.last_error.as_ref().map(|e| e.to_string()),
            "log_id": st.log_id,
            "applied_total": st.applied_total,
            "rejected_total": st.rejected_total,
            "ip_set_members": st.ip_set_members,
        }),
    )
}
