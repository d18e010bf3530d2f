//! Rule-condition expressions: a safe, closed subset of Spring SpEL.
//!
//! Nepxion Discovery writes blue-green and gray conditions as SpEL, e.g.
//! `#H['a'] == '1' && #H['b'] != '2'`, and evaluates them with a full SpEL
//! engine (which allows `T(java.lang.Runtime)` and friends). This module
//! accepts only the part of the language that rule conditions need, rejects
//! everything else when the rule is *parsed*, and evaluates without
//! allocating and without any runtime error.
//!
//! ```
//! use gray_core::expr::Expr;
//!
//! let expr = Expr::parse("#H['a'] == '1' && #H['b'] != '2'").unwrap();
//! assert_eq!(&*expr.variables()[0], "a");
//! assert_eq!(expr.reference_count(), 2);
//!
//! // `lookup(i)` returns the value of `variables()[i]`, or `None` if absent.
//! let headers = [("a", "1")];
//! let names = expr.variables();
//! let mut lookup = |i: usize| {
//!     headers.iter().find(|(k, _)| *k == &*names[i]).map(|(_, v)| *v)
//! };
//! assert!(expr.eval(&mut lookup)); // b is absent, and null != '2'
//!
//! let err = Expr::parse("T(java.lang.Runtime).getRuntime()").unwrap_err();
//! assert_eq!(err.column(), 1);
//! ```
//!
//! # Language
//!
//! * **Variables**: `#H['name']` or `#H["name"]`, written without spaces
//!   inside the brackets. The name is non-empty and has no whitespace or
//!   quotes. An absent variable is `null`.
//! * **Literals**: `'text'` (a doubled `''` is a quote), `"text"` (a doubled
//!   `""` is a quote; backslashes are never escapes), plain decimal numbers
//!   `42`, `-7`, `1.25` (no exponent or type suffix), and the
//!   case-insensitive words `true`, `false`, `null`.
//! * **Comparison**: `==` `eq`, `!=` `ne`, `<` `lt`, `<=` `le`, `>` `gt`,
//!   `>=` `ge`; `x matches 'regex'`; `x.contains('text')`.
//! * **Logic**: `&&` `and`, `||` `or`, `!` `not`, parentheses. Operator words
//!   are case-insensitive. Precedence from tightest: `!`, comparison and
//!   `matches` (not chainable), `&&`, `||`. `&&` and `||` short-circuit.
//!
//! Everything else is a parse error: `T(...)`, `new`, `#this`, `#root` and
//! other variables, methods other than `.contains`, property access, `@bean`,
//! `?.`, `?:`, `? :`, `.![...]`, `.?[...]`, inline lists, indexing other than
//! `#H[...]`, `instanceof`, `between`, arithmetic, assignment and unknown
//! identifiers.
//!
//! # Semantics (Nepxion = SpEL + `DiscoveryTypeComparator`)
//!
//! * `==` / `!=`: string with string is exact (`'1.0' == '1.00'` is false);
//!   number literal with number literal is numeric (`1 == 1.0`); boolean with
//!   boolean; `null == null` is true; `null` equals nothing else; any other
//!   mix of types is unequal, so `#H['a'] == 1` is **always false** (SpEL
//!   compares a `String` with an `Integer` as different types).
//! * `<` `<=` `>` `>=`: `null` is less than everything, and equal to `null`.
//!   If both sides read as decimal numbers (strings included, with Java
//!   `BigDecimal` syntax: optional sign, optional fraction, optional
//!   exponent, ASCII digits only), they are compared exactly as numbers of
//!   any length. Otherwise two strings are compared like Java
//!   `String.compareTo` (UTF-16 code units), two booleans as `false < true`,
//!   and any other mix (e.g. `'abc' < 5`) is false.
//! * `matches` is Java `String.matches`: the *whole* string must match. The
//!   pattern must be a string literal and is compiled when the expression is
//!   parsed, with Rust `regex` syntax (linear time; look-around,
//!   back-references and possessive quantifiers are parse errors; `\d`,
//!   `\w`, `\s`, `\b` are Unicode-aware, unlike Java's ASCII defaults).
//!   A non-string left side (e.g. `null`) does not match.
//! * `.contains('text')` is a substring test on a variable or a string
//!   literal; `null` does not contain anything.
//! * Where a boolean is needed (the whole expression, `&&`, `||`, `!`), a
//!   value is true only if it is boolean `true` or the string `true` in any
//!   ASCII case. (Spring's converter would also accept `yes`, `on`, `1` and
//!   surrounding spaces; these are false here.)
//!
//! Differences from Nepxion, all deliberate:
//!
//! * There are no runtime errors. Where SpEL throws (`null matches 'x'`,
//!   `null.contains('x')`, `'abc' < 5`, `!null`), Nepxion makes the **whole**
//!   expression false; here only that comparison is false (or, for `!`, the
//!   operand is false). The outcome differs only when such a comparison sits
//!   under `!` or beside `||`.
//! * `#H["name"]` is accepted; Nepxion's header extraction only recognises
//!   `#H['name']`, so there it would always be null.
//! * Number literals are exact decimals rather than Java `int`/`double`, so
//!   large literals do not overflow or round.
//!
//! # Limits
//!
//! Source text at most 16 KiB, string literals at most 4 KiB, number literals
//! at most 100 digits, at most 64 distinct variables, and at most 64 nested
//! parentheses or `!`/`not` operators. The parser checks the nesting depth
//! before it recurses, so hostile input cannot overflow the stack.

