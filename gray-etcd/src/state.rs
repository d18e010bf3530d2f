//! The in-memory copy of a prefix — the rules text and every instance — and how it combines
//! with the rules into the [`Spec`] an engine compiles.
//!
//! The rules are the schema: an instance registered under group `canary` is appended to the
//! nodes of the spec's group `canary` (replacing a node of the spec with the same address); an
//! instance of a group the spec does not declare is ignored and counted. Instances are
//! appended in address order, so the same registrations always give the same spec.

use std::collections::BTreeMap;

use gray_core::spec::NodeSpec;
use gray_core::{Result, Spec};

use crate::client::{Event, Kv};
use crate::instance::{Instance, Layout, Slot};

/// A prefix as last read and watched.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Discovery {
    /// The text at `<prefix>/spec`, if any.
    pub spec_text: Option<String>,
    /// By key: the group and the parsed instance, or why the value was skipped.
    pub instances: BTreeMap<String, (String, std::result::Result<NodeSpec, String>)>,
}

/// The outcome of combining rules with instances.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Built {
    pub spec: Spec,
    /// Instances applied.
    pub instances: usize,
    /// Instances of groups the rules do not declare.
    pub undeclared: usize,
}

impl Discovery {
    /// The state from a full read.
    pub fn from_kvs(layout: &Layout, kvs: Vec<Kv>) -> Discovery {
        let mut d = Discovery::default();
        for kv in kvs {
            d.apply(layout, Event::Put(kv));
        }
        d
    }

    /// Applies one event; returns whether it touched something gray reads.
    pub fn apply(&mut self, layout: &Layout, event: Event) -> bool {
        let key = match &event {
            Event::Put(kv) => kv.key.as_str(),
            Event::Delete(k) => k.as_str(),
        };
        match (layout.slot(key), event) {
            (Slot::Spec, Event::Put(kv)) => self.spec_text = Some(kv.value),
            (Slot::Spec, Event::Delete(_)) => self.spec_text = None,
            (Slot::Instance { group, address }, Event::Put(kv)) => {
                let node = Instance::from_json(&kv.value, &address).and_then(|i| i.to_node());
                self.instances.insert(kv.key, (group, node));
            }
            (Slot::Instance { .. }, Event::Delete(k)) => {
                self.instances.remove(&k);
            }
            (Slot::Other, _) => return false,
        }
        true
    }

    /// Values that are not instances, as `key: why`.
    pub fn bad_instances(&self) -> Vec<String> {
        self.instances
            .iter()
            .filter_map(|(k, (_, n))| n.as_ref().err().map(|e| format!("{k}: {e}")))
            .collect()
    }

    /// The rules in etcd, parsed like the Redis source parses its spec; `None` without one.
    pub fn rules(&self) -> Option<Result<Spec>> {
        self.spec_text.as_deref().map(gray_redis::parse_spec_text)
    }

    /// `rules` with the instances added to their groups.
    pub fn build(&self, rules: &Spec) -> Built {
        let mut spec = rules.clone();
        let mut by_group: BTreeMap<&str, Vec<&NodeSpec>> = BTreeMap::new();
        for (group, node) in self.instances.values() {
            if let Ok(node) = node {
                by_group.entry(group).or_default().push(node);
            }
        }
        let (mut instances, mut undeclared) = (0, 0);
        for (group, mut nodes) in by_group {
            let Some(g) = spec.groups.get_mut(group) else {
                undeclared += nodes.len();
                continue;
            };
            nodes.sort_by(|a, b| a.address.cmp(&b.address));
            g.nodes
                .retain(|n| !nodes.iter().any(|e| e.address == n.address));
            instances += nodes.len();
            g.nodes.extend(nodes.into_iter().cloned());
        }
        Built {
            spec,
            instances,
            undeclared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "version: 1\ngroups:\n  stable: { nodes: [{ address: \"10.0.1.1:80\" }] }\n  canary: {}\ndefault: stable\n";

    fn put(key: &str, value: &str) -> Event {
        Event::Put(Kv {
            key: key.into(),
            value: value.into(),
        })
    }

    #[test]
    fn instances_join_declared_groups() {
        let l = Layout::new("/g").unwrap();
        let mut d = Discovery::default();
        assert!(d.apply(
            &l,
            put(
                "/g/instances/canary/10.0.2.2:80",
                r#"{"version":"1.1","weight":3}"#
            )
        ));
        d.apply(&l, put("/g/instances/canary/10.0.2.1:80", "{}"));
        d.apply(
            &l,
            put(
                "/g/instances/stable/10.0.1.1:80",
                r#"{"address":"10.0.1.1:80","zone":"z2"}"#,
            ),
        );
        d.apply(&l, put("/g/instances/nowhere/10.9.9.9:80", "{}"));
        d.apply(&l, put("/g/instances/canary/bad", "not json"));
        assert!(!d.apply(&l, put("/g/elsewhere", "x")));
        let rules = gray_redis::parse_spec_text(RULES).unwrap();
        let b = d.build(&rules);
        assert_eq!((b.instances, b.undeclared), (3, 1));
        let canary: Vec<_> = b.spec.groups["canary"]
            .nodes
            .iter()
            .map(|n| (n.address.as_str(), n.weight))
            .collect();
        assert_eq!(canary, [("10.0.2.1:80", 1), ("10.0.2.2:80", 3)]);
        let stable = &b.spec.groups["stable"].nodes;
        assert_eq!(
            stable.len(),
            1,
            "the registered node replaces the static one"
        );
        assert_eq!(stable[0].metadata.zone.as_deref(), Some("z2"));
        assert_eq!(d.bad_instances().len(), 1);
        d.apply(&l, Event::Delete("/g/instances/canary/10.0.2.2:80".into()));
        assert_eq!(d.build(&rules).spec.groups["canary"].nodes.len(), 1);
    }

    #[test]
    fn an_overweight_instance_is_skipped() {
        let l = Layout::new("/g").unwrap();
        let mut d = Discovery::default();
        d.apply(
            &l,
            put(
                "/g/instances/canary/a:1",
                r#"{"address":"a:1","weight":20000}"#,
            ),
        );
        assert!(
            d.bad_instances()[0].contains("weight 20000"),
            "{:?}",
            d.bad_instances()
        );
    }
}
