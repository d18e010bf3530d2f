//! Recursive-descent parser. Recursion only happens for `(` and `!`/`not`,
//! and the depth is checked before each such step.

use regex::{Regex, RegexBuilder};

use super::error::ExprError;
use super::eval::{CmpOp, Lit, Node, Span};
use super::lexer::{tokenize, Tok, Token};
use super::limits::{MAX_DEPTH, MAX_SOURCE_LEN, MAX_VARIABLES};

/// Limits for compiled `matches` patterns.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_NEST_LIMIT: u32 = 64;

pub(super) struct Parsed {
    pub root: Node,
    pub vars: Vec<Box<str>>,
}

/// Word tokens, matched case-insensitively except `T`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    And,
    Or,
    Not,
    Cmp(CmpOp),
    Matches,
    True,
    False,
    Null,
    Arithmetic,
    Instanceof,
    Between,
    New,
    Other,
}

fn classify(w: &str) -> Word {
    const WORDS: [(&str, Word); 16] = [
        ("and", Word::And),
        ("or", Word::Or),
        ("not", Word::Not),
        ("eq", Word::Cmp(CmpOp::Eq)),
        ("ne", Word::Cmp(CmpOp::Ne)),
        ("lt", Word::Cmp(CmpOp::Lt)),
        ("le", Word::Cmp(CmpOp::Le)),
        ("gt", Word::Cmp(CmpOp::Gt)),
        ("ge", Word::Cmp(CmpOp::Ge)),
        ("matches", Word::Matches),
        ("true", Word::True),
        ("false", Word::False),
        ("null", Word::Null),
        ("div", Word::Arithmetic),
        ("mod", Word::Arithmetic),
        ("instanceof", Word::Instanceof),
    ];
    if w.eq_ignore_ascii_case("between") {
        return Word::Between;
    }
    if w.eq_ignore_ascii_case("new") {
        return Word::New;
    }
    WORDS
        .iter()
        .find(|(k, _)| w.eq_ignore_ascii_case(k))
        .map_or(Word::Other, |&(_, word)| word)
}

struct Parser<'s> {
    src: &'s str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    vars: Vec<Box<str>>,
}

