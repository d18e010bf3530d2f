//! The one public error type of gray-core.
//!
//! Every fallible operation — parsing a spec, compiling it, importing a Nepxion rule, an admin
//! change — returns [`Error`]. An error says *what* is wrong ([`Error::kind`]), *where*
//! ([`Error::location`]: a field path such as `rules[2].when.cookie.regex`, plus the file, line
//! and column when the spec was read from text) and *why* (the message), so that the person who
//! wrote the config can fix it without reading gray's source.
//!
//! ```
//! use gray_core::{Engine, ErrorKind, Format};
//!
//! let err = Engine::from_str("version: 1\ndefault: nowhere\n", Format::Yaml).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::UnknownReference);
//! assert_eq!(
//!     err.to_string(),
//!     "unknown reference at default (line 2, column 10): no group named \"nowhere\" (groups: none)"
//! );
//! ```

use std::fmt;

use crate::format::Format;

mod source_map;

pub(crate) use source_map::line_col;
pub(crate) use source_map::SourceMap;

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
///
/// `Display` gives the path, then in parentheses the file, line and column that are known:
/// `rules[0] (id "cookie").route (gray.yaml, line 7, column 12)`; without a path, only the
/// rest: `gray.yaml, line 3, column 1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    /// Field path, e.g. `rules[2].when.cookie.regex` or `/rule/strategy-release/conditions[1]`.
    pub path: String,
    /// The file the text was read from (a spec file, an IP list file), when there was one.
    pub file: Option<String>,
    /// 1-based line, when the format reports it or the path was found in the text.
    pub line: Option<usize>,
    /// 1-based column (in characters) on `line`. Without a line — an expression error in a spec
    /// that did not come from text — it counts within the expression instead.
    pub column: Option<usize>,
}

impl Location {
    /// A location with only a path.
    pub fn path(path: impl Into<String>) -> Self {
        Location {
            path: path.into(),
            file: None,
            line: None,
            column: None,
        }
    }

    /// A location with a path, line and column, and no file.
    pub fn new(path: impl Into<String>, line: Option<usize>, column: Option<usize>) -> Self {
        Location {
            path: path.into(),
            file: None,
            line,
            column,
        }
    }

    /// The same location in `file`.
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    fn is_empty(&self) -> bool {
        self.path.is_empty() && self.line.is_none() && self.file.is_none()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::with_capacity(3);
        if let Some(file) = &self.file {
            parts.push(file.clone());
        }
        if let Some(l) = self.line {
            parts.push(format!("line {l}"));
            if let Some(c) = self.column {
                parts.push(format!("column {c}"));
            }
        }
        let parts = parts.join(", ");
        match (self.path.is_empty(), parts.is_empty()) {
            (true, _) => f.write_str(&parts),
            (false, true) => f.write_str(&self.path),
            (false, false) => write!(f, "{} ({parts})", self.path),
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

    /// Names the file the text came from, unless the error already names one (an IP list file
    /// named in a spec file keeps its own name).
    ///
    /// ```
    /// use gray_core::{Error, ErrorKind};
    ///
    /// let e = Error::at(ErrorKind::UnknownReference, "default", "no group named \"x\"");
    /// assert_eq!(
    ///     e.in_file("gray.yaml").to_string(),
    ///     "unknown reference at default (gray.yaml): no group named \"x\""
    /// );
    /// ```
    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        if self.location.file.is_none() {
            self.location.file = Some(file.into());
        }
        self
    }

    /// Finds the line and column of the error's field path in `text`, the source the spec was
    /// parsed from, when the error has no line yet: for errors found while compiling a spec,
    /// whose values no longer carry positions. [`crate::Engine::from_str`],
    /// [`crate::Engine::from_file`] and the reload functions do this already; call it when you
    /// parse with [`crate::Spec::from_str`] and compile separately.
    ///
    /// The position is where the offending value starts (for an expression, the offending
    /// character when the expression stands verbatim in the text). When the path is not in
    /// the text, or the text does not parse, the error is returned unchanged. This parses
    /// `text` again, so it belongs on the error path only.
    ///
    /// ```
    /// use gray_core::{Engine, Format, Spec};
    ///
    /// let text = "version: 1\ngroups: { a: { nodes: [] } }\ndefault: b\n";
    /// let spec = Spec::from_str(text, Format::Yaml)?;
    /// let err = Engine::new(spec).unwrap_err().located_in(text, Format::Yaml);
    /// assert_eq!((err.location().line, err.location().column), (Some(3), Some(10)));
    /// # Ok::<(), gray_core::Error>(())
    /// ```
    pub fn located_in(mut self, text: &str, format: Format) -> Self {
        if self.location.line.is_some() || self.location.path.is_empty() {
            return self;
        }
        let expr_column = match self.kind {
            ErrorKind::InvalidExpression => self.location.column,
            _ => None,
        };
        if let Some(p) = source_map::locate(text, format, &self.location.path, expr_column) {
            self.location.line = Some(p.line);
            self.location.column = Some(p.column);
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

/// The error for a group name that names no group, listing the groups there are. `kind` is
/// `UnknownReference` for a reference inside a spec, `UnknownGroup` for an API argument.
pub(crate) fn unknown_group<'a>(
    kind: ErrorKind,
    path: &str,
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Error {
    let known: Vec<&str> = known.into_iter().collect();
    let known = if known.is_empty() {
        "none".to_string()
    } else {
        known.join(", ")
    };
    Error::at(
        kind,
        path,
        format!("no group named {name:?} (groups: {known})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_kind_path_line_and_message() {
        let e = Error::new(
            ErrorKind::InvalidRegex,
            Location::new("rules[0].when.cookie.regex", Some(7), Some(3)),
            "unclosed group",
        );
        assert_eq!(
            e.to_string(),
            "invalid regex at rules[0].when.cookie.regex (line 7, column 3): unclosed group"
        );
        let e = e.in_file("gray.yaml");
        assert_eq!(
            e.to_string(),
            "invalid regex at rules[0].when.cookie.regex (gray.yaml, line 7, column 3): \
             unclosed group"
        );
        let e = Error::new(
            ErrorKind::Syntax,
            Location::new("", Some(3), Some(1)).in_file("gray.yaml"),
            "did not find expected key",
        );
        assert_eq!(
            e.to_string(),
            "syntax error at gray.yaml, line 3, column 1: did not find expected key"
        );
        let e = Error::new(
            ErrorKind::Io,
            Location::default().in_file("ips.txt"),
            "gone",
        );
        assert_eq!(e.to_string(), "I/O error at ips.txt: gone");
        // A column without a line (within an expression) is not shown.
        let e = Error::new(
            ErrorKind::InvalidExpression,
            Location::new("rules[0].when.expr", None, Some(4)),
            "x",
        );
        assert_eq!(e.to_string(), "invalid expression at rules[0].when.expr: x");
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
