//! The limits that keep parsing and evaluating an untrusted expression bounded.

/// Maximum length of the expression source, in bytes.
pub const MAX_SOURCE_LEN: usize = 16 * 1024;
/// Maximum length of one string literal after unescaping, in bytes.
pub const MAX_STRING_LEN: usize = 4 * 1024;
/// Maximum number of digits in one number literal.
pub const MAX_NUMBER_DIGITS: usize = 100;
/// Maximum number of distinct variables in one expression.
pub const MAX_VARIABLES: usize = 64;
/// Maximum nesting of parentheses and `!`/`not` operators.
pub const MAX_DEPTH: usize = 64;
