//! Per-request evaluation of a snapshot: everything [`crate::Engine::decide`] and its
//! explanations run for one request. Reads the snapshot, never changes its configuration
//! (only health and counters, which are atomics).
//!
//! * `sources` — time and randomness;
//! * `context` — the per-request state: client address, IP-set membership, field values;
//! * `condition` — condition evaluation, with the tracer that explanations use;
//! * `release` — resolving a release into per-dimension choices;
//! * `group` — picking an available node of one group;
//! * `service` — release-aware instance selection (the `n-d-*` filters);
//! * `route` — the whole path: rule, release, node with fallbacks.

pub(crate) mod condition;
pub(crate) mod context;
pub(crate) mod group;
pub(crate) mod release;
pub(crate) mod route;
pub(crate) mod service;
pub(crate) mod sources;
