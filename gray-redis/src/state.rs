//! The in-memory copy of a namespace: the spec read from Redis and the members of the IP sets
//! it declares, and how they combine into the [`Spec`] an engine compiles.
//!
//! The spec is the schema: every name under its `ip_sets` is also looked up in Redis
//! (`gray:{NS}:ipset:NAME`) and the Redis members are appended to the set's inline `entries`.
//! A set that only lives in Redis is declared with no entries (`ip_sets: { testers: {} }`); it
//! is empty, and matches nothing, until members arrive.
//!
//! A Nepxion rule, when there is one, is applied last ([`gray_core::nepxion::Import::apply_to`]):
//! it sets the `release` section and the built-in headers and keeps the spec's groups. Without a
//! spec it applies to `Spec::minimal("default")`, as `Engine::from_nepxion` does.
//!
//! ```
//! use gray_redis::FleetState;
//!
//! let mut state = FleetState::default();
//! state.set_spec(gray_redis::parse_spec_text(
//!     "version: 1\nip_sets: { testers: {} }\ngroups: { a: { nodes: [] } }\ndefault: a\n",
//! )?);
//! state.add("testers", ["192.0.2.7".to_string()]);
//! state.add("unknown", ["192.0.2.8".to_string()]); // not declared by the spec: ignored
//! let spec = state.build().unwrap();
//! assert_eq!(spec.ip_sets["testers"].entries, ["192.0.2.7"]);
//! assert!(!spec.ip_sets.contains_key("unknown"));
//! # Ok::<(), gray_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use gray_core::ip::{parse_entry, IpEntryError};
use gray_core::nepxion::Import;
use gray_core::{Format, Result, Spec};

/// Parses spec text as stored in Redis: JSON when it starts with `{`, YAML otherwise.
pub fn parse_spec_text(text: &str) -> Result<Spec> {
    let format = if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    };
    Spec::from_str(text, format)
}

/// The canonical form of an IP set entry, as stored in Redis: a bare address for a host
/// (`192.0.2.1`, not `192.0.2.1/32`), otherwise `network/len`; IPv4-mapped IPv6 becomes IPv4.
/// So `ipset remove` finds a member however it was written.
///
/// ```
/// use gray_redis::canonical_entry;
///
/// assert_eq!(canonical_entry(" 192.0.2.1/32").unwrap(), "192.0.2.1");
/// assert_eq!(canonical_entry("::ffff:10.0.0.0/104").unwrap(), "10.0.0.0/8");
/// assert_eq!(canonical_entry("[2001:db8::1]").unwrap(), "2001:db8::1");
/// assert!(canonical_entry("10.0.0.1/8").is_err());
/// ```
pub fn canonical_entry(s: &str) -> std::result::Result<String, IpEntryError> {
    let net = parse_entry(s)?;
    Ok(if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    })
}

/// A namespace as last read from Redis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetState {
    spec: Option<Spec>,
    nepxion: Option<Import>,
    sets: BTreeMap<String, BTreeSet<String>>,
}

impl FleetState {
    /// The spec, if one was read and parsed.
    pub fn spec(&self) -> Option<&Spec> {
        self.spec.as_ref()
    }

    /// Replaces the spec, keeping the Nepxion rule; see [`FleetState::set_rules`].
    pub fn set_spec(&mut self, spec: Spec) -> Vec<String> {
        let nepxion = self.nepxion.take();
        self.set_rules(Some(spec), nepxion)
    }

    /// Replaces the spec and the Nepxion rule; sets the spec no longer declares are dropped.
    /// Returns the declared sets that have no members loaded yet (the caller reads them).
    pub fn set_rules(&mut self, spec: Option<Spec>, nepxion: Option<Import>) -> Vec<String> {
        self.nepxion = nepxion;
        let declared = |name: &str| spec.as_ref().is_some_and(|s| s.ip_sets.contains_key(name));
        self.sets.retain(|name, _| declared(name));
        let missing = spec
            .iter()
            .flat_map(|s| s.ip_sets.keys())
            .filter(|n| !self.sets.contains_key(*n))
            .cloned()
            .collect();
        self.spec = spec;
        missing
    }

    /// The Nepxion rule, if any.
    pub fn nepxion(&self) -> Option<&Import> {
        self.nepxion.as_ref()
    }

    /// Names of the IP sets the spec declares.
    pub fn declared_sets(&self) -> impl Iterator<Item = &str> {
        self.spec
            .iter()
            .flat_map(|s| s.ip_sets.keys().map(String::as_str))
    }

    /// Whether the spec declares set `name`.
    pub fn declares(&self, name: &str) -> bool {
        self.spec
            .as_ref()
            .is_some_and(|s| s.ip_sets.contains_key(name))
    }

    /// Replaces the members of a declared set (ignored when the spec does not declare it).
    pub fn replace_set(&mut self, name: &str, members: BTreeSet<String>) {
        if self.declares(name) {
            self.sets.insert(name.to_string(), members);
        }
    }

