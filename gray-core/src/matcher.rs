//! Value matchers for cookies, headers, query parameters, path and host.
//!
//! A [`ValueMatcher`] is compiled once from a [`ValueMatchSpec`] (regexes are built here, never
//! per request) and then tests an `Option<&str>`: `None` means the value is missing.
//!
//! Missing values have one meaning per operator: `present` → false, `absent` → true, every
//! other operator → false, with or without `invert` (`invert` means "present and not
//! matching"; wrap a condition in `not` for "missing or not matching").

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::spec::ValueMatchSpec;

/// Compiled regexes may use at most this much memory (untrusted configs stay bounded).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
enum Op {
    Equals(Box<str>),
    OneOf(Box<[Box<str>]>),
    /// A regex, and the same test without the regex engine when the pattern is a plain
    /// literal (see [`Literal::of`]).
    Regex(Regex, Option<Literal>),
    Prefix(Box<str>),
    Suffix(Box<str>),
    Contains(Box<str>),
    Range(Option<f64>, Option<f64>),
    Present,
    Absent,
}

/// Where a literal regex must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anchor {
    /// `^lit$`
    Whole,
    /// `^lit`
    Start,
    /// `lit$`
    End,
    /// `lit`
    Anywhere,
}

/// A regex that is an ASCII literal with optional `^`/`$` anchors, such as seed 000's
/// `aaa$`. Testing it with byte comparisons gives the same answer as the regex engine at a
/// fraction of the cost, which matters because such patterns are the most common rules.
#[derive(Debug, Clone)]
struct Literal {
    text: Box<str>,
    anchor: Anchor,
}

impl Literal {
    /// The literal form of `pattern`, if it has one. Case-insensitive patterns qualify only
    /// when ASCII case folding is the whole story: Unicode also folds `k` with the Kelvin sign
    /// and `s` with the long s, so literals containing those letters keep the regex engine.
    fn of(pattern: &str, ignore_case: bool) -> Option<Literal> {
        let (start, rest) = match pattern.strip_prefix('^') {
            Some(r) => (true, r),
            None => (false, pattern),
        };
        let (end, text) = match rest.strip_suffix('$') {
            Some(t) => (true, t),
            None => (false, rest),
        };
        let plain = |c: char| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '/' | ':' | '=' | '@' | ',' | '%' | '~')
        };
        if text.is_empty() || !text.chars().all(plain) {
            return None;
        }
        if ignore_case && text.chars().any(|c| matches!(c, 'k' | 'K' | 's' | 'S')) {
            return None;
        }
        let anchor = match (start, end) {
            (true, true) => Anchor::Whole,
            (true, false) => Anchor::Start,
            (false, true) => Anchor::End,
            (false, false) => Anchor::Anywhere,
        };
        Some(Literal {
            text: text.into(),
            anchor,
        })
    }
}

/// A compiled value test.
#[derive(Debug, Clone)]
pub struct ValueMatcher {
    op: Op,
    ignore_case: bool,
    invert: bool,
}

