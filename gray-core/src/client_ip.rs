//! The client address of a request, resolved the way nginx's realip module
//! does it.
//!
//! # Security model
//!
//! The TCP peer address is the only address nobody can forge. Headers such
//! as `X-Forwarded-For`, `X-Real-IP` and `Forwarded` are plain text that any
//! client can send with any content, so they are worth something only when
//! they were written (or at least appended to) by a proxy we operate. A
//! [`ClientIpResolver`] therefore honours the configured header **only when
//! the peer is one of the configured trusted proxies**; for any other peer
//! the header is ignored entirely and the peer address is the client. With
//! no trusted proxies configured nothing is trusted and the peer is always
//! the answer.
//!
//! List headers are read from the **right**, because each proxy appends the
//! address it received the request from: the rightmost entry was written by
//! the trusted peer itself, while everything further left may come from the
//! client. In non-recursive mode the rightmost entry is the client. In
//! recursive mode the walk moves one entry to the left for as long as the
//! entry just taken is itself a trusted proxy, so a chain of our own proxies
//! is skipped and the first untrusted address is the client (if every entry
//! is trusted, the leftmost one is used). A malformed entry ends the walk:
//! the last good address is kept, or the peer if the rightmost entry is
//! already malformed. This way a client can never make us skip past an
//! address that a trusted proxy vouched for.
//!
//! # Compatibility with nginx
//!
//! The rules follow `ngx_http_realip_module.c` and
//! `ngx_http_get_forwarded_addr()` in `ngx_http_core_module.c` (nginx 1.23
//! and later), as read for this module:
//!
//! * The peer must match `set_real_ip_from`; otherwise nothing happens.
//! * The header value is scanned from its end: trailing spaces and commas
//!   are skipped, the entry runs back to the previous space or comma, and is
//!   parsed as an address with an optional port (`ngx_parse_addr_port`). The
//!   walk (and `real_ip_recursive`) is as described above; nginx likewise
//!   keeps the last good address when it meets an entry it cannot parse.
//! * Several `X-Forwarded-For` lines are walked last line first, as one list
//!   — the same as joining them with `", "` in order.
//! * For `X-Real-IP` nginx uses the first header line only, and runs that
//!   line through the *same* list scanner: `X-Real-IP: 1.2.3.4, 5.6.7.8`
//!   yields `5.6.7.8`, and `real_ip_recursive` applies. We do the same.
//! * Ports must be 1–65535 and are discarded; IPv6 with a port needs
//!   brackets (`[::1]:80`); a trusted-proxy check treats `::ffff:a.b.c.d`
//!   as `a.b.c.d`.
//!
//! Deliberate differences:
//!
//! * `[::1]` without a port is accepted (nginx rejects it), because it is
//!   the RFC 7239 form of an IPv6 `for=` value.
//! * Tabs separate entries like spaces do.
//! * IPv4 is parsed strictly: `01.2.3.4` (leading zeros) is malformed.
//! * A custom header ([`ForwardedHeader::Other`]) is read across all its
//!   lines like `X-Forwarded-For`; nginx reads only the first line of a
//!   custom header.
//! * An `X-Forwarded-For` line that holds no entry at all (empty, or only
//!   commas and spaces) is skipped; nginx treats such a *last* line as a
//!   malformed entry and falls back to the peer.
//! * RFC 7239 `Forwarded` is supported (nginx's realip module has no such
//!   mode): elements are separated by commas outside quoted strings, and the
//!   `for=` parameter of each element is the address. Elements without
//!   `for=`, with an obfuscated identifier (`_hidden`) or `unknown`, are
//!   malformed.
//!   Elements are cut from the right of each line, so an unbalanced quote
//!   sent by the client (on the left) cannot swallow the elements our
//!   proxies appended; quoting never carries over from one line to the next.
//!
//! # Example
//!
//! ```
//! use gray_core::client_ip::{ClientIpResolver, ForwardedHeader};
//! use gray_core::ip::parse_entry;
//! use std::net::IpAddr;
//!
//! let trusted = ["10.0.0.0/8"].map(|s| parse_entry(s).unwrap());
//! let resolver = ClientIpResolver::new(trusted, ForwardedHeader::XForwardedFor, true);
//!
//! let proxy: IpAddr = "10.0.0.1".parse().unwrap();
//! let client = resolver.resolve(proxy, ["203.0.113.7, 10.0.0.2"]);
//! assert_eq!(client, "203.0.113.7".parse::<IpAddr>().unwrap());
//!
//! // A client talking to us directly cannot spoof its address.
//! let direct: IpAddr = "198.51.100.9".parse().unwrap();
//! assert_eq!(resolver.resolve(direct, ["1.2.3.4"]), direct);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::ip::{IpTable, IpTableBuilder};

