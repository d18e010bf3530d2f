use super::*;
use proptest::prelude::*;

/// Evaluates `src` with the given variables, checking that `eval` and
/// `eval_explained` agree.
fn run(src: &str, vars: &[(&str, &str)]) -> bool {
    let e = Expr::parse(src).unwrap_or_else(|err| panic!("{err}"));
    let names = e.variables().to_vec();
    let find = |i: usize| vars.iter().find(|(k, _)| *k == &*names[i]).map(|&(_, v)| v);
    let plain = e.eval(&mut |i| find(i));
    let (explained, _) = e.eval_explained(&mut |i| find(i));
    assert_eq!(plain, explained, "{src}");
    plain
}

fn t(src: &str) -> bool {
    run(src, &[])
}

fn err(src: &str) -> ExprError {
    match Expr::parse(src) {
        Ok(e) => panic!("{src:?} should be rejected, got {e:?}"),
        Err(e) => e,
    }
}

/// Asserts that `src` is rejected at `column` with a message containing
/// `fragment`.
fn rejects(src: &str, column: usize, fragment: &str) {
    let e = err(src);
    assert_eq!(e.column(), column, "{e}");
    assert!(e.message().contains(fragment), "{e}");
    assert_eq!(e.source_text(), src);
}

#[test]
fn equality_in_every_form() {
    let a = [("a", "1")];
    for op in ["==", "eq", "EQ", "Eq", "eQ"] {
        assert!(run(&format!("#H['a'] {op} '1'"), &a), "{op}");
        assert!(!run(&format!("#H['a'] {op} '2'"), &a), "{op}");
        assert!(run(&format!("'1' {op} #H['a']"), &a), "{op}");
    }
    for op in ["!=", "ne", "NE", "nE"] {
        assert!(run(&format!("#H['a'] {op} '2'"), &a), "{op}");
        assert!(!run(&format!("#H['a'] {op} '1'"), &a), "{op}");
    }
    // (left, right, equal)
    let cases = [
        ("'1.0'", "'1.00'", false),
        ("'1'", "1", false),
        ("1", "'1'", false),
        ("1", "1.0", true),
        ("-0", "0", true),
        ("007", "7", true),
        ("null", "null", true),
        ("null", "'x'", false),
        ("''", "null", false),
        ("true", "TRUE", true),
        ("true", "false", false),
        ("'true'", "true", false),
        ("''", "\"\"", true),
        ("'a'", "'A'", false),
        ("(1 == 1)", "true", true),
    ];
    for (l, r, eq) in cases {
        for op in ["==", "eq"] {
            assert_eq!(t(&format!("{l} {op} {r}")), eq, "{l} {op} {r}");
        }
        for op in ["!=", "ne"] {
            assert_eq!(t(&format!("{l} {op} {r}")), !eq, "{l} {op} {r}");
        }
    }
    assert!(!run("#H['a'] == 1", &a), "string vs number is never equal");
}

#[test]
fn ordering_in_every_form() {
    use std::cmp::Ordering::{self, *};
    let big = "1234567890123456789012345678901234567890";
    let bigger = "1234567890123456789012345678901234567891";
    let s = |x: &str| x.to_owned();
    // (left, right, ordering or None when incomparable)
    let cases: Vec<(String, String, Option<Ordering>)> = vec![
        (s("'10'"), s("'9'"), Some(Greater)),
        (s("'abc'"), s("'abd'"), Some(Less)),
        (s("'1.0'"), s("'1.00'"), Some(Equal)),
        (s("-1"), s("0"), Some(Less)),
        (s("'-1'"), s("0"), Some(Less)),
        (s("'-1.5'"), s("'-1.25'"), Some(Less)),
        (format!("'{big}'"), format!("'{bigger}'"), Some(Less)),
        (s(bigger), s(big), Some(Greater)),
        (format!("'{big}'"), format!("{big}.000"), Some(Equal)),
        (s("null"), s("'x'"), Some(Less)),
        (s("null"), s("-5"), Some(Less)),
        (s("null"), s("null"), Some(Equal)),
        (s("'x'"), s("null"), Some(Greater)),
        (s("'abc'"), s("5"), None),
        (s("true"), s("'true'"), None),
        (s("true"), s("1"), None),
        (s("true"), s("false"), Some(Greater)),
        (s("'B'"), s("'a'"), Some(Less)),
        (s("'10'"), s("'9a'"), Some(Less)),
        (s("''"), s("'a'"), Some(Less)),
        (s("'1e3'"), s("'999'"), Some(Greater)),
        (s("'1.10'"), s("'1.9'"), Some(Less)),
        (s("'v1.10'"), s("'v1.9'"), Some(Less)),
        (s("'2.0.1'"), s("'10.0.1'"), Some(Greater)),
    ];
    for (l, r, ord) in &cases {
        let check = |ops: &[&str], want: bool| {
            for op in ops {
                assert_eq!(t(&format!("{l} {op} {r}")), want, "{l} {op} {r}");
            }
        };
        check(&["<", "lt", "LT"], *ord == Some(Less));
        check(&["<=", "le", "Le"], matches!(ord, Some(Less | Equal)));
        check(&[">", "gt", "GT"], *ord == Some(Greater));
        check(&[">=", "ge", "gE"], matches!(ord, Some(Greater | Equal)));
    }
    // Strings are compared like Java: by UTF-16 code units.
    assert!(t("'\u{1F600}' < '\u{FF61}'"));
}

