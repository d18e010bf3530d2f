//! Client-IP sets as sorted address ranges, to ask "is every address of one set in another" and
//! "which addresses do two sets share" in `O(n log n)` rather than pair by pair.

use std::net::IpAddr;

use ipnet::IpNet;

/// An inclusive address range: (family, first, last), IPv4 mapped to family 4.
type Range = (u8, u128, u128);

fn range(n: &IpNet) -> Range {
    match (n.network(), n.broadcast()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (4, u32::from(a) as u128, u32::from(b) as u128),
        (IpAddr::V6(a), IpAddr::V6(b)) => (6, u128::from(a), u128::from(b)),
        // A network and its broadcast are of one family.
        _ => unreachable!("mixed families"),
    }
}

/// One set's networks, sorted, and their union as disjoint ranges.
#[derive(Debug)]
pub(super) struct Ranges {
    nets: Vec<(Range, IpNet)>,
    merged: Vec<Range>,
}

impl Ranges {
    pub(super) fn new(nets: &[IpNet]) -> Ranges {
        let mut nets: Vec<(Range, IpNet)> = nets.iter().map(|n| (range(n), n.trunc())).collect();
        nets.sort_unstable_by_key(|(r, _)| *r);
        let mut merged: Vec<Range> = Vec::with_capacity(nets.len());
        for &((fam, lo, hi), _) in &nets {
            match merged.last_mut() {
                Some(last) if last.0 == fam && lo <= last.2.saturating_add(1) => {
                    last.2 = last.2.max(hi)
                }
                _ => merged.push((fam, lo, hi)),
            }
        }
        Ranges { nets, merged }
    }

    /// The merged range that holds or follows `(fam, lo)`: the first with an end at or after it.
    fn first_ending_after(&self, fam: u8, lo: u128) -> Option<&Range> {
        let i = self.merged.partition_point(|r| (r.0, r.2) < (fam, lo));
        self.merged.get(i).filter(|r| r.0 == fam)
    }

    /// True when every address of `self` is in `other`.
    pub(super) fn within(&self, other: &Ranges) -> bool {
        self.merged.iter().all(|&(fam, lo, hi)| {
            other
                .first_ending_after(fam, lo)
                .is_some_and(|r| r.1 <= lo && hi <= r.2)
        })
    }

    /// A network of addresses both sets hold (the more specific of two overlapping entries), or
    /// `None` when they share none.
    pub(super) fn first_overlap(&self, other: &Ranges) -> Option<IpNet> {
        for &((fam, lo, hi), net) in &self.nets {
            let Some(r) = other.first_ending_after(fam, lo) else {
                continue;
            };
            if r.1 > hi {
                continue;
            }
            // Some entry of `other` overlaps `net`; CIDRs nest or are disjoint, so it is
            // either inside `net` or holds it. Entries that start after `net` ends cannot.
            let end = other
                .nets
                .partition_point(|((f, l, _), _)| (*f, *l) <= (fam, hi));
            let found = other.nets[..end]
                .iter()
                .rev()
                .find(|((f, l, h), _)| *f == fam && *l <= hi && *h >= lo);
            if let Some(&(_, o)) = found {
                return Some(if o.prefix_len() > net.prefix_len() {
                    o
                } else {
                    net
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(entries: &[&str]) -> Ranges {
        let nets: Vec<IpNet> = entries.iter().map(|e| e.parse().unwrap()).collect();
        Ranges::new(&nets)
    }

    #[test]
    fn containment_and_overlap() {
        let office = set(&["10.0.0.0/8", "192.168.1.0/24"]);
        let lab = set(&["10.1.2.0/24"]);
        let elsewhere = set(&["172.16.0.0/12", "2001:db8::/32"]);
        assert!(lab.within(&office));
        assert!(!office.within(&lab));
        assert!(!elsewhere.within(&office));
        assert_eq!(
            lab.first_overlap(&office),
            Some("10.1.2.0/24".parse().unwrap())
        );
        assert_eq!(
            office.first_overlap(&lab),
            Some("10.1.2.0/24".parse().unwrap())
        );
        assert_eq!(office.first_overlap(&elsewhere), None);
        // Adjacent networks merge: two /25s cover their /24.
        assert!(set(&["192.168.1.0/24"]).within(&set(&["192.168.1.128/25", "192.168.1.0/25"])));
        // Families never mix.
        assert_eq!(set(&["::/0"]).first_overlap(&set(&["0.0.0.0/0"])), None);
        // A big set against a small one inside a gap of it.
        let many: Vec<String> = (0..1000)
            .map(|i| format!("10.{}.{}.0/24", i / 200, i % 200))
            .collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(set(&many).first_overlap(&set(&["10.0.250.7/32"])), None);
        assert_eq!(
            set(&many).first_overlap(&set(&["10.3.5.7/32"])),
            Some("10.3.5.7/32".parse().unwrap())
        );
    }
}