/// The set index of the trusted proxies inside the resolver's table.
const TRUSTED: u32 = 0;

/// Longest entry text kept in a [`ClientIpSource`].
const MAX_EXPLAINED_ENTRY: usize = 128;

/// Which request header carries the forwarded client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`: a comma (or space) separated list, read from the
    /// right, across all header lines.
    XForwardedFor,
    /// `X-Real-IP`: normally a single address; only the first header line is
    /// read (as nginx does).
    XRealIp,
    /// RFC 7239 `Forwarded`: the `for=` parameter of each element, read from
    /// the right, across all header lines.
    Forwarded,
    /// Any other header (lowercase name), read like `X-Forwarded-For`.
    Other(String),
}

impl ForwardedHeader {
    /// The lowercase header name: `x-forwarded-for`, `x-real-ip`,
    /// `forwarded`, or the custom name.
    pub fn header_name(&self) -> &str {
        match self {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::XRealIp => "x-real-ip",
            ForwardedHeader::Forwarded => "forwarded",
            ForwardedHeader::Other(name) => name,
        }
    }

    /// Maps a header name (any case, surrounding whitespace ignored) to the
    /// matching variant; unknown names become [`ForwardedHeader::Other`]
    /// with the name lowercased.
    pub fn from_name(name: &str) -> Self {
        let name = name.trim();
        if name.eq_ignore_ascii_case("x-forwarded-for") {
            ForwardedHeader::XForwardedFor
        } else if name.eq_ignore_ascii_case("x-real-ip") {
            ForwardedHeader::XRealIp
        } else if name.eq_ignore_ascii_case("forwarded") {
            ForwardedHeader::Forwarded
        } else {
            ForwardedHeader::Other(name.to_ascii_lowercase())
        }
    }

    fn syntax(&self) -> Syntax {
        match self {
            ForwardedHeader::Forwarded => Syntax::Forwarded,
            _ => Syntax::List,
        }
    }

    /// How many header lines are read.
    fn max_lines(&self) -> usize {
        match self {
            ForwardedHeader::XRealIp => 1,
            _ => usize::MAX,
        }
    }
}

/// Why [`ClientIpResolver::resolve_explained`] chose the address it chose.
///
/// Entry indices count the non-empty entries of the header from the left,
/// starting at 0, across all header lines that were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIpSource {
    /// The peer is not a trusted proxy (or none are configured), so the
    /// header was ignored; the result is the peer.
    UntrustedPeer,
    /// The peer is trusted but the header is absent or holds no entry; the
    /// result is the peer.
    NoHeader,
    /// The rightmost entry could not be parsed; the result is the peer.
    MalformedRightmost {
        /// The malformed entry (possibly shortened).
        entry: String,
    },
    /// Non-recursive mode: the rightmost entry.
    Rightmost {
        /// Index of the entry.
        index: usize,
    },
    /// Recursive mode: the first entry from the right that is not a trusted
    /// proxy.
    FirstUntrusted {
        /// Index of the entry.
        index: usize,
        /// Trusted entries skipped to its right.
        skipped: usize,
    },
    /// Recursive mode: every entry is a trusted proxy; the leftmost one.
    AllTrusted {
        /// Index of the entry (always 0).
        index: usize,
        /// Trusted entries skipped to its right.
        skipped: usize,
    },
    /// Recursive mode: the walk met a malformed entry and kept the last good
    /// (trusted) address to its right.
    StoppedAtMalformed {
        /// Index of the entry that was kept.
        index: usize,
        /// The malformed entry (possibly shortened).
        malformed: String,
    },
}

impl ClientIpSource {
    /// Whether the result is the peer address rather than a header entry.
    pub fn is_peer(&self) -> bool {
        matches!(
            self,
            ClientIpSource::UntrustedPeer
                | ClientIpSource::NoHeader
                | ClientIpSource::MalformedRightmost { .. }
        )
    }
}

impl fmt::Display for ClientIpSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIpSource::UntrustedPeer => {
                f.write_str("peer is not a trusted proxy; forwarded header ignored")
            }
            ClientIpSource::NoHeader => {
                f.write_str("trusted peer sent no forwarded address; using the peer")
            }
            ClientIpSource::MalformedRightmost { entry } => {
                write!(f, "rightmost entry \"{entry}\" is malformed; using the peer")
            }
            ClientIpSource::Rightmost { index } => {
                write!(f, "rightmost header entry (entry {index})")
            }
            ClientIpSource::FirstUntrusted { index, skipped } => write!(
                f,
                "first untrusted entry from the right (entry {index}, {skipped} trusted skipped)"
            ),
            ClientIpSource::AllTrusted { index, skipped } => write!(
                f,
                "all entries are trusted proxies; using the leftmost (entry {index}, {skipped} skipped)"
            ),
            ClientIpSource::StoppedAtMalformed { index, malformed } => write!(
                f,
                "stopped at malformed entry \"{malformed}\"; using the last good entry (entry {index})"
            ),
        }
    }
}