#[test]
fn numbers_from_variables() {
    let v = |x: &'static str| [("a", x)];
    assert!(run("#H['a'] > 9", &v("10")));
    assert!(run("#H['a'] > '9'", &v("10")));
    assert!(!run("#H['a'] > 9", &v("abc")));
    assert!(run("#H['a'] >= 1.5", &v("1.50")));
    assert!(!run("#H['a'] == 1.5", &v("1.5")));
    assert!(run("#H['a'] == '1.5'", &v("1.5")));
    assert!(run("#H['a'] < -0.5", &v("-1")));
    let forty = "9".repeat(40);
    assert!(run(
        &format!("#H['a'] < 1{forty}"),
        &[("a", forty.as_str())]
    ));
    let hundred = "9".repeat(100);
    assert!(run(
        &format!("#H['a'] == '{hundred}' && {hundred} > 0"),
        &[("a", hundred.as_str())]
    ));
}

#[test]
fn missing_variables() {
    // The three facts from the Nepxion wiki.
    assert!(t("#H['a'] < '2'"));
    assert!(t("#H['a'] != '2'"));
    assert!(!t("#H['a'] == 'x'"));
    // null is less than everything and equal only to null.
    assert!(t("#H['a'] <= '2'"));
    assert!(!t("#H['a'] > '2'"));
    assert!(!t("#H['a'] >= '2'"));
    assert!(t("'2' > #H['a']"));
    assert!(t("#H['a'] == null"));
    assert!(!t("#H['a'] != null"));
    assert!(t("#H['a'] == #H['b']"));
    assert!(!t("#H['a'] < #H['b']"));
    assert!(t("#H['a'] <= #H['b']"));
    assert!(t("#H['a'] lt 'x' and #H['a'] NE 'x'"));
    assert!(!t("#H['a'] matches '.*'"));
    assert!(!t("#H['a'].contains('')"));
    assert!(!t("#H['a']"));
    assert!(t("!#H['a']"));
    // No runtime errors: an "error" only makes its own comparison false.
    assert!(t("!(#H['a'] matches 'x')"));
    assert!(t("#H['a'] matches 'x' || true"));
}

#[test]
fn logic_words_and_precedence() {
    let cases = [
        ("true && false", false),
        ("true and true", true),
        ("true AND false", false),
        ("false || true", true),
        ("false or false", false),
        ("FALSE Or TRUE", true),
        ("!true", false),
        ("not true", false),
        ("NOT false", true),
        ("!!true", true),
        ("not not true", true),
        ("!not!true", false),
        ("true || false && false", true),
        ("(true || false) && false", false),
        ("false && false || true", true),
        ("false && (false || true)", false),
        ("!false && false", false),
        ("!(false && false)", true),
        ("! true == false", true),
        ("not true == false", true),
        ("true == false || true", true),
        ("'a' == 'a' && 'b' == 'c'", false),
        ("'a' == 'a' and ('b' == 'c' or 'd' == 'd')", true),
        ("((((true))))", true),
        ("true && true && true && false", false),
        ("false || false || false || true", true),
    ];
    for (src, want) in cases {
        assert_eq!(t(src), want, "{src}");
    }
    let src = "#H['a'] == '1' || #H['b'] == '2' && #H['c'] == '3'";
    assert!(run(src, &[("a", "1")]));
    assert!(!run(src, &[("b", "2")]));
    assert!(run(src, &[("b", "2"), ("c", "3")]));
}

#[test]
fn short_circuit_and_single_lookup() {
    let e = Expr::parse("#H['a'] == '1' && #H['b'] == '2'").unwrap();
    let mut seen = Vec::new();
    assert!(!e.eval(&mut |i| {
        seen.push(i);
        Some("0")
    }));
    assert_eq!(seen, [0]);

    let e = Expr::parse("#H['a'] == '0' || #H['b'] == '2'").unwrap();
    let mut seen = Vec::new();
    assert!(e.eval(&mut |i| {
        seen.push(i);
        Some("0")
    }));
    assert_eq!(seen, [0]);

    let e = Expr::parse("#H['a'] == '1' || #H['a'] == '2' || #H['a'] > '2'").unwrap();
    let mut calls = 0;
    assert!(e.eval(&mut |_| {
        calls += 1;
        Some("3")
    }));
    assert_eq!(calls, 1);
    assert_eq!(e.variables().len(), 1);
    assert_eq!(e.reference_count(), 3);
}