impl ValueMatcher {
    /// Compiles a spec. `force_ignore_case` is used for hosts.
    pub(crate) fn compile(spec: &ValueMatchSpec, force_ignore_case: bool) -> Result<ValueMatcher> {
        let ignore_case = spec.ignore_case || force_ignore_case;
        let mut ops: Vec<(&str, Op)> = Vec::new();
        if let Some(v) = &spec.equals {
            ops.push(("equals", Op::Equals(v.as_str().into())));
        }
        if let Some(v) = &spec.one_of {
            if v.is_empty() {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    "in",
                    "`in` needs at least one value",
                ));
            }
            ops.push((
                "in",
                Op::OneOf(v.iter().map(|s| s.as_str().into()).collect()),
            ));
        }
        if let Some(p) = &spec.regex {
            let re = RegexBuilder::new(p)
                .case_insensitive(ignore_case)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| Error::at(ErrorKind::InvalidRegex, "regex", regex_message(p, &e)))?;
            ops.push(("regex", Op::Regex(re, Literal::of(p, ignore_case))));
        }
        if let Some(v) = &spec.prefix {
            ops.push(("prefix", Op::Prefix(v.as_str().into())));
        }
        if let Some(v) = &spec.suffix {
            ops.push(("suffix", Op::Suffix(v.as_str().into())));
        }
        if let Some(v) = &spec.contains {
            ops.push(("contains", Op::Contains(v.as_str().into())));
        }
        if let Some(r) = &spec.range {
            if r.min.is_none() && r.max.is_none() {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    "range",
                    "a range needs `min`, `max` or both",
                ));
            }
            if r.min.is_some_and(f64::is_nan) || r.max.is_some_and(f64::is_nan) {
                return Err(Error::at(
                    ErrorKind::InvalidValue,
                    "range",
                    "range bounds must be numbers",
                ));
            }
            if let (Some(a), Some(b)) = (r.min, r.max) {
                if a > b {
                    return Err(Error::at(
                        ErrorKind::InvalidValue,
                        "range",
                        format!("range min {a} is greater than max {b}"),
                    ));
                }
            }
            ops.push(("range", Op::Range(r.min, r.max)));
        }
        match spec.present {
            Some(true) => ops.push(("present", Op::Present)),
            Some(false) => ops.push(("present", Op::Absent)),
            None => {}
        }
        match spec.absent {
            Some(true) => ops.push(("absent", Op::Absent)),
            Some(false) => ops.push(("absent", Op::Present)),
            None => {}
        }
        if ops.len() > 1 {
            let names: Vec<&str> = ops.iter().map(|(n, _)| *n).collect();
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "",
                format!(
                    "give exactly one operator, found {}; combine several with `all` or `any`",
                    names.join(", ")
                ),
            ));
        }
        let Some((_, op)) = ops.pop() else {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "",
                "no operator: give one of equals, in, regex, prefix, suffix, contains, range, present, absent",
            ));
        };
        if spec.invert && matches!(op, Op::Present | Op::Absent) {
            return Err(Error::at(
                ErrorKind::InvalidValue,
                "invert",
                "`invert` cannot be combined with present/absent; use the other one",
            ));
        }
        Ok(ValueMatcher {
            op,
            ignore_case,
            invert: spec.invert,
        })
    }

    /// Tests a value (`None` = missing).
    #[inline]
    pub fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            return matches!(self.op, Op::Absent);
        };
        let hit = match &self.op {
            Op::Present => return true,
            Op::Absent => return false,
            Op::Equals(e) => self.eq(v, e),
            Op::OneOf(list) => list.iter().any(|e| self.eq(v, e)),
            Op::Regex(_, Some(lit)) => match lit.anchor {
                Anchor::Whole => self.eq(v, &lit.text),
                Anchor::Start => self.starts_with(v, &lit.text),
                Anchor::End => self.ends_with(v, &lit.text),
                Anchor::Anywhere => self.contains(v, &lit.text),
            },
            Op::Regex(re, None) => re.is_match(v),
            Op::Prefix(p) => self.starts_with(v, p),
            Op::Suffix(s) => self.ends_with(v, s),
            Op::Contains(c) => self.contains(v, c),
            Op::Range(min, max) => match v.trim().parse::<f64>() {
                Ok(n) if !n.is_nan() => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
                _ => false,
            },
        };
        hit != self.invert
    }

    #[inline]
    fn starts_with(&self, v: &str, p: &str) -> bool {
        v.len() >= p.len() && v.is_char_boundary(p.len()) && self.eq(&v[..p.len()], p)
    }

    #[inline]
    fn ends_with(&self, v: &str, s: &str) -> bool {
        v.len() >= s.len()
            && v.is_char_boundary(v.len() - s.len())
            && self.eq(&v[v.len() - s.len()..], s)
    }

    #[inline]
    fn contains(&self, v: &str, c: &str) -> bool {
        if self.ignore_case {
            contains_ignore_ascii_case(v.as_bytes(), c.as_bytes())
        } else {
            v.contains(c)
        }
    }

    #[inline]
    fn eq(&self, a: &str, b: &str) -> bool {
        if self.ignore_case {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }
}

