//! Byte searches for the short strings of a request (cookie headers, query strings, forwarded
//! lists).
//!
//! These strings are typically 10–500 bytes long and searched for one or two ASCII delimiters.
//! A plain byte loop costs several instructions per byte; a vectorised library search pays a
//! dispatch and set-up cost per call that dominates at these lengths. Reading eight bytes at a
//! time as one `u64` and testing all of them at once ("SWAR") sits in between: about one
//! instruction per byte with no set-up, in safe code.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of the result where `x` has a zero byte; exact for the lowest
/// zero byte (bits above it may be spurious, so only the lowest is used).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(LO) & !x & HI
}

#[inline(always)]
fn word(chunk: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(chunk);
    u64::from_le_bytes(w)
}

/// Index of the first `a` in `hay`.
#[inline]
pub(crate) fn find1(hay: &[u8], a: u8) -> Option<usize> {
    // The duplicate test folds away once inlined.
    find2(hay, a, a)
}

/// Index of the first `a` or `b` in `hay`.
#[inline]
pub(crate) fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let w = word(c);
        let hit = zero_bytes(w ^ pa) | zero_bytes(w ^ pb);
        if hit != 0 {
            return Some(base + (hit.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == a || c == b)
        .map(|i| base + i)
}

/// `x` with its ASCII capitals (`A`–`Z`) made lowercase; other bytes, non-ASCII ones
/// included, are unchanged.
#[inline(always)]
fn ascii_lower(x: u64) -> u64 {
    // Per byte, on the low seven bits (so that no addition carries into the next byte): the
    // high bit of `h + 0x3F` says `h >= b'A'`, that of `h + 0x25` says `h > b'Z'`.
    let h = x & !HI;
    let at_least_a = h + LO * 0x3F;
    let above_z = h + LO * 0x25;
    let upper = at_least_a & !above_z & !x & HI;
    x | (upper >> 2)
}

/// The first `b.len() < 8` bytes of `b` as a little-endian word, zero above them, from at
/// most two overlapping loads (the bytes they share are the same, so OR is exact).
#[inline(always)]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << ((n - 4) * 8)
    } else if n >= 2 {
        let lo = u16::from_le_bytes([b[0], b[1]]);
        let hi = u16::from_le_bytes([b[n - 2], b[n - 1]]);
        u64::from(lo) | u64::from(hi) << ((n - 2) * 8)
    } else {
        b.first().map_or(0, |&c| u64::from(c))
    }
}

/// `a.eq_ignore_ascii_case(b)`, eight bytes at a time: header names (`x-forwarded-for`,
/// `cookie`) are compared this way on every request, and the standard byte loop costs about
/// a dozen instructions per byte.
#[inline]
pub(crate) fn eq_ignore_ascii_case(a: &[u8], b: &[u8]) -> bool {
    eq_words(a, b, ascii_lower)
}

/// `a == b`, eight bytes at a time (a byte loop costs several instructions per byte, a call to
/// `memcmp` more than that on the short names a decision compares).
#[inline]
pub(crate) fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    eq_words(a, b, |w| w)
}

/// Whether `a` and `b` have the same length and equal words after `map` (applied to whole
/// little-endian words, zero-padded for inputs under eight bytes).
#[inline(always)]
fn eq_words(a: &[u8], b: &[u8], map: impl Fn(u64) -> u64) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return map(short_word(a)) == map(short_word(b));
    }
    let mut i = 0;
    while i + 8 <= n {
        if map(word(&a[i..i + 8])) != map(word(&b[i..i + 8])) {
            return false;
        }
        i += 8;
    }
    // The last, overlapping word covers the tail.
    i == n || map(word(&a[n - 8..])) == map(word(&b[n - 8..]))
}

