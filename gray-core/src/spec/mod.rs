//! The native rule format: plain serde data that users write in YAML, JSON or TOML.
//!
//! A [`Spec`] is what a person writes and what importers (Nepxion XML/JSON) produce; it does no
//! work by itself. [`crate::Engine`] compiles it into an immutable [`crate::Snapshot`]. Every struct
//! rejects unknown fields, so a typo such as `wieght:` is an error instead of a silent default.
//!
//! ```
//! use gray_core::{Format, Spec};
//!
//! let spec = Spec::from_str(r#"
//! version: 1
//! groups:
//!   stable: { nodes: [{ address: "127.0.0.1:6002" }] }
//!   canary: { nodes: [{ address: "127.0.0.1:6004" }], fallback: stable }
//! rules:
//!   - id: canary-cookie
//!     when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }
//!     route: canary
//! default: stable
//! "#, Format::Yaml)?;
//! assert_eq!(spec.rules[0].route.as_deref(), Some("canary"));
//! # Ok::<(), gray_core::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Location, Result};

mod analysis;
mod defaults;
mod dimensions;
mod duration;
mod group;
mod headers;
mod key;
mod mirror;
pub mod release;
mod rule;
mod text;
mod words;

pub use crate::format::Format;
pub use analysis::{AnalysisSpec, ErrorRateSpec, InconclusiveSpec, LatencySpec};
pub use dimensions::{Dimensions, RouteKind};
pub use duration::DurationSpec;
pub use group::{
    default_fail_on, FailOn, GroupSpec, NodeMetadata, NodeSpec, RolloutSpec, RolloutStepSpec,
    SelectSpec, MAX_WEIGHT,
};
pub use headers::{HeaderPolicySpec, InboundPolicy};
pub use key::KeySpec;
pub use mirror::{CompareBody, CompareSpec, MirrorSpec, SAFE_METHODS};
pub use release::ReleaseSpec;
pub use rule::{ConditionSpec, PercentSpec, RangeSpec, RoutesSpec, RuleSpec, ValueMatchSpec};
use text::{clean_path, strip_position, toml_error};
pub use text::{yaml_from_str, yaml_to_string};

/// The JSON Schema (draft 2020-12) of the native format, generated from these types: point an
/// editor at it to validate and complete configs (the repository keeps it as
/// `schema/gray-spec.schema.json`; YAML language servers read it too).
#[cfg(feature = "schema")]
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Spec);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// The spec format version this library reads.
pub const SPEC_VERSION: u32 = 1;

/// A complete routing configuration.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Must be `1`.
    pub version: u32,
    /// How the client address is found behind proxies.
    #[serde(default)]
    pub client_ip: ClientIpSpec,
    /// Named IP/CIDR sets, referenced by `ip` conditions and `client_ip.trusted_proxies`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ip_sets: BTreeMap<String, IpSetSpec>,
    /// Upstream groups (nginx `upstream` blocks, or the instances of one service).
    #[serde(default)]
    pub groups: BTreeMap<String, GroupSpec>,
    /// Rules, evaluated in order; the first that matches decides.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// The group used when no rule matches.
    pub default: String,
    /// Rules for routing headers (`n-d-*`) that arrive from clients.
    #[serde(default)]
    pub headers: HeaderPolicySpec,
    /// Blue-green and gray releases across the call chain (see [`crate::release`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseSpec>,
    /// Directory that relative `file:` paths are resolved against (not serialised; set by
    /// [`Spec::from_file`]).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

/// Where the client address comes from (nginx `set_real_ip_from` / `real_ip_header` /
/// `real_ip_recursive`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientIpSpec {
    /// Peers whose forwarded headers are believed: CIDRs, addresses, or names of `ip_sets`.
    /// Empty (the default) trusts nobody: the peer address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// `x-forwarded-for` (default), `x-real-ip`, `forwarded`, or another header name that holds
    /// a comma-separated address list.
    #[serde(default = "default_ip_header")]
    pub header: String,
    /// Skip trusted addresses while walking the header from the right (nginx
    /// `real_ip_recursive on`). Default off, as in nginx.
    #[serde(default)]
    pub recursive: bool,
}

