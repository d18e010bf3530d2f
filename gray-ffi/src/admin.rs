//! Outcomes (passive health and counters), node administration, status and metrics.

use std::ffi::c_char;
use std::time::Duration;

use gray_core::spec::NodeSpec;
use gray_core::{Engine, Outcome};

use crate::c_string::give_string;
use crate::decision::GrayDecision;
use crate::engine::{engine_ref, GrayEngine};
use crate::status::{self, Fail, GrayStatus};
use crate::text::{arg_str, give_json, put_opt, returning};

/// What happened to a forwarded request: an HTTP status (0..=65535), or one of the negative
/// `GRAY_OUTCOME_*` values.
pub type GrayOutcome = i32;

/// Connecting to the node failed (refused, unreachable, DNS).
pub const GRAY_OUTCOME_CONNECT_ERROR: GrayOutcome = -1;
/// Connecting, or waiting for the response headers, timed out.
pub const GRAY_OUTCOME_TIMEOUT: GrayOutcome = -2;
/// The node broke the exchange after the connection was made (reset, closed early, invalid
/// response).
pub const GRAY_OUTCOME_RESET: GrayOutcome = -3;

fn outcome(o: GrayOutcome) -> Result<Outcome, Fail> {
    match o {
        GRAY_OUTCOME_CONNECT_ERROR => Ok(Outcome::ConnectError),
        GRAY_OUTCOME_TIMEOUT => Ok(Outcome::Timeout),
        GRAY_OUTCOME_RESET => Ok(Outcome::Reset),
        s => u16::try_from(s)
            .map(Outcome::Status)
            .map_err(|_| Fail::arg(format!("unknown outcome {s}"))),
    }
}

/// Runs `f` with the engine and the decision behind the pointers.
///
/// # Safety
///
/// `e` is NULL or a live engine; `d` is NULL or a live decision.
unsafe fn with_decision(
    e: *const GrayEngine,
    d: *const GrayDecision,
    f: impl FnOnce(&Engine, &gray_core::Decision) -> Result<(), Fail>,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: by this function's contract; `as_ref` checks NULL.
        let (engine, d) = unsafe { (engine_ref(e)?, d.as_ref()) };
        let d = d.ok_or_else(|| Fail::null("decision"))?;
        f(engine, &d.decision)
    })
}

/// Reports how the request a decision routed went, classified by the caller: `ok == false`
/// is a failure (counted for the group, node and rule; may eject the node after `max_fails`
/// within `fail_timeout`), whatever the group's `fail_on` says. Does nothing for a decision
/// without a node.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `decision` is NULL or a live decision of that engine.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_report(
    engine: *const GrayEngine,
    decision: *const GrayDecision,
    ok: bool,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe {
        with_decision(engine, decision, |e, d| {
            e.report(d, ok);
            Ok(())
        })
    }
}

/// Records what happened to the request a decision routed (`outcome`: an HTTP status or a
/// `GRAY_OUTCOME_*` value), classified by the serving group's `fail_on` (by default connect
/// errors, resets and timeouts are failures and no status is). `GRAY_ERR_ARG` for an
/// outcome below -3 or above 65535.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `decision` is NULL or a live decision of that engine.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_record(
    engine: *const GrayEngine,
    decision: *const GrayDecision,
    outcome: GrayOutcome,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe {
        with_decision(engine, decision, |e, d| {
            e.record(d, self::outcome(outcome)?);
            Ok(())
        })
    }
}

/// [`gray_engine_record`] with the request's latency in microseconds (from sending it
/// upstream to the end of the response headers, or to the failure), also observed in the
/// node's latency histogram and live windows.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `decision` is NULL or a live decision of that engine.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_record_timed(
    engine: *const GrayEngine,
    decision: *const GrayDecision,
    outcome: GrayOutcome,
    latency_us: u64,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe {
        with_decision(engine, decision, |e, d| {
            e.record_timed(
                d,
                self::outcome(outcome)?,
                Duration::from_micros(latency_us),
            );
            Ok(())
        })
    }
}

