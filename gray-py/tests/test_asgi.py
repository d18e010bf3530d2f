"""gray.asgi.GrayMiddleware in a FastAPI app, through Starlette's test client."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import gray
from gray.asgi import GrayMiddleware, decision_of


def make_app(engine: gray.Engine, **options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(GrayMiddleware, engine=engine, **options)

    @app.websocket("/{path:path}")
    async def ws(websocket: WebSocket, path: str) -> None:
        await websocket.accept()
        d = decision_of(websocket)
        await websocket.send_json({"rule": d.rule, "group": d.group, "x_gray": websocket.headers.get("x-gray")})
        await websocket.close()

    @app.get("/{path:path}")
    def echo(request: Request, path: str) -> Dict[str, Any]:
        d = decision_of(request)
        assert request.state.gray is d
        return {
            "rule": d.rule,
            "group": d.group,
            "node": d.node,
            "x_gray": request.headers.get("x-gray"),
            "n_d_version": request.headers.getlist("n-d-version"),
            "n_d_region": request.headers.get("n-d-region"),
        }

    return app


def client(app: FastAPI, peer: str = "203.0.113.5") -> TestClient:
    return TestClient(app, client=(peer, 50000))


def test_routes_by_cookie(engine: gray.Engine) -> None:
    c = client(make_app(engine))
    r = c.get("/x", headers={"cookie": "canary=userAAA"})
    assert r.json() == {
        "rule": "canary-cookie",
        "group": "canary",
        "node": "127.0.0.1:7002",
        "x_gray": "canary",
        "n_d_version": ["1.1"],
        "n_d_region": None,
    }
    assert client(make_app(engine)).get("/x", headers={"cookie": "canary=b"}).json()["group"] == "stable"


def test_routes_by_ip_behind_a_trusted_proxy(engine: gray.Engine) -> None:
    via_proxy = client(make_app(engine), peer="10.0.0.1")
    body = via_proxy.get("/", headers={"x-forwarded-for": "192.168.2.20"}).json()
    assert body["rule"] == "testers" and body["x_gray"] == "testers"
    # the same header from an untrusted peer is not believed
    direct = client(make_app(engine), peer="203.0.113.5")
    assert direct.get("/", headers={"x-forwarded-for": "192.168.2.20"}).json()["rule"] is None
    # the listed client itself
    assert client(make_app(engine), peer="192.168.2.20").get("/").json()["rule"] == "testers"


def test_routes_by_header_and_strips_spoofed_routing_headers(engine: gray.Engine) -> None:
    c = client(make_app(engine))
    body = c.get("/", headers={"x-beta": "1", "x-gray": "forged", "n-d-version": "9.9", "n-d-region": "x"}).json()
    assert body["rule"] == "beta-header"
    assert body["x_gray"] == "beta"
    assert body["n_d_version"] == [] and body["n_d_region"] is None
    body = c.get("/", headers={"n-d-version": "9.9"}).json()
    assert body["rule"] is None and body["n_d_version"] == []


def test_keep_policy_lets_inbound_routing_headers_win() -> None:
    spec = """
