//! Helpers of `Engine.from_redis` (an engine following a Redis namespace, see `gray-redis`).

use std::time::Duration;

use gray_redis::SourceStatus;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::json::json_to_py;

/// A positive, finite number of seconds.
pub(crate) fn seconds(what: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "{what} must be a positive number of seconds, not {secs}"
            ))
        })
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
