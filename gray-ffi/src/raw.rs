//! Deciding from a request head given as text ([`gray_engine_decide_raw`]): gray parses the
//! request line and the headers itself, in place, and works out what the proxy does to the
//! request ([`GrayForward`]) in the same call.

use std::ffi::c_char;
use std::net::IpAddr;

use gray_core::{Location, RequestView};

use crate::decision::GrayDecision;
use crate::engine::{engine_ref, GrayEngine};
use crate::head::{self, Head, HeadError};
use crate::plan::GrayForward;
use crate::request::{each_header, each_value, CRequest, GrayRequest};
use crate::status::{Fail, GrayStatus};
use crate::text::{give_json, put_opt, returning};

/// A request read from a head, with the fields a [`GrayRequest`] gives taking precedence.
#[derive(Debug)]
struct RawRequest<'a> {
    given: CRequest<'a>,
    head: Head<'a>,
    /// The host: given, the absolute-form target's authority, or the first `Host` header.
    host: Option<&'a str>,
}

impl<'a> RawRequest<'a> {
    fn new(given: CRequest<'a>, head: Head<'a>) -> RawRequest<'a> {
        let mut r = RawRequest {
            host: None,
            given,
            head,
        };
        r.host = r.given.host.or(r.head.authority).or_else(|| {
            let mut first = None;
            each_value(None, r.headers(), "host", &mut |v| {
                first = Some(v);
                false
            });
            first
        });
        r
    }

    /// The head's headers, then the given ones.
    fn headers(&self) -> impl Iterator<Item = (&'a str, &'a str)> + '_ {
        self.head
            .headers()
            .iter()
            .copied()
            .chain(self.given.pairs())
    }
}

impl RequestView for RawRequest<'_> {
    fn peer_ip(&self) -> Option<IpAddr> {
        self.given.peer
    }

    fn method(&self) -> &str {
        self.given.method.or(self.head.method).unwrap_or("GET")
    }

    fn path(&self) -> &str {
        self.given.path.or(self.head.path).unwrap_or("/")
    }

    fn query(&self) -> Option<&str> {
        if self.given.path.is_some() {
            self.given.query
        } else {
            self.given.query.or(self.head.query)
        }
    }

    fn for_each_header<'b>(&'b self, name: &str, f: &mut dyn FnMut(&'b str) -> bool) {
        each_value(self.given.cookie, self.headers(), name, f);
    }

    fn all_headers<'b>(&'b self, f: &mut dyn FnMut(&'b str, &'b str)) -> bool {
        each_header(self.given.cookie, self.headers(), f)
    }

    fn host(&self) -> Option<&str> {
        self.host
    }

    fn cookies_in_headers(&self) -> bool {
        // The `cookie` field and every `Cookie` line, through `for_each_header("cookie")`.
        true
    }
}

impl From<HeadError> for Fail {
    fn from(e: HeadError) -> Fail {
        let status = if e.problem.is_utf8() {
            GrayStatus::GRAY_ERR_UTF8
        } else {
            GrayStatus::GRAY_ERR_ARG
        };
        Fail::located(
            status,
            e.to_string(),
            e.problem.to_string(),
            Location::new("head", Some(e.line), Some(e.column)),
        )
    }
}

/// The view of `request` (NULL: every field absent) and the `len` bytes at `head`.
///
/// # Safety
///
/// `request` is NULL or a request whose non-NULL pointers are valid for `'a`; `head` is NULL
/// or readable for `len` bytes during `'a`; neither changes during `'a`.
unsafe fn raw_view<'a>(
    request: *const GrayRequest,
    head: *const c_char,
    len: usize,
) -> Result<RawRequest<'a>, Fail> {
    if head.is_null() {
        return Err(Fail::null("head"));
    }
    // SAFETY: not NULL and readable for `len` bytes during `'a`, by this function's contract.
    let text = unsafe { std::slice::from_raw_parts(head.cast::<u8>(), len) };
    // SAFETY: NULL or a valid request, by this function's contract; `as_ref` checks NULL.
    let given = match unsafe { request.as_ref() } {
        None => CRequest::empty(),
        // SAFETY: the request's pointers are valid for `'a` by this function's contract.
        Some(r) => unsafe { CRequest::new(r) }?,
    };
    Ok(RawRequest::new(given, head::parse(text)?))
}

