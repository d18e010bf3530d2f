//! `gray check` run as a user runs it: real files, the real binary, its output and exit status.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gray-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gray(args: &[&str], files: &[&Path]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gray"))
        .args(args)
        .args(files)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap() + &String::from_utf8(out.stderr).unwrap();
    (out.status.code().unwrap(), text)
}

const GOOD: &str = r#"version: 1
groups:
  stable: { nodes: [{ address: "10.0.0.1:80" }] }
  canary: { nodes: [{ address: "10.0.0.2:80" }] }
rules:
  - { id: office, when: { ip: ["10.0.0.0/8"] }, route: canary }
default: stable
"#;

#[test]
fn check_lists_warnings_with_positions_and_sets_the_exit_status() {
    let d = dir("lint");
    let good = d.join("good.yaml");
    std::fs::write(&good, GOOD).unwrap();
    let (code, out) = gray(&["check"], &[&good]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.trim(),
        format!("{}: ok, 1 rule, 2 groups, 0 warnings", good.display())
    );

    let shadowed = d.join("shadowed.yaml");
    std::fs::write(
        &shadowed,
        GOOD.replace(
            "default: stable",
            "  - { id: lab, when: { ip: [\"10.1.0.0/16\"] }, route: stable }\ndefault: stable",
        ),
    )
    .unwrap();
    let (code, out) = gray(&["check"], &[&shadowed]);
    let out = format!("\n{out}");
    assert_eq!(code, 0, "warnings alone do not fail: {out}");
    let f = shadowed.display().to_string();
    assert!(
        out.contains(&format!(
            "\nwarning[shadowed_rule]: rules[1] (id \"lab\").when ({f}, line 7, column 22): rule \"lab\" can never match"
        )),
        "{out}"
    );
    assert!(out.contains("ok, 2 rules, 2 groups, 1 warning\n"), "{out}");
    let (code, _) = gray(&["check", "--strict"], &[&shadowed]);
    assert_eq!(code, 1);
    let (code, _) = gray(&["check", "--strict"], &[&good]);
    assert_eq!(code, 0);

    let (code, out) = gray(&["check", "--json"], &[&good, &shadowed]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["lints"], serde_json::json!([]));
    assert_eq!(lines[1]["lints"][0]["kind"], "shadowed_rule");
    assert_eq!(lines[1]["lints"][0]["line"], 7);
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn check_reports_errors_with_their_location_and_exits_2() {
    let d = dir("error");
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "version = 1\ndefault = \"nowhere\"\n\n[groups.stable]\n",
    )
    .unwrap();
    let good = d.join("good.yaml");
    std::fs::write(&good, GOOD).unwrap();
    let (code, out) = gray(&["check"], &[&good, &bad]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("good.yaml: ok"), "{out}");
    assert!(
        out.contains("unknown reference at default") && out.contains("line 2, column 11"),
        "{out}"
    );
    let (code, out) = gray(&["check"], &[&d.join("missing.yaml")]);
    assert_eq!(code, 2);
    assert!(out.contains("missing.yaml"), "{out}");
    let (code, out) = gray(&["check"], &[&d.join("rules.txt")]);
    assert_eq!(code, 2);
    assert!(
        out.contains("use .yaml, .yml, .json, .toml or .xml"),
        "{out}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn check_reads_nepxion_rules() {
    let xml = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/nepxion"));
    let mut checked = 0;
    for entry in std::fs::read_dir(xml).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let (code, out) = gray(&["check"], &[&path]);
        assert_eq!(code, 0, "{}: {out}", path.display());
        assert!(out.contains(": ok, "), "{out}");
        assert!(!out.contains("empty_group"), "{out}");
        checked += 1;
    }
    assert!(checked > 0);
}