/// Resolves the client address of a request from its peer address and a
/// forwarded header, honouring the header only from trusted proxies.
///
/// See the [module documentation](self) for the rules.
#[derive(Debug, Clone)]
pub struct ClientIpResolver {
    trusted: IpTable,
    header: ForwardedHeader,
    recursive: bool,
}

/// Outcome of walking one header line from the right (see `resolve`).
#[derive(Debug, Clone, Copy)]
enum Walk {
    /// The walk ends in this line with this address.
    Stop(IpAddr),
    /// The rightmost entry of the line is malformed: the walk ends with
    /// whatever good address was found to the right of the line.
    MalformedFirst,
    /// Every entry was good and trusted (recursive mode) or the line is
    /// empty: the walk goes on to the previous line; the address is the
    /// leftmost entry of the line, if any.
    Continue(Option<IpAddr>),
}

impl Walk {
    /// Combines the walk of the lines before (`left`) with the walk of the
    /// line after them (`right`), as if they were one list.
    fn then(left: Walk, right: Walk) -> Walk {
        match right {
            Walk::Stop(_) | Walk::MalformedFirst => right,
            Walk::Continue(None) => left,
            Walk::Continue(Some(y)) => match left {
                Walk::Stop(_) => left,
                Walk::MalformedFirst => Walk::Stop(y),
                Walk::Continue(Some(_)) => left,
                Walk::Continue(None) => right,
            },
        }
    }
}

impl ClientIpResolver {
    /// A resolver trusting the proxies in `trusted`, reading `header`,
    /// optionally walking past trusted hops (`recursive`, like nginx's
    /// `real_ip_recursive on`).
    ///
    /// A custom header name is lowercased.
    pub fn new(
        trusted: impl IntoIterator<Item = IpNet>,
        header: ForwardedHeader,
        recursive: bool,
    ) -> Self {
        let mut builder = IpTableBuilder::new();
        for net in trusted {
            builder.add(TRUSTED, net);
        }
        let header = match header {
            ForwardedHeader::Other(name) => ForwardedHeader::Other(name.to_ascii_lowercase()),
            h => h,
        };
        ClientIpResolver {
            trusted: builder.build(),
            header,
            recursive,
        }
    }

    /// The header this resolver reads.
    pub fn header(&self) -> &ForwardedHeader {
        &self.header
    }

    /// Whether trusted hops in the header are skipped.
    pub fn recursive(&self) -> bool {
        self.recursive
    }

    /// Number of trusted proxy prefixes configured.
    pub fn trusted_count(&self) -> usize {
        self.trusted.prefix_count()
    }

    /// Whether `ip` (canonicalised: `::ffff:a.b.c.d` is `a.b.c.d`) is a
    /// trusted proxy.
    #[inline]
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.contains(TRUSTED, ip)
    }

    /// The client address of a request from `peer` carrying
    /// `header_values`, all lines of the configured header in the order
    /// received (pass an empty iterator if the header is absent).
    ///
    /// Several lines behave as if joined with `", "` in order; for
    /// `X-Real-IP` only the first line is read. The result is canonical
    /// (`::ffff:1.2.3.4` becomes `1.2.3.4`). Never allocates.
    pub fn resolve<'a, I>(&self, peer: IpAddr, header_values: I) -> IpAddr
    where
        I: IntoIterator<Item = &'a str>,
    {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let syntax = self.header.syntax();
        let mut walk = Walk::Continue(None);
        for line in header_values.into_iter().take(self.header.max_lines()) {
            walk = Walk::then(walk, self.walk_line(line, syntax));
        }
        match walk {
            Walk::Stop(a) | Walk::Continue(Some(a)) => a,
            Walk::MalformedFirst | Walk::Continue(None) => peer,
        }
    }

    /// Walks one line from the right.
    fn walk_line(&self, line: &str, syntax: Syntax) -> Walk {
        let mut last = None;
        for entry in RevEntries::new(line, syntax) {
            let Some(addr) = syntax.address(entry) else {
                return match last {
                    Some(a) => Walk::Stop(a),
                    None => Walk::MalformedFirst,
                };
            };
            last = Some(addr);
            if !self.recursive || !self.is_trusted(addr) {
                return Walk::Stop(addr);
            }
        }
        Walk::Continue(last)
    }

    /// Like [`resolve`](Self::resolve), also saying why; for diagnostics
    /// (this one allocates).
    pub fn resolve_explained<'a, I>(
        &self,
        peer: IpAddr,
        header_values: I,
    ) -> (IpAddr, ClientIpSource)
    where
        I: IntoIterator<Item = &'a str>,
    {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return (peer, ClientIpSource::UntrustedPeer);
        }
        let syntax = self.header.syntax();
        let mut entries: Vec<&str> = Vec::new();
        for line in header_values.into_iter().take(self.header.max_lines()) {
            let at = entries.len();
            entries.extend(RevEntries::new(line, syntax));
            entries[at..].reverse();
        }
        if entries.is_empty() {
            return (peer, ClientIpSource::NoHeader);
        }
        let mut last: Option<(usize, IpAddr)> = None;
        let mut skipped = 0;
        for (index, entry) in entries.iter().enumerate().rev() {
            let Some(addr) = syntax.address(entry) else {
                let entry = shorten(entry);
                return match last {
                    Some((index, a)) => (
                        a,
                        ClientIpSource::StoppedAtMalformed {
                            index,
                            malformed: entry,
                        },
                    ),
                    None => (peer, ClientIpSource::MalformedRightmost { entry }),
                };
            };
            if !self.recursive {
                return (addr, ClientIpSource::Rightmost { index });
            }
            if !self.is_trusted(addr) {
                return (addr, ClientIpSource::FirstUntrusted { index, skipped });
            }
            last = Some((index, addr));
            skipped += 1;
        }
        // Every entry parsed and is trusted: the leftmost one wins.
        let (index, addr) = last.expect("entries is not empty");
        (
            addr,
            ClientIpSource::AllTrusted {
                index,
                skipped: skipped - 1,
            },
        )
    }
}

