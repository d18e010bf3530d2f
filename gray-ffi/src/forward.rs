//! What a forwarding proxy does with the inbound routing headers (`headers.routing_prefixes`,
//! `n-d-*` by default) of a decided request: gray's rule, so that a proxy written in another
//! language (lua-resty-gray in nginx) strips exactly what the gateway and the tower layer strip.

use std::ffi::c_char;

use gray_core::Decision;

use crate::decision::{decision, GrayDecision};
use crate::status;
use crate::text::GrayStr;

/// True when the request's peer is trusted to send routing headers (`headers.trusted_peers`,
/// or `inbound: keep` without that list); false when `decision` is NULL. When false, a proxy
/// strips every inbound routing header.
///
/// # Safety
///
/// `decision` is NULL or a live decision.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_trusts_inbound(decision: *const GrayDecision) -> bool {
    status::value(false, || {
        // SAFETY: by this function's contract.
        Ok(unsafe { self::decision(decision) }?
            .decision
            .trusts_inbound())
    })
}

/// True when a forwarding proxy passes on the inbound header `name` (`len` bytes, any case,
/// not necessarily NUL-terminated) as it arrived.
/// Headers that are not routing headers always pass; inbound routing headers from untrusted
/// peers never do; from trusted peers, with `inbound: override` they pass unless the decision
/// sets the same name, with `inbound: keep` they pass and win over the decision's value.
///
/// A proxy therefore removes every inbound header for which this is false, then sets each of
/// the decision's headers ([`gray_decision_header`](crate::gray_decision_header)) unless the
/// request still has that header and this is true for it. False when `decision` or `name` is
/// NULL or `name` is not UTF-8 (the last error says which). (Pointer and length rather than a
/// `GrayStr`: LuaJIT compiles calls with scalar arguments only.)
///
/// # Safety
///
/// `decision` is NULL or a live decision; `name` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_forwards_inbound(
    decision: *const GrayDecision,
    name: *const c_char,
    len: usize,
) -> bool {
    // SAFETY: by this function's contract. Prefixes and names compare ignoring case (and `_`
    // as `-`, like nginx's variables).
    unsafe { by_name(decision, name, len, Decision::forward_inbound) }
}

/// True when `name` (`len` bytes, any case) is a routing header of the rules that made the
/// decision (`headers.routing_prefixes`, `n-d-` by default); false when `decision` or `name`
/// is NULL or `name` is not UTF-8. A proxy keeps a trusted inbound routing header instead of
/// setting the decision's value only for these names (`inbound: keep`): the decision's other
/// headers (a rule's `set_headers`) always replace what the client sent.
///
/// # Safety
///
/// `decision` is NULL or a live decision; `name` is NULL or points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn gray_decision_is_routing_header(
    decision: *const GrayDecision,
    name: *const c_char,
    len: usize,
) -> bool {
    // SAFETY: by this function's contract.
    unsafe {
        by_name(decision, name, len, |d, name| {
            d.snapshot().is_routing_header(name)
        })
    }
}

/// `f` of the decision and the header name; false (and the last error) when either is NULL or
/// the name is not UTF-8.
///
/// # Safety
///
/// `decision` is NULL or a live decision; `name` is NULL or points to `len` readable bytes.
unsafe fn by_name(
    decision: *const GrayDecision,
    name: *const c_char,
    len: usize,
    f: impl FnOnce(&Decision, &str) -> bool,
) -> bool {
    status::value(false, || {
        // SAFETY: by this function's contract.
        let d = &unsafe { self::decision(decision) }?.decision;
        // SAFETY: `name` is readable for the call by this function's contract.
        let name = unsafe { GrayStr { ptr: name, len }.text(&|| "name".to_string()) }?;
        let name = name.ok_or_else(|| status::Fail::null("name"))?;
        Ok(f(d, name))
    })
}
