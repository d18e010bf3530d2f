//! Query-string parameters (`application/x-www-form-urlencoded`).
//!
//! Values are percent-decoded and `+` becomes a space; decoding allocates only when the value
//! contains an escape. A malformed escape (`%zz`) is kept literally, and bytes that do not form
//! UTF-8 after decoding are replaced with U+FFFD. The first parameter with the name wins.
//!
//! ```
//! use gray_core::query;
//!
//! assert_eq!(query::find("a=1&b=x%20y", "b").as_deref(), Some("x y"));
//! assert_eq!(query::find("a=1&a=2", "a").as_deref(), Some("1"));
//! assert_eq!(query::find("flag&a=1", "flag").as_deref(), Some(""));
//! ```

use std::borrow::Cow;

/// The decoded value of the first parameter called `name` in a raw query string (without `?`).
pub fn find<'a>(query: &'a str, name: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    for_each_pair(query, |k, v| {
        if found.is_none() && key_is(k, name) {
            found = Some(v);
        }
    });
    found.map(decode)
}

/// Calls `f(raw_key, raw_value)` for each non-empty `&`-separated parameter, in order; a
/// parameter without `=` has the value `""`. Nothing is decoded.
#[inline]
pub(crate) fn for_each_pair<'a>(query: &'a str, mut f: impl FnMut(&'a str, &'a str)) {
    let mut rest = query;
    while !rest.is_empty() {
        // `&` and `=` are ASCII, so every cut below is on a char boundary.
        let (pair, tail) = match super::scan::find1(rest.as_bytes(), b'&') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        rest = tail;
        if pair.is_empty() {
            continue;
        }
        match super::scan::find1(pair.as_bytes(), b'=') {
            Some(i) => f(&pair[..i], &pair[i + 1..]),
            None => f(pair, ""),
        }
    }
}

/// Whether a raw key or value has escapes (`%` or `+`) that [`decode`] would change.
#[inline]
pub(crate) fn needs_decoding(s: &str) -> bool {
    super::scan::find2(s.as_bytes(), b'%', b'+').is_some()
}

/// Whether the raw key `k` decodes to `name`; decodes (and allocates) only escaped keys.
#[inline]
fn key_is(k: &str, name: &str) -> bool {
    if needs_decoding(k) {
        decode(k) == name
    } else {
        k == name
    }
}

/// Percent-decodes one component; borrows when nothing needs decoding.
pub fn decode(s: &str) -> Cow<'_, str> {
    if !needs_decoding(s) {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 3;
                }
                _ => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(decode("a%2Fb"), "a/b");
        assert_eq!(decode("a+b"), "a b");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%e6%97%a5"), "日");
        assert_eq!(decode("%ff"), "\u{fffd}");
        assert!(matches!(decode("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn finds() {
        assert_eq!(find("", "a"), None);
        assert_eq!(find("&&a=1&", "a").as_deref(), Some("1"));
        assert_eq!(find("x%20y=2", "x y").as_deref(), Some("2"));
        assert_eq!(find("a=1=2", "a").as_deref(), Some("1=2"));
        assert_eq!(find("b=1", "a"), None);
    }
}
