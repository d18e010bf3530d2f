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

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

/// Largest accepted set index plus one (`add` panics at or above it).
///
/// The limit only exists to turn an accidental huge index (which would make
/// every class bitset enormous) into a clear panic.
pub const MAX_SETS: u32 = 1 << 20;

/// Class id of the empty set of sets; always present.
const EMPTY_CLASS: u32 = 0;

/// Upper bound on the bucket index size: `2^20 + 1` `u32`s (4 MiB), reached
/// only by tables of several million intervals. The index aims at about
/// four intervals per bucket.
const MAX_INDEX_BITS: u32 = 20;

/// Longest input kept verbatim in an [`IpEntryError`].
const MAX_ERROR_INPUT: usize = 128;

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

/// Why an IP list entry could not be parsed.
///
/// Displays as `invalid IP or CIDR "<input>": <reason>`, for example
/// `invalid IP or CIDR "10.0.0.1/8": host bits are set; did you mean 10.0.0.0/8?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpEntryError {
    input: String,
    reason: String,
}

impl IpEntryError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        let input = if input.len() > MAX_ERROR_INPUT {
            let mut cut = MAX_ERROR_INPUT;
            while !input.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}...", &input[..cut])
        } else {
            input.to_owned()
        };
        IpEntryError {
            input,
            reason: reason.into(),
        }
    }

    /// The offending entry, trimmed (and shortened if it was very long).
    pub fn input(&self) -> &str {
        &self.input
    }

    /// A human-readable reason, such as
    /// `host bits are set; did you mean 10.0.0.0/8?`.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for IpEntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid IP or CIDR \"{}\": {}", self.input, self.reason)
    }
}

impl std::error::Error for IpEntryError {}

/// Parses one IP list entry: an address or a CIDR prefix.
///
/// Surrounding whitespace is ignored. Accepted forms: `1.2.3.4`,
/// `1.2.3.0/24`, `::1`, `2001:db8::/32`, `[::1]` and `[2001:db8::]/32`. A
/// bare address is a host prefix (`/32` or `/128`). IPv4-mapped IPv6 entries
/// are normalised to IPv4: `::ffff:1.2.3.4` becomes `1.2.3.4/32` and
/// `::ffff:1.2.3.0/120` becomes `1.2.3.0/24`.
///
/// A prefix whose address has bits set beyond the prefix length (such as
/// `10.0.0.1/8`) is rejected, with the intended network suggested in the
/// error, because it is almost always a typo. Empty input, anything that is
/// not an address, zone ids (`fe80::1%eth0`) and prefix lengths beyond 32 /
/// 128 are rejected too.
///
/// ```
/// use gray_core::ip::parse_entry;
///
/// assert_eq!(parse_entry(" 10.0.0.0/8 ").unwrap().to_string(), "10.0.0.0/8");
/// assert_eq!(parse_entry("::ffff:1.2.3.0/120").unwrap().to_string(), "1.2.3.0/24");
/// let err = parse_entry("10.0.0.1/8").unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid IP or CIDR \"10.0.0.1/8\": host bits are set; did you mean 10.0.0.0/8?"
/// );
/// ```
pub fn parse_entry(s: &str) -> Result<IpNet, IpEntryError> {
    let t = s.trim();
    if t.is_empty() {
        return Err(IpEntryError::new(t, "empty entry"));
    }
    let (addr_part, len_part) = match t.find('/') {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let addr = if let Some(rest) = addr_part.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| IpEntryError::new(t, "unclosed '[' bracket"))?;
        match inner.parse::<Ipv6Addr>() {
            Ok(a) => IpAddr::V6(a),
            Err(_) => {
                return Err(IpEntryError::new(
                    t,
                    "brackets must contain an IPv6 address",
                ))
            }
        }
    } else {
        addr_part
            .parse::<IpAddr>()
            .map_err(|_| IpEntryError::new(t, "not an IP address"))?
    };
    let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len_part {
        None => max,
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(IpEntryError::new(
                    t,
                    format!("invalid prefix length \"{p}\""),
                ));
            }
            match p.parse::<u32>() {
                Ok(n) if n <= u32::from(max) => n as u8,
                _ => {
                    let family = if addr.is_ipv4() { "IPv4" } else { "IPv6" };
                    return Err(IpEntryError::new(
                        t,
                        format!("prefix length {p} is too long for {family} (maximum {max})"),
                    ));
                }
            }
        }
    };
    let net = IpNet::new(addr, len)
        .map_err(|_| IpEntryError::new(t, format!("invalid prefix length {len}")))?;
    let network = net.trunc();
    if network != net {
        return Err(IpEntryError::new(
            t,
            format!("host bits are set; did you mean {network}?"),
        ));
    }
    Ok(normalize_net(net))
}

/// Parses a whole IP list: one entry (see [`parse_entry`]) per line.
///
/// Blank lines are skipped; `#` starts a comment, either on a line of its own
/// or after an entry. On the first bad entry the 1-based line number and the
/// error are returned. Only the returned vector allocates on the success
/// path, so a list of a million lines parses in well under a second.
///
/// ```
/// use gray_core::ip::parse_list;
///
/// let nets = parse_list("# office\n10.0.0.0/8\n\n192.0.2.1  # printer\n").unwrap();
/// assert_eq!(nets.len(), 2);
/// let (line, err) = parse_list("10.0.0.0/8\n# ok\nbogus\n").unwrap_err();
/// assert_eq!(line, 3);
/// assert_eq!(err.input(), "bogus");
/// ```
pub fn parse_list(text: &str) -> Result<Vec<IpNet>, (usize, IpEntryError)> {
    let mut out = Vec::with_capacity(text.len() / 20);
    for (i, line) in text.lines().enumerate() {
        let line = match line.find('#') {
            Some(p) => &line[..p],
            None => line,
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_entry(line).map_err(|e| (i + 1, e))?);
    }
    Ok(out)
}

