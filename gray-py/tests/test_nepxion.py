"""Nepxion Discovery rules through the Python API (testdata/nepxion, see index.md there)."""

from __future__ import annotations

import json
import warnings
from typing import Dict, List

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

import gray
from conftest import TESTDATA
from gray.asgi import GrayMiddleware, decision_of

A = "discovery-guide-service-a"
B = "discovery-guide-service-b"


def rule(name: str) -> str:
    return (TESTDATA / "nepxion" / name).read_text(encoding="utf-8")


def versions(d: gray.Decision) -> Dict[str, str]:
    v = d.route("version")
    assert v is not None
    parsed = json.loads(v)
    assert isinstance(parsed, dict)
    return parsed


def test_blue_green_xml_routes_like_the_guide() -> None:
    e = gray.Engine.from_nepxion(rule("03-guide-discovery-strategy-blue-green.xml"))
    assert versions(e.decide("10.0.0.1")) == {A: "1.0", B: "1.0"}
    d = e.decide("10.0.0.1", headers={"a": "1"})
    assert versions(d) == {A: "1.0", B: "1.1"} and d.route_id("version") == "version-route2"
    d = e.decide("10.0.0.1", headers={"a": "1", "b": "2"})
    assert versions(d) == {A: "1.1", B: "1.1"} and d.route_id("version") == "version-route1"
    assert ("n-d-version", d.route("version")) in d.headers
    assert d.route("region") is None and d.route_id("region") is None
    with pytest.raises(ValueError, match="kind must be"):
        d.route("colour")  # type: ignore[arg-type]


def test_parameters_cookies_and_headers_feed_expressions() -> None:
    e = gray.Engine.from_nepxion(rule("06-guide-discovery-strategy-blue-green-header-parameter-cookie.xml"))
    d = e.decide("10.0.0.1", path="/x?a=1", cookie_header="b=2", headers={"c": "3"})
    assert versions(d) == {A: "1.1", B: "1.1"}


def test_xml_and_json_forms_agree_and_unapplied_parts_warn() -> None:
    with pytest.warns(gray.NepxionWarning) as xml_warnings:
        from_xml = gray.Engine.from_nepxion(rule("01-discovery-example-service-rule.xml"))
    messages: List[str] = [str(w.message) for w in xml_warnings]
    assert any("register" in m for m in messages), messages
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gray.NepxionWarning)
        from_json = gray.Engine.from_nepxion(rule("02-discovery-example-service-rule.json"))
    for headers in [{}, {"a": "1"}, {"a": "1", "b": "2"}, {"c": "3"}]:
        x, j = from_xml.decide("10.0.0.1", headers=headers), from_json.decide("10.0.0.1", headers=headers)
        assert x.headers == j.headers, headers


def test_bad_rules_are_config_errors_with_positions() -> None:
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_nepxion("<rule><strategy><version>1.0</strategy></rule>")
    assert info.value.line == 1 and info.value.column is not None
    with pytest.raises(gray.ConfigError) as info:
        gray.Engine.from_nepxion("version: 1")
    assert "starts with" in str(info.value)
    bad_expr = (
        "<rule><strategy-release><conditions type=\"blue-green\">"
        "<condition id=\"c\" expression=\"#H['a'] = '1'\" version-id=\"r\"/></conditions>"
        "<routes><route id=\"r\" type=\"version\">1.1</route></routes></strategy-release></rule>"
    )
    with pytest.raises(gray.ExpressionError) as einfo:
        gray.Engine.from_nepxion(bad_expr)
    assert einfo.value.column is not None


def test_reload_nepxion_keeps_nodes() -> None:
    e = gray.Engine.from_nepxion(rule("03-guide-discovery-strategy-blue-green.xml"))
    e.add_node("default", "127.0.0.1:3001", metadata={"version": "1.0"})
    generation = e.reload_nepxion(
        '<rule><strategy><version>{"discovery-guide-service-a":"1.1"}</version></strategy></rule>'
    )
    assert generation == e.generation == 3
    d = e.decide("10.0.0.1", headers={"a": "1"})
    assert versions(d) == {A: "1.1"} and d.node == "127.0.0.1:3001"


TRUSTED = """
version: 1
default: a
groups: { a: { nodes: [{ address: "127.0.0.1:3001" }] } }
release: { defaults: { version: "1.0" } }
headers: { trusted_peers: ["10.0.0.0/8"] }
"""


def test_inbound_routing_headers_follow_trusted_peers() -> None:
    e = gray.Engine.from_str(TRUSTED)
    client = e.decide("203.0.113.1")
    assert not client.trusts_inbound
    assert not client.forward_inbound("n-d-region") and client.forward_inbound("x-request-id")
    peer = e.decide("10.0.0.7")
    assert peer.trusts_inbound
    assert peer.forward_inbound("n-d-region") and not peer.forward_inbound("n-d-version")

    app = FastAPI()
    app.add_middleware(GrayMiddleware, engine=e)

    @app.get("/")
    def index(request: Request) -> Dict[str, object]:
        assert decision_of(request).group == "a"
        return {"version": request.headers.getlist("n-d-version"), "region": request.headers.getlist("n-d-region")}

    sent = {"n-d-version": "9.9", "n-d-region": "qa"}
    from_client = TestClient(app, client=("203.0.113.1", 1)).get("/", headers=sent).json()
    assert from_client == {"version": ["1.0"], "region": []}
    from_peer = TestClient(app, client=("10.0.0.7", 1)).get("/", headers=sent).json()
    assert from_peer == {"version": ["1.0"], "region": ["qa"]}
