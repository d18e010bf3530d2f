//! Rust text as C strings going out: cut at the first NUL byte, borrowed from an object or
//! owned by the caller.

use std::ffi::{c_char, CString};

/// `s` as a C string, cut at its first NUL byte (C cannot see past it anyway).
pub(crate) fn to_c_string(s: &str) -> CString {
    let s = s.split('\0').next().unwrap_or_default();
    CString::new(s).unwrap_or_default()
}

/// `s` as an owned C string for the caller, freed with [`gray_string_free`](crate::gray_string_free).
pub(crate) fn give_string(s: &str) -> *mut c_char {
    to_c_string(s).into_raw()
}
