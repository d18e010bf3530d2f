//! Tests of the parent module.
use super::parse::{dotted_quad, parse_addr};
use super::*;
use crate::ip::parse_entry;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const TRUSTED_NETS: &[&str] = &[
    "10.0.0.0/8",
    "192.168.0.0/16",
    "127.0.0.1",
    "2001:db8:ffff::/48",
];

fn resolver(trusted: &[&str], header: ForwardedHeader, recursive: bool) -> ClientIpResolver {
    ClientIpResolver::new(
        trusted.iter().map(|s| parse_entry(s).unwrap()),
        header,
        recursive,
    )
}

struct Case {
    name: &'static str,
    header: ForwardedHeader,
    recursive: bool,
    peer: &'static str,
    lines: &'static [&'static str],
    want: &'static str,
}

use ForwardedHeader::{Forwarded as Fwd, XForwardedFor as Xff, XRealIp as Xri};

fn c(
    name: &'static str,
    header: ForwardedHeader,
    recursive: bool,
    peer: &'static str,
    lines: &'static [&'static str],
    want: &'static str,
) -> Case {
    Case {
        name,
        header,
        recursive,
        peer,
        lines,
        want,
    }
}

fn cases() -> Vec<Case> {
    let other = || ForwardedHeader::Other("x-client-ip".into());
    vec![
        // Untrusted peers: headers ignored.
        c(
            "untrusted xff",
            Xff,
            true,
            "203.0.113.9",
            &["1.2.3.4"],
            "203.0.113.9",
        ),
        c(
            "untrusted x-real-ip",
            Xri,
            false,
            "203.0.113.9",
            &["1.2.3.4"],
            "203.0.113.9",
        ),
        c(
            "untrusted forwarded",
            Fwd,
            true,
            "203.0.113.9",
            &["for=1.2.3.4"],
            "203.0.113.9",
        ),
        c(
            "untrusted near range",
            Xff,
            false,
            "11.0.0.1",
            &["1.2.3.4"],
            "11.0.0.1",
        ),
        c(
            "untrusted mapped peer canonical",
            Xff,
            false,
            "::ffff:203.0.113.9",
            &["1.2.3.4"],
            "203.0.113.9",
        ),
        // Non-recursive: the rightmost entry.
        c(
            "nonrec rightmost",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4, 5.6.7.8"],
            "5.6.7.8",
        ),
        c(
            "nonrec rightmost trusted",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4, 10.0.0.2"],
            "10.0.0.2",
        ),
        c(
            "nonrec malformed rightmost",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4, 1.2.3"],
            "10.0.0.1",
        ),
        // Recursive.
        c(
            "rec skips trusted hops",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4, 10.0.0.2, 192.168.1.1"],
            "1.2.3.4",
        ),
        c(
            "rec stops at first untrusted",
            Xff,
            true,
            "10.0.0.1",
            &["9.9.9.9, 1.2.3.4, 10.0.0.2"],
            "1.2.3.4",
        ),
        c(
            "rec all trusted -> leftmost",
            Xff,
            true,
            "10.0.0.1",
            &["10.0.0.5, 10.0.0.4, 192.168.0.1"],
            "10.0.0.5",
        ),
        c(
            "rec rightmost untrusted",
            Xff,
            true,
            "10.0.0.1",
            &["10.0.0.5, 8.8.8.8"],
            "8.8.8.8",
        ),
        c(
            "rec malformed rightmost",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4, garbage"],
            "10.0.0.1",
        ),
        c(
            "rec malformed middle",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4, 999.1.1.1, 10.0.0.3"],
            "10.0.0.3",
        ),
        c(
            "rec malformed behind untrusted",
            Xff,
            true,
            "10.0.0.1",
            &["abc, 1.2.3.4, 10.0.0.3"],
            "1.2.3.4",
        ),
        // Address forms.
        c(
            "ports",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4:5678, 10.0.0.2:80"],
            "1.2.3.4",
        ),
        c(
            "v6 bracket port",
            Xff,
            true,
            "10.0.0.1",
            &["[2001:db8::1]:443, 10.0.0.2"],
            "2001:db8::1",
        ),
        c(
            "v6 bracket no port",
            Xff,
            false,
            "10.0.0.1",
            &["[::1]"],
            "::1",
        ),
        c("v6 bare", Xff, false, "127.0.0.1", &["::1"], "::1"),
        c(
            "v6 trusted peer",
            Xff,
            false,
            "2001:db8:ffff::1",
            &["2001:db8::7"],
            "2001:db8::7",
        ),
        c(
            "v6 trusted hop",
            Xff,
            true,
            "2001:db8:ffff::1",
            &["2001:db8::7, 2001:db8:ffff::2"],
            "2001:db8::7",
        ),
        c(
            "mapped trusted peer",
            Xff,
            false,
            "::ffff:10.0.0.1",
            &["1.2.3.4"],
            "1.2.3.4",
        ),
        c(
            "mapped entry",
            Xff,
            false,
            "10.0.0.1",
            &["::ffff:1.2.3.4"],
            "1.2.3.4",
        ),
        c(
            "mapped trusted hop",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4, ::ffff:10.0.0.9"],
            "1.2.3.4",
        ),
        c(
            "mapped in brackets with port",
            Xff,
            false,
            "10.0.0.1",
            &["[::ffff:1.2.3.4]:99"],
            "1.2.3.4",
        ),
        c(
            "bad port",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4:abc"],
            "10.0.0.1",
        ),
        c(
            "port zero",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4:0"],
            "10.0.0.1",
        ),
        c(
            "port too big",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4:65536"],
            "10.0.0.1",
        ),
        c(
            "unclosed bracket",
            Xff,
            false,
            "10.0.0.1",
            &["[::1"],
            "10.0.0.1",
        ),
        c(
            "v6 port without brackets",
            Xff,
            false,
            "10.0.0.1",
            &["2001:db8::1:80x"],
            "10.0.0.1",
        ),
        c(
            "leading zeros",
            Xff,
            false,
            "10.0.0.1",
            &["01.2.3.4"],
            "10.0.0.1",
        ),
        // Several header lines and separators.
        c(
            "lines rec",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4", "10.0.0.2, 10.0.0.3"],
            "1.2.3.4",
        ),
        c(
            "lines nonrec",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4", "5.6.7.8"],
            "5.6.7.8",
        ),
        c(
            "lines untrusted in first",
            Xff,
            true,
            "10.0.0.1",
            &["6.6.6.6, 1.2.3.4", "10.0.0.2"],
            "1.2.3.4",
        ),
        c(
            "lines malformed first line",
            Xff,
            true,
            "10.0.0.1",
            &["x, y", "10.0.0.2"],
            "10.0.0.2",
        ),
        c(
            "lines all trusted",
            Xff,
            true,
            "10.0.0.1",
            &["10.0.0.7", "10.0.0.2"],
            "10.0.0.7",
        ),
        c(
            "lines empty last line",
            Xff,
            true,
            "10.0.0.1",
            &["1.2.3.4", ""],
            "1.2.3.4",
        ),
        c(
            "whitespace and empties",
            Xff,
            true,
            "10.0.0.1",
            &[",  1.2.3.4 ,, 10.0.0.2\t, ,"],
            "1.2.3.4",
        ),
        c(
            "space separated",
            Xff,
            false,
            "10.0.0.1",
            &["1.2.3.4 5.6.7.8"],
            "5.6.7.8",
        ),
        c(
            "only separators",
            Xff,
            true,
            "10.0.0.1",
            &[" , , "],
            "10.0.0.1",
        ),
        c("no header", Xff, true, "10.0.0.1", &[], "10.0.0.1"),
        c("empty header", Xff, true, "10.0.0.1", &[""], "10.0.0.1"),
        c(
            "custom header",
            other(),
            true,
            "10.0.0.1",
            &["1.2.3.4, 10.0.0.2"],
            "1.2.3.4",
        ),
        c(
            "custom header lines",
            other(),
            false,
            "10.0.0.1",
            &["1.2.3.4", "5.6.7.8"],
            "5.6.7.8",
        ),
        // X-Real-IP.
        c("xri plain", Xri, false, "10.0.0.1", &["1.2.3.4"], "1.2.3.4"),
        c(
            "xri port",
            Xri,
            false,
            "10.0.0.1",
            &["1.2.3.4:8080"],
            "1.2.3.4",
        ),
        c(
            "xri v6 port",
            Xri,
            false,
            "10.0.0.1",
            &["[2001:db8::5]:80"],
            "2001:db8::5",
        ),
        c(
            "xri whitespace",
            Xri,
            false,
            "10.0.0.1",
            &["  1.2.3.4 "],
            "1.2.3.4",
        ),
        c(
            "xri garbage",
            Xri,
            false,
            "10.0.0.1",
            &["garbage"],
            "10.0.0.1",
        ),
        c(
            "xri first line only",
            Xri,
            false,
            "10.0.0.1",
            &["1.2.3.4", "5.6.7.8"],
            "1.2.3.4",
        ),
        c(
            "xri list like nginx",
            Xri,
            false,
            "10.0.0.1",
            &["1.2.3.4, 5.6.7.8"],
            "5.6.7.8",
        ),
        c(
            "xri recursive trusted value",
            Xri,
            true,
            "10.0.0.1",
            &["10.0.0.9"],
            "10.0.0.9",
        ),
        // RFC 7239 Forwarded.
        c(
            "fwd params",
            Fwd,
            false,
            "10.0.0.1",
            &["for=192.0.2.60;proto=http;by=203.0.113.43"],
            "192.0.2.60",
        ),
        c(
            "fwd quoted v6 port",
            Fwd,
            false,
            "10.0.0.1",
            &["for=\"[2001:db8:cafe::17]:4711\""],
            "2001:db8:cafe::17",
        ),
        c(
            "fwd quoted v4 port",
            Fwd,
            false,
            "10.0.0.1",
            &["for=\"192.0.2.60:8080\""],
            "192.0.2.60",
        ),
        c(
            "fwd quoted v6 no port",
            Fwd,
            false,
            "10.0.0.1",
            &["for=\"[2001:db8::9]\""],
            "2001:db8::9",
        ),
        c(
            "fwd mixed case nonrec",
            Fwd,
            false,
            "10.0.0.1",
            &["For=192.0.2.43, for=198.51.100.17"],
            "198.51.100.17",
        ),
        c(
            "fwd mixed case rec",
            Fwd,
            true,
            "10.0.0.1",
            &["for=192.0.2.43, FOR=\"10.0.0.7:8080\""],
            "192.0.2.43",
        ),
        c(
            "fwd param order",
            Fwd,
            true,
            "10.0.0.1",
            &["proto=https; for=192.0.2.43 ;by=10.0.0.1"],
            "192.0.2.43",
        ),
        c(
            "fwd unknown",
            Fwd,
            false,
            "10.0.0.1",
            &["for=unknown"],
            "10.0.0.1",
        ),
        c(
            "fwd obfuscated middle",
            Fwd,
            true,
            "10.0.0.1",
            &["for=192.0.2.43, for=_hidden, for=10.0.0.7"],
            "10.0.0.7",
        ),
        c(
            "fwd no for",
            Fwd,
            true,
            "10.0.0.1",
            &["for=192.0.2.43, proto=https"],
            "10.0.0.1",
        ),
        c(
            "fwd quoted comma",
            Fwd,
            false,
            "10.0.0.1",
            &["for=192.0.2.43;by=\"a,b\""],
            "192.0.2.43",
        ),
        c(
            "fwd lines",
            Fwd,
            true,
            "10.0.0.1",
            &["for=192.0.2.43", "for=10.0.0.7"],
            "192.0.2.43",
        ),
        c(
            "fwd unbalanced quote on left",
            Fwd,
            true,
            "10.0.0.1",
            &["for=\"1.1.1.1, for=10.0.0.7"],
            "10.0.0.7",
        ),
        c(
            "fwd unbalanced quote nonrec",
            Fwd,
            false,
            "10.0.0.1",
            &["for=\"x, for=203.0.113.5"],
            "203.0.113.5",
        ),
        c(
            "fwd duplicate for",
            Fwd,
            false,
            "10.0.0.1",
            &["for=1.2.3.4;for=5.6.7.8"],
            "10.0.0.1",
        ),
        c(
            "fwd bare value",
            Fwd,
            false,
            "10.0.0.1",
            &["1.2.3.4"],
            "10.0.0.1",
        ),
    ]
}

