"""gray.wsgi.GrayMiddleware in a Flask app, through Flask's test client."""

from __future__ import annotations

from typing import Any, Dict, Optional

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