fn shorten(s: &str) -> String {
    if s.len() <= MAX_EXPLAINED_ENTRY {
        return s.to_owned();
    }
    let mut cut = MAX_EXPLAINED_ENTRY;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &s[..cut])
}

// ---------------------------------------------------------------------------
// Header syntax
// ---------------------------------------------------------------------------

/// How a header line is cut into entries and an entry into an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// `X-Forwarded-For` style: entries separated by commas and whitespace.
    List,
    /// RFC 7239: elements separated by commas outside quoted strings.
    Forwarded,
}

impl Syntax {
    fn address(self, entry: &str) -> Option<IpAddr> {
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
struct RevEntries<'a> {
    line: &'a str,
    end: usize,
    syntax: Syntax,
}

impl<'a> RevEntries<'a> {
    fn new(line: &'a str, syntax: Syntax) -> Self {
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
        // Separators are ASCII, so these are character boundaries.
        Some(self.line[start..end].trim_matches([' ', '\t']))
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
        let pair = pair.trim_matches([' ', '\t']);
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=')?;
        if !key.trim_matches([' ', '\t']).eq_ignore_ascii_case("for") {
            continue;
        }
        if found.is_some() {
            return None; // `for` twice in one element
        }
        let value = value.trim_matches([' ', '\t']);
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
fn parse_addr(s: &str) -> Option<IpAddr> {
    let s = s.trim_matches([' ', '\t']);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::parse_entry;
    use proptest::prelude::*;

    const TRUSTED_NETS: &[&str] = &[
        "10.0.0.0/8",
        "192.168.0.0/16",
        "127.0.0.1",
        "2001:db8:ffff::/48",
    ];

    fn resolver(trusted: &[&str], header: ForwardedHeader, recursive: bool) -> ClientIpResolver {
        ClientIpResolver::new(
            trusted.iter().map(|s| parse_entry(s).unwrap()),
            header,
            recursive,
        )
    }

    struct Case {
        name: &'static str,
        header: ForwardedHeader,
        recursive: bool,
        peer: &'static str,
        lines: &'static [&'static str],
        want: &'static str,
    }

    use ForwardedHeader::{Forwarded as Fwd, XForwardedFor as Xff, XRealIp as Xri};

    fn c(
        name: &'static str,
        header: ForwardedHeader,
        recursive: bool,
        peer: &'static str,
        lines: &'static [&'static str],
        want: &'static str,
    ) -> Case {
        Case {
            name,
            header,
            recursive,
            peer,
            lines,
            want,
        }
    }