#[test]
fn table_driven() {
    let trusted_cases = cases();
    assert!(trusted_cases.len() >= 35);
    for case in &trusted_cases {
        let r = resolver(TRUSTED_NETS, case.header.clone(), case.recursive);
        let peer: IpAddr = case.peer.parse().unwrap();
        let want: IpAddr = case.want.parse().unwrap();
        let got = r.resolve(peer, case.lines.iter().copied());
        assert_eq!(got, want, "case {:?}", case.name);
        let (explained, why) = r.resolve_explained(peer, case.lines.iter().copied());
        assert_eq!(
            explained, got,
            "explained differs in case {:?}: {why}",
            case.name
        );
        if why.is_peer() {
            assert_eq!(got, peer.to_canonical(), "case {:?}", case.name);
        }
    }
}

#[test]
fn no_trusted_proxies_trusts_nothing() {
    for header in [Xff, Xri, Fwd] {
        let r = resolver(&[], header, true);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(!r.is_trusted(peer));
        assert_eq!(r.resolve(peer, ["1.2.3.4", "for=1.2.3.4"]), peer);
        assert_eq!(
            r.resolve_explained(peer, ["1.2.3.4"]).1,
            ClientIpSource::UntrustedPeer
        );
    }
}

#[test]
fn explanations() {
    let r = resolver(TRUSTED_NETS, Xff, true);
    let peer: IpAddr = "10.0.0.1".parse().unwrap();
    let explain = |lines: &[&str]| r.resolve_explained(peer, lines.iter().copied()).1;
    assert_eq!(explain(&[]), ClientIpSource::NoHeader);
    assert_eq!(
        explain(&["1.2.3.4, 10.0.0.2", "192.168.0.1"]),
        ClientIpSource::FirstUntrusted {
            index: 0,
            skipped: 2
        }
    );
    assert_eq!(
        explain(&["10.0.0.3, 10.0.0.2"]),
        ClientIpSource::AllTrusted {
            index: 0,
            skipped: 1
        }
    );
    assert_eq!(
        explain(&["1.2.3.4, nope, 10.0.0.2"]),
        ClientIpSource::StoppedAtMalformed {
            index: 2,
            malformed: "nope".into()
        }
    );
    assert_eq!(
        explain(&["1.2.3.4, nope"]),
        ClientIpSource::MalformedRightmost {
            entry: "nope".into()
        }
    );
    let nonrec = resolver(TRUSTED_NETS, Xff, false);
    let (_, why) = nonrec.resolve_explained(peer, ["1.2.3.4, 5.6.7.8"]);
    assert_eq!(why, ClientIpSource::Rightmost { index: 1 });
    assert!(why.to_string().contains("rightmost"));
    let untrusted: IpAddr = "8.8.8.8".parse().unwrap();
    let (_, why) = r.resolve_explained(untrusted, ["1.2.3.4"]);
    assert!(why.is_peer());
    assert!(why.to_string().contains("not a trusted proxy"));
    let long = "x".repeat(1000);
    let (_, why) = r.resolve_explained(peer, [long.as_str()]);
    assert!(why.to_string().len() < 300);
}

