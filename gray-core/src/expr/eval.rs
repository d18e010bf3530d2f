//! The syntax tree, value semantics and the evaluator.

use std::cmp::Ordering;

use regex::Regex;

use std::fmt;

use super::limits::MAX_VARIABLES;

/// A byte range of the source.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
pub(super) enum Lit {
    Str(Box<str>),
    /// A validated plain decimal: `-?[0-9]+(\.[0-9]+)?`.
    Num(Box<str>),
    Bool(bool),
    Null,
}

/// Syntax tree. `&&` and `||` are n-ary, so the depth of the tree is bounded
/// by the parser's nesting limit, not by the length of the expression.
#[derive(Clone, Debug)]
pub(super) enum Node {
    Lit(Lit),
    /// Index into the expression's variables.
    Var(usize),
    Not(Box<Node>),
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Cmp {
        op: CmpOp,
        lhs: Box<Node>,
        rhs: Box<Node>,
        span: Span,
    },
    Matches {
        lhs: Box<Node>,
        /// The pattern as written, anchored as `^(?:pattern)$`.
        re: Regex,
        pattern: Box<str>,
        span: Span,
    },
    Contains {
        target: Box<Node>,
        needle: Box<str>,
        span: Span,
    },
}

/// A runtime value, borrowed from the tree or from the caller's lookup.
#[derive(Clone, Copy, Debug)]
enum Value<'a> {
    Null,
    Str(&'a str),
    /// Text of a number literal.
    Num(&'a str),
    Bool(bool),
}

impl Value<'_> {
    /// Boolean context: only `true` and the string "true" (any ASCII case).
    fn truthy(self) -> bool {
        match self {
            Value::Bool(b) => b,
            Value::Str(s) => s.eq_ignore_ascii_case("true"),
            Value::Null | Value::Num(_) => false,
        }
    }

    fn describe(self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Str(s) | Value::Num(s) => Some(s.to_owned()),
            Value::Bool(b) => Some(b.to_string()),
        }
    }
}

/// SpEL `==` (`Operator.equalityCheck`): values of different types are
/// unequal, strings compare exactly, numbers numerically.
fn equals(l: Value<'_>, r: Value<'_>) -> bool {
    match (l, r) {
        (Value::Null, Value::Null) => true,
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::Num(a), Value::Num(b)) => match (Decimal::parse(a), Decimal::parse(b)) {
            (Some(a), Some(b)) => a.cmp(&b) == Ordering::Equal,
            _ => a == b,
        },
        (Value::Bool(a), Value::Bool(b)) => a == b,
        _ => false,
    }
}

