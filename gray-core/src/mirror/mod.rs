//! Traffic mirroring: which requests get a copy, and where it goes.
//!
//! A rule or a group with a `mirror` section ([`crate::spec::MirrorSpec`]) copies a share of
//! its requests to another group. gray-core decides; the adapter (the gateway) sends: after
//! [`crate::Engine::decide`], [`crate::Engine::mirror`] says whether this request is copied and
//! to which node, and the adapter sends the copy beside the request, never delaying or changing
//! the client's answer. A matching rule's mirror takes precedence over the requested group's.
//!
//! ```
//! use gray_core::mirror::{Mirroring, SkipReason};
//! use gray_core::{Engine, Format, SimpleRequest};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! groups:
//!   stable: { nodes: [{ address: "10.0.0.1:80" }], mirror: { to: canary, percent: 100 } }
//!   canary: { nodes: [{ address: "10.0.0.2:80" }] }
//! default: stable
//! "#, Format::Yaml)?;
//! let get = SimpleRequest::new("192.0.2.1".parse()?);
//! let d = engine.decide(&get);
//! let Some(Mirroring::Send(m)) = engine.mirror(&d, &get) else { panic!("every GET is copied") };
//! assert_eq!((m.group.as_str(), m.node.as_str()), ("canary", "10.0.0.2:80"));
//! assert_eq!(m.header, "x-gray-mirror");
//! // Only safe methods unless the mirror lists others.
//! let post = SimpleRequest::new("192.0.2.1".parse()?).with_method("POST");
//! assert_eq!(
//!     engine.mirror(&engine.decide(&post), &post),
//!     Some(Mirroring::Skipped { mirror: "group stable".into(), reason: SkipReason::Method })
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod compare;

use std::time::Duration;

/// One copy to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorPlan {
    /// Which mirror (`rule beta`, `group stable`): a label for counters and logs.
    pub mirror: String,
    /// The group the copy goes to.
    pub group: String,
    /// The node picked in it.
    pub node: String,
    /// The longest request body the copy may carry: a longer body is not mirrored.
    pub max_body: u64,
    /// Copies of this mirror in flight at once; beyond it the copy is dropped.
    pub max_in_flight: u32,
    /// The copy's whole exchange.
    pub timeout: Duration,
    /// The marker header (lower case), sent with the value `1`.
    pub header: String,
    /// The copy's `Host`, when it is rewritten.
    pub host: Option<String>,
    /// When the copy's answer is compared with the primary's.
    pub compare: Option<ComparePlan>,
}

/// How to compare a copy's answer (see [`compare`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparePlan {
    /// The baseline copy's `(group, node)`, when one is configured and has a node.
    pub baseline: Option<(String, String)>,
    /// Lower-case names of the compared response headers.
    pub headers: Vec<String>,
    /// How bodies are compared.
    pub body: compare::BodyMode,
    /// JSON paths left out.
    pub ignore: Vec<String>,
    /// Longest body compared.
    pub max_body: u64,
}

/// What [`crate::Engine::mirror`] says of one request that a mirror applies to and samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirroring {
    /// Send this copy.
    Send(Box<MirrorPlan>),
    /// The request is not copied, for this reason (count it).
    Skipped {
        /// Which mirror.
        mirror: String,
        /// Why.
        reason: SkipReason,
    },
}

/// Why a sampled request is not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Its method is not one the mirror copies.
    Method,
    /// The mirror's group has no available node.
    NoNode,
}

impl SkipReason {
    /// `method` or `no_node`, for metrics.
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::Method => "method",
            SkipReason::NoNode => "no_node",
        }
    }
}
