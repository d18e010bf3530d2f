//! Reading and writing spec text (YAML, JSON, TOML) with errors that carry the field path,
//! line and column.

use serde::Serialize;

use crate::error::{line_col, Error, ErrorKind, Location, Result};

/// Reads YAML into any serde type, with enums written as one-key maps (`cookie: {...}`), the
/// way the native format writes conditions. Errors carry the field path, line and column.
pub fn yaml_from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(de, &mut track);
    serde_yaml_ng::with::singleton_map_recursive::deserialize(tracked).map_err(
        |e: serde_yaml_ng::Error| {
            let loc = e.location();
            Error::new(
                ErrorKind::Syntax,
                Location::new(
                    clean_path(track.path().to_string()),
                    loc.as_ref().map(|l| l.line()),
                    loc.as_ref().map(|l| l.column()),
                ),
                strip_path_prefix(&strip_position(&e.to_string())),
            )
        },
    )
}

/// Writes any serde type as YAML with enums as one-key maps (the inverse of [`yaml_from_str`]).
pub fn yaml_to_string<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    let mut ser = serde_yaml_ng::Serializer::new(&mut out);
    match serde_yaml_ng::with::singleton_map_recursive::serialize(value, &mut ser) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(e) => format!("# cannot serialise: {e}\n"),
    }
}

/// serde_yaml prefixes messages with the path (`rules[0].when: invalid type ...`); the location
/// already says it.
fn strip_path_prefix(msg: &str) -> String {
    match msg.split_once(": ") {
        Some((p, rest)) if !p.contains(char::is_whitespace) && !p.is_empty() => rest.to_string(),
        _ => msg.to_string(),
    }
}

pub(super) fn clean_path(p: String) -> String {
    if p == "." {
        String::new()
    } else {
        p
    }
}

/// serde_json and serde_yaml append " at line X column Y"; the location already says it.
pub(super) fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

pub(super) fn toml_error(text: &str, e: toml::de::Error, path: &str) -> Error {
    let (line, col) = match e.span() {
        Some(span) => line_col(text, span.start),
        None => (None, None),
    };
    Error::new(
        ErrorKind::Syntax,
        Location::new(path, line, col),
        e.message().to_string(),
    )
}
