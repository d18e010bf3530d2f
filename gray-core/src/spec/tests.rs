use super::*;
use std::time::Duration;

#[test]
fn durations() {
    assert_eq!(
        DurationSpec::parse("30s").unwrap().0,
        Duration::from_secs(30)
    );
    assert_eq!(
        DurationSpec::parse("500ms").unwrap().0,
        Duration::from_millis(500)
    );
    assert_eq!(
        DurationSpec::parse("2h").unwrap().0,
        Duration::from_secs(7200)
    );
    assert_eq!(DurationSpec::parse("7").unwrap().0, Duration::from_secs(7));
    assert!(DurationSpec::parse("s").unwrap_err().contains("number"));
    assert!(DurationSpec::parse("3 weeks")
        .unwrap_err()
        .contains("unknown unit"));
    assert!(DurationSpec::parse("99999999999999999999d").is_err());
    assert_eq!(DurationSpec::parse("90s").unwrap().to_string(), "90s");
    assert_eq!(DurationSpec::parse("10m").unwrap().to_string(), "10m");
}

#[test]
fn unknown_field_has_path_and_line() {
    let e = Spec::from_str(
        "version: 1\ndefault: a\ngroups:\n  a:\n    nodes:\n      - address: 1.2.3.4:80\n        wieght: 3\n",
        Format::Yaml,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(e.location().path, "groups.a.nodes[0].wieght");
    assert_eq!(e.location().line, Some(7));
    assert!(e.message().contains("wieght"), "{e}");
}

#[test]
fn json_and_toml_errors_have_lines() {
    let e = Spec::from_str(
        "{\"version\":1,\n\"default\":\"a\",\n\"rules\":[{\"idd\":1}]}",
        Format::Json,
    )
    .unwrap_err();
    assert_eq!(e.location().line, Some(3));
    assert!(e.location().path.starts_with("rules[0]"), "{e}");
    let e = Spec::from_str(
        "version = 1\ndefault = \"a\"\n[groups.a]\nselect = \"fastest\"\n",
        Format::Toml,
    )
    .unwrap_err();
    assert_eq!(e.location().line, Some(4), "{e}");
    assert!(e.to_string().contains("fastest"), "{e}");
}

#[test]
fn wrong_version_is_rejected() {
    let e = Spec::from_str("version: 2\ndefault: a\n", Format::Yaml).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedVersion);
}

#[test]
fn round_trips_through_yaml_and_json() {
    let text = "version: 1\ndefault: a\ngroups:\n  a:\n    nodes: [{address: '1.2.3.4:80', weight: 3, fail_timeout: 30s}]\nrules:\n  - id: r\n    when: {all: [{cookie: {name: c, regex: 'aaa$', ignore_case: true}}, {not: {method: [POST]}}]}\n    route: a\n";
    let spec = Spec::from_str(text, Format::Yaml).unwrap();
    let again = Spec::from_str(&spec.to_yaml(), Format::Yaml).unwrap();
    assert_eq!(spec, again);
    let again = Spec::from_str(&spec.to_json(), Format::Json).unwrap();
    assert_eq!(spec, again);
}
