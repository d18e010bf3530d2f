//! Picking an instance of a service: the registry view and the filters a release applies.
//!
//! Groups are services and nodes are instances, with `metadata` {version, region, env, zone,
//! group, id}. To call service `S`, gray takes the routing values that apply to `S` — the
//! snapshot's own release resolution and, from trusted peers only, the inbound `n-d-*`
//! headers — and filters `S`'s available instances in Nepxion's order:
//!
//! 1. `n-d-id-blacklist`, `n-d-address-blacklist`: excluded;
//! 2. `release.discovery` consumer → provider version and region filters;
//! 3. `n-d-env` (else `n-d-env-failover`);
//! 4. zone affinity: the caller's zone (else `n-d-zone-failover`, else any zone);
//! 5. `n-d-address` (else `n-d-address-failover`);
//! 6. `n-d-region` (else `n-d-region-failover`); without a region route, `n-d-region-transfer`;
//! 7. `n-d-version` (else `n-d-version-failover`); without a version route,
//!    `n-d-version-prefer` (ignored when it matches nothing).
//!
//! The survivors are chosen by weight: `n-d-version-weight`, else `n-d-region-weight`, else the
//! `release.discovery` weight rules, else the nodes' own weights. As in Nepxion, a weight
//! list that does not cover every candidate is abandoned for the nodes' own weights. Every
//! step is recorded by [`crate::Engine::explain_instance`].

mod filter;
mod pick;
mod routing;

pub(crate) use pick::Pick;
pub use routing::SelectStep;
pub(crate) use routing::{Caller, Routing};
