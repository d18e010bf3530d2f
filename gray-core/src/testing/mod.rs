//! Shared fixtures for benchmarks, the allocation test and the fuzzers. Not part of the stable
//! API.
//!
//! * [`reference_spec`] builds the reference rule set that performance targets are stated
//!   against: 10 rules over 10 000 CIDRs (IPv4 and IPv6 mixed), 5 cookie regexes, 3 header
//!   expressions, a sticky percentage and weighted node selection. Everything is generated
//!   deterministically, so every run measures the same thing.
//! * [`reference_requests`] are requests against that set: one that hits the first rule, one
//!   that hits the last rule, one that hits none.
//! * [`cidrs`] generates prefix lists of any size for IP table benchmarks.
//! * [`model`] is a naive reference model of rule evaluation for differential testing.
//! * [`fuzz`] holds the fuzz target bodies, so that the fuzzers and the crash-replay tests run
//!   exactly the same code.

pub mod fuzz;
pub mod model;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::spec::{yaml_from_str, IpSetSpec, Spec};
use crate::{sticky, SimpleRequest};

/// Number of CIDRs in the reference rule set.
pub const REFERENCE_CIDRS: usize = 10_000;

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// `n` distinct-ish prefixes, alternating IPv4 (lengths 16..=32, outside 10/8 and
/// 203.0.113/24) and IPv6 (lengths 32..=64 under 2001::/16 .. 2a0f::/16), from `seed`.
pub fn cidrs(n: usize, seed: u64) -> Vec<IpNet> {
    let mut rng = SplitMix(seed);
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let len = 16 + rng.below(17) as u8;
                // First octet 11..=199 avoids 10/8 (trusted proxies) and 203/8 (test clients).
                let first = 11 + rng.below(189) as u32;
                let a = (first << 24) | (rng.next_u64() as u32 & 0x00ff_ffff);
                IpNet::V4(
                    Ipv4Net::new(Ipv4Addr::from(a), len)
                        .expect("len <= 32")
                        .trunc(),
                )
            } else {
                let len = 32 + rng.below(33) as u8;
                let top = 0x2001u128 + u128::from(rng.below(0x0a0f - 0x0001));
                let a = (top << 112) | (u128::from(rng.next_u64()) << 48);
                IpNet::V6(
                    Ipv6Net::new(Ipv6Addr::from(a), len)
                        .expect("len <= 128")
                        .trunc(),
                )
            }
        })
        .collect()
}

/// An address inside `net` (its network address plus one, or the address itself).
pub fn inside(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) if n.prefix_len() < 32 => {
            IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + 1))
        }
        IpNet::V6(n) if n.prefix_len() < 128 => {
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 1))
        }
        n => n.network(),
    }
}

const REFERENCE_RULES: &str = r##"
version: 1
client_ip: { trusted_proxies: ["10.0.0.0/8"], header: x-forwarded-for, recursive: true }
groups:
  stable:
    nodes:
      - { address: "127.0.0.1:8001", weight: 5 }
      - { address: "127.0.0.1:8002", weight: 3 }
      - { address: "127.0.0.1:8003", weight: 2 }
  canary:
    select: random
    nodes: [{ address: "127.0.0.1:9001", weight: 3 }, { address: "127.0.0.1:9002" }]
    fallback: stable
  sticky:
    select: hash
    hash_key: { cookie: uid }
    nodes: [{ address: "127.0.0.1:9101" }, { address: "127.0.0.1:9102" }, { address: "127.0.0.1:9103" }]
    fallback: stable
