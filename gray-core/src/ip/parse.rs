//! Parsing IP list entries (addresses and CIDRs) and list files, and the linear reference
//! model the table is tested against.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

/// Longest input kept verbatim in an [`IpEntryError`].
const MAX_ERROR_INPUT: usize = 128;

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
pub(super) fn normalize_net(net: IpNet) -> IpNet {
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

/// Naive reference model of [`crate::ip::IpTable::contains`]: scans every `(set, net)`
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