/// Truncates host bits and turns prefixes inside `::ffff:0:0/96` into IPv4.
fn normalize_net(net: IpNet) -> IpNet {
    let net = net.trunc();
    if let IpNet::V6(n) = net {
        if n.prefix_len() >= 96 {
            if let Some(v4) = n.network().to_ipv4_mapped() {
                if let Ok(v4net) = Ipv4Net::new(v4, n.prefix_len() - 96) {
                    return IpNet::V4(v4net);
                }
            }
        }
    }
    net
}

/// Naive reference model of [`IpTable::contains`]: scans every `(set, net)`
/// pair.
///
/// This is deliberately simple and slow (`O(n)` per call); it exists so that
/// tests and fuzzers can compare the real table against an obviously correct
/// definition. It applies the same address rules as the table: `ip` is
/// canonicalised first, IPv6 prefixes of length 96 or more inside
/// `::ffff:0:0/96` match the corresponding IPv4 addresses, and other IPv6
/// prefixes match native IPv6 addresses only.
pub fn linear_contains(nets: &[(u32, IpNet)], set: u32, ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|&(s, net)| {
        s == set
            && match (net, ip) {
                (IpNet::V4(n), IpAddr::V4(a)) => n.contains(&a),
                (IpNet::V6(n), IpAddr::V6(a)) => n.contains(&a),
                (IpNet::V6(n), IpAddr::V4(a)) => {
                    n.prefix_len() >= 96 && n.contains(&a.to_ipv6_mapped())
                }
                (IpNet::V4(_), IpAddr::V6(_)) => false,
            }
    })
}

// ---------------------------------------------------------------------------
// Set masks
// ---------------------------------------------------------------------------

/// The sets that contain one address: a borrowed bitset, cheap to copy.
///
/// Returned by [`IpTable::lookup`]; an address in no set gives an empty mask.
#[derive(Clone, Copy)]
pub struct SetMask<'a> {
    words: &'a [u64],
}

impl<'a> SetMask<'a> {
    /// A mask containing no set.
    pub fn empty() -> SetMask<'static> {
        SetMask { words: &[] }
    }

    /// Whether set `set` contains the address.
    #[inline]
    pub fn contains(&self, set: u32) -> bool {
        let set = set as usize;
        match self.words.get(set / 64) {
            Some(w) => (w >> (set % 64)) & 1 != 0,
            None => false,
        }
    }

    /// Whether the address is in no set at all.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// Number of sets containing the address.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The sets containing the address, in increasing order.
    pub fn iter(&self) -> SetMaskIter<'a> {
        SetMaskIter {
            words: self.words,
            next_word: 0,
            current: 0,
            base: 0,
        }
    }
}

impl fmt::Debug for SetMask<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for SetMask<'a> {
    type Item = u32;
    type IntoIter = SetMaskIter<'a>;

    fn into_iter(self) -> SetMaskIter<'a> {
        self.iter()
    }
}

/// Iterator over the set indices of a [`SetMask`], in increasing order.
#[derive(Clone, Debug)]
pub struct SetMaskIter<'a> {
    words: &'a [u64],
    next_word: usize,
    current: u64,
    base: u32,
}

impl Iterator for SetMaskIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        while self.current == 0 {
            let w = *self.words.get(self.next_word)?;
            self.base = (self.next_word as u32) * 64;
            self.next_word += 1;
            self.current = w;
        }
        let bit = self.current.trailing_zeros();
        self.current &= self.current - 1;
        Some(self.base + bit)
    }
}

// ---------------------------------------------------------------------------
// Per-family interval table
// ---------------------------------------------------------------------------

/// Search keys: the whole address for IPv4 (`u32`), its high 64 bits for
/// IPv6 (`u64`).
trait Key: Copy + Ord + fmt::Debug {
    const BITS: u32;
    fn leading_zeros_of_xor(self, other: Self) -> u32;
    /// `(self ^ other) >> shift != 0`, for `shift < BITS`.
    fn differs_above(self, other: Self, shift: u32) -> bool;
    /// `(self << cpl) >> (BITS - bits)`, for `cpl + bits <= BITS`, `1 <= bits <= MAX_INDEX_BITS`.
    fn bucket(self, cpl: u32, bits: u32) -> usize;
}

macro_rules! impl_key {
    ($t:ty) => {
        impl Key for $t {
            const BITS: u32 = <$t>::BITS;
            #[inline]
            fn leading_zeros_of_xor(self, other: Self) -> u32 {
                (self ^ other).leading_zeros()
            }
            #[inline]
            fn differs_above(self, other: Self, shift: u32) -> bool {
                (self ^ other) >> shift != 0
            }
            #[inline]
            fn bucket(self, cpl: u32, bits: u32) -> usize {
                ((self << cpl) >> (Self::BITS - bits)) as usize
            }
        }
    };
}
impl_key!(u32);
impl_key!(u64);

/// Marks a slot that refers to a long IPv6 start (see [`Family6`]) instead of
/// holding a class. Class ids and long starts therefore stay below `2^31`,
/// far beyond what fits in memory (each needs at least one interval).
const LONG: u32 = 1 << 31;

/// Disjoint intervals of one address family, sorted by start and searched by
/// the key of each start.
///
/// Interval `i` starts at key `keys[i]`; `slots[i + 1]` is its class and
/// `slots[0]` the class below the first start (always empty). A lookup counts
/// the keys at or below the address key, `r`, and reads `slots[r]`: no branch
/// for "below every start". A bucket index on the leading key bits (after the
/// bits every key shares) narrows that count to a binary search over about
/// four keys.
#[derive(Clone)]
struct Family<K> {
    /// Sorted keys (IPv6 keys may repeat).
    keys: Box<[K]>,
    /// `len() + 1` slots: classes, or `LONG | i` for IPv6 long starts.
    slots: Box<[u32]>,
    /// Length of the prefix shared by all keys, at most `K::BITS - index_bits`
    /// (valid when `index_bits > 0`).
    cpl: u32,
    /// Number of key bits after the common prefix used for `index`; 0 means
    /// no index (small tables).
    index_bits: u32,
    /// `index[h]` = number of keys whose bucket is below `h`.
    index: Box<[u32]>,
}

