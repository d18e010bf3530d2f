//! Tokenizer. Rejects characters and constructs that can never be valid
//! (assignment, arithmetic, bean references, `?.`, projections, ...).

use super::error::ExprError;
use super::limits::{MAX_NUMBER_DIGITS, MAX_STRING_LEN};

/// Token kinds. `Num` and `Ident` carry no payload: their text is the
/// token's span in the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    /// `#H['name']`, with the unescaped name.
    Var(Box<str>),
    /// A string literal, unescaped.
    Str(Box<str>),
    /// A validated number literal: `-?[0-9]+(\.[0-9]+)?`.
    Num,
    /// A word: operator words, `true`/`false`/`null`, or anything else
    /// (which the parser rejects with a specific message).
    Ident,
    /// A lexical error, reported only if the parser gets this far, so that
    /// an earlier syntax error is reported first. Always the last token.
    Error(Box<str>),
    LParen,
    RParen,
    Dot,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    Bang,
    Eof,
}

/// A token with its byte span and 1-based character column.
#[derive(Clone, Debug)]
pub(super) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
    pub col: usize,
}

struct Lexer<'s> {
    src: &'s str,
    /// `(byte offset, char)`; the index into this is the 0-based column.
    chars: Vec<(usize, char)>,
    i: usize,
    toks: Vec<Token>,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

const ARITHMETIC: &str = "arithmetic is not supported";

/// Splits `src` into tokens, ending with `Tok::Eof` or `Tok::Error`.
pub(super) fn tokenize(src: &str) -> Vec<Token> {
    let mut lx = Lexer {
        src,
        chars: src.char_indices().collect(),
        i: 0,
        toks: Vec::new(),
    };
    if let Err(e) = lx.run() {
        let at = lx.byte(e.column - 1);
        lx.toks.push(Token {
            kind: Tok::Error(e.message.into_boxed_str()),
            start: at,
            end: at,
            col: e.column,
        });
    }
    lx.toks
}

