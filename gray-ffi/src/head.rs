//! A request head given as text — the request line (optional) and the header lines, as nginx's
//! `ngx.req.raw_header()` hands them out — parsed in place: every field borrows the text, and
//! the header list is kept inline (no allocation) up to [`INLINE`] headers.
//!
//! The grammar is HTTP/1.1's (RFC 9112), strictly: lines end with CRLF or LF; the head ends at
//! the first empty line or at the end of the text (what follows an empty line is not read); an
//! optional first line `METHOD SP request-target SP HTTP/x.y`; then `name ":" OWS value OWS`
//! lines, whose name is a token. Folded lines (starting with a space or tab), control
//! characters (other than a tab in a value), a carriage return that does not end a line and
//! text that is not UTF-8 are refused with a [`HeadError`] naming the line and column.

use std::fmt;

/// Headers kept inline; a head with more spills them into one `Vec` (one allocation per head,
/// never one per header).
pub(crate) const INLINE: usize = 24;

/// A parsed head: borrowed slices of the text.
#[derive(Debug)]
pub(crate) struct Head<'a> {
    /// The request line's method, when the head has a request line.
    pub(crate) method: Option<&'a str>,
    /// The request target's path (`/a` of `/a?x=1`; the whole target for `*` and
    /// `host:port`), when the head has a request line.
    pub(crate) path: Option<&'a str>,
    /// The request target's query, without `?`.
    pub(crate) query: Option<&'a str>,
    /// The authority of an absolute-form target (`GET http://shop.example/ HTTP/1.1`), which
    /// replaces the `Host` header (RFC 9112, section 3.2.2).
    pub(crate) authority: Option<&'a str>,
    headers: Fields<'a>,
}

impl<'a> Head<'a> {
    /// The header lines as `(name, value)`, in order; names as sent, values without the
    /// surrounding whitespace.
    pub(crate) fn headers(&self) -> &[(&'a str, &'a str)] {
        self.headers.as_slice()
    }
}

/// `(name, value)` pairs, inline up to [`INLINE`], then in a `Vec`.
#[derive(Debug)]
struct Fields<'a> {
    inline: [(&'a str, &'a str); INLINE],
    len: usize,
    spill: Vec<(&'a str, &'a str)>,
}

impl<'a> Fields<'a> {
    fn new() -> Fields<'a> {
        Fields {
            inline: [("", ""); INLINE],
            len: 0,
            spill: Vec::new(),
        }
    }

    fn push(&mut self, field: (&'a str, &'a str)) {
        if self.len < INLINE {
            self.inline[self.len] = field;
            self.len += 1;
            return;
        }
        if self.spill.is_empty() {
            self.spill.reserve(INLINE * 2);
            self.spill.extend_from_slice(&self.inline);
        }
        self.spill.push(field);
    }

    fn as_slice(&self) -> &[(&'a str, &'a str)] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }
}

/// Why a head was refused, and where: 1-based line and column (in characters) of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeadError {
    /// The line, counting the request line.
    pub(crate) line: usize,
    /// The column of the offending character.
    pub(crate) column: usize,
    /// What is wrong there.
    pub(crate) problem: Problem,
}

/// What is wrong with a head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A line starting with a space or tab: obsolete line folding.
    Folded,
    /// A header line without `:`.
    NoColon,
    /// A header line starting with `:`.
    EmptyName,
    /// A character a header name (a token) cannot have, before the `:`.
    NameChar(u8),
    /// A control character in a value or the request line (`what` names it).
    Control {
        /// The character.
        byte: u8,
        /// `the value of header "x-a"` or `the request line`.
        what: String,
    },
    /// A carriage return that is not followed by a line feed.
    BareCr,
    /// A first line that starts like a request line (a token, then a space) but is not
    /// `METHOD SP request-target SP HTTP/x.y`.
    RequestLine(&'static str),
    /// Bytes that are not UTF-8 in a value or the request target (`what` names it).
    NotUtf8(String),
}

impl Problem {
    /// True when the problem is text that is not UTF-8 (`GRAY_ERR_UTF8`).
    pub(crate) fn is_utf8(&self) -> bool {
        matches!(self, Problem::NotUtf8(_))
    }
}

/// A byte as it reads in a message: `'x'` when printable ASCII, else `0xNN`.
struct Byte(u8);