impl<K: Key> Family<K> {
    /// `keys` sorted, `slots` one longer (see the type).
    fn new(keys: Vec<K>, slots: Vec<u32>) -> Self {
        debug_assert_eq!(keys.len() + 1, slots.len());
        let n = keys.len();
        let (cpl, index_bits, index) = if n < 64 {
            (0, 0, Vec::new())
        } else {
            let bits = (usize::BITS - n.leading_zeros() - 2).min(MAX_INDEX_BITS);
            // IPv6 keys may repeat, so the first and last can even be equal.
            let cpl = keys[0]
                .leading_zeros_of_xor(keys[n - 1])
                .min(K::BITS - bits);
            let mut index = vec![0u32; (1usize << bits) + 1];
            for &k in &keys {
                index[k.bucket(cpl, bits) + 1] += 1;
            }
            for i in 1..index.len() {
                index[i] += index[i - 1];
            }
            (cpl, bits, index)
        };
        Family {
            keys: keys.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            cpl,
            index_bits,
            index: index.into_boxed_slice(),
        }
    }

    fn len(&self) -> usize {
        self.slots.len() - 1
    }

    /// `(lo, r)`: `r` keys are `<= x`, and every key equal to `x` is at a
    /// position `>= lo`.
    #[inline]
    fn rank(&self, x: K) -> (usize, usize) {
        let n = self.len();
        if self.index_bits == 0 {
            return (0, upper_bound(&self.keys[..n], x));
        }
        let first = self.keys[0];
        if self.cpl > 0 && x.differs_above(first, K::BITS - self.cpl) {
            // `x` lies outside the block shared by every key: it is either
            // below all of them or above all of them.
            return (0, if x < first { 0 } else { n });
        }
        let h = x.bucket(self.cpl, self.index_bits);
        let (lo, hi) = (self.index[h] as usize, self.index[h + 1] as usize);
        (lo, lo + upper_bound(&self.keys[lo..hi], x))
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.keys)
            + std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.index)
    }
}

impl Family<u32> {
    /// The IPv4 family from merged `(start, class)` intervals.
    fn v4(entries: Vec<(u32, u32)>) -> Self {
        let mut slots = Vec::with_capacity(entries.len() + 1);
        slots.push(EMPTY_CLASS);
        slots.extend(entries.iter().map(|e| e.1));
        Family::new(entries.iter().map(|e| e.0).collect(), slots)
    }

    /// Class of the interval containing `x`.
    #[inline]
    fn find(&self, x: u32) -> u32 {
        self.slots[self.rank(x).1]
    }
}

/// The IPv6 intervals.
///
/// Almost every IPv6 prefix in practice is `/64` or shorter, so the starts
/// of the intervals are searched by their high 64 bits (half the memory of
/// `u128` keys, and a cheaper compare). A start whose low 64 bits are not
/// zero is *long* (a boundary of a prefix longer than `/64`): its slot points
/// into `long` instead of holding its class. An address needs the low halves
/// only when the last start at or below its high half is long and has
/// exactly that high half; everything else is answered by the high halves
/// alone.
#[derive(Clone)]
struct Family6 {
    high: Family<u64>,
    /// The long starts, in order.
    long: Box<[LongStart]>,
}

/// A start of an IPv6 interval whose low 64 bits are not zero.
#[derive(Clone, Copy)]
struct LongStart {
    high: u64,
    low: u64,
    /// Class of the interval beginning here.
    class: u32,
    /// Class of the interval just before.
    before: u32,
}

impl Family6 {
    /// The IPv6 family from merged `(start, class)` intervals.
    fn new(entries: Vec<(u128, u32)>) -> Self {
        let mut keys = Vec::with_capacity(entries.len());
        let mut slots = Vec::with_capacity(entries.len() + 1);
        slots.push(EMPTY_CLASS);
        let mut long = Vec::new();
        let mut before = EMPTY_CLASS;
        for (start, class) in entries {
            let (high, low) = ((start >> 64) as u64, start as u64);
            keys.push(high);
            debug_assert!(class < LONG && long.len() < LONG as usize);
            if low == 0 {
                slots.push(class);
            } else {
                slots.push(LONG | long.len() as u32);
                long.push(LongStart {
                    high,
                    low,
                    class,
                    before,
                });
            }
            before = class;
        }
        Family6 {
            high: Family::new(keys, slots),
            long: long.into_boxed_slice(),
        }
    }

    fn len(&self) -> usize {
        self.high.len()
    }

    /// Class of the interval containing `x`.
    #[inline]
    fn find(&self, x: u128) -> u32 {
        let hi = (x >> 64) as u64;
        let (lo, r) = self.high.rank(hi);
        let slot = self.high.slots[r];
        if slot & LONG == 0 {
            return slot;
        }
        self.find_long(hi, x as u64, (slot & !LONG) as usize, r - lo)
    }

