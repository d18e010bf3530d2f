//! `tracing` fields for decisions.
//!
//! [`crate::Gray`] records the decision into the *current* span's fields `gray.rule`,
//! `gray.group`, `gray.node` and `gray.generation` (a span that does not declare them ignores
//! the values) and emits a `debug` event `decision` (target `gray`, fields `rule`, `group`, `fallback`,
//! `node`, `generation`). Declare the
//! fields with [`request_span`] — e.g. as tower-http's `TraceLayer::make_span_with` — or in your
//! own span with `tracing::field::Empty`. [`crate::GroupSteer`] and the gateway instrument the
//! upstream call with [`decision_span`].
//!
//! ```
//! let req = http::Request::get("/").body(())?;
//! let span = gray_tower::trace::request_span(&req);
//! let _entered = span.enter();   // Gray records into it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use gray_core::Decision;
use tracing::field::Empty;
use tracing::level_filters::LevelFilter;
use tracing::Span;

/// An `info` span `request` with `method`, `path` and the empty decision fields that
/// [`record`] fills in.
pub fn request_span<B>(req: &http::Request<B>) -> Span {
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = req.uri().path(),
        gray.rule = Empty,
        gray.group = Empty,
        gray.node = Empty,
        gray.generation = Empty,
    )
}

/// A `debug` span `gray` carrying the decision's fields.
pub fn decision_span(decision: &Decision) -> Span {
    tracing::debug_span!(
        "gray",
        gray.rule = decision.rule_id().unwrap_or("(default)"),
        gray.group = decision.group(),
        gray.node = decision.node_address().unwrap_or("(none)"),
        gray.generation = decision.generation(),
    )
}

/// What [`crate::Gray`] does: [`record`] into the current span.
///
/// Looking up the current span costs a thread-local access and a span clone; it is skipped
/// while no subscriber is interested in any level (`LevelFilter::current()` is `OFF`, as it is
/// before any subscriber is installed), when there can be no enabled span to record into. The
/// `debug` event is left to `tracing`'s own checks.
pub(crate) fn record_current(decision: &Decision) {
    if LevelFilter::current() == LevelFilter::OFF {
        event(decision);
    } else {
        record(&Span::current(), decision);
    }
}

/// Records the decision into `span`'s `gray.*` fields and emits a `debug` event.
pub fn record(span: &Span, decision: &Decision) {
    if !span.is_disabled() {
        span.record("gray.rule", decision.rule_id().unwrap_or("(default)"));
        span.record("gray.group", decision.group());
        span.record("gray.node", decision.node_address().unwrap_or("(none)"));
        span.record("gray.generation", decision.generation());
    }
    event(decision);
}

/// The `debug` event `decision`.
fn event(decision: &Decision) {
    tracing::debug!(
        target: "gray",
        rule = decision.rule_id().unwrap_or("(default)"),
        group = decision.group(),
        fallback = decision.is_fallback(),
        node = decision.node_address().unwrap_or("(none)"),
        generation = decision.generation(),
        "decision"
    );
}
