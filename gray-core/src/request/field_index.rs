//! Request fields by slot: the cookies, headers and query parameters a snapshot reads.
//!
//! A rule set names the request fields it tests: `cookie: { name: canary }`, `header: { name:
//! x-tenant }`, an expression's `#H['x-app-version']` (which Nepxion looks up as query
//! parameter, then cookie, then header). Searching the request once per name makes a decision
//! cost *names × request size*: ten names over a request with a dozen headers and five cookies
//! is a few hundred string comparisons.
//!
//! Instead, compiling a snapshot gives every distinct name a [`Slot`] ([`FieldNamesBuilder`]),
//! and a decision reads each part of the request at most once, when a condition first needs it
//! ([`Fields`]): one pass over the query string, one over the `Cookie` header lines, one over
//! the header list. Each pass looks every name it meets up in a small hash index of the wanted
//! names and keeps the first value of each, so the cost is *names + request size*. Values are
//! borrowed from the request; only a wanted query value with `%` escapes or `+` is decoded into
//! an owned string, as [`crate::query::find`] would.
//!
//! Up to [`CAPACITY`] names of each kind get a slot; further names, and requests whose view
//! cannot list its headers ([`RequestView::all_headers`]) or answers cookies itself
//! ([`RequestView::cookies_in_headers`]), are looked up directly, with the same result.

use std::borrow::Cow;

use super::view::RequestView;
use super::{cookie, query, scan};

/// Names of each kind (header, cookie, query) that get a slot.
pub(crate) const CAPACITY: usize = 16;

/// Where a name's value is kept per request; [`Slot::NONE`] means "look it up directly".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot(u8);

impl VarSlots {
    /// Whether the variable has a slot of every kind (its lookups then need no storage of
    /// their own).
    #[inline]
    pub(crate) fn complete(self) -> bool {
        self.query != Slot::NONE && self.cookie != Slot::NONE && self.header != Slot::NONE
    }
}

impl Slot {
    /// No slot: the name is looked up directly on the request.
    pub(crate) const NONE: Slot = Slot(u8::MAX);

    fn index(self) -> Option<usize> {
        (self.0 != u8::MAX).then_some(usize::from(self.0))
    }
}

/// The slots of one expression variable, looked up as query parameter, cookie, then header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VarSlots {
    pub(crate) query: Slot,
    pub(crate) cookie: Slot,
    pub(crate) header: Slot,
}

/// Collects the names a snapshot reads while it compiles.
#[derive(Debug, Default)]
pub(crate) struct FieldNamesBuilder {
    headers: Vec<Box<str>>,
    cookies: Vec<Box<str>>,
    query: Vec<Box<str>>,
}

fn slot_in(names: &mut Vec<Box<str>>, name: &str) -> Slot {
    if name.is_empty() {
        return Slot::NONE;
    }
    if let Some(i) = names.iter().position(|n| **n == *name) {
        return Slot(i as u8);
    }
    if names.len() == CAPACITY {
        return Slot::NONE;
    }
    names.push(name.into());
    Slot((names.len() - 1) as u8)
}

impl FieldNamesBuilder {
    /// The slot of header `name` (compared case-insensitively).
    pub(crate) fn header(&mut self, name: &str) -> Slot {
        slot_in(&mut self.headers, &name.to_ascii_lowercase())
    }

    /// The slot of cookie `name` (case-sensitive).
    pub(crate) fn cookie(&mut self, name: &str) -> Slot {
        slot_in(&mut self.cookies, name)
    }

    /// The slot of query parameter `name` (case-sensitive, compared after decoding).
    pub(crate) fn query(&mut self, name: &str) -> Slot {
        slot_in(&mut self.query, name)
    }

    /// The slots of an expression variable.
    pub(crate) fn variable(&mut self, name: &str) -> VarSlots {
        VarSlots {
            query: self.query(name),
            cookie: self.cookie(name),
            header: self.header(name),
        }
    }

