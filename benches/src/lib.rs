//! Shared fixtures of gray's benchmarks.
//!
//! The reference rule set and its requests live in `gray_core::testing` so that the
//! allocation test of gray-core, these benchmarks and the fuzzers all measure and check the
//! same thing; this crate adds what only the benchmarks need.
//!
//! ```
//! let spec = gray_benches::reference_spec();
//! assert_eq!(spec.rules.len(), 10);
//! let table = gray_benches::ip_table(&gray_benches::cidrs(1_000, 1));
//! assert!(table.contains(0, gray_benches::probes(&gray_benches::cidrs(1_000, 1), 4)[0]));
//! ```

pub mod clock;

use std::net::IpAddr;

use gray_core::ip::{IpTable, IpTableBuilder};
pub use gray_core::testing::{
    cidrs, inside, reference_ip_request, reference_requests, reference_spec, reference_spec_with,
    SplitMix, REFERENCE_CIDRS,
};
use ipnet::IpNet;

/// An IP table holding every prefix of `nets` in set 0.
pub fn ip_table(nets: &[IpNet]) -> IpTable {
    let mut b = IpTableBuilder::new();
    for n in nets {
        b.add(0, *n);
    }
    b.build()
}

/// `count` lookup addresses for `nets`: alternately an address inside a prefix of `nets` (a
/// hit) and a pseudo-random address of the same family (mostly a miss).
pub fn probes(nets: &[IpNet], count: usize) -> Vec<IpAddr> {
    let mut rng = SplitMix(99);
    (0..count)
        .map(|i| {
            let net = &nets[rng.below(nets.len() as u64) as usize];
            if i % 2 == 0 {
                inside(net)
            } else {
                match net {
                    IpNet::V4(_) => IpAddr::from((rng.next_u64() as u32).to_be_bytes()),
                    IpNet::V6(_) => {
                        let hi = u128::from(0x2001u16 + rng.below(0x0a0f) as u16) << 112;
                        IpAddr::from((hi | u128::from(rng.next_u64()) << 48).to_be_bytes())
                    }
                }
            }
        })
        .collect()
}

/// `n` IPv6 prefixes longer than /64 (/65 to /128), each inside a /64 of
/// [`family_cidrs`]`(n, true, seed)`: the tables' exceptional path, where the
/// low 64 bits of the address matter.
///
/// ```
/// let nets = gray_benches::long_v6_cidrs(100, 1);
/// assert_eq!(nets.len(), 100);
/// assert!(nets.iter().all(|n| n.prefix_len() > 64));
/// ```
pub fn long_v6_cidrs(n: usize, seed: u64) -> Vec<IpNet> {
    let mut rng = SplitMix(seed ^ 0x6c6f_6e67);
    family_cidrs(n, true, seed)
        .into_iter()
        .filter_map(|net| match net {
            IpNet::V6(n) => Some(u128::from(n.network()) >> 64 << 64),
            IpNet::V4(_) => None,
        })
        .map(|high| {
            let len = 65 + rng.below(64) as u8;
            let addr = std::net::Ipv6Addr::from(high | u128::from(rng.next_u64()));
            IpNet::V6(ipnet::Ipv6Net::new(addr, len).expect("len <= 128").trunc())
        })
        .collect()
}

/// Only the IPv4 or only the IPv6 prefixes of [`cidrs`]`(2 * n, seed)`: `n` of one family.
pub fn family_cidrs(n: usize, v6: bool, seed: u64) -> Vec<IpNet> {
    cidrs(2 * n, seed)
        .into_iter()
        .filter(|net| matches!(net, IpNet::V6(_)) == v6)
        .collect()
}
