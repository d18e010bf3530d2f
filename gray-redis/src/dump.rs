//! The last-known-good dump: the combined spec (IP set members inline) of every snapshot an
//! engine accepted, written atomically so that a crash mid-write never leaves a torn file.
//!
//! The file is JSON in the native spec format, so it can also be read by `Engine::from_file`
//! (with a `.json` name) or inspected with `jq`.
//!
//! ```
//! use gray_core::Spec;
//!
//! let dir = std::env::temp_dir().join(format!("gray-dump-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("prod.json");
//! let spec = Spec::minimal("stable");
//! gray_redis::dump::write(&path, &spec)?;
//! assert_eq!(gray_redis::dump::read(&path)?, spec);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use gray_core::{Error, ErrorKind, Format, Result, Spec};

fn io_error(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::at(
        ErrorKind::Io,
        path.display().to_string(),
        format!("cannot {what}: {e}"),
    )
}

/// A temporary name beside `path`, unique per process and per write, so that two engines
/// sharing one dump path never write into the same temporary file.
fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    path.with_file_name(name)
}

/// Writes `spec` to `path` atomically: a temporary file beside it, `fsync`, `rename` over the
/// old dump, then `fsync` of the directory so the rename itself is durable.
pub fn write(path: &Path, spec: &Spec) -> Result<()> {
    let tmp = temp_path(path);
    let body = serde_json::to_vec(spec).map_err(|e| {
        Error::at(
            ErrorKind::InvalidValue,
            path.display().to_string(),
            format!("cannot serialise the spec: {e}"),
        )
    })?;
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| io_error(&tmp, "create", e))?;
        f.write_all(&body).map_err(|e| io_error(&tmp, "write", e))?;
        f.sync_all().map_err(|e| io_error(&tmp, "fsync", e))?;
        drop(f);
        fs::rename(&tmp, path).map_err(|e| io_error(path, "rename the new dump into", e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        // Directory fsync makes the rename durable; not every platform allows opening a
        // directory, and the dump is already in place, so a failure here is not an error.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a dump written by [`write()`].
pub fn read(path: &Path) -> Result<Spec> {
    let text = fs::read_to_string(path).map_err(|e| io_error(path, "read the dump", e))?;
    Spec::from_str(&text, Format::Json).map_err(|e| e.in_file(path.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gray-dump-{tag}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip_replaces_and_leaves_no_temp_file() {
        let d = dir("rt");
        let p = d.join("dump.json");
        let mut spec = crate::parse_spec_text(
            "version: 1\nip_sets: { t: { entries: [\"192.0.2.1\", \"10.0.0.0/8\"] } }\n\
             groups: { a: { nodes: [{ address: \"127.0.0.1:1\", weight: 3 }] } }\n\
             rules: [{ id: r, when: { ip: [t] }, route: a }]\ndefault: a\n",
        )
        .unwrap();
        write(&p, &spec).unwrap();
        assert_eq!(read(&p).unwrap(), spec);
        spec.rules.clear();
        write(&p, &spec).unwrap();
        assert_eq!(read(&p).unwrap(), spec);
        let names: Vec<_> = fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["dump.json"]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn missing_and_corrupt_dumps_are_typed_errors() {
        let d = dir("bad");
        let p = d.join("dump.json");
        assert_eq!(read(&p).unwrap_err().kind(), ErrorKind::Io);
        fs::write(&p, "{\"version\": 1, \"default\": ").unwrap();
        let e = read(&p).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert!(e
            .location()
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("dump.json")));
        assert!(e.to_string().contains("dump.json, line 1"), "{e}");
        let e = write(&d.join("no/such/dir/x.json"), &Spec::minimal("a")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        fs::remove_dir_all(&d).unwrap();
    }
}