    /// [`find`](Self::find) when the last start whose high half is `<= hi`
    /// is long: it is `long[e]`, and at most `bucket` starts of its bucket
    /// precede the address.
    #[inline(never)]
    fn find_long(&self, hi: u64, low: u64, e: usize, bucket: usize) -> u32 {
        let last = &self.long[e];
        if last.high != hi {
            // The address is past the whole /64 of that start.
            return last.class;
        }
        // The long starts with high half `hi` are consecutive, end at `e`
        // and lie in the address's bucket, so they are all in `run`.
        let run = &self.long[(e + 1).saturating_sub(bucket)..=e];
        let p = run.partition_point(|s| (s.high, s.low) <= (hi, low));
        match p.checked_sub(1).map(|q| &run[q]) {
            Some(s) if s.high == hi => s.class,
            // Below every long start of this /64 (`run[p]` is the first).
            _ => run[p].before,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.high.heap_bytes() + std::mem::size_of_val(&*self.long)
    }
}

/// Number of elements `<= x` in the sorted slice `a` (branch-light binary
/// search).
#[inline]
fn upper_bound<K: Ord + Copy>(a: &[K], x: K) -> usize {
    let mut len = a.len();
    if len == 0 {
        return 0;
    }
    let mut base = 0usize;
    while len > 1 {
        let half = len / 2;
        if a[base + half] <= x {
            base += half;
        }
        len -= half;
    }
    base + usize::from(a[base] <= x)
}

/// A small multiply-rotate hasher for class bitsets (build time only; the
/// keys are not attacker-chosen in any way that matters for a one-off
/// build, and SipHash was a large share of the build time).
#[derive(Default)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// Deduplicates class bitsets; class 0 is the empty set.
struct Interner {
    words: usize,
    flat: Vec<u64>,
    count: u32,
    map: HashMap<Box<[u64]>, u32, BuildHasherDefault<WordHasher>>,
}

impl Interner {
    fn new(words: usize) -> Self {
        let mut map = HashMap::default();
        map.insert(vec![0u64; words].into_boxed_slice(), EMPTY_CLASS);
        Interner {
            words,
            flat: vec![0u64; words],
            count: 1,
            map,
        }
    }

