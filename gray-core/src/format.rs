//! The text formats a spec is written in.
//!
//! A leaf of the crate: [`crate::spec`] reads these formats and [`crate::Error`] uses the format
//! to locate a field path in the source text.

use std::path::Path;

/// Text formats a [`crate::Spec`] can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML 1.2 (via `serde_yaml_ng`).
    Yaml,
    /// JSON.
    Json,
    /// TOML.
    Toml,
}

impl Format {
    /// Guesses the format from a file extension (`yaml`/`yml`, `json`, `toml`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }

    /// `yaml`, `json` or `toml`: the name [`Format::from_name`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Toml => "toml",
        }
    }

    /// Parses `yaml`, `json` or `toml` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            _ => None,
        }
    }
}
