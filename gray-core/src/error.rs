//! The one public error type of gray-core.
//!
//! Every fallible operation — parsing a spec, compiling it, importing a Nepxion rule, an admin
//! change — returns [`Error`]. An error says *what* is wrong ([`Error::kind`]), *where*
//! ([`Error::location`]: a field path such as `rules[2].when.cookie.regex`, plus line and column
//! when the input format reports them) and *why* (the message), so that the person who wrote the
//! config can fix it without reading gray's source.
//!
//! ```
//! use gray_core::{Engine, ErrorKind, Format};
//!
//! let err = Engine::from_str("version: 1\ndefault: nowhere\n", Format::Yaml).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::UnknownReference);
//! assert!(err.to_string().contains("nowhere"));
//! ```

use std::fmt;

/// What kind of problem an [`Error`] reports.
///
/// New kinds may be added in minor releases, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The text is not valid YAML / JSON / TOML / XML, or a field has the wrong type, or a field
    /// is not known.
    Syntax,
    /// A field has a value of the right type that is not allowed (empty name, weight out of
    /// range, bad duration, two operators where one is expected, ...).
    InvalidValue,
    /// An IP address or CIDR could not be parsed.
    InvalidIp,
    /// A regular expression did not compile.
    InvalidRegex,
    /// A Nepxion-style condition expression did not parse.
    InvalidExpression,
    /// A name refers to something that does not exist (group, IP set, route id).
    UnknownReference,
    /// A name was defined twice (rule id, node address, section).
    Duplicate,
    /// A file named in the spec could not be read.
    Io,
    /// An admin change named a group that does not exist.
    UnknownGroup,
    /// An admin change named a node that does not exist.
    UnknownNode,
    /// The spec's `version` is not one this library understands.
    UnsupportedVersion,
    /// A configuration source (for example Redis) could not be reached or answered badly.
    Source,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax error",
            ErrorKind::InvalidValue => "invalid value",
            ErrorKind::InvalidIp => "invalid IP address",
            ErrorKind::InvalidRegex => "invalid regex",
            ErrorKind::InvalidExpression => "invalid expression",
            ErrorKind::UnknownReference => "unknown reference",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::Io => "I/O error",
            ErrorKind::UnknownGroup => "unknown group",
            ErrorKind::UnknownNode => "unknown node",
            ErrorKind::UnsupportedVersion => "unsupported version",
            ErrorKind::Source => "config source error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where in the input an error was found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Field path, e.g. `rules[2].when.cookie.regex` or `/rule/strategy-release/conditions[1]`.
    pub path: String,
    /// 1-based line, when the format reports it.
    pub line: Option<usize>,
    /// 1-based column, when the format reports it.
    pub column: Option<usize>,
}

impl Location {
    /// A location with only a path.
    pub fn path(path: impl Into<String>) -> Self {
        Location {
            path: path.into(),
            line: None,
            column: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.path.is_empty() && self.line.is_none()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.path.is_empty() {
            f.write_str(&self.path)?;
        }
        match (self.line, self.column) {
            (Some(l), Some(c)) if self.path.is_empty() => write!(f, "line {l}, column {c}"),
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            (Some(l), None) if self.path.is_empty() => write!(f, "line {l}"),
            (Some(l), None) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

/// The error type of every fallible gray-core operation.
///
/// `Display` gives one line a person can act on (more lines for expressions, with a caret under
/// the bad column); [`Error::kind`], [`Error::location`] and [`Error::message`] give the same
/// facts to programs.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    location: Location,
    message: String,
}

impl Error {
    /// Builds an error. Mostly used inside gray; public so that adapters (tower, Python, config
    /// sources) can report their own problems in the same shape.
    pub fn new(kind: ErrorKind, location: Location, message: impl Into<String>) -> Self {
        Error {
            kind,
            location,
            message: message.into(),
        }
    }

    /// An error at a field path.
    pub fn at(kind: ErrorKind, path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(kind, Location::path(path), message)
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Where the problem is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The explanation without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn location_mut(&mut self) -> &mut Location {
        &mut self.location
    }

    /// Prefixes the path with `prefix` (e.g. a file name or an outer element).
    pub(crate) fn within(mut self, prefix: &str) -> Self {
        if self.location.path.is_empty() {
            self.location.path = prefix.to_string();
        } else if self.location.path.starts_with('[') {
            self.location.path = format!("{prefix}{}", self.location.path);
        } else {
            self.location.path = format!("{prefix}.{}", self.location.path);
        }
        self
    }

    /// Sets line/column if none is known yet.
    pub(crate) fn with_line(mut self, line: Option<usize>, column: Option<usize>) -> Self {
        if self.location.line.is_none() {
            self.location.line = line;
            self.location.column = column;
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.location.is_empty() {
            write!(f, "{}: {}", self.kind, self.message)
        } else {
            write!(f, "{} at {}: {}", self.kind, self.location, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand for results in this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_kind_path_line_and_message() {
        let e = Error::new(
            ErrorKind::InvalidRegex,
            Location {
                path: "rules[0].when.cookie.regex".into(),
                line: Some(7),
                column: Some(3),
            },
            "unclosed group",
        );
        assert_eq!(
            e.to_string(),
            "invalid regex at rules[0].when.cookie.regex (line 7, column 3): unclosed group"
        );
        let e = Error::at(ErrorKind::UnknownGroup, "", "no group \"x\"");
        assert_eq!(e.to_string(), "unknown group: no group \"x\"");
    }

    #[test]
    fn within_prefixes_paths() {
        let e = Error::at(ErrorKind::InvalidValue, "weight", "too big").within("groups.a.nodes[1]");
        assert_eq!(e.location().path, "groups.a.nodes[1].weight");
        let e = Error::at(ErrorKind::InvalidValue, "[3]", "x").within("rules");
        assert_eq!(e.location().path, "rules[3]");
    }
}
