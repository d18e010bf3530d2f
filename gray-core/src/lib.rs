//! # gray-core
//!
//! A gray-release (canary) routing engine: rules compiled into an immutable snapshot, swapped
//! atomically at runtime, and evaluated per request without locks or allocation.
//!
//! The pipeline is **spec → compile → snapshot ← eval → engine** (see `ARCHITECTURE.md`):
//!
//! * [`Spec`] is plain serde data (YAML, JSON, TOML) that people write ([`spec`]).
//! * [`Engine::reload`] compiles it into a [`Snapshot`] — every regex, expression and IP table
//!   built once — and swaps it in; a bad spec is rejected with an [`Error`] naming the field and
//!   the old snapshot keeps serving.
//! * [`Engine::decide`] takes any [`RequestView`] and returns a [`Decision`]: matched rule,
//!   group, node, headers to set, generation. [`Engine::explain`] tells why.
//!
//! ```
//! use gray_core::{Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! client_ip: { trusted_proxies: ["10.0.0.0/8"], header: x-real-ip }
//! ip_sets: { gray_list: { entries: ["192.168.2.20"] } }
//! groups:
//!   stable: { nodes: [{ address: "127.0.0.1:5001" }] }
//!   canary: { nodes: [{ address: "127.0.0.1:5002" }], fallback: stable }
//! rules:
//!   - { id: cookie, when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }, route: canary }
//!   - { id: gray-ips, when: { ip: [gray_list] }, route: canary }
//! default: stable
//! "#, Format::Yaml)?;
//!
//! // Behind the trusted proxy 10.0.0.1, X-Real-IP is believed.
//! let via_proxy = SimpleRequest::new("10.0.0.1".parse()?).with_header("x-real-ip", "192.168.2.20");
//! assert_eq!(engine.decide(&via_proxy).group(), "canary");
//! // From anyone else the same header is ignored.
//! let spoofed = SimpleRequest::new("203.0.113.9".parse()?).with_header("x-real-ip", "192.168.2.20");
//! assert_eq!(engine.decide(&spoofed).group(), "stable");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Untrusted input
//!
//! Headers, cookies and query strings are attacker-controlled: nothing in [`Engine::decide`]
//! panics on them, regexes run in linear time (the `regex` crate), expressions are a closed
//! subset without method calls or type references, and forwarded-IP headers are honoured only
//! from `client_ip.trusted_proxies`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Data people write, and the readers of requests.
mod error;
mod format;
mod request;
pub mod spec;

// Leaf algorithms: each depends only on the modules above.
pub mod analysis;
pub mod client_ip;
pub mod expr;
pub mod health;
pub mod ip;
pub mod lint;
mod matcher;
mod outcome;
pub mod rollout;
mod route_value;
pub mod select;
pub mod sticky;
pub mod traffic;
mod validate;

// The pipeline.
mod compile;
mod eval;
mod snapshot;

// The API built on it.
pub mod admin;
mod decision;
mod engine;
pub mod explain;
mod instance;
mod metrics;
pub mod mirror;
pub mod nepxion;
pub mod release;
pub mod sample;
pub mod what_if;

/// Release-aware instance selection; see [`Engine::explain_instance`].
pub mod service {
    pub use crate::eval::service::SelectStep;
}

#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use admin::{GroupStatus, NodeStatus, RuleStatus};
pub use decision::{Decision, HeadersKey, NodeRef};
pub use engine::{Engine, EngineBuilder};
pub use error::{Error, ErrorKind, Location, Result};
pub use eval::sources::{thread_random, RandomFn, UnixTimeFn};
pub use explain::Explanation;
pub use instance::{CallerIdentity, InstanceExplanation, Selection};
pub use outcome::Outcome;
pub use request::{cookie, query, RequestView, SimpleRequest};
pub use rollout::RolloutAction;
pub use snapshot::counter::Counter;
pub use snapshot::Snapshot;
pub use spec::{Format, Spec};
