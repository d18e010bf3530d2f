//! `lib/resty/gray.lua` declares a subset of `gray-ffi/include/gray.h` in its `ffi.cdef`: every
//! declaration there must be in the header exactly (comments and spacing aside), every
//! `GRAY_*` constant it defines must have the header's value, and every gray function it calls
//! must be declared. So a change of the C API that the module does not follow fails here, not
//! in nginx.

use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn module() -> String {
    read("lib/resty/gray.lua")
}

fn header() -> String {
    read("../gray-ffi/include/gray.h")
}

/// The text between `ffi.cdef[[` and `]]` inside the module's CDEF markers.
fn cdef(lua: &str) -> String {
    let start = lua
        .find("-- BEGIN GRAY CDEF")
        .expect("BEGIN GRAY CDEF marker");
    let end = lua.find("-- END GRAY CDEF").expect("END GRAY CDEF marker");
    let block = &lua[start..end];
    let open = block
        .find("ffi.cdef[[")
        .expect("ffi.cdef[[ inside the markers")
        + "ffi.cdef[[".len();
    let close = block.rfind("]]").expect("]] inside the markers");
    block[open..close].to_string()
}

/// C text without comments and preprocessor lines, with `extern "C" {` wrappers removed and
/// whitespace normalised: one space between words, none around punctuation.
fn normalise(c: &str) -> String {
    let mut out = String::new();
    let mut rest = c;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else if let Some(r) = rest.strip_prefix("//") {
            rest = r.find('\n').map_or("", |i| &r[i..]);
        } else {
            let ch = rest.chars().next().expect("not empty");
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| l.trim() != "extern \"C\" {" && l.trim() != "}  // extern \"C\"")
        .collect();
    let joined = lines.join(" ");
    let mut words = joined.split_whitespace().collect::<Vec<_>>().join(" ");
    for p in ["(", ")", ",", ";", "{", "}", "*", "="] {
        words = words
            .replace(&format!(" {p}"), p)
            .replace(&format!("{p} "), p);
    }
    words
}

/// Top-level declarations (split at `;` outside braces).
fn declarations(normalised: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for ch in normalised.chars() {
        cur.push(ch);
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ';' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_cdef_declaration_is_in_gray_h_identically() {
    let h = normalise(&header());
    let decls = declarations(&normalise(&cdef(&module())));
    assert!(decls.len() > 20, "the cdef has its declarations: {decls:?}");
    let missing: Vec<&String> = decls
        .iter()
        .filter(|d| {
            // Whole declarations only: the match starts the header or follows a `;` / `}` / `{`.
            !h.match_indices(d.as_str())
                .any(|(i, _)| i == 0 || matches!(h.as_bytes()[i - 1], b';' | b'}' | b'{'))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "declarations of lib/resty/gray.lua's ffi.cdef that gray-ffi/include/gray.h does not \
         have (copy them from the header): {missing:#?}"
    );
}

#[test]
fn constants_have_the_header_values() {
    let lua = module();
    let h = header();
    let mut seen = 0;
    for line in lua.lines() {
        let Some(rest) = line.strip_prefix("local GRAY_") else {
            continue;
        };
        let (name, value) = rest.split_once('=').expect("local GRAY_X = value");
        let (name, value) = (format!("GRAY_{}", name.trim()), value.trim());
        let define = format!("#define {name} {value}");
        assert!(
            h.lines().any(|l| l.trim() == define),
            "gray.lua has `{name} = {value}`, gray.h has no `{define}`"
        );
        seen += 1;
    }
    assert!(seen >= 3, "the outcome constants are checked");
}

#[test]
fn every_called_gray_function_is_declared() {
    let lua = module();
    let decls = normalise(&cdef(&lua));
    let called: BTreeSet<&str> = lua
        .match_indices("C_.gray_")
        .map(|(i, _)| {
            let name = &lua[i + 3..];
            let end = name
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(name.len());
            &name[..end]
        })
        .collect();
    assert!(called.len() > 10, "{called:?}");
    let undeclared: Vec<&&str> = called
        .iter()
        .filter(|f| !decls.contains(&format!("{f}(")))
        .collect();
    assert!(
        undeclared.is_empty(),
        "called but not in the cdef: {undeclared:?}"
    );
}

#[test]
fn normalising_ignores_comments_and_spacing() {
    let a = normalise("// x\nenum GrayStatus f(const struct A *a,\n   int b); /* c */");
    assert_eq!(a, "enum GrayStatus f(const struct A*a,int b);");
    assert_eq!(
        declarations("typedef struct S{int a;}S;void f(void);").len(),
        2
    );
}
