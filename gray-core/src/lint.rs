//! Lint: configs that compile but probably do not do what their author meant.
//!
//! A spec can be valid and still route nobody the way it says: a rule after an earlier one that
//! matches all of its requests first, two rules that claim the same client IPs for different
//! groups, two percent rules that pick the same users, a group that can serve nobody, a cookie
//! name misspelt in one rule. None of these is an error (each has legitimate uses), so the
//! spec still applies; every compile lists them as [`Lint`]s, each naming the rule and the field
//! (with file, line and column when the spec came from text). The checks themselves run while
//! compiling (`compile/lint/`); [`crate::Snapshot::lints`] and [`crate::Engine::lints`] give the
//! list of the spec being served.
//!
//! ```
//! use gray_core::{lint::LintKind, Engine, Format};
//!
//! let engine = Engine::from_str(r#"
//! version: 1
//! groups: { stable: { nodes: [{ address: "10.0.0.1:80" }] },
//!           canary: { nodes: [{ address: "10.0.0.2:80" }] } }
//! rules:
//!   - { id: office, when: { ip: ["10.0.0.0/8"] }, route: stable }
//!   - { id: testers, when: { ip: ["10.1.2.0/24"] }, route: canary }
//! default: stable
//! "#, Format::Yaml)?;
//! let lints = engine.lints();
//! assert_eq!(lints.len(), 1);
//! assert_eq!(lints[0].kind, LintKind::ShadowedRule);
//! assert_eq!(lints[0].rule.as_deref(), Some("testers"));
//! assert_eq!(lints[0].location.line, Some(7));
//! # Ok::<(), gray_core::Error>(())
//! ```

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::error::{Location, SourceMap};
use crate::format::Format;

/// What a [`Lint`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LintKind {
    /// A rule that can never match: an earlier rule matches every request it would.
    ShadowedRule,
    /// Two rules whose client-IP sets overlap route to different groups; for the shared
    /// addresses the earlier rule wins.
    OverlappingIpSets,
    /// Two percent conditions hash the same key with the same salt, so they select the same
    /// users (the smaller population is inside the larger) instead of independent ones.
    SharedPercentSalt,
    /// A group with no nodes, or whose nodes all have weight 0: requests routed there have no
    /// node unless a fallback takes them.
    EmptyGroup,
    /// A cookie or header name that only this rule uses and that is one or two edits away from a
    /// name other rules use.
    LikelyTypo,
}

impl LintKind {
    /// The snake_case name used in JSON and text output.
    pub fn name(self) -> &'static str {
        match self {
            LintKind::ShadowedRule => "shadowed_rule",
            LintKind::OverlappingIpSets => "overlapping_ip_sets",
            LintKind::SharedPercentSalt => "shared_percent_salt",
            LintKind::EmptyGroup => "empty_group",
            LintKind::LikelyTypo => "likely_typo",
        }
    }
}

impl fmt::Display for LintKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One warning about a spec that compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// What was found.
    pub kind: LintKind,
    /// The rule it is about, when it is about a rule.
    pub rule: Option<String>,
    /// The field it is about (`rules[3] (id "beta").when`, `groups.canary.nodes`), with the
    /// file, line and column when the spec was compiled from text.
    pub location: Location,
    /// What and why, and what to do.
    pub message: String,
}

impl Lint {
    /// Gives the lint the line and column of its path in `text`, the source the spec was
    /// parsed from, when it has no line yet (for lints of a spec compiled without its text,
    /// such as a what-if candidate). Parses `text` again; for many lints use
    /// [`crate::what_if::WhatIf::located_in`] or compile from text.
    pub fn located_in(self, text: &str, format: Format) -> Lint {
        let mut one = [self];
        locate(&mut one, text, format, None);
        let [l] = one;
        l
    }
}

/// Gives each lint without a line the line and column of its path in `text` (parsed once for
/// all of them) and, when given, the file. A lint about a key the text leaves out
/// (`groups.canary.nodes`) points at the nearest parent that is there.
pub(crate) fn locate(lints: &mut [Lint], text: &str, format: Format, file: Option<&str>) {
    if lints.is_empty() {
        return;
    }
    let map = SourceMap::parse(text, format);
    for l in lints {
        if let Some(file) = file {
            l.location.file = Some(file.to_string());
        }
        if l.location.line.is_some() {
            continue;
        }
        let mut path = l.location.path.as_str();
        let found = loop {
            match map.as_ref().and_then(|m| m.locate(path, None)) {
                Some(p) => break Some(p),
                None => match path.rsplit_once('.') {
                    Some((parent, _)) => path = parent,
                    None => break None,
                },
            }
        };
        if let Some(p) = found {
            l.location.line = Some(p.line);
            l.location.column = Some(p.column);
        }
    }
}

impl fmt::Display for Lint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning[{}]: {}: {}",
            self.kind, self.location, self.message
        )
    }
}

/// JSON form: `{"kind", "rule", "message", "path", "file", "line", "column"}`.
impl Serialize for Lint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_struct("Lint", 7)?;
        m.serialize_field("kind", self.kind.name())?;
        m.serialize_field("rule", &self.rule)?;
        m.serialize_field("message", &self.message)?;
        m.serialize_field("path", &self.location.path)?;
        m.serialize_field("file", &self.location.file)?;
        m.serialize_field("line", &self.location.line)?;
        m.serialize_field("column", &self.location.column)?;
        m.end()
    }
}
