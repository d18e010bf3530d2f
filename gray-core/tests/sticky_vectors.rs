//! The stickiness hash agrees with vectors produced by an independent implementation of the
//! documented algorithm (`testdata/sticky-vectors.json`), and a `percent` rule uses exactly it.

use gray_core::{sticky, Engine, Format, SimpleRequest};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<V>,
}

#[derive(Deserialize)]
struct V {
    salt: String,
    key: String,
    hash: String,
    bucket: u32,
}

fn vectors() -> Vec<V> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/sticky-vectors.json"
    ))
    .unwrap();
    serde_json::from_str::<Vectors>(&text).unwrap().vectors
}

#[test]
fn hash_matches_independent_vectors() {
    let v = vectors();
    assert!(v.len() >= 20);
    for x in &v {
        assert_eq!(
            sticky::salted_hash(x.salt.as_bytes(), x.key.as_bytes()).to_string(),
            x.hash,
            "{:?}/{:?}",
            x.salt,
            x.key
        );
        assert_eq!(
            sticky::bucket(x.salt.as_bytes(), x.key.as_bytes()),
            x.bucket
        );
    }
}

#[test]
fn percent_rule_threshold_is_the_vector_bucket() {
    // For each vector key, a rule at exactly bucket/100 % excludes it and one step more includes it.
    for x in vectors()
        .iter()
        .filter(|x| !x.salt.is_empty() && !x.key.is_empty() && x.key.len() < 100)
    {
        let spec = |pct: f64| {
            format!(
                "version: 1\ngroups: {{ a: {{ nodes: [] }}, b: {{ nodes: [] }} }}\nrules:\n  - id: r\n    when: {{ percent: {{ key: {{ header: x-user }}, value: {pct}, salt: {:?} }} }}\n    route: b\ndefault: a\n",
                x.salt
            )
        };
        let req = SimpleRequest::new("127.0.0.1".parse().unwrap()).with_header("x-user", &x.key);
        let below = Engine::from_str(&spec(f64::from(x.bucket) / 100.0), Format::Yaml).unwrap();
        assert_eq!(
            below.decide(&req).group(),
            "a",
            "{x:?}",
            x = (&x.salt, &x.key, x.bucket)
        );
        let above = Engine::from_str(&spec(f64::from(x.bucket + 1) / 100.0), Format::Yaml).unwrap();
        assert_eq!(above.decide(&req).group(), "b");
    }
}