#[test]
fn quoting_and_escapes() {
    assert!(t("'it''s' == \"it's\""));
    assert!(t(r#""say ""hi""" == 'say "hi"'"#));
    assert!(t("'''' == \"'\""));
    assert!(t("'' == \"\""));
    assert!(run("#H['a'] == 'it''s'", &[("a", "it's")]));
    // Backslashes are ordinary characters, even before a quote.
    assert!(run(r"#H['a'] == 'a\nb'", &[("a", r"a\nb")]));
    assert!(run(r"#H['a'] == 'C:\dir\'", &[("a", r"C:\dir\")]));
    assert!(run("#H['a'] == 'äß日本'", &[("a", "äß日本")]));
    // Both quote styles name the same variable.
    let e = Expr::parse("#H[\"a\"] == '1' && #H['a'] == \"1\"").unwrap();
    assert_eq!(e.variables(), [Box::from("a")]);
    assert_eq!(e.reference_count(), 2);
    let e = Expr::parse("#H['x-user.id_2'] == '1' && #H['a:b/c'] == '2'").unwrap();
    assert_eq!(
        e.variables(),
        [Box::from("x-user.id_2"), Box::from("a:b/c")]
    );
    // Whitespace between tokens is free.
    assert!(run("  #H['a']\t==\r\n'1'  ", &[("a", "1")]));
    rejects("'abc", 1, "unterminated string literal");
    rejects("#H['a'] == \"x", 12, "unterminated string literal");
    rejects("#H['a", 4, "unterminated string literal");
}

#[test]
fn variable_syntax() {
    rejects("#H[ 'a' ] == '1'", 4, "no spaces");
    rejects("#H['a' ] == '1'", 7, "no spaces");
    rejects("#H[''] == '1'", 4, "must not be empty");
    rejects("#H['a b'] == '1'", 4, "whitespace");
    rejects("#H['it''s'] == '1'", 4, "quotes");
    rejects("#H['a'x] == '1'", 7, "expected `]`");
    rejects("#H", 1, "indexed by a quoted name");
    rejects("#H.a", 1, "indexed by a quoted name");
    rejects("#H[0]", 4, "indexed by a quoted name");
    rejects("#H[#H['a']]", 4, "indexed by a quoted name");
    rejects("#h['a'] == '1'", 1, "variable `#h` is not supported");
    rejects("#H['a']['b']", 8, "only supported as #H['name']");
    rejects("#", 1, "must be followed by a variable name");
}

#[test]
fn matches_is_a_whole_string_match() {
    assert!(!t("'abc' matches 'b'"));
    assert!(t("'abc' matches '.*b.*'"));
    assert!(t("'abc' matches 'abc'"));
    assert!(t("'abc' MATCHES 'a.c'"));
    assert!(t("'ab' matches 'a|ab'"));
    assert!(!t("'abc' matches 'a|ab'"));
    assert!(t("'' matches ''"));
    assert!(!t("'x' matches ''"));
    assert!(t("'ABC' matches '(?i)abc'"));
    let re = r"#H['a'] matches '\d+'";
    assert!(run(re, &[("a", "123")]));
    assert!(!run(re, &[("a", "12x")]));
    assert!(!run(re, &[("a", "x12")]));
    assert!(!run(re, &[]));
    assert!(!run(re, &[("a", "1\n2")]));
    assert!(run("#H['a'] matches 'it''s'", &[("a", "it's")]));
    assert!(t("!('abc' matches 'b')"));
    assert!(t("'abc' matches 'b' || 'abc' matches 'a.*'"));
    // Number and boolean operands never match.
    assert!(!t("12 matches '12'"));
    // The pattern's column is reported for an invalid regex.
    rejects(
        "#H['a'] matches '(abc'",
        17,
        "invalid regular expression: unclosed group",
    );
    // An unbalanced pattern cannot escape the anchoring group.
    rejects("'b' matches 'a)|(b'", 13, "invalid regular expression");
    rejects("'a' matches '(?=a)a'", 13, "invalid regular expression");
    rejects(r"'a' matches '(a)\1'", 13, "invalid regular expression");
    rejects(r"'a' matches '\w{1000}{1000}'", 13, "regular expression");
    let deep = format!("'a' matches '{}a{}'", "(".repeat(100), ")".repeat(100));
    rejects(&deep, 13, "invalid regular expression");
    rejects("'a' matches #H['b']", 13, "must be a string literal");
    rejects("'a' matches", 12, "must be a string literal");
    rejects("'a' matches 'a' == true", 17, "cannot be chained");
}

#[test]
fn contains() {
    let src = "#H['a'].contains('bc')";
    assert!(run(src, &[("a", "abcd")]));
    assert!(!run(src, &[("a", "xyz")]));
    assert!(!run(src, &[]));
    assert!(t("'abc'.contains('b')"));
    assert!(t("'abc'.contains('')"));
    assert!(t("\"abc\" .contains ( 'c' )"));
    assert!(!t("'abc'.contains('B')"));
    assert!(t("!#H['a'].contains('x')"));
    assert!(run(
        "#H['a'].contains('b') && #H['a'] == 'abc'",
        &[("a", "abc")]
    ));
    assert!(t("'abc'.contains('b') == true"));
    rejects(
        "#H['a'].contains(#H['b'])",
        18,
        "one string literal argument",
    );
    rejects(
        "#H['a'].contains('a', 'b')",
        21,
        "one string literal argument",
    );
    rejects("#H['a'].contains()", 18, "one string literal argument");
    rejects("#H['a'].contains('a'", 21, "one string literal argument");
    rejects("#H['a'].contains", 9, "property access `.contains`");
    rejects("#H['a'].Contains('x')", 9, "method `Contains(...)`");
    rejects("1.contains('a')", 2, "can only be called on");
    rejects("(#H['a']).contains('x')", 10, "can only be called on");
    rejects(
        "#H['a'].contains('x').contains('y')",
        22,
        "cannot be chained",
    );
    rejects("#H['a'].", 9, "expected a method name");
}

#[test]
fn bare_operands_use_truthiness() {
    assert!(t("true"));
    assert!(!t("false"));
    assert!(t("(true)"));
    assert!(t("'true'"));
    assert!(t("'TRUE'"));
    assert!(!t("'yes'"));
    assert!(!t("' true'"));
    assert!(!t("1"));
    assert!(!t("null"));
    assert!(!t("'x'"));
    assert!(run("#H['flag']", &[("flag", "true")]));
    assert!(!run("#H['flag']", &[("flag", "false")]));
    assert!(!run("#H['flag']", &[]));
    assert!(run(
        "#H['flag'] && #H['x'] == '1'",
        &[("flag", "true"), ("x", "1")]
    ));
    assert!(run("not #H['flag']", &[("flag", "no")]));
}

/// Tries conditions in Nepxion's order (stable sort by reference count,
/// descending); the first that holds wins.
fn pick<'r>(conditions: &[(&str, &'r str)], headers: &[(&str, &str)]) -> Option<&'r str> {
    let mut parsed: Vec<(Expr, &str)> = conditions
        .iter()
        .map(|&(src, route)| (Expr::parse(src).unwrap(), route))
        .collect();
    parsed.sort_by_key(|(e, _)| std::cmp::Reverse(e.reference_count()));
    parsed.into_iter().find_map(|(e, route)| {
        let names = e.variables().to_vec();
        let hit = e.eval(&mut |i| {
            headers
                .iter()
                .find(|(k, _)| *k == &*names[i])
                .map(|&(_, v)| v)
        });
        hit.then_some(route)
    })
}

/// Expressions from the Nepxion sample rules (XML-unescaped).
#[test]
fn nepxion_rule_expressions() {
    let all = [
        "#H['a'] == '0'",
        "#H['a'] == '1'",
        "#H['a'] == '2'",
        "#H['a'] == '3'",
        "#H['c'] == '3'",
        "#H['a'] == '1' and #H['b'] == '2'",
        "#H['a'] == '1' and #H['b'] == '2' and #H['c'] == '3'",
        // The wiki's form, written `&amp;&amp;` inside XML attributes.
        "#H['a'] == '1' && #H['b'] == '2'",
    ];
    for src in all {
        let e = Expr::parse(src).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(e.reference_count(), e.variables().len(), "{src}");
    }
    // 03-guide-discovery-strategy-blue-green.xml
    let rule03 = [
        ("#H['a'] == '1'", "version-route2"),
        ("#H['a'] == '1' and #H['b'] == '2'", "version-route1"),
    ];
    assert_eq!(pick(&rule03, &[]), None);
    assert_eq!(pick(&rule03, &[("a", "1")]), Some("version-route2"));
    assert_eq!(
        pick(&rule03, &[("a", "1"), ("b", "2")]),
        Some("version-route1")
    );
    // 06-guide-discovery-strategy-blue-green-header-parameter-cookie.xml
    let rule06 = [
        ("#H['a'] == '1'", "version-route2"),
        (
            "#H['a'] == '1' and #H['b'] == '2' and #H['c'] == '3'",
            "version-route1",
        ),
    ];
    let abc = [("a", "1"), ("b", "2"), ("c", "3")];
    assert_eq!(pick(&rule06, &abc), Some("version-route1"));
    // 09-guide-discovery-strategy-all.xml (blue-green part)
    let rule09 = [
        ("#H['a'] == '0'", "version-route0"),
        ("#H['a'] == '1'", "version-route1"),
    ];
    assert_eq!(pick(&rule09, &[("a", "0")]), Some("version-route0"));
    assert_eq!(pick(&rule09, &[("a", "2")]), None);
    // 01-discovery-example-service-rule.xml with its built-in header.
    let rule01 = [
        ("#H['a'] == '1' and #H['b'] == '2'", "a-1"),
        ("#H['c'] == '3'", "a-2"),
    ];
    assert_eq!(pick(&rule01, &abc), Some("a-1"));
    assert_eq!(pick(&rule01, &[("c", "3")]), Some("a-2"));
}

#[test]
fn hostile_inputs_are_rejected() {
    let cases = [
        (
            "T(java.lang.Runtime).getRuntime().exec('id')",
            1,
            "type references",
        ),
        ("T(java.lang.Runtime)", 1, "type references"),
        ("new java.lang.ProcessBuilder('id').start()", 1, "`new`"),
        ("new int[1000000000]", 1, "`new`"),
        (
            "#H['a'].getClass()",
            9,
            "method `getClass(...)` is not supported",
        ),
        (
            "#H['a'].getClass().forName('x')",
            9,
            "method `getClass(...)`",
        ),
        ("'a'.concat('b') == 'ab'", 5, "method `concat(...)`"),
        ("#this", 1, "`#this` is not supported"),
        ("#root == null", 1, "`#root` is not supported"),
        (
            "#systemProperties['user.home'] == 'x'",
            1,
            "`#systemProperties`",
        ),
        ("''.class", 4, "property access `.class`"),
        ("#H['a'].length == 1", 9, "property access `.length`"),
        ("@bean", 1, "bean references"),
        (
            "#H['a'] == '1' || @systemProperties['x'] == 'y'",
            19,
            "bean references",
        ),
        ("&factoryBean", 1, "`&` is not an operator"),
        ("#H['a']?.length", 8, "safe navigation"),
        ("#H['a'] ?: 'x'", 9, "Elvis"),
        ("#H['a'] == '1' ? true : false", 16, "conditional operator"),
        ("#H['a'] = '1'", 9, "assignment"),
        ("#H['a'] += '1'", 9, "arithmetic is not supported"),
        ("#H['a'] + '1' == '11'", 9, "arithmetic is not supported"),
        ("1 - 1 == 0", 3, "arithmetic is not supported"),
        ("2 * 3 == 6", 3, "arithmetic is not supported"),
        ("4 / 2 == 2", 3, "arithmetic is not supported"),
        ("5 % 2 == 1", 3, "arithmetic is not supported"),
        ("2 ^ 3 == 8", 3, "arithmetic is not supported"),
        ("- 1 < 0", 1, "arithmetic is not supported"),
        ("4 div 2 == 2", 3, "arithmetic is not supported"),
        ("5 MOD 2 == 1", 3, "arithmetic is not supported"),
        ("{1,2}.contains(1)", 1, "inline lists and maps"),
        ("#H['list'].![#this]", 11, "projection"),
        ("#H['list'].?[#this == 'a']", 11, "selection"),
        ("#H['list'].^[true]", 11, "selection"),
        (
            "'a' instanceof T(String)",
            5,
            "`instanceof` is not supported",
        ),
        ("#H['a'] between {1, 2}", 9, "`between` is not supported"),
        (
            "getRuntime()",
            1,
            "function calls such as `getRuntime(...)`",
        ),
        ("foo", 1, "unknown identifier `foo`"),
        ("#H['a'] == foo", 12, "unknown identifier `foo`"),
        (
            "#H['a'] == '1' and T(java.lang.System).exit(0) == 1",
            20,
            "type references",
        ),
        ("#H['a'] == '1' andd #H['b'] == '2'", 16, "found `andd`"),
        ("1e5 > 1", 1, "unsupported number literal `1e5`"),
        ("10L > 1", 1, "unsupported number literal `10L`"),
        ("0x1F > 1", 1, "unsupported number literal `0x1F`"),
        ("1.5.2 > 1", 1, "unsupported number literal `1.5.2`"),
        (".5 > 0", 1, "must start with a digit"),
        ("'a' == 'a' ; 'b'", 12, "unexpected character ';'"),
        ("'a' == 'a' && \u{7}", 15, "unexpected character '\\u{7}'"),
    ];
    for (src, col, fragment) in cases {
        rejects(src, col, fragment);
    }
}

#[test]
fn structural_errors() {
    rejects("", 1, "expression is empty");
    rejects(" \t\n", 1, "expression is empty");
    rejects(
        "(#H['a'] == '1'",
        16,
        "missing `)` to close the `(` at column 1",
    );
    rejects(
        "(#H['a'] == '1' '2')",
        17,
        "expected `)` to close the `(` at column 1",
    );
    rejects("#H['a'] == '1')", 15, "unmatched `)`");
    rejects("()", 2, "expected a value, found `)`");
    rejects(
        "#H['a'] ==",
        11,
        "expected a value, but the expression ended",
    );
    rejects("== '1'", 1, "expected a value, found `==`");
    rejects("#H['a'] == and", 12, "found the operator `and`");
    rejects("#H['a'] '1'", 9, "expected an operator");
    rejects("#H['a'] == '1' == true", 16, "cannot be chained");
    rejects("1 < 2 < 3", 7, "cannot be chained");
    rejects("#H['a'] == '1' &&", 18, "expression ended");
    rejects("#H['a'] === '1'", 11, "assignment");
    rejects("#H['a'] == '1' & #H['b'] == '2'", 16, "use `&&` or `and`");
    rejects(
        "#H['a'] == '1' &amp;&amp; #H['b'] == '2'",
        16,
        "`&amp;` must be decoded",
    );
    rejects("#H['a'] == '1' | #H['b'] == '2'", 16, "use `||` or `or`");
    rejects("'a', 'b'", 4, "unexpected `,`");
    // A syntax error is reported before a later lexical error.
    rejects("foo == @bar", 1, "unknown identifier");
}

#[test]
fn nesting_limits() {
    let parens = |n: usize| format!("{}true{}", "(".repeat(n), ")".repeat(n));
    assert!(t(&parens(MAX_DEPTH)));
    rejects(&parens(MAX_DEPTH + 1), MAX_DEPTH + 1, "nested too deeply");
    rejects(&parens(8_000), MAX_DEPTH + 1, "nested too deeply");
    rejects(&"(".repeat(10_000), MAX_DEPTH + 1, "nested too deeply");

    let bangs = |n: usize| format!("{}true", "!".repeat(n));
    assert!(t(&bangs(MAX_DEPTH)));
    assert!(!t(&bangs(MAX_DEPTH - 1)));
    rejects(&bangs(MAX_DEPTH + 1), MAX_DEPTH + 1, "nested too deeply");
    rejects(&bangs(10_000), MAX_DEPTH + 1, "nested too deeply");
    rejects(
        &"not ".repeat(4_000),
        4 * MAX_DEPTH + 1,
        "nested too deeply",
    );

    let mixed = |n: usize| format!("{}true{}", "(!".repeat(n), ")".repeat(n));
    assert!(t(&mixed(MAX_DEPTH / 2)));
    rejects(
        &mixed(MAX_DEPTH / 2 + 1),
        MAX_DEPTH + 1,
        "nested too deeply",
    );

    // Long flat chains are not nesting, and evaluate without deep
    // recursion.
    assert!(t(&format!("{}true", "true && ".repeat(2000))));
    assert!(t(&format!("{}true", "false || ".repeat(1700))));
}

#[test]
fn size_limits() {
    // Source text: 16 KiB.
    let body = "true || ".repeat(2047) + "true";
    let exact = format!("{body:<width$}", width = MAX_SOURCE_LEN);
    assert_eq!(exact.len(), MAX_SOURCE_LEN);
    assert!(t(&exact));
    let over = exact.clone() + " ";
    rejects(
        &over,
        MAX_SOURCE_LEN + 1,
        "expression is too long (16385 bytes",
    );
    let huge = format!("#H['a'] == '{}'", "x".repeat(1 << 20));
    rejects(&huge, MAX_SOURCE_LEN + 1, "expression is too long");
    // The error still prints a bounded window.
    assert!(err(&huge).to_string().len() < 400);

    // String literals: 4 KiB after unescaping.
    let x4k = "x".repeat(MAX_STRING_LEN);
    assert!(run(&format!("#H['a'] == '{x4k}'"), &[("a", &x4k)]));
    let long = format!("#H['a'] == '{}'", "x".repeat(5000));
    rejects(
        &long,
        12,
        "string literal is too long (5000 bytes; the limit is 4096)",
    );
    let name = format!("#H['{}'] == '1'", "n".repeat(MAX_STRING_LEN + 1));
    rejects(&name, 4, "string literal is too long");

    // Number literals: 100 digits.
    let n100 = format!("1.{}", "0".repeat(MAX_NUMBER_DIGITS - 1));
    assert!(t(&format!("{n100} == 1")));
    let n101 = "1".repeat(MAX_NUMBER_DIGITS + 1);
    rejects(
        &format!("{n101} > 1"),
        1,
        "number literal is too long (101 digits",
    );
    let n1000 = format!("#H['a'] < {}", "9".repeat(1000));
    rejects(
        &n1000,
        11,
        "number literal is too long (1000 digits; the limit is 100)",
    );

    // Variables: 64 distinct names, any number of references.
    let vars = |n: usize| {
        (0..n)
            .map(|i| format!("#H['v{i}'] == '1'"))
            .collect::<Vec<_>>()
            .join(" && ")
    };
    let e = Expr::parse(&vars(MAX_VARIABLES)).unwrap();
    assert_eq!(e.variables().len(), MAX_VARIABLES);
    assert!(e.eval(&mut |_| Some("1")));
    assert!(!e.eval(&mut |i| (i != 63).then_some("1")));
    let hundred = vars(100);
    let col = hundred.find("#H['v64']").unwrap() + 1;
    rejects(&hundred, col, "too many variables");
    let same = vec!["#H['v'] == '1'"; 500].join(" || ");
    let e = Expr::parse(&same).unwrap();
    assert_eq!((e.variables().len(), e.reference_count()), (1, 500));
}

#[test]
fn error_display() {
    assert_eq!(
        err("#H['a'] === '1'").to_string(),
        "invalid expression at column 11: `=` (assignment) is not supported; \
         use `==` to compare\n  #H['a'] === '1'\n            ^"
    );
    assert_eq!(
        err("#H['a'] == '1' & #H['b'] == '2'").to_string(),
        "invalid expression at column 16: `&` is not an operator; use `&&` or `and` \
         (XML entities such as `&amp;` must be decoded first)\n  \
         #H['a'] == '1' & #H['b'] == '2'\n                 ^"
    );
    assert_eq!(
        err("").to_string(),
        "invalid expression at column 1: expression is empty\n  \n  ^"
    );
    assert_eq!(
        err("(#H['a'] == '1'").to_string(),
        "invalid expression at column 16: missing `)` to close the `(` at column 1\n  \
         (#H['a'] == '1'\n                 ^"
    );
    // Control characters print as spaces so the caret stays aligned.
    assert_eq!(
        err("'a'\n== @").to_string(),
        "invalid expression at column 8: bean references (`@name`) are not supported\n  \
         'a' == @\n         ^"
    );
    // Columns count characters, not bytes.
    assert_eq!(
        err("'日本' = 1").to_string(),
        "invalid expression at column 6: `=` (assignment) is not supported; \
         use `==` to compare\n  '日本' = 1\n       ^"
    );
}

#[test]
fn error_display_windows_long_sources() {
    let bean = "bean references (`@name`) are not supported";
    // Error near the end: ellipsis on the left only.
    let src = format!("'{}' == @", "a".repeat(100));
    assert_eq!(
        err(&src).to_string(),
        format!(
            "invalid expression at column 107: {bean}\n  …{}' == @\n  {}^",
            "a".repeat(54),
            " ".repeat(60)
        )
    );
    // Error in the middle: ellipses on both sides.
    let src = format!("'{}' @ '{}'", "a".repeat(100), "b".repeat(100));
    assert_eq!(
        err(&src).to_string(),
        format!(
            "invalid expression at column 104: {bean}\n  …{}' @ '{}…\n  {}^",
            "a".repeat(28),
            "b".repeat(27),
            " ".repeat(31)
        )
    );
    // Error at the start: ellipsis on the right only.
    let src = format!("@ '{}'", "a".repeat(100));
    assert_eq!(
        err(&src).to_string(),
        format!(
            "invalid expression at column 1: {bean}\n  @ '{}…\n  ^",
            "a".repeat(57)
        )
    );
}

#[test]
fn reference_count_counts_source_text() {
    let count = |s: &str| Expr::parse(s).unwrap().reference_count();
    assert_eq!(count("#H['a'] == '1' && #H['b'] == '2'"), 2);
    assert_eq!(count("#H['a'] == '1'"), 1);
    assert_eq!(count("true"), 0);
    assert_eq!(count("#H[\"a\"] == '1'"), 1);
    // Raw text, as in Nepxion: a literal that looks like a reference
    // counts too.
    assert_eq!(count("#H['a'] == '#H['''"), 2);
}

#[test]
fn explained_evaluation() {
    let e = Expr::parse(
        "#H['a'] == '1' && (#H['b'] matches 'x.*' || #H['c'].contains('z') || #H['d'] > 5)",
    )
    .unwrap();
    let values = ["1", "y"];
    let (result, steps) = e.eval_explained(&mut |i| values.get(i).copied());
    assert!(!result);
    let step = |text: &str, left: Option<&str>, right: Option<&str>, result| ExprStep {
        text: text.into(),
        left: left.map(Into::into),
        right: right.map(Into::into),
        result,
    };
    assert_eq!(
        steps,
        [
            step("#H['a'] == '1'", Some("1"), Some("1"), true),
            step("#H['b'] matches 'x.*'", Some("y"), Some("x.*"), false),
            step("#H['c'].contains('z')", None, Some("z"), false),
            step("#H['d'] > 5", None, Some("5"), false),
        ]
    );
    assert_eq!(
        steps[0].to_string(),
        "#H['a'] == '1' (\"1\" vs \"1\") -> true"
    );
    assert_eq!(
        steps[2].to_string(),
        "#H['c'].contains('z') (null vs \"z\") -> false"
    );

    // Only evaluated comparisons are recorded.
    let (result, steps) = e.eval_explained(&mut |_| Some("0"));
    assert!(!result);
    assert_eq!(steps.len(), 1);
    let e = Expr::parse("(true == true) == !false").unwrap();
    let (result, steps) = e.eval_explained(&mut |_| None);
    assert!(result);
    assert_eq!(steps[0].text, "true == true");
    assert_eq!(steps[1].text, "(true == true) == !false");
    assert_eq!(steps[1].left.as_deref(), Some("true"));
}

#[test]
fn api_traits() {
    fn assert_traits<T: Send + Sync + Clone + std::fmt::Debug + 'static>() {}
    assert_traits::<Expr>();
    assert_traits::<ExprError>();
    assert_traits::<ExprStep>();
    let e: Expr = "#H['a'] matches 'x' && #H['b'] == '1'".parse().unwrap();
    assert_eq!(e.source(), "#H['a'] matches 'x' && #H['b'] == '1'");
    assert_eq!(e.to_string(), e.source());
    let debug = format!("{e:?}");
    assert!(
        debug.contains("source") && debug.contains("\"a\""),
        "{debug}"
    );
    let copy = e.clone();
    let handle = std::thread::spawn(move || copy.eval(&mut |_| Some("x")));
    assert!(!handle.join().unwrap());
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err("@"));
    assert!(boxed
        .to_string()
        .starts_with("invalid expression at column 1"));
}

const SOUP: &[&str] = &[
    "#H['a']",
    "#H[\"b\"]",
    "#H['c']",
    "'x'",
    "'1'",
    "'10'",
    "\"9\"",
    "1",
    "-2.5",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "eq",
    "LT",
    "&&",
    "||",
    "and",
    "OR",
    "!",
    "not",
    "(",
    ")",
    " matches ",
    "'[a-z]+'",
    "'('",
    ".contains('x')",
    "true",
    "false",
    "null",
    " ",
    "@",
    "T(",
    "'",
    "#",
    ".",
    ",",
    "=",
    "&",
    "-",
    "99999999999999999999",
    "\u{1F600}",
    "é",
];

const VALUES: &[&str] = &["", "1", "10", "x", "true", "-0.0", "ab", "1e2"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsing_arbitrary_text_never_panics(src in any::<String>()) {
        match Expr::parse(&src) {
            Ok(e) => {
                let _ = e.eval(&mut |_| Some("1"));
            }
            Err(e) => {
                prop_assert!(e.column() >= 1 && e.column() <= src.chars().count() + 1);
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn token_soup_never_panics(
        parts in prop::collection::vec(prop::sample::select(SOUP), 0..40),
        values in prop::collection::vec(prop::option::of(prop::sample::select(VALUES)), 3),
    ) {
        let src = parts.concat();
        match Expr::parse(&src) {
            Ok(e) => {
                let mut lookup = |i: usize| values.get(i).copied().flatten();
                let plain = e.eval(&mut lookup);
                let (explained, _) = e.eval_explained(&mut lookup);
                prop_assert_eq!(plain, explained);
            }
            Err(e) => {
                prop_assert!(e.column() >= 1 && e.column() <= src.chars().count() + 1);
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn numeric_order_agrees_with_integers(a in any::<i64>(), b in any::<i64>(), s in 0u32..4) {
        let scale = 10i128.pow(s);
        let text = |v: i64| {
            let sign = if v < 0 { "-" } else { "" };
            let m = i128::from(v).abs();
            if s == 0 {
                format!("{sign}{m}")
            } else {
                format!("{sign}{}.{:0w$}", m / scale, m % scale, w = s as usize)
            }
        };
        let (x, y) = (text(a), text(b));
        prop_assert_eq!(t(&format!("'{x}' < '{y}'")), a < b);
        prop_assert_eq!(t(&format!("'{x}' >= {y}")), a >= b);
        prop_assert_eq!(t(&format!("{x} == {y}")), a == b);
    }
}
