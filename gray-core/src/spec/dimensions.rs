//! The route dimensions a release and a rule's `routes` set, and the `n-d-*` headers that carry
//! them down the call chain: the one place that names them.
//!
//! [`RouteKind`] lists the five routed dimensions (version, region, address, version weight,
//! region weight); [`HEADERS`] lists every header, those five first and in that order, then env,
//! the blacklists and the failovers. [`Dimensions`] holds one value per dimension: a rule's
//! `routes`, a release's `defaults`, and (flattened into the entry) a blue-green or gray entry.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Every `n-d-*` header a release reads and writes: the five routed dimensions (version,
/// region, address, version weight, region weight), then env, blacklists, failovers and the
/// consumer-isolation group.
pub const HEADERS: [&str; 16] = [
    "n-d-version",
    "n-d-region",
    "n-d-address",
    "n-d-version-weight",
    "n-d-region-weight",
    "n-d-env",
    "n-d-id-blacklist",
    "n-d-address-blacklist",
    "n-d-version-prefer",
    "n-d-version-failover",
    "n-d-region-transfer",
    "n-d-region-failover",
    "n-d-env-failover",
    "n-d-zone-failover",
    "n-d-address-failover",
    "n-d-group",
];

/// The dimension a route sets.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// `n-d-version`: allowed versions.
    Version,
    /// `n-d-region`: allowed regions.
    Region,
    /// `n-d-address`: allowed addresses (`host:port`, `host` or `port`).
    Address,
    /// `n-d-version-weight`: instance weights by version.
    VersionWeight,
    /// `n-d-region-weight`: instance weights by region.
    RegionWeight,
}

impl RouteKind {
    /// All kinds, in resolution order.
    pub const ALL: [RouteKind; 5] = [
        RouteKind::Version,
        RouteKind::Region,
        RouteKind::Address,
        RouteKind::VersionWeight,
        RouteKind::RegionWeight,
    ];

    /// The propagated header that carries this dimension.
    pub fn header(self) -> &'static str {
        // The five dimensions lead `HEADERS`, in this enum's order.
        HEADERS[self as usize]
    }

    /// The snake_case name used in specs.
    pub fn name(self) -> &'static str {
        match self {
            RouteKind::Version => "version",
            RouteKind::Region => "region",
            RouteKind::Address => "address",
            RouteKind::VersionWeight => "version_weight",
            RouteKind::RegionWeight => "region_weight",
        }
    }

    /// True for the weight dimensions.
    pub fn is_weight(self) -> bool {
        matches!(self, RouteKind::VersionWeight | RouteKind::RegionWeight)
    }
}

/// One value per route dimension, in Nepxion's route value format: either a JSON map
/// `{"svc-a":"1.0","svc-b":"1.1"}` or a plain value that applies to every service (`1.0;1.1`).
///
/// A rule's `routes` and a release's `defaults` carry the values themselves; a blue-green entry
/// names a route id per dimension and a gray entry weighted route ids (`route-1=90;route-2=10`),
/// written flat beside the entry's `id` and `when`. Which dimensions a place accepts is checked
/// when the spec is read: gray entries take version, region and address; blue-green entries the
/// five [`RouteKind`]s; routes and defaults also `env`.
///
/// ```
/// use gray_core::spec::{Dimensions, RouteKind};
///
/// let d: Dimensions = serde_json::from_str(r#"{"version": "1.1", "env": "staging"}"#)?;
/// assert_eq!(d.get(RouteKind::Version), Some("1.1"));
/// assert_eq!(d.env.as_deref(), Some("staging"));
/// assert!(serde_json::from_str::<Dimensions>(r#"{"zone": "z1"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(
        description = "Per-service route values, one per dimension, in Nepxion's value format: \
        either a JSON map `{\"svc-a\":\"1.0\",\"svc-b\":\"1.1\"}` or a plain value that applies \
        to every service (`1.0;1.1`)."
    )
)]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimensions {
    /// `n-d-version`: allowed versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `n-d-region`: allowed regions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `n-d-address`: allowed addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `n-d-version-weight`: instance weights by version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_weight: Option<String>,
    /// `n-d-region-weight`: instance weights by region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_weight: Option<String>,
    /// `n-d-env`: the environment (not a routed dimension of release entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
}

impl Dimensions {
    /// True when no dimension is set.
    pub fn is_empty(&self) -> bool {
        *self == Dimensions::default()
    }

    /// The value of one routed dimension.
    pub fn get(&self, kind: RouteKind) -> Option<&str> {
        self.slots()[kind as usize].as_deref()
    }