/// An empty element between commas (`1.2.3.4, , 10.0.0.1`) is no entry at all: the walk goes
/// straight from `10.0.0.1` to `1.2.3.4`, and trailing separators are skipped too. This is
/// what nginx does: `ngx_http_get_forwarded_addr_internal` first steps back over every trailing
/// `' '` and `','` of the (remaining) value, then cuts the entry back to the previous space or
/// comma, and recursion continues on the text before that separator, whose own trailing run of
/// spaces and commas is skipped again; so `", ,"` between two addresses never reaches
/// `ngx_parse_addr_port` as an empty address.
#[test]
fn empty_elements_are_skipped_like_nginx() {
    let r = resolver(&["127.0.0.1", "10.0.0.1"], Xff, true);
    let nonrec = resolver(&["127.0.0.1", "10.0.0.1"], Xff, false);
    let peer: IpAddr = "127.0.0.1".parse().unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    for line in [
        "1.2.3.4, , 10.0.0.1",
        "1.2.3.4,,10.0.0.1",
        "1.2.3.4, 10.0.0.1, ",
    ] {
        assert_eq!(r.resolve(peer, [line]), ip("1.2.3.4"), "{line:?}");
        assert_eq!(
            r.resolve_explained(peer, [line]),
            (
                ip("1.2.3.4"),
                ClientIpSource::FirstUntrusted {
                    index: 0,
                    skipped: 1
                }
            ),
            "{line:?}"
        );
        // Without `recursive` the rightmost entry is the client, trailing separators or not.
        assert_eq!(nonrec.resolve(peer, [line]), ip("10.0.0.1"), "{line:?}");
    }
    assert_eq!(nonrec.resolve(peer, ["1.2.3.4, , "]), ip("1.2.3.4"));
    // Every entry trusted, with empty elements in between: the leftmost one.
    assert_eq!(
        r.resolve(peer, [", 10.0.0.1, , 127.0.0.1, "]),
        ip("10.0.0.1")
    );
}

