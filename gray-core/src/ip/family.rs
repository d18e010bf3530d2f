//! The per-family interval table: sorted interval starts with their class, a bucket index
//! over the high bits, and the long-prefix handling of IPv6.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

/// Class id of the empty set of sets; always present.
pub(super) const EMPTY_CLASS: u32 = 0;

/// Upper bound on the bucket index size: `2^20 + 1` `u32`s (4 MiB), reached
/// only by tables of several million intervals. The index aims at about
/// four intervals per bucket.
pub(super) const MAX_INDEX_BITS: u32 = 20;

/// Search keys: the whole address for IPv4 (`u32`), its high 64 bits for
/// IPv6 (`u64`).
pub(super) trait Key: Copy + Ord + fmt::Debug {
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
pub(super) struct Family<K> {
    /// Sorted keys (IPv6 keys may repeat).
    pub(super) keys: Box<[K]>,
    /// `len() + 1` slots: classes, or `LONG | i` for IPv6 long starts.
    pub(super) slots: Box<[u32]>,
    /// Length of the prefix shared by all keys, at most `K::BITS - index_bits`
    /// (valid when `index_bits > 0`).
    pub(super) cpl: u32,
    /// Number of key bits after the common prefix used for `index`; 0 means
    /// no index (small tables).
    pub(super) index_bits: u32,
    /// `index[h]` = number of keys whose bucket is below `h`.
    pub(super) index: Box<[u32]>,
}

impl<K: Key> Family<K> {
    /// `keys` sorted, `slots` one longer (see the type).
    pub(super) fn new(keys: Vec<K>, slots: Vec<u32>) -> Self {
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

    pub(super) fn len(&self) -> usize {
        self.slots.len() - 1
    }

    /// `(lo, r)`: `r` keys are `<= x`, and every key equal to `x` is at a
    /// position `>= lo`.
    #[inline]
    pub(super) fn rank(&self, x: K) -> (usize, usize) {
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

    pub(super) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.keys)
            + std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.index)
    }
}

impl Family<u32> {
    /// The IPv4 family from merged `(start, class)` intervals.
    pub(super) fn v4(entries: Vec<(u32, u32)>) -> Self {
        let mut slots = Vec::with_capacity(entries.len() + 1);
        slots.push(EMPTY_CLASS);
        slots.extend(entries.iter().map(|e| e.1));
        Family::new(entries.iter().map(|e| e.0).collect(), slots)
    }

    /// Class of the interval containing `x`.
    #[inline]
    pub(super) fn find(&self, x: u32) -> u32 {
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
pub(super) struct Family6 {
    pub(super) high: Family<u64>,
    /// The long starts, in order.
    pub(super) long: Box<[LongStart]>,
}

/// A start of an IPv6 interval whose low 64 bits are not zero.
#[derive(Clone, Copy)]
pub(super) struct LongStart {
    pub(super) high: u64,
    pub(super) low: u64,
    /// Class of the interval beginning here.
    pub(super) class: u32,
    /// Class of the interval just before.
    pub(super) before: u32,
}

impl Family6 {
    /// The IPv6 family from merged `(start, class)` intervals.
    pub(super) fn new(entries: Vec<(u128, u32)>) -> Self {
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

    pub(super) fn len(&self) -> usize {
        self.high.len()
    }

    /// Class of the interval containing `x`.
    #[inline]
    pub(super) fn find(&self, x: u128) -> u32 {
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
    pub(super) fn find_long(&self, hi: u64, low: u64, e: usize, bucket: usize) -> u32 {
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

    pub(super) fn heap_bytes(&self) -> usize {
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
pub(super) struct Interner {
    words: usize,
    pub(super) flat: Vec<u64>,
    pub(super) count: u32,
    map: HashMap<Box<[u64]>, u32, BuildHasherDefault<WordHasher>>,
}

impl Interner {
    pub(super) fn new(words: usize) -> Self {
        let mut map = HashMap::default();
        map.insert(vec![0u64; words].into_boxed_slice(), EMPTY_CLASS);
        Interner {
            words,
            flat: vec![0u64; words],
            count: 1,
            map,
        }
    }

    pub(super) fn intern(&mut self, bits: &[u64]) -> u32 {
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
pub(super) fn sweep<P: Copy + Ord>(
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
