//! Return codes, the thread-local last error, and the guard every entry point runs in: a panic
//! never unwinds into C, and every failure leaves its message and location behind.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use gray_core::ErrorKind;

use crate::c_string::to_c_string;

/// What a call returned. Every function that can fail returns one; `GRAY_OK` is 0, every error
/// is positive, and [`gray_last_error`] tells more about the last one on the calling thread.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrayStatus {
    /// Success.
    GRAY_OK = 0,
    /// A required pointer argument was NULL.
    GRAY_ERR_NULL = 1,
    /// A text argument was not valid UTF-8.
    GRAY_ERR_UTF8 = 2,
    /// An argument had a value the call does not accept: an unknown format, route kind or
    /// outcome, a peer address that is not an IP address, an index out of range.
    GRAY_ERR_ARG = 3,
    /// The spec, rule or admin change was rejected (syntax, invalid value, unknown reference,
    /// duplicate, unsupported version); the engine keeps serving what it served.
    GRAY_ERR_CONFIG = 4,
    /// A file could not be read.
    GRAY_ERR_IO = 5,
    /// An admin call named a group that does not exist.
    GRAY_ERR_UNKNOWN_GROUP = 6,
    /// An admin call named a node that does not exist.
    GRAY_ERR_UNKNOWN_NODE = 7,
    /// gray panicked (a bug): the call was abandoned and nothing unwound into the caller.
    GRAY_ERR_PANIC = 8,
}

/// The last error on the calling thread, as filled in by [`gray_last_error`].
///
/// Every pointer is borrowed: it stays valid until the next failing call into gray on the same
/// thread (or [`gray_last_error_clear`]); copy what you keep.
#[repr(C)]
#[derive(Debug)]
pub struct GrayError {
    /// The status the failing call returned (`GRAY_OK` when there was no error).
    pub code: GrayStatus,
    /// The whole message, one line a person can act on, location included (never NULL; empty
    /// when there was no error).
    pub message: *const c_char,
    /// The message without the location (never NULL).
    pub reason: *const c_char,
    /// The field path, e.g. `rules[0] (id "c").route`, or NULL when the error has none.
    pub path: *const c_char,
    /// The file the text came from, or NULL.
    pub file: *const c_char,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column (in characters) on `line`, 0 when unknown.
    pub column: usize,
}

/// A failure on its way to the caller: the status and what the last error will say (boxed:
/// results stay small on the success path).
#[derive(Debug)]
pub(crate) struct Fail(Box<Failure>);

#[derive(Debug)]
struct Failure {
    status: GrayStatus,
    message: String,
    reason: String,
    location: Option<gray_core::Location>,
}

impl Fail {
    /// A failure without a location.
    pub(crate) fn new(status: GrayStatus, reason: impl Into<String>) -> Fail {
        let reason = reason.into();
        Fail(Box::new(Failure {
            status,
            message: reason.clone(),
            reason,
            location: None,
        }))
    }

    /// A failure at `location`: `message` says it all (location included), `reason` without
    /// the location.
    pub(crate) fn located(
        status: GrayStatus,
        message: String,
        reason: String,
        location: gray_core::Location,
    ) -> Fail {
        Fail(Box::new(Failure {
            status,
            message,
            reason,
            location: Some(location),
        }))
    }

    /// A NULL `what`.
    pub(crate) fn null(what: &str) -> Fail {
        Fail::new(GrayStatus::GRAY_ERR_NULL, format!("{what} is NULL"))
    }

    /// `what` is not UTF-8.
    pub(crate) fn utf8(what: &str) -> Fail {
        Fail::new(
            GrayStatus::GRAY_ERR_UTF8,
            format!("{what} is not valid UTF-8"),
        )
    }

    /// `what` has a value the call does not accept.
    pub(crate) fn arg(message: impl Into<String>) -> Fail {
        Fail::new(GrayStatus::GRAY_ERR_ARG, message)
    }

    /// The status this failure returns.
    #[cfg(test)]
    pub(crate) fn status(&self) -> GrayStatus {
        self.0.status
    }

    fn panic(payload: Box<dyn Any + Send>) -> Fail {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        Fail::new(
            GrayStatus::GRAY_ERR_PANIC,
            format!("gray panicked (a bug, please report it): {what}"),
        )
    }

    /// Stores this failure as the thread's last error and returns its status.
    fn record(self) -> GrayStatus {
        let Failure {
            status,
            message,
            reason,
            location,
        } = *self.0;
        let location = location.unwrap_or_default();
        let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(to_c_string);
        let last = LastError {
            code: status,
            message: to_c_string(&message),
            reason: to_c_string(&reason),
            path: opt(Some(&location.path)),
            file: opt(location.file.as_deref()),
            line: location.line.unwrap_or(0),
            column: location.column.unwrap_or(0),
        };
        LAST.with(|l| *l.borrow_mut() = Some(last));
        status
    }
}

impl From<gray_core::Error> for Fail {
    fn from(e: gray_core::Error) -> Fail {
        let status = match e.kind() {
            ErrorKind::Io => GrayStatus::GRAY_ERR_IO,
            ErrorKind::UnknownGroup => GrayStatus::GRAY_ERR_UNKNOWN_GROUP,
            ErrorKind::UnknownNode => GrayStatus::GRAY_ERR_UNKNOWN_NODE,
            _ => GrayStatus::GRAY_ERR_CONFIG,
        };
        Fail(Box::new(Failure {
            status,
            message: e.to_string(),
            reason: e.message().to_string(),
            location: Some(e.location().clone()),
        }))
    }
}

