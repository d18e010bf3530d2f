//! Engines: creating one from a file or text (native formats or a Nepxion rule), reloading,
//! freeing.

use std::ffi::c_char;
use std::path::Path;
use std::ptr;

use gray_core::nepxion::Warning;
use gray_core::{Engine, Format};

use crate::c_string::give_string;
use crate::status::{self, Fail, GrayStatus};
use crate::text::{arg_str, put_opt, returning};

/// The format of a spec given as text: one of the `GRAY_FORMAT_*` values.
pub type GrayFormat = u32;

/// The native format in YAML.
pub const GRAY_FORMAT_YAML: GrayFormat = 0;
/// The native format in JSON.
pub const GRAY_FORMAT_JSON: GrayFormat = 1;
/// The native format in TOML.
pub const GRAY_FORMAT_TOML: GrayFormat = 2;
/// A Nepxion Discovery rule, XML or JSON (detected from the text).
pub const GRAY_FORMAT_NEPXION: GrayFormat = 3;

/// A routing engine. Opaque; created by `gray_engine_from_*`, freed by [`gray_engine_free`].
///
/// Thread-safe: one engine may be used from any number of threads at once (decisions are
/// lock-free, reloads and admin changes are serialised inside), until it is freed.
pub struct GrayEngine {
    pub(crate) engine: Engine,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<GrayEngine>();
};

/// What a spec text is, read from a `GrayFormat`.
enum Kind {
    Native(Format),
    Nepxion,
}

fn kind(format: GrayFormat) -> Result<Kind, Fail> {
    Ok(match format {
        GRAY_FORMAT_YAML => Kind::Native(Format::Yaml),
        GRAY_FORMAT_JSON => Kind::Native(Format::Json),
        GRAY_FORMAT_TOML => Kind::Native(Format::Toml),
        GRAY_FORMAT_NEPXION => Kind::Nepxion,
        other => return Err(Fail::arg(format!("unknown format {other}"))),
    })
}

/// A path names a Nepxion XML rule file (`.xml`); anything else is a native spec file.
fn is_xml(path: &str) -> bool {
    Path::new(path)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xml"))
}

/// The text of a Nepxion rule file.
fn read_rule(path: &str) -> Result<String, Fail> {
    std::fs::read_to_string(path).map_err(|e| {
        gray_core::Error::new(
            gray_core::ErrorKind::Io,
            gray_core::Location::default().in_file(path),
            format!("cannot read the rule file: {e}"),
        )
        .into()
    })
}

/// Hands import warnings to the caller as one string, one warning a line (NULL `out`: dropped;
/// no warnings: `*out` is NULL).
///
/// # Safety
///
/// `out` is NULL or writable for one pointer.
unsafe fn give_warnings(out: *mut *mut c_char, warnings: &[Warning]) {
    let text = (!warnings.is_empty()).then(|| {
        let lines: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
        give_string(&lines.join("\n"))
    });
    // SAFETY: forwarded from this function's contract.
    unsafe { put_opt(out, text.unwrap_or(ptr::null_mut())) };
}

/// `engine` boxed for the caller, freed by [`gray_engine_free`].
fn boxed(engine: Engine) -> *mut GrayEngine {
    Box::into_raw(Box::new(GrayEngine { engine }))
}

/// The engine behind `p`.
///
/// # Safety
///
/// `p` is NULL or an engine from `gray_engine_from_*` not yet freed.
pub(crate) unsafe fn engine_ref<'a>(p: *const GrayEngine) -> Result<&'a Engine, Fail> {
    // SAFETY: by this function's contract `p` is NULL or a live engine; `as_ref` checks NULL.
    unsafe { p.as_ref() }
        .map(|e| &e.engine)
        .ok_or_else(|| Fail::null("engine"))
}