#[test]
fn accessors_and_names() {
    let r = resolver(
        TRUSTED_NETS,
        ForwardedHeader::Other("X-Client-IP".into()),
        true,
    );
    assert_eq!(r.header().header_name(), "x-client-ip");
    assert!(r.recursive());
    assert_eq!(r.trusted_count(), 4);
    assert!(r.is_trusted("::ffff:192.168.3.4".parse().unwrap()));
    assert!(!r.is_trusted("8.8.8.8".parse().unwrap()));
    assert_eq!(Xff.header_name(), "x-forwarded-for");
    assert_eq!(Xri.header_name(), "x-real-ip");
    assert_eq!(Fwd.header_name(), "forwarded");
    assert_eq!(ForwardedHeader::from_name("X-Forwarded-For"), Xff);
    assert_eq!(ForwardedHeader::from_name(" x-real-ip "), Xri);
    assert_eq!(ForwardedHeader::from_name("Forwarded"), Fwd);
    assert_eq!(
        ForwardedHeader::from_name("CF-Connecting-IP"),
        ForwardedHeader::Other("cf-connecting-ip".into())
    );
}

#[test]
fn address_forms() {
    let ok = [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:8080", "1.2.3.4"),
        ("1.2.3.4:08080", "1.2.3.4"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[::1]:8080", "::1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        (" 1.2.3.4 ", "1.2.3.4"),
    ];
    for (s, want) in ok {
        assert_eq!(parse_addr(s), Some(want.parse().unwrap()), "{s}");
    }
    let bad = [
        "",
        "1.2.3",
        "999.1.1.1",
        "abc",
        "[::1",
        "1.2.3.4:abc",
        "1.2.3.4:",
        "[::1]:",
        "[::1]x",
        "[1.2.3.4]",
        "1.2.3.4:0",
        "1.2.3.4:65536",
        "::1:80:x",
        "fe80::1%eth0",
        "_hidden",
        "unknown",
        "1.2.3.4:+80",
    ];
    for s in bad {
        assert_eq!(parse_addr(s), None, "{s:?}");
    }
}

fn entry_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "10.0.0.2", "10.9.9.9", "192.168.7.7", "127.0.0.1", "1.2.3.4", "5.6.7.8",
            "::ffff:10.0.0.3", "[2001:db8:ffff::5]:80", "2001:db8::1", "1.2.3.4:99",
        ]).prop_map(String::from),
        1 => prop::sample::select(vec!["bad", "1.2.3", "", " ", "[::1", "_x"]).prop_map(String::from),
    ]
}