impl fmt::Display for Byte {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() || self.0 == b' ' {
            write!(f, "{:?}", char::from(self.0))
        } else {
            write!(f, "0x{:02X}", self.0)
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Folded => f.write_str(
                "a header line starts with a space or tab (obsolete line folding is not accepted)",
            ),
            Problem::NoColon => f.write_str("a header line has no ':'"),
            Problem::EmptyName => f.write_str("a header line has an empty name"),
            Problem::NameChar(b) => write!(
                f,
                "a header name cannot contain {} (names are tokens, directly followed by ':')",
                Byte(*b)
            ),
            Problem::Control { byte, what } => {
                write!(f, "control character {} in {what}", Byte(*byte))
            }
            Problem::BareCr => f.write_str("a carriage return that does not end the line"),
            Problem::RequestLine(why) => write!(
                f,
                "the first line is not a request line (METHOD SP target SP HTTP/x.y): {why}"
            ),
            Problem::NotUtf8(what) => write!(f, "{what} is not valid UTF-8"),
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "request head, line {}, column {}: {}",
            self.line, self.column, self.problem
        )
    }
}

impl std::error::Error for HeadError {}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `x` that is a control character (below 0x20, or 0x7F) or not
/// ASCII; exact per byte (no sum carries into the next byte).
#[inline(always)]
fn special_bytes(x: u64) -> u64 {
    let low = x & !HI;
    // Bit 7 of each byte of `low + 0x60` says `low >= 0x20`; of `low + 1`, `low == 0x7F`.
    let printable = low + LO * 0x60;
    let del = low + LO;
    (!printable | del | x) & HI
}

#[inline(always)]
fn is_special(b: u8) -> bool {
    !(0x20..0x7F).contains(&b)
}

/// Index of the first control or non-ASCII byte of `hay` at or after `from`, eight bytes at a
/// time.
#[inline]
fn find_special(hay: &[u8], from: usize) -> Option<usize> {
    let rest = hay.get(from..)?;
    let words = rest.chunks_exact(8);
    let tail = words.remainder();
    let whole = rest.len() - tail.len();
    let in_words = words.enumerate().find_map(|(i, c)| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let hit = special_bytes(u64::from_le_bytes(w));
        (hit != 0).then(|| i * 8 + (hit.trailing_zeros() / 8) as usize)
    });
    let found = in_words.or_else(|| tail.iter().position(|&b| is_special(b)).map(|i| whole + i));
    found.map(|i| from + i)
}

/// `tchar` of RFC 9110: the characters of a token (header names, methods).
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    t
};

/// The length of the token at the start of `b`.
#[inline]
fn token_len(b: &[u8]) -> usize {
    b.iter()
        .position(|&c| !TCHAR[usize::from(c)])
        .unwrap_or(b.len())
}