    fn cases() -> Vec<Case> {
        let other = || ForwardedHeader::Other("x-client-ip".into());
        vec![
            // Untrusted peers: headers ignored.
            c(
                "untrusted xff",
                Xff,
                true,
                "203.0.113.9",
                &["1.2.3.4"],
                "203.0.113.9",
            ),
            c(
                "untrusted x-real-ip",
                Xri,
                false,
                "203.0.113.9",
                &["1.2.3.4"],
                "203.0.113.9",
            ),
            c(
                "untrusted forwarded",
                Fwd,
                true,
                "203.0.113.9",
                &["for=1.2.3.4"],
                "203.0.113.9",
            ),
            c(
                "untrusted near range",
                Xff,
                false,
                "11.0.0.1",
                &["1.2.3.4"],
                "11.0.0.1",
            ),
            c(
                "untrusted mapped peer canonical",
                Xff,
                false,
                "::ffff:203.0.113.9",
                &["1.2.3.4"],
                "203.0.113.9",
            ),
            // Non-recursive: the rightmost entry.
            c(
                "nonrec rightmost",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4, 5.6.7.8"],
                "5.6.7.8",
            ),
            c(
                "nonrec rightmost trusted",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4, 10.0.0.2"],
                "10.0.0.2",
            ),
            c(
                "nonrec malformed rightmost",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4, 1.2.3"],
                "10.0.0.1",
            ),
            // Recursive.
            c(
                "rec skips trusted hops",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4, 10.0.0.2, 192.168.1.1"],
                "1.2.3.4",
            ),
            c(
                "rec stops at first untrusted",
                Xff,
                true,
                "10.0.0.1",
                &["9.9.9.9, 1.2.3.4, 10.0.0.2"],
                "1.2.3.4",
            ),
            c(
                "rec all trusted -> leftmost",
                Xff,
                true,
                "10.0.0.1",
                &["10.0.0.5, 10.0.0.4, 192.168.0.1"],
                "10.0.0.5",
            ),
            c(
                "rec rightmost untrusted",
                Xff,
                true,
                "10.0.0.1",
                &["10.0.0.5, 8.8.8.8"],
                "8.8.8.8",
            ),
            c(
                "rec malformed rightmost",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4, garbage"],
                "10.0.0.1",
            ),
            c(
                "rec malformed middle",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4, 999.1.1.1, 10.0.0.3"],
                "10.0.0.3",
            ),
            c(
                "rec malformed behind untrusted",
                Xff,
                true,
                "10.0.0.1",
                &["abc, 1.2.3.4, 10.0.0.3"],
                "1.2.3.4",
            ),
            // Address forms.
            c(
                "ports",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4:5678, 10.0.0.2:80"],
                "1.2.3.4",
            ),
            c(
                "v6 bracket port",
                Xff,
                true,
                "10.0.0.1",
                &["[2001:db8::1]:443, 10.0.0.2"],
                "2001:db8::1",
            ),
            c(
                "v6 bracket no port",
                Xff,
                false,
                "10.0.0.1",
                &["[::1]"],
                "::1",
            ),
            c("v6 bare", Xff, false, "127.0.0.1", &["::1"], "::1"),
            c(
                "v6 trusted peer",
                Xff,
                false,
                "2001:db8:ffff::1",
                &["2001:db8::7"],
                "2001:db8::7",
            ),
            c(
                "v6 trusted hop",
                Xff,
                true,
                "2001:db8:ffff::1",
                &["2001:db8::7, 2001:db8:ffff::2"],
                "2001:db8::7",
            ),
            c(
                "mapped trusted peer",
                Xff,
                false,
                "::ffff:10.0.0.1",
                &["1.2.3.4"],
                "1.2.3.4",
            ),
            c(
                "mapped entry",
                Xff,
                false,
                "10.0.0.1",
                &["::ffff:1.2.3.4"],
                "1.2.3.4",
            ),
            c(
                "mapped trusted hop",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4, ::ffff:10.0.0.9"],
                "1.2.3.4",
            ),
            c(
                "mapped in brackets with port",
                Xff,
                false,
                "10.0.0.1",
                &["[::ffff:1.2.3.4]:99"],
                "1.2.3.4",
            ),
            c(
                "bad port",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4:abc"],
                "10.0.0.1",
            ),
            c(
                "port zero",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4:0"],
                "10.0.0.1",
            ),
            c(
                "port too big",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4:65536"],
                "10.0.0.1",
            ),
            c(
                "unclosed bracket",
                Xff,
                false,
                "10.0.0.1",
                &["[::1"],
                "10.0.0.1",
            ),
            c(
                "v6 port without brackets",
                Xff,
                false,
                "10.0.0.1",
                &["2001:db8::1:80x"],
                "10.0.0.1",
            ),
            c(
                "leading zeros",
                Xff,
                false,
                "10.0.0.1",
                &["01.2.3.4"],
                "10.0.0.1",
            ),
            // Several header lines and separators.
            c(
                "lines rec",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4", "10.0.0.2, 10.0.0.3"],
                "1.2.3.4",
            ),
            c(
                "lines nonrec",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4", "5.6.7.8"],
                "5.6.7.8",
            ),
            c(
                "lines untrusted in first",
                Xff,
                true,
                "10.0.0.1",
                &["6.6.6.6, 1.2.3.4", "10.0.0.2"],
                "1.2.3.4",
            ),
            c(
                "lines malformed first line",
                Xff,
                true,
                "10.0.0.1",
                &["x, y", "10.0.0.2"],
                "10.0.0.2",
            ),
            c(
                "lines all trusted",
                Xff,
                true,
                "10.0.0.1",
                &["10.0.0.7", "10.0.0.2"],
                "10.0.0.7",
            ),
            c(
                "lines empty last line",
                Xff,
                true,
                "10.0.0.1",
                &["1.2.3.4", ""],
                "1.2.3.4",
            ),
            c(
                "whitespace and empties",
                Xff,
                true,
                "10.0.0.1",
                &[",  1.2.3.4 ,, 10.0.0.2\t, ,"],
                "1.2.3.4",
            ),
            c(
                "space separated",
                Xff,
                false,
                "10.0.0.1",
                &["1.2.3.4 5.6.7.8"],
                "5.6.7.8",
            ),
            c(
                "only separators",
                Xff,
                true,
                "10.0.0.1",
                &[" , , "],
                "10.0.0.1",
            ),
            c("no header", Xff, true, "10.0.0.1", &[], "10.0.0.1"),
            c("empty header", Xff, true, "10.0.0.1", &[""], "10.0.0.1"),
            c(
                "custom header",
                other(),
                true,
                "10.0.0.1",
                &["1.2.3.4, 10.0.0.2"],
                "1.2.3.4",
            ),
            c(
                "custom header lines",
                other(),
                false,
                "10.0.0.1",
                &["1.2.3.4", "5.6.7.8"],
                "5.6.7.8",
            ),
            // X-Real-IP.
            c("xri plain", Xri, false, "10.0.0.1", &["1.2.3.4"], "1.2.3.4"),
            c(
                "xri port",
                Xri,
                false,
                "10.0.0.1",
                &["1.2.3.4:8080"],
                "1.2.3.4",
            ),
            c(
                "xri v6 port",
                Xri,
                false,
                "10.0.0.1",
                &["[2001:db8::5]:80"],
                "2001:db8::5",
            ),
            c(
                "xri whitespace",
                Xri,
                false,
                "10.0.0.1",
                &["  1.2.3.4 "],
                "1.2.3.4",
            ),
            c(
                "xri garbage",
                Xri,
                false,
                "10.0.0.1",
                &["garbage"],
                "10.0.0.1",
            ),
            c(
                "xri first line only",
                Xri,
                false,
                "10.0.0.1",
                &["1.2.3.4", "5.6.7.8"],
                "1.2.3.4",
            ),
            c(
                "xri list like nginx",
                Xri,
                false,
                "10.0.0.1",
                &["1.2.3.4, 5.6.7.8"],
                "5.6.7.8",
            ),
            c(
                "xri recursive trusted value",
                Xri,
                true,
                "10.0.0.1",
                &["10.0.0.9"],
                "10.0.0.9",
            ),
            // RFC 7239 Forwarded.
            c(
                "fwd params",
                Fwd,
                false,
                "10.0.0.1",
                &["for=192.0.2.60;proto=http;by=203.0.113.43"],
                "192.0.2.60",
            ),
            c(
                "fwd quoted v6 port",
                Fwd,
                false,
                "10.0.0.1",
                &["for=\"[2001:db8:cafe::17]:4711\""],
                "2001:db8:cafe::17",
            ),
            c(
                "fwd quoted v4 port",
                Fwd,
                false,
                "10.0.0.1",
                &["for=\"192.0.2.60:8080\""],
                "192.0.2.60",
            ),
            c(
                "fwd quoted v6 no port",
                Fwd,
                false,
                "10.0.0.1",
                &["for=\"[2001:db8::9]\""],
                "2001:db8::9",
            ),
            c(
                "fwd mixed case nonrec",
                Fwd,
                false,
                "10.0.0.1",
                &["For=192.0.2.43, for=198.51.100.17"],
                "198.51.100.17",
            ),
            c(
                "fwd mixed case rec",
                Fwd,
                true,
                "10.0.0.1",
                &["for=192.0.2.43, FOR=\"10.0.0.7:8080\""],
                "192.0.2.43",
            ),
            c(
                "fwd param order",
                Fwd,
                true,
                "10.0.0.1",
                &["proto=https; for=192.0.2.43 ;by=10.0.0.1"],
                "192.0.2.43",
            ),
            c(
                "fwd unknown",
                Fwd,
                false,
                "10.0.0.1",
                &["for=unknown"],
                "10.0.0.1",
            ),
            c(
                "fwd obfuscated middle",
                Fwd,
                true,
                "10.0.0.1",
                &["for=192.0.2.43, for=_hidden, for=10.0.0.7"],
                "10.0.0.7",
            ),
            c(
                "fwd no for",
                Fwd,
                true,
                "10.0.0.1",
                &["for=192.0.2.43, proto=https"],
                "10.0.0.1",
            ),
            c(
                "fwd quoted comma",
                Fwd,
                false,
                "10.0.0.1",
                &["for=192.0.2.43;by=\"a,b\""],
                "192.0.2.43",
            ),
            c(
                "fwd lines",
                Fwd,
                true,
                "10.0.0.1",
                &["for=192.0.2.43", "for=10.0.0.7"],
                "192.0.2.43",
            ),
            c(
                "fwd unbalanced quote on left",
                Fwd,
                true,
                "10.0.0.1",
                &["for=\"1.1.1.1, for=10.0.0.7"],
                "10.0.0.7",
            ),
            c(
                "fwd unbalanced quote nonrec",
                Fwd,
                false,
                "10.0.0.1",
                &["for=\"x, for=203.0.113.5"],
                "203.0.113.5",
            ),
            c(
                "fwd duplicate for",
                Fwd,
                false,
                "10.0.0.1",
                &["for=1.2.3.4;for=5.6.7.8"],
                "10.0.0.1",
            ),
            c(
                "fwd bare value",
                Fwd,
                false,
                "10.0.0.1",
                &["1.2.3.4"],
                "10.0.0.1",
            ),
        ]
    }