use std::fmt;
use std::str::FromStr;

mod error;
mod eval;
mod lexer;
mod limits;
mod parser;

pub use error::ExprError;
pub use eval::ExprStep;
pub use limits::{MAX_DEPTH, MAX_NUMBER_DIGITS, MAX_SOURCE_LEN, MAX_STRING_LEN, MAX_VARIABLES};

use eval::Node;

/// The distinct `#H['name']` variables of `src` in order of first appearance, read by the
/// lexer alone: no parse, no regex compiled (for questions about a spec, such as which request
/// fields it reads). Stops at the first lexical error.
pub(crate) fn variable_names(src: &str) -> Vec<Box<str>> {
    let mut out: Vec<Box<str>> = Vec::new();
    for t in lexer::tokenize(src) {
        match t.kind {
            lexer::Tok::Var(v) if !out.contains(&v) => out.push(v),
            lexer::Tok::Error(_) | lexer::Tok::Eof => break,
            _ => {}
        }
    }
    out
}

/// A parsed, validated condition expression.
///
/// Cheap to clone (the compiled regular expressions are shared) and safe to
/// share between threads.
#[derive(Clone)]
pub struct Expr {
    src: Box<str>,
    vars: Box<[Box<str>]>,
    refs: usize,
    root: Node,
}

impl Expr {
    /// Parses and validates `src`.
    ///
    /// Everything outside the supported subset is rejected here, with the
    /// 1-based column of the offending character.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let parsed = parser::parse(src)?;
        Ok(Expr {
            src: src.into(),
            vars: parsed.vars.into_boxed_slice(),
            refs: src.matches("#H[").count(),
            root: parsed.root,
        })
    }

    /// The source text, exactly as given to [`Expr::parse`].
    pub fn source(&self) -> &str {
        &self.src
    }

    /// Distinct variable names in order of first appearance.
    pub fn variables(&self) -> &[Box<str>] {
        &self.vars
    }

    /// Number of `#H[` occurrences in the source text.
    ///
    /// Nepxion stable-sorts conditions by this count, descending, so that
    /// more specific conditions are tried first. Like Nepxion, this counts
    /// the raw text, including repeated references to one variable.
    pub fn reference_count(&self) -> usize {
        self.refs
    }

    /// Evaluates the expression.
    ///
    /// `lookup(i)` must return the value of `variables()[i]`, or `None` if it
    /// is absent. Each variable is looked up at most once per call, and only
    /// if evaluation reaches it. This does not allocate (apart from the
    /// regex engine's per-thread scratch space on first use).
    pub fn eval<'v>(&self, lookup: &mut dyn FnMut(usize) -> Option<&'v str>) -> bool {
        eval::run(&self.src, &self.root, lookup, None, true)
    }

    /// [`Expr::eval`] for a `lookup` that is cheap to repeat (it caches itself): a variable
    /// used twice is looked up twice, and no per-call cache is set up.
    pub(crate) fn eval_uncached<'v>(
        &self,
        lookup: &mut dyn FnMut(usize) -> Option<&'v str>,
    ) -> bool {
        eval::run(&self.src, &self.root, lookup, None, false)
    }

    /// Evaluates like [`Expr::eval`] and also records every comparison,
    /// `matches` and `.contains` that was evaluated, in evaluation order.
    pub fn eval_explained<'v>(
        &self,
        lookup: &mut dyn FnMut(usize) -> Option<&'v str>,
    ) -> (bool, Vec<ExprStep>) {
        let mut steps = Vec::new();
        let result = eval::run(&self.src, &self.root, lookup, Some(&mut steps), true);
        (result, steps)
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expr")
            .field("source", &self.src)
            .field("variables", &self.vars)
            .finish()
    }
}

/// Shows the source text.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.src)
    }
}

/// Same as [`Expr::parse`].
impl FromStr for Expr {
    type Err = ExprError;

    fn from_str(src: &str) -> Result<Expr, ExprError> {
        Expr::parse(src)
    }
}

#[cfg(test)]
mod tests;
