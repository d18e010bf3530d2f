//! What the tests of the C ABI share: owning wrappers of engines and decisions, the last
//! error, borrowed and owned strings.
#![allow(dead_code)] // each test file uses a part

use std::ffi::{c_char, CStr, CString};
use std::path::PathBuf;
use std::ptr;

use gray::*;

/// A file of `tests/data`.
pub fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// An engine owned by a test, freed on drop.
pub struct Engine(pub *mut GrayEngine);

// SAFETY: a GrayEngine is Send + Sync (the crate asserts it); the wrapper only frees it once.
unsafe impl Send for Engine {}
// SAFETY: as above.
unsafe impl Sync for Engine {}

impl Engine {
    /// The pointer (a method, so that closures capture the whole `Sync` wrapper).
    pub fn raw(&self) -> *mut GrayEngine {
        self.0
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: made by gray_engine_from_*, freed once here.
        unsafe { gray_engine_free(self.0) }
    }
}

pub fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

pub fn from_file(name: &str) -> Result<Engine, GrayStatus> {
    let path = c(data(name).to_str().expect("UTF-8 path"));
    let mut out = ptr::null_mut();
    // SAFETY: `path` is NUL-terminated, `out` writable.
    match unsafe { gray_engine_from_file(path.as_ptr(), &mut out) } {
        GrayStatus::GRAY_OK => Ok(Engine(out)),
        s => {
            assert!(out.is_null(), "no engine on failure");
            Err(s)
        }
    }
}

pub fn engine() -> Engine {
    from_file("gray.yaml").expect("the test spec loads")
}

/// The last error: (code, message, path, file, line, column).
pub fn last_error() -> (
    GrayStatus,
    String,
    Option<String>,
    Option<String>,
    usize,
    usize,
) {
    let mut e = std::mem::MaybeUninit::<GrayError>::uninit();
    // SAFETY: `e` is writable for one GrayError.
    let code = unsafe { gray_last_error(e.as_mut_ptr()) };
    // SAFETY: filled by the call (the pointer was not NULL).
    let e = unsafe { e.assume_init() };
    let text = |p: *const c_char| {
        // SAFETY: NULL or a string alive until the next failure on this thread.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    assert_eq!(code, e.code);
    (
        code,
        text(e.message).expect("a message is never NULL"),
        text(e.path),
        text(e.file),
        e.line,
        e.column,
    )
}

/// A decision owned by a test, freed on drop.
pub struct Decision(pub *mut GrayDecision);

impl Drop for Decision {
    fn drop(&mut self) {
        // SAFETY: made by gray_engine_decide, freed once here.
        unsafe { gray_decision_free(self.0) }
    }
}

/// A borrowed C string as `Option<&str>`.
pub fn text<'a>(p: *const c_char) -> Option<&'a str> {
    // SAFETY: NULL or a string borrowed from a live decision.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8"))
}

impl Decision {
    pub fn group(&self) -> &str {
        // SAFETY: the decision is live.
        text(unsafe { gray_decision_group(self.0) }).expect("a group")
    }
    pub fn node(&self) -> Option<&str> {
        // SAFETY: the decision is live.
        text(unsafe { gray_decision_node_address(self.0) })
    }
    pub fn rule(&self) -> Option<&str> {
        // SAFETY: the decision is live.
        text(unsafe { gray_decision_rule_id(self.0) })
    }
    pub fn headers(&self) -> Vec<(String, String)> {
        // SAFETY: the decision is live.
        let n = unsafe { gray_decision_header_count(self.0) };
        (0..n)
            .map(|i| {
                let (mut k, mut v) = (ptr::null(), ptr::null());
                // SAFETY: the decision is live; `k` and `v` are writable.
                let s = unsafe { gray_decision_header(self.0, i, &mut k, &mut v) };
                assert_eq!(s, GrayStatus::GRAY_OK);
                (
                    text(k).expect("name").into(),
                    text(v).expect("value").into(),
                )
            })
            .collect()
    }
}

/// Takes an owned string gray returned.
pub fn owned(p: *mut c_char) -> String {
    // SAFETY: a live string from gray.
    let s = unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
    // SAFETY: freed once.
    unsafe { gray_string_free(p) };
    s
}

/// An engine from YAML spec text.
pub fn from_yaml(spec: &str) -> Engine {
    let spec = c(spec);
    let mut out = ptr::null_mut();
    // SAFETY: the spec is NUL-terminated, `out` writable, warnings dropped.
    let s =
        unsafe { gray_engine_from_str(spec.as_ptr(), GRAY_FORMAT_YAML, &mut out, ptr::null_mut()) };
    assert_eq!(s, GrayStatus::GRAY_OK, "{}", last_error().1);
    Engine(out)
}
