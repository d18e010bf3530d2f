//! Bad Nepxion rules: typed errors with element path, line and column; warnings for what is
//! not applied; hostile expressions rejected before anything runs.

use gray_core::nepxion;
use gray_core::{Engine, ErrorKind, Format, SimpleRequest};

fn xml_err(text: &str) -> gray_core::Error {
    nepxion::import_xml(text).unwrap_err()
}

#[test]
fn malformed_xml_has_a_position() {
    let e = xml_err("<rule>\n  <strategy>\n    <version>1.0</strategy>\n</rule>");
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.location().line, Some(3), "{e}");
    let e = xml_err("<rule>\n  <strategy>");
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert!(e.to_string().contains("never closed"), "{e}");
    assert_eq!(xml_err("<rules></rules>").kind(), ErrorKind::Syntax);
    assert_eq!(xml_err("").kind(), ErrorKind::Syntax);
}

#[test]
fn unknown_route_id_points_at_the_condition() {
    let e = xml_err(
        r##"<rule>
  <strategy-release>
    <conditions type="blue-green">
      <condition id="c1" expression="#H['a'] == '1'" version-id="nope"/>
    </conditions>
    <routes><route id="r1" type="version">1.1</route></routes>
  </strategy-release>
</rule>"##,
    );
    assert_eq!(e.kind(), ErrorKind::UnknownReference);
    assert_eq!(
        e.location().path,
        "/rule/strategy-release/conditions/condition"
    );
    assert_eq!((e.location().line, e.location().column), (Some(4), Some(7)));
    assert!(e.to_string().contains("nope"), "{e}");
    // A route of the wrong type is an error too.
    let e = xml_err(
        r##"<rule><strategy-release>
    <conditions type="gray"><condition id="g" version-id="r1=50;r2=50"/></conditions>
    <routes><route id="r1" type="version">1.0</route><route id="r2" type="region">qa</route></routes>
  </strategy-release></rule>"##,
    );
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert!(e.to_string().contains("region"), "{e}");
}

