//! What the conditions of a snapshot share while it compiles: the IP sets and the request
//! fields they read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ipnet::IpNet;

use crate::error::{Error, ErrorKind, Result};
use crate::ip::{self, IpTableBuilder};
use crate::request::field_index::FieldNamesBuilder;
use crate::snapshot::rule::PercentRamp;

/// What the conditions of a snapshot share while it compiles: the IP sets (named ones plus
/// anonymous inline ones) and the names of the request fields they read.
pub(crate) struct CompileScope {
    pub(crate) builder: IpTableBuilder,
    pub(crate) names: HashMap<String, u32>,
    /// Index → display name (anonymous sets are shown as their entries).
    pub(crate) labels: Vec<String>,
    /// The nets of each set, kept for `trusted_proxies` expansion.
    pub(crate) nets: Vec<Vec<IpNet>>,
    /// Cookie, header and query names, each given a slot (see [`crate::request::field_index`]).
    pub(crate) fields: FieldNamesBuilder,
    /// Rule id → the percent ramp a judged rollout gives its `percent` conditions, and the
    /// spec path that asked for it.
    pub(crate) ramps: HashMap<String, (Arc<PercentRamp>, String)>,
    /// Rules whose `percent` conditions took their ramp.
    pub(crate) ramped: HashSet<String>,
}

impl CompileScope {
    pub(crate) fn new() -> Self {
        CompileScope {
            builder: IpTableBuilder::new(),
            names: HashMap::new(),
            labels: Vec::new(),
            nets: Vec::new(),
            fields: FieldNamesBuilder::default(),
            ramps: HashMap::new(),
            ramped: HashSet::new(),
        }
    }

    pub(crate) fn add_set(&mut self, label: String, nets: Vec<IpNet>) -> u32 {
        let idx = self.labels.len() as u32;
        for n in &nets {
            self.builder.add(idx, *n);
        }
        self.labels.push(label);
        self.nets.push(nets);
        idx
    }

    /// Resolves a list of set names and inline entries into set indices. Inline entries of one
    /// list form one anonymous set.
    pub(crate) fn resolve(&mut self, entries: &[String], path: &str) -> Result<Vec<u32>> {
        let mut sets = Vec::new();
        let mut inline = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(&idx) = self.names.get(e.as_str()) {
                sets.push(idx);
            } else if looks_like_ip(e) {
                let net = ip::parse_entry(e).map_err(|err| {
                    Error::at(
                        ErrorKind::InvalidIp,
                        format!("{path}[{i}]"),
                        err.to_string(),
                    )
                })?;
                inline.push(net);
            } else {
                let mut known: Vec<&str> = self.names.keys().map(String::as_str).collect();
                known.sort_unstable();
                return Err(Error::at(
                    ErrorKind::UnknownReference,
                    format!("{path}[{i}]"),
                    format!(
                        "{e:?} is neither an IP/CIDR nor a defined ip_sets name (defined: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            }
        }
        if !inline.is_empty() {
            let label = inline
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",");
            sets.push(self.add_set(label, inline));
        }
        Ok(sets)
    }
}

/// True if the text is meant as an address (digits/hex with `.`, `:` or `/`), not a set name.
pub(crate) fn looks_like_ip(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty()
        && s.contains(['.', ':', '/'])
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '/' | '[' | ']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_vs_set_name() {
        assert!(looks_like_ip("10.0.0.0/8"));
        assert!(looks_like_ip("::1"));
        assert!(looks_like_ip("2001:db8::/32"));
        assert!(!looks_like_ip("testers"));
        assert!(!looks_like_ip("office-cidrs"));
        assert!(!looks_like_ip("cafe"));
    }
}
