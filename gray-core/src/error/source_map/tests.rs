use super::*;

fn at(text: &str, format: Format, path: &str) -> Option<(usize, usize)> {
    locate(text, format, path, None).map(|p| (p.line, p.column))
}

#[test]
fn yaml_values_keys_of_block_collections_and_items() {
    let text = "version: 1\ngroups:\n  canary:\n    nodes:\n      - address: \"a:1\"\n        weight: 10001\n  v1.2: { nodes: [ { address: b }, x ] }\nrules:\n  - id: cookie\n    when:\n      cookie: { name: c, regex: \"(\" }\n    route: nosuchgroup\ndefault: nowhere\n";
    let y = Format::Yaml;
    assert_eq!(at(text, y, "groups.canary.nodes[0].weight"), Some((6, 17)));
    assert_eq!(at(text, y, "groups.canary.nodes[0]"), Some((5, 9)));
    assert_eq!(at(text, y, "groups.canary.nodes"), Some((4, 5)));
    assert_eq!(at(text, y, "groups.canary"), Some((3, 3)));
    assert_eq!(at(text, y, "groups.v1.2.nodes[1]"), Some((7, 36)));
    assert_eq!(at(text, y, "groups.v1.2"), Some((7, 9)));
    assert_eq!(
        at(text, y, "rules[0] (id \"cookie\").route"),
        Some((12, 12))
    );
    assert_eq!(
        at(text, y, "rules[0] (id \"cookie\").when.cookie.regex"),
        Some((11, 33))
    );
    assert_eq!(at(text, y, "rules[0] (id \"cookie\")"), Some((9, 5)));
    assert_eq!(at(text, y, "default"), Some((13, 10)));
    // Not in the text: no position.
    assert_eq!(at(text, y, "rules[1].route"), None);
    assert_eq!(at(text, y, "groups.canary.hash_key"), None);
    assert_eq!(at(text, y, "groups.v1"), None);
    assert_eq!(at(text, y, "rules[0] (id \"cookie\".route"), None);
    assert_eq!(at(text, y, ""), None);
    assert_eq!(at("{ unclosed", y, "default"), None);
}

#[test]
fn annotations_may_hold_quotes_and_parentheses() {
    let text = "rules:\n  - id: 'a\") (b'\n    route: x\n";
    assert_eq!(
        at(text, Format::Yaml, "rules[0] (id \"a\\\") (b\").route"),
        Some((3, 12))
    );
}

#[test]
fn json_is_read_as_yaml_flow() {
    let text = "{\n\t\"version\":1,\n\t\"groups\":{\"a.b\":{\"nodes\":[{\"address\":\"x\\/y\",\"weight\":10001}]}},\n  \"default\": \"z\"\n}\n";
    let j = Format::Json;
    assert_eq!(at(text, j, "groups.a.b.nodes[0].weight"), Some((3, 55)));
    assert_eq!(at(text, j, "groups.a.b.nodes[0]"), Some((3, 28)));
    assert_eq!(at(text, j, "default"), Some((4, 14)));
}

#[test]
fn toml_values_and_table_headers() {
    let text = "version = 1\ndefault = \"stable\"\n\n[groups.canary]\nnodes = [{ address = \"a:1\", weight = 10001 }]\n\n[[rules]]\nid = \"cookie\"\nroute = \"nosuchgroup\"\n\n[[rules]]\nid = \"x\"\n[rules.when.cookie]\nname = \"d\"\nregex = \"(\"\n";
    let t = Format::Toml;
    assert_eq!(at(text, t, "default"), Some((2, 11)));
    assert_eq!(at(text, t, "groups.canary.nodes[0].weight"), Some((5, 38)));
    assert_eq!(at(text, t, "groups.canary"), Some((4, 1)));
    assert_eq!(at(text, t, "rules[0] (id \"cookie\").route"), Some((9, 9)));
    assert_eq!(at(text, t, "rules[1]"), Some((11, 1)));
    assert_eq!(
        at(text, t, "rules[1] (id \"x\").when.cookie.regex"),
        Some((15, 9))
    );
}

#[test]
fn expression_columns_point_into_the_text_when_it_is_verbatim() {
    let y = "rules: [{ id: e, when: { expr: \"#H['a'] == '1' &&\" } }]\n";
    let p = locate(y, Format::Yaml, "rules[0] (id \"e\").when.expr", Some(18));
    assert_eq!(
        p,
        Some(Pos {
            line: 1,
            column: 33 + 17
        })
    );
    // An escape in the text: the value's start.
    let y = "rules: [{ id: e, when: { expr: \"#H['\\x61'] == '1' &&\" } }]\n";
    let p = locate(y, Format::Yaml, "rules[0] (id \"e\").when.expr", Some(18));
    assert_eq!(
        p,
        Some(Pos {
            line: 1,
            column: 32
        })
    );
    let t = "[[rules]]\nid = \"e\"\nwhen = { expr = \"#H['a'] == '1' &&\" }\n";
    let p = locate(t, Format::Toml, "rules[0] (id \"e\").when.expr", Some(18));
    assert_eq!(
        p,
        Some(Pos {
            line: 3,
            column: 18 + 17
        })
    );
}

#[test]
fn aliases_stand_where_written() {
    let text = "groups:\n  a: &g { nodes: [ { address: x } ] }\n  b: *g\n";
    assert_eq!(at(text, Format::Yaml, "groups.b"), Some((3, 6)));
    assert_eq!(
        at(text, Format::Yaml, "groups.b.nodes[0].address"),
        Some((2, 31))
    );
}

#[test]
fn deep_or_broken_documents_give_no_position() {
    let deep = format!("a: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(at(&deep, Format::Yaml, "a[0]"), None);
    let deep = format!("a = {}1{}\n", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(at(&deep, Format::Toml, "a[0]"), None);
    let nested = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
    assert_eq!(at(&nested, Format::Yaml, "a[0][0]"), Some((1, 6)));
    assert_eq!(at("a: [1", Format::Yaml, "a[0]"), None);
    assert_eq!(at("a = [1", Format::Toml, "a[0]"), None);
    assert_eq!(
        at("é: { ü: [x, \"y\"] }", Format::Yaml, "é.ü[1]"),
        Some((1, 13))
    );
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "[a-z:{}\\[\\],.\"' \n#&*é-]{0,80}", path in "[a-z.\\[\\]0-9 ()\"é]{0,20}") {
        for format in [Format::Yaml, Format::Json, Format::Toml] {
            let _ = locate(&text, format, &path, None);
            let _ = locate(&text, format, &path, Some(3));
        }
    }
}

#[test]
fn the_serde_alias_exact_is_found_as_equals() {
    let text = "rules:\n  - when: { cookie: { name: c, exact: a } }\n";
    assert_eq!(
        at(text, Format::Yaml, "rules[0].when.cookie.equals"),
        Some((2, 39))
    );
}
