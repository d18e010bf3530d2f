"""Outgoing calls through gray's httpx transports and requests adapter, to real HTTP servers
on 127.0.0.1: the instance each call goes to, the routing headers it carries (never an
untrusted caller's), the outcome recorded for the instance, the errors of calls that cannot be
routed, and the routing context the ASGI and WSGI middleware keep."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import httpx
import pytest
import requests
from conftest import EchoServer, node_window
from fastapi import FastAPI, Request

import gray
from gray.asgi import GrayMiddleware as AsgiGray
from gray.httpx import AsyncGrayTransport, GrayTransport
from gray.httpx import selection_of as httpx_selection
from gray.requests import GrayAdapter
from gray.requests import selection_of as requests_selection
from gray.wsgi import GrayMiddleware as WsgiGray

V11 = '{"svc-b":"1.1"}'
TRUSTED = gray.RoutingContext("127.0.0.1", headers=[("n-d-version", V11), ("x-request-id", "7")])
UNTRUSTED = gray.RoutingContext("203.0.113.5", headers=[("n-d-version", V11)])

Get = Callable[[gray.Engine, str, Dict[str, str]], Tuple[int, Dict[str, Any], Optional[gray.Selection]]]


def get_httpx(engine: gray.Engine, url: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any], Optional[gray.Selection]]:
    with httpx.Client(transport=GrayTransport(engine)) as c:
        r = c.get(url, headers=headers)
        return r.status_code, r.json(), httpx_selection(r)


def get_async_httpx(engine: gray.Engine, url: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any], Optional[gray.Selection]]:
    async def go() -> Tuple[int, Dict[str, Any], Optional[gray.Selection]]:
        async with httpx.AsyncClient(transport=AsyncGrayTransport(engine)) as c:
            r = await c.get(url, headers=headers)
            return r.status_code, r.json(), httpx_selection(r)

    # asyncio.run copies the current context: the task sees the caller's routing context.
    return asyncio.run(go())


def get_requests(engine: gray.Engine, url: str, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any], Optional[gray.Selection]]:
    with requests.Session() as s:
        s.mount("http://", GrayAdapter(engine))
        r = s.get(url, headers=headers, timeout=10)
        assert r.url == url and r.request.url == url  # the caller's URL, not the instance's
        return r.status_code, r.json(), requests_selection(r)


CLIENTS = pytest.mark.parametrize(
    "get", [get_httpx, get_async_httpx, get_requests], ids=["httpx", "httpx-async", "requests"]
)


@CLIENTS
def test_a_trusted_caller_picks_the_instance_and_the_header_travels_on(
    get: Get, svc_a_engine: gray.Engine, svc_b: Tuple[EchoServer, EchoServer]
) -> None:
    b10, b11 = svc_b
    with gray.routing_context(TRUSTED):
        status, body, sel = get(svc_a_engine, "http://svc-b/orders/7?x=1", {"n-d-region": "mine", "x-mine": "1"})
    assert (status, body["name"], body["path"]) == (200, "svc-b-1.1", "/orders/7?x=1")
    assert sel is not None and sel.address == b11.address
    h = body["headers"]
    assert h["n-d-version"] == [V11]
    assert h["n-d-version-prefer"] == ["1.0"]  # svc-a's own release travels on too
    assert "n-d-region" not in h  # the caller's routing header is replaced, not added to
    assert h["x-mine"] == ["1"]  # other headers are the caller's
    assert "x-request-id" not in h  # gray propagates routing headers only
    assert h["host"] == [b11.address]
    assert node_window(svc_a_engine, "svc-b", b11.address)["requests"] == 1


@CLIENTS
def test_an_untrusted_callers_routing_headers_are_neither_believed_nor_forwarded(
    get: Get, svc_a_engine: gray.Engine, svc_b: Tuple[EchoServer, EchoServer]
) -> None:
    b10, _ = svc_b
    with gray.routing_context(UNTRUSTED):
        status, body, sel = get(svc_a_engine, "http://svc-b/", {})
    assert (status, body["name"]) == (200, "svc-b-1.0")
    assert "n-d-version" not in body["headers"]
    assert body["headers"]["n-d-version-prefer"] == ["1.0"]
    assert sel is not None and not sel.trusts_inbound


@CLIENTS
def test_outside_any_inbound_request_an_empty_request_selects(
    get: Get, svc_a_engine: gray.Engine, svc_b: Tuple[EchoServer, EchoServer]
) -> None:
    assert gray.current_context() is None
    status, body, _ = get(svc_a_engine, "http://svc-b/", {"n-d-version": V11})
    assert body["name"] == "svc-b-1.0", "the caller's own n-d-version is not a route"
    assert body["headers"].get("n-d-version") is None


@CLIENTS
def test_the_status_and_latency_are_recorded_for_the_instance(
    get: Get, svc_a_engine: gray.Engine, svc_b: Tuple[EchoServer, EchoServer]
) -> None:
    b10, _ = svc_b
    for path in ("/", "/status/503", "/status/404"):
        get(svc_a_engine, "http://svc-b" + path, {})
    w = node_window(svc_a_engine, "svc-b", b10.address)
    assert (w["requests"], w["errors"]) == (3, 1)  # the 503
    metrics = svc_a_engine.metrics()
    for cls, n in (("2xx", 1), ("4xx", 1), ("5xx", 1)):
        assert f'gray_upstream_responses_total{{group="svc-b",node="{b10.address}",class="{cls}"}} {n}' in metrics
    assert f'gray_upstream_request_duration_seconds_count{{group="svc-b",node="{b10.address}"}} 3' in metrics


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    return address


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield "127.0.0.1:%d" % s.getsockname()[1]
    s.close()


def one_node_engine(address: str) -> gray.Engine:
    return gray.Engine.from_str(f'version: 1\ndefault: svc-b\ngroups: {{ svc-b: {{ nodes: [{{ address: "{address}" }}] }} }}\n')


def test_a_refused_connection_is_recorded_as_a_connect_error() -> None:
    address = closed_port()
    engine = one_node_engine(address)
    with pytest.raises(httpx.ConnectError):
        with httpx.Client(transport=GrayTransport(engine)) as c:
            c.get("http://svc-b/")
    with pytest.raises(requests.ConnectionError):
        with requests.Session() as s:
            s.mount("http://", GrayAdapter(engine))
            s.get("http://svc-b/", timeout=5)

    async def go() -> None:
        async with httpx.AsyncClient(transport=AsyncGrayTransport(engine)) as c:
            await c.get("http://svc-b/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(go())
    assert f'gray_upstream_responses_total{{group="svc-b",node="{address}",class="error"}} 3' in engine.metrics()
    assert node_window(engine, "svc-b", address)["errors"] == 3


def test_a_timeout_is_recorded_as_a_timeout(silent: str) -> None:
    engine = one_node_engine(silent)
    with pytest.raises(httpx.ReadTimeout):
        with httpx.Client(transport=GrayTransport(engine), timeout=0.2) as c:
            c.get("http://svc-b/")
    with pytest.raises(requests.ReadTimeout):
        with requests.Session() as s:
            s.mount("http://", GrayAdapter(engine))
            s.get("http://svc-b/", timeout=0.2)
    assert f'gray_upstream_responses_total{{group="svc-b",node="{silent}",class="timeout"}} 2' in engine.metrics()


def test_calls_that_cannot_be_routed_raise_typed_errors(svc_a_engine: gray.Engine) -> None:
    with httpx.Client(transport=GrayTransport(svc_a_engine)) as c:
        with pytest.raises(gray.UnknownServiceError) as unknown:
            c.get("http://nosuch/x")
        with pytest.raises(gray.NoInstanceError) as none:
            c.get("http://empty/")
    assert isinstance(unknown.value, (gray.CallError, gray.GrayError, LookupError))
    assert unknown.value.service == "nosuch" and unknown.value.url == "http://nosuch/x"
    assert "names service 'nosuch', but the spec has no group by that name" in str(unknown.value)
    assert isinstance(none.value, gray.CallError) and none.value.service == "empty"
    assert "no instance of service 'empty' can take the call" in str(none.value)
    with pytest.raises(gray.NoServiceError) as nohost:
        GrayTransport(svc_a_engine).handle_request(httpx.Request("GET", "/relative"))
    assert isinstance(nohost.value, ValueError) and "names no service" in str(nohost.value)
    with requests.Session() as s:
        s.mount("http://", GrayAdapter(svc_a_engine))
        with pytest.raises(gray.UnknownServiceError):
            s.get("http://nosuch/")
        with pytest.raises(gray.NoInstanceError):
            s.get("http://empty/")

    async def go() -> None:
        async with httpx.AsyncClient(transport=AsyncGrayTransport(svc_a_engine)) as c:
            await c.get("http://empty/")

    with pytest.raises(gray.NoInstanceError):
        asyncio.run(go())
    # nothing was sent, nothing recorded
    assert all(g["window"]["requests"] == 0 for g in svc_a_engine.traffic()["groups"])


def test_bad_adapter_arguments() -> None:
    with pytest.raises(TypeError, match="engine must be a gray.Engine, not str"):
        GrayTransport("engine")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inner must be an httpx.BaseTransport, not int"):
        GrayTransport(one_node_engine("127.0.0.1:1"), inner=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="inner must be an httpx.AsyncBaseTransport"):
        AsyncGrayTransport(one_node_engine("127.0.0.1:1"), inner=httpx.HTTPTransport())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="engine must be a gray.Engine"):
        GrayAdapter(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context must be a gray.RoutingContext or None"):
        with gray.routing_context("ctx"):  # type: ignore[arg-type]
            pass


def test_an_ipv6_instance_and_a_mounted_inner_transport(svc_b: Tuple[EchoServer, EchoServer]) -> None:
    # the instance address replaces host and port; the inner transport is the one given
    b10, _ = svc_b
    engine = one_node_engine(b10.address)
    seen: List[str] = []

    class Spy(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            return self.inner.handle_request(request)

        def close(self) -> None:
            self.inner.close()

    with httpx.Client(mounts={"http://svc-b": GrayTransport(engine, inner=Spy())}) as c:
        assert c.get("http://svc-b/a?b=c").json()["name"] == "svc-b-1.0"
    assert seen == [f"http://{b10.address}/a?b=c"]
    from gray._call import split_address

    assert split_address("[::1]:8080") == ("::1", 8080)
    assert split_address("svc-b.internal") == ("svc-b.internal", None)
    with pytest.raises(gray.CallError):
        split_address("10.0.0.1:http")


# --- the routing context kept by the middleware -------------------------------------------


def asgi_app(engine: gray.Engine) -> FastAPI:
    app = FastAPI()
    app.add_middleware(AsgiGray, engine=engine)

    @app.get("/async")
    async def call_async(request: Request, delay: float = 0.0) -> Dict[str, Any]:
        await asyncio.sleep(delay)  # let the other requests run meanwhile
        async with httpx.AsyncClient(transport=AsyncGrayTransport(engine)) as client:
            r = await client.get("http://svc-b/")
        ctx = gray.current_context()
        assert ctx is not None
        return {"upstream": r.json()["name"], "peer": ctx.peer, "n_d_version": r.json()["headers"].get("n-d-version")}

    @app.get("/sync")
    def call_sync() -> Dict[str, Any]:
        # a sync endpoint runs in a worker thread, which gets a copy of the request's context
        with httpx.Client(transport=GrayTransport(engine)) as c:
            return {"upstream": c.get("http://svc-b/").json()["name"]}

    @app.get("/boom")
    async def boom() -> None:
        assert gray.current_context() is not None
        raise RuntimeError("boom")

    return app


def test_asgi_concurrent_requests_each_see_their_own_context(
    svc_a_engine: gray.Engine, svc_b: Tuple[EchoServer, EchoServer]
) -> None:
    app = asgi_app(svc_a_engine)

    async def go() -> List[Dict[str, Any]]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc-a") as c:
            calls = []
            for i in range(8):
                # a later request asks for 1.1 and overtakes an earlier one that does not
                headers = {"n-d-version": V11} if i % 2 else {}
                calls.append(c.get("/async", params={"delay": 0.05 * (8 - i)}, headers=headers))
            calls.append(c.get("/sync", headers={"n-d-version": V11}))
            responses = await asyncio.gather(*calls)
            assert gray.current_context() is None
            return [r.json() for r in responses]

    bodies = asyncio.run(go())
    for i, body in enumerate(bodies[:8]):
        want = "svc-b-1.1" if i % 2 else "svc-b-1.0"
        assert body["upstream"] == want, (i, body)
        assert body["n_d_version"] == ([V11] if i % 2 else None)
        assert body["peer"] == "127.0.0.1"
    assert bodies[8] == {"upstream": "svc-b-1.1"}
    assert gray.current_context() is None


def test_asgi_context_is_reset_when_the_app_raises(svc_a_engine: gray.Engine) -> None:
    app = asgi_app(svc_a_engine)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc-a") as c:
            with pytest.raises(RuntimeError, match="boom"):
                await c.get("/boom")
            assert gray.current_context() is None

    asyncio.run(go())


def test_asgi_context_is_the_request_as_it_arrived(svc_a_engine: gray.Engine) -> None:
    seen: List[gray.RoutingContext] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        ctx = gray.current_context()
        assert ctx is not None
        seen.append(ctx)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = AsgiGray(app, svc_a_engine)
    scope = {
        "type": "http",
        "method": "PUT",
        "path": "/p",
        "query_string": b"q=1",
        "client": ("203.0.113.5", 1),
        "headers": [(b"n-d-version", V11.encode())],
    }

    async def go() -> None:
        async def receive() -> Dict[str, Any]:
            return {"type": "http.request"}

        async def send(message: Any) -> None:
            pass

        await mw(scope, receive, send)

    asyncio.run(go())
    ctx = seen[0]
    # the app saw the spoofed header stripped; the context keeps it (it is not believed)
    assert (ctx.peer, ctx.method, ctx.path, ctx.query) == ("203.0.113.5", "PUT", "/p", b"q=1")
    assert ctx.headers == [(b"n-d-version", V11.encode())]
    assert ctx.select(svc_a_engine, "svc-b").outgoing_headers == [("n-d-version-prefer", "1.0")]
    assert ctx.explain(svc_a_engine, "svc-b").trusts_inbound is False


def wsgi_app(engine: gray.Engine) -> WsgiGray:
    def app(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        with requests.Session() as s:
            s.mount("http://", GrayAdapter(engine))
            name = s.get("http://svc-b/", timeout=10).json()["name"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

    return WsgiGray(app, engine)


def test_wsgi_keeps_the_context_while_the_app_runs_and_resets_it(
    svc_a_engine: gray.Engine, svc_b: Tuple[EchoServer, EchoServer]
) -> None:
    app = wsgi_app(svc_a_engine)

    def call(peer: str, path: str = "/", **headers: str) -> bytes:
        environ: Dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "REMOTE_ADDR": peer,
            **{"HTTP_" + k.upper(): v for k, v in headers.items()},
        }
        return b"".join(app(environ, lambda status, headers, exc_info=None: None))

    results: Dict[int, bytes] = {}

    def worker(i: int) -> None:
        results[i] = call("127.0.0.1", N_D_VERSION=V11) if i % 2 else call("127.0.0.1")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: b"svc-b-1.1" if i % 2 else b"svc-b-1.0" for i in range(6)}
    assert call("203.0.113.5", N_D_VERSION=V11) == b"svc-b-1.0"
    with pytest.raises(RuntimeError, match="boom"):
        call("127.0.0.1", "/boom")
    assert gray.current_context() is None


def test_routing_context_from_wsgi_reads_the_environ_as_decide_wsgi_does() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "/app",
        "PATH_INFO": "/caf\xc3\xa9",  # PEP 3333: UTF-8 bytes as latin-1
        "QUERY_STRING": "a=1",
        "REMOTE_ADDR": "10.0.0.1",
        "CONTENT_TYPE": "text/plain",
        "HTTP_N_D_VERSION": "1.1",
        "HTTP_X_BAD": "\u20ac",  # not latin-1: left out, as decide_wsgi does
        "wsgi.input": object(),
    }
    ctx = gray.RoutingContext.from_wsgi(environ)
    assert (ctx.peer, ctx.method, ctx.path, ctx.query) == ("10.0.0.1", "POST", "/app/café".encode(), b"a=1")
    assert sorted(ctx.headers) == [("content-type", b"text/plain"), ("n-d-version", b"1.1")]
    assert "RoutingContext peer='10.0.0.1'" in repr(ctx)