version: 1
groups: { a: { nodes: [{ address: "127.0.0.1:1" }] } }
rules: [{ id: r, route: a, routes: { version: "1.1", region: dev } }]
default: a
headers: { inbound: keep }
"""
    c = client(make_app(gray.Engine.from_str(spec)))
    body = c.get("/", headers={"n-d-version": "2.0"}).json()
    assert body["n_d_version"] == ["2.0"] and body["n_d_region"] == "dev"


def test_no_upstream_reject_and_redirect(engine: gray.Engine) -> None:
    assert client(make_app(engine)).get("/nowhere").status_code == 200
    r = client(make_app(engine, on_no_upstream="reject")).get("/nowhere")
    assert r.status_code == 503 and r.text == "no upstream available\n"
    assert client(make_app(engine, on_no_upstream="reject")).get("/ok").status_code == 200
    app = make_app(engine, on_no_upstream=lambda d: f"https://status.example.com/?g={d.group}")
    r = client(app).get("/nowhere", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "https://status.example.com/?g=empty"


def test_redirect_callable(engine: gray.Engine) -> None:
    def to_canary_host(d: gray.Decision) -> Optional[str]:
        return "https://canary.example.com/" if d.group == "canary" else None

    c = client(make_app(engine, redirect=to_canary_host))
    r = c.get("/", headers={"cookie": "canary=aaa"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "https://canary.example.com/"
    assert c.get("/").status_code == 200


def test_non_http_scopes_pass_through_and_lifespan_works(engine: gray.Engine) -> None:
    with client(make_app(engine)) as c:  # runs the lifespan protocol
        assert c.get("/").status_code == 200


def test_bad_options(engine: gray.Engine) -> None:
    app = FastAPI()
    with pytest.raises(TypeError, match="engine must be a gray.Engine"):
        GrayMiddleware(app, engine="gray.yaml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_no_upstream"):
        GrayMiddleware(app, engine=engine, on_no_upstream="drop")  # type: ignore[arg-type]
    with pytest.raises(LookupError, match="GrayMiddleware installed"):
        decision_of({"type": "http"})


def test_websockets_are_decided_too(engine: gray.Engine) -> None:
    c = client(make_app(engine))
    with c.websocket_connect("/x", headers={"cookie": "canary=aaa"}) as ws:
        assert ws.receive_json() == {"rule": "canary-cookie", "group": "canary", "x_gray": "canary"}
    rejecting = client(make_app(engine, on_no_upstream="reject"))
    with pytest.raises(WebSocketDisconnect) as info:
        with rejecting.websocket_connect("/nowhere/ws"):
            pass
    assert info.value.code == 1013


def _status_app(engine: gray.Engine, status: int, **options: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(GrayMiddleware, engine=engine, **options)

    @app.get("/{path:path}")
    def answer(path: str) -> Any:
        from fastapi.responses import PlainTextResponse

        if path == "boom":
            raise RuntimeError("upstream reset")
        return PlainTextResponse("x", status_code=status)

    return app


def test_record_outcomes_lets_the_groups_fail_on_classify(engine: gray.Engine) -> None:
    canary = {"cookie": "canary=aaa"}
    # Off by default: nothing is recorded, even an exception.
    c = client(_status_app(engine, 500), peer="203.0.113.5")
    assert c.get("/", headers=canary).status_code == 500
    c_raise = TestClient(_status_app(engine, 500), raise_server_exceptions=False)
    assert c_raise.get("/boom", headers=canary).status_code == 500
    assert engine.nodes("canary")[0]["failures"] == 0
    # On: a 500 is recorded but the default fail_on [error, timeout] does not count it.
    c = client(_status_app(engine, 500, record_outcomes=True))
    for _ in range(3):
        assert c.get("/", headers=canary).status_code == 500
    assert engine.nodes("canary")[0]["health"] == "up"
    # An exception before the response is a reset: `error` counts it.
    c_raise = TestClient(_status_app(engine, 500, record_outcomes=True), raise_server_exceptions=False)
    assert c_raise.get("/boom", headers=canary).status_code == 500
    assert engine.nodes("canary")[0]["health"] == "down"


def test_record_outcomes_observes_the_time_to_the_response(engine: gray.Engine) -> None:
    app = FastAPI()
    app.add_middleware(GrayMiddleware, engine=engine, record_outcomes=True)

    @app.get("/")
    def slow() -> Any:
        import time

        from fastapi.responses import PlainTextResponse

        time.sleep(0.03)
        return PlainTextResponse("x", status_code=503)

    c = client(app)
    assert c.get("/", headers={"cookie": "canary=aaa"}).status_code == 503
    w = next(g for g in engine.traffic()["groups"] if g["group"] == "canary")["window"]
    assert (w["requests"], w["errors"]) == (1, 1)
    assert w["p50_ms"] >= 30 * 0.875  # the app slept 30 ms before answering


def test_record_outcomes_with_fail_on_http_500() -> None:
    from conftest import CANARY_SPEC

    engine = gray.Engine.from_str(
        CANARY_SPEC.replace("    fallback: stable\n", "    fallback: stable\n    fail_on: [http_500]\n")
    )
    c = client(_status_app(engine, 500, record_outcomes=True))
    assert c.get("/", headers={"cookie": "canary=aaa"}).status_code == 500
    assert engine.nodes("canary")[0]["health"] == "down"
    assert c.get("/", headers={"cookie": "canary=aaa"}).status_code == 500  # served by stable now
    assert engine.nodes("stable")[0]["health"] == "up"  # its default fail_on ignores a 500