/// Decides where a request goes from its head as text: `head_len` bytes at `head`, not
/// NUL-terminated, such as nginx's `ngx.req.raw_header()` (with or without the request line;
/// lines end with CRLF or LF; the head ends at an empty line or at the end of the text).
///
/// gray reads the request line (`METHOD SP target SP HTTP/x.y`: method, path, query, and the
/// host of an absolute-form target) and every header line (`Host`, each `Cookie` line, any
/// header a rule reads, `X-Forwarded-For`), in place: nothing is copied, and up to 24 headers
/// nothing is allocated. `request` (NULL: none) gives the peer and may give other fields,
/// which take precedence: a given `method`, `host` or `cookie` replaces the head's; a given
/// `path` replaces the request line's path and query (a given `query` replaces its query);
/// given `headers` come after the head's.
///
/// On success `*out` is the decision (free it with [`gray_decision_free`](crate::gray_decision_free))
/// and, when `forward` is not NULL, `*forward` says everything the proxy does to the request
/// (the headers to set, the inbound headers to remove, the node): see [`GrayForward`]. Its
/// pointers are borrowed from the decision.
///
/// Failures leave `*out` NULL and `*forward` empty: `GRAY_ERR_NULL` for a NULL `engine`,
/// `head` or `out`; `GRAY_ERR_ARG` for a malformed head (a line without `:`, a folded line, a
/// name that is not a token, a control character, a bad request line) or a peer that is not an
/// address; `GRAY_ERR_UTF8` for text that is not UTF-8. The last error says where: `path` is
/// `head` (or the request field), `line` and `column` count in the head's text.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `request` is NULL or points to a `GrayRequest` whose
/// non-NULL pointers are valid for the call; `head` is NULL or readable for `head_len` bytes;
/// `forward` is NULL or writable for one `GrayForward`; `out` is NULL or writable for one
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_decide_raw(
    engine: *const GrayEngine,
    request: *const GrayRequest,
    head: *const c_char,
    head_len: usize,
    forward: *mut GrayForward,
    out: *mut *mut GrayDecision,
) -> GrayStatus {
    // SAFETY: `forward` is NULL or writable by this function's contract.
    unsafe { put_opt(forward, GrayForward::default()) };
    let result = || {
        // SAFETY: by this function's contract.
        let (engine, view) = unsafe { (engine_ref(engine)?, raw_view(request, head, head_len)?) };
        let mut d = Box::new(GrayDecision::new(engine.decide(&view)));
        if !forward.is_null() {
            // The plan borrows the boxed decision, which the caller holds until it frees it.
            let plan = d.plan_for(&view);
            // SAFETY: not NULL, and writable by this function's contract.
            unsafe { forward.write(plan) };
        }
        Ok(Box::into_raw(d))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    let status = unsafe { returning(out, result) };
    if status != GrayStatus::GRAY_OK {
        // SAFETY: as above: no pointer into a decision that was not made survives.
        unsafe { put_opt(forward, GrayForward::default()) };
    }
    status
}

/// [`gray_engine_explain`](crate::gray_engine_explain) of a request given as in
/// [`gray_engine_decide_raw`]: JSON text in `*out` (free it with
/// [`gray_string_free`](crate::gray_string_free)); NULL on failure. Counts nothing.
///
/// # Safety
///
/// As for [`gray_engine_decide_raw`] (`out` is NULL or writable for one pointer).
#[no_mangle]
pub unsafe extern "C" fn gray_engine_explain_raw(
    engine: *const GrayEngine,
    request: *const GrayRequest,
    head: *const c_char,
    head_len: usize,
    out: *mut *mut c_char,
) -> GrayStatus {
    let result = || {
        // SAFETY: by this function's contract.
        let (engine, view) = unsafe { (engine_ref(engine)?, raw_view(request, head, head_len)?) };
        give_json(serde_json::to_string(&engine.explain(&view)))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}
