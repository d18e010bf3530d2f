"""The binding's request view: listing every header at once (what a decision reads its header
conditions from) gives exactly what looking the names up one by one gives."""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Tuple

import pytest
from starlette.datastructures import Headers
from werkzeug.datastructures import Headers as WzHeaders

import gray
from gray import _gray

Listed = List[Tuple[str, str]]


def views(kind: Literal["args", "asgi", "wsgi"], request: Any, names: List[str]) -> Tuple[Listed, Dict[str, List[str]]]:
    listed, looked_up = _gray._testing.header_views(kind, request, names)
    return listed, dict(zip(names, looked_up))


def ascii_lower(s: str) -> str:
    """Header names compare case-insensitively in ASCII only."""
    return "".join(c.lower() if "A" <= c <= "Z" else c for c in s)


def assert_agree(kind: Literal["args", "asgi", "wsgi"], request: Any, extra: Tuple[str, ...] = ()) -> Listed:
    """Every name listed (as listed, lowercased, uppercased) and a few others: looking the name
    up gives the listed values of that name, in order."""
    first, _ = views(kind, request, [])
    names = sorted({n for k, _ in first for n in (k, k.lower(), k.upper())} | set(extra))
    listed, by_name = views(kind, request, names)
    assert listed == first
    for name in names:
        want = [v for k, v in listed if ascii_lower(k) == ascii_lower(name)]
        assert by_name[name] == want, (name, listed)
    return listed


PROBES = ("cookie", "host", "x-missing", "x_a", "content-type", "")

ARGS_CASES: List[Dict[str, Any]] = [
    {},
    {"headers": {"X-A": "1", "x-b": "2"}},
    {"headers": [("x-a", "1"), ("X-A", "2"), ("x-b", "3"), ("x-a", "4")]},
    {"headers": [(b"x-a", b"1"), ("x-b", b"2"), (b"X-C", "3")]},
    {"headers": [["x-a", "1"], ("x-b", ["2", "3"]), ("x-c", ("4",))]},
    {"headers": {"x-a": ["1", "2"], "x-b": []}},
    {"headers": (("x-a", "1"),)},
    # values that are not text count as absent; so do names
    {"headers": [(b"x-a", b"\xff"), ("x-a", "ok"), ("x-b", "\udc80"), (b"\xff", "v")]},
    {"headers": {"cookie": "a=1", "Cookie": "b=2"}, "cookie_header": "c=3"},
    {"headers": [("cookie", "a=1")], "cookie_header": "\udc80"},
    {"headers": {"host": "h.example"}, "host": "given.example"},
    {"headers": Headers(raw=[(b"x-a", b"1"), (b"cookie", b"c=1")])},
    {"headers": WzHeaders([("X-A", "1"), ("X-A", "2")])},
]


@pytest.mark.parametrize("args", ARGS_CASES, ids=range(len(ARGS_CASES)))
def test_listing_agrees_with_lookups_for_decide_arguments(args: Dict[str, Any]) -> None:
    assert_agree("args", args, PROBES)


def test_listing_order_and_content() -> None:
    listed = assert_agree(
        "args",
        {"headers": [("X-A", "1"), (b"cookie", b"a=1"), ("x-b", b"\xff"), ("x-a", "2")], "cookie_header": "c=3"},
    )
    # the cookie_header argument comes first, as the first `Cookie` header; names keep their case
    assert listed == [("cookie", "c=3"), ("X-A", "1"), ("cookie", "a=1"), ("x-a", "2")]


def test_listing_agrees_for_asgi_scopes() -> None:
    scope = {
        "type": "http",
        "client": ("1.2.3.4", 5),
        "headers": [
            (b"host", b"h"),
            (b"x-a", b"1"),
            (b"x-a", b"\xfe"),
            (b"cookie", b"a=1"),
            (b"X-A", b"2"),
            (b"x-u", "caf\u00e9".encode()),
        ],
    }
    listed = assert_agree("asgi", scope, PROBES)
    assert listed == [("host", "h"), ("x-a", "1"), ("cookie", "a=1"), ("X-A", "2"), ("x-u", "caf\u00e9")]


def test_listing_agrees_for_wsgi_environs() -> None:
    environ = {
        "REMOTE_ADDR": "1.2.3.4",
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/p",
        "QUERY_STRING": "q=1",
        "HTTP_HOST": "h",
        "HTTP_X_A": "1",
        "HTTP_COOKIE": "a=\u00c3\u00a9",  # 'é' as UTF-8, decoded as latin-1
        "HTTP_X_BAD": "\u00ff",  # latin-1 0xff: not UTF-8
        "CONTENT_TYPE": "text/plain",
        "CONTENT_LENGTH": "3",
        "HTTP_x_lower": "no header name maps here",
        "HTTP_X-DASH": "nor here",
        "HTTP_X_\u00c9": "non-ASCII names keep their other characters",
        "SERVER_NAME": "not a header",
        "wsgi.url_scheme": "https",
    }
    listed = assert_agree("wsgi", environ, PROBES + ("x-lower", "x-dash", "server-name", "x-\u00e9"))
    assert listed == [
        ("host", "h"),
        ("x-a", "1"),
        ("cookie", "a=é"),
        ("content-type", "text/plain"),
        ("content-length", "3"),
        ("x-\u00c9", "non-ASCII names keep their other characters"),
    ]


def test_decisions_read_listed_headers() -> None:
    # header conditions and expression variables over every source shape decide alike
    e = gray.Engine.from_str(
        "version: 1\ngroups: { a: { nodes: [] }, b: { nodes: [] } }\ndefault: a\n"
        "rules:\n"
        "  - { id: h, when: { header: { name: X-Tenant, equals: t1 } }, route: b }\n"
        "  - { id: x, when: { expr: \"#H['x-app'] == '2' && #H['cookie'] == 'c=1'\" }, route: b }\n"
    )
    assert e.decide(headers={"x-tenant": "t1"}).rule == "h"
    assert e.decide(headers=[("X-TENANT", "t0"), ("x-tenant", "t1")]).rule is None
    assert e.decide(headers={"x-app": "2"}, cookie_header="c=1").rule == "x"
    assert e.decide(headers=[("x-app", "2"), ("cookie", "c=1")], cookie_header="d=2").rule is None
    assert e.decide_wsgi({"HTTP_X_TENANT": "t1"}).rule == "h"
    assert e.decide_wsgi({"HTTP_X_APP": "2", "HTTP_COOKIE": "c=1"}).rule == "x"
    assert e.decide_asgi({"type": "http", "headers": [(b"x-tenant", b"t1")]}).rule == "h"