/// ASCII bytes as text.
///
/// # Safety
///
/// Every byte of `b` is ASCII.
#[inline(always)]
unsafe fn ascii(b: &[u8]) -> &str {
    debug_assert!(b.is_ascii());
    // SAFETY: ASCII is UTF-8, by this function's contract.
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// One line of the text: where its content ends, where the next line starts, and whether it
/// has bytes that are not ASCII.
struct Line {
    end: usize,
    next: usize,
    non_ascii: bool,
}

/// A problem at byte `at` (on the line starting at `start`), before the line was parsed.
struct Early {
    at: usize,
    problem: Problem,
}

/// Finds the end of the line starting at `start`, refusing control characters other than tab
/// and a carriage return that does not end the line.
#[inline]
fn line_at(text: &[u8], start: usize) -> Result<Line, Early> {
    let mut non_ascii = false;
    let mut from = start;
    while let Some(i) = find_special(text, from) {
        match text[i] {
            b'\n' => {
                return Ok(Line {
                    end: i,
                    next: i + 1,
                    non_ascii,
                })
            }
            b'\r' if text.get(i + 1) == Some(&b'\n') => {
                return Ok(Line {
                    end: i,
                    next: i + 2,
                    non_ascii,
                })
            }
            b'\r' => {
                return Err(Early {
                    at: i,
                    problem: Problem::BareCr,
                })
            }
            b'\t' => {}
            b if b >= 0x80 => non_ascii = true,
            b => {
                return Err(Early {
                    at: i,
                    problem: Problem::Control {
                        byte: b,
                        what: String::new(),
                    },
                })
            }
        }
        from = i + 1;
    }
    Ok(Line {
        end: text.len(),
        next: text.len(),
        non_ascii,
    })
}

/// True when a first line is meant as a request line: a token followed by a space and then
/// not by `:` (a header line has `:` after its name; `X-A : 1` is a bad header line).
fn is_request_line(line: &[u8]) -> bool {
    let n = token_len(line);
    if n == 0 || line.get(n) != Some(&b' ') {
        return false;
    }
    line[n..].iter().find(|&&b| b != b' ') != Some(&b':')
}

/// Where a problem at byte `at` of the line `line` (1-based `number`) is, in characters.
fn error_at(line: &[u8], number: usize, at: usize, problem: Problem) -> HeadError {
    let column = String::from_utf8_lossy(&line[..at.min(line.len())])
        .chars()
        .count()
        + 1;
    // A problem found before the line was parsed says which field it is in now.
    let what = || {
        if number == 1 && is_request_line(line) {
            "the request line".to_string()
        } else {
            let name = String::from_utf8_lossy(&line[..token_len(line)]).into_owned();
            format!("the value of header {name:?}")
        }
    };
    let problem = match problem {
        Problem::Control { byte, what: w } if w.is_empty() => {
            Problem::Control { byte, what: what() }
        }
        Problem::NotUtf8(w) if w.is_empty() => Problem::NotUtf8(what()),
        p => p,
    };
    HeadError {
        line: number,
        column,
        problem,
    }
}

/// Where `b` starts and ends without its leading and trailing spaces and tabs.
fn trim_ows(b: &[u8]) -> (usize, usize) {
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
    (start, end)
}

/// `b` as text: unchecked when the line is ASCII, else validated (a failure is at the first
/// bad byte, `offset` being where `b` starts in its line).
fn text_of(b: &[u8], non_ascii: bool, offset: usize) -> Result<&str, Early> {
    if !non_ascii {
        // SAFETY: `line_at` found no byte above 0x7F on the line.
        return Ok(unsafe { ascii(b) });
    }
    std::str::from_utf8(b).map_err(|e| Early {
        at: offset + e.valid_up_to(),
        problem: Problem::NotUtf8(String::new()),
    })
}

/// Parses `text` as a request head.
pub(crate) fn parse(text: &[u8]) -> Result<Head<'_>, HeadError> {
    let mut head = Head {
        method: None,
        path: None,
        query: None,
        authority: None,
        headers: Fields::new(),
    };
    let mut pos = 0;
    let mut number = 0;
    while pos < text.len() {
        number += 1;
        let start = pos;
        let line = line_at(text, start).map_err(|e| {
            let end = line_at_lossy_end(text, start);
            error_at(&text[start..end], number, e.at - start, e.problem)
        })?;
        pos = line.next;
        let bytes = &text[start..line.end];
        if bytes.is_empty() {
            break;
        }
        let parsed = if number == 1 && is_request_line(bytes) {
            request_line(&mut head, bytes, line.non_ascii)
        } else {
            header_line(&mut head, bytes, line.non_ascii)
        };
        parsed.map_err(|e| error_at(bytes, number, e.at, e.problem))?;
    }
    Ok(head)
}

/// The end of the line starting at `start` whatever it holds (for an error's column and
/// field).
fn line_at_lossy_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| start + i)
}

/// `name ":" OWS value OWS`.
fn header_line<'a>(head: &mut Head<'a>, line: &'a [u8], non_ascii: bool) -> Result<(), Early> {
    let early = |at, problem| Err(Early { at, problem });
    if line[0] == b' ' || line[0] == b'\t' {
        return early(0, Problem::Folded);
    }
    let n = token_len(line);
    match line.get(n) {
        Some(b':') if n == 0 => return early(0, Problem::EmptyName),
        Some(b':') => {}
        _ if !line.contains(&b':') => return early(n, Problem::NoColon),
        Some(&b) => return early(n, Problem::NameChar(b)),
        None => return early(n, Problem::NoColon),
    }
    // SAFETY: token characters are ASCII.
    let name = unsafe { ascii(&line[..n]) };
    let (start, end) = trim_ows(&line[n + 1..]);
    let (start, end) = (n + 1 + start, n + 1 + end);
    let value = text_of(&line[start..end], non_ascii, start)?;
    head.headers.push((name, value));
    Ok(())
}