    /// The `n-d-*` headers that carry these values down the call chain, in header order.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.slots()
            .into_iter()
            .zip(HEADERS)
            .filter_map(|(v, h)| v.as_deref().map(|v| (h, v)))
    }

    /// The fields in [`HEADERS`] order (the five kinds, then env).
    fn slots(&self) -> [&Option<String>; 6] {
        [
            &self.version,
            &self.region,
            &self.address,
            &self.version_weight,
            &self.region_weight,
            &self.env,
        ]
    }

    /// The field a spec key names.
    fn slot_mut(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "version" => &mut self.version,
            "region" => &mut self.region,
            "address" => &mut self.address,
            "version_weight" => &mut self.version_weight,
            "region_weight" => &mut self.region_weight,
            "env" => &mut self.env,
            _ => return None,
        })
    }
}

/// A release entry as read: its `id`, its optional `when` and the dimensions written beside them.
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) when: Option<String>,
    pub(crate) routes: Dimensions,
}

/// The keys a blue-green entry accepts.
pub(crate) const BLUE_GREEN_FIELDS: &[&str] = &[
    "id",
    "when",
    "version",
    "region",
    "address",
    "version_weight",
    "region_weight",
];

/// The keys a gray entry accepts.
pub(crate) const GRAY_FIELDS: &[&str] = &["id", "when", "version", "region", "address"];

/// Reads an entry whose dimensions sit beside `id` and `when`, accepting only `fields`.
///
/// Written by hand rather than with `#[serde(flatten)]`: flattening buffers the values, which
/// loses the key path (and so the line and column) of an error inside a dimension and cannot
/// reject unknown keys per entry kind.
pub(crate) fn deserialize_entry<'de, D: Deserializer<'de>>(
    d: D,
    name: &'static str,
    fields: &'static [&'static str],
) -> Result<Entry, D::Error> {
    struct V(&'static str, &'static [&'static str]);
    impl<'de> Visitor<'de> for V {
        type Value = Entry;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "a {} entry (a map with `id`)", self.0)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
            let (mut id, mut when, mut routes) = (None, None, Dimensions::default());
            let mut seen = Vec::with_capacity(4);
            while let Some(key) = map.next_key::<String>()? {
                let Some(&field) = self.1.iter().find(|f| **f == key) else {
                    return Err(de::Error::unknown_field(&key, self.1));
                };
                if seen.contains(&field) {
                    return Err(de::Error::duplicate_field(field));
                }
                seen.push(field);
                match field {
                    "id" => id = Some(map.next_value::<String>()?),
                    "when" => when = map.next_value::<Option<String>>()?,
                    dim => match routes.slot_mut(dim) {
                        Some(slot) => *slot = map.next_value::<Option<String>>()?,
                        None => return Err(de::Error::unknown_field(dim, self.1)),
                    },
                }
            }
            let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
            Ok(Entry { id, when, routes })
        }
    }
    d.deserialize_struct(name, fields, V(name, fields))
}

/// The JSON Schema of an entry with these `fields`; `what` describes a dimension's value.
#[cfg(feature = "schema")]
pub(crate) fn entry_schema(
    description: &str,
    fields: &[&str],
    what: fn(&str) -> String,
) -> schemars::Schema {
    let mut properties = serde_json::Map::new();
    properties.insert(
        "id".into(),
        serde_json::json!({ "description": "Shown in explanations.", "type": "string" }),
    );
    properties.insert(
        "when".into(),
        serde_json::json!({
            "description": "An expression (see `gray_core::expr`); omitted: the fallback entry.",
            "type": ["string", "null"],
        }),
    );
    for f in &fields[2..] {
        properties.insert(
            (*f).into(),
            serde_json::json!({ "description": what(f), "type": ["string", "null"] }),
        );
    }
    schemars::json_schema!({
        "description": description,
        "type": "object",
        "properties": properties,
        "additionalProperties": false,
        "required": ["id"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_fields_are_id_when_and_dimension_names() {
        let kinds: Vec<&str> = RouteKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(BLUE_GREEN_FIELDS[..2], ["id", "when"]);
        assert_eq!(BLUE_GREEN_FIELDS[2..], kinds[..]);
        assert_eq!(GRAY_FIELDS[2..], kinds[..3]);
        let mut d = Dimensions::default();
        for k in RouteKind::ALL {
            *d.slot_mut(k.name()).unwrap() = Some(k.name().into());
            assert_eq!(d.get(k), Some(k.name()));
            assert_eq!(k.header(), d.headers().last().unwrap().0);
        }
    }
}
