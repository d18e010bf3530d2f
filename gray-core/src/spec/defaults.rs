//! Small serde helpers shared by the spec types: defaults and skip-if predicates.

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn is_true(b: &bool) -> bool {
    *b
}