/// Nepxion's `DiscoveryTypeComparator`: null is least; numeric when both
/// sides read as `BigDecimal`; else same-type comparison; else `None` (SpEL
/// would throw).
fn order(l: Value<'_>, r: Value<'_>) -> Option<Ordering> {
    fn text(v: Value<'_>) -> Option<&str> {
        match v {
            Value::Str(s) | Value::Num(s) => Some(s),
            Value::Bool(_) | Value::Null => None,
        }
    }
    match (l, r) {
        (Value::Null, Value::Null) => return Some(Ordering::Equal),
        (Value::Null, _) => return Some(Ordering::Less),
        (_, Value::Null) => return Some(Ordering::Greater),
        _ => {}
    }
    if let (Some(a), Some(b)) = (text(l), text(r)) {
        // Plain non-negative integers (the usual `#H['score'] >= 90`) order by length, then
        // digits; the same answer as the decimal comparison below, without parsing.
        if plain_integer(a) && plain_integer(b) {
            return Some(a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        }
        if let (Some(x), Some(y)) = (Decimal::parse(a), Decimal::parse(b)) {
            return Some(x.cmp(&y));
        }
    }
    match (l, r) {
        (Value::Str(a), Value::Str(b)) => Some(java_string_cmp(a, b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

/// `0` or digits without a leading zero.
#[inline]
fn plain_integer(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && (b == b"0" || b[0] != b'0') && b.iter().all(u8::is_ascii_digit)
}

fn compare(op: CmpOp, l: Value<'_>, r: Value<'_>) -> bool {
    match op {
        CmpOp::Eq => equals(l, r),
        CmpOp::Ne => !equals(l, r),
        CmpOp::Lt => order(l, r) == Some(Ordering::Less),
        CmpOp::Le => matches!(order(l, r), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => order(l, r) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(order(l, r), Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// Java `String.compareTo`: lexicographic over UTF-16 code units.
pub(super) fn java_string_cmp(a: &str, b: &str) -> Ordering {
    // Up to the first difference, UTF-8 bytes and UTF-16 units agree; only
    // the tail after the shared prefix needs transcoding.
    let common = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let mut cut = common;
    while !a.is_char_boundary(cut) {
        cut -= 1;
    }
    a[cut..].encode_utf16().cmp(b[cut..].encode_utf16())
}

/// A decimal number read with Java `BigDecimal(String)` syntax, kept as a
/// view of the text so that comparing never allocates or rounds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Decimal<'a> {
    negative: bool,
    /// Mantissa digits, possibly with one `.`.
    mantissa: &'a [u8],
    /// Index, among the mantissa digits, of the first non-zero digit.
    first: usize,
    /// Index one past the last non-zero digit; `first == last` means zero.
    last: usize,
    /// The value is `0.d[first]..d[last-1] * 10^scale`.
    scale: i64,
}

impl<'a> Decimal<'a> {
    /// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, ASCII
    /// only, with an exponent that fits a Java `int`.
    pub(super) fn parse(s: &'a str) -> Option<Decimal<'a>> {
        let b = s.as_bytes();
        let mut i = 0;
        let negative = match b.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };
        let m_start = i;
        let (mut digits, mut int_digits, mut dot) = (0usize, 0usize, false);
        let (mut first, mut last) = (None, 0usize);
        while let Some(&c) = b.get(i) {
            match c {
                b'0'..=b'9' => {
                    if c != b'0' {
                        if first.is_none() {
                            first = Some(digits);
                        }
                        last = digits + 1;
                    }
                    digits += 1;
                    if !dot {
                        int_digits += 1;
                    }
                }
                b'.' if !dot => dot = true,
                _ => break,
            }
            i += 1;
        }
        if digits == 0 {
            return None;
        }
        let mantissa = &b[m_start..i];
        let mut exp: i64 = 0;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            let exp_negative = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let e_start = i;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                exp = exp * 10 + i64::from(c - b'0');
                if exp > i64::from(i32::MAX) + 1 {
                    return None;
                }
                i += 1;
            }
            if i == e_start {
                return None;
            }
            if exp_negative {
                exp = -exp;
            }
            if exp > i64::from(i32::MAX) {
                return None;
            }
        }
        if i != b.len() {
            return None;
        }
        let first = first.unwrap_or(0);
        let last = last.max(first);
        // Lengths are bounded by the 16 KiB source or by caller strings; both
        // fit easily, and `exp` is bounded by i32.
        let scale = int_digits as i64 - first as i64 + exp;
        Some(Decimal {
            negative,
            mantissa,
            first,
            last,
            scale,
        })
    }

    fn is_zero(&self) -> bool {
        self.first == self.last
    }

    fn significant(&self) -> impl Iterator<Item = u8> + 'a {
        self.mantissa
            .iter()
            .copied()
            .filter(|&c| c != b'.')
            .skip(self.first)
            .take(self.last - self.first)
    }

    fn cmp_magnitude(&self, other: &Decimal<'_>) -> Ordering {
        self.scale
            .cmp(&other.scale)
            // Trailing zeros are excluded, so a longer digit string with an
            // equal prefix is the larger number.
            .then_with(|| self.significant().cmp(other.significant()))
    }

    /// Exact numeric comparison (`BigDecimal.compareTo`).
    pub(super) fn cmp(&self, other: &Decimal<'_>) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) if other.negative => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, true) if self.negative => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => match (self.negative, other.negative) {
                (false, false) => self.cmp_magnitude(other),
                (true, true) => other.cmp_magnitude(self),
                (true, false) => Ordering::Less,
                (false, true) => Ordering::Greater,
            },
        }
    }
}

/// Evaluation state: the lookup, a per-call cache of looked-up variables,
/// and an optional step recorder.
struct Eval<'s, 'v, 'l> {
    src: &'s str,
    lookup: &'l mut dyn FnMut(usize) -> Option<&'v str>,
    /// `None` when the caller's lookup is cheap and caches itself.
    cache: Option<&'l mut [Option<Option<&'v str>>; MAX_VARIABLES]>,
    steps: Option<&'l mut Vec<ExprStep>>,
}

/// Evaluates `root`. Recursion depth is bounded by the parser's limits. With `cache`, each
/// variable is looked up at most once.
pub(super) fn run<'v>(
    src: &str,
    root: &Node,
    lookup: &mut dyn FnMut(usize) -> Option<&'v str>,
    steps: Option<&mut Vec<ExprStep>>,
    cache: bool,
) -> bool {
    // Only set up (1.5 KiB) when asked for.
    let mut storage;
    let cache = if cache {
        storage = [None; MAX_VARIABLES];
        Some(&mut storage)
    } else {
        None
    };
    let mut ev = Eval {
        src,
        lookup,
        cache,
        steps,
    };
    ev.value(root).truthy()
}

