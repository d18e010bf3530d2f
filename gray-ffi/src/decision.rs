//! Deciding and explaining, and reading a decision.

use std::ffi::{c_char, CString};
use std::ptr;
use std::sync::OnceLock;

use gray_core::release::RouteKind;
use gray_core::{Decision, RequestView};

use crate::c_string::to_c_string;
use crate::engine::{engine_ref, GrayEngine};
use crate::plan::{GrayForward, Plan};
use crate::request::{CRequest, GrayRequest};
use crate::status::{self, Fail, GrayStatus};
use crate::text::{give_json, put, put_opt, returning};

/// A routing dimension whose `n-d-*` value a decision carries: one of the `GRAY_ROUTE_*`
/// values.
pub type GrayRouteKind = u32;

/// `n-d-version`: allowed versions.
pub const GRAY_ROUTE_VERSION: GrayRouteKind = 0;
/// `n-d-region`: allowed regions.
pub const GRAY_ROUTE_REGION: GrayRouteKind = 1;
/// `n-d-address`: allowed addresses.
pub const GRAY_ROUTE_ADDRESS: GrayRouteKind = 2;
/// `n-d-version-weight`: instance weights by version.
pub const GRAY_ROUTE_VERSION_WEIGHT: GrayRouteKind = 3;
/// `n-d-region-weight`: instance weights by region.
pub const GRAY_ROUTE_REGION_WEIGHT: GrayRouteKind = 4;

/// What gray decided for one request. Opaque; made by [`gray_engine_decide`], freed by
/// [`gray_decision_free`]. Every string read from it is borrowed and lives until the decision
/// is freed. A decision answers from the rules it was made with, even after a reload, and may
/// be read from any thread (freed once).
pub struct GrayDecision {
    pub(crate) decision: Decision,
    /// The decision's texts as C strings, each made on its first read.
    strings: Strings,
    /// What a proxy does to the request (made by `gray_engine_decide_raw`; empty otherwise).
    /// It borrows `decision`'s snapshot, which outlives it here.
    plan: Plan,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<GrayDecision>();
};

#[derive(Default)]
struct Strings {
    group: OnceLock<CString>,
    requested_group: OnceLock<CString>,
    node: OnceLock<Option<CString>>,
    rule: OnceLock<Option<CString>>,
    headers: OnceLock<Vec<(CString, CString)>>,
    routes: OnceLock<Vec<(Option<CString>, Option<CString>)>>,
}

impl GrayDecision {
    /// Wraps `decision`; no string is made yet.
    pub(crate) fn new(decision: Decision) -> GrayDecision {
        GrayDecision {
            decision,
            strings: Strings::default(),
            plan: Plan::default(),
        }
    }

    /// Works out what a proxy does to `inbound`, the request this decision routed, and
    /// returns it as C data borrowed from `self` (which must not move afterwards: call it on
    /// the boxed decision handed to the caller).
    pub(crate) fn plan_for(&mut self, inbound: &dyn RequestView) -> GrayForward {
        self.plan = Plan::new(&self.decision, inbound);
        self.plan.forward(&self.decision)
    }

    fn group(&self) -> &CString {
        self.strings
            .group
            .get_or_init(|| to_c_string(self.decision.group()))
    }

    fn requested_group(&self) -> &CString {
        self.strings
            .requested_group
            .get_or_init(|| to_c_string(self.decision.requested_group()))
    }

    fn node(&self) -> Option<&CString> {
        self.strings
            .node
            .get_or_init(|| self.decision.node_address().map(to_c_string))
            .as_ref()
    }

    fn rule(&self) -> Option<&CString> {
        self.strings
            .rule
            .get_or_init(|| self.decision.rule_id().map(to_c_string))
            .as_ref()
    }

    fn headers(&self) -> &[(CString, CString)] {
        self.strings.headers.get_or_init(|| {
            self.decision
                .headers()
                .map(|(k, v)| (to_c_string(k), to_c_string(v)))
                .collect()
        })
    }

    fn routes(&self) -> &[(Option<CString>, Option<CString>)] {
        self.strings.routes.get_or_init(|| {
            let c = |s: Option<&str>| s.map(to_c_string);
            let d = &self.decision;
            RouteKind::ALL
                .iter()
                .map(|k| (c(d.route(*k)), c(d.route_id(*k))))
                .collect()
        })
    }
}

