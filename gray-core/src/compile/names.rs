//! Group names and their indices, with the error for a name that is not a group.

use std::collections::{BTreeMap, HashMap};

use crate::error::{unknown_group, ErrorKind, Result};
use crate::spec::{GroupSpec, Spec};

/// Group names and their indices (name order), with the error for a name that is not one.
pub(crate) struct GroupNames<'s> {
    index: HashMap<Box<str>, u32>,
    groups: &'s BTreeMap<String, GroupSpec>,
}

impl<'s> GroupNames<'s> {
    pub(super) fn new(spec: &'s Spec) -> Self {
        let index = spec
            .groups
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str().into(), i as u32))
            .collect();
        GroupNames {
            index,
            groups: &spec.groups,
        }
    }

    /// The index of group `name`, referenced at `path`.
    pub(crate) fn index(&self, name: &str, path: &str) -> Result<u32> {
        self.index.get(name).copied().ok_or_else(|| {
            unknown_group(
                ErrorKind::UnknownReference,
                path,
                name,
                self.groups.keys().map(String::as_str),
            )
        })
    }

    /// The name → index map, for the snapshot.
    pub(super) fn into_index(self) -> HashMap<Box<str>, u32> {
        self.index
    }
}