impl fmt::Display for ValueMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.invert {
            f.write_str("not ")?;
        }
        match &self.op {
            Op::Equals(v) => write!(f, "equals {v:?}")?,
            Op::OneOf(v) => write!(f, "in {v:?}")?,
            Op::Regex(r, _) => write!(f, "matches /{}/", r.as_str())?,
            Op::Prefix(v) => write!(f, "starts with {v:?}")?,
            Op::Suffix(v) => write!(f, "ends with {v:?}")?,
            Op::Contains(v) => write!(f, "contains {v:?}")?,
            Op::Range(a, b) => match (a, b) {
                (Some(a), Some(b)) => write!(f, "in range {a}..={b}")?,
                (Some(a), None) => write!(f, ">= {a}")?,
                (None, Some(b)) => write!(f, "<= {b}")?,
                (None, None) => f.write_str("any number")?,
            },
            Op::Present => f.write_str("is present")?,
            Op::Absent => f.write_str("is absent")?,
        }
        if self.ignore_case {
            f.write_str(" (ignoring case)")?;
        }
        Ok(())
    }
}

fn contains_ignore_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// A one-line regex error message (the regex crate's own is multi-line).
pub(crate) fn regex_message(pattern: &str, e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(limit) => {
            format!("regex {pattern:?} compiles to more than {limit} bytes; simplify it")
        }
        other => {
            let text = other.to_string();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            format!(
                "regex {pattern:?} does not compile: {}",
                last.trim_start_matches("error: ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RangeSpec;

    fn m(f: impl FnOnce(&mut ValueMatchSpec)) -> ValueMatcher {
        let mut s = ValueMatchSpec::default();
        f(&mut s);
        ValueMatcher::compile(&s, false).unwrap()
    }

    #[test]
    fn literal_regexes_take_the_shortcut_only_when_exact() {
        assert_eq!(
            Literal::of("aaa$", true).map(|l| l.anchor),
            Some(Anchor::End)
        );
        assert_eq!(
            Literal::of("^v2", false).map(|l| l.anchor),
            Some(Anchor::Start)
        );
        assert_eq!(
            Literal::of("^on$", false).map(|l| l.anchor),
            Some(Anchor::Whole)
        );
        assert_eq!(
            Literal::of("beta", false).map(|l| l.anchor),
            Some(Anchor::Anywhere)
        );
        for not_literal in ["a.c", "a+", "^$", "", "a\\$", "(a)", "a$$", "[a]"] {
            assert!(Literal::of(not_literal, false).is_none(), "{not_literal}");
        }
        // Unicode folds k with U+212A and s with U+017F: those keep the regex engine.
        assert!(Literal::of("desk$", true).is_none());
        assert!(Literal::of("desk$", false).is_some());
        let r = m(|s| {
            s.regex = Some("desk$".into());
            s.ignore_case = true;
        });
        assert!(r.matches(Some("DES\u{212A}")));
    }

    proptest::proptest! {
        /// The literal shortcut answers exactly what the regex engine answers.
        #[test]
        fn literal_shortcut_agrees_with_the_regex(
            pattern in "\\^?[aAkKsS0-9_:-]{1,4}\\$?",
            value in "[aAkKsSbB0-9_:\u{212A}\u{17F}é-]{0,8}",
            ignore_case: bool,
        ) {
            let spec = ValueMatchSpec { regex: Some(pattern.clone()), ignore_case, ..Default::default() };
            let fast = ValueMatcher::compile(&spec, false).unwrap();
            let re = RegexBuilder::new(&pattern).case_insensitive(ignore_case).build().unwrap();
            proptest::prop_assert_eq!(fast.matches(Some(&value)), re.is_match(&value), "{} {}", pattern, value);
        }
    }

    #[test]
    fn seed_000_case_insensitive_suffix_regex() {
        let r = m(|s| {
            s.regex = Some("aaa$".into());
            s.ignore_case = true;
        });
        assert!(r.matches(Some("user-aaa")));
        assert!(r.matches(Some("USER-AAA")));
        assert!(!r.matches(Some("aaab")));
        assert!(!r.matches(None));
    }

    #[test]
    fn operators_and_missing_values() {
        let eq = m(|s| s.equals = Some("1".into()));
        assert!(eq.matches(Some("1")) && !eq.matches(Some("2")) && !eq.matches(None));
        let inv = m(|s| {
            s.equals = Some("1".into());
            s.invert = true;
        });
        assert!(!inv.matches(Some("1")) && inv.matches(Some("2")));
        assert!(!inv.matches(None), "invert never matches a missing value");
        let pre = m(|s| s.prefix = Some("ab".into()));
        assert!(pre.matches(Some("abc")) && !pre.matches(Some("a")) && !pre.matches(Some("xab")));
        let suf = m(|s| {
            s.suffix = Some("AA".into());
            s.ignore_case = true;
        });
        assert!(suf.matches(Some("xaa")) && !suf.matches(Some("a")));
        assert!(!suf.matches(Some("日本")), "no panic on char boundaries");
        let con = m(|s| {
            s.contains = Some("Mid".into());
            s.ignore_case = true;
        });
        assert!(con.matches(Some("xxMIDyy")) && !con.matches(Some("mi")));
        let one = m(|s| s.one_of = Some(vec!["a".into(), "b".into()]));
        assert!(one.matches(Some("b")) && !one.matches(Some("c")));
        let pres = m(|s| s.present = Some(true));
        assert!(pres.matches(Some("")) && !pres.matches(None));
        let abs = m(|s| s.absent = Some(true));
        assert!(abs.matches(None) && !abs.matches(Some("x")));
        let not_pres = m(|s| s.present = Some(false));
        assert!(not_pres.matches(None));
    }

    #[test]
    fn numeric_range() {
        let r = m(|s| {
            s.range = Some(RangeSpec {
                min: Some(10.0),
                max: Some(20.0),
            })
        });
        assert!(r.matches(Some("10")) && r.matches(Some(" 20 ")) && r.matches(Some("15.5")));
        assert!(!r.matches(Some("9.99")) && !r.matches(Some("abc")) && !r.matches(Some("NaN")));
        let open = m(|s| {
            s.range = Some(RangeSpec {
                min: None,
                max: Some(0.0),
            })
        });
        assert!(open.matches(Some("-5")) && !open.matches(Some("1")));
    }

    #[test]
    fn bad_specs_are_rejected_with_reasons() {
        let bad = |f: fn(&mut ValueMatchSpec)| {
            let mut s = ValueMatchSpec::default();
            f(&mut s);
            ValueMatcher::compile(&s, false).unwrap_err()
        };
        let e = bad(|s| s.regex = Some("(unclosed".into()));
        assert_eq!(e.kind(), ErrorKind::InvalidRegex);
        assert!(e.message().contains("(unclosed"), "{e}");
        assert!(!e.message().contains('\n'));
        let e = bad(|s| {
            s.equals = Some("a".into());
            s.prefix = Some("b".into());
        });
        assert!(e.message().contains("exactly one operator"), "{e}");
        let e = bad(|_| {});
        assert!(e.message().contains("no operator"), "{e}");
        let e = bad(|s| {
            s.range = Some(RangeSpec {
                min: Some(2.0),
                max: Some(1.0),
            })
        });
        assert!(e.message().contains("greater"), "{e}");
        let e = bad(|s| s.one_of = Some(vec![]));
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        let e = bad(|s| s.regex = Some("\\w{1000}{1000}".into()));
        assert_eq!(e.kind(), ErrorKind::InvalidRegex);
    }
}
