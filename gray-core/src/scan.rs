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

    proptest! {
        #[test]
        fn agrees_with_position(hay in proptest::collection::vec(any::<u8>(), 0..64), a: u8, b: u8) {
            prop_assert_eq!(find1(&hay, a), hay.iter().position(|&c| c == a));
            prop_assert_eq!(find2(&hay, a, b), hay.iter().position(|&c| c == a || c == b));
        }
    }
}
