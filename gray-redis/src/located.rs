//! Errors located in the text they came from: a file or a Redis key.

/// Prefixes an error's location path with where the text came from (a file, a Redis key):
/// `rules[0].route` becomes `gray:{prod}:spec: rules[0].route`. Kind, file, line and column are
/// kept.
///
/// ```
/// use gray_core::{Error, ErrorKind};
///
/// let e = Error::at(ErrorKind::UnknownReference, "default", "no group \"x\"");
/// let e = gray_redis::prefix_path(e, "rules.yaml");
/// assert_eq!(e.location().path, "rules.yaml: default");
/// ```
pub fn prefix_path(e: gray_core::Error, prefix: &str) -> gray_core::Error {
    let loc = e.location();
    let path = if loc.path.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}: {}", loc.path)
    };
    let mut location = gray_core::Location::new(path, loc.line, loc.column);
    location.file = loc.file.clone();
    gray_core::Error::new(e.kind(), location, e.message())
}
