"""Engine and Decision behaviour through the Python API."""

from __future__ import annotations

import ipaddress
import threading
from typing import Any, List

import pytest
from starlette.datastructures import Headers
from werkzeug.datastructures import EnvironHeaders
from werkzeug.datastructures import Headers as WzHeaders

import gray
from conftest import CANARY_SPEC


def test_decision_attributes(engine: gray.Engine) -> None:
    d = engine.decide("203.0.113.5", headers={"Cookie": "sid=1; canary=userAAA"})
    assert d.rule == "canary-cookie"
    assert d.group == "canary" and d.requested_group == "canary"
    assert d.node == "127.0.0.1:7002"
    assert d.node_metadata == {"version": "1.1", "region": "dev"}
    assert not d.is_fallback and not d.no_upstream
    assert d.headers == [("x-gray", "canary"), ("n-d-version", "1.1")]
    assert d.generation == 1
    assert d.inbound_policy == "override"
    assert d.is_routing_header("N-D-Version") and not d.is_routing_header("x-gray")
    assert str(d) == "rule canary-cookie → group canary → node 127.0.0.1:7002 [generation 1]"
    assert repr(d) == "<Decision rule='canary-cookie' group='canary' node='127.0.0.1:7002' generation=1>"


def test_default_and_no_upstream(engine: gray.Engine) -> None:
    d = engine.decide("203.0.113.5")
    assert d.rule is None and d.group == "stable" and d.headers == []
    d = engine.decide("203.0.113.5", path="/nowhere/x")
    assert d.rule == "nowhere" and d.no_upstream and d.node is None and d.node_metadata is None


@pytest.mark.parametrize(
    "headers",
    [
        {"x-beta": "1"},
        {"X-Beta": "1"},
        {b"x-beta": b"1"},
        [("X-BETA", "1")],
        [(b"x-beta", b"1")],
        [["x-beta", "1"]],
        (("x-beta", "1"),),
        {"x-beta": ["1", "2"]},
        Headers(raw=[(b"x-beta", b"1")]),
        WzHeaders([("X-Beta", "1")]),
        EnvironHeaders({"HTTP_X_BETA": "1"}),
    ],
    ids=lambda h: type(h).__name__,
)
def test_header_sources(engine: gray.Engine, headers: Any) -> None:
    assert engine.decide("203.0.113.5", headers=headers).rule == "beta-header"


def test_repeated_header_uses_the_first_value(engine: gray.Engine) -> None:
    assert engine.decide("203.0.113.5", headers=[("x-beta", "2"), ("x-beta", "1")]).rule is None


def test_cookie_sources(engine: gray.Engine) -> None:
    assert engine.decide("1.2.3.4", cookies={"canary": "xaaa"}).rule == "canary-cookie"
    assert engine.decide("1.2.3.4", cookies=[("canary", "xaaa")]).rule == "canary-cookie"
    assert engine.decide("1.2.3.4", cookie_header="a=1; canary=xAaA").rule == "canary-cookie"
    # cookies= wins over the Cookie header
    d = engine.decide("1.2.3.4", cookies={"canary": "b"}, headers={"cookie": "canary=aaa"})
    assert d.rule is None
    # several Cookie headers are all searched
    d = engine.decide("1.2.3.4", headers=[("cookie", "a=1"), ("cookie", "canary=aaa")])
    assert d.rule == "canary-cookie"


def test_peer_forms_and_trusted_proxies(engine: gray.Engine) -> None:
    xff = {"x-forwarded-for": "192.168.2.20"}
    assert engine.decide("10.1.1.1", headers=xff).rule == "testers"
    assert engine.decide(ipaddress.ip_address("10.1.1.1"), headers=xff).rule == "testers"
    assert engine.decide(b"10.1.1.1", headers=xff).rule == "testers"
    # from an untrusted peer the header is ignored: a client cannot pick its own route
    assert engine.decide("203.0.113.9", headers=xff).rule is None
    assert engine.decide("192.168.2.20").rule == "testers"
    assert engine.decide("[2001:db8:1::5]").rule == "testers"
    assert engine.decide(ipaddress.ip_address("2001:db8:1::5")).rule == "testers"
    # names that are not addresses mean "no peer"
    assert engine.decide("testclient", headers=xff).rule is None
    assert engine.decide(None).rule is None