    #[test]
    fn table_driven() {
        let trusted_cases = cases();
        assert!(trusted_cases.len() >= 35);
        for case in &trusted_cases {
            let r = resolver(TRUSTED_NETS, case.header.clone(), case.recursive);
            let peer: IpAddr = case.peer.parse().unwrap();
            let want: IpAddr = case.want.parse().unwrap();
            let got = r.resolve(peer, case.lines.iter().copied());
            assert_eq!(got, want, "case {:?}", case.name);
            let (explained, why) = r.resolve_explained(peer, case.lines.iter().copied());
            assert_eq!(
                explained, got,
                "explained differs in case {:?}: {why}",
                case.name
            );
            if why.is_peer() {
                assert_eq!(got, peer.to_canonical(), "case {:?}", case.name);
            }
        }
    }

    #[test]
    fn no_trusted_proxies_trusts_nothing() {
        for header in [Xff, Xri, Fwd] {
            let r = resolver(&[], header, true);
            let peer: IpAddr = "10.0.0.1".parse().unwrap();
            assert!(!r.is_trusted(peer));
            assert_eq!(r.resolve(peer, ["1.2.3.4", "for=1.2.3.4"]), peer);
            assert_eq!(
                r.resolve_explained(peer, ["1.2.3.4"]).1,
                ClientIpSource::UntrustedPeer
            );
        }
    }

