use super::*;
use ipnet::Ipv4Net;
use proptest::prelude::*;
use std::net::Ipv4Addr;
use std::net::Ipv6Addr;

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
    let (line, err) = parse_list("10.0.0.0/8\n\n# c\n10.0.0.1/8 # typo\n1.1.1.1\n").unwrap_err();
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
    (0u128..4, low, len)
        .prop_map(|(h, l, len)| prefix6((0x2001_0db8u128 << 96) | (h << 64) | u128::from(l), len))
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