@pytest.mark.parametrize(
    "text, peer",
    [
        ("1.2.3.4", "1.2.3.4"),
        (b"10.0.0.1", "10.0.0.1"),
        (" 1.2.3.4 ", "1.2.3.4"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("::1", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        # not addresses: no peer
        ("01.2.3.4", None),
        ("256.1.1.1", None),
        ("1.2.3", None),
        ("1.2.3.4.5", None),
        ("1..2.3", None),
        ("1.2.3.", None),
        (".1.2.3", None),
        ("1.2.3.4x", None),
        ("1234.1.1.1", None),
        ("\u0661.2.3.4", None),
        ("", None),
    ],
)
def test_peer_text_forms(text: Any, peer: Any) -> None:
    e = gray.Engine.from_str("version: 1\ngroups: { a: { nodes: [] } }\ndefault: a\n")
    assert e.explain(text).to_dict()["peer"] == peer
    assert e.decide_asgi({"type": "http", "client": (text, 1)}).group == "a"
    assert e.explain_wsgi({"REMOTE_ADDR": text}).to_dict()["peer"] == peer


def test_path_query_method_host() -> None:
    e = gray.Engine.from_str(
        """
version: 1
groups: { a: { nodes: [] }, b: { nodes: [] } }
rules:
  - { id: q, when: { query: { name: tier, range: { min: 3 } } }, route: b }
  - { id: m, when: { all: [ { method: [PUT] }, { path: { prefix: /api/ } } ] }, route: b }
  - { id: h, when: { host: { suffix: .beta.example.com } }, route: b }
default: a
"""
    )
    assert e.decide(path="/x?tier=4").rule == "q"
    assert e.decide(path="/x", query="tier=%34").rule == "q"
    assert e.decide(path="/x", query=b"tier=2").rule is None
    assert e.decide(path="/api/v1", method="put").rule == "m"
    assert e.decide(path="/api/v1").rule is None
    assert e.decide(host="X.Beta.Example.com:443").rule == "h"
    assert e.decide(headers={"host": "x.beta.example.com"}).rule == "h"


def test_explain_text_and_dict(engine: gray.Engine) -> None:
    ex = engine.explain("10.0.0.1", headers={"x-forwarded-for": "203.0.113.7", "x-beta": "2"})
    text = str(ex)
    assert text == ex.text
    assert "client ip: 203.0.113.7 (peer 10.0.0.1" in text and "x-forwarded-for" in text
    assert 'rule beta-header: no match' in text and 'seen "2"' in text
    data = ex.to_dict()
    assert data["client_ip"] == "203.0.113.7" and ex.client_ip == "203.0.113.7"
    assert [r["id"] for r in data["rules"]] == ["canary-cookie", "testers", "beta-header", "nowhere"]
    assert data["group"] == "stable" and data["rule"] is None
    assert data["rules"][2]["condition"]["seen"] == "2"


def test_reload_is_atomic(engine: gray.Engine) -> None:
    with pytest.raises(gray.ConfigError) as info:
        engine.reload("version: 1\ndefault: nowhere\n")
    assert info.value.kind == "unknown_reference"
    assert engine.generation == 1
    assert engine.decide("192.168.2.20").rule == "testers"
    assert engine.reload(CANARY_SPEC.replace("192.168.2.20", "192.168.2.21")) == 2
    assert engine.decide("192.168.2.20").rule is None
    assert engine.decide("192.168.2.21").rule == "testers"
    assert engine.decide("192.168.2.21").generation == 2


def test_reload_file_and_from_file(tmp_path: Any) -> None:
    p = tmp_path / "gray.json"
    p.write_text('{"version": 1, "groups": {"a": {"nodes": []}}, "default": "a"}')
    e = gray.Engine.from_file(p)
    assert e.decide().group == "a"
    q = tmp_path / "gray.toml"
    q.write_text('version = 1\ndefault = "b"\n[groups.b]\nnodes = []\n')
    assert e.reload_file(str(q)) == 2
    assert e.decide().group == "b"
    assert "default: b" in e.spec() and '"default": "b"' in e.spec("json")


def test_node_admin(engine: gray.Engine) -> None:
    g = engine.add_node("stable", "127.0.0.1:7003", 3, metadata={"version": "1.0"}, fail_timeout="30s")
    assert g == 2
    nodes = engine.nodes("stable")
    assert [n["address"] for n in nodes] == ["127.0.0.1:7001", "127.0.0.1:7003"]
    assert nodes[1]["weight"] == 3 and nodes[1]["fail_timeout_ms"] == 30000
    assert nodes[1]["metadata"] == {"version": "1.0"}
    assert engine.set_weight("stable", "127.0.0.1:7003", 0) == 3
    assert engine.drain("stable", "127.0.0.1:7001") == 4
    assert engine.nodes("stable")[0]["drain"] is True
    assert engine.decide().no_upstream  # one node draining, the other weight 0
    engine.drain("stable", "127.0.0.1:7001", False)
    assert engine.decide().node == "127.0.0.1:7001"
    engine.remove_node("stable", "127.0.0.1:7003")
    assert len(engine.nodes("stable")) == 1
    assert [g["name"] for g in engine.groups()] == ["canary", "empty", "stable"]
    with pytest.raises(gray.UnknownNameError) as info:
        engine.remove_node("stable", "127.0.0.1:9")
    assert isinstance(info.value, LookupError) and info.value.kind == "unknown_node"
    with pytest.raises(gray.UnknownNameError):
        engine.nodes("nope")
    with pytest.raises(gray.ConfigError) as cinfo:
        engine.add_node("stable", "127.0.0.1:7001")
    assert cinfo.value.kind == "duplicate"
    with pytest.raises(gray.ConfigError, match="out of range"):
        engine.set_weight("stable", "127.0.0.1:7001", 10001)
    with pytest.raises(ValueError, match="metadata"):
        engine.add_node("stable", "127.0.0.1:7005", metadata={"versoin": "1"})  # type: ignore[typeddict-unknown-key]


def test_passive_health_and_metrics(engine: gray.Engine) -> None:
    d = engine.decide("1.2.3.4", cookie_header="canary=aaa")
    assert d.node == "127.0.0.1:7002"
    engine.report(d, False)  # max_fails 1: the canary node is out
    d2 = engine.decide("1.2.3.4", cookie_header="canary=aaa")
    assert d2.group == "stable" and d2.is_fallback and d2.requested_group == "canary"
    engine.report_node("stable", "127.0.0.1:7001", True)
    m = engine.metrics()
    assert 'gray_rule_requests_total{rule="canary-cookie"} 2' in m
    assert 'gray_node_up{group="canary",node="127.0.0.1:7002"} 0' in m
    assert 'gray_rule_failures_total{rule="canary-cookie"} 1' in m


def _node_health(engine: gray.Engine, group: str) -> str:
    return engine.nodes(group)[0]["health"]


def test_record_classifies_with_the_groups_fail_on(engine: gray.Engine) -> None:
    d = engine.decide("1.2.3.4", cookie_header="canary=aaa")
    assert d.group == "canary"
    # Default fail_on [error, timeout]: no HTTP status is a failure.
    for status in (500, 502, 503, 504, 404, 200):
        engine.record(d, status)
    assert _node_health(engine, "canary") == "up"
    engine.record_error(d, "connect")
    assert _node_health(engine, "canary") == "down"
    assert engine.decide("1.2.3.4", cookie_header="canary=aaa").is_fallback


@pytest.mark.parametrize("kind", ["connect", "timeout", "reset"])
def test_record_error_kinds_count_by_default(kind: str) -> None:
    engine = gray.Engine.from_str(CANARY_SPEC)
    d = engine.decide("1.2.3.4", cookie_header="canary=aaa")
    engine.record_error(d, kind)  # type: ignore[arg-type]
    assert _node_health(engine, "canary") == "down"


def test_record_with_fail_on_http_5xx() -> None:
    spec = CANARY_SPEC.replace("    fallback: stable\n", "    fallback: stable\n    fail_on: [http_5xx]\n")
    engine = gray.Engine.from_str(spec)
    d = engine.decide("1.2.3.4", cookie_header="canary=aaa")
    engine.record_error(d, "timeout")  # not listed
    engine.record(d, 429)
    assert _node_health(engine, "canary") == "up"
    engine.record(d, 503)
    assert _node_health(engine, "canary") == "down"
    assert "fail_on" in engine.spec() and "http_5xx" in engine.spec()


def test_record_node_and_the_last_node_rule(engine: gray.Engine) -> None:
    # stable has one node and no fallback: it is never ejected, but failures are counted.
    for _ in range(5):
        engine.record_node_error("stable", "127.0.0.1:7001", "connect")
    engine.report_node("stable", "127.0.0.1:7001", False)
    [node] = engine.nodes("stable")
    assert node["health"] == "up" and node["failures"] == 6
    assert engine.decide("1.2.3.4").node == "127.0.0.1:7001"
    engine.record_node("canary", "127.0.0.1:7002", 500)
    assert _node_health(engine, "canary") == "up"
    engine.record_node_error("canary", "127.0.0.1:7002", "reset")
    assert _node_health(engine, "canary") == "down"
    with pytest.raises(gray.UnknownNameError):
        engine.record_node("nope", "127.0.0.1:7002", 500)
    with pytest.raises(gray.UnknownNameError):
        engine.record_node_error("canary", "127.0.0.1:9", "reset")


def test_record_rejects_bad_arguments(engine: gray.Engine) -> None:
    d = engine.decide("1.2.3.4")
    for bad in ("500", 500.0, True, None):
        with pytest.raises(TypeError, match="status must be an int HTTP status"):
            engine.record(d, bad)  # type: ignore[arg-type]
    for bad_status in (0, 99, 1000, -500, 2**70):
        with pytest.raises(ValueError, match="from 100 to 999"):
            engine.record(d, bad_status)
    with pytest.raises(ValueError, match="'connect', 'timeout' or 'reset'"):
        engine.record_error(d, "refused")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="kind must be"):
        engine.record_error(d, 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.record("not a decision", 500)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        engine.record_node("stable", "127.0.0.1:7001", 42)
    assert engine.nodes("stable")[0]["failures"] == 0


def test_shared_between_threads(engine: gray.Engine) -> None:
    errors: List[BaseException] = []
    groups: List[str] = []

    def reader() -> None:
        try:
            for _ in range(2000):
                d = engine.decide("192.168.2.20")
                groups.append(d.group)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def writer() -> None:
        try:
            for i in range(20):
                engine.add_node("stable", f"127.0.0.1:{8000 + i}")
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(groups) == {"canary"} and len(groups) == 8000
    assert engine.generation == 21 and len(engine.nodes("stable")) == 21


@pytest.mark.parametrize(
    ("cookie", "matches"),
    [
        ("c=v", True),
        ("c=1; b=2;c=v", False),  # the first occurrence wins
        ("b=2; c=v; c=1", True),
        ('c="v"', True),  # quotes are removed
        ("  c = v ;b=2", True),  # spaces around names and values are trimmed
        ("junk; =x; c=v", True),  # malformed pairs are skipped
        ("C=v", False),  # names are case-sensitive
        ("c", False),
        ("", False),
    ],
)
def test_cookie_semantics_match_gray_core(cookie: str, matches: bool) -> None:
    e = gray.Engine.from_str(
        "version: 1\ngroups: { a: { nodes: [] }, b: { nodes: [] } }\ndefault: a\n"
        "rules: [{ id: r, when: { cookie: { name: c, equals: v } }, route: b }]\n"
    )
    assert (e.decide(headers={"cookie": cookie}).rule == "r") is matches
    assert (e.decide(cookie_header=cookie).rule == "r") is matches
    # split over two Cookie headers, the earlier header wins
    assert e.decide(headers=[("cookie", "x=1"), ("cookie", cookie)]).rule == ("r" if matches else None)
    assert e.decide(headers=[("cookie", "c=other"), ("cookie", cookie)]).rule is None
    assert e.decide(cookie_header="c=v", headers=[("cookie", "c=other")]).rule == "r"


def test_names_are_shared_python_strings_per_generation(engine: gray.Engine) -> None:
    a = engine.decide("192.168.2.20")
    b = engine.decide("192.168.2.20")
    assert a.group == "canary" and a.group is b.group and a.rule is b.rule
    assert a.requested_group is b.group
    engine.reload(CANARY_SPEC)
    c = engine.decide("192.168.2.20")
    assert c.group == "canary" and c.generation == 2
    # decisions keep answering from their own generation
    assert a.group == "canary" and a.generation == 1


def test_record_with_latency_fills_the_live_windows_and_histograms() -> None:
    engine = gray.Engine.from_str(CANARY_SPEC)
    d = engine.decide("203.0.113.5", headers={"Cookie": "canary=userAAA"})
    for i in range(20):
        engine.record(d, 503 if i % 10 == 0 else 200, latency=0.040)
    engine.record_error(d, "timeout", latency=2.5)
    engine.record(d, 200)  # counted, no latency
    t = engine.traffic()
    assert t["window_seconds"] == 120
    canary = next(g for g in t["groups"] if g["group"] == "canary")
    w = canary["window"]
    assert (w["requests"], w["errors"]) == (22, 3)
    assert abs(w["error_rate"] - 3 / 22) < 1e-9
    assert 35.0 <= w["p50_ms"] <= 45.0
    assert canary["nodes"][0]["window"]["requests"] == 22
    assert next(r for r in t["rules"] if r["window"]["requests"])["window"]["errors"] == 3
    m = engine.metrics()
    assert 'gray_upstream_request_duration_seconds_count{group="canary"' in m
    assert 'le="0.05"} 20' in m
    node = canary["nodes"][0]["address"]
    engine.record_node("canary", node, 200, latency=0.001)
    engine.record_node_error("canary", node, "reset", latency=0)
    w = next(g for g in engine.traffic()["groups"] if g["group"] == "canary")["window"]
    assert (w["requests"], w["errors"]) == (24, 4)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), True, "0.1", [1]])
