//! Entries of the change log stream (`gray:{NS}:log`).
//!
//! Each entry has an `op` field and, for IP sets, `set` and `members` (newline-separated
//! canonical entries). The writer changes the state keys and appends the entry in one
//! `MULTI`/`EXEC`, so the log never runs ahead of or behind the state. Large member lists are
//! split over several entries of [`MEMBERS_PER_ENTRY`] members.
//!
//! | `op` | meaning | engine action |
//! |---|---|---|
//! | `spec` | the spec key was replaced | re-read the spec (and any newly declared sets) |
//! | `nepxion` | the Nepxion rule key was replaced or deleted | re-read the Nepxion rule |
//! | `add` | members were added to `set` | add them to the in-memory copy |
//! | `remove` | members were removed from `set` | remove them from the in-memory copy |
//! | `load` | `set` was replaced as a whole | re-read the set |
//!
//! ```
//! use gray_redis::Change;
//!
//! let c = Change::Add { set: "testers".into(), members: vec!["192.0.2.1".into()] };
//! let fields = c.to_fields();
//! assert_eq!(Change::from_fields(fields.iter().map(|(k, v)| (*k, v.as_str()))).unwrap(), c);
//! ```

/// Members carried by one log entry at most.
pub const MEMBERS_PER_ENTRY: usize = 10_000;

/// One change-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The spec was replaced.
    Spec,
    /// The Nepxion rule was replaced or deleted.
    Nepxion,
    /// Members were added to a set.
    Add {
        /// The IP set name.
        set: String,
        /// Canonical entries.
        members: Vec<String>,
    },
    /// Members were removed from a set.
    Remove {
        /// The IP set name.
        set: String,
        /// Canonical entries.
        members: Vec<String>,
    },
    /// A set was replaced as a whole.
    Load {
        /// The IP set name.
        set: String,
    },
}

impl Change {
    /// The stream fields of this entry.
    pub fn to_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Change::Spec => vec![("op", "spec".into())],
            Change::Nepxion => vec![("op", "nepxion".into())],
            Change::Add { set, members } => vec![
                ("op", "add".into()),
                ("set", set.clone()),
                ("members", members.join("\n")),
            ],
            Change::Remove { set, members } => vec![
                ("op", "remove".into()),
                ("set", set.clone()),
                ("members", members.join("\n")),
            ],
            Change::Load { set } => vec![("op", "load".into()), ("set", set.clone())],
        }
    }

    /// Reads an entry from its fields. Unknown fields are ignored (newer writers may add some);
    /// an unknown `op` or a missing `set` is an error message.
    pub fn from_fields<'a>(
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Change, String> {
        let (mut op, mut set, mut members) = (None, None, None);
        for (k, v) in fields {
            match k {
                "op" => op = Some(v),
                "set" => set = Some(v),
                "members" => members = Some(v),
                _ => {}
            }
        }
        let set_name = || {
            set.map(str::to_string)
                .ok_or_else(|| "log entry without a `set` field".to_string())
        };
        let list = || -> Vec<String> {
            members
                .unwrap_or("")
                .split('\n')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect()
        };
        match op {
            Some("spec") => Ok(Change::Spec),
            Some("nepxion") => Ok(Change::Nepxion),
            Some("add") => Ok(Change::Add {
                set: set_name()?,
                members: list(),
            }),
            Some("remove") => Ok(Change::Remove {
                set: set_name()?,
                members: list(),
            }),
            Some("load") => Ok(Change::Load { set: set_name()? }),
            Some(other) => Err(format!("unknown log op {other:?}")),
            None => Err("log entry without an `op` field".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Change) {
        let f = c.to_fields();
        let back = Change::from_fields(f.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn every_op_round_trips() {
        round_trip(Change::Spec);
        round_trip(Change::Nepxion);
        round_trip(Change::Load { set: "s".into() });
        round_trip(Change::Add {
            set: "s".into(),
            members: vec!["10.0.0.0/8".into(), "2001:db8::1".into()],
        });
        round_trip(Change::Remove {
            set: "s".into(),
            members: vec![],
        });
    }

    #[test]
    fn malformed_entries_are_errors() {
        assert!(Change::from_fields([("op", "drop")])
            .unwrap_err()
            .contains("drop"));
        assert!(Change::from_fields([("set", "x")])
            .unwrap_err()
            .contains("op"));
        assert!(Change::from_fields([("op", "add")])
            .unwrap_err()
            .contains("set"));
        assert_eq!(
            Change::from_fields([("op", "spec"), ("future", "1")]).unwrap(),
            Change::Spec
        );
    }
}
