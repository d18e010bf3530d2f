//! [`ExprError`]: why an expression was rejected, with the column and a caret.

use std::fmt;

/// Why an expression was rejected.
///
/// `Display` gives the message, the source and a caret under the column:
///
/// ```text
/// invalid expression at column 11: `=` (assignment) is not supported; use `==` to compare
///   #H['a'] === '1'
///             ^
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    src: Box<str>,
    pub(super) column: usize,
    pub(super) message: String,
}

impl ExprError {
    pub(crate) fn new(src: &str, column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            src: src.into(),
            column,
            message: message.into(),
        }
    }

    /// The 1-based column, counted in characters, of the offending text. One
    /// past the last character if the expression ended too early.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong, without position information.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The rejected source text.
    pub fn source_text(&self) -> &str {
        &self.src
    }
}

/// Characters of source shown around the error column in long expressions.
const ERROR_WINDOW: usize = 60;

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid expression at column {}: {}\n  ",
            self.column, self.message
        )?;
        let total = self.src.chars().count();
        let at = self.column.saturating_sub(1).min(total);
        let (start, end) = if total <= ERROR_WINDOW + 12 {
            (0, total)
        } else {
            let end = (at.saturating_sub(ERROR_WINDOW / 2) + ERROR_WINDOW).min(total);
            (end.saturating_sub(ERROR_WINDOW), end)
        };
        let mut caret = at - start;
        if start > 0 {
            f.write_str("…")?;
            caret += 1;
        }
        for c in self.src.chars().skip(start).take(end - start) {
            // One column per character, so the caret lines up.
            let c = if c.is_control() { ' ' } else { c };
            write!(f, "{c}")?;
        }
        if end < total {
            f.write_str("…")?;
        }
        write!(f, "\n  {:caret$}^", "")
    }
}

impl std::error::Error for ExprError {}