impl<'v> Eval<'_, 'v, '_> {
    fn var(&mut self, i: usize) -> Option<&'v str> {
        let Some(cache) = self.cache.as_mut() else {
            return (self.lookup)(i);
        };
        match cache.get(i) {
            Some(Some(cached)) => *cached,
            Some(None) => {
                let v = (self.lookup)(i);
                cache[i] = Some(v);
                v
            }
            // The parser never produces more than MAX_VARIABLES variables.
            None => (self.lookup)(i),
        }
    }

    #[inline(always)]
    fn record(&mut self, span: Span, l: Value<'_>, r: Value<'_>, result: bool) {
        if self.steps.is_some() {
            self.push_step(span, l, r, result);
        }
    }

    #[cold]
    fn push_step(&mut self, span: Span, l: Value<'_>, r: Value<'_>, result: bool) {
        if let Some(steps) = self.steps.as_deref_mut() {
            steps.push(ExprStep {
                text: self.src[span.start..span.end].to_owned(),
                left: l.describe(),
                right: r.describe(),
                result,
            });
        }
    }

    /// The value of an operand: literals and variables directly, anything else through
    /// [`Eval::value`] (saves a recursive call for the common `#H['a'] == 'b'`).
    #[inline(always)]
    fn operand<'n>(&mut self, node: &'n Node) -> Value<'n>
    where
        'v: 'n,
    {
        match node {
            Node::Lit(Lit::Str(s)) => Value::Str(s),
            Node::Lit(Lit::Num(n)) => Value::Num(n),
            Node::Lit(Lit::Bool(b)) => Value::Bool(*b),
            Node::Lit(Lit::Null) => Value::Null,
            Node::Var(i) => self.var(*i).map_or(Value::Null, Value::Str),
            other => self.value(other),
        }
    }

    fn value<'n>(&mut self, node: &'n Node) -> Value<'n>
    where
        'v: 'n,
    {
        match node {
            Node::Lit(_) | Node::Var(_) => self.operand(node),
            Node::Not(inner) => Value::Bool(!self.value(inner).truthy()),
            Node::And(items) => Value::Bool(items.iter().all(|item| self.value(item).truthy())),
            Node::Or(items) => Value::Bool(items.iter().any(|item| self.value(item).truthy())),
            Node::Cmp { op, lhs, rhs, span } => {
                let l = self.operand(lhs);
                let r = self.operand(rhs);
                let result = compare(*op, l, r);
                self.record(*span, l, r, result);
                Value::Bool(result)
            }
            Node::Matches {
                lhs,
                re,
                pattern,
                span,
            } => {
                let l = self.operand(lhs);
                let result = match l {
                    Value::Str(s) => re.is_match(s),
                    _ => false,
                };
                self.record(*span, l, Value::Str(pattern), result);
                Value::Bool(result)
            }
            Node::Contains {
                target,
                needle,
                span,
            } => {
                let t = self.operand(target);
                let result = match t {
                    Value::Str(s) => s.contains(&**needle),
                    _ => false,
                };
                self.record(*span, t, Value::Str(needle), result);
                Value::Bool(result)
            }
        }
    }
}

