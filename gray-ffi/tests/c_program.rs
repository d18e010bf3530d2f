//! `tests/c/test.c` compiled with `cc` against `include/gray.h` and the `libgray.a` built for
//! this test run, then run directly and under valgrind.
//!
//! The static library is the one cargo builds with the rlib this test links (the crate's lib
//! target has the `staticlib` crate type too): `libgray.a` beside this test executable, in
//! `<target dir>/<profile>/deps/` (or, after a `cargo build -p gray-ffi`, its copy in
//! `<target dir>/<profile>/`). It is found from this executable's path, so any
//! `CARGO_TARGET_DIR` and profile work, from a clean clone too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `libgray.a` of this test run: in the `deps` folder holding this test, else in its parent.
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let deps = exe.parent().expect("deps folder");
    let candidates = [
        deps.to_path_buf(),
        deps.parent().expect("profile folder").to_path_buf(),
    ];
    let found = candidates
        .iter()
        .map(|d| d.join("libgray.a"))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("libgray.a is in neither of {candidates:?}: it is built with this test (crate-type staticlib)")
    })
}

/// The libraries Rust's standard library needs when linked statically into a C program.
fn native_libs() -> &'static [&'static str] {
    if cfg!(target_os = "macos") {
        &["-framework", "CoreFoundation", "-lSystem", "-lc", "-lm"]
    } else {
        &[
            "-lpthread",
            "-ldl",
            "-lm",
            "-lrt",
            "-lutil",
            "-lgcc_s",
            "-lc",
        ]
    }
}

/// The C test program, compiled once per test run.
fn program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let lib = static_lib();
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("gray-ffi-c-test");
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
        let status = Command::new(&cc)
            .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-I"])
            .arg(manifest_dir().join("include"))
            .arg(manifest_dir().join("tests/c/test.c"))
            .arg(&lib)
            .args(native_libs())
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
        assert!(status.success(), "compiling tests/c/test.c failed");
        out
    })
}

fn data_dir() -> PathBuf {
    manifest_dir().join("tests/data")
}

fn report(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn c_program_passes() {
    let out = Command::new(program())
        .arg(data_dir())
        .output()
        .expect("run the C test");
    let text = report("the C test", &out);
    assert!(out.status.success(), "{text}");
    // main prints the counts after the last check.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("c api: ") && stdout.contains(" passed, 0 failed"),
        "{text}"
    );
}

#[test]
fn c_program_is_clean_under_valgrind() {
    let valgrind = ["/usr/bin/valgrind", "/usr/local/bin/valgrind"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(valgrind) = valgrind else {
        eprintln!("SKIPPED: valgrind is not installed (scripts/ensure-redis.sh installs it)");
        return;
    };
    let out = Command::new(valgrind)
        .args(["--leak-check=full", "--error-exitcode=1", "--quiet"])
        .arg(program())
        .arg(data_dir())
        .output()
        .expect("run valgrind");
    let text = report("the C test under valgrind", &out);
    assert!(out.status.success(), "{text}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" passed, 0 failed"),
        "{text}"
    );
}
