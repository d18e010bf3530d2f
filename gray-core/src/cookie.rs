//! Cookie header parsing (RFC 6265 `Cookie:` request header), without allocation.
//!
//! A `Cookie` header is `name=value; name2=value2`. gray looks a cookie up by name, case-
//! sensitively, and takes the first occurrence (browsers send the most specific path first).
//! Pairs without `=` are skipped, surrounding spaces are trimmed, and a value in double quotes
//! is returned without them. Several `Cookie` header lines (HTTP/2 splits them) are searched in
//! order.
//!
//! ```
//! use gray_core::cookie;
//!
//! let header = "session=abc; canary=user-aaa; theme=\"dark\"";
//! assert_eq!(cookie::find(header, "canary"), Some("user-aaa"));
//! assert_eq!(cookie::find(header, "theme"), Some("dark"));
//! assert_eq!(cookie::find(header, "Canary"), None);
//! ```

/// Iterates over the `(name, value)` pairs of one `Cookie` header value.
pub fn iter(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(';').filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let name = name.trim_matches(|c| c == ' ' || c == '\t');
        if name.is_empty() {
            return None;
        }
        Some((name, unquote(value.trim_matches(|c| c == ' ' || c == '\t'))))
    })
}

/// The value of the first cookie called `name` in one `Cookie` header value.
pub fn find<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    iter(header).find(|(n, _)| *n == name).map(|(_, v)| v)
}

fn unquote(v: &str) -> &str {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_first_occurrence_and_trims() {
        assert_eq!(find("a=1; b=2;a=3", "a"), Some("1"));
        assert_eq!(find("  a = 1 ;b=2", "a"), Some("1"));
        assert_eq!(find("b=2", "a"), None);
        assert_eq!(find("", "a"), None);
    }

    #[test]
    fn malformed_pairs_are_skipped() {
        assert_eq!(find("junk; =x; a=ok", "a"), Some("ok"));
        assert_eq!(find(";;;", "a"), None);
        assert_eq!(find("a", "a"), None);
        assert_eq!(find("a=", "a"), Some(""));
        assert_eq!(find("a==b", "a"), Some("=b"));
        assert_eq!(find("a=\"", "a"), Some("\""));
        assert_eq!(find("a=\"q\"", "a"), Some("q"));
    }

    #[test]
    fn names_are_case_sensitive() {
        assert_eq!(find("Canary=1", "canary"), None);
        assert_eq!(iter("x=1; y=2").count(), 2);
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert_eq!(find("ü=ä; a=日本", "a"), Some("日本"));
        assert_eq!(find("a=\u{feff}", "a"), Some("\u{feff}"));
    }
}
