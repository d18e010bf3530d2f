//! The syntax of forwarded-address headers: cutting a header line into entries from the right
//! (comma lists, or RFC 7239 elements with quoted strings) and an entry into an address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// How a header line is cut into entries and an entry into an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// `X-Forwarded-For` style: entries separated by commas and whitespace.
    List,
    /// RFC 7239: elements separated by commas outside quoted strings.
    Forwarded,
}

impl Syntax {
    pub(super) fn address(self, entry: &str) -> Option<IpAddr> {
        match self {
            Syntax::List => parse_addr(entry),
            Syntax::Forwarded => forwarded_for(entry),
        }
    }
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_list_separator(b: u8) -> bool {
    b == b',' || is_ows(b)
}

/// The non-empty entries of one header line, from right to left.
///
/// Scanning from the right means the entries appended by our own proxies
/// (on the right) are cut correctly whatever the client put on the left,
/// even an unbalanced quote.
pub(super) struct RevEntries<'a> {
    line: &'a str,
    end: usize,
    syntax: Syntax,
}

impl<'a> RevEntries<'a> {
    pub(super) fn new(line: &'a str, syntax: Syntax) -> Self {
        RevEntries {
            line,
            end: line.len(),
            syntax,
        }
    }
}

impl<'a> Iterator for RevEntries<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let b = self.line.as_bytes();
        let mut end = self.end;
        while end > 0 && is_list_separator(b[end - 1]) {
            end -= 1;
        }
        if end == 0 {
            self.end = 0;
            return None;
        }
        let mut start = end;
        match self.syntax {
            Syntax::List => {
                while start > 0 && !is_list_separator(b[start - 1]) {
                    start -= 1;
                }
            }
            Syntax::Forwarded => {
                let mut quoted = false;
                while start > 0 {
                    let c = b[start - 1];
                    if c == b'"' && !is_escaped(b, start - 1) {
                        quoted = !quoted;
                    } else if c == b',' && !quoted {
                        break;
                    }
                    start -= 1;
                }
            }
        }
        self.end = start;
        // Separators are ASCII, so these are character boundaries. A list entry has no blanks
        // (they separate entries); a forwarded element may have some around it.
        Some(match self.syntax {
            Syntax::List => &self.line[start..end],
            Syntax::Forwarded => crate::request::scan::trim_blanks(&self.line[start..end]),
        })
    }
}

/// Whether the byte at `i` is preceded by an odd number of backslashes.
fn is_escaped(b: &[u8], i: usize) -> bool {
    b[..i].iter().rev().take_while(|&&c| c == b'\\').count() % 2 == 1
}

/// Splits `s` on `sep` outside quoted strings (left to right).
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let b = s.as_bytes();
        let mut quoted = false;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                c if c == sep && !quoted => {
                    rest = Some(&s[i + 1..]);
                    return Some(&s[..i]);
                }
                _ => {}
            }
            i += 1;
        }
        rest = None;
        Some(s)
    })
}

/// The address in the `for=` parameter of an RFC 7239 element, if the
/// element has exactly one and it is a valid address.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut found = None;
    for pair in split_unquoted(element, b';') {
        let pair = crate::request::scan::trim_blanks(pair);
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=')?;
        if !crate::request::scan::trim_blanks(key).eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None; // `for` twice in one element
        }
        let value = crate::request::scan::trim_blanks(value);
        let value = match value.strip_prefix('"') {
            Some(quoted) => quoted.strip_suffix('"')?,
            None => value,
        };
        if value.contains(['"', '\\']) {
            return None;
        }
        found = Some(parse_addr(value)?);
    }
    found
}

/// Parses one forwarded address: `1.2.3.4`, `1.2.3.4:8080`, `::1`, `[::1]`,
/// `[::1]:8080`; canonical (`::ffff:1.2.3.4` is `1.2.3.4`).
pub(super) fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = crate::request::scan::trim_blanks(s);
    // The common case, a plain dotted quad, without the general parser's generality.
    match dotted_quad(s.as_bytes()) {
        Some(a) => Some(IpAddr::V4(a)),
        None => parse_addr_general(s),
    }
}

/// [`parse_addr`] for anything but a plain dotted quad (`s` trimmed).
#[inline(never)]
fn parse_addr_general(s: &str) -> Option<IpAddr> {
    if let Some(rest) = s.strip_prefix('[') {
        let close = rest.find(']')?;
        let addr: Ipv6Addr = rest[..close].parse().ok()?;
        let tail = &rest[close + 1..];
        if !tail.is_empty() && !valid_port(tail.strip_prefix(':')?) {
            return None;
        }
        return Some(IpAddr::V6(addr).to_canonical());
    }
    if let Ok(addr) = s.parse::<IpAddr>() {
        return Some(addr.to_canonical());
    }
    // Like nginx: the port follows the first colon, so only IPv4 can have
    // one without brackets.
    let (host, port) = s.split_once(':')?;
    if !valid_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// A strict dotted quad (`192.0.2.1`: four decimal octets ≤ 255 without leading zeros, as
/// `Ipv4Addr::from_str` accepts them); `None` for anything else, which the general parser
/// then handles.
#[inline]
pub(super) fn dotted_quad(b: &[u8]) -> Option<Ipv4Addr> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    // One pass, one test per byte in the common case: `octet` is the value so far of the
    // octet being read, `digits` its length, `addr` the finished octets shifted in.
    let (mut addr, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &c in b {
        let d = u32::from(c.wrapping_sub(b'0'));
        if d <= 9 {
            // A leading zero (`01`) is rejected, as by `Ipv4Addr::from_str`.
            if digits == 1 && octet == 0 {
                return None;
            }
            octet = octet * 10 + d;
            digits += 1;
        } else if c == b'.' && digits != 0 && dots < 3 {
            if octet > 255 {
                return None;
            }
            addr = addr << 8 | octet;
            (octet, digits, dots) = (0, 0, dots + 1);
        } else {
            return None;
        }
        if digits > 3 {
            return None;
        }
    }
    (dots == 3 && digits != 0 && octet <= 255).then(|| Ipv4Addr::from(addr << 8 | octet))
}

/// Decimal port 1..=65535 (leading zeros allowed, as in nginx).
fn valid_port(p: &str) -> bool {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let digits = p.trim_start_matches('0');
    digits.len() <= 5
        && digits
            .parse::<u32>()
            .is_ok_and(|n| (1..=65535).contains(&n))
}