    pub(crate) fn build(self) -> FieldNames {
        FieldNames {
            headers: NameTable::new(self.headers, true),
            cookies: NameTable::new(self.cookies, false),
            query: NameTable::new(self.query, false),
        }
    }
}

/// The names a snapshot reads, by kind, each with a hash index.
#[derive(Debug, Default)]
pub(crate) struct FieldNames {
    headers: NameTable,
    cookies: NameTable,
    query: NameTable,
}

/// Names with an open-addressing index (`hash → slot + 1`, 0 = empty, load ≤ 1/4).
#[derive(Debug, Default)]
struct NameTable {
    names: Box<[Box<str>]>,
    /// Bit `n` is set when a name has `n` bytes (bit 63: 63 or more); most unwanted names are
    /// rejected by this test alone.
    lengths: u64,
    index: Box<[u8]>,
    shift: u32,
    fold_case: bool,
}

/// A cheap hash of length and three bytes (ASCII case folded, so that it agrees for names that
/// differ only in case; the final comparison decides).
#[inline(always)]
fn hash(name: &[u8]) -> u32 {
    let n = name.len();
    if n == 0 {
        return 0;
    }
    let x = (n as u32)
        ^ (u32::from(name[0] | 0x20) << 8)
        ^ (u32::from(name[n / 2] | 0x20) << 16)
        ^ (u32::from(name[n - 1] | 0x20) << 24);
    x.wrapping_mul(0x9E37_79B1)
}

#[inline]
fn length_bit(n: usize) -> u64 {
    1 << n.min(63)
}

impl NameTable {
    fn new(names: Vec<Box<str>>, fold_case: bool) -> NameTable {
        if names.is_empty() {
            return NameTable {
                fold_case,
                ..NameTable::default()
            };
        }
        let size = (names.len() * 4).next_power_of_two().max(8);
        let bits = size.trailing_zeros();
        let shift = 32 - bits;
        let mut index = vec![0u8; size].into_boxed_slice();
        for (slot, name) in names.iter().enumerate() {
            let mut i = (hash(name.as_bytes()) >> shift) as usize;
            while index[i] != 0 {
                i = (i + 1) & (size - 1);
            }
            index[i] = slot as u8 + 1;
        }
        let lengths = names.iter().fold(0u64, |m, n| m | length_bit(n.len()));
        NameTable {
            names: names.into_boxed_slice(),
            lengths,
            index,
            shift,
            fold_case,
        }
    }

    /// The slot index of `name`, if it is wanted.
    #[inline(always)]
    fn find(&self, name: impl AsRef<[u8]>) -> Option<usize> {
        let name = name.as_ref();
        if self.lengths & length_bit(name.len()) == 0 {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut i = (hash(name) >> self.shift) as usize;
        loop {
            let e = self.index[i];
            if e == 0 {
                return None;
            }
            let slot = usize::from(e - 1);
            let want = self.names[slot].as_bytes();
            let same = want.len() == name.len()
                && if self.fold_case {
                    // `want` is lowercase, so this is `want == name.to_ascii_lowercase()`.
                    scan::eq_ignore_ascii_case(want, name)
                } else {
                    scan::eq_bytes(want, name)
                };
            if same {
                return Some(slot);
            }
            i = (i + 1) & mask;
        }
    }

    fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// The values of one kind of field for one request.
enum Values<T> {
    /// Not read yet.
    Unread,
    /// Read: the first value of each wanted name.
    Read([Option<T>; CAPACITY]),
    /// The view cannot list these fields; every lookup asks it directly.
    Direct,
}

impl<T> Values<T> {
    fn slot(&self, slot: Slot) -> Option<&Option<T>> {
        match self {
            Values::Read(v) => slot.index().map(|i| &v[i]),
            Values::Unread | Values::Direct => None,
        }
    }
}

/// The fields of one request, read on first use. See the [module documentation](self).
pub(crate) struct Fields<'r> {
    headers: Values<&'r str>,
    cookies: Values<&'r str>,
    /// Raw (undecoded) values; those with escapes also have a decoded copy in `decoded`.
    query: Values<&'r str>,
    /// Bit `i`: query slot `i` is in `decoded`.
    decoded_mask: u32,
    /// Decoded query values by slot (only for values with `%` or `+`, so usually empty and
    /// never allocated).
    decoded: Vec<(usize, String)>,
}

impl<'r> Fields<'r> {
    pub(crate) fn new() -> Self {
        Fields {
            headers: Values::Unread,
            cookies: Values::Unread,
            query: Values::Unread,
            decoded_mask: 0,
            decoded: Vec::new(),
        }
    }

