//! Nepxion Discovery rule import: XML (`<rule>`) and JSON (`RuleEntity`) into the native
//! [`crate::release`] model.
//!
//! Teams running Nepxion Discovery hand gray their existing rule file and get the same
//! routing: `<strategy>` becomes `release.defaults`, `<strategy-release>` conditions and routes
//! become `release.blue_green` / `release.gray` / `release.routes` (conditions in Nepxion's
//! order: more `#H['` references first), `<header>` becomes `headers.builtin`,
//! `<strategy-failover>` and `<strategy-blacklist>` become `release.failover` /
//! `release.blacklist`, and `<discovery>` version, region and weight filters become
//! `release.discovery`.
//!
//! Unlike Nepxion, nothing is silently dropped: unknown or misplaced elements (a
//! `<strategy-release>` nested inside `<discovery>`, the retired `<strategy-customization>`)
//! and parts gray does not apply (`<register>`, `<parameter>`) come back as [`Warning`]s, and
//! a route id that does not exist, a weight like `1.0=abc`, an unsafe expression or a
//! duplicate section is an [`Error`] with the element path, line and column.
//!
//! ```
//! use gray_core::{nepxion, Engine, SimpleRequest};
//!
//! let rule = r##"<rule>
//!   <strategy><version>{"svc-a":"1.0"}</version></strategy>
//!   <strategy-release>
//!     <conditions type="blue-green">
//!       <condition id="c1" expression="#H['a'] == '1' &amp;&amp; #H['b'] != '2'" version-id="r1"/>
//!     </conditions>
//!     <routes><route id="r1" type="version">{"svc-a":"1.1"}</route></routes>
//!   </strategy-release>
//! </rule>"##;
//! let import = nepxion::import_xml(rule)?;
//! assert!(import.warnings.is_empty());
//! let (engine, _warnings) = Engine::from_nepxion(rule)?;
//! let d = engine.decide(&SimpleRequest::new("10.0.0.1".parse()?).with_header("a", "1"));
//! let version = d.headers().find(|(k, _)| *k == "n-d-version");
//! assert_eq!(version, Some(("n-d-version", r#"{"svc-a":"1.1"}"#)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Error, ErrorKind, Location, Result};
use crate::spec::release::ReleaseSpec;
use crate::spec::Spec;

mod dom;
mod json;
mod locate;
mod model;
mod xml;

/// Something in a rule that gray does not apply, reported instead of silently ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Where (element path and position, or JSON path).
    pub location: Location,
    /// What and why.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}: {}", self.location, self.message)
    }
}

/// The result of importing one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    /// The native release section.
    pub release: ReleaseSpec,
    /// Nepxion `<header>`: built-in headers (`headers.builtin`).
    pub builtin_headers: BTreeMap<String, String>,
    /// Everything not applied, with where it was.
    pub warnings: Vec<Warning>,
}

impl Import {
    /// Installs the rule into a spec: sets `release` and replaces `headers.builtin`. The
    /// spec's groups (services and their instances) are kept, and so are the parts a rule
    /// cannot say: `release.local` (who this process is) and `release.zone_affinity`.
    pub fn apply_to(&self, spec: &mut Spec) {
        let mut release = self.release.clone();
        if let Some(old) = &spec.release {
            release.local = old.local.clone();
            release.zone_affinity = old.zone_affinity;
        }
        spec.release = Some(release);
        spec.headers.builtin = self.builtin_headers.clone();
    }

    /// A spec with this rule and no instances: every request goes to group `default`.
    pub fn into_spec(self) -> Spec {
        let mut spec = Spec::minimal("default");
        self.apply_to(&mut spec);
        spec
    }
}

/// Imports an XML rule (`<rule>…</rule>`).
pub fn import_xml(text: &str) -> Result<Import> {
    xml::parse(text)?.finish()
}

/// Imports a JSON rule (a serialised Nepxion `RuleEntity`).
pub fn import_json(text: &str) -> Result<Import> {
    // Problems found after parsing know their JSON path; add the line and column.
    let fill = |loc: &mut Location| {
        if loc.line.is_none() {
            if let Some((line, column)) = locate::locate(text, &loc.path) {
                loc.line = Some(line);
                loc.column = Some(column);
            }
        }
    };
    match json::parse(text).and_then(|d| d.finish()) {
        Ok(mut import) => {
            for w in &mut import.warnings {
                fill(&mut w.location);
            }
            Ok(import)
        }
        Err(mut e) => {
            fill(e.location_mut());
            Err(e)
        }
    }
}

/// Imports XML or JSON, chosen by the first non-blank character (`<` or `{`).
pub fn import(text: &str) -> Result<Import> {
    match text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next()
    {
        Some('<') => import_xml(text),
        Some('{') => import_json(text),
        _ => Err(Error::new(
            ErrorKind::Syntax,
            Location::new(String::new(), Some(1), Some(1)),
            "a Nepxion rule starts with `<` (XML) or `{` (JSON)",
        )),
    }
}