fn default_ip_header() -> String {
    "x-forwarded-for".to_string()
}

impl Default for ClientIpSpec {
    fn default() -> Self {
        ClientIpSpec {
            trusted_proxies: Vec::new(),
            header: default_ip_header(),
            recursive: false,
        }
    }
}

/// A named IP set: inline entries, a file with one entry per line (`#` comments), or both.
///
/// A set with neither is empty and matches nothing: a gray list that currently lists nobody, or
/// one whose members come from a configuration source such as Redis.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpSetSpec {
    /// Addresses and CIDRs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<String>,
    /// A file of addresses and CIDRs, relative to the config file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
}

impl Spec {
    /// Parses a spec from text. The error names the field path and, where the format gives
    /// one, the line and column.
    pub fn from_str(text: &str, format: Format) -> Result<Spec> {
        let spec: Spec = match format {
            Format::Json => {
                let mut de = serde_json::Deserializer::from_str(text);
                serde_path_to_error::deserialize(&mut de).map_err(|e| {
                    let path = clean_path(e.path().to_string());
                    let inner = e.into_inner();
                    let (line, col) = (inner.line(), inner.column());
                    Error::new(
                        ErrorKind::Syntax,
                        Location::new(path, Some(line), Some(col)),
                        strip_position(&inner.to_string()),
                    )
                })?
            }
            Format::Yaml => yaml_from_str(text)?,
            Format::Toml => {
                let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, e, ""))?;
                serde_path_to_error::deserialize(de).map_err(|e| {
                    let path = clean_path(e.path().to_string());
                    toml_error(text, e.into_inner(), &path)
                })?
            }
        };
        if spec.version != SPEC_VERSION {
            return Err(Error::at(
                ErrorKind::UnsupportedVersion,
                "version",
                format!(
                    "spec version {} is not supported; this library reads version {SPEC_VERSION}",
                    spec.version
                ),
            )
            .located_in(text, format));
        }
        Ok(spec)
    }

    /// Reads a spec file; the format comes from the extension (`.yaml`, `.yml`, `.json`,
    /// `.toml`). Relative `ip_sets.*.file` paths are resolved against the file's directory.
    /// Errors in the text name the file (see [`Error::in_file`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Spec> {
        Spec::read_file(path.as_ref()).map(|(spec, _, _)| spec)
    }

    /// [`Spec::from_file`], also returning the text and its format (to locate errors found
    /// while compiling, see [`Error::located_in`]).
    pub(crate) fn read_file(path: &Path) -> Result<(Spec, String, Format)> {
        let format = Format::from_path(path).ok_or_else(|| {
            Error::at(
                ErrorKind::InvalidValue,
                path.display().to_string(),
                "cannot tell the format from the file name; use .yaml, .yml, .json or .toml",
            )
        })?;
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::at(
                ErrorKind::Io,
                path.display().to_string(),
                format!("cannot read: {e}"),
            )
        })?;
        let mut spec =
            Spec::from_str(&text, format).map_err(|e| e.in_file(path.display().to_string()))?;
        spec.base_dir = path.parent().map(Path::to_path_buf);
        Ok((spec, text, format))
    }

    /// Serialises the spec as YAML (for "show running config" and dumps).
    pub fn to_yaml(&self) -> String {
        yaml_to_string(self)
    }

    /// Serialises the spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
    }

    /// A spec with no rules that sends everything to `default`, which has no nodes.
    pub fn minimal(default: &str) -> Spec {
        let mut groups = BTreeMap::new();
        groups.insert(default.to_string(), GroupSpec::default());
        Spec {
            version: SPEC_VERSION,
            client_ip: ClientIpSpec::default(),
            ip_sets: BTreeMap::new(),
            groups,
            rules: Vec::new(),
            default: default.to_string(),
            headers: HeaderPolicySpec::default(),
            release: None,
            base_dir: None,
        }
    }
}

#[cfg(test)]
mod tests;
