//! Text coming in (borrowed `GrayStr` slices, NUL-terminated arguments), out-parameters, and
//! [`gray_string_free`] for the strings gray hands out (made in `c_string`).

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use crate::c_string::give_string;
use crate::status::{self, Fail};

/// A borrowed UTF-8 string given by pointer and length, not necessarily NUL-terminated (what
/// HTTP parsers hand out). `ptr == NULL` means absent, whatever `len` says; a non-NULL `ptr`
/// with `len == 0` is the empty string.
///
/// In C, `GRAY_STR("literal")` makes one from a string literal and `gray_str(s)` from a
/// NUL-terminated string (both in `gray.h`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct GrayStr {
    /// The first byte, or NULL.
    pub ptr: *const c_char,
    /// The number of bytes.
    pub len: usize,
}

impl Default for GrayStr {
    /// Absent.
    fn default() -> GrayStr {
        GrayStr::NONE
    }
}

impl GrayStr {
    /// An absent string.
    pub const NONE: GrayStr = GrayStr {
        ptr: ptr::null(),
        len: 0,
    };

    /// A `GrayStr` borrowing `s` (for Rust callers of the ABI: tests, benches).
    pub fn new(s: &str) -> GrayStr {
        GrayStr {
            ptr: s.as_ptr().cast(),
            len: s.len(),
        }
    }

    /// [`GrayStr::new`] of `s`, or [`GrayStr::NONE`].
    pub fn from_option(s: Option<&str>) -> GrayStr {
        s.map_or(GrayStr::NONE, GrayStr::new)
    }

    /// The bytes, or `None` when absent.
    ///
    /// # Safety
    ///
    /// When `ptr` is not NULL it points to `len` readable bytes that stay unchanged for `'a`.
    pub(crate) unsafe fn bytes<'a>(&self) -> Option<&'a [u8]> {
        if self.ptr.is_null() {
            return None;
        }
        // SAFETY: not NULL, and readable and unchanged for `len` bytes and `'a` by this
        // function's contract.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) })
    }

    /// The text, `None` when absent, or a UTF-8 failure naming `what`.
    ///
    /// # Safety
    ///
    /// As for [`GrayStr::bytes`].
    pub(crate) unsafe fn text<'a>(
        &self,
        what: &dyn Fn() -> String,
    ) -> Result<Option<&'a str>, Fail> {
        // SAFETY: forwarded from this function's contract.
        match unsafe { self.bytes() } {
            None => Ok(None),
            // HTTP text is nearly always ASCII: checking that word by word is cheaper than a
            // full UTF-8 validation of many short strings.
            // SAFETY: ASCII is UTF-8.
            Some(b) if b.is_ascii() => Ok(Some(unsafe { std::str::from_utf8_unchecked(b) })),
            Some(b) => std::str::from_utf8(b)
                .map(Some)
                .map_err(|_| Fail::utf8(&what())),
        }
    }
}

/// A required NUL-terminated UTF-8 argument named `what`.
///
/// # Safety
///
/// `p` is NULL or points to a NUL-terminated string that stays unchanged for `'a`.
pub(crate) unsafe fn arg_str<'a>(p: *const c_char, what: &str) -> Result<&'a str, Fail> {
    if p.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: not NULL, NUL-terminated and unchanged for `'a` by this function's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| Fail::utf8(what))
}

/// Stores `value` in the out-parameter `out` (named `what`), which must not be NULL.
///
/// # Safety
///
/// `out` is NULL or writable for one `T`.
pub(crate) unsafe fn put<T>(out: *mut T, what: &str, value: T) -> Result<(), Fail> {
    if out.is_null() {
        return Err(Fail::null(what));
    }
    // SAFETY: not NULL, and writable for one `T` by this function's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// Stores `value` in the optional out-parameter `out` (nothing when NULL).
///
/// # Safety
///
/// `out` is NULL or writable for one `T`.
pub(crate) unsafe fn put_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: not NULL, and writable for one `T` by this function's contract.
        unsafe { out.write(value) };
    }
}

/// JSON text (from `serde_json::to_string`) for the caller, freed with
/// [`gray_string_free`].
pub(crate) fn give_json(json: serde_json::Result<String>) -> Result<*mut c_char, Fail> {
    json.map(|json| give_string(&json))
        .map_err(|e| Fail::arg(format!("cannot write JSON: {e}")))
}

/// The guard of an entry point whose result is a pointer stored in the out-parameter `out`:
/// `*out` is NULL after any failure, and a NULL `out` is `GRAY_ERR_NULL`.
///
/// # Safety
///
/// `out` is NULL or writable for one pointer.
pub(crate) unsafe fn returning<T>(
    out: *mut *mut T,
    f: impl FnOnce() -> Result<*mut T, Fail>,
) -> crate::GrayStatus {
    status::status(|| {
        // SAFETY: `out` is NULL or writable by this function's contract.
        unsafe { put(out, "out", ptr::null_mut()) }?;
        let value = f()?;
        // SAFETY: as above (and not NULL: `put` checked).
        unsafe { out.write(value) };
        Ok(())
    })
}

/// Frees a string gray returned as `char *` (explanations, metrics, node lists, warnings).
/// NULL is ignored.
///
/// # Safety
///
/// `s` is NULL or a string returned by gray as `char *` that was not freed yet. Strings gray
/// returns as `const char *` are borrowed and must not be passed here.
#[no_mangle]
pub unsafe extern "C" fn gray_string_free(s: *mut c_char) {
    status::value((), || {
        if !s.is_null() {
            // SAFETY: `s` came from `CString::into_raw` in `give_string` and is freed once, by
            // this function's contract.
            drop(unsafe { CString::from_raw(s) });
        }
        Ok(())
    })
}