    /// Reads the headers (if not read yet).
    pub(crate) fn read_headers<R: RequestView + ?Sized>(&mut self, names: &FieldNames, req: &'r R) {
        if !matches!(self.headers, Values::Unread) {
            return;
        }
        let table = &names.headers;
        if table.is_empty() {
            self.headers = Values::Direct;
            return;
        }
        self.headers = Values::Read([None; CAPACITY]);
        let Values::Read(vals) = &mut self.headers else {
            return;
        };
        let listed = req.all_headers(&mut |name, value| {
            if let Some(i) = table.find(name) {
                vals[i].get_or_insert(value);
            }
        });
        if !listed {
            self.headers = Values::Direct;
        }
    }

    /// Reads the `Cookie` header lines (if not read yet).
    pub(crate) fn read_cookies<R: RequestView + ?Sized>(&mut self, names: &FieldNames, req: &'r R) {
        if !matches!(self.cookies, Values::Unread) {
            return;
        }
        let table = &names.cookies;
        if table.is_empty() || !req.cookies_in_headers() {
            self.cookies = Values::Direct;
            return;
        }
        self.cookies = Values::Read([None; CAPACITY]);
        let Values::Read(vals) = &mut self.cookies else {
            return;
        };
        req.for_each_header("cookie", &mut |line| {
            let bytes = line.as_bytes();
            cookie::for_each_span(bytes, |name, value| {
                if let Some(i) = table.find(&bytes[name]) {
                    if vals[i].is_none() {
                        // The range cuts next to ASCII bytes: always a char boundary.
                        vals[i] = line.get(value);
                    }
                }
            });
            true
        });
    }

    /// Reads the query string (if not read yet).
    pub(crate) fn read_query<R: RequestView + ?Sized>(&mut self, names: &FieldNames, req: &'r R) {
        if !matches!(self.query, Values::Unread) {
            return;
        }
        let table = &names.query;
        let Some(q) = req.query().filter(|_| !table.is_empty()) else {
            self.query = Values::Direct;
            return;
        };
        self.query = Values::Read([None; CAPACITY]);
        let Values::Read(vals) = &mut self.query else {
            return;
        };
        let (mask, decoded) = (&mut self.decoded_mask, &mut self.decoded);
        if !query::needs_decoding(q) {
            // The usual query string: nothing escaped, so keys are compared as they are and
            // values are borrowed.
            query::for_each_pair(q, |key, value| {
                if let Some(i) = table.find(key) {
                    vals[i].get_or_insert(value);
                }
            });
            return;
        }
        query::for_each_pair(q, |key, value| {
            let slot = if query::needs_decoding(key) {
                table.find(query::decode(key).as_bytes())
            } else {
                table.find(key)
            };
            if let Some(i) = slot {
                if vals[i].is_none() {
                    vals[i] = Some(value);
                    if query::needs_decoding(value) {
                        *mask |= 1 << i;
                        decoded.push((i, query::decode(value).into_owned()));
                    }
                }
            }
        });
    }