/// `METHOD SP request-target SP HTTP/x.y`.
fn request_line<'a>(head: &mut Head<'a>, line: &'a [u8], non_ascii: bool) -> Result<(), Early> {
    let bad = |at, why| {
        Err(Early {
            at,
            problem: Problem::RequestLine(why),
        })
    };
    let m = token_len(line);
    let target_start = m + 1;
    let Some(len) = line[target_start..].iter().position(|&b| b == b' ') else {
        return bad(line.len(), "no HTTP version after the target");
    };
    if len == 0 {
        return bad(target_start, "an empty request target");
    }
    let version_start = target_start + len + 1;
    let version = &line[version_start..];
    let is_version = version.len() == 8
        && version.starts_with(b"HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    if !is_version {
        return bad(version_start, "the version is not HTTP/x.y");
    }
    let target = &line[target_start..target_start + len];
    if let Some(i) = target.iter().position(|&b| b == b'\t') {
        return Err(Early {
            at: target_start + i,
            problem: Problem::Control {
                byte: b'\t',
                what: String::new(),
            },
        });
    }
    let target = text_of(target, non_ascii, target_start)?;
    // SAFETY: token characters are ASCII.
    head.method = Some(unsafe { ascii(&line[..m]) });
    let (path, query, authority) = split_target(target);
    head.path = Some(path);
    head.query = query;
    head.authority = authority;
    Ok(())
}