/// One evaluated comparison, `matches` or `.contains`, for explanations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprStep {
    /// The source text of the comparison, e.g. `#H['a'] == '1'`.
    pub text: String,
    /// The left operand's value; `None` for null.
    pub left: Option<String>,
    /// The right operand's value (the pattern for `matches`, the needle for
    /// `.contains`); `None` for null.
    pub right: Option<String>,
    /// The outcome.
    pub result: bool,
}

/// Shows e.g. `#H['a'] == '1' ("2" vs "1") -> false`.
impl fmt::Display for ExprStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn side(f: &mut fmt::Formatter<'_>, v: &Option<String>) -> fmt::Result {
            match v {
                Some(s) => write!(f, "{s:?}"),
                None => f.write_str("null"),
            }
        }
        write!(f, "{} (", self.text)?;
        side(f, &self.left)?;
        f.write_str(" vs ")?;
        side(f, &self.right)?;
        write!(f, ") -> {}", self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal<'_> {
        Decimal::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn bigdecimal_syntax() {
        for ok in [
            "0", "-0", "+1", "1.", ".5", "-.5", "1e3", "1E+3", "1.5e-7", "007", "0.000",
        ] {
            assert!(Decimal::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "-",
            "+",
            ".",
            "1..2",
            "1.2.3",
            "e5",
            "1e",
            "1e+",
            " 1",
            "1 ",
            "1,5",
            "0x10",
            "1L",
            "١",
            "1e2147483648",
            "NaN",
            "Infinity",
            "--1",
        ] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
        assert!(Decimal::parse("1e2147483647").is_some());
        assert!(Decimal::parse("1e-2147483648").is_some());
    }

    #[test]
    fn exact_ordering() {
        use Ordering::*;
        let cases = [
            ("1", "1.000", Equal),
            ("-0", "0.0", Equal),
            ("0e5", "-0.00", Equal),
            ("10", "9", Greater),
            ("-10", "-9", Less),
            ("-1", "0", Less),
            ("0", "-1", Greater),
            ("0.1", "0.10000000000000000000001", Less),
            ("1e3", "999", Greater),
            ("1e3", "1000.0", Equal),
            ("12.5e-1", "1.25", Equal),
            ("0.001", "1e-3", Equal),
            (
                "123456789012345678901234567890123456789",
                "123456789012345678901234567890123456790",
                Less,
            ),
            (
                "9999999999999999999999999999999999999999",
                "10000000000000000000000000000000000000000",
                Less,
            ),
            (
                "-9999999999999999999999999999999999999999",
                "-10000000000000000000000000000000000000000",
                Greater,
            ),
            ("1e2147483647", "1e2147483646", Greater),
            ("1e-2147483648", "0", Greater),
            ("-1e-2147483648", "0", Less),
            ("00012.3400", "12.34", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(dec(a).cmp(&dec(b)), want, "{a} vs {b}");
            assert_eq!(dec(b).cmp(&dec(a)), want.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn plain_integers_order_like_decimals() {
        let nums = [
            "0",
            "7",
            "9",
            "10",
            "42",
            "90",
            "100",
            "999",
            "1000",
            "12345678901234567890",
        ];
        for a in nums {
            for b in nums {
                assert!(plain_integer(a) && plain_integer(b));
                let want = dec(a).cmp(&dec(b));
                assert_eq!(order(Value::Str(a), Value::Num(b)), Some(want), "{a} {b}");
            }
        }
        for not_plain in ["", "01", "-1", "1.0", "1e2", "+1", " 1"] {
            assert!(!plain_integer(not_plain), "{not_plain}");
        }
    }

    #[test]
    fn java_string_order() {
        assert_eq!(java_string_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(java_string_cmp("ab", "abc"), Ordering::Less);
        assert_eq!(java_string_cmp("", ""), Ordering::Equal);
        assert_eq!(java_string_cmp("B", "a"), Ordering::Less);
        // U+1F600 is the surrogate pair D83D DE00 in UTF-16, which sorts
        // before U+FF61, although its UTF-8 bytes sort after.
        assert_eq!(java_string_cmp("x\u{1F600}", "x\u{FF61}"), Ordering::Less);
        assert_eq!(
            java_string_cmp("é\u{FF61}", "é\u{1F600}"),
            Ordering::Greater
        );
        // Shared prefix ending inside a multi-byte character.
        assert_eq!(java_string_cmp("\u{0101}", "\u{0102}"), Ordering::Less);
    }
}