    fn intern(&mut self, bits: &[u64]) -> u32 {
        if let Some(&c) = self.map.get(bits) {
            return c;
        }
        let c = self.count;
        self.count += 1;
        self.flat.extend_from_slice(bits);
        self.map.insert(bits.into(), c);
        c
    }
}

/// Sweeps the boundary events of one family into merged intervals.
///
/// An event is `(point, set << 1 | is_end)`: a prefix of `set` starts at
/// `point`, or (with `is_end`) ended just before `point`.
fn sweep<P: Copy + Ord>(
    mut events: Vec<(P, u32)>,
    interner: &mut Interner,
    set_count: usize,
) -> Vec<(P, u32)> {
    events.sort_unstable_by_key(|e| e.0);
    let mut counts = vec![0u32; set_count];
    let mut cur = vec![0u64; interner.words];
    let mut entries = Vec::new();
    let mut prev = EMPTY_CLASS;
    let mut i = 0;
    while i < events.len() {
        let point = events[i].0;
        let mut changed = false;
        while i < events.len() && events[i].0 == point {
            let code = events[i].1;
            let set = (code >> 1) as usize;
            let (word, bit) = (set / 64, 1u64 << (set % 64));
            if code & 1 == 0 {
                counts[set] += 1;
                if counts[set] == 1 {
                    cur[word] |= bit;
                    changed = true;
                }
            } else {
                counts[set] -= 1;
                if counts[set] == 0 {
                    cur[word] &= !bit;
                    changed = true;
                }
            }
            i += 1;
        }
        if changed {
            let class = interner.intern(&cur);
            if class != prev {
                entries.push((point, class));
                prev = class;
            }
        }
    }
    drop(events);
    entries.shrink_to_fit();
    entries
}

// ---------------------------------------------------------------------------
// Builder and table
// ---------------------------------------------------------------------------

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
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> SetMask<'_> {
        let class = match ip.to_canonical() {
            IpAddr::V4(a) => self.v4.find(u32::from(a)),
            IpAddr::V6(a) => self.v6.find(u128::from(a)),
        } as usize;
        let w = self.words;
        SetMask {
            words: &self.class_bits[class * w..class * w + w],
        }
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
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    fn net(s: &str) -> IpNet {
        parse_entry(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sets(t: &IpTable, a: &str) -> Vec<u32> {
        t.lookup(ip(a)).iter().collect()
    }

    fn table(entries: &[(u32, &str)]) -> IpTable {
        let mut b = IpTableBuilder::new();
        for &(s, n) in entries {
            b.add(s, net(n));
        }
        b.build()
    }

    #[test]
    fn parse_good_entries() {
        let cases = [
            ("1.2.3.4", "1.2.3.4/32"),
            ("  1.2.3.0/24\t", "1.2.3.0/24"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("255.255.255.255", "255.255.255.255/32"),
            ("::1", "::1/128"),
            ("::", "::/128"),
            ("::/0", "::/0"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("[::1]", "::1/128"),
            ("[2001:db8::]/32", "2001:db8::/32"),
            ("::ffff:1.2.3.4", "1.2.3.4/32"),
            ("::ffff:1.2.3.0/120", "1.2.3.0/24"),
            ("::ffff:0:0/96", "0.0.0.0/0"),
            ("[::ffff:10.0.0.1]", "10.0.0.1/32"),
            ("::fffe:0:0/95", "::fffe:0:0/95"),
            ("10.0.0.0/08", "10.0.0.0/8"),
        ];
        for (input, want) in cases {
            let got = parse_entry(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), want, "{input}");
        }
    }

    #[test]
    fn parse_bad_entries() {
        let cases = [
            ("", "empty entry"),
            ("   ", "empty entry"),
            ("10.0.0.1/8", "host bits are set; did you mean 10.0.0.0/8?"),
            (
                "2001:db8::1/32",
                "host bits are set; did you mean 2001:db8::/32?",
            ),
            (
                "::ffff:1.2.3.4/120",
                "host bits are set; did you mean ::ffff:1.2.3.0/120?",
            ),
            (
                "1.2.3.4/33",
                "prefix length 33 is too long for IPv4 (maximum 32)",
            ),
            (
                "::/129",
                "prefix length 129 is too long for IPv6 (maximum 128)",
            ),
            (
                "1.2.3.4/99999999999",
                "prefix length 99999999999 is too long for IPv4 (maximum 32)",
            ),
            ("1.2.3.4/", "invalid prefix length \"\""),
            ("1.2.3.4/-1", "invalid prefix length \"-1\""),
            ("1.2.3.4/ 8", "invalid prefix length \" 8\""),
            ("1.2.3.4/8/8", "invalid prefix length \"8/8\""),
            ("abc", "not an IP address"),
            ("1.2.3", "not an IP address"),
            ("999.1.1.1", "not an IP address"),
            ("1.2.3.4:80", "not an IP address"),
            ("fe80::1%eth0", "not an IP address"),
            ("/24", "not an IP address"),
            ("[::1", "unclosed '[' bracket"),
            ("[1.2.3.4]", "brackets must contain an IPv6 address"),
        ];
        for (input, reason) in cases {
            let err = parse_entry(input).expect_err(input);
            assert_eq!(err.reason(), reason, "{input}");
            assert_eq!(err.input(), input.trim());
        }
        let err = parse_entry(" 10.0.0.1/8 ").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid IP or CIDR \"10.0.0.1/8\": host bits are set; did you mean 10.0.0.0/8?"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert!(boxed.to_string().contains("did you mean"));
        let long = "x".repeat(1000);
        assert!(parse_entry(&long).unwrap_err().input().len() < 200);
    }

    #[test]
    fn parse_list_comments_and_line_numbers() {
        let text = "# header comment\n\n10.0.0.0/8\n  192.0.2.1   # printer\r\n2001:db8::/32#lab\n   # indented comment\n::ffff:1.2.3.4\n";
        let nets = parse_list(text).unwrap();
        let got: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            got,
            ["10.0.0.0/8", "192.0.2.1/32", "2001:db8::/32", "1.2.3.4/32"]
        );
        let (line, err) =
            parse_list("10.0.0.0/8\n\n# c\n10.0.0.1/8 # typo\n1.1.1.1\n").unwrap_err();
        assert_eq!(line, 4);
        assert_eq!(err.input(), "10.0.0.1/8");
        assert!(parse_list("").unwrap().is_empty());
        assert!(parse_list("# only\n\n   \n").unwrap().is_empty());
        assert_eq!(parse_list("\n\nbad").unwrap_err().0, 3);
    }

    #[test]
    fn nested_prefixes_in_different_sets() {
        let t = table(&[
            (0, "10.0.0.0/8"),
            (1, "10.1.0.0/16"),
            (2, "10.1.2.0/24"),
            (3, "10.1.2.3"),
            (0, "10.1.2.0/25"), // nested duplicate membership of set 0
        ]);
        assert_eq!(sets(&t, "10.0.0.0"), [0]);
        assert_eq!(sets(&t, "10.1.0.0"), [0, 1]);
        assert_eq!(sets(&t, "10.1.1.255"), [0, 1]);
        assert_eq!(sets(&t, "10.1.2.0"), [0, 1, 2]);
        assert_eq!(sets(&t, "10.1.2.3"), [0, 1, 2, 3]);
        assert_eq!(sets(&t, "10.1.2.4"), [0, 1, 2]);
        assert_eq!(sets(&t, "10.1.2.200"), [0, 1, 2]);
        assert_eq!(sets(&t, "10.1.3.0"), [0, 1]);
        assert_eq!(sets(&t, "10.2.0.0"), [0]);
        assert_eq!(sets(&t, "10.255.255.255"), [0]);
        assert!(sets(&t, "11.0.0.0").is_empty());
        assert!(sets(&t, "9.255.255.255").is_empty());
        assert!(t.lookup(ip("9.255.255.255")).is_empty());
        assert!(t.contains(3, ip("10.1.2.3")));
        assert!(!t.contains(3, ip("10.1.2.2")));
        assert!(!t.contains(99, ip("10.1.2.3")));
        assert_eq!(t.prefix_count(), 5);
        assert_eq!(t.set_count(), 4);
        assert!(t.interval_count() >= 7);
        assert!(t.heap_bytes() > 0);
        assert!(format!("{t:?}").contains("prefixes: 5"));
        assert_eq!(format!("{:?}", t.lookup(ip("10.1.2.3"))), "{0, 1, 2, 3}");
        assert_eq!(t.lookup(ip("10.1.2.3")).len(), 4);
    }

    #[test]
    fn v4_v6_mix_and_mapped() {
        let t = table(&[
            (0, "192.0.2.0/24"),
            (1, "2001:db8::/32"),
            (2, "::ffff:198.51.100.0/120"),
            (3, "::/0"),
            (4, "2001:db8::/32"),
            (4, "198.51.100.7"),
        ]);
        assert_eq!(sets(&t, "192.0.2.1"), [0]);
        assert_eq!(sets(&t, "::ffff:192.0.2.1"), [0]);
        assert_eq!(sets(&t, "2001:db8::1"), [1, 3, 4]);
        assert_eq!(sets(&t, "2001:db9::1"), [3]);
        assert_eq!(sets(&t, "198.51.100.1"), [2]);
        assert_eq!(sets(&t, "::ffff:198.51.100.7"), [2, 4]);
        // `::/0` matches native IPv6 only, IPv4 and mapped addresses are IPv4.
        assert!(sets(&t, "203.0.113.1").is_empty());
        assert!(sets(&t, "::ffff:203.0.113.1").is_empty());
        assert_eq!(sets(&t, "::"), [3]);
        // IPv4-compatible (not mapped) addresses stay IPv6.
        assert_eq!(sets(&t, "::192.0.2.1"), [3]);
    }

    #[test]
    fn edges_of_the_address_space() {
        let t = table(&[
            (0, "0.0.0.0/0"),
            (1, "0.0.0.0/32"),
            (2, "255.255.255.255/32"),
            (3, "::/0"),
            (4, "::/128"),
            (5, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
            (6, "128.0.0.0/1"),
            (7, "8000::/1"),
        ]);
        assert_eq!(sets(&t, "0.0.0.0"), [0, 1]);
        assert_eq!(sets(&t, "0.0.0.1"), [0]);
        assert_eq!(sets(&t, "127.255.255.255"), [0]);
        assert_eq!(sets(&t, "128.0.0.0"), [0, 6]);
        assert_eq!(sets(&t, "255.255.255.254"), [0, 6]);
        assert_eq!(sets(&t, "255.255.255.255"), [0, 2, 6]);
        assert_eq!(sets(&t, "::"), [3, 4]);
        assert_eq!(sets(&t, "::1"), [3]);
        assert_eq!(sets(&t, "7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), [3]);
        assert_eq!(sets(&t, "8000::"), [3, 7]);
        let max = IpAddr::V6(Ipv6Addr::from(u128::MAX));
        assert_eq!(t.lookup(max).iter().collect::<Vec<_>>(), [3, 5, 7]);
        assert_eq!(
            t.lookup(IpAddr::V6(Ipv6Addr::from(u128::MAX - 1)))
                .iter()
                .collect::<Vec<_>>(),
            [3, 7]
        );
        // Single host prefixes at the very edges.
        let t = table(&[(0, "255.255.255.255"), (1, "0.0.0.0")]);
        assert_eq!(sets(&t, "255.255.255.255"), [0]);
        assert!(sets(&t, "255.255.255.254").is_empty());
        assert_eq!(sets(&t, "0.0.0.0"), [1]);
        assert!(sets(&t, "0.0.0.1").is_empty());
    }

    #[test]
    fn empty_table_and_masks() {
        let t = IpTable::default();
        assert!(t.is_empty());
        assert_eq!(t.interval_count(), 0);
        assert!(t.lookup(ip("1.2.3.4")).is_empty());
        assert!(t.lookup(ip("::1")).is_empty());
        assert!(!t.contains(0, ip("1.2.3.4")));
        let e = SetMask::empty();
        assert!(e.is_empty() && !e.contains(0) && e.iter().next().is_none());
        assert_eq!(e.len(), 0);
    }

    #[test]
    fn many_sets_and_duplicates() {
        let mut b = IpTableBuilder::new();
        for i in 0..200u32 {
            b.add(i, net(&format!("10.{i}.0.0/16")));
            b.add(i, net(&format!("10.{i}.0.0/16"))); // duplicate
            b.add(i, net(&format!("2001:db8:{i:x}::/48")));
        }
        b.add(150, net("10.0.0.0/8"));
        b.add(199, net("0.0.0.0/0"));
        let t = b.build();
        assert_eq!(t.set_count(), 200);
        for i in 0..200u32 {
            let mut want = vec![i, 150, 199];
            want.sort_unstable();
            want.dedup();
            assert_eq!(sets(&t, &format!("10.{i}.7.7")), want);
            let v6: Vec<u32> = t.lookup(ip(&format!("2001:db8:{i:x}::9"))).iter().collect();
            assert_eq!(v6, [i]);
        }
        assert_eq!(sets(&t, "10.201.0.0"), [150, 199]);
        assert_eq!(sets(&t, "11.0.0.0"), [199]);
        assert!(t.contains(130, ip("10.130.1.1")));
        assert!(!t.contains(130, ip("10.131.1.1")));
    }

    #[test]
    fn large_table_uses_index() {
        // Enough intervals to enable the bucket index in both families.
        let mut nets = Vec::new();
        for i in 0..2000u32 {
            let a = Ipv4Addr::from(i.wrapping_mul(2_654_435_761));
            nets.push((i % 7, IpNet::V4(Ipv4Net::new(a, 24).unwrap().trunc())));
            let b = Ipv6Addr::from((0x2001_0db8u128 << 96) | (u128::from(i) << 64));
            nets.push((i % 5, IpNet::V6(ipnet::Ipv6Net::new(b, 64).unwrap())));
        }
        let mut b = IpTableBuilder::new();
        for &(s, n) in &nets {
            b.add(s, n);
        }
        let t = b.build();
        assert!(t.v4.index_bits > 0 && t.v6.high.index_bits > 0);
        for &(_, n) in nets.iter().step_by(7) {
            for a in [n.network(), n.broadcast()] {
                for s in 0..8 {
                    assert_eq!(t.contains(s, a), linear_contains(&nets, s, a), "{a}");
                }
            }
        }
        for a in [
            "::",
            "2001:db7::",
            "2001:db9::",
            "ffff::",
            "0.0.0.0",
            "255.255.255.255",
        ] {
            for s in 0..8 {
                assert_eq!(
                    t.contains(s, ip(a)),
                    linear_contains(&nets, s, ip(a)),
                    "{a}"
                );
            }
        }
    }

    fn v6(x: u128) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(x))
    }

    fn prefix6(x: u128, len: u8) -> IpNet {
        IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(x), len).unwrap().trunc())
    }

    /// Builds `nets` and compares every set of every probe with the linear
    /// model; returns the table.
    fn check_linear(nets: &[(u32, IpNet)], probes: &[IpAddr]) -> IpTable {
        let mut b = IpTableBuilder::new();
        for &(s, n) in nets {
            b.add(s, n);
        }
        let t = b.build();
        let sets = nets.iter().map(|n| n.0 + 1).max().unwrap_or(0);
        for &a in probes {
            let want: Vec<u32> = (0..sets).filter(|&s| linear_contains(nets, s, a)).collect();
            assert_eq!(t.lookup(a).iter().collect::<Vec<_>>(), want, "{a}");
        }
        t
    }

    /// Every prefix boundary of `nets`, its neighbours and a few points of
    /// the low half.
    fn v6_probes(nets: &[(u32, IpNet)]) -> Vec<IpAddr> {
        let mut out = Vec::new();
        for (_, n) in nets {
            if let IpNet::V6(n) = n {
                let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                for x in [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1), lo | 0xffff] {
                    out.push(v6(x));
                    out.push(v6(x & !u128::from(u64::MAX)));
                    out.push(v6(x | u128::from(u64::MAX)));
                }
            }
        }
        out
    }

