//! The stickiness hash: which of 10,000 buckets a user falls into.
//!
//! A sticky percentage (`percent` condition) must put a user in the same bucket in every gateway
//! process, after every restart, and in the Python binding; it must also be independent between
//! rules, so that the 10% of one experiment are not the same people as the 10% of another. gray
//! therefore uses a fixed, documented hash instead of Rust's randomly seeded `HashMap` hasher:
//!
//! ```text
//! h      = FNV-1a-64(salt bytes ‖ 0x00 ‖ key bytes)      offset 0xcbf29ce484222325, prime 0x100000001b3
//! h      = fmix64(h)                                    MurmurHash3's 64-bit finaliser:
//!                                                       h ^= h >> 33; h *= 0xff51afd7ed558ccd;
//!                                                       h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53;
//!                                                       h ^= h >> 33
//! bucket = h mod 10000                                  0..=9999, i.e. steps of 0.01 %
//! ```
//!
//! A rule with `percent: 12.5` matches buckets `0..1250`. The salt defaults to the rule id.
//! Raising the percentage only adds users (nobody who was in leaves), which is what a canary
//! ramp needs.
//!
//! ```
//! use gray_core::sticky;
//!
//! let b = sticky::bucket(b"exp-1", b"user-42");
//! assert!(b < 10_000);
//! assert_eq!(b, sticky::bucket(b"exp-1", b"user-42"));
//! assert!(sticky::in_percent(b"exp-1", b"user-42", 100.0));
//! ```

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Number of buckets (0.01 % each).
pub const BUCKETS: u32 = 10_000;

/// A streaming version of the documented hash (FNV-1a 64 followed by `fmix64`).
#[derive(Debug, Clone, Copy)]
pub struct StickyHasher(u64);

impl Default for StickyHasher {
    fn default() -> Self {
        StickyHasher(FNV_OFFSET)
    }
}

impl StickyHasher {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.0 = h;
    }

    /// The finalised 64-bit hash.
    pub fn finish(self) -> u64 {
        fmix64(self.0)
    }
}

/// MurmurHash3's 64-bit finaliser (spreads FNV's weak low bits).
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The documented 64-bit hash of `bytes` (no salt).
pub fn hash64(bytes: &[u8]) -> u64 {
    let mut h = StickyHasher::default();
    h.write(bytes);
    h.finish()
}

/// The hasher state after `salt ‖ 0x00`: computed once per rule or group, so that hashing a
/// key per request costs only the key's bytes ([`salted_hash`] equals
/// `{ let mut h = salt_prefix(salt); h.write(key); h.finish() }`).
pub fn salt_prefix(salt: &[u8]) -> StickyHasher {
    let mut h = StickyHasher::default();
    h.write(salt);
    h.write(&[0]);
    h
}

/// The 64-bit hash of `salt ‖ 0x00 ‖ key`.
pub fn salted_hash(salt: &[u8], key: &[u8]) -> u64 {
    let mut h = StickyHasher::default();
    h.write(salt);
    h.write(&[0]);
    h.write(key);
    h.finish()
}

/// The bucket (0..10000) of `key` under `salt`.
pub fn bucket(salt: &[u8], key: &[u8]) -> u32 {
    (salted_hash(salt, key) % u64::from(BUCKETS)) as u32
}

/// Converts a percentage (0..=100, two decimals) to a bucket threshold.
pub fn threshold(percent: f64) -> u32 {
    (percent * 100.0).round().clamp(0.0, f64::from(BUCKETS)) as u32
}

/// True if `key` falls within `percent` % under `salt`.
pub fn in_percent(salt: &[u8], key: &[u8], percent: f64) -> bool {
    bucket(salt, key) < threshold(percent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_prefix_then_key_is_the_salted_hash() {
        for (salt, key) in [
            ("", ""),
            ("rule-1", "user-42"),
            ("g", "\u{e9}t\u{e9}"),
            ("s", ""),
        ] {
            let mut h = salt_prefix(salt.as_bytes());
            h.write(key.as_bytes());
            assert_eq!(
                h.finish(),
                salted_hash(salt.as_bytes(), key.as_bytes()),
                "{salt} {key}"
            );
        }
    }

    #[test]
    fn known_values_are_stable() {
        // FNV-1a 64 of "" is the offset basis; of "a" is 0xaf63dc4c8601ec8c (published vectors).
        let mut h = StickyHasher::default();
        assert_eq!(h.0, 0xcbf29ce484222325);
        h.write(b"a");
        assert_eq!(h.0, 0xaf63dc4c8601ec8c);
        assert_eq!(fmix64(0), 0);
        // Streaming equals one-shot.
        let mut s = StickyHasher::default();
        s.write(b"sa");
        s.write(b"lt\0ke");
        s.write(b"y");
        assert_eq!(s.finish(), salted_hash(b"salt", b"key"));
    }

    #[test]
    fn percentage_is_close_and_monotonic() {
        let n = 100_000u32;
        let mut in10 = 0;
        let mut in25 = 0;
        for i in 0..n {
            let key = format!("user-{i}");
            let b = bucket(b"rule", key.as_bytes());
            if b < threshold(10.0) {
                in10 += 1;
                assert!(b < threshold(25.0), "raising the percentage keeps users in");
            }
            if b < threshold(25.0) {
                in25 += 1;
            }
        }
        // ±0.5 percentage points over 100k keys.
        assert!((9_500..=10_500).contains(&in10), "{in10}");
        assert!((24_500..=25_500).contains(&in25), "{in25}");
    }

    #[test]
    fn salts_make_rules_independent() {
        let n = 100_000u32;
        let both = (0..n)
            .filter(|i| {
                let k = format!("u{i}");
                in_percent(b"a", k.as_bytes(), 10.0) && in_percent(b"b", k.as_bytes(), 10.0)
            })
            .count();
        // Independent: ~1% of users are in both 10% groups (not ~10%).
        assert!((700..=1_300).contains(&both), "{both}");
    }

    #[test]
    fn thresholds() {
        assert_eq!(threshold(0.0), 0);
        assert_eq!(threshold(0.01), 1);
        assert_eq!(threshold(12.345), 1235);
        assert_eq!(threshold(100.0), 10_000);
        assert_eq!(threshold(250.0), 10_000);
        assert!(!in_percent(b"s", b"k", 0.0));
        assert!(in_percent(b"s", b"k", 100.0));
    }
}
