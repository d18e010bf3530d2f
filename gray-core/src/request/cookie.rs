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

use std::ops::Range;

/// Iterates over the `(name, value)` pairs of one `Cookie` header value.
pub fn iter(header: &str) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = header;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let (pair, tail) = next_pair(rest);
        rest = tail;
        if pair.is_some() {
            return pair;
        }
    })
}

/// Calls `f(name, value)` for each pair of one `Cookie` header value, in order, with the same
/// rules as [`iter`] (the tests and the fuzz targets check [`for_each_span`] through it).
#[cfg(any(test, feature = "testing"))]
pub(crate) fn for_each_pair<'a>(header: &'a str, mut f: impl FnMut(&'a str, &'a str)) {
    for_each_span(header.as_bytes(), |name, value| {
        // Every offset sits next to an ASCII byte, so the slices are on char boundaries.
        if let (Some(name), Some(value)) = (header.get(name), header.get(value)) {
            f(name, value);
        }
    });
}

/// Calls `f(name, value)` with the byte ranges of each pair of one `Cookie` header value, in
/// order, with the same rules as [`iter`]; every range starts and ends next to an ASCII byte (or
/// at an end of the header), so it cuts a `str` on char boundaries.
///
/// This is on the request path (once per `Cookie` line of a decision that reads cookies): a
/// decision looks each name up in its table of wanted names as bytes and slices the header only
/// for the pairs it wants.
#[inline(always)]
pub(crate) fn for_each_span(b: &[u8], mut f: impl FnMut(Range<usize>, Range<usize>)) {
    use super::scan::{find1, find2};
    let n = b.len();
    let blank = |c: u8| c == b' ' || c == b'\t';
    let mut i = 0;
    while i < n {
        while i < n && blank(b[i]) {
            i += 1;
        }
        let name_start = i;
        let Some(off) = find2(&b[i..], b'=', b';') else {
            return;
        };
        let eq = i + off;
        if b[eq] == b';' {
            i = eq + 1;
            continue;
        }
        let mut name_end = eq;
        while name_end > name_start && blank(b[name_end - 1]) {
            name_end -= 1;
        }
        let mut v_start = eq + 1;
        let stop = find1(&b[v_start..], b';').map_or(n, |o| v_start + o);
        while v_start < stop && blank(b[v_start]) {
            v_start += 1;
        }
        let mut v_end = stop;
        while v_end > v_start && blank(b[v_end - 1]) {
            v_end -= 1;
        }
        if v_end - v_start >= 2 && b[v_start] == b'"' && b[v_end - 1] == b'"' {
            v_start += 1;
            v_end -= 1;
        }
        if name_end > name_start {
            f(name_start..name_end, v_start..v_end);
        }
        i = stop + 1;
    }
}

/// The first `;`-separated piece of `s` as a trimmed, unquoted pair (`None` without `=` or
/// without a name), and the rest after its `;` (empty at the end).
#[inline]
fn next_pair(s: &str) -> (Option<(&str, &str)>, &str) {
    let b = s.as_bytes();
    // `;` and `=` are ASCII, so every cut below is on a char boundary.
    let Some(i) = super::scan::find2(b, b';', b'=') else {
        return (None, "");
    };
    if b[i] == b';' {
        return (None, &s[i + 1..]);
    }
    let (value, rest) = match super::scan::find1(&b[i + 1..], b';') {
        Some(j) => (&s[i + 1..i + 1 + j], &s[i + 2 + j..]),
        None => (&s[i + 1..], ""),
    };
    let name = super::scan::trim_blanks(&s[..i]);
    if name.is_empty() {
        return (None, rest);
    }
    (Some((name, unquote(super::scan::trim_blanks(value)))), rest)
}

/// The value of the first cookie called `name` in one `Cookie` header value.
pub fn find<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
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
    fn iter_yields_every_named_pair() {
        let pairs: Vec<_> = iter(" a=1;;b ; =x;\tc = \"3\" ;d==;e").collect();
        assert_eq!(pairs, [("a", "1"), ("c", "3"), ("d", "=")]);
        assert_eq!(iter("").count(), 0);
        assert_eq!(find("a=1", ""), None);
        assert_eq!(find("ab=1; a=2", "a"), Some("2"));
        assert_eq!(find("a =1", "a"), Some("1"));
    }

    #[test]
    fn one_pass_gives_the_pairs_iter_gives() {
        for line in [
            "a=1; b=2; a=3",
            " c = \"4\"; junk; =x; ;; d=",
            "",
            ";",
            "=",
            "e=1=2;f",
            "g=\"\"; h=\"",
        ] {
            let mut seen = Vec::new();
            for_each_pair(line, |n, v| seen.push((n, v)));
            assert_eq!(seen, iter(line).collect::<Vec<_>>(), "{line:?}");
        }
        let mut seen = Vec::new();
        for_each_pair(" c = \"4\"; junk; =x; d=", |n, v| seen.push((n, v)));
        assert_eq!(seen, [("c", "4"), ("d", "")]);
    }

    proptest::proptest! {
        /// The byte-offset pass and the iterator agree on any input.
        #[test]
        fn one_pass_agrees_with_iter_on_anything(line in "[ab=; \t\"é]{0,24}") {
            let mut seen = Vec::new();
            for_each_pair(&line, |n, v| seen.push((n, v)));
            proptest::prop_assert_eq!(seen, iter(&line).collect::<Vec<_>>());
        }
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert_eq!(find("ü=ä; a=日本", "a"), Some("日本"));
        assert_eq!(find("a=\u{feff}", "a"), Some("\u{feff}"));
    }
}