def test_a_bad_latency_is_a_typed_error_and_records_nothing(bad: Any) -> None:
    engine = gray.Engine.from_str(CANARY_SPEC)
    d = engine.decide("203.0.113.5", headers={"Cookie": "canary=userAAA"})
    with pytest.raises((TypeError, ValueError), match="latency"):
        engine.record(d, 200, latency=bad)
    assert all(g["window"]["requests"] == 0 for g in engine.traffic()["groups"])


ROLLOUT_SPEC = """
version: 1
groups:
  web:
    nodes: [{ address: "10.0.1.1:80", weight: 1 }, { address: "10.0.2.1:80", weight: 0 }]
    rollout:
      start: 0
      steps:
        - { weights: { "10.0.2.1:80": 1 }, hold: 10m }
        - { weights: { "10.0.2.1:80": 1, "10.0.1.1:80": 0 } }
      analysis: { canary: ["10.0.2.1:80"], interval: 10s }
default: web
"""


def test_judged_rollouts_are_listed_and_controlled() -> None:
    engine = gray.Engine.from_str(ROLLOUT_SPEC)
    engine.tick()
    (r,) = engine.rollouts()
    assert (r["group"], r["state"], r["steps"]) == ("web", {"state": "progressing", "step": 0}, 2)
    assert engine.rollout_action("web", "pause")["state"]["state"] == "paused"
    assert engine.rollout_action("web", "resume")["state"]["state"] == "progressing"
    assert engine.rollout_action("web", "abort")["state"]["state"] == "aborted"
    assert all(engine.decide("203.0.113.5").node == "10.0.1.1:80" for _ in range(10))
    s = engine.rollout_action("web", "promote")
    assert s["state"]["state"] == "promoted"
    assert [t["reason"] for t in s["history"]] == [
        "operator: Pause",
        "operator: Resume",
        "operator: Abort",
        "operator: Promote",
    ]
    assert all(engine.decide("203.0.113.5").node == "10.0.2.1:80" for _ in range(10))
    assert "gray_rollout_state{group=\"web\"} 2" in engine.metrics()
    with pytest.raises(ValueError, match="action must be"):
        engine.rollout_action("web", "explode")
    with pytest.raises(TypeError, match="action"):
        engine.rollout_action("web", 3)  # type: ignore[arg-type]
    with pytest.raises(gray.GrayError, match="no group named"):
        engine.rollout_action("nope", "abort")


