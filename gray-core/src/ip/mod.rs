//! IP sets merged into one longest-prefix-match table.
//!
//! A snapshot has many named IP sets (gray lists, office networks, trusted
//! proxies, ...), each a list of IPv4 and IPv6 prefixes, possibly hundreds
//! of thousands of them in total. Instead of searching every set on every
//! request, [`IpTableBuilder`] merges *all* sets into one table per address
//! family; one [`IpTable::lookup`] then answers, in a single search, which
//! sets contain a client address, as a [`SetMask`].
//!
//! Sets are identified by a dense index `0..n` chosen by the caller (for
//! example the position of the set in the snapshot). Overlapping, nested and
//! duplicate prefixes, in the same set or in different sets, are all fine:
//! an address belongs to a set as soon as any prefix of that set covers it.
//!
//! # How it works
//!
//! At build time the prefixes of each family are cut into disjoint
//! elementary intervals by a sort and a sweep over their boundaries. Each
//! interval gets a *class*: the index of a deduplicated bitset of the sets
//! covering it. Neighbouring intervals with the same class are merged. A
//! lookup is a binary search over the interval starts (narrowed first by a
//! bucket index on the leading address bits to about four starts), then a
//! class → bitset step. IPv6 starts are searched by their high 64 bits only;
//! the low halves, needed only inside a /64 that holds boundaries of longer
//! prefixes, are kept aside and searched in that case alone. Building is
//! `O(n log n)` in the number of prefixes with no work per covered address,
//! and a lookup never allocates.
//!
//! # IPv4-mapped addresses
//!
//! Addresses are canonicalised before lookup ([`IpAddr::to_canonical`]):
//! `::ffff:192.0.2.1` is looked up as `192.0.2.1`. Likewise an IPv6 prefix
//! that lies entirely inside `::ffff:0:0/96` (such as `::ffff:192.0.2.0/120`)
//! is stored as the equivalent IPv4 prefix (`192.0.2.0/24`). A wider IPv6
//! prefix such as `::/0` matches native IPv6 addresses only, never IPv4 (or
//! mapped) ones.
//!
//! # Example
//!
//! ```
//! use gray_core::ip::{parse_entry, parse_list, IpTableBuilder};
//!
//! const OFFICE: u32 = 0;
//! const BETA: u32 = 1;
//!
//! let mut builder = IpTableBuilder::new();
//! builder.add(OFFICE, parse_entry("10.0.0.0/8").unwrap());
//! for net in parse_list("# beta testers\n10.1.0.0/16\n2001:db8::/32 # lab\n").unwrap() {
//!     builder.add(BETA, net);
//! }
//! let table = builder.build();
//!
//! let sets = table.lookup("10.1.2.3".parse().unwrap());
//! assert!(sets.contains(OFFICE) && sets.contains(BETA));
//! assert_eq!(sets.iter().collect::<Vec<_>>(), vec![OFFICE, BETA]);
//! assert!(table.contains(BETA, "2001:db8::1".parse().unwrap()));
//! assert!(table.lookup("192.0.2.1".parse().unwrap()).is_empty());
//! ```

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Largest accepted set index plus one (`add` panics at or above it).
///
/// The limit only exists to turn an accidental huge index (which would make
/// every class bitset enormous) into a clear panic.
pub const MAX_SETS: u32 = 1 << 20;

mod family;
mod mask;
mod parse;

use family::{sweep, Family, Family6, Interner};
use parse::normalize_net;

pub use mask::{SetMask, SetMaskIter};
pub use parse::{linear_contains, parse_entry, parse_list, IpEntryError};

/// Collects `(set, prefix)` pairs and compiles them into an [`IpTable`].
///
/// Adding is `O(1)`; [`build`](IpTableBuilder::build) sorts the prefix
/// boundaries once, so a million prefixes build in well under a second.
#[derive(Debug, Clone, Default)]
pub struct IpTableBuilder {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u32)>,
    set_count: u32,
    prefixes: usize,
}

impl IpTableBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `net` to set `set`.
    ///
    /// Host bits of `net` are ignored (the prefix is truncated to its
    /// network) and prefixes inside `::ffff:0:0/96` are stored as IPv4.
    /// Duplicates and overlaps are allowed.
    ///
    /// # Panics
    ///
    /// If `set >= MAX_SETS`.
    pub fn add(&mut self, set: u32, net: IpNet) {
        assert!(set < MAX_SETS, "IP set index {set} is too large");
        self.set_count = self.set_count.max(set + 1);
        self.prefixes += 1;
        let start = set << 1;
        let end = start | 1;
        match normalize_net(net) {
            IpNet::V4(n) => {
                self.v4.push((u32::from(n.network()), start));
                if let Some(after) = u32::from(n.broadcast()).checked_add(1) {
                    self.v4.push((after, end));
                }
            }
            IpNet::V6(n) => {
                self.v6.push((u128::from(n.network()), start));
                if let Some(after) = u128::from(n.broadcast()).checked_add(1) {
                    self.v6.push((after, end));
                }
            }
        }
    }

    /// Compiles the table.
    pub fn build(self) -> IpTable {
        let words = (self.set_count as usize).div_ceil(64);
        let mut interner = Interner::new(words);
        let set_count = self.set_count as usize;
        let v4 = Family::v4(sweep(self.v4, &mut interner, set_count));
        let v6 = Family6::new(sweep(self.v6, &mut interner, set_count));
        let mut flat = interner.flat;
        flat.shrink_to_fit();
        IpTable {
            v4,
            v6,
            words,
            class_bits: flat.into_boxed_slice(),
            class_count: interner.count as usize,
            set_count: self.set_count,
            prefix_count: self.prefixes,
        }
    }
}