rules:
  - id: canary-cookie
    when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }
    route: canary
    set_headers: { x-gray: canary-cookie }
  - id: tester-cookie
    when: { cookie: { name: tester, regex: "^t[0-9]{2,6}$" } }
    route: canary
  - id: beta-cookie
    when: { cookie: { name: beta, regex: "^(on|yes|true|1)$", ignore_case: true } }
    route: canary
  - id: region-cookie
    when: { cookie: { name: region, regex: "^(eu|us|ap)-(west|east|south)-[1-9]$" } }
    route: sticky
  - id: build-cookie
    when: { cookie: { name: build, regex: "^rc-[0-9]+\\.[0-9]+(-[a-z]+)?$" } }
    route: canary
  - id: gray-networks
    when: { ip: [gray_networks] }
    route: canary
  - id: header-expr-version
    when: { expr: "#H['x-app-version'] matches '^2\\.[5-9]\\..*' && #H['x-platform'] == 'ios'" }
    route: canary
  - id: header-expr-tenant
    when: { expr: "#H['x-tenant'] == 'acme' || #H['x-tenant'] == 'globex'" }
    route: sticky
  - id: header-expr-score
    when: { expr: "#H['x-score'] >= 90 && #H['x-debug'] != 'true'" }
    route: canary
  - id: sticky-percent
    when: { all: [ { method: [GET, HEAD] }, { percent: { key: { cookie: uid }, value: 5 } } ] }
    route: sticky
    set_headers: { x-gray: sticky-percent }
default: stable
"##;

/// The reference rule set with [`REFERENCE_CIDRS`] prefixes in its `gray_networks` set.
pub fn reference_spec() -> Spec {
    reference_spec_with(REFERENCE_CIDRS)
}

/// The reference rule set with `n` prefixes in its `gray_networks` set.
pub fn reference_spec_with(n: usize) -> Spec {
    let mut spec: Spec = yaml_from_str(REFERENCE_RULES).expect("the reference rules parse");
    spec.ip_sets.insert(
        "gray_networks".to_string(),
        IpSetSpec {
            entries: cidrs(n, 7).iter().map(ToString::to_string).collect(),
            file: None,
        },
    );
    spec
}

/// A `uid` cookie value that falls inside the reference set's 5 % sticky percentage.
pub fn sticky_uid() -> String {
    (0u32..)
        .map(|i| format!("user-{i}"))
        .find(|u| sticky::in_percent(b"sticky-percent", u.as_bytes(), 5.0))
        .expect("5% of users exist")
}

/// A `uid` cookie value outside the sticky percentage.
pub fn non_sticky_uid() -> String {
    (0u32..)
        .map(|i| format!("user-{i}"))
        .find(|u| !sticky::in_percent(b"sticky-percent", u.as_bytes(), 5.0))
        .expect("95% of users exist")
}

fn browser(peer: &str, client: &str, cookies: &str) -> SimpleRequest {
    SimpleRequest::new(peer.parse().expect("valid peer"))
        .with_method("GET")
        .with_path("/api/v1/orders/1234")
        .with_query("page=2&size=20&sort=created")
        .with_host("shop.example.com")
        .with_header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101",
        )
        .with_header("accept", "application/json")
        .with_header("accept-language", "en-GB,en;q=0.9")
        .with_header("x-forwarded-for", client)
        .with_header("x-request-id", "3f1c2a7e-8d4b-4e21-9a0c-5b6d7e8f9a01")
        .with_header("cookie", cookies)
}

/// Requests against [`reference_spec`], named by what they exercise: `hit-first` (first rule),
/// `hit-last` (last rule, after every other rule failed), `hit-none` (the default).
///
/// Each carries realistic headers: a user agent, an `x-forwarded-for` through a trusted proxy
/// and a cookie header with five cookies.
pub fn reference_requests() -> Vec<(&'static str, SimpleRequest)> {
    let first = browser(
        "10.1.2.3",
        "203.0.113.7",
        "sid=9c1d2e; theme=dark; lang=en; uid=user-1; canary=userAAA",
    );
    let last = browser(
        "10.1.2.3",
        "203.0.113.7",
        &format!(
            "sid=9c1d2e; theme=dark; lang=en; canary=nope; uid={}",
            sticky_uid()
        ),
    );
    let none = browser(
        "10.1.2.3",
        "203.0.113.7",
        &format!(
            "sid=9c1d2e; theme=dark; lang=en; canary=nope; uid={}",
            non_sticky_uid()
        ),
    )
    .with_header("x-tenant", "initech")
    .with_header("x-score", "42");
    vec![("hit-first", first), ("hit-last", last), ("hit-none", none)]
}

/// A request whose client address is inside the first prefix of the reference set
/// (rule `gray-networks`, the sixth rule).
pub fn reference_ip_request() -> SimpleRequest {
    let net = cidrs(1, 7)[0];
    browser("10.1.2.3", &inside(&net).to_string(), "sid=1; uid=user-1")
}