def test_what_if_reports_moves_without_applying() -> None:
    live = "version: 1\ngroups: { web: {}, office: {} }\ndefault: web\n"
    engine = gray.Engine.from_str(live)
    candidate = live.replace(
        "default: web", 'rules: [{ id: office, when: { ip: ["10.1.0.0/16"] }, route: office }]\ndefault: web'
    )
    report = engine.what_if(candidate, [{"peer": "10.1.2.3"}, {"peer": "192.0.2.1", "path": "/x"}])
    assert (report["requests"], report["moved"], report["moved_share"]) == (2, 1, 0.5)
    cell = report["cells"][0]
    assert {k: cell[k] for k in ("from", "to", "requests", "share", "examples")} == {
        "from": "web",
        "to": "office",
        "requests": 1,
        "share": 0.5,
        "examples": [0],
    }
    (trace,) = cell["traces"]
    assert (trace["live"]["rule"], trace["candidate"]["rule"]) == (None, "office")
    assert engine.generation == 1
    with pytest.raises(gray.ConfigError) as e:
        engine.what_if(candidate.replace("route: office", "route: nowhere"), [])
    assert e.value.line == 3
    with pytest.raises(ValueError, match="requests: unknown field `bogus`"):
        engine.what_if(live, [{"peer": "10.1.2.3", "bogus": 1}])


