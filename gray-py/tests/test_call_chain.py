"""Three hops on real sockets with a Python service in the middle: client → gray gateway →
svc-a (a WSGI app behind ``gray.wsgi.GrayMiddleware``, calling svc-b through gray's requests
adapter or httpx transport) → svc-b 1.0 / 1.1. The gateway decides once (the cookie
``canary=…aaa`` asks for svc-b 1.1); svc-a picks the instance of svc-b that decision asked
for and passes the routing header on. ``examples/tests/call_chain.rs`` is the same chain with
a Rust svc-a.

The gateway is the project's binary: ``scripts/test-python.sh`` builds it and names it in
``GRAY_GATEWAY``."""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
import requests
from conftest import ROOT, EchoServer, node_window, svc_a_spec

import gray
from gray.httpx import GrayTransport
from gray.httpx import selection_of as httpx_selection
from gray.requests import GrayAdapter
from gray.requests import selection_of as requests_selection
from gray.wsgi import GrayMiddleware

V11 = '{"svc-b":"1.1"}'


def gateway_binary() -> str:
    path = os.environ.get("GRAY_GATEWAY")
    if path:
        return path
    default = ROOT / "target" / "debug" / "gateway"
    if not default.exists():
        pytest.skip("no gateway binary: run scripts/test-python.sh (it builds it) or set GRAY_GATEWAY")
    return str(default)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


Caller = Callable[[str], Tuple[int, str, str, Dict[str, str]]]


def requests_caller(engine: gray.Engine) -> Tuple[Caller, Callable[[], None]]:
    session = requests.Session()
    session.mount("http://", GrayAdapter(engine))

    def call(url: str) -> Tuple[int, str, str, Dict[str, str]]:
        r = session.get(url, timeout=10)
        sel = requests_selection(r)
        return r.status_code, r.text, sel.address if sel and sel.address else "", dict(r.headers)

    return call, session.close


def httpx_caller(engine: gray.Engine) -> Tuple[Caller, Callable[[], None]]:
    client = httpx.Client(transport=GrayTransport(engine), timeout=10)

    def call(url: str) -> Tuple[int, str, str, Dict[str, str]]:
        r = client.get(url)
        sel = httpx_selection(r)
        return r.status_code, r.text, sel.address if sel and sel.address else "", dict(r.headers)

    return call, client.close


def svc_a_app(engine: gray.Engine, caller: Caller) -> GrayMiddleware:
    """svc-a: answers every request by calling svc-b with the same path, through gray."""

    def app(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        path = environ.get("PATH_INFO") or "/"
        try:
            status, body, called, headers = caller("http://svc-b" + path)
        except (gray.CallError, requests.RequestException, httpx.HTTPError) as e:
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [f"svc-b: {type(e).__name__}: {e}\n".encode()]
        start_response(
            f"{status} X",
            [
                ("Content-Type", "application/json"),
                ("x-upstream", headers.get("x-upstream", "")),
                ("x-called", called),
            ],
        )
        return [body.encode()]

    return GrayMiddleware(app, engine)


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


class Chain(NamedTuple):
    gateway: str
    svc_a: str
    engine: gray.Engine
    b10: EchoServer
    b11: EchoServer


@pytest.fixture(params=["requests", "httpx"])
def chain(
    request: pytest.FixtureRequest, svc_b: Tuple[EchoServer, EchoServer], tmp_path: Any
) -> Iterator[Chain]:
    b10, b11 = svc_b
    engine = gray.Engine.from_str(svc_a_spec(b10.address, b11.address))
    caller, close_caller = (requests_caller if request.param == "requests" else httpx_caller)(engine)
    server = make_server(
        "127.0.0.1", 0, svc_a_app(engine, caller), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    svc_a = "127.0.0.1:%d" % server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    # The gateway: testers (cookie canary=…aaa) get svc-b 1.1, decided here once. It trusts
    # no peer, so a client's own n-d-* headers are stripped.
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"""
version: 1
groups: {{ svc-a: {{ nodes: [{{ address: "{svc_a}" }}] }} }}
rules:
  - id: testers
    when: {{ cookie: {{ name: canary, regex: "aaa$" }} }}
    route: svc-a
    routes: {{ version: '{V11}' }}
default: svc-a
"""
    )
    port = free_port()
    gw = subprocess.Popen(
        [gateway_binary(), "--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", "off"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if gw.poll() is not None or time.monotonic() > deadline:
                    err = gw.stderr.read().decode() if gw.stderr else ""
                    raise AssertionError(f"the gateway did not start: {err}")
                time.sleep(0.05)
        yield Chain(f"127.0.0.1:{port}", svc_a, engine, b10, b11)
    finally:
        gw.terminate()
        try:
            gw.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gw.kill()
            gw.wait()
        if gw.stderr:
            gw.stderr.close()
        server.shutdown()
        server.server_close()
        thread.join()
        close_caller()


def get(to: str, path: str = "/echo", source: str = "127.0.0.1", **kwargs: Any) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=10) as c:
        r = c.get(f"http://{to}{path}", **kwargs)
        r.read()
        return r


def test_the_gateway_decision_picks_the_version_two_hops_down(chain: Chain) -> None:
    for _ in range(3):
        r = get(chain.gateway, headers={"cookie": "theme=dark; canary=xaaa"})
        assert (r.status_code, r.headers["x-upstream"]) == (200, "svc-b-1.1"), r.text
        assert r.headers["x-called"] == chain.b11.address
        # the routing header reached svc-b unchanged: the next hop would route the same way
        assert r.json()["headers"]["n-d-version"] == [V11]

        r = get(chain.gateway)
        assert r.headers["x-upstream"] == "svc-b-1.0", "no route: svc-a prefers 1.0"
        assert "n-d-version" not in r.json()["headers"], r.json()
    # svc-a recorded its outgoing calls per instance (live windows, histogram)
    assert node_window(chain.engine, "svc-b", chain.b10.address)["requests"] == 3
    assert node_window(chain.engine, "svc-b", chain.b11.address)["requests"] == 3
    assert 'gray_upstream_request_duration_seconds_bucket{group="svc-b"' in chain.engine.metrics()


def test_routing_headers_from_untrusted_callers_go_nowhere(chain: Chain) -> None:
    spoof = {"n-d-version": V11}
    # a client sends the header to the gateway: the gateway strips it
    r = get(chain.gateway, headers=spoof)
    assert r.headers["x-upstream"] == "svc-b-1.0"
    assert "n-d-version" not in r.json()["headers"]
    # a client reaching svc-a directly from an address svc-a does not trust: svc-a neither
    # believes nor propagates it
    r = get(chain.svc_a, source="127.0.0.2", headers=spoof)
    assert r.headers["x-upstream"] == "svc-b-1.0"
    assert "n-d-version" not in r.json()["headers"], r.json()
    # from the trusted address the same header is believed and passed on
    r = get(chain.svc_a, headers=spoof)
    assert r.headers["x-upstream"] == "svc-b-1.1"
    assert r.json()["headers"]["n-d-version"] == [V11]


def test_a_failed_call_is_recorded_for_the_instance(chain: Chain) -> None:
    b11 = chain.b11.address
    chain.b11.close()
    r = get(chain.gateway, path="/", headers={"cookie": "canary=xaaa"})
    assert r.status_code == 502, r.text
    assert "ConnectError" in r.text or "ConnectionError" in r.text, r.text
    w = node_window(chain.engine, "svc-b", b11)
    assert (w["requests"], w["errors"]) == (1, 1)
    assert f'gray_upstream_responses_total{{group="svc-b",node="{b11}",class="error"}} 1' in chain.engine.metrics()
