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
//!   parsed as an address with an optional port (`ngx_parse_addr_port`); so an
//!   empty element (`1.2.3.4, , 10.0.0.1`) is skipped, not malformed. The
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
use std::net::IpAddr;

use ipnet::IpNet;

use crate::ip::{IpTable, IpTableBuilder};

mod parse;

use parse::{RevEntries, Syntax};

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
        self.resolve_trusted(peer, header_values)
    }

    /// [`resolve`](Self::resolve) for a canonical `peer` already known to be trusted.
    ///
    /// Inlined with the line walk into the decision: an `IpAddr` (17 bytes) or a `Walk`
    /// returned through memory is read back in wider words than it was written, a
    /// store-forwarding stall on every forwarded request.
    #[inline]
    pub(crate) fn resolve_trusted<'a, I>(&self, peer: IpAddr, header_values: I) -> IpAddr
    where
        I: IntoIterator<Item = &'a str>,
    {
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
    #[inline]
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

#[cfg(test)]
mod tests;
