//! The JSON Schema of the native format in `schema/gray-spec.schema.json` is the one the spec
//! types generate. After changing a spec type, regenerate it with
//! `GRAY_WRITE_SCHEMA=1 cargo test -p gray-core --test schema`.

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../schema/gray-spec.schema.json"
);

#[test]
fn the_committed_schema_is_current() {
    let generated = gray_core::spec::json_schema();
    if std::env::var_os("GRAY_WRITE_SCHEMA").is_some() {
        std::fs::write(PATH, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(
        committed == generated,
        "schema/gray-spec.schema.json is out of date: run GRAY_WRITE_SCHEMA=1 cargo test -p gray-core --test schema"
    );
}

#[test]
fn the_schema_describes_the_format() {
    let s: serde_json::Value = serde_json::from_str(&gray_core::spec::json_schema()).unwrap();
    assert_eq!(
        s["additionalProperties"], false,
        "typos are errors, in editors too"
    );
    let props = s["properties"].as_object().unwrap();
    for key in [
        "version",
        "groups",
        "rules",
        "default",
        "client_ip",
        "ip_sets",
        "headers",
        "release",
    ] {
        assert!(props.contains_key(key), "{key}");
    }
    assert!(!props.contains_key("base_dir"), "not part of the format");
    let required: Vec<&str> = s["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(required.contains(&"version") && required.contains(&"default"));
    let text = s.to_string();
    // Conditions are one-key objects; fail_on values and durations are checked.
    assert!(text.contains("\"cookie\"") && text.contains("\"percent\""));
    assert!(text.contains("http_5xx") && text.contains("(ms|s|m|h|d)"));
}