/// Parses and validates `src`.
pub(super) fn parse(src: &str) -> Result<Parsed, ExprError> {
    if src.len() > MAX_SOURCE_LEN {
        let mut cut = MAX_SOURCE_LEN;
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        return Err(ExprError::new(
            src,
            src[..cut].chars().count() + 1,
            format!(
                "expression is too long ({} bytes; the limit is {MAX_SOURCE_LEN})",
                src.len()
            ),
        ));
    }
    let toks = tokenize(src);
    if toks[0].kind == Tok::Eof {
        return Err(ExprError::new(src, 1, "expression is empty"));
    }
    let mut p = Parser {
        src,
        toks,
        pos: 0,
        depth: 0,
        vars: Vec::new(),
    };
    let root = p.or()?;
    if p.peek().kind != Tok::Eof {
        return Err(p.unexpected_after_operand(None));
    }
    Ok(Parsed { root, vars: p.vars })
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `toks` always ends with `Eof` or `Error`, and `pos` never moves
        // past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn peek2(&self) -> &Token {
        &self.toks[(self.pos + 1).min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if !matches!(t.kind, Tok::Eof | Tok::Error(_)) {
            self.pos += 1;
        }
        t
    }

    /// End byte of the last consumed token.
    fn prev_end(&self) -> usize {
        self.pos.checked_sub(1).map_or(0, |i| self.toks[i].end)
    }

    fn text(&self, t: &Token) -> &str {
        &self.src[t.start..t.end]
    }

    fn word(&self, t: &Token) -> Option<Word> {
        (t.kind == Tok::Ident).then(|| classify(self.text(t)))
    }

    /// An error at `t`; a lexical error token reports its own message.
    fn err(&self, t: &Token, msg: impl Into<String>) -> ExprError {
        match &t.kind {
            Tok::Error(lexical) => ExprError::new(self.src, t.col, &**lexical),
            _ => ExprError::new(self.src, t.col, msg),
        }
    }

    fn is_and(&self) -> bool {
        let t = self.peek();
        t.kind == Tok::AndAnd || self.word(t) == Some(Word::And)
    }

    fn is_or(&self) -> bool {
        let t = self.peek();
        t.kind == Tok::OrOr || self.word(t) == Some(Word::Or)
    }

    fn cmp_op(&self) -> Option<CmpOp> {
        let t = self.peek();
        match t.kind {
            Tok::Eq => Some(CmpOp::Eq),
            Tok::Ne => Some(CmpOp::Ne),
            Tok::Lt => Some(CmpOp::Lt),
            Tok::Le => Some(CmpOp::Le),
            Tok::Gt => Some(CmpOp::Gt),
            Tok::Ge => Some(CmpOp::Ge),
            _ => match self.word(t) {
                Some(Word::Cmp(op)) => Some(op),
                _ => None,
            },
        }
    }

    fn is_matches(&self) -> bool {
        self.word(self.peek()) == Some(Word::Matches)
    }

    /// Increments the nesting depth, or fails at `t` if it is exhausted.
    fn enter(&mut self, t: &Token) -> Result<(), ExprError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.err(
                t,
                format!(
                    "expression is nested too deeply (more than {MAX_DEPTH} levels of \
                     parentheses or `!`)"
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    /// `or := and (('||' | 'or') and)*`
    fn or(&mut self) -> Result<Node, ExprError> {
        let first = self.and()?;
        if !self.is_or() {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_or() {
            self.bump();
            items.push(self.and()?);
        }
        Ok(Node::Or(items.into_boxed_slice()))
    }

    /// `and := comparison (('&&' | 'and') comparison)*`
    fn and(&mut self) -> Result<Node, ExprError> {
        let first = self.comparison()?;
        if !self.is_and() {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.is_and() {
            self.bump();
            items.push(self.comparison()?);
        }
        Ok(Node::And(items.into_boxed_slice()))
    }

    /// `comparison := unary [cmp-op unary | 'matches' STRING]`
    fn comparison(&mut self) -> Result<Node, ExprError> {
        let start = self.peek().start;
        let lhs = self.unary()?;
        let node = if let Some(op) = self.cmp_op() {
            self.bump();
            let rhs = self.unary()?;
            Node::Cmp {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span: Span {
                    start,
                    end: self.prev_end(),
                },
            }
        } else if self.is_matches() {
            self.bump();
            let t = self.bump();
            let Tok::Str(pattern) = &t.kind else {
                return Err(self.err(
                    &t,
                    "the right side of `matches` must be a string literal (the regular expression)",
                ));
            };
            let re = compile_regex(pattern).map_err(|msg| self.err(&t, msg))?;
            Node::Matches {
                lhs: Box::new(lhs),
                re,
                pattern: pattern.clone(),
                span: Span { start, end: t.end },
            }
        } else {
            return Ok(lhs);
        };
        if self.cmp_op().is_some() || self.is_matches() {
            return Err(self.err(
                self.peek(),
                "comparisons cannot be chained; combine them with `&&` or `||`, \
                 or add parentheses",
            ));
        }
        Ok(node)
    }

    /// `unary := ('!' | 'not') unary | postfix`
    fn unary(&mut self) -> Result<Node, ExprError> {
        let t = self.peek().clone();
        if t.kind == Tok::Bang || self.word(&t) == Some(Word::Not) {
            self.enter(&t)?;
            self.bump();
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.postfix()
    }

    /// `postfix := primary ['.' 'contains' '(' STRING ')']`
    fn postfix(&mut self) -> Result<Node, ExprError> {
        let first = self.peek().clone();
        let target = self.primary()?;
        if self.peek().kind != Tok::Dot {
            return Ok(target);
        }
        let dot = self.bump();
        let name = self.peek().clone();
        if name.kind != Tok::Ident {
            return Err(self.err(&name, "expected a method name after `.`"));
        }
        let method = self.text(&name);
        if self.peek2().kind != Tok::LParen {
            return Err(self.err(
                &name,
                format!("property access `.{method}` is not supported"),
            ));
        }
        if method != "contains" {
            return Err(self.err(
                &name,
                format!(
                    "method `{method}(...)` is not supported; the only method is \
                     .contains('text')"
                ),
            ));
        }
        let target_ok = matches!(first.kind, Tok::Var(_) | Tok::Str(_))
            && matches!(target, Node::Var(_) | Node::Lit(Lit::Str(_)));
        if !target_ok {
            return Err(self.err(
                &dot,
                "`.contains(...)` can only be called on #H['name'] or a string literal",
            ));
        }
        self.bump();
        self.bump();
        let arg = self.bump();
        let Tok::Str(needle) = &arg.kind else {
            return Err(self.err(&arg, "`.contains` takes one string literal argument"));
        };
        let close = self.bump();
        if close.kind != Tok::RParen {
            return Err(self.err(&close, "`.contains` takes one string literal argument"));
        }
        if self.peek().kind == Tok::Dot {
            return Err(self.err(
                self.peek(),
                "method calls cannot be chained; `.contains(...)` returns a boolean",
            ));
        }
        Ok(Node::Contains {
            target: Box::new(target),
            needle: needle.clone(),
            span: Span {
                start: first.start,
                end: close.end,
            },
        })
    }

    /// `primary := '(' or ')' | VAR | STRING | NUMBER | true | false | null`
    fn primary(&mut self) -> Result<Node, ExprError> {
        let t = self.peek().clone();
        match &t.kind {
            Tok::LParen => {
                self.enter(&t)?;
                self.bump();
                let inner = self.or()?;
                if self.peek().kind != Tok::RParen {
                    return Err(self.unexpected_after_operand(Some(&t)));
                }
                self.bump();
                self.depth -= 1;
                Ok(inner)
            }
            Tok::Var(name) => {
                self.bump();
                let index = match self.vars.iter().position(|v| v == name) {
                    Some(i) => i,
                    None if self.vars.len() >= MAX_VARIABLES => {
                        let msg = format!("too many variables (the limit is {MAX_VARIABLES})");
                        return Err(self.err(&t, msg));
                    }
                    None => {
                        self.vars.push(name.clone());
                        self.vars.len() - 1
                    }
                };
                Ok(Node::Var(index))
            }
            Tok::Str(s) => {
                self.bump();
                Ok(Node::Lit(Lit::Str(s.clone())))
            }
            Tok::Num => {
                self.bump();
                Ok(Node::Lit(Lit::Num(self.text(&t).into())))
            }
            Tok::Ident => {
                let text = self.text(&t);
                let call = self.peek2().kind == Tok::LParen;
                let msg = match classify(text) {
                    Word::True => {
                        self.bump();
                        return Ok(Node::Lit(Lit::Bool(true)));
                    }
                    Word::False => {
                        self.bump();
                        return Ok(Node::Lit(Lit::Bool(false)));
                    }
                    Word::Null => {
                        self.bump();
                        return Ok(Node::Lit(Lit::Null));
                    }
                    Word::New => "object construction with `new` is not supported".to_owned(),
                    Word::Other if text == "T" && call => {
                        "type references `T(...)` are not supported".to_owned()
                    }
                    Word::Other if call => {
                        format!("function calls such as `{text}(...)` are not supported")
                    }
                    Word::Other => format!(
                        "unknown identifier `{text}`; variables are written #H['name'] and \
                         text must be quoted, as in '{text}'"
                    ),
                    _ => format!("expected a value, found the operator `{text}`"),
                };
                Err(self.err(&t, msg))
            }
            Tok::Eof => Err(self.err(&t, "expected a value, but the expression ended")),
            _ => Err(self.err(&t, format!("expected a value, found `{}`", self.text(&t)))),
        }
    }

    /// The error for a token that cannot follow a complete operand: at the
    /// end of the expression, or (with `open`) before the `)` closing `open`.
    fn unexpected_after_operand(&self, open: Option<&Token>) -> ExprError {
        let t = self.peek();
        let text = self.text(t);
        let msg = match (&t.kind, self.word(t)) {
            (Tok::RParen, _) => "unmatched `)`".to_owned(),
            (_, Some(Word::Arithmetic)) => "arithmetic is not supported".to_owned(),
            (_, Some(Word::Instanceof)) => "`instanceof` is not supported".to_owned(),
            (_, Some(Word::Between)) => "`between` is not supported".to_owned(),
            (Tok::Eof, _) => match open {
                Some(open) => format!("missing `)` to close the `(` at column {}", open.col),
                None => "unexpected end of expression".to_owned(),
            },
            (Tok::Comma, _) => "unexpected `,`".to_owned(),
            _ => match open {
                Some(open) => format!(
                    "expected `)` to close the `(` at column {}, or an operator such as \
                     `==`, `&&` or `||`, found `{text}`",
                    open.col
                ),
                None => format!("expected an operator such as `==`, `&&` or `||`, found `{text}`"),
            },
        };
        self.err(t, msg)
    }
}

/// Compiles a `matches` pattern for whole-string matching.
fn compile_regex(pattern: &str) -> Result<Regex, String> {
    let build = |p: &str| {
        RegexBuilder::new(p)
            .size_limit(REGEX_SIZE_LIMIT)
            .dfa_size_limit(REGEX_SIZE_LIMIT)
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
    };
    // Validate the pattern on its own first: wrapping an unbalanced pattern
    // such as `a)|(b` would change its meaning instead of failing.
    build(pattern)
        .and_then(|_| build(&format!("^(?:{pattern})$")))
        .map_err(|e| match e {
            regex::Error::Syntax(text) => {
                let detail = text
                    .lines()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or_else(|| text.lines().last().unwrap_or(""))
                    .trim();
                format!("invalid regular expression: {detail}")
            }
            regex::Error::CompiledTooBig(limit) => {
                format!("regular expression is too large (the limit is {limit} bytes compiled)")
            }
            other => format!("invalid regular expression: {other}"),
        })
}
