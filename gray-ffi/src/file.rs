//! The stamp of a file (modification time and size), for a watcher that reloads a rules file
//! when it changes: portable across platforms, so that a caller through an FFI (LuaJIT's in
//! nginx) needs no `struct stat` layout of its own.

use std::time::UNIX_EPOCH;

use crate::status::{self, Fail, GrayStatus};
use crate::text::{arg_str, put};

/// The modification time (`*mtime_ns`, nanoseconds since the Unix epoch; 0 when the platform
/// does not tell) and size in bytes (`*size`) of the file at `path`. `GRAY_ERR_IO` (the last
/// error names the file) when it cannot be read; both outputs are then 0.
///
/// # Safety
///
/// `path` is NULL or NUL-terminated; `mtime_ns` and `size` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn gray_file_stamp(
    path: *const std::ffi::c_char,
    mtime_ns: *mut u64,
    size: *mut u64,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: writable by this function's contract.
        unsafe {
            put(mtime_ns, "mtime_ns", 0)?;
            put(size, "size", 0)?;
        }
        // SAFETY: NULL or NUL-terminated by this function's contract.
        let path = unsafe { arg_str(path, "path") }?;
        let meta = std::fs::metadata(path)
            .map_err(|e| Fail::new(GrayStatus::GRAY_ERR_IO, format!("cannot stat {path}: {e}")))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        // SAFETY: checked writable above.
        unsafe {
            mtime_ns.write(mtime);
            size.write(meta.len());
        }
        Ok(())
    })
}
