"""gray.wsgi.GrayMiddleware in a Flask app, through Flask's test client."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

import gray
from gray.wsgi import GrayMiddleware, decision_of


def make_app(engine: gray.Engine, **options: Any) -> Flask:
    app = Flask(__name__)
    app.wsgi_app = GrayMiddleware(app.wsgi_app, engine, **options)  # type: ignore[method-assign]

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def echo(path: str) -> Dict[str, Any]:
        d = decision_of(request)
        return {
            "rule": d.rule,
            "group": d.group,
            "node": d.node,
            "x_gray": request.headers.get("x-gray"),
            "n_d_version": request.headers.getlist("n-d-version"),
        }

    return app


def client(app: Flask, peer: str = "203.0.113.5") -> FlaskClient:
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = peer
    return c


def test_routes_by_cookie(engine: gray.Engine) -> None:
    c = client(make_app(engine))
    c.set_cookie("canary", "userAAA")
    body = c.get("/x").get_json()
    assert body == {
        "rule": "canary-cookie",
        "group": "canary",
        "node": "127.0.0.1:7002",
        "x_gray": "canary",
        "n_d_version": ["1.1"],
    }
    c2 = client(make_app(engine))
    c2.set_cookie("canary", "b")
    assert c2.get("/x").get_json()["group"] == "stable"


def test_routes_by_ip_behind_a_trusted_proxy(engine: gray.Engine) -> None:
    body = client(make_app(engine), "10.0.0.1").get("/", headers={"X-Forwarded-For": "192.168.2.20"}).get_json()
    assert body["rule"] == "testers" and body["x_gray"] == "testers"
    spoofed = client(make_app(engine), "203.0.113.5").get("/", headers={"X-Forwarded-For": "192.168.2.20"})
    assert spoofed.get_json()["rule"] is None
    assert client(make_app(engine), "2001:db8:1::7").get("/").get_json()["rule"] == "testers"


def test_routes_by_header_and_strips_spoofed_routing_headers(engine: gray.Engine) -> None:
    c = client(make_app(engine))
    body = c.get("/", headers={"X-Beta": "1", "X-Gray": "forged", "N-D-Version": "9.9"}).get_json()
    assert body["rule"] == "beta-header" and body["x_gray"] == "beta"
    assert body["n_d_version"] == []


def test_no_upstream_reject_and_redirect(engine: gray.Engine) -> None:
    r = client(make_app(engine, on_no_upstream="reject")).get("/nowhere")
    assert r.status_code == 503 and r.get_data(as_text=True) == "no upstream available\n"

    def to_canary_host(d: gray.Decision) -> Optional[str]:
        return "https://canary.example.com/" if d.group == "canary" else None

    c = client(make_app(engine, redirect=to_canary_host))
    c.set_cookie("canary", "aaa")
    r = c.get("/")
    assert r.status_code == 307 and r.headers["Location"] == "https://canary.example.com/"


def _status_app(engine: gray.Engine, status: int, **options: Any) -> Flask:
    app = Flask(__name__)
    app.wsgi_app = GrayMiddleware(app.wsgi_app, engine, **options)  # type: ignore[method-assign]

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def answer(path: str) -> Any:
        return "x", status

    return app


def _raising(environ: Dict[str, Any], start_response: Any) -> Any:
    raise RuntimeError("upstream reset")


def test_record_outcomes_lets_the_groups_fail_on_classify(engine: gray.Engine) -> None:
    c = client(_status_app(engine, 500))
    c.set_cookie("canary", "aaa")
    assert c.get("/").status_code == 500
    assert engine.nodes("canary")[0]["failures"] == 0  # off by default
    c = client(_status_app(engine, 503, record_outcomes=True))
    c.set_cookie("canary", "aaa")
    assert c.get("/").status_code == 503
    assert engine.nodes("canary")[0]["health"] == "up"  # default fail_on: statuses do not count
    wrapped = GrayMiddleware(_raising, engine, record_outcomes=True)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "REMOTE_ADDR": "1.2.3.4", "HTTP_COOKIE": "canary=aaa"}
    with pytest.raises(RuntimeError):
        wrapped(environ, lambda status, headers, exc_info=None: None)
    assert engine.nodes("canary")[0]["health"] == "down"  # a reset: `error` counts it


def test_record_outcomes_observes_the_time_to_the_response(engine: gray.Engine) -> None:
    import time

    def slow(environ: Any, start_response: Any) -> List[bytes]:
        time.sleep(0.03)
        start_response("502 Bad Gateway", [])
        return [b"x"]

    wrapped = GrayMiddleware(slow, engine, record_outcomes=True)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "REMOTE_ADDR": "1.2.3.4", "HTTP_COOKIE": "canary=aaa"}
    assert wrapped(environ, lambda status, headers, exc_info=None: None) == [b"x"]
    w = next(g for g in engine.traffic()["groups"] if g["group"] == "canary")["window"]
    assert (w["requests"], w["errors"]) == (1, 1)
    assert w["p50_ms"] >= 30 * 0.875


def test_record_outcomes_with_fail_on_http_5xx() -> None:
    from conftest import CANARY_SPEC

    engine = gray.Engine.from_str(
        CANARY_SPEC.replace("    fallback: stable\n", "    fallback: stable\n    fail_on: [error, http_5xx]\n")
    )
    c = client(_status_app(engine, 502, record_outcomes=True))
    c.set_cookie("canary", "aaa")
    assert c.get("/").status_code == 502
    assert engine.nodes("canary")[0]["health"] == "down"