#[test]
fn bad_weights_and_values() {
    let e = xml_err("<rule>\n<strategy>\n  <version-weight>1.0=abc;1.1=10</version-weight>\n</strategy>\n</rule>");
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert_eq!(e.location().path, "/rule/strategy/version-weight");
    assert_eq!(e.location().line, Some(3));
    assert!(e.to_string().contains("abc"), "{e}");
    let e = xml_err(r##"<rule><strategy><version>{"a":"1.0"</version></strategy></rule>"##);
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    let e = xml_err(
        r##"<rule><strategy-release><conditions type="gray"><condition id="g" version-id="r1=x"/></conditions>
        <routes><route id="r1" type="version">1.0</route></routes></strategy-release></rule>"##,
    );
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    let e = xml_err(
        r##"<rule><strategy-release><routes><route id="r" type="colour">x</route></routes></strategy-release></rule>"##,
    );
    assert!(e.to_string().contains("colour"), "{e}");
}

#[test]
fn duplicates_are_errors() {
    let e = xml_err("<rule>\n<strategy/>\n<strategy/>\n</rule>");
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    assert_eq!(e.location().line, Some(3));
    let e = xml_err(
        r##"<rule><strategy-release><routes>
        <route id="r" type="version">1.0</route><route id="r" type="version">1.1</route>
        </routes></strategy-release></rule>"##,
    );
    assert_eq!(e.kind(), ErrorKind::Duplicate);
    let e = xml_err(
        r##"<rule><strategy-release><conditions type="gray"/><conditions type="GRAY"/></strategy-release></rule>"##,
    );
    assert_eq!(e.kind(), ErrorKind::Duplicate);
}

#[test]
fn misplaced_and_unknown_elements_are_warnings() {
    let i = nepxion::import_xml(
        r##"<rule>
  <discovery>
    <strategy-release><header>{"a":"1"}</header></strategy-release>
  </discovery>
  <strategy-customization/>
  <strategy><versoin>1.0</versoin></strategy>
</rule>"##,
    )
    .unwrap();
    let w: Vec<String> = i.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    let find = |needle: &str| {
        w.iter()
            .find(|x| x.contains(needle))
            .unwrap_or_else(|| panic!("no warning about {needle}: {w:#?}"))
    };
    let misplaced = find("/rule/discovery/strategy-release");
    assert!(misplaced.contains("directly under <rule>"), "{misplaced}");
    assert!(misplaced.contains("line 3"), "{misplaced}");
    assert!(find("/rule/strategy-customization").contains("renamed <strategy-release>"));
    find("versoin");
    // Nothing nested wrongly took effect.
    assert!(i.builtin_headers.is_empty());
}

#[test]
fn xml_escapes_in_expressions() {
    let rule = r##"<rule><strategy-release>
      <conditions type="blue-green">
        <condition id="c" expression="#H['a'] == '1' &amp;&amp; #H['n'] &lt; '5' &amp;&amp; #H['q'] == &quot;x&quot;" version-id="r"/>
      </conditions>
      <routes><route id="r" type="version">1.1</route></routes>
    </strategy-release></rule>"##;
    let (e, w) = Engine::from_nepxion(rule).unwrap();
    assert!(w.is_empty());
    let base = SimpleRequest::new("10.0.0.1".parse().unwrap());
    let hit = base
        .clone()
        .with_header("a", "1")
        .with_header("n", "3")
        .with_header("q", "x");
    assert_eq!(
        e.decide(&hit).headers().next(),
        Some(("n-d-version", "1.1"))
    );
    let miss = base
        .with_header("a", "1")
        .with_header("n", "7")
        .with_header("q", "x");
    assert_eq!(e.decide(&miss).headers().next(), None);
}

#[test]
fn hostile_expressions_are_rejected_with_their_location() {
    let rule = |expr: &str| {
        format!(
            r##"<rule><strategy-release><conditions type="blue-green">
<condition id="c" expression="{expr}" version-id="r"/></conditions>
<routes><route id="r" type="version">1.1</route></routes></strategy-release></rule>"##
        )
    };
    for expr in [
        "T(java.lang.Runtime).getRuntime().exec('id')",
        "#H['a'].getClass()",
        "new java.io.File('x')",
        "##this",
        &"(".repeat(10_000),
        &format!("#H['a'] == '{}'", "x".repeat(100_000)),
        &format!("#H['a'] == {}", "9".repeat(5_000)),
    ] {
        let e = xml_err(&rule(expr));
        assert_eq!(e.kind(), ErrorKind::InvalidExpression, "{expr:.40}: {e}");
        assert_eq!(e.location().line, Some(2));
        assert_eq!(
            e.location().path,
            "/rule/strategy-release/conditions/condition"
        );
    }
    // The caret points into the expression.
    let e = xml_err(&rule("#H['a'] == '1' &amp;&amp; T(x)"));
    assert!(e.to_string().contains('^'), "{e}");
}

#[test]
fn deeply_nested_xml_is_rejected_without_overflow() {
    let deep = format!(
        "<rule>{}{}</rule>",
        "<x>".repeat(10_000),
        "</x>".repeat(10_000)
    );
    let e = xml_err(&deep);
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert!(e.to_string().contains("nested"), "{e}");
    assert_eq!(
        xml_err("<!DOCTYPE rule [<!ENTITY a 'b'>]><rule>&a;</rule>").kind(),
        ErrorKind::Syntax
    );
}

#[test]
fn json_errors_and_warnings() {
    let e = nepxion::import_json("{\n  \"strategyEntity\": {\"versionValue\": 1}\n}").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.location().line, Some(2));
    assert!(e.location().path.contains("strategyEntity"), "{e}");
    let e = nepxion::import_json(
        "{\"strategyReleaseEntity\": {\n  \"strategyConditionBlueGreenEntityList\": [\n    {\"id\": \"1\", \"expression\": \"#H['a']=='1'\",\n     \"versionId\": \"missing\"}],\n  \"strategyRouteEntityList\": []}}",
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownReference);
    // Found after parsing, yet located: line 3, at the condition that names "missing".
    assert_eq!(
        (e.location().line, e.location().column),
        (Some(3), Some(5)),
        "{e}"
    );
    assert!(
        e.location()
            .path
            .contains("strategyConditionBlueGreenEntityList[0]"),
        "{e}"
    );
    let i = nepxion::import_json(
        r##"{"strategyEntity":{"versionValue":"1.0","versoinValue":"x"},"extra":1}"##,
    )
    .unwrap();
    assert_eq!(i.warnings.len(), 2, "{:?}", i.warnings);
    assert!(
        i.warnings.iter().all(|w| w.location.line == Some(1)),
        "{:?}",
        i.warnings
    );
    assert_eq!(i.release.defaults.version.as_deref(), Some("1.0"));
    let e = nepxion::import("not a rule").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
}

#[test]
fn native_release_errors_name_the_field() {
    let base = "version: 1\ndefault: a\ngroups: { a: { nodes: [] } }\n";
    let e = Engine::from_str(
        &format!("{base}release: {{ blue_green: [{{ id: x, version: nope }}] }}\n"),
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownReference);
    assert!(
        e.location().path.starts_with("release.blue_green[0]"),
        "{e}"
    );
    let e = Engine::from_str(
        &format!("{base}release: {{ defaults: {{ version_weight: '1.0=abc' }} }}\n"),
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.location().path, "release.defaults.version_weight");
    let e =
        Engine::from_str(&format!("{base}release: {{ colour: x }}\n"), Format::Yaml).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    let e = Engine::from_str(
        &format!("{base}headers: {{ trusted_peers: [nowhere] }}\n"),
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.location().path, "headers.trusted_peers[0]");
}

mod never_panics {
    use proptest::prelude::*;

    fn vector() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/nepxion/01-discovery-example-service-rule.xml"
        ))
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text(s in any::<String>()) {
            let _ = gray_core::nepxion::import(&s);
            let _ = gray_core::nepxion::import_xml(&s);
            let _ = gray_core::nepxion::import_json(&s);
        }

        #[test]
        fn cut_and_spliced_rules(cut in 0usize..20_000, len in 0usize..200, junk in "[<>&;=#'\"{}a-z ]{0,20}") {
            let v = vector();
            let mut at = cut.min(v.len());
            while !v.is_char_boundary(at) { at -= 1; }
            let mut end = (at + len).min(v.len());
            while !v.is_char_boundary(end) { end -= 1; }
            let mutated = format!("{}{junk}{}", &v[..at], &v[end..]);
            if let Ok(i) = gray_core::nepxion::import_xml(&mutated) {
                // Whatever imports also compiles.
                gray_core::Engine::new(i.into_spec()).unwrap();
            }
        }
    }
}