/// Trims spaces and tabs (ASCII, so the cut is always on a char boundary).
#[inline]
pub(crate) fn trim_blanks(s: &str) -> &str {
    let b = s.as_bytes();
    let blank = |c: &u8| *c == b' ' || *c == b'\t';
    let start = b.iter().position(|c| !blank(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !blank(c)).map_or(start, |i| i + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_first_occurrence_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                let mut v = vec![b'x'; len];
                v[at] = b';';
                if at + 3 < len {
                    v[at + 3] = b';';
                }
                assert_eq!(find1(&v, b';'), Some(at), "{len} {at}");
                assert_eq!(find2(&v, b'=', b';'), Some(at), "{len} {at}");
            }
            assert_eq!(find1(&vec![b'x'; len], b';'), None);
        }
        // Bytes next to the needle value (borrows between bytes must not confuse the test).
        assert_eq!(
            find1(&[0x3c, 0x3a, 0x01, 0x00, 0x3b, 0xbb, 0, 0], b';'),
            Some(4)
        );
        assert_eq!(
            find2(b"\x80\x80\x80\x80\x80\x80\x80\x80=", b'=', b';'),
            Some(8)
        );
    }

    #[test]
    fn case_folding_compares_like_std() {
        let names = [
            "",
            "a",
            "A",
            "ab",
            "aB",
            "abc",
            "cookie",
            "Cookie",
            "COOKIE",
            "cookiE",
            "cookif",
            "x-forwarded-for",
            "X-Forwarded-For",
            "x-forwarded-fOR",
            "x-forwarded-fos",
            "accept-language",
            "@[`{",
            "`{@[",
            "ÄÖ",
            "äö",
            "x-app-version",
            "X-APP-VERSION1",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    eq_ignore_ascii_case(a.as_bytes(), b.as_bytes()),
                    a.eq_ignore_ascii_case(b),
                    "{a:?} {b:?}"
                );
            }
        }
        // Every byte against its neighbours and its other case.
        for x in 0..=255u8 {
            for y in [x, x ^ 0x20, x.wrapping_add(1), x.wrapping_sub(1)] {
                for len in [1usize, 3, 7, 8, 9, 17] {
                    let (mut a, mut b) = (vec![b'k'; len], vec![b'K'; len]);
                    a[len / 2] = x;
                    b[len / 2] = y;
                    assert_eq!(
                        eq_ignore_ascii_case(&a, &b),
                        a.eq_ignore_ascii_case(&b),
                        "{x:#x} {y:#x} {len}"
                    );
                }
            }
        }
    }

    proptest! {
        #[test]
        fn case_folding_agrees_with_std(a in proptest::collection::vec(any::<u8>(), 0..40), flips: u64) {
            let b: Vec<u8> = a
                .iter()
                .enumerate()
                .map(|(i, &c)| if flips >> (i % 64) & 1 == 1 { c ^ 0x20 } else { c })
                .collect();
            prop_assert_eq!(eq_ignore_ascii_case(&a, &b), a.eq_ignore_ascii_case(&b));
            prop_assert!(eq_ignore_ascii_case(&a, &a.to_ascii_uppercase()));
        }

        #[test]
        fn byte_equality_agrees_with_std(a in proptest::collection::vec(any::<u8>(), 0..40), flip: u8, at: usize) {
            prop_assert!(eq_bytes(&a, &a.clone()));
            let mut b = a.clone();
            if !b.is_empty() {
                let i = at % b.len();
                b[i] ^= flip;
            }
            prop_assert_eq!(eq_bytes(&a, &b), a == b);
            prop_assert_eq!(eq_bytes(&a, &a[..a.len() / 2]), a.len() / 2 == a.len());
        }

        #[test]
        fn agrees_with_position(hay in proptest::collection::vec(any::<u8>(), 0..64), a: u8, b: u8) {
            prop_assert_eq!(find1(&hay, a), hay.iter().position(|&c| c == a));
            prop_assert_eq!(find2(&hay, a, b), hay.iter().position(|&c| c == a || c == b));
        }
    }
}