impl Lexer<'_> {
    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).map(|&(_, c)| c)
    }

    fn byte(&self, i: usize) -> usize {
        self.chars.get(i).map_or(self.src.len(), |&(b, _)| b)
    }

    fn err(&self, i: usize, msg: impl Into<String>) -> ExprError {
        ExprError::new(self.src, i + 1, msg)
    }

    fn push(&mut self, kind: Tok, start: usize, end: usize) {
        self.toks.push(Token {
            kind,
            start: self.byte(start),
            end: self.byte(end),
            col: start + 1,
        });
        self.i = end;
    }

    /// Whether the previous token ends an operand, which makes a following
    /// `-` a binary minus rather than the sign of a number.
    fn after_operand(&self) -> bool {
        match self.toks.last() {
            Some(t) => match t.kind {
                Tok::Var(_) | Tok::Str(_) | Tok::Num | Tok::RParen => true,
                Tok::Ident => {
                    let w = &self.src[t.start..t.end];
                    ["true", "false", "null"]
                        .iter()
                        .any(|k| w.eq_ignore_ascii_case(k))
                }
                _ => false,
            },
            None => false,
        }
    }

    fn run(&mut self) -> Result<(), ExprError> {
        while let Some(c) = self.at(self.i) {
            let i = self.i;
            let next = self.at(i + 1);
            match c {
                ' ' | '\t' | '\r' | '\n' => self.i += 1,
                '(' => self.push(Tok::LParen, i, i + 1),
                ')' => self.push(Tok::RParen, i, i + 1),
                ',' => self.push(Tok::Comma, i, i + 1),
                '.' => {
                    if self.at(i + 2) == Some('[') {
                        match next {
                            Some('?') | Some('^') | Some('$') => {
                                return Err(
                                    self.err(i, "collection selection `.?[...]` is not supported")
                                )
                            }
                            Some('!') => {
                                return Err(
                                    self.err(i, "collection projection `.![...]` is not supported")
                                )
                            }
                            _ => {}
                        }
                    }
                    if next.is_some_and(|n| n.is_ascii_digit()) {
                        return Err(self.err(i, "a number must start with a digit, as in 0.5"));
                    }
                    self.push(Tok::Dot, i, i + 1);
                }
                '=' if next == Some('=') => self.push(Tok::Eq, i, i + 2),
                '=' => {
                    return Err(
                        self.err(i, "`=` (assignment) is not supported; use `==` to compare")
                    )
                }
                '!' if next == Some('=') => self.push(Tok::Ne, i, i + 2),
                '!' => self.push(Tok::Bang, i, i + 1),
                '<' if next == Some('=') => self.push(Tok::Le, i, i + 2),
                '<' => self.push(Tok::Lt, i, i + 1),
                '>' if next == Some('=') => self.push(Tok::Ge, i, i + 2),
                '>' => self.push(Tok::Gt, i, i + 1),
                '&' if next == Some('&') => self.push(Tok::AndAnd, i, i + 2),
                '&' => {
                    return Err(self.err(
                        i,
                        "`&` is not an operator; use `&&` or `and` \
                         (XML entities such as `&amp;` must be decoded first)",
                    ))
                }
                '|' if next == Some('|') => self.push(Tok::OrOr, i, i + 2),
                '|' => return Err(self.err(i, "`|` is not an operator; use `||` or `or`")),
                '-' if next.is_some_and(|n| n.is_ascii_digit()) && !self.after_operand() => {
                    self.number(i)?
                }
                '+' | '-' | '*' | '/' | '%' | '^' => return Err(self.err(i, ARITHMETIC)),
                '0'..='9' => self.number(i)?,
                '\'' | '"' => {
                    let (value, end) = self.string(i)?;
                    self.push(Tok::Str(value), i, end);
                }
                '#' => self.variable(i)?,
                '@' => return Err(self.err(i, "bean references (`@name`) are not supported")),
                '?' => {
                    let msg = match next {
                        Some('.') => "safe navigation `?.` is not supported",
                        Some(':') => "the Elvis operator `?:` is not supported",
                        Some('[') => "collection selection `?[...]` is not supported",
                        _ => "the conditional operator `? :` is not supported",
                    };
                    return Err(self.err(i, msg));
                }
                '{' | '}' => {
                    return Err(self.err(i, "inline lists and maps `{...}` are not supported"))
                }
                '[' | ']' => {
                    return Err(self.err(i, "indexing with `[...]` is only supported as #H['name']"))
                }
                c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                    let mut end = i + 1;
                    while self.at(end).is_some_and(is_word_char) {
                        end += 1;
                    }
                    self.push(Tok::Ident, i, end);
                }
                c => return Err(self.err(i, format!("unexpected character {c:?}"))),
            }
        }
        let n = self.chars.len();
        self.push(Tok::Eof, n, n);
        Ok(())
    }

    /// A number literal starting at `start` (a digit or `-`).
    fn number(&mut self, start: usize) -> Result<(), ExprError> {
        let digit = |lx: &Self, j: usize| lx.at(j).is_some_and(|c| c.is_ascii_digit());
        let mut end = start;
        if self.at(end) == Some('-') {
            end += 1;
        }
        let mut digits = 0;
        while digit(self, end) {
            end += 1;
            digits += 1;
        }
        if self.at(end) == Some('.') && digit(self, end + 1) {
            end += 1;
            while digit(self, end) {
                end += 1;
                digits += 1;
            }
        }
        let malformed = match self.at(end) {
            Some('.') => digit(self, end + 1),
            Some(c) => is_word_char(c),
            None => false,
        };
        if malformed {
            let mut bad = end;
            while self.at(bad).is_some_and(|c| is_word_char(c) || c == '.') {
                bad += 1;
            }
            let text = &self.src[self.byte(start)..self.byte(bad)];
            return Err(self.err(
                start,
                format!(
                    "unsupported number literal `{text}`; only plain decimal numbers \
                     such as 42, -7 or 1.5 are allowed"
                ),
            ));
        }
        if digits > MAX_NUMBER_DIGITS {
            return Err(self.err(
                start,
                format!("number literal is too long ({digits} digits; the limit is {MAX_NUMBER_DIGITS})"),
            ));
        }
        self.push(Tok::Num, start, end);
        Ok(())
    }

    /// A quoted string starting at `start`; a doubled quote stands for one.
    /// Returns the unescaped value and the index just past the closing quote.
    fn string(&self, start: usize) -> Result<(Box<str>, usize), ExprError> {
        let quote = self.at(start).unwrap_or('\'');
        let mut value = String::new();
        let mut j = start + 1;
        loop {
            match self.at(j) {
                None => return Err(self.err(start, "unterminated string literal")),
                Some(c) if c == quote => {
                    if self.at(j + 1) == Some(quote) {
                        value.push(quote);
                        j += 2;
                    } else {
                        j += 1;
                        break;
                    }
                }
                Some(c) => {
                    value.push(c);
                    j += 1;
                }
            }
        }
        if value.len() > MAX_STRING_LEN {
            return Err(self.err(
                start,
                format!(
                    "string literal is too long ({} bytes; the limit is {MAX_STRING_LEN})",
                    value.len()
                ),
            ));
        }
        Ok((value.into_boxed_str(), j))
    }

    /// `#H['name']` starting at `start` (the `#`).
    fn variable(&mut self, start: usize) -> Result<(), ExprError> {
        let mut j = start + 1;
        while self.at(j).is_some_and(is_word_char) {
            j += 1;
        }
        let name = &self.src[self.byte(start + 1)..self.byte(j)];
        if name.is_empty() {
            return Err(self.err(
                start,
                "`#` must be followed by a variable name; the only variable is #H['name']",
            ));
        }
        if name != "H" {
            return Err(self.err(
                start,
                format!("variable `#{name}` is not supported; the only variable is #H['name']"),
            ));
        }
        if self.at(j) != Some('[') {
            return Err(self.err(
                start,
                "#H must be indexed by a quoted name, as in #H['name']",
            ));
        }
        j += 1;
        let no_spaces = "write variables as #H['name'], with no spaces inside the brackets";
        match self.at(j) {
            Some('\'') | Some('"') => {}
            Some(c) if c.is_whitespace() => return Err(self.err(j, no_spaces)),
            _ => return Err(self.err(j, "#H must be indexed by a quoted name, as in #H['name']")),
        }
        let name_col = j;
        let (value, after) = self.string(j)?;
        match self.at(after) {
            Some(']') => {}
            Some(c) if c.is_whitespace() => return Err(self.err(after, no_spaces)),
            _ => return Err(self.err(after, "expected `]` after the variable name")),
        }
        if value.is_empty() {
            return Err(self.err(name_col, "variable name must not be empty"));
        }
        if value.chars().any(char::is_whitespace) {
            return Err(self.err(name_col, "variable name must not contain whitespace"));
        }
        if value.contains(['\'', '"']) {
            return Err(self.err(name_col, "variable name must not contain quotes"));
        }
        self.push(Tok::Var(value), start, after + 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).into_iter().map(|t| t.kind).collect()
    }

    /// The column and message of the lexical error in `src`.
    fn lex_err(src: &str) -> (usize, String) {
        match tokenize(src).pop() {
            Some(Token {
                kind: Tok::Error(msg),
                col,
                ..
            }) => (col, msg.into()),
            other => panic!("{src}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn tokens_and_spans() {
        let toks = tokenize("#H['a-b.c'] >= -1.5&&!'x'");
        let k: Vec<Tok> = toks.iter().map(|t| t.kind.clone()).collect();
        assert_eq!(
            k,
            [
                Tok::Var("a-b.c".into()),
                Tok::Ge,
                Tok::Num,
                Tok::AndAnd,
                Tok::Bang,
                Tok::Str("x".into()),
                Tok::Eof
            ]
        );
        assert_eq!((toks[2].start, toks[2].end, toks[2].col), (15, 19, 16));
        assert_eq!(toks[6].col, 26);
    }

    #[test]
    fn minus_after_operand_is_arithmetic() {
        assert_eq!(kinds("(-1)")[1], Tok::Num);
        assert_eq!(kinds("== -1")[1], Tok::Num);
        for src in ["1 -1", "1-1", "'a'-1", "#H['a']-1", "(1)-1", "true -1"] {
            assert_eq!(lex_err(src).1, ARITHMETIC, "{src}");
        }
    }

    #[test]
    fn columns_count_chars_not_bytes() {
        let toks = tokenize("'äöü' == 'ß'");
        assert_eq!(toks[1].col, 7);
        assert_eq!(toks[2].col, 10);
        assert_eq!(lex_err("'日本' = 1").0, 6);
    }
}
