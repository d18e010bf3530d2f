//! The policy for routing headers (`n-d-*`) that arrive with a request, and built-in headers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What to do with routing headers (`n-d-*`) that arrive with a request.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderPolicySpec {
    /// Header name prefixes that are routing headers. Default `["n-d-"]`.
    #[serde(default = "default_routing_prefixes")]
    pub routing_prefixes: Vec<String>,
    /// `override` (default): the decision's headers replace inbound ones and inbound routing
    /// headers the decision did not set are stripped. `keep`: inbound headers win and the
    /// decision only fills in missing ones (only safe behind a trusted edge).
    #[serde(default)]
    pub inbound: InboundPolicy,
    /// Built-in headers (Nepxion `<header>`): the lowest-priority source of expression
    /// variables, and added to every forwarded request.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub builtin: BTreeMap<String, String>,
    /// Peers (CIDRs, addresses or `ip_sets` names) whose inbound routing headers are believed:
    /// the services and gateways of your own call chain. From any other peer inbound routing
    /// headers are ignored. When empty, inbound routing headers are believed only with
    /// `inbound: keep`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trusted_peers: Vec<String>,
}

fn default_routing_prefixes() -> Vec<String> {
    vec!["n-d-".to_string()]
}

impl Default for HeaderPolicySpec {
    fn default() -> Self {
        HeaderPolicySpec {
            routing_prefixes: default_routing_prefixes(),
            inbound: InboundPolicy::default(),
            builtin: BTreeMap::new(),
            trusted_peers: Vec::new(),
        }
    }
}

/// See [`HeaderPolicySpec::inbound`].
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundPolicy {
    /// The decision wins; unknown inbound routing headers are stripped.
    #[default]
    Override,
    /// Inbound routing headers win.
    Keep,
}