    #[test]
    fn long_v6_prefixes_share_a_high_half() {
        let base = 0x2001_0db8_0000_0001u128 << 64;
        let mut nets = vec![
            (0, prefix6(base | 0x10, 128)),
            (1, prefix6(base | 0x10, 124)),
            (2, prefix6(base | 0x100, 120)),
            (0, prefix6(base | (1 << 63), 65)),
            (3, prefix6(base, 64)),
            (4, prefix6(base, 48)),
            (5, prefix6(base | (0xdead_beef << 32), 96)),
        ];
        let t = check_linear(&nets, &v6_probes(&nets));
        assert_eq!(sets(&t, "2001:db8:0:1::10"), [0, 1, 3, 4]);
        assert_eq!(sets(&t, "2001:db8:0:1::11"), [1, 3, 4]);
        assert_eq!(sets(&t, "2001:db8:0:1::f"), [3, 4]);
        assert_eq!(sets(&t, "2001:db8:0:1::"), [3, 4]);
        assert_eq!(sets(&t, "2001:db8:0:1:8000::"), [0, 3, 4]);
        assert_eq!(sets(&t, "2001:db8:0:2::"), [4]);
        assert_eq!(sets(&t, "2001:db8:0:0:ffff:ffff:ffff:ffff"), [4]);
        // The same prefixes without their /64 and /48: below the first long
        // start of the /64 the address is in no set.
        nets.retain(|n| n.1.prefix_len() > 64);
        let t = check_linear(&nets, &v6_probes(&nets));
        assert!(sets(&t, "2001:db8:0:1::").is_empty());
        assert!(sets(&t, "2001:db8:0:1::f").is_empty());
        assert_eq!(sets(&t, "2001:db8:0:1::10"), [0, 1]);
        assert!(sets(&t, "2001:db8:0:2::").is_empty());
        // Hosts inside a /48: the intervals that begin at the long starts
        // (the hosts' ends) run on into the following /64s, and an address
        // below the first start of its /64 gets the class of the interval
        // before, which begins at a long start of an earlier /64.
        let nets = [
            (4, prefix6(base, 48)),
            (0, prefix6(base | 0x10, 128)),
            (1, prefix6((base - (1 << 64)) | 0x5, 128)),
        ];
        let t = check_linear(&nets, &v6_probes(&nets));
        assert_eq!(sets(&t, "2001:db8:0:1::10"), [0, 4]);
        assert_eq!(sets(&t, "2001:db8:0:1::11"), [4]);
        assert_eq!(sets(&t, "2001:db8:0:2::1"), [4]);
        assert_eq!(sets(&t, "2001:db8:0:1::1"), [4]);
        assert_eq!(sets(&t, "2001:db8:0:0::5"), [1, 4]);
        assert!(sets(&t, "2001:db8:1::").is_empty());
    }