    /// Adds members to a declared set.
    pub fn add(&mut self, name: &str, members: impl IntoIterator<Item = String>) {
        if self.declares(name) {
            self.sets
                .entry(name.to_string())
                .or_default()
                .extend(members);
        }
    }

    /// Removes members from a declared set.
    pub fn remove<'a>(&mut self, name: &str, members: impl IntoIterator<Item = &'a String>) {
        if let Some(set) = self.sets.get_mut(name) {
            for m in members {
                set.remove(m);
            }
        }
    }

    /// Members of a set held in memory.
    pub fn members(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.sets.get(name)
    }

    /// Total members over all sets.
    pub fn member_count(&self) -> usize {
        self.sets.values().map(BTreeSet::len).sum()
    }

    /// The spec with every set's Redis members appended to its inline entries (sorted, without
    /// repeating an inline entry) and the Nepxion rule applied; `None` when there is neither a
    /// spec nor a Nepxion rule.
    pub fn build(&self) -> Option<Spec> {
        let mut spec = match (&self.spec, &self.nepxion) {
            (Some(spec), _) => spec.clone(),
            (None, Some(_)) => Spec::minimal("default"),
            (None, None) => return None,
        };
        for (name, members) in &self.sets {
            if let Some(set) = spec.ip_sets.get_mut(name) {
                let inline: BTreeSet<&str> = set.entries.iter().map(String::as_str).collect();
                let extra: Vec<String> = members
                    .iter()
                    .filter(|m| !inline.contains(m.as_str()))
                    .cloned()
                    .collect();
                set.entries.extend(extra);
            }
        }
        if let Some(rule) = &self.nepxion {
            rule.apply_to(&mut spec);
        }
        Some(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "version: 1\nip_sets: { t: { entries: [\"10.0.0.0/8\"] }, u: {} }\n\
                        groups: { a: { nodes: [] } }\ndefault: a\n";

    #[test]
    fn json_and_yaml_are_detected() {
        let y = parse_spec_text(SPEC).unwrap();
        let j = parse_spec_text(&format!("  {}", y.to_json())).unwrap();
        assert_eq!(y, j);
        let e = parse_spec_text("{ \"version\": 1, ").unwrap_err();
        assert_eq!(e.kind(), gray_core::ErrorKind::Syntax);
    }

    #[test]
    fn members_merge_into_declared_sets() {
        let mut s = FleetState::default();
        assert!(s.build().is_none());
        let missing = s.set_spec(parse_spec_text(SPEC).unwrap());
        assert_eq!(missing, ["t", "u"]);
        s.replace_set("t", ["10.0.0.0/8".into(), "192.0.2.1".into()].into());
        s.add("u", ["2001:db8::1".to_string(), "192.0.2.9".to_string()]);
        s.remove("u", &["192.0.2.9".to_string()]);
        s.add("zzz", ["192.0.2.3".to_string()]);
        let b = s.build().unwrap();
        assert_eq!(b.ip_sets["t"].entries, ["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(b.ip_sets["u"].entries, ["2001:db8::1"]);
        assert_eq!(s.member_count(), 3);
        // A new spec without `u` drops its members; `t` is kept and not reported missing.
        let missing = s.set_spec(
            parse_spec_text("version: 1\nip_sets: { t: {} }\ngroups: { a: {} }\ndefault: a\n")
                .unwrap(),
        );
        assert!(missing.is_empty());
        assert!(s.members("u").is_none());
        assert_eq!(s.declared_sets().collect::<Vec<_>>(), ["t"]);
    }

    #[test]
    fn a_nepxion_rule_applies_on_top_or_alone() {
        let rule = gray_core::nepxion::import(
            r#"<rule><strategy><version>{"svc-a":"1.1"}</version></strategy>
               <strategy-release><header>{"x":"1"}</header></strategy-release></rule>"#,
        )
        .unwrap();
        let mut s = FleetState::default();
        s.set_rules(None, Some(rule.clone()));
        let alone = s.build().unwrap();
        assert_eq!(alone.default, "default");
        assert_eq!(alone.headers.builtin["x"], "1");
        assert!(alone.release.is_some());
        s.set_spec(parse_spec_text(SPEC).unwrap());
        assert_eq!(s.nepxion(), Some(&rule));
        let on_top = s.build().unwrap();
        assert_eq!(on_top.default, "a");
        assert_eq!(on_top.headers.builtin["x"], "1");
        s.set_rules(Some(parse_spec_text(SPEC).unwrap()), None);
        assert!(s.build().unwrap().release.is_none());
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(canonical_entry("10.1.0.0/16").unwrap(), "10.1.0.0/16");
        assert_eq!(canonical_entry("2001:db8::/128").unwrap(), "2001:db8::");
        assert!(canonical_entry("bogus")
            .unwrap_err()
            .to_string()
            .contains("bogus"));
    }
}
