//! Per-request evaluation state: the request, the snapshot, and what several conditions share,
//! computed at most once (the client address after trusted-proxy rules, its IP-set membership,
//! the header, cookie and query values the snapshot's conditions read).

use std::borrow::Cow;
use std::net::IpAddr;

use crate::ip::SetMask;
use crate::request::field_index::{Fields, Slot, VarSlots};
use crate::request::RequestView;
use crate::snapshot::Snapshot;

/// Formats an IP address into a stack buffer (no allocation).
pub(crate) struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        IpText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    #[inline]
    pub(crate) fn format(&mut self, ip: IpAddr) -> &[u8] {
        use std::io::Write;
        let mut cur = std::io::Cursor::new(&mut self.buf[..]);
        let _ = write!(cur, "{ip}");
        self.len = cur.position() as usize;
        &self.buf[..self.len]
    }
}

/// Per-request evaluation state: the request, the snapshot, and lazily computed facts that
/// several conditions share (client IP, its IP-set membership, the request fields the
/// snapshot reads).
pub(crate) struct Ctx<'r, R: RequestView + ?Sized> {
    pub(crate) req: &'r R,
    pub(crate) snap: &'r Snapshot,
    /// The resolved client address ([`PackedIp`]): kept as aligned plain integers, because
    /// an `Option<Option<IpAddr>>` copied in and out of the context costs store-forwarding
    /// stalls (its address sits at an odd offset behind the tags).
    client_ip: PackedIp,
    mask: Option<Option<SetMask<'r>>>,
    fields: Fields<'r>,
}

impl<'r, R: RequestView + ?Sized> Ctx<'r, R> {
    pub(crate) fn new(req: &'r R, snap: &'r Snapshot) -> Self {
        Ctx {
            req,
            snap,
            client_ip: PackedIp::UNRESOLVED,
            mask: None,
            fields: Fields::new(),
        }
    }

    /// The value of cookie `name` (its slot `slot`), as `req.cookie(name)` gives it.
    #[inline]
    pub(crate) fn cookie(&mut self, slot: Slot, name: &str) -> Option<&'r str> {
        self.fields.read_cookies(&self.snap.fields, self.req);
        self.fields.cookie(self.req, slot, name)
    }

    /// The first value of header `name` (lowercase; its slot `slot`).
    #[inline]
    pub(crate) fn header(&mut self, slot: Slot, name: &str) -> Option<&'r str> {
        self.fields.read_headers(&self.snap.fields, self.req);
        self.fields.header(self.req, slot, name)
    }

    /// The decoded value of query parameter `name` (its slot `slot`).
    #[inline]
    pub(crate) fn query(&mut self, slot: Slot, name: &str) -> Option<Cow<'_, str>> {
        self.fields.read_query(&self.snap.fields, self.req);
        self.fields.query(self.req, slot, name)
    }

    /// The client address (trusted-proxy rules applied), resolved once.
    #[inline]
    pub(crate) fn client_ip(&mut self) -> Option<IpAddr> {
        if let Some(ip) = self.client_ip.get() {
            return ip;
        }
        let ip = self
            .req
            .peer_ip()
            .map(|peer| resolve_client_ip(self.snap, self.req, peer));
        self.client_ip = PackedIp::of(ip);
        ip
    }

    /// Which IP sets hold the client address.
    #[inline]
    pub(crate) fn ip_mask(&mut self) -> Option<SetMask<'r>> {
        if let Some(m) = self.mask {
            return m;
        }
        let snap = self.snap;
        let m = self.client_ip().map(|ip| snap.ip_table().lookup(ip));
        self.mask = Some(m);
        m
    }

    /// Reads every kind of request field, so that [`Ctx::variable`] can answer from `&self`.
    pub(super) fn read_fields(&mut self) {
        self.fields.read_all(&self.snap.fields, self.req);
    }

    /// [`Ctx::variable`] for a variable with [`VarSlots::complete`] slots: the value is
    /// borrowed from the context, no [`Cow`] needed.
    #[inline]
    pub(super) fn variable_in_slots(&self, name: &str, slots: VarSlots) -> Option<&str> {
        match self
            .fields
            .query_in_slot(slots.query)
            .filter(|v| nonblank(v))
        {
            Some(v) => Some(v),
            None => self.variable_after_query(name, slots),
        }
    }

    /// Nepxion variable lookup: query parameter > cookie > header > built-in header; blank
    /// values count as absent. Call [`Ctx::read_fields`] first.
    pub(super) fn variable(&self, name: &str, slots: VarSlots) -> Option<Cow<'_, str>> {
        match self
            .fields
            .query(self.req, slots.query, name)
            .filter(|v| nonblank(v))
        {
            Some(v) => Some(v),
            None => self.variable_after_query(name, slots).map(Cow::Borrowed),
        }
    }

    /// The cookie > header > built-in header part of [`Ctx::variable`].
    #[inline]
    fn variable_after_query(&self, name: &str, slots: VarSlots) -> Option<&'r str> {
        let nonblank = |v: &&str| nonblank(v);
        self.fields
            .cookie(self.req, slots.cookie, name)
            .filter(nonblank)
            .or_else(|| {
                self.fields
                    .header(self.req, slots.header, name)
                    .filter(nonblank)
            })
            .or_else(|| self.snap.builtin_header(name))
    }
}

