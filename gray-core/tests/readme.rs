//! The README's Rust snippet for the engine compiles: every code line of it appears in
//! `examples/engine_tour.rs`, which `cargo test` builds.

fn code(line: &str) -> String {
    // Comments and spacing aside (rustfmt moves comments).
    let code = line.split("//").next().unwrap_or("");
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn the_engine_snippet_is_the_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/engine_tour.rs");
    let start = readme
        .find("## Using the engine")
        .expect("README has a \"Using the engine\" section");
    let block = &readme[start..];
    let block = &block[block.find("```rust\n").expect("a rust block") + 8..];
    let block = &block[..block.find("```").expect("the block ends")];
    let lines: Vec<String> = example.lines().map(code).collect();
    let mut checked = 0;
    for line in block.lines().map(code).filter(|l| !l.is_empty()) {
        assert!(
            lines.contains(&line),
            "README line `{line}` is not in gray-core/examples/engine_tour.rs"
        );
        checked += 1;
    }
    assert!(
        checked >= 10,
        "the README snippet shrank to {checked} lines"
    );
}