/// Runs an admin change named by group and node address, storing the new generation.
///
/// # Safety
///
/// `e` is NULL or a live engine; `group` and `address` are NULL or NUL-terminated; `generation`
/// is NULL or writable.
unsafe fn change(
    e: *const GrayEngine,
    group: *const c_char,
    address: *const c_char,
    generation: *mut u64,
    f: impl FnOnce(&Engine, &str, &str) -> gray_core::Result<u64>,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: by this function's contract.
        let (engine, group, address) = unsafe {
            (
                engine_ref(e)?,
                arg_str(group, "group")?,
                arg_str(address, "address")?,
            )
        };
        let g = f(engine, group, address)?;
        // SAFETY: `generation` is NULL or writable by this function's contract.
        unsafe { put_opt(generation, g) };
        Ok(())
    })
}

/// Adds a node (`ip:port` or `host:port`, weight 0..=10000) to a group. `*generation` (when
/// not NULL) receives the new generation. `GRAY_ERR_UNKNOWN_GROUP`, or `GRAY_ERR_CONFIG` for
/// a duplicate address or a weight out of range.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `group` and `address` are NULL or NUL-terminated;
/// `generation` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_add_node(
    engine: *const GrayEngine,
    group: *const c_char,
    address: *const c_char,
    weight: u32,
    generation: *mut u64,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe {
        change(engine, group, address, generation, |e, g, a| {
            e.add_node(g, NodeSpec::new(a).with_weight(weight))
        })
    }
}

/// Removes a node from a group; requests already routed to it finish normally.
/// `GRAY_ERR_UNKNOWN_GROUP` or `GRAY_ERR_UNKNOWN_NODE` when it is not there.
///
/// # Safety
///
/// As for [`gray_engine_add_node`].
#[no_mangle]
pub unsafe extern "C" fn gray_engine_remove_node(
    engine: *const GrayEngine,
    group: *const c_char,
    address: *const c_char,
    generation: *mut u64,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe { change(engine, group, address, generation, Engine::remove_node) }
}

/// Sets a node's weight (0..=10000; 0 = never chosen).
///
/// # Safety
///
/// As for [`gray_engine_add_node`].
#[no_mangle]
pub unsafe extern "C" fn gray_engine_set_weight(
    engine: *const GrayEngine,
    group: *const c_char,
    address: *const c_char,
    weight: u32,
    generation: *mut u64,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe {
        change(engine, group, address, generation, |e, g, a| {
            e.set_weight(g, a, weight)
        })
    }
}

/// Starts (`drain == true`) or ends draining a node: it finishes what it has and gets no new
/// requests.
///
/// # Safety
///
/// As for [`gray_engine_add_node`].
#[no_mangle]
pub unsafe extern "C" fn gray_engine_drain(
    engine: *const GrayEngine,
    group: *const c_char,
    address: *const c_char,
    drain: bool,
    generation: *mut u64,
) -> GrayStatus {
    // SAFETY: by this function's contract.
    unsafe {
        change(engine, group, address, generation, |e, g, a| {
            e.drain(g, a, drain)
        })
    }
}

/// The status of a group and its nodes as JSON (`{"name", "available", "requests",
/// "failures", "nodes": [{"address", "weight", "drain", "health", ...}], ...}`). `*out` is freed with
/// [`gray_string_free`](crate::gray_string_free); NULL on failure (`GRAY_ERR_UNKNOWN_GROUP`).
///
/// # Safety
///
/// `engine` is NULL or a live engine; `group` is NULL or NUL-terminated; `out` is NULL or
/// writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_nodes(
    engine: *const GrayEngine,
    group: *const c_char,
    out: *mut *mut c_char,
) -> GrayStatus {
    let result = || {
        // SAFETY: by this function's contract.
        let (engine, group) = unsafe { (engine_ref(engine)?, arg_str(group, "group")?) };
        give_json(serde_json::to_string(&engine.nodes(group)?))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}

/// All counters in the Prometheus text exposition format (generation, rule, group and node
/// requests and failures, node health, weights, latency histograms). `*out` is freed with
/// [`gray_string_free`](crate::gray_string_free); NULL on failure.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_metrics(
    engine: *const GrayEngine,
    out: *mut *mut c_char,
) -> GrayStatus {
    let result = || {
        // SAFETY: by this function's contract.
        Ok(give_string(&unsafe { engine_ref(engine) }?.metrics()))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}
