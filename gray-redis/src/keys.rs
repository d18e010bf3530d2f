//! The Redis key layout of one namespace.
//!
//! Every key of a namespace `NS` carries the hash tag `{NS}`, so in Redis Cluster they all live
//! in one slot and a change can update state and change log in one `MULTI`/`EXEC`:
//!
//! | key | type | holds |
//! |---|---|---|
//! | `gray:{NS}:spec` | string | the rule spec: native YAML or JSON text |
//! | `gray:{NS}:nepxion` | string | optional Nepxion rule (XML or JSON), applied on top of the spec |
//! | `gray:{NS}:ipset:NAME` | set | members of IP set `NAME` (canonical IP or CIDR strings) |
//! | `gray:{NS}:log` | stream | the change log engines follow (see [`crate::Change`]) |
//! | `gray:{NS}:events` | pub/sub channel | one message per change, for people and tools watching |
//! | `gray:{NS}:rollout:G:counts`, `:lease`, `:state`, `:version` | hash, strings | a judged rollout of group `G` shared by the fleet (see [`crate::FleetRollouts`]) |
//!
//! ```
//! use gray_redis::Keys;
//!
//! let keys = Keys::new("prod")?;
//! assert_eq!(keys.spec(), "gray:{prod}:spec");
//! assert_eq!(keys.ip_set("testers"), "gray:{prod}:ipset:testers");
//! assert!(Keys::new("a b").is_err());
//! # Ok::<(), gray_core::Error>(())
//! ```

use gray_core::{Error, ErrorKind, Result};

/// Longest accepted namespace or IP set name.
const MAX_NAME: usize = 128;

/// Key names of one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    namespace: String,
    prefix: String,
}

impl Keys {
    /// Keys for namespace `ns`: 1 to 128 characters from `A-Z a-z 0-9 _ - .`.
    pub fn new(ns: &str) -> Result<Keys> {
        check_name("namespace", ns)?;
        Ok(Keys {
            namespace: ns.to_string(),
            prefix: format!("gray:{{{ns}}}:"),
        })
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The spec string key.
    pub fn spec(&self) -> String {
        format!("{}spec", self.prefix)
    }

    /// The Nepxion rule string key.
    pub fn nepxion(&self) -> String {
        format!("{}nepxion", self.prefix)
    }

    /// The set key of IP set `name`.
    pub fn ip_set(&self, name: &str) -> String {
        format!("{}ipset:{name}", self.prefix)
    }

    /// The change-log stream key.
    pub fn log(&self) -> String {
        format!("{}log", self.prefix)
    }

    /// The hash of every engine's traffic totals for group `group`'s judged rollout.
    pub fn rollout_counts(&self, group: &str) -> String {
        format!("{}rollout:{group}:counts", self.prefix)
    }

    /// The lease of the engine that judges group `group`'s rollout.
    pub fn rollout_lease(&self, group: &str) -> String {
        format!("{}rollout:{group}:lease", self.prefix)
    }

    /// The fleet's state of group `group`'s rollout.
    pub fn rollout_state(&self, group: &str) -> String {
        format!("{}rollout:{group}:state", self.prefix)
    }

    /// The version counter of that state.
    pub fn rollout_version(&self, group: &str) -> String {
        format!("{}rollout:{group}:version", self.prefix)
    }

    /// The pub/sub channel announcing changes.
    pub fn events(&self) -> String {
        format!("{}events", self.prefix)
    }
}

/// Checks a namespace or IP set name: 1 to 128 characters from `A-Z a-z 0-9 _ - .`, so that it
/// is safe inside key names and glob patterns.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::at(
            ErrorKind::InvalidValue,
            what,
            format!(
                "{name:?} is not a valid {what}: use 1 to {MAX_NAME} characters from A-Z a-z 0-9 _ - ."
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["prod", "a", "eu-west_1.blue", &"x".repeat(128)] {
            assert!(Keys::new(good).is_ok(), "{good}");
        }
        for bad in ["", "a b", "a:b", "a*", "{x}", &"x".repeat(129), "é"] {
            let e = Keys::new(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidValue, "{bad}");
            assert_eq!(e.location().path, "namespace");
        }
    }

    #[test]
    fn layout() {
        let k = Keys::new("ns1").unwrap();
        assert_eq!(k.spec(), "gray:{ns1}:spec");
        assert_eq!(k.log(), "gray:{ns1}:log");
        assert_eq!(k.nepxion(), "gray:{ns1}:nepxion");
        assert_eq!(k.events(), "gray:{ns1}:events");
        assert_eq!(k.ip_set("t"), "gray:{ns1}:ipset:t");
        assert_eq!(k.namespace(), "ns1");
    }
}