    #[test]
    fn long_v6_prefixes_in_an_indexed_table() {
        // Enough starts for the bucket index, with long prefixes packed into
        // a few /64s, hosts at the edges of a /64, /64s and shorter prefixes
        // around them, ::/0 and mapped IPv4.
        let mut rng = crate::testing::SplitMix(7);
        let mut nets = vec![(6, prefix6(0, 0)), (6, prefix6(0xffff_0a00_0000, 104))];
        for i in 0..600u32 {
            let slash64 = (0x2001_0db8_0000_0000u128 | u128::from(rng.below(12)) << 20) << 64;
            let low = u128::from(rng.next_u64());
            let net = match i % 6 {
                0 => prefix6(slash64 | low, 128),
                1 => prefix6(slash64 | low, 65 + rng.below(63) as u8),
                2 => prefix6(slash64, 64),
                3 => prefix6(slash64 | u128::from(u64::MAX), 128),
                4 => prefix6(slash64, 128),
                _ => prefix6(slash64 | low, 48 + rng.below(16) as u8),
            };
            nets.push((if i % 6 == 5 { 5 } else { i % 5 }, net));
        }
        let mut probes = v6_probes(&nets);
        probes.extend(
            [
                "10.0.0.1",
                "::ffff:10.0.0.1",
                "11.0.0.1",
                "::",
                "2001:db8::",
            ]
            .map(ip),
        );
        let t = check_linear(&nets, &probes);
        assert!(t.v6.high.index_bits > 0, "{t:?}");
        assert!(!t.v6.long.is_empty());
        assert_eq!(sets(&t, "::ffff:10.0.0.1"), [6]);
        assert!(sets(&t, "11.0.0.1").is_empty());
    }

    #[test]
    fn many_long_v6_prefixes_in_one_slash64() {
        // Every start has the same high half (so every key is equal), then
        // one /64 more: the index must cope with a single crowded bucket.
        let base = 0x2001_0db8_0000_0000u128 << 64;
        let mut nets: Vec<(u32, IpNet)> = (0..300u128)
            .map(|i| {
                (
                    (i % 3) as u32,
                    prefix6(base | (i * 7919) << 20, 100 + (i % 29) as u8),
                )
            })
            .collect();
        let t = check_linear(&nets, &v6_probes(&nets));
        assert!(t.v6.high.index_bits > 0);
        nets.push((3, prefix6(base + (5 << 64), 64)));
        nets.push((4, prefix6(base - (1 << 64), 127)));
        check_linear(&nets, &v6_probes(&nets));
    }