fn lines_strategy() -> impl Strategy<Value = Vec<String>> {
    let line = (
        prop::collection::vec(entry_strategy(), 0..5),
        prop::sample::select(vec![", ", ",", " ", " , ,"]),
        any::<bool>(),
    )
        .prop_map(|(entries, sep, forwarded)| {
            if forwarded {
                entries
                    .iter()
                    .map(|e| format!("for=\"{e}\";proto=https"))
                    .collect::<Vec<_>>()
                    .join(sep)
            } else {
                entries.join(sep)
            }
        });
    prop::collection::vec(line, 0..4)
}

proptest! {
    #[test]
    fn resolve_agrees_with_explained(
        lines in lines_strategy(),
        peer in prop::sample::select(vec!["10.0.0.1", "::ffff:10.0.0.1", "8.8.8.8", "2001:db8:ffff::9"]),
        recursive in any::<bool>(),
        header in prop::sample::select(vec![0u8, 1, 2, 3]),
    ) {
        let header = match header {
            0 => Xff,
            1 => Xri,
            2 => Fwd,
            _ => ForwardedHeader::Other("x-ip".into()),
        };
        let r = resolver(TRUSTED_NETS, header, recursive);
        let peer: IpAddr = peer.parse().unwrap();
        let got = r.resolve(peer, lines.iter().map(String::as_str));
        let (explained, why) = r.resolve_explained(peer, lines.iter().map(String::as_str));
        prop_assert_eq!(got, explained, "{:?}", why);
        // Joining the lines gives the same answer (except X-Real-IP,
        // which reads only the first line).
        if !matches!(r.header(), ForwardedHeader::XRealIp) {
            let joined = lines.join(", ");
            prop_assert_eq!(r.resolve(peer, [joined.as_str()]), got);
        }
    }
}

