"""Engine.select_instance / explain_instance: the calling side of a service, as gray-core's
``Engine::select_instance`` (the request is given as to ``decide``)."""

from __future__ import annotations

import pytest

import gray

SPEC = """
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - { address: "10.0.0.1:4001", metadata: { version: "1.0", region: dev } }
      - { address: "10.0.0.2:4002", metadata: { version: "1.1" } }
  empty: { nodes: [] }
headers: { trusted_peers: ["10.0.0.0/8"] }
release: { failover: { version_prefer: "1.0" } }
"""

V11 = '{"svc-b":"1.1"}'


@pytest.fixture
def engine() -> gray.Engine:
    return gray.Engine.from_str(SPEC)


def test_a_trusted_peer_chooses_the_version_and_its_header_travels_on(engine: gray.Engine) -> None:
    sel = engine.select_instance("svc-b", "10.1.1.1", headers={"n-d-version": V11, "x-request-id": "42"})
    assert isinstance(sel, gray.Selection)
    assert (sel.service, sel.address, sel.trusts_inbound) == ("svc-b", "10.0.0.2:4002", True)
    assert sel.node_metadata == {"version": "1.1"}
    assert sel.headers == [("n-d-version-prefer", "1.0")]  # the own release's
    assert sel.outgoing_headers == [("n-d-version", V11), ("n-d-version-prefer", "1.0")]
    assert sel.forward_inbound("N-D-Version") and not sel.forward_inbound("x-request-id")
    assert sel.is_routing_header("n-d-anything") and not sel.is_routing_header("x-request-id")
    assert sel.generation == engine.generation
    assert repr(sel) == "<Selection service='svc-b' address='10.0.0.2:4002' trusts_inbound=True>"


def test_what_an_untrusted_peer_sends_is_neither_believed_nor_propagated(engine: gray.Engine) -> None:
    for peer in ("203.0.113.5", None, "testclient"):
        sel = engine.select_instance("svc-b", peer, headers=[("n-d-version", V11), ("n-d-region", "dev")])
        assert sel.trusts_inbound is False
        assert sel.address == "10.0.0.1:4001"  # version_prefer, not the header
        assert sel.outgoing_headers == [("n-d-version-prefer", "1.0")]
        assert not sel.forward_inbound("n-d-version")


def test_the_request_is_read_like_decide_reads_it(engine: gray.Engine) -> None:
    # bytes pairs (ASGI), a peer as ipaddress, cookies and the rest of decide's arguments
    import ipaddress

    sel = engine.select_instance(
        "svc-b",
        ipaddress.ip_address("10.9.9.9"),
        headers=[(b"n-d-version", V11.encode())],
        cookie_header="a=b",
        cookies={"c": "d"},
        path="/x?y=1",
        method="POST",
        host="svc-a",
    )
    assert sel.address == "10.0.0.2:4002"
    # no request at all: as outside any inbound request
    empty = engine.select_instance("svc-b")
    assert (empty.address, empty.trusts_inbound) == ("10.0.0.1:4001", False)
    assert engine.select_instance(service="svc-b", peer_ip="10.1.1.1").trusts_inbound


def test_unknown_service_and_no_instance(engine: gray.Engine) -> None:
    unknown = engine.select_instance("nope", "10.1.1.1", headers={"n-d-version": V11})
    assert (unknown.service, unknown.address) == (None, None)
    assert unknown.node_metadata is None
    none = engine.select_instance("empty")
    assert (none.service, none.address) == ("empty", None)
    ex = engine.explain_instance("nope")
    assert ex.address is None and ex.steps[-1] == {
        "filter": "service",
        "value": "nope",
        "outcome": "no group with this name",
    }


