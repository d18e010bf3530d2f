//! Writes the fuzz seed corpus `testdata/fuzz-seeds/<target>/` from the shared test corpus
//! (`testdata/corpus/*.yaml`) and the reference rule set.
//!
//! Run from the repository root: `cargo run -p gray-benches --bin fuzz-seeds`. The output is
//! deterministic and committed; `gray-core/tests/fuzz_replay.rs` replays it on every test run.

use std::fs;
use std::path::{Path, PathBuf};

use gray_core::spec::{ConditionSpec, Spec};
use gray_core::{RequestView, SimpleRequest};
use serde::Deserialize;

#[derive(Deserialize)]
struct CorpusFile {
    spec: Spec,
    #[serde(default)]
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    request: SimpleRequest,
}

fn exprs(c: &ConditionSpec, out: &mut Vec<String>) {
    match c {
        ConditionSpec::Expr(e) => out.push(e.clone()),
        ConditionSpec::All(l) | ConditionSpec::Any(l) => l.iter().for_each(|c| exprs(c, out)),
        ConditionSpec::Not(c) => exprs(c, out),
        _ => {}
    }
}

struct Out {
    root: PathBuf,
}

impl Out {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        fs::create_dir_all(&dir).expect("create seed directory");
        fs::write(dir.join(name), bytes).expect("write seed");
    }
}

fn main() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Out {
        root: repo.join("testdata/fuzz-seeds"),
    };
    let _ = fs::remove_dir_all(&out.root);
    let mut files: Vec<PathBuf> = fs::read_dir(repo.join("testdata/corpus"))
        .expect("testdata/corpus exists")
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut specs: Vec<(String, Spec)> = Vec::new();
    let mut requests: Vec<SimpleRequest> = Vec::new();
    for path in &files {
        let text = fs::read_to_string(path).expect("readable corpus file");
        let file: CorpusFile = gray_core::spec::yaml_from_str(&text).expect("valid corpus file");
        let stem = path
            .file_stem()
            .expect("file name")
            .to_string_lossy()
            .into_owned();
        specs.push((stem, file.spec));
        requests.extend(file.cases.into_iter().map(|c| c.request));
    }
    specs.push(("reference-50".into(), gray_benches::reference_spec_with(50)));
    requests.extend(
        gray_benches::reference_requests()
            .into_iter()
            .map(|(_, r)| r),
    );
    requests.push(gray_benches::reference_ip_request());

    let mut expressions = vec![
        "#H['a'] == '1' && #H['b'] != '2'\x001\x003".to_string(),
        "#H['v'] matches '^1\\.[0-9]+$' or not (#H['x'] lt 5)\x001.10\x004".to_string(),
        "#H[\"n\"].contains('ab') || 'x' >= #H['m']\0xabx\0".to_string(),
        "(#H['a'] == null) and true or FALSE\0".to_string(),
        "#H['n'] >= 1e3 && #H['n'] <= -0.5\x001000.0".to_string(),
    ];
    for (name, spec) in &specs {
        for (i, (sel, text)) in [
            (0u8, serde_yaml_ng::to_string(spec).ok()),
            (1, serde_json::to_string_pretty(spec).ok()),
            (2, toml::to_string(spec).ok()),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(text) = text {
                let mut bytes = vec![sel];
                bytes.extend_from_slice(text.as_bytes());
                out.put(
                    "spec_parse",
                    &format!("{name}.{}", ["yaml", "json", "toml"][i]),
                    &bytes,
                );
            }
        }
        for rule in &spec.rules {
            if let Some(w) = &rule.when {
                let mut found = Vec::new();
                exprs(w, &mut found);
                expressions.extend(found.into_iter().map(|e| format!("{e}\x001\x002")));
            }
        }
    }
    for (i, e) in expressions.iter().enumerate() {
        out.put("expr", &format!("expr-{i:03}"), e.as_bytes());
    }

    let mut forwarded = vec![
        (0u8, "203.0.113.9, 10.0.0.2".to_string()),
        (4, "198.51.100.7, 10.9.9.9\n10.1.1.1".to_string()),
        (1, "[2001:db8::5]:443".to_string()),
        (
            2,
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"".into(),
        ),
        (3, "unknown, _hidden, 203.0.113.1:8080".to_string()),
        (6, "for=10.0.0.3, for=198.51.100.9".to_string()),
    ];
    let mut cookies = vec!["a=1; b=\"two\"; =x; junk; c==3;\td = 4 ".to_string()];
    for r in &requests {
        for h in ["x-forwarded-for", "x-real-ip", "forwarded"] {
            r.for_each_header(h, &mut |v| {
                forwarded.push((4, v.to_string()));
                true
            });
        }
        r.for_each_header("cookie", &mut |v| {
            cookies.push(v.to_string());
            true
        });
    }
    for (i, (sel, v)) in forwarded.iter().enumerate() {
        let mut bytes = vec![*sel, i as u8];
        bytes.extend_from_slice(v.as_bytes());
        out.put("client_ip", &format!("header-{i:03}"), &bytes);
    }
    cookies.sort();
    cookies.dedup();
    for (i, c) in cookies.iter().enumerate() {
        out.put("cookie", &format!("cookie-{i:03}"), c.as_bytes());
    }

    let mut nepxion: Vec<PathBuf> = fs::read_dir(repo.join("testdata/nepxion"))
        .expect("testdata/nepxion exists")
        .map(|e| e.expect("readable directory").path())
        .collect();
    nepxion.sort();
    for path in &nepxion {
        let target = match path.extension().and_then(|e| e.to_str()) {
            Some("xml") => "nepxion_xml",
            Some("json") => "nepxion_json",
            _ => continue,
        };
        let name = path.file_name().expect("file name").to_string_lossy();
        out.put(target, &name, &fs::read(path).expect("readable rule"));
    }
    let weight_strings = [
        "1.0=90;1.1=10",
        "1.0=0;1.1=0",
        " 1.0 = 5 ; 1.1=5;1.2=1000000",
        "dev=85;qa=15",
        "1.0=abc",
        "1.0=90;1.0=10",
        "{\"svc-a\":\"1.0=10;1.1=80;1.2=10\",\"svc-b\":\"1.0=100\"}",
        "=5;x",
    ];
    for (i, w) in weight_strings.iter().enumerate() {
        let mut bytes = (i as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .to_le_bytes()
            .to_vec();
        bytes.extend_from_slice(w.as_bytes());
        out.put("weights", &format!("weights-{i:03}"), &bytes);
    }

    let mut rng = gray_benches::SplitMix(2024);
    for i in 0..32 {
        let bytes: Vec<u8> = (0..128).map(|_| rng.next_u64() as u8).collect();
        out.put("differential", &format!("random-{i:03}"), &bytes);
    }
    println!("wrote seeds to {}", out.root.display());
}
