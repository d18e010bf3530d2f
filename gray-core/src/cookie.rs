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
    let mut rest = Some(header);
    std::iter::from_fn(move || loop {
        let (pair, tail) = split_pair(rest?);
        rest = tail;
        if let Some(p) = parse_pair(pair) {
            return Some(p);
        }
    })
}

/// The value of the first cookie called `name` in one `Cookie` header value.
///
/// This is on the request path of every cookie condition, so it scans bytes directly.
pub fn find<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    if name.is_empty() {
        return None;
    }
    let mut rest = Some(header);
    while let Some(r) = rest {
        let (pair, tail) = split_pair(r);
        rest = tail;
        let Some(eq) = pair.as_bytes().iter().position(|&b| b == b'=') else {
            continue;
        };
        // Only a pair whose trimmed name matches pays for trimming and unquoting its value.
        if trim_blanks(&pair[..eq]) == name {
            return Some(unquote(trim_blanks(&pair[eq + 1..])));
        }
    }
    None
}

/// Splits off the first `;`-separated pair: `(pair, rest after ';')`.
#[inline]
fn split_pair(s: &str) -> (&str, Option<&str>) {
    match s.as_bytes().iter().position(|&b| b == b';') {
        // `;` is ASCII, so both indices are char boundaries.
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    }
}

/// `name=value` with blanks trimmed and the value unquoted; `None` without `=` or a name.
#[inline]
fn parse_pair(pair: &str) -> Option<(&str, &str)> {
    let eq = pair.as_bytes().iter().position(|&b| b == b'=')?;
    let name = trim_blanks(&pair[..eq]);
    if name.is_empty() {
        return None;
    }
    Some((name, unquote(trim_blanks(&pair[eq + 1..]))))
}

/// Trims spaces and tabs (ASCII, so the cut is always on a char boundary).
#[inline]
fn trim_blanks(s: &str) -> &str {
    let b = s.as_bytes();
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
    &s[start..end]
}

/// The cookies of one request, parsed once: the first [`Jar::CAPACITY`] pairs of its `Cookie`
/// header lines, in order. A decision that tests several cookies scans the header once
/// instead of once per cookie.
#[derive(Debug)]
pub(crate) struct Jar<'a> {
    pairs: [(&'a str, &'a str); Jar::CAPACITY],
    len: usize,
    /// Every pair of every line fitted.
    complete: bool,
}

impl<'a> Jar<'a> {
    /// Pairs kept; a request with more cookies is searched directly for names not among them.
    pub(crate) const CAPACITY: usize = 16;

    /// An empty jar; add lines with [`Jar::add_line`].
    pub(crate) fn new() -> Self {
        Jar {
            pairs: [("", ""); Jar::CAPACITY],
            len: 0,
            complete: true,
        }
    }

    /// Adds the pairs of one `Cookie` header line; false once the jar is full.
    pub(crate) fn add_line(&mut self, line: &'a str) -> bool {
        for pair in iter(line) {
            if self.len == Jar::CAPACITY {
                self.complete = false;
                return false;
            }
            self.pairs[self.len] = pair;
            self.len += 1;
        }
        true
    }

    /// `Some(value)` of the first cookie called `name`, `Some(None)` if there is none, `None`
    /// if the jar is incomplete and `name` is not among the pairs it holds.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<Option<&'a str>> {
        match self.pairs[..self.len].iter().find(|(n, _)| *n == name) {
            Some((_, v)) => Some(Some(v)),
            None if self.complete => Some(None),
            None => None,
        }
    }
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
    fn jar_matches_find() {
        let lines = ["a=1; b=2; a=3", " c = \"4\"; junk; =x"];
        let mut jar = Jar::new();
        for l in lines {
            assert!(jar.add_line(l));
        }
        for name in ["a", "b", "c", "d", "junk", ""] {
            let want = lines.iter().find_map(|l| find(l, name));
            assert_eq!(jar.get(name), Some(want), "{name}");
        }
        let many: String = (0..20).map(|i| format!("k{i}={i}; ")).collect();
        let mut jar = Jar::new();
        assert!(!jar.add_line(&many));
        assert_eq!(jar.get("k3"), Some(Some("3")));
        assert_eq!(jar.get("k19"), None, "beyond the capacity: unknown");
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert_eq!(find("ü=ä; a=日本", "a"), Some("日本"));
        assert_eq!(find("a=\u{feff}", "a"), Some("\u{feff}"));
    }
}