/// A request target's path, query and (absolute form) authority.
fn split_target(target: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, authority) = match target.split_once("://") {
        Some((scheme, rest)) if !target.starts_with('/') && !scheme.contains('/') => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            (&rest[end..], Some(&rest[..end]))
        }
        _ => (target, None),
    };
    if !rest.starts_with('/') && authority.is_none() {
        // Asterisk (`OPTIONS *`) or authority form (`CONNECT host:443`): no query to split.
        return (rest, None, None);
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    };
    (if path.is_empty() { "/" } else { path }, query, authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Head<'_> {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn err(text: &[u8]) -> HeadError {
        match parse(text) {
            Ok(h) => panic!("{text:?} parsed: {h:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn reads_the_request_line_and_headers_crlf_or_lf() {
        for eol in ["\r\n", "\n"] {
            let text = [
                "GET /a/b?x=1&y HTTP/1.1",
                "Host: shop.example:8080",
                "Cookie: a=1",
                "",
                "",
            ]
            .join(eol);
            let h = ok(&text);
            assert_eq!(h.method, Some("GET"));
            assert_eq!((h.path, h.query), (Some("/a/b"), Some("x=1&y")));
            assert_eq!(h.authority, None);
            assert_eq!(
                h.headers(),
                [("Host", "shop.example:8080"), ("Cookie", "a=1")]
            );
        }
    }

    #[test]
    fn headers_only_values_trimmed_and_colons_kept() {
        let h = ok("X-Time:  12:30:00 \t\r\nX-Empty:\r\nX-Url: http://a/b\r\n\r\n");
        assert_eq!(h.method, None);
        assert_eq!(h.path, None);
        assert_eq!(
            h.headers(),
            [
                ("X-Time", "12:30:00"),
                ("X-Empty", ""),
                ("X-Url", "http://a/b")
            ]
        );
        // No final empty line, no final line end.
        assert_eq!(ok("A: 1\nB: 2").headers(), [("A", "1"), ("B", "2")]);
        assert!(ok("").headers().is_empty());
        assert!(ok("\r\n").headers().is_empty());
    }

    #[test]
    fn the_head_ends_at_the_first_empty_line() {
        let h = ok("A: 1\r\n\r\nnot a header at all \x01\r\n");
        assert_eq!(h.headers(), [("A", "1")]);
    }

    #[test]
    fn repeated_headers_and_many_headers_stay_in_order() {
        let mut text = String::new();
        for i in 0..(INLINE * 3) {
            text.push_str(&format!("X-{}: {i}\r\nCookie: c{i}={i}\r\n", i % 3));
        }
        let h = ok(&text);
        assert_eq!(h.headers().len(), INLINE * 6);
        assert_eq!(h.headers()[0], ("X-0", "0"));
        assert_eq!(h.headers()[INLINE * 6 - 1], ("Cookie", "c71=71"));
        let cookies: Vec<_> = h.headers().iter().filter(|(k, _)| *k == "Cookie").collect();
        assert_eq!(cookies.len(), INLINE * 3);
    }

    #[test]
    fn targets_in_every_form() {
        let target = |t: &str| {
            let text = format!("OPTIONS {t} HTTP/1.0\r\n");
            let h = ok(&text);
            (
                h.path.map(str::to_string),
                h.query.map(str::to_string),
                h.authority.map(str::to_string),
            )
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(target("/p?q"), (s("/p"), s("q"), None));
        assert_eq!(target("/p?"), (s("/p"), s(""), None));
        assert_eq!(
            target("http://h.example:81/p?q=1"),
            (s("/p"), s("q=1"), s("h.example:81"))
        );
        assert_eq!(target("https://h.example"), (s("/"), None, s("h.example")));
        assert_eq!(target("http://h?x"), (s("/"), s("x"), s("h")));
        assert_eq!(target("*"), (s("*"), None, None));
        assert_eq!(target("h.example:443"), (s("h.example:443"), None, None));
        assert_eq!(
            target("/redirect?to=http://x/"),
            (s("/redirect"), s("to=http://x/"), None)
        );
        assert_eq!(ok("GET /caf\u{e9} HTTP/1.1\r\n").path, Some("/caf\u{e9}"));
    }

    #[test]
    fn malformed_lines_say_where_and_why() {
        let e = err(b"Host: a\r\nX-Bad header\r\n");
        assert_eq!((e.line, e.column, &e.problem), (2, 6, &Problem::NoColon));
        assert_eq!(
            e.to_string(),
            "request head, line 2, column 6: a header line has no ':'"
        );
        let e = err(b"X-A : 1\r\n");
        assert_eq!(
            (e.line, e.column, &e.problem),
            (1, 4, &Problem::NameChar(b' '))
        );
        assert!(e.to_string().contains("cannot contain ' '"), "{e}");
        assert_eq!(err(b": v\n").problem, Problem::EmptyName);
        let e = err(b"A: 1\r\n  folded\r\n");
        assert_eq!((e.line, e.problem), (2, Problem::Folded));
        let e = err(b"A: 1\rB: 2\r\n");
        assert_eq!((e.line, e.column, e.problem), (1, 5, Problem::BareCr));
        let e = err(b"A: 1\r\nX-C: a\x01b\r\n");
        assert_eq!((e.line, e.column), (2, 7));
        assert_eq!(
            e.problem,
            Problem::Control {
                byte: 1,
                what: "the value of header \"X-C\"".into()
            }
        );
        assert!(e
            .to_string()
            .ends_with("control character 0x01 in the value of header \"X-C\""));
        assert!(matches!(
            err(b"A: \x00\r\n").problem,
            Problem::Control { byte: 0, .. }
        ));
        assert!(matches!(
            err(b"A: \x7f\r\n").problem,
            Problem::Control { byte: 0x7f, .. }
        ));
    }

    #[test]
    fn malformed_request_lines() {
        let why = |t: &[u8]| match err(t).problem {
            Problem::RequestLine(w) => w,
            p => panic!("{t:?}: {p:?}"),
        };
        assert_eq!(why(b"GET /\r\n"), "no HTTP version after the target");
        assert_eq!(why(b"GET  / HTTP/1.1\r\n"), "an empty request target");
        assert_eq!(why(b"GET / HTTP/1\r\n"), "the version is not HTTP/x.y");
        assert_eq!(why(b"GET /a b HTTP/1.1\r\n"), "the version is not HTTP/x.y");
        // A request line is only allowed first.
        assert_eq!(err(b"A: 1\r\nGET / HTTP/1.1\r\n").problem, Problem::NoColon);
        let e = err(b"GET /\x01 HTTP/1.1\r\n");
        assert!(e.to_string().contains("in the request line"), "{e}");
    }

    #[test]
    fn text_that_is_not_utf8_is_refused_with_its_column() {
        let e = err(b"A: 1\r\nX-Name: caf\xc3\xa9 \xff\r\n");
        assert_eq!((e.line, e.column), (2, 14));
        assert!(e.problem.is_utf8());
        assert_eq!(
            e.to_string(),
            "request head, line 2, column 14: the value of header \"X-Name\" is not valid UTF-8"
        );
        let e = err(b"GET /\xff HTTP/1.1\r\n");
        assert_eq!(e.problem, Problem::NotUtf8("the request line".into()));
        // UTF-8 values are fine.
        assert_eq!(ok("X: caf\u{e9}\r\n").headers(), [("X", "caf\u{e9}")]);
    }

    #[test]
    fn special_bytes_are_found_exactly() {
        for b in 0..=255u8 {
            let mut w = [b'a'; 8];
            w[3] = b;
            let hit = special_bytes(u64::from_le_bytes(w));
            assert_eq!(hit != 0, is_special(b), "byte {b:#x}");
            if hit != 0 {
                assert_eq!(hit.trailing_zeros() / 8, 3, "byte {b:#x}");
            }
        }
        let hay = b"0123456789abcdef\tx";
        assert_eq!(find_special(hay, 0), Some(16));
        assert_eq!(find_special(hay, 17), None);
        assert_eq!(find_special(hay, 40), None);
    }
}