/// The owned texts behind a [`GrayError`].
struct LastError {
    code: GrayStatus,
    message: CString,
    reason: CString,
    path: Option<CString>,
    file: Option<CString>,
    line: usize,
    column: usize,
}

thread_local! {
    static LAST: RefCell<Option<LastError>> = const { RefCell::new(None) };
}

/// Runs `f`, catching panics: its value, or its failure (recorded as the last error).
fn catch<T>(f: impl FnOnce() -> Result<T, Fail>) -> Result<T, GrayStatus> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(fail)) => Err(fail.record()),
        Err(payload) => Err(Fail::panic(payload).record()),
    }
}

/// The guard of an entry point that returns a [`GrayStatus`].
pub(crate) fn status(f: impl FnOnce() -> Result<(), Fail>) -> GrayStatus {
    match catch(f) {
        Ok(()) => GrayStatus::GRAY_OK,
        Err(status) => status,
    }
}

/// The guard of an entry point that returns a value: `fallback` on failure.
pub(crate) fn value<T>(fallback: T, f: impl FnOnce() -> Result<T, Fail>) -> T {
    catch(f).unwrap_or(fallback)
}

/// Fills `*out` with the last error of the calling thread and returns its code (`GRAY_OK`, with
/// empty messages and NULL path and file, when no call on this thread has failed since the
/// start or the last [`gray_last_error_clear`]). Returns `GRAY_ERR_NULL` (and records nothing)
/// when `out` is NULL.
///
/// # Safety
///
/// `out` is NULL or points to writable memory for one `GrayError`.
#[no_mangle]
pub unsafe extern "C" fn gray_last_error(out: *mut GrayError) -> GrayStatus {
    if out.is_null() {
        return GrayStatus::GRAY_ERR_NULL;
    }
    let filled = catch_unwind(|| {
        LAST.with(|l| match &*l.borrow() {
            Some(e) => GrayError {
                code: e.code,
                message: e.message.as_ptr(),
                reason: e.reason.as_ptr(),
                path: e.path.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                file: e.file.as_ref().map_or(ptr::null(), |p| p.as_ptr()),
                line: e.line,
                column: e.column,
            },
            None => GrayError {
                code: GrayStatus::GRAY_OK,
                message: c"".as_ptr(),
                reason: c"".as_ptr(),
                path: ptr::null(),
                file: ptr::null(),
                line: 0,
                column: 0,
            },
        })
    });
    let Ok(filled) = filled else {
        return GrayStatus::GRAY_ERR_PANIC;
    };
    let code = filled.code;
    // SAFETY: `out` is not NULL and, by this function's contract, writable for one GrayError.
    unsafe { out.write(filled) };
    code
}

/// The message of the last error on the calling thread (`""` when there is none): borrowed
/// until the next failing call on this thread or [`gray_last_error_clear`]. Never NULL.
#[no_mangle]
pub extern "C" fn gray_last_error_message() -> *const c_char {
    catch_unwind(|| {
        LAST.with(|l| {
            l.borrow()
                .as_ref()
                .map_or(c"".as_ptr(), |e| e.message.as_ptr())
        })
    })
    .unwrap_or(c"".as_ptr())
}

/// Forgets the last error of the calling thread (pointers from [`gray_last_error`] and
/// [`gray_last_error_message`] become invalid).
#[no_mangle]
pub extern "C" fn gray_last_error_clear() {
    let _ = catch_unwind(|| LAST.with(|l| l.borrow_mut().take()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> (GrayStatus, String) {
        let mut e = std::mem::MaybeUninit::<GrayError>::uninit();
        // SAFETY: `e` is writable for one GrayError; it is initialised by the call.
        let code = unsafe { gray_last_error(e.as_mut_ptr()) };
        // SAFETY: gray_last_error wrote it (the pointer was not NULL).
        let e = unsafe { e.assume_init() };
        // SAFETY: `message` is never NULL and lives until the next failure on this thread.
        let message = unsafe { CStr::from_ptr(e.message) };
        (code, message.to_string_lossy().into_owned())
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let got = status(|| panic!("boom"));
        assert_eq!(got, GrayStatus::GRAY_ERR_PANIC);
        let (code, message) = last();
        assert_eq!(code, GrayStatus::GRAY_ERR_PANIC);
        assert!(message.contains("boom"), "{message}");
        assert_eq!(value(7, || panic!("{}", String::from("owned"))), 7);
        assert!(last().1.contains("owned"));
    }

    #[test]
    fn success_keeps_and_clear_forgets_the_last_error() {
        assert_eq!(status(|| Err(Fail::arg("bad"))), GrayStatus::GRAY_ERR_ARG);
        assert_eq!(status(|| Ok(())), GrayStatus::GRAY_OK);
        assert_eq!(last(), (GrayStatus::GRAY_ERR_ARG, "bad".to_string()));
        gray_last_error_clear();
        assert_eq!(last(), (GrayStatus::GRAY_OK, String::new()));
    }
}