    #[test]
    fn explanations() {
        let r = resolver(TRUSTED_NETS, Xff, true);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let explain = |lines: &[&str]| r.resolve_explained(peer, lines.iter().copied()).1;
        assert_eq!(explain(&[]), ClientIpSource::NoHeader);
        assert_eq!(
            explain(&["1.2.3.4, 10.0.0.2", "192.168.0.1"]),
            ClientIpSource::FirstUntrusted {
                index: 0,
                skipped: 2
            }
        );
        assert_eq!(
            explain(&["10.0.0.3, 10.0.0.2"]),
            ClientIpSource::AllTrusted {
                index: 0,
                skipped: 1
            }
        );
        assert_eq!(
            explain(&["1.2.3.4, nope, 10.0.0.2"]),
            ClientIpSource::StoppedAtMalformed {
                index: 2,
                malformed: "nope".into()
            }
        );
        assert_eq!(
            explain(&["1.2.3.4, nope"]),
            ClientIpSource::MalformedRightmost {
                entry: "nope".into()
            }
        );
        let nonrec = resolver(TRUSTED_NETS, Xff, false);
        let (_, why) = nonrec.resolve_explained(peer, ["1.2.3.4, 5.6.7.8"]);
        assert_eq!(why, ClientIpSource::Rightmost { index: 1 });
        assert!(why.to_string().contains("rightmost"));
        let untrusted: IpAddr = "8.8.8.8".parse().unwrap();
        let (_, why) = r.resolve_explained(untrusted, ["1.2.3.4"]);
        assert!(why.is_peer());
        assert!(why.to_string().contains("not a trusted proxy"));
        let long = "x".repeat(1000);
        let (_, why) = r.resolve_explained(peer, [long.as_str()]);
        assert!(why.to_string().len() < 300);
    }