/// The decision behind `p`.
///
/// # Safety
///
/// `p` is NULL or a decision from [`gray_engine_decide`] not yet freed.
pub(crate) unsafe fn decision<'a>(p: *const GrayDecision) -> Result<&'a GrayDecision, Fail> {
    // SAFETY: by this function's contract `p` is NULL or live; `as_ref` checks NULL.
    unsafe { p.as_ref() }.ok_or_else(|| Fail::null("decision"))
}

/// Decides where `request` goes. On success `*out` is the decision (free it with
/// [`gray_decision_free`]); on failure (`GRAY_ERR_NULL`, `GRAY_ERR_UTF8` naming the field,
/// `GRAY_ERR_ARG` for a peer that is not an address) `*out` is NULL. Lock-free; copies nothing
/// from the request.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `request` is NULL or points to a `GrayRequest` whose
/// non-NULL pointers are valid for the call; `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_decide(
    engine: *const GrayEngine,
    request: *const GrayRequest,
    out: *mut *mut GrayDecision,
) -> GrayStatus {
    let result = || {
        // SAFETY: by this function's contract.
        let (engine, view) = unsafe { (engine_ref(engine)?, view(request)?) };
        Ok(Box::into_raw(Box::new(GrayDecision::new(
            engine.decide(&view),
        ))))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}

/// The checked view of `request`.
///
/// # Safety
///
/// As for [`gray_engine_decide`]'s `request`.
unsafe fn view<'a>(request: *const GrayRequest) -> Result<CRequest<'a>, Fail> {
    // SAFETY: NULL or a valid request by this function's contract; `as_ref` checks NULL.
    let request = unsafe { request.as_ref() }.ok_or_else(|| Fail::null("request"))?;
    // SAFETY: the request's pointers are valid for the call by this function's contract.
    unsafe { CRequest::new(request) }
}

/// Explains how `request` is routed, as JSON text (rules evaluated with each condition's
/// outcome and the value it saw, the client IP and how it was found, groups tried, the node
/// and headers). Counts nothing. `*out` is freed with
/// [`gray_string_free`](crate::gray_string_free); NULL on failure.
///
/// # Safety
///
/// As for [`gray_engine_decide`].
#[no_mangle]
pub unsafe extern "C" fn gray_engine_explain(
    engine: *const GrayEngine,
    request: *const GrayRequest,
    out: *mut *mut c_char,
) -> GrayStatus {
    let result = || {
        // SAFETY: by this function's contract.
        let (engine, view) = unsafe { (engine_ref(engine)?, view(request)?) };
        give_json(serde_json::to_string(&engine.explain(&view)))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}

/// Frees a decision. NULL is ignored.
///
/// # Safety
///
/// `decision` is NULL or a decision from [`gray_engine_decide`] that was not freed yet and
/// that no other thread reads any more.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_free(decision: *mut GrayDecision) {
    status::value((), || {
        if !decision.is_null() {
            // SAFETY: made by `Box::into_raw` in `gray_engine_decide`, freed once, by this
            // function's contract.
            drop(unsafe { Box::from_raw(decision) });
        }
        Ok(())
    })
}

/// Reads a string of a decision: `pick` of its strings, or NULL (NULL `decision`: also the
/// last error).
///
/// # Safety
///
/// `d` is NULL or a live decision.
unsafe fn read(
    d: *const GrayDecision,
    pick: impl FnOnce(&GrayDecision) -> Option<&CString>,
) -> *const c_char {
    status::value(ptr::null(), || {
        // SAFETY: by this function's contract.
        let d = unsafe { decision(d) }?;
        Ok(pick(d).map_or(ptr::null(), |s| s.as_ptr()))
    })
}

/// The group serving the request (the decided group, or its fallback). NULL only when
/// `decision` is NULL. Borrowed until [`gray_decision_free`].
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_group(decision: *const GrayDecision) -> *const c_char {
    // SAFETY: by this function's contract.
    unsafe { read(decision, |d| Some(d.group())) }
}

/// The group the rules chose, before any fallback. NULL only when `decision` is NULL.
/// Borrowed until [`gray_decision_free`].
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_requested_group(
    decision: *const GrayDecision,
) -> *const c_char {
    // SAFETY: by this function's contract.
    unsafe { read(decision, |d| Some(d.requested_group())) }
}

/// The picked node's address (`ip:port` or `host:port`), or NULL when no group had an
/// available node (answer 503) or `decision` is NULL. Borrowed until [`gray_decision_free`].
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_node_address(
    decision: *const GrayDecision,
) -> *const c_char {
    // SAFETY: by this function's contract.
    unsafe { read(decision, GrayDecision::node) }
}

/// The id of the matched rule, or NULL when no rule matched (the default group) or
/// `decision` is NULL. Borrowed until [`gray_decision_free`].
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_rule_id(decision: *const GrayDecision) -> *const c_char {
    // SAFETY: by this function's contract.
    unsafe { read(decision, GrayDecision::rule) }
}

/// Reads a flag or number of a decision: `f` of it, or `fallback` for a NULL `decision`.
///
/// # Safety
///
/// `d` is NULL or a live decision.
unsafe fn flag<T>(d: *const GrayDecision, fallback: T, f: impl FnOnce(&Decision) -> T) -> T {
    // SAFETY: by this function's contract.
    status::value(fallback, || Ok(f(&unsafe { decision(d) }?.decision)))
}

/// True when the request goes to a fallback group ([`gray_decision_group`] differs from
/// [`gray_decision_requested_group`]); false when `decision` is NULL.
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_is_fallback(decision: *const GrayDecision) -> bool {
    // SAFETY: by this function's contract.
    unsafe { flag(decision, false, Decision::is_fallback) }
}

/// True when neither the decided group nor its fallbacks had an available node (answer 503;
/// [`gray_engine_explain`] says why); false when `decision` is NULL.
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_no_upstream(decision: *const GrayDecision) -> bool {
    // SAFETY: by this function's contract.
    unsafe { flag(decision, false, Decision::no_upstream) }
}

/// The generation of the rules that decided; 0 when `decision` is NULL.
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_generation(decision: *const GrayDecision) -> u64 {
    // SAFETY: by this function's contract.
    unsafe { flag(decision, 0, Decision::generation) }
}

/// The number of headers to set on the forwarded request (the rule's `set_headers` and routes,
/// the release's `n-d-*` values, built-in headers); 0 when `decision` is NULL.
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_header_count(decision: *const GrayDecision) -> usize {
    status::value(0, || {
        // SAFETY: by this function's contract.
        Ok(unsafe { self::decision(decision) }?.headers().len())
    })
}

/// Header `index` (0-based, below [`gray_decision_header_count`]) to set on the forwarded
/// request: `*name` and `*value`, borrowed until [`gray_decision_free`]. `GRAY_ERR_ARG` when
/// `index` is out of range.
///
/// # Safety
///
/// `decision` is NULL or a live decision; `name` and `value` are NULL or writable for one
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_header(
    decision: *const GrayDecision,
    index: usize,
    name: *mut *const c_char,
    value: *mut *const c_char,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: by this function's contract.
        let d = unsafe { self::decision(decision) }?;
        let headers = d.headers();
        let (k, v) = headers.get(index).ok_or_else(|| {
            Fail::arg(format!(
                "header index {index} out of range ({} headers)",
                headers.len()
            ))
        })?;
        // SAFETY: `name` and `value` are NULL or writable by this function's contract.
        unsafe {
            put(name, "name", k.as_ptr())?;
            put(value, "value", v.as_ptr())
        }
    })
}

