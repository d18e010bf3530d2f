//! Replays every committed fuzz input as an ordinary test, on the stable toolchain: the
//! minimised crashes in `testdata/fuzz-regressions/<target>/` and the seed corpus in
//! `testdata/fuzz-seeds/<target>/`, each through the very function its cargo-fuzz target calls
//! (`gray_core::testing::fuzz`). Also checks the naive reference model against the engine on
//! the shared corpus (`testdata/corpus/*.yaml`) wherever the model covers the spec.

use std::fs;
use std::path::{Path, PathBuf};

use gray_core::testing::{fuzz, model};
use gray_core::{Engine, SimpleRequest, Spec};
use serde::Deserialize;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// The files of `dir`, sorted; none if the directory does not exist.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().is_none_or(|n| n != "README.md"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (target, run) in fuzz::TARGETS {
        for file in inputs(&testdata().join(kind).join(target)) {
            let bytes = fs::read(&file).expect("readable input");
            let outcome = std::panic::catch_unwind(|| run(&bytes));
            assert!(outcome.is_ok(), "{target}: {} fails", file.display());
            n += 1;
        }
    }
    n
}

#[test]
fn fuzz_regressions_replay() {
    // Runs (and passes) with an empty directory too; every minimised crash is a file here.
    let dir = testdata().join("fuzz-regressions");
    assert!(dir.is_dir(), "{} exists", dir.display());
    for entry in fs::read_dir(&dir).expect("readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            assert!(
                fuzz::TARGETS.iter().any(|(t, _)| *t == name),
                "{} is not a fuzz target",
                path.display()
            );
        }
    }
    replay("fuzz-regressions");
}

#[test]
fn fuzz_seed_corpus_replays() {
    let n = replay("fuzz-seeds");
    for (target, _) in fuzz::TARGETS {
        assert!(
            !inputs(&testdata().join("fuzz-seeds").join(target)).is_empty(),
            "target {target} has no seeds"
        );
    }
    assert!(n >= 50, "only {n} seeds");
}

#[derive(Deserialize)]
struct CorpusFile {
    spec: Spec,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    request: SimpleRequest,
}

#[test]
fn reference_model_agrees_on_the_shared_corpus() {
    let mut checked = 0;
    for path in inputs(&testdata().join("corpus")) {
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = fs::read_to_string(&path).expect("readable");
        let file: CorpusFile = gray_core::spec::yaml_from_str(&text).expect("valid corpus file");
        let engine = Engine::new(file.spec.clone()).expect("corpus specs compile");
        for case in &file.cases {
            let Some(want) = model::decide(&file.spec, &case.request) else {
                continue;
            };
            let d = engine.decide(&case.request);
            assert_eq!(
                (d.rule_id(), d.requested_group()),
                (want.rule_id.as_deref(), want.group.as_str()),
                "{}: {:?}",
                path.display(),
                case.request
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "the model covered only {checked} corpus cases"
    );
}

#[test]
fn generated_specs_stay_inside_the_model() {
    // Any bytes give a spec the engine compiles and the model covers.
    let mut rng = gray_core::testing::SplitMix(5);
    for len in 0..300 {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        fuzz::differential(&bytes);
    }
}