def test_lints_list_warnings_of_the_running_spec_and_of_a_what_if_candidate() -> None:
    text = """version: 1
groups:
  web: { nodes: [{ address: "10.0.0.1:80" }] }
  office: { nodes: [{ address: "10.0.0.2:80" }] }
rules:
  - { id: office, when: { ip: ["10.0.0.0/8"] }, route: office }
default: web
"""
    engine = gray.Engine.from_str(text)
    assert engine.lints() == []
    shadowed = text.replace(
        "default: web", '  - { id: lab, when: { ip: ["10.1.0.0/16"] }, route: web }\ndefault: web'
    )
    report = engine.what_if(shadowed, [{"peer": "10.1.2.3"}])
    (lint,) = report["lints"]
    assert (lint["kind"], lint["rule"], lint["path"], lint["line"]) == (
        "shadowed_rule",
        "lab",
        'rules[1] (id "lab").when',
        7,
    )
    assert engine.lints() == []
    engine.reload(shadowed)
    assert [(l["kind"], l["rule"], l["line"]) for l in engine.lints()] == [("shadowed_rule", "lab", 7)]


def test_what_if_on_the_live_sample() -> None:
    live = """version: 1
groups: { web: { nodes: [{ address: "10.0.0.1:80" }] }, office: { nodes: [{ address: "10.0.0.2:80" }] } }
rules: [{ id: office, when: { ip: ["10.9.0.0/16"] }, route: office }]
default: web
"""
    engine = gray.Engine.from_str(live)
    assert engine.sample_stats()["config"] is None
    engine.set_sampling(2, capacity=100)
    for i in range(20):
        engine.decide("10.1.0.5" if i % 4 == 0 else "192.0.2.1", headers={"Cookie": "session=s3cret"})
    stats = engine.sample_stats()
    assert (stats["seen"], stats["kept"]) == (20, 10)
    assert all("cookies" not in r for r in engine.sample()), engine.sample()
    report = engine.what_if(live.replace("10.9.0.0/16", "10.1.0.0/16"))
    assert (report["requests"], report["moved"]) == (10, 5)
    with pytest.raises(gray.ConfigError, match="sample.every"):
        engine.set_sampling(0)
    engine.set_sampling(None)
    assert engine.sample() == []


def test_rules_lists_conditions_in_words_with_hits() -> None:
    engine = gray.Engine.from_str(
        """version: 1
groups: { web: { nodes: [{ address: "10.0.0.1:80" }] }, beta: { nodes: [{ address: "10.0.0.2:80" }] } }
rules: [{ id: b, when: { header: { name: x-beta, equals: "1" } }, route: beta }]
default: web
"""
    )
    engine.decide("192.0.2.1", headers={"x-beta": "1"})
    engine.decide("192.0.2.1")
    (rule,) = engine.rules()
    assert (rule["id"], rule["condition"], rule["group"], rule["requests"], rule["share"]) == (
        "b",
        'header x-beta is "1"',
        "beta",
        1,
        0.5,
    )