def test_explain_instance_tells_every_step(engine: gray.Engine) -> None:
    ex = engine.explain_instance("svc-b", "10.1.1.1", headers={"n-d-version": V11})
    assert isinstance(ex, gray.InstanceExplanation)
    assert (ex.service, ex.trusts_inbound, ex.address) == ("svc-b", True, "10.0.0.2:4002")
    assert ex.values == [("n-d-version", "1.1", "inbound"), ("n-d-version-prefer", "1.0", "own")]
    assert [s["filter"] for s in ex.steps] == ["available", "n-d-version", "weight"]
    text = str(ex)
    assert text == ex.text
    assert text.startswith("service svc-b (inbound routing headers trusted)\n")
    assert "  n-d-version = 1.1 (inbound)\n" in text and text.endswith("→ 10.0.0.2:4002\n")
    d = ex.to_dict()
    assert d["inbound_trusted"] is True and d["node"] == "10.0.0.2:4002"
    assert d["values"][0] == ["n-d-version", "1.1", "inbound"]
    assert d["release"] is not None
    assert repr(ex) == "<InstanceExplanation service='svc-b' address='10.0.0.2:4002'>"
    untrusted = engine.explain_instance("svc-b", "203.0.113.5", headers={"n-d-version": V11})
    assert "(inbound routing headers ignored: untrusted peer)" in str(untrusted)
    assert untrusted.address == "10.0.0.1:4001"


def test_explain_counts_nothing_select_counts_the_node(engine: gray.Engine) -> None:
    def sent() -> int:
        return sum(n["requests"] for n in engine.nodes("svc-b"))

    engine.explain_instance("svc-b")
    assert sent() == 0
    engine.select_instance("svc-b")
    assert sent() == 1


def test_inbound_keep_lets_inbound_values_win(engine: gray.Engine) -> None:
    engine.reload(SPEC.replace('trusted_peers: ["10.0.0.0/8"]', 'trusted_peers: ["10.0.0.0/8"], inbound: keep'))
    sel = engine.select_instance("svc-b", "10.1.1.1", headers={"n-d-version-prefer": "1.1"})
    assert sel.outgoing_headers == [("n-d-version-prefer", "1.1")]
    assert sel.address == "10.0.0.2:4002"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda e: e.select_instance(1), TypeError, "service must be str, not int"),
        (lambda e: e.select_instance(None), TypeError, "service must be str, not NoneType"),
        (lambda e: e.select_instance(""), ValueError, "service must name a group of the spec, not ''"),
        (lambda e: e.select_instance(b"\xff"), ValueError, "service is not valid UTF-8 text"),
        (
            lambda e: e.select_instance("svc-b", "10.0.0.1", "x"),
            TypeError,
            "Engine.select_instance() takes from 1 to 2 positional arguments but 3 were given",
        ),
        (
            lambda e: e.select_instance("svc-b", header={}),
            TypeError,
            "Engine.select_instance() got an unexpected keyword argument 'header'",
        ),
        (
            lambda e: e.select_instance("svc-b", "10.0.0.1", peer_ip="10.0.0.1"),
            TypeError,
            "Engine.select_instance() got multiple values for argument 'peer_ip'",
        ),
        (
            lambda e: e.select_instance("svc-b", headers=5),
            TypeError,
            "headers must be a dict, a list of (name, value) pairs or a headers object, not int",
        ),
        (
            lambda e: e.select_instance("svc-b", headers={"n-d-version": 1}),
            TypeError,
            "headers[\"n-d-version\"] must be str, bytes or a list of them, not int",
        ),
        (lambda e: e.select_instance("svc-b", 12), TypeError, "peer_ip must be str, bytes, an ipaddress"),
        (
            lambda e: e.explain_instance("svc-b", method=3),
            TypeError,
            "method must be str, bytes or None, not int",
        ),
        (
            lambda e: e.explain_instance("svc-b", "a", "b"),
            TypeError,
            "Engine.explain_instance() takes from 1 to 2 positional arguments but 3 were given",
        ),
        (lambda e: e.select_instance("svc-b").forward_inbound(3), TypeError, "name must be str, not int"),
    ],
)
def test_bad_arguments_are_typed_errors(engine: gray.Engine, call, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as info:
        call(engine)
    assert message in str(info.value)
