"""Bad configs, bad expressions, wrong argument types and hostile request values."""

from __future__ import annotations

from typing import Any

import pytest

import gray


def test_error_hierarchy() -> None:
    assert issubclass(gray.ConfigError, gray.GrayError) and issubclass(gray.ConfigError, ValueError)
    assert issubclass(gray.ExpressionError, gray.ConfigError)
    assert issubclass(gray.UnknownNameError, LookupError)
    assert gray.ConfigError.__module__ == "gray"


def test_malformed_yaml_has_line() -> None:
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_str("version: 1\ndefault: a\ngroups: [unclosed\n")
    e = info.value
    assert e.kind == "syntax" and e.line is not None and e.line >= 3


def test_unknown_field_names_path_and_line() -> None:
    text = "version: 1\ndefault: a\ngroups:\n  a:\n    nodes:\n      - address: 1.2.3.4:80\n        wieght: 3\n"
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_str(text)
    e = info.value
    assert e.path == "groups.a.nodes[0].wieght" and e.line == 7
    assert "wieght" in str(e) and "wieght" in e.message


def test_bad_regex_names_the_rule() -> None:
    text = (
        "version: 1\ngroups: { a: { nodes: [] } }\ndefault: a\n"
        "rules: [{ id: r1, when: { cookie: { name: c, regex: '(unclosed' } }, route: a }]\n"
    )
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_str(text)
    assert info.value.kind == "invalid_regex"
    assert "rules[0]" in info.value.path or "r1" in str(info.value)


def test_bad_expression_has_column() -> None:
    text = (
        "version: 1\ngroups: { a: { nodes: [] } }\ndefault: a\n"
        "rules: [{ id: e, when: { expr: \"#H['a'] == '1' &&\" }, route: a }]\n"
    )
    with pytest.raises(gray.ExpressionError) as info:
        gray.Engine.from_str(text)
    e = info.value
    assert isinstance(e, gray.ConfigError) and isinstance(e, ValueError)
    assert e.kind == "invalid_expression" and e.column is not None and e.column > 0
    assert "rules[0]" in e.path


def test_json_and_toml_errors() -> None:
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_str('{"version": 1,\n"default": "a",\n"rules": [{"idd": 1}]}', format="json")
    assert info.value.line == 3
    with pytest.raises(gray.ConfigError):
        gray.Engine.from_str('version = 1\ndefault = "a"\n[groups.a]\nselect = "fastest"\n', format="toml")


def test_missing_file_and_bad_format() -> None:
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_file("/nonexistent/gray.yaml")
    assert info.value.kind == "io"
    with pytest.raises(ValueError, match="format must be"):
        gray.Engine.from_str("version: 1", format="xml")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"headers": 5}, "headers must be a dict"),
        ({"headers": "x-a: 1"}, "headers must be a dict"),
        ({"headers": {"x-a": 1}}, 'headers["x-a"] must be str, bytes or a list'),
        ({"headers": {1: "a"}}, "headers names must be str or bytes"),
        ({"headers": [("x-a",)]}, "items of headers must be"),
        ({"cookies": 3.5}, "cookies must be a dict"),
        ({"path": 1}, "path must be str, bytes or None"),
        ({"method": ["GET"]}, "method must be str"),
        ({"query": {"a": "1"}}, "query must be str"),
        ({"cookie_header": 7}, "cookie_header must be str"),
    ],
)
def test_wrong_types_raise_type_error(engine: gray.Engine, kwargs: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        engine.decide("1.2.3.4", **kwargs)


def test_wrong_peer_and_scope_types(engine: gray.Engine) -> None:
    with pytest.raises(TypeError, match="peer_ip must be"):
        engine.decide(1234)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scope must be an ASGI scope dict"):
        engine.decide_asgi([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="environ must be a WSGI environ dict"):
        engine.decide_wsgi("x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.decide("1.2.3.4", "positional-headers")  # type: ignore[misc]
    with pytest.raises(TypeError):
        engine.report("not a decision", True)  # type: ignore[arg-type]


def test_argument_binding_errors(engine: gray.Engine) -> None:
    # the messages Python gives for any method with this signature
    for name, method in [("decide", engine.decide), ("explain", engine.explain)]:
        with pytest.raises(TypeError, match=rf"^Engine\.{name}\(\) takes from 0 to 1 positional arguments but 2 were given$"):
            method("1.2.3.4", {})  # type: ignore[misc]
        with pytest.raises(TypeError, match=rf"^Engine\.{name}\(\) got an unexpected keyword argument 'header'$"):
            method("1.2.3.4", header={})  # type: ignore[call-arg]
        with pytest.raises(TypeError, match=rf"^Engine\.{name}\(\) got multiple values for argument 'peer_ip'$"):
            method("1.2.3.4", peer_ip="1.2.3.5")  # type: ignore[misc]
    # every parameter can be given by keyword
    d = engine.decide(
        peer_ip="203.0.113.5", headers={}, cookies={}, cookie_header="canary=xaaa", query="", path="/",
        method="GET", host="h",
    )
    assert d.rule == "canary-cookie"
    assert engine.decide(**{"peer_ip": None}).group == "stable"


MB = 1024 * 1024


def test_one_megabyte_values(engine: gray.Engine) -> None:
    big = "a" * MB
    # a 1 MB cookie value still matches the cookie regex (aaa$)
    assert engine.decide("1.2.3.4", cookie_header="canary=" + big).rule == "canary-cookie"
    assert engine.decide("1.2.3.4", headers={"cookie": "x=" + big + "; canary=b"}).rule is None
    # a 1 MB forwarded-for from a trusted proxy: garbage stops the walk, the peer is used
    d = engine.decide("10.0.0.1", headers={"x-forwarded-for": "1" * MB})
    assert d.rule is None and d.group == "stable"
    d = engine.decide("10.0.0.1", headers={"x-forwarded-for": ("203.0.113.1, " * (MB // 13)) + "192.168.2.20"})
    assert d.rule == "testers"
    # a 1 MB header value, name, path and query
    assert engine.decide("1.2.3.4", headers={"x-beta": "1" * MB}).rule is None
    assert engine.decide("1.2.3.4", headers={"x" * MB: "1"}).rule is None
    assert engine.decide("1.2.3.4", path="/" + big, query="a=" + big).group == "stable"
    ex = engine.explain("1.2.3.4", headers={"x-beta": "2" * MB})
    assert len(ex.text) < 100_000  # explanations shorten long values


def test_non_text_values_count_as_absent(engine: gray.Engine) -> None:
    # invalid UTF-8 bytes and lone surrogates cannot match anything, and raise nothing
    assert engine.decide("1.2.3.4", headers=[(b"x-beta", b"\xff1")]).rule is None
    assert engine.decide("1.2.3.4", headers={"x-beta": "1\udc80"}).rule is None
    assert engine.decide("1.2.3.4", cookie_header="canary=\udcffaaa").rule is None
    assert engine.decide("1.2.3.4", headers={"x-beta": "1"}).rule == "beta-header"
    scope = {"type": "http", "client": None, "headers": [(b"cookie", b"canary=\xffaaa")]}
    assert engine.decide_asgi(scope).rule is None
    env = {"REMOTE_ADDR": "1.2.3.4", "HTTP_COOKIE": "canary=\u00ffaaa"}  # latin-1 0xff: not UTF-8
    assert engine.decide_wsgi(env).rule is None
    env = {"REMOTE_ADDR": "1.2.3.4", "HTTP_COOKIE": "canary=\u00c3\u00a9aaa"}  # 'éaaa' as UTF-8
    assert engine.decide_wsgi(env).rule == "canary-cookie"