    /// Reads every kind of field (before evaluating an expression, whose variables may be any).
    pub(crate) fn read_all<R: RequestView + ?Sized>(&mut self, names: &FieldNames, req: &'r R) {
        self.read_query(names, req);
        self.read_cookies(names, req);
        self.read_headers(names, req);
    }

    /// Header `name` (any case). Call [`Fields::read_headers`] first.
    #[inline]
    pub(crate) fn header<R: RequestView + ?Sized>(
        &self,
        req: &'r R,
        slot: Slot,
        name: &str,
    ) -> Option<&'r str> {
        match self.headers.slot(slot) {
            Some(v) => *v,
            None => header_any_case(req, name),
        }
    }

    /// Cookie `name`. Call [`Fields::read_cookies`] first.
    #[inline]
    pub(crate) fn cookie<R: RequestView + ?Sized>(
        &self,
        req: &'r R,
        slot: Slot,
        name: &str,
    ) -> Option<&'r str> {
        match self.cookies.slot(slot) {
            Some(v) => *v,
            None => req.cookie(name),
        }
    }

    /// The value in query slot `slot` once the query string has been read (`None` when the
    /// parameter is absent). `slot` must not be [`Slot::NONE`].
    #[inline]
    pub(crate) fn query_in_slot(&self, slot: Slot) -> Option<&str> {
        match (&self.query, slot.index()) {
            (Values::Read(_), Some(i)) if self.decoded_mask & (1 << i) != 0 => self
                .decoded
                .iter()
                .find(|(s, _)| *s == i)
                .map(|(_, d)| d.as_str()),
            (Values::Read(v), Some(i)) => v[i],
            // Read without a query string (a slotted name means the name list is not empty).
            _ => None,
        }
    }

    /// Query parameter `name`, decoded. Call [`Fields::read_query`] first.
    #[inline]
    pub(crate) fn query<'s, R: RequestView + ?Sized>(
        &'s self,
        req: &'r R,
        slot: Slot,
        name: &str,
    ) -> Option<Cow<'s, str>> {
        match &self.query {
            Values::Read(_) => match slot.index() {
                Some(_) => self.query_in_slot(slot).map(Cow::Borrowed),
                None => req.query_param(name),
            },
            Values::Unread | Values::Direct => req.query_param(name),
        }
    }
}