proptest::proptest! {
    /// The dotted-quad fast path accepts exactly what `Ipv4Addr::from_str` accepts, with the
    /// same value, and accepts every canonical dotted quad.
    #[test]
    fn dotted_quad_agrees_with_std(s in "[0-9.]{0,18}", t in "[0-9]{1,4}(\\.[0-9]{1,4}){2,4}[.x]?", a: u32) {
        proptest::prop_assert_eq!(dotted_quad(s.as_bytes()), s.parse::<Ipv4Addr>().ok(), "{}", s);
        proptest::prop_assert_eq!(dotted_quad(t.as_bytes()), t.parse::<Ipv4Addr>().ok(), "{}", t);
        let text = Ipv4Addr::from(a).to_string();
        proptest::prop_assert_eq!(dotted_quad(text.as_bytes()), Some(Ipv4Addr::from(a)));
    }
}

#[test]
fn dotted_quad_edges() {
    for bad in [
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "1.2.3.256",
        "1..2.3",
        "1.2.3.4 ",
        "1234.1.1.1",
        "1.2.3.0400",
        "1.2.3.",
        ".1.2.3",
        "1.2.3.-4",
        "",
    ] {
        assert_eq!(dotted_quad(bad.as_bytes()), None, "{bad:?}");
    }
    assert_eq!(dotted_quad(b"0.0.0.0"), Some(Ipv4Addr::UNSPECIFIED));
    assert_eq!(dotted_quad(b"255.255.255.255"), Some(Ipv4Addr::BROADCAST));
}
