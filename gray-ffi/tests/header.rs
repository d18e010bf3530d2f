//! `include/gray.h` is the header cbindgen generates from this crate now.
//!
//! Regenerate it with `GRAY_WRITE_HEADER=1 cargo test -p gray-ffi --test header`.

use std::path::Path;

#[test]
fn checked_in_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = dir.join("include/gray.h");
    if std::env::var_os("GRAY_WRITE_HEADER").is_some() {
        std::fs::write(&path, &generated).expect("write include/gray.h");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "include/gray.h is out of date: regenerate it with \
         `GRAY_WRITE_HEADER=1 cargo test -p gray-ffi --test header`"
    );
}