/// An immutable table answering "which sets contain this address?".
///
/// Built by [`IpTableBuilder`]; see the [module documentation](self) for the
/// design. `IpTable` is `Send + Sync`; cloning copies the arrays (wrap it in
/// an `Arc` to share it).
///
/// ```
/// use gray_core::ip::{parse_entry, IpTableBuilder};
/// use std::net::IpAddr;
///
/// let mut b = IpTableBuilder::new();
/// b.add(0, parse_entry("192.0.2.0/24").unwrap());
/// b.add(1, parse_entry("192.0.2.128/25").unwrap());
/// b.add(2, parse_entry("2001:db8::/32").unwrap());
/// let table = b.build();
///
/// let ip: IpAddr = "192.0.2.200".parse().unwrap();
/// assert_eq!(table.lookup(ip).iter().collect::<Vec<_>>(), vec![0, 1]);
/// // IPv4-mapped IPv6 addresses are looked up as IPv4.
/// let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
/// assert_eq!(table.lookup(mapped).iter().collect::<Vec<_>>(), vec![0]);
/// assert!(table.contains(2, "2001:db8:1::1".parse().unwrap()));
/// assert!(!table.contains(2, "2001:db9::1".parse().unwrap()));
/// assert_eq!(table.prefix_count(), 3);
/// ```
#[derive(Clone)]
pub struct IpTable {
    v4: Family<u32>,
    v6: Family6,
    /// `u64` words per class bitset.
    words: usize,
    /// Class bitsets, `words` words each; class 0 is empty.
    class_bits: Box<[u64]>,
    class_count: usize,
    set_count: u32,
    prefix_count: usize,
}

impl Default for IpTable {
    fn default() -> Self {
        IpTableBuilder::new().build()
    }
}

impl IpTable {
    /// The sets containing `ip` (canonicalised first, so `::ffff:a.b.c.d`
    /// is looked up as `a.b.c.d`). Never allocates.
    #[inline(always)]
    pub fn lookup(&self, ip: IpAddr) -> SetMask<'_> {
        // The IPv4 search is inlined into the caller (the request path); IPv6 stays a call.
        let class = match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.find_v6(u128::from(a)),
        } as usize;
        let w = self.words;
        SetMask {
            words: &self.class_bits[class * w..class * w + w],
        }
    }

    #[inline(never)]
    fn find_v6(&self, a: u128) -> u32 {
        self.v6.find(a)
    }

    /// Whether set `set` contains `ip`; shorthand for
    /// `self.lookup(ip).contains(set)`.
    #[inline]
    pub fn contains(&self, set: u32, ip: IpAddr) -> bool {
        self.lookup(ip).contains(set)
    }

    /// Number of `(set, prefix)` pairs added, duplicates included.
    pub fn prefix_count(&self) -> usize {
        self.prefix_count
    }

    /// Whether no prefix was added (every lookup is empty).
    pub fn is_empty(&self) -> bool {
        self.prefix_count == 0
    }

    /// Number of stored intervals over both families, after merging
    /// neighbours with equal sets (gaps between prefixes count too).
    pub fn interval_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Number of distinct combinations of sets, the empty one included.
    pub fn class_count(&self) -> usize {
        self.class_count
    }

    /// One more than the largest set index added (0 for an empty table).
    pub fn set_count(&self) -> u32 {
        self.set_count
    }

    /// Approximate heap memory used by the table, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.v4.heap_bytes() + self.v6.heap_bytes() + std::mem::size_of_val(&*self.class_bits)
    }
}

impl fmt::Debug for IpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpTable")
            .field("prefixes", &self.prefix_count)
            .field("sets", &self.set_count)
            .field("v4_intervals", &self.v4.len())
            .field("v6_intervals", &self.v6.len())
            .field("classes", &self.class_count)
            .finish()
    }
}

// Compile-time check that tables can be shared between threads.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<IpTable>();
    assert_send_sync::<SetMask<'static>>();
};

#[cfg(test)]
mod tests;