/// `req.header` for a name in any case (`RequestView` wants lowercase).
pub(crate) fn header_any_case<'r, R: RequestView + ?Sized>(
    req: &'r R,
    name: &str,
) -> Option<&'r str> {
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return req.header(name);
    }
    let mut buf = [0u8; 128];
    if name.len() <= buf.len() {
        buf[..name.len()].copy_from_slice(name.as_bytes());
        buf[..name.len()].make_ascii_lowercase();
        std::str::from_utf8(&buf[..name.len()])
            .ok()
            .and_then(|n| req.header(n))
    } else {
        req.header(&name.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimpleRequest;

    fn names(headers: &[&str], cookies: &[&str], query: &[&str]) -> (FieldNames, Vec<Slot>) {
        let mut b = FieldNamesBuilder::default();
        let mut slots = Vec::new();
        slots.extend(headers.iter().map(|n| b.header(n)));
        slots.extend(cookies.iter().map(|n| b.cookie(n)));
        slots.extend(query.iter().map(|n| b.query(n)));
        (b.build(), slots)
    }

    #[test]
    fn slots_are_shared_by_equal_names_and_capped() {
        let mut b = FieldNamesBuilder::default();
        assert_eq!(b.header("X-A"), b.header("x-a"));
        assert_ne!(b.cookie("a"), b.cookie("A"));
        assert_eq!(b.cookie(""), Slot::NONE);
        for i in 0..CAPACITY * 2 {
            let s = b.query(&format!("q{i}"));
            assert_eq!(s == Slot::NONE, i >= CAPACITY, "{i}");
        }
    }

    #[test]
    fn index_finds_every_name_and_rejects_others() {
        let list: Vec<String> = (0..CAPACITY).map(|i| format!("x-name-{i}")).collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        let t = NameTable::new(refs.iter().map(|n| Box::from(*n)).collect(), true);
        for (i, n) in refs.iter().enumerate() {
            assert_eq!(t.find(n), Some(i));
            assert_eq!(t.find(n.to_ascii_uppercase()), Some(i));
        }
        for other in ["", "x", "x-name-", "x-name-32", "x-name-1x", "y-name-1"] {
            assert_eq!(t.find(other), None, "{other}");
        }
        let t = NameTable::new(vec!["Ab".into()], false);
        assert_eq!(t.find("Ab"), Some(0));
        assert_eq!(t.find("ab"), None);
        assert_eq!(NameTable::default().find("a"), None);
    }

    #[test]
    fn one_pass_per_kind_gives_what_direct_lookups_give() {
        let req = SimpleRequest::new("10.0.0.1".parse().unwrap())
            .with_header("X-Tenant", "acme")
            .with_header("x-tenant", "second")
            .with_header("Cookie", "a=1; b=\"q\"; a=2")
            .with_header("cookie", "c=3")
            .with_query("p=x%20y&p=2&%70%71=decoded&plain=1");
        let (n, s) = names(
            &["x-tenant", "x-missing"],
            &["a", "b", "c", "d"],
            &["p", "pq", "plain", "zz"],
        );
        let mut f = Fields::new();
        f.read_all(&n, &req);
        assert_eq!(f.header(&req, s[0], "x-tenant"), Some("acme"));
        assert_eq!(f.header(&req, s[1], "x-missing"), None);
        for (slot, name) in s[2..6].iter().zip(["a", "b", "c", "d"]) {
            assert_eq!(f.cookie(&req, *slot, name), req.cookie(name), "{name}");
        }
        assert_eq!(f.cookie(&req, s[3], "b"), Some("q"));
        for (slot, name) in s[6..].iter().zip(["p", "pq", "plain", "zz"]) {
            assert_eq!(f.query(&req, *slot, name), req.query_param(name), "{name}");
        }
        // Names without a slot are looked up directly.
        assert_eq!(f.cookie(&req, Slot::NONE, "c"), Some("3"));
        assert_eq!(f.header(&req, Slot::NONE, "x-tenant"), Some("acme"));
        assert_eq!(f.query(&req, Slot::NONE, "plain").as_deref(), Some("1"));
    }

    #[test]
    fn views_that_cannot_list_are_asked_directly() {
        struct Opaque(SimpleRequest);
        impl RequestView for Opaque {
            fn peer_ip(&self) -> Option<std::net::IpAddr> {
                self.0.peer_ip()
            }
            fn method(&self) -> &str {
                self.0.method()
            }
            fn path(&self) -> &str {
                self.0.path()
            }
            fn query(&self) -> Option<&str> {
                self.0.query()
            }
            fn for_each_header<'a>(&'a self, name: &str, f: &mut dyn FnMut(&'a str) -> bool) {
                self.0.for_each_header(name, f)
            }
        }
        let req = Opaque(
            SimpleRequest::new("10.0.0.1".parse().unwrap())
                .with_header("x-a", "1")
                .with_header("cookie", "k=v"),
        );
        let (n, s) = names(&["x-a"], &["k"], &[]);
        let mut f = Fields::new();
        f.read_all(&n, &req);
        assert_eq!(f.header(&req, s[0], "x-a"), Some("1"));
        assert_eq!(f.cookie(&req, s[1], "k"), Some("v"));
        // A request with explicit cookies answers `cookie` itself.
        let req = SimpleRequest::new("10.0.0.1".parse().unwrap())
            .with_header("cookie", "k=from-header")
            .with_cookie("k", "explicit");
        let mut f = Fields::new();
        f.read_all(&n, &req);
        assert_eq!(f.cookie(&req, s[1], "k"), Some("explicit"));
    }
}