    #[test]
    fn v6_addresses_outside_the_indexed_block() {
        // All keys share a long common prefix; addresses above and below
        // that block, and in empty buckets at both ends of it.
        let base = 0x2001_0db8_0000_0000u128 << 64;
        let nets: Vec<(u32, IpNet)> = (1..100u128)
            .map(|i| (0, prefix6(base | (2 * i) << 72, 56)))
            .collect();
        let mut probes = v6_probes(&nets);
        probes.extend([0, base, base + (1 << 64), base | (0xff << 72), u128::MAX].map(v6));
        probes.extend(
            [
                base | (0xff << 72),
                base | (0xffff << 72),
                (base >> 80 | 1) << 80,
            ]
            .map(v6),
        );
        let t = check_linear(&nets, &probes);
        assert!(t.v6.high.index_bits > 0 && t.v6.high.cpl > 0);
    }

    // ---------------------------------------------------------------------
    // Property test against the reference model
    // ---------------------------------------------------------------------

    fn v4_base() -> impl Strategy<Value = u32> {
        prop_oneof![
            4 => (0u32..0x1_0000).prop_map(|x| 0x0a00_0000 | x),
            2 => (0u32..64).prop_map(|x| 0xc000_0200 | x),
            1 => any::<u32>(),
            1 => prop_oneof![Just(0u32), Just(u32::MAX), Just(0x8000_0000), Just(0x7fff_ffff)],
        ]
    }

    fn v6_base() -> impl Strategy<Value = u128> {
        prop_oneof![
            4 => (0u128..0x1_0000).prop_map(|x| (0x2001_0db8u128 << 96) | (x << 64) | (x & 3)),
            2 => (0u128..0x1_0000).prop_map(|x| (0xffffu128 << 32) | (0x0a00_0000 | x)),
            1 => any::<u128>(),
            1 => prop_oneof![Just(0u128), Just(u128::MAX), Just(1u128 << 127), Just(1u128)],
        ]
    }

    fn v4_net() -> impl Strategy<Value = IpNet> {
        let len = prop_oneof![1 => 0u8..=32, 4 => 14u8..=32, 1 => Just(32u8)];
        (v4_base(), len).prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap()))
    }

    fn v6_net() -> impl Strategy<Value = IpNet> {
        let len = prop_oneof![1 => 0u8..=128, 2 => 30u8..=70, 2 => 96u8..=128, 1 => Just(128u8)];
        (v6_base(), len)
            .prop_map(|(a, l)| IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(a), l).unwrap()))
    }

    /// Every set index `set_id` can produce, plus a few it cannot.
    const PROBE_SETS: [u32; 14] = [0, 1, 2, 3, 4, 61, 62, 63, 64, 65, 66, 129, 130, 131];

    fn set_id() -> impl Strategy<Value = u32> {
        prop_oneof![6 => 0u32..4, 1 => 62u32..67, 1 => Just(130u32)]
    }

    fn addr() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            v4_base().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
            v6_base().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        ]
    }

    /// Addresses at and around the boundaries of each prefix.
    fn boundary_addrs(n: &IpNet) -> Vec<IpAddr> {
        match n {
            IpNet::V4(n) => {
                let (lo, hi) = (u32::from(n.network()), u32::from(n.broadcast()));
                [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]
                    .into_iter()
                    .flat_map(|x| {
                        let a = Ipv4Addr::from(x);
                        [IpAddr::V4(a), IpAddr::V6(a.to_ipv6_mapped())]
                    })
                    .collect()
            }
            IpNet::V6(n) => {
                let (lo, hi) = (u128::from(n.network()), u128::from(n.broadcast()));
                [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)]
                    .into_iter()
                    .map(|x| IpAddr::V6(Ipv6Addr::from(x)))
                    .collect()
            }
        }
    }

    /// IPv6 prefixes crowded into four /64s (so that many starts share
    /// their high half), mostly longer than /64.
    fn crowded_v6_net() -> impl Strategy<Value = IpNet> {
        let low = prop_oneof![any::<u64>(), 0u64..64, Just(0u64), Just(u64::MAX)];
        let len = prop_oneof![1 => 48u8..=64, 4 => 65u8..=128, 1 => Just(128u8)];
        (0u128..4, low, len).prop_map(|(h, l, len)| {
            prefix6((0x2001_0db8u128 << 96) | (h << 64) | u128::from(l), len)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn table_matches_linear_model(
            nets in prop::collection::vec(
                (set_id(), prop_oneof![v4_net(), v6_net()]),
                0..120,
            ),
            extra in prop::collection::vec(addr(), 0..40),
        ) {
            let mut b = IpTableBuilder::new();
            for &(s, n) in &nets {
                b.add(s, n);
            }
            let t = b.build();
            prop_assert_eq!(t.prefix_count(), nets.len());
            let mut probes: Vec<IpAddr> = nets.iter().flat_map(|(_, n)| boundary_addrs(n)).collect();
            probes.extend(extra);
            for a in probes {
                let mask = t.lookup(a);
                let got: Vec<u32> = mask.iter().collect();
                let want: Vec<u32> = PROBE_SETS.iter().copied().filter(|&s| linear_contains(&nets, s, a)).collect();
                prop_assert_eq!(&got, &want, "address {}", a);
                prop_assert_eq!(mask.is_empty(), want.is_empty());
                for s in [0u32, 3, 64, 130, 131, 5000] {
                    prop_assert_eq!(mask.contains(s), want.contains(&s));
                }
            }
        }

        #[test]
        fn parse_roundtrip(n in prop_oneof![v4_net(), v6_net()]) {
            let n = n.trunc();
            let parsed = parse_entry(&n.to_string()).unwrap();
            prop_assert_eq!(parsed, normalize_net(n));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn crowded_v6_matches_linear_model(
            nets in prop::collection::vec((0u32..3, crowded_v6_net()), 1..200),
            extra in prop::collection::vec(0u128..4 << 64, 0..40),
        ) {
            let mut probes = v6_probes(&nets);
            probes.extend(extra.iter().map(|&x| v6((0x2001_0db8u128 << 96) + x)));
            check_linear(&nets, &probes);
        }
    }
}
