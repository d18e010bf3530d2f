//! Python strings for the constant names of a snapshot (rule ids, group names), built once per
//! generation and shared by every decision made from it, so reading `decision.group` hands out
//! a reference instead of building a new `str` each time.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use gray_core::{Decision, Snapshot};
use pyo3::prelude::*;
use pyo3::types::PyString;

/// The names of one snapshot, keyed by where the text lives in that snapshot.
pub(crate) struct Names {
    generation: u64,
    /// `(address, length)` of the snapshot's own text → the Python string; sorted.
    strings: Vec<((usize, usize), Py<PyString>)>,
}

fn key(s: &str) -> (usize, usize) {
    (s.as_ptr() as usize, s.len())
}

impl Names {
    fn build(py: Python<'_>, snap: &Snapshot) -> Names {
        let mut strings: Vec<_> = snap
            .rule_ids()
            .chain(snap.group_names())
            .map(|s| (key(s), PyString::new(py, s).unbind()))
            .collect();
        strings.sort_by_key(|(k, _)| *k);
        Names {
            generation: snap.generation(),
            strings,
        }
    }

    /// The Python string for `s`, text borrowed from the snapshot of this generation: the
    /// cached object when `s` is one of its names, a new string otherwise.
    pub(crate) fn get<'py>(&self, py: Python<'py>, s: &str) -> Bound<'py, PyString> {
        match self.strings.binary_search_by_key(&key(s), |(k, _)| *k) {
            Ok(i) => self.strings[i].1.bind(py).clone(),
            Err(_) => PyString::new(py, s),
        }
    }
}

/// The names of the most recent generation an engine decided with.
#[derive(Default)]
pub(crate) struct NameCache(ArcSwapOption<Names>);

impl NameCache {
    /// The names for the snapshot `decision` was made from.
    pub(crate) fn for_decision(&self, py: Python<'_>, decision: &Decision) -> Arc<Names> {
        let generation = decision.generation();
        if let Some(names) = self.0.load_full() {
            if names.generation == generation {
                return names;
            }
        }
        let names = Arc::new(Names::build(py, decision.snapshot()));
        self.0.store(Some(names.clone()));
        names
    }
}