    #[test]
    fn accessors_and_names() {
        let r = resolver(
            TRUSTED_NETS,
            ForwardedHeader::Other("X-Client-IP".into()),
            true,
        );
        assert_eq!(r.header().header_name(), "x-client-ip");
        assert!(r.recursive());
        assert_eq!(r.trusted_count(), 4);
        assert!(r.is_trusted("::ffff:192.168.3.4".parse().unwrap()));
        assert!(!r.is_trusted("8.8.8.8".parse().unwrap()));
        assert_eq!(Xff.header_name(), "x-forwarded-for");
        assert_eq!(Xri.header_name(), "x-real-ip");
        assert_eq!(Fwd.header_name(), "forwarded");
        assert_eq!(ForwardedHeader::from_name("X-Forwarded-For"), Xff);
        assert_eq!(ForwardedHeader::from_name(" x-real-ip "), Xri);
        assert_eq!(ForwardedHeader::from_name("Forwarded"), Fwd);
        assert_eq!(
            ForwardedHeader::from_name("CF-Connecting-IP"),
            ForwardedHeader::Other("cf-connecting-ip".into())
        );
    }

    #[test]
    fn address_forms() {
        let ok = [
            ("1.2.3.4", "1.2.3.4"),
            ("1.2.3.4:8080", "1.2.3.4"),
            ("1.2.3.4:08080", "1.2.3.4"),
            ("::1", "::1"),
            ("[::1]", "::1"),
            ("[::1]:8080", "::1"),
            ("::ffff:1.2.3.4", "1.2.3.4"),
            (" 1.2.3.4 ", "1.2.3.4"),
        ];
        for (s, want) in ok {
            assert_eq!(parse_addr(s), Some(want.parse().unwrap()), "{s}");
        }
        let bad = [
            "",
            "1.2.3",
            "999.1.1.1",
            "abc",
            "[::1",
            "1.2.3.4:abc",
            "1.2.3.4:",
            "[::1]:",
            "[::1]x",
            "[1.2.3.4]",
            "1.2.3.4:0",
            "1.2.3.4:65536",
            "::1:80:x",
            "fe80::1%eth0",
            "_hidden",
            "unknown",
            "1.2.3.4:+80",
        ];
        for s in bad {
            assert_eq!(parse_addr(s), None, "{s:?}");
        }
    }

    fn entry_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(vec![
                "10.0.0.2", "10.9.9.9", "192.168.7.7", "127.0.0.1", "1.2.3.4", "5.6.7.8",
                "::ffff:10.0.0.3", "[2001:db8:ffff::5]:80", "2001:db8::1", "1.2.3.4:99",
            ]).prop_map(String::from),
            1 => prop::sample::select(vec!["bad", "1.2.3", "", " ", "[::1", "_x"]).prop_map(String::from),
        ]
    }

    fn lines_strategy() -> impl Strategy<Value = Vec<String>> {
        let line = (
            prop::collection::vec(entry_strategy(), 0..5),
            prop::sample::select(vec![", ", ",", " ", " , ,"]),
            any::<bool>(),
        )
            .prop_map(|(entries, sep, forwarded)| {
                if forwarded {
                    entries
                        .iter()
                        .map(|e| format!("for=\"{e}\";proto=https"))
                        .collect::<Vec<_>>()
                        .join(sep)
                } else {
                    entries.join(sep)
                }
            });
        prop::collection::vec(line, 0..4)
    }

    proptest! {
        #[test]
        fn resolve_agrees_with_explained(
            lines in lines_strategy(),
            peer in prop::sample::select(vec!["10.0.0.1", "::ffff:10.0.0.1", "8.8.8.8", "2001:db8:ffff::9"]),
            recursive in any::<bool>(),
            header in prop::sample::select(vec![0u8, 1, 2, 3]),
        ) {
            let header = match header {
                0 => Xff,
                1 => Xri,
                2 => Fwd,
                _ => ForwardedHeader::Other("x-ip".into()),
            };
            let r = resolver(TRUSTED_NETS, header, recursive);
            let peer: IpAddr = peer.parse().unwrap();
            let got = r.resolve(peer, lines.iter().map(String::as_str));
            let (explained, why) = r.resolve_explained(peer, lines.iter().map(String::as_str));
            prop_assert_eq!(got, explained, "{:?}", why);
            // Joining the lines gives the same answer (except X-Real-IP,
            // which reads only the first line).
            if !matches!(r.header(), ForwardedHeader::XRealIp) {
                let joined = lines.join(", ");
                prop_assert_eq!(r.resolve(peer, [joined.as_str()]), got);
            }
        }
    }
}