/// The release's route for dimension `kind` (`GRAY_ROUTE_*`): `*value` the text of its
/// `n-d-*` header (e.g. `{"svc-a":"1.1"}`) and `*id` the route id chosen, each NULL when the
/// release chose none (an id is also NULL for a value from `defaults`). Both borrowed until
/// [`gray_decision_free`]; either out-pointer may be NULL. `GRAY_ERR_ARG` for an unknown
/// `kind`.
///
/// # Safety
///
/// `decision` is NULL or a live decision; `value` and `id` are NULL or writable for one
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_route(
    decision: *const GrayDecision,
    kind: GrayRouteKind,
    value: *mut *const c_char,
    id: *mut *const c_char,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: `value` and `id` are NULL or writable by this function's contract.
        unsafe {
            put_opt(value, ptr::null());
            put_opt(id, ptr::null());
        }
        // SAFETY: by this function's contract.
        let d = unsafe { self::decision(decision) }?;
        let (v, i) = usize::try_from(kind)
            .ok()
            .and_then(|k| d.routes().get(k))
            .ok_or_else(|| Fail::arg(format!("unknown route kind {kind}")))?;
        let p = |s: &Option<CString>| s.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        // SAFETY: as above.
        unsafe {
            put_opt(value, p(v));
            put_opt(id, p(i));
        }
        Ok(())
    })
}
