//! [`SetMask`]: the sets that contain one address, as a borrowed bitset.

use std::fmt;

/// The sets that contain one address: a borrowed bitset, cheap to copy.
///
/// Returned by [`crate::ip::IpTable::lookup`]; an address in no set gives an empty mask.
#[derive(Clone, Copy)]
pub struct SetMask<'a> {
    pub(super) words: &'a [u64],
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