/// Creates an engine from the spec file at `path`: the native format chosen by the extension
/// (`.yaml`/`.yml`, `.json`, `.toml`), or a Nepxion XML rule for `.xml`. On success `*out` is
/// the engine (free it with [`gray_engine_free`]); on failure `*out` is NULL and
/// [`gray_last_error`](crate::gray_last_error) has the message with file, line and column.
///
/// # Safety
///
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_from_file(
    path: *const c_char,
    out: *mut *mut GrayEngine,
) -> GrayStatus {
    let result = || {
        // SAFETY: `path` is NULL or NUL-terminated by this function's contract.
        let path = unsafe { arg_str(path, "path") }?;
        let engine = if is_xml(path) {
            Engine::from_nepxion(&read_rule(path)?)?.0
        } else {
            Engine::from_file(path)?
        };
        Ok(boxed(engine))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}

/// Creates an engine from spec text in `format` (`GRAY_FORMAT_*`). A Nepxion rule gives an
/// engine with no instances (add nodes with the admin calls); its import warnings go to
/// `*warnings`, one a line (pass NULL to drop them; NULL when there are none; free with
/// [`gray_string_free`](crate::gray_string_free)). On failure `*out` is NULL.
///
/// # Safety
///
/// `text` is NULL or a NUL-terminated string; `out` is NULL or writable for one pointer;
/// `warnings` is NULL or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_from_str(
    text: *const c_char,
    format: GrayFormat,
    out: *mut *mut GrayEngine,
    warnings: *mut *mut c_char,
) -> GrayStatus {
    let result = || {
        // SAFETY: `warnings` is NULL or writable by this function's contract.
        unsafe { put_opt(warnings, ptr::null_mut()) };
        // SAFETY: `text` is NULL or NUL-terminated by this function's contract.
        let text = unsafe { arg_str(text, "text") }?;
        let engine = match kind(format)? {
            Kind::Native(f) => Engine::from_str(text, f)?,
            Kind::Nepxion => {
                let (engine, found) = Engine::from_nepxion(text)?;
                // SAFETY: `warnings` is NULL or writable by this function's contract.
                unsafe { give_warnings(warnings, &found) };
                engine
            }
        };
        Ok(boxed(engine))
    };
    // SAFETY: `out` is NULL or writable by this function's contract.
    unsafe { returning(out, result) }
}

/// Replaces the engine's spec with the file at `path` (formats as in
/// [`gray_engine_from_file`]; a `.xml` Nepxion rule is applied to the running spec, keeping
/// its groups). On failure nothing changes: the old rules keep serving. `*generation` (when
/// not NULL) receives the new generation.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `path` is NULL or a NUL-terminated string;
/// `generation` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_reload_file(
    engine: *const GrayEngine,
    path: *const c_char,
    generation: *mut u64,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: by this function's contract.
        let (engine, path) = unsafe { (engine_ref(engine)?, arg_str(path, "path")?) };
        let g = if is_xml(path) {
            engine.reload_nepxion(&read_rule(path)?)?.0
        } else {
            engine.reload_file(path)?
        };
        // SAFETY: `generation` is NULL or writable by this function's contract.
        unsafe { put_opt(generation, g) };
        Ok(())
    })
}

/// Replaces the engine's spec with `text` in `format` (a Nepxion rule is applied to the
/// running spec, keeping its groups; its warnings go to `*warnings` as in
/// [`gray_engine_from_str`]). On failure nothing changes: the old rules keep serving.
/// `*generation` (when not NULL) receives the new generation.
///
/// # Safety
///
/// `engine` is NULL or a live engine; `text` is NULL or a NUL-terminated string;
/// `generation` and `warnings` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_reload_str(
    engine: *const GrayEngine,
    text: *const c_char,
    format: GrayFormat,
    generation: *mut u64,
    warnings: *mut *mut c_char,
) -> GrayStatus {
    status::status(|| {
        // SAFETY: `warnings` is NULL or writable by this function's contract.
        unsafe { put_opt(warnings, ptr::null_mut()) };
        // SAFETY: by this function's contract.
        let (engine, text) = unsafe { (engine_ref(engine)?, arg_str(text, "text")?) };
        let g = match kind(format)? {
            Kind::Native(f) => engine.reload_str(text, f)?,
            Kind::Nepxion => {
                let (g, found) = engine.reload_nepxion(text)?;
                // SAFETY: `warnings` is NULL or writable by this function's contract.
                unsafe { give_warnings(warnings, &found) };
                g
            }
        };
        // SAFETY: `generation` is NULL or writable by this function's contract.
        unsafe { put_opt(generation, g) };
        Ok(())
    })
}

/// The generation of the rules being served (1 after creation, one more per change); 0 when
/// `engine` is NULL.
///
/// # Safety
///
/// `engine` is NULL or a live engine.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_generation(engine: *const GrayEngine) -> u64 {
    // SAFETY: by this function's contract.
    status::value(0, || Ok(unsafe { engine_ref(engine) }?.generation()))
}

/// Frees an engine. NULL is ignored. Decisions made by it stay valid until freed themselves.
///
/// # Safety
///
/// `engine` is NULL or an engine from `gray_engine_from_*` that no other thread uses any more
/// and that was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn gray_engine_free(engine: *mut GrayEngine) {
    status::value((), || {
        if !engine.is_null() {
            // SAFETY: made by `Box::into_raw` in `boxed`, freed once and unused
            // elsewhere, by this function's contract.
            drop(unsafe { Box::from_raw(engine) });
        }
        Ok(())
    })
}
