//! Request keys: where a sticky hash or percentage key is read from.

use serde::{Deserialize, Serialize};

/// Where a stickiness key comes from.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum KeySpec {
    /// A cookie's value.
    Cookie(String),
    /// A header's first value.
    Header(String),
    /// A query parameter's value.
    Query(String),
    /// The resolved client IP, in canonical text form.
    ClientIp,
}
