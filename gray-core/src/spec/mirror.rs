//! Traffic mirroring: a copy of some requests sent to another group, its answer discarded.

use serde::{Deserialize, Serialize};

use super::duration::DurationSpec;
use super::key::KeySpec;

/// Mirror a share of a rule's (or a group's) requests to another group: the copy runs beside
/// the request, its response is read and dropped, and the client's answer never waits for it.
///
/// ```yaml
/// mirror:
///   to: canary              # the group that gets the copies
///   percent: 10             # share of the requests, 0..=100 in steps of 0.01 (default 100)
///   key: { cookie: uid }    # sticky by this key (default: random per request)
///   methods: [GET, HEAD]    # default GET, HEAD, OPTIONS; others only when listed
///   max_body: 65536         # bytes; a longer request body is not mirrored (default 64 KiB)
///   max_in_flight: 64       # copies running at once; more are dropped and counted
///   timeout: 5s             # a copy's whole exchange
///   header: x-gray-mirror   # marks the copy (value `1`)
///   host: canary.internal   # the copy's Host (default: the request's)
/// ```
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorSpec {
    /// The group the copies go to.
    pub to: String,
    /// Share of the requests copied, 0..=100 in steps of 0.01.
    #[serde(default = "default_percent")]
    pub percent: f64,
    /// Sticky sampling by this key (a user is mirrored on every request or never); omitted:
    /// random per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeySpec>,
    /// Methods that may be mirrored. Default: the safe ones, GET, HEAD and OPTIONS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    /// The longest request body a copy carries, in bytes; a longer one is not mirrored.
    #[serde(default = "default_max_body")]
    pub max_body: u64,
    /// Copies in flight at once (per mirror); beyond it a copy is dropped and counted.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: u32,
    /// The copy's whole exchange (connect, send, response and body).
    #[serde(default = "default_timeout")]
    pub timeout: DurationSpec,
    /// The header that marks a copy (value `1`).
    #[serde(default = "default_header")]
    pub header: String,
    /// The copy's `Host`; omitted: the request's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Compare the copy's answer with the client's (see [`CompareSpec`]); omitted: the copy's
    /// answer is only read and dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<CompareSpec>,
}

/// How a mirror's answer is compared with the primary's (Diffy's approach).
///
/// ```yaml
/// compare:
///   baseline: stable      # a second copy to this group, to tell noise from differences
///   headers: [content-type, cache-control]
///   body: json            # json (field by field), exact, or none
///   ignore: [meta.request_id]   # JSON paths never compared
///   max_body: 1048576     # bodies compared up to this size; longer ones are not compared
/// ```
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareSpec {
    /// A group that gets a second copy: where the primary and this baseline differ is noise
    /// (timestamps, ids) and not reported as the candidate's difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Response headers compared (case-insensitive); the status is always compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// How bodies are compared.
    #[serde(default)]
    pub body: CompareBody,
    /// JSON paths left out (`a.b`, `items[0].id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Longest body compared, in bytes; an answer with a longer one is not compared.
    #[serde(default = "default_compare_max_body")]
    pub max_body: u64,
}

/// How response bodies are compared.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareBody {
    /// As JSON, field by field (bodies that are not JSON: byte by byte).
    #[default]
    Json,
    /// Byte by byte.
    Exact,
    /// Not at all.
    None,
}

fn default_compare_max_body() -> u64 {
    1 << 20
}

/// The methods mirrored when none are listed.
pub const SAFE_METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

fn default_percent() -> f64 {
    100.0
}

fn default_max_body() -> u64 {
    64 * 1024
}

fn default_max_in_flight() -> u32 {
    64
}

fn default_timeout() -> DurationSpec {
    DurationSpec(std::time::Duration::from_secs(5))
}

fn default_header() -> String {
    "x-gray-mirror".to_string()
}