/// Whether a value has something besides white space (`str::trim` would leave something).
#[inline]
fn nonblank(v: &str) -> bool {
    match v.as_bytes().first() {
        Some(b) if b.is_ascii() => !b.is_ascii_whitespace() || !v.trim().is_empty(),
        _ => !v.trim().is_empty(),
    }
}

/// `example.com:8080` → `example.com`, `[::1]:80` → `::1`, trailing dot removed.
#[inline]
pub(crate) fn strip_port(host: &str) -> &str {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if host.bytes().filter(|&b| b == b':').count() == 1 {
        host.split(':').next().unwrap_or(host)
    } else {
        host
    };
    h.strip_suffix('.').unwrap_or(h)
}

/// A resolved-or-not client address as two aligned integers.
#[derive(Clone, Copy)]
struct PackedIp {
    /// The address bits (an IPv4 address in the low 32).
    bits: u128,
    /// 0: not resolved yet; 1: no address; 4: IPv4; 6: IPv6.
    kind: u8,
}

impl PackedIp {
    const UNRESOLVED: PackedIp = PackedIp { bits: 0, kind: 0 };

    #[inline]
    fn of(ip: Option<IpAddr>) -> PackedIp {
        match ip {
            None => PackedIp { bits: 0, kind: 1 },
            Some(IpAddr::V4(a)) => PackedIp {
                bits: u128::from(u32::from(a)),
                kind: 4,
            },
            Some(IpAddr::V6(a)) => PackedIp {
                bits: u128::from(a),
                kind: 6,
            },
        }
    }

    /// `None` while unresolved, else the resolution.
    #[inline]
    fn get(self) -> Option<Option<IpAddr>> {
        match self.kind {
            0 => None,
            4 => Some(Some(IpAddr::V4((self.bits as u32).into()))),
            6 => Some(Some(IpAddr::V6(self.bits.into()))),
            _ => Some(None),
        }
    }
}

/// The client address of a request: the forwarded header is believed only from trusted
/// proxies (see [`crate::client_ip`]).
#[inline]
pub(crate) fn resolve_client_ip<R: RequestView + ?Sized>(
    snap: &Snapshot,
    req: &R,
    peer: IpAddr,
) -> IpAddr {
    let mut lines: [&str; 8] = [""; 8];
    let mut n = 0usize;
    let mut overflow: Vec<&str> = Vec::new();
    let peer = peer.to_canonical();
    if !snap.resolver.is_trusted(peer) {
        return peer;
    }
    req.for_each_header(snap.resolver.header().header_name(), &mut |v| {
        if n < lines.len() {
            lines[n] = v;
            n += 1;
        } else {
            overflow.push(v);
        }
        true
    });
    if overflow.is_empty() {
        snap.resolver
            .resolve_trusted(peer, lines[..n].iter().copied())
    } else {
        snap.resolver
            .resolve_trusted(peer, lines.iter().copied().chain(overflow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_formats_without_allocating() {
        let mut t = IpText::default();
        assert_eq!(t.format("10.1.2.3".parse().unwrap()), b"10.1.2.3");
        assert_eq!(
            t.format("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap())
                .len(),
            39
        );
    }

    #[test]
    fn hosts_lose_ports() {
        assert_eq!(strip_port("a.example.com:8080"), "a.example.com");
        assert_eq!(strip_port("[::1]:80"), "::1");
        assert_eq!(strip_port("::1"), "::1");
        assert_eq!(strip_port("example.com."), "example.com");
    }
}
