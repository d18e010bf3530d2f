//! Runnable gray programs beside the gateway (which is its own crate, `gray-gateway` in
//! `examples/gateway/`): an axum app using the tower layer (`axum_app`), the `demo`
//! (explained decisions), `nepxion` (an imported Nepxion rule explained along a call chain) and
//! `svc_a`, a middle service of a call chain that calls the next one through gray's call layer
//! ([`call_chain`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod call_chain;

/// The embedded default config (`examples/gateway/default-config.yaml`, the gateway's demo
/// config): stable and canary groups on loopback ports 18081/18082 and the seeds' cookie and
/// IP gray-list rules.
pub const DEFAULT_CONFIG: &str = include_str!("../gateway/default-config.yaml");
