"""Shared helpers of the Python test-suite."""

from __future__ import annotations

import json
import pathlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import gray

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"

CANARY_SPEC = """
version: 1
client_ip: { trusted_proxies: ["10.0.0.0/8"], header: x-forwarded-for }
ip_sets:
  testers: { entries: ["192.168.2.20", "2001:db8:1::/48"] }
groups:
  stable: { nodes: [{ address: "127.0.0.1:7001", metadata: { version: "1.0" } }] }
  canary:
    fallback: stable
    nodes: [{ address: "127.0.0.1:7002", metadata: { version: "1.1", region: dev } }]
  empty: { nodes: [] }
rules:
  - id: canary-cookie
    when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }
    route: canary
    set_headers: { x-gray: canary }
    routes: { version: "1.1" }
  - id: testers
    when: { ip: [testers] }
    route: canary
    set_headers: { x-gray: testers }
  - id: beta-header
    when: { header: { name: x-beta, equals: "1" } }
    route: canary
    set_headers: { x-gray: beta }
  - id: nowhere
    when: { path: { prefix: /nowhere } }
    route: empty
default: stable
"""


@pytest.fixture
def engine() -> gray.Engine:
    return gray.Engine.from_str(CANARY_SPEC)


class EchoServer:
    """A real HTTP server on 127.0.0.1 (a thread running ``http.server``): answers every
    request with JSON of what it received (``name``, ``path``, ``headers`` as lists of
    values by lowercase name) and ``x-upstream: NAME``; ``/status/N`` answers status N."""

    def __init__(self, name: str) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                headers: Dict[str, List[str]] = {}
                for k, v in self.headers.items():
                    headers.setdefault(k.lower(), []).append(v)
                server.received.append(headers)
                status = int(self.path[8:11]) if self.path.startswith("/status/") else 200
                out = json.dumps(
                    {"name": name, "path": self.path, "headers": headers, "body": body}
                ).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.send_header("x-upstream", name)
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.name = name
        self.received: List[Dict[str, List[str]]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = "127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def svc_b() -> Iterator[Tuple[EchoServer, EchoServer]]:
    """Two instances of svc-b: versions 1.0 and 1.1."""
    b10, b11 = EchoServer("svc-b-1.0"), EchoServer("svc-b-1.1")
    yield b10, b11
    b10.close()
    b11.close()


def svc_a_spec(b10: str, b11: str) -> str:
    """svc-a's own spec: its callee svc-b with the instances' versions; it believes peers on
    127.0.0.1 (the gateway) and prefers 1.0 when no version is asked for."""
    return f"""
version: 1
default: svc-b
groups:
  svc-b:
    nodes:
      - {{ address: "{b10}", metadata: {{ version: "1.0" }} }}
      - {{ address: "{b11}", metadata: {{ version: "1.1" }} }}
  empty: {{ nodes: [] }}
headers: {{ trusted_peers: ["127.0.0.1/32"] }}
release: {{ failover: {{ version_prefer: "1.0" }} }}
"""


@pytest.fixture
def svc_a_engine(svc_b: Tuple[EchoServer, EchoServer]) -> gray.Engine:
    return gray.Engine.from_str(svc_a_spec(svc_b[0].address, svc_b[1].address))


def node_window(engine: gray.Engine, group: str, address: str) -> Dict[str, Any]:
    """The live window of one node (requests, errors, ...); zeros when it has none."""
    for g in engine.traffic()["groups"]:
        if g["group"] == group:
            for n in g["nodes"]:
                if n["address"] == address:
                    return dict(n["window"])
    return {"requests": 0, "errors": 0}
