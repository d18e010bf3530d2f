//! Runs the shared data-driven corpus in `testdata/corpus/*.yaml` (also read by the Python
//! tests): each file holds a spec and requests with their expected decision.

use std::collections::BTreeMap;
use std::path::PathBuf;

use gray_core::{Engine, SimpleRequest, Spec};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[allow(dead_code)]
    description: String,
    spec: Spec,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    request: SimpleRequest,
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    rule: Option<String>,
    group: Option<String>,
    node: Option<String>,
    headers: Option<BTreeMap<String, String>>,
}

pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/corpus")
}

#[test]
fn corpus_cases_hold() {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut checked = 0;
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(path).unwrap();
        let file: CorpusFile = gray_core::spec::yaml_from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let engine = Engine::new(file.spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for case in &file.cases {
            let d = engine.decide(&case.request);
            let ctx = format!(
                "{} / {}: {d}\n{}",
                path.display(),
                case.name,
                engine.explain(&case.request)
            );
            if let Some(rule) = &case.expect.rule {
                assert_eq!(d.rule_id().unwrap_or("(default)"), rule, "{ctx}");
            }
            if let Some(group) = &case.expect.group {
                assert_eq!(d.group(), group, "{ctx}");
            }
            if let Some(node) = &case.expect.node {
                assert_eq!(d.node_address(), Some(node.as_str()), "{ctx}");
            }
            if let Some(h) = &case.expect.headers {
                let got: BTreeMap<String, String> =
                    d.headers().map(|(k, v)| (k.into(), v.into())).collect();
                assert_eq!(&got, h, "{ctx}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "only {checked} corpus cases ran");
}
