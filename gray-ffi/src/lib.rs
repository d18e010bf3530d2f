//! # gray-ffi
//!
//! The C ABI of gray: `libgray.so` / `libgray.a` and `include/gray.h` (generated from this
//! crate by cbindgen; `GRAY_WRITE_HEADER=1 cargo test -p gray-ffi --test header` rewrites it).
//!
//! * **Engines** — [`gray_engine_from_file`], [`gray_engine_from_str`] (YAML, JSON, TOML or a
//!   Nepxion rule), [`gray_engine_reload_file`], [`gray_engine_reload_str`] (a bad reload
//!   returns an error and the old rules keep serving), [`gray_engine_free`].
//! * **Deciding** — [`gray_engine_decide`] takes a [`GrayRequest`] of plain C data (pointer and
//!   length strings, a header array) and reads it in place; [`gray_engine_explain`] gives JSON.
//!   [`gray_engine_decide_raw`] takes the request head as text (`ngx.req.raw_header()`), parses
//!   it in place, and fills a [`GrayForward`]: everything a proxy does to the request (headers
//!   to set, inbound headers to remove, the node) in one call;
//!   [`gray_engine_explain_raw`] explains such a request.
//! * **Decisions** — group, requested group, fallback, node address, rule id, headers to set,
//!   `n-d-*` routes, which inbound routing headers a proxy forwards
//!   ([`gray_decision_forwards_inbound`]); [`gray_decision_free`].
//! * **Outcomes and administration** — [`gray_engine_report`], [`gray_engine_record`],
//!   [`gray_engine_record_timed`]; add, remove, weigh and drain nodes; node status and
//!   Prometheus metrics.
//! * **Watching a rules file** — [`gray_file_stamp`]: modification time and size, for a
//!   watcher (lua-resty-gray's timer) that reloads when they change.
//! * **Errors** — every fallible call returns a [`GrayStatus`]; [`gray_last_error`] gives the
//!   thread's last message with path, file, line and column.
//!
//! # Ownership
//!
//! What a call hands out is either borrowed for a documented lifetime (a decision's strings
//! live until [`gray_decision_free`]; the last error's until the next failure on the thread)
//! or owned by the caller and freed with its matching call: [`gray_engine_free`],
//! [`gray_decision_free`], [`gray_string_free`]. Inputs are only read during the call.
//!
//! # Safety across the boundary
//!
//! No panic unwinds into C: every entry point catches it and returns `GRAY_ERR_PANIC`. NULL
//! pointers give `GRAY_ERR_NULL` and text that is not UTF-8 gives `GRAY_ERR_UTF8`. An engine
//! is `Send + Sync`: share one between threads; a decision may be read from any thread.
//!
//! ```
//! use std::ffi::CStr;
//! use std::ptr;
//! use gray::*;
//!
//! let spec = c"version: 1
//! groups:
//!   stable: { nodes: [{ address: '127.0.0.1:6002' }] }
//!   canary: { nodes: [{ address: '127.0.0.1:6004' }], fallback: stable }
//! rules:
//!   - { id: c, when: { cookie: { name: canary, regex: 'aaa$' } }, route: canary }
//! default: stable
//! ";
//! let mut engine = ptr::null_mut();
//! // SAFETY: the spec is NUL-terminated; `engine` is writable.
//! let status = unsafe { gray_engine_from_str(spec.as_ptr(), GRAY_FORMAT_YAML, &mut engine, ptr::null_mut()) };
//! assert_eq!(status, GrayStatus::GRAY_OK);
//!
//! let req = GrayRequest { cookie: GrayStr::new("canary=xaaa"), ..GrayRequest::default() };
//! let mut d = ptr::null_mut();
//! // SAFETY: `engine` is live, `req` borrows a literal, `d` is writable.
//! assert_eq!(unsafe { gray_engine_decide(engine, &req, &mut d) }, GrayStatus::GRAY_OK);
//! // SAFETY: `d` is live; the group lives until it is freed.
//! let group = unsafe { CStr::from_ptr(gray_decision_group(d)) };
//! assert_eq!(group.to_str(), Ok("canary"));
//! // SAFETY: each freed once.
//! unsafe {
//!     gray_decision_free(d);
//!     gray_engine_free(engine);
//! }
//! ```

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod admin;
mod c_string;
mod decision;
mod engine;
mod file;
mod forward;
mod head;
mod plan;
mod raw;
mod request;
mod status;
mod text;

pub use admin::{
    gray_engine_add_node, gray_engine_drain, gray_engine_metrics, gray_engine_nodes,
    gray_engine_record, gray_engine_record_timed, gray_engine_remove_node, gray_engine_report,
    gray_engine_set_weight, GrayOutcome, GRAY_OUTCOME_CONNECT_ERROR, GRAY_OUTCOME_RESET,
    GRAY_OUTCOME_TIMEOUT,
};
pub use decision::{
    gray_decision_free, gray_decision_generation, gray_decision_group, gray_decision_header,
    gray_decision_header_count, gray_decision_is_fallback, gray_decision_no_upstream,
    gray_decision_node_address, gray_decision_requested_group, gray_decision_route,
    gray_decision_rule_id, gray_engine_decide, gray_engine_explain, GrayDecision, GrayRouteKind,
    GRAY_ROUTE_ADDRESS, GRAY_ROUTE_REGION, GRAY_ROUTE_REGION_WEIGHT, GRAY_ROUTE_VERSION,
    GRAY_ROUTE_VERSION_WEIGHT,
};
pub use engine::{
    gray_engine_free, gray_engine_from_file, gray_engine_from_str, gray_engine_generation,
    gray_engine_reload_file, gray_engine_reload_str, GrayEngine, GrayFormat, GRAY_FORMAT_JSON,
    GRAY_FORMAT_NEPXION, GRAY_FORMAT_TOML, GRAY_FORMAT_YAML,
};
pub use file::gray_file_stamp;
pub use forward::{
    gray_decision_forwards_inbound, gray_decision_is_routing_header, gray_decision_trusts_inbound,
};
pub use plan::GrayForward;
pub use raw::{gray_engine_decide_raw, gray_engine_explain_raw};
pub use request::{GrayHeader, GrayRequest};
pub use status::{
    gray_last_error, gray_last_error_clear, gray_last_error_message, GrayError, GrayStatus,
};
pub use text::{gray_string_free, GrayStr};
