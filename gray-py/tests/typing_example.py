"""A typed program using the public API; checked with ``mypy --strict`` by test_typing.py."""

from __future__ import annotations

from typing import Optional

from fastapi import FastAPI, Request

import gray
from gray.asgi import GrayMiddleware, decision_of

engine: gray.Engine = gray.Engine.from_str(
    "version: 1\ngroups: { a: { nodes: [{ address: '127.0.0.1:1' }] } }\ndefault: a\n"
)
d: gray.Decision = engine.decide("10.0.0.1", headers={"x-a": "1"}, cookies={"uid": "7"}, path="/api")
rule: Optional[str] = d.rule
group: str = d.group
pairs: list[tuple[str, str]] = d.headers
generation: int = engine.add_node("a", "127.0.0.1:2", 2, metadata={"version": "1.1"}, fail_timeout=10)
for n in engine.nodes("a"):
    weight: int = n["weight"]
bucket: int = gray.sticky_bucket("salt", "user-1")
engine.record(d, 503)  # the served group's fail_on classifies
engine.record_error(d, "timeout")
engine.record_node_error("a", "127.0.0.1:2", "connect")
ex: gray.Explanation = engine.explain(None, headers=[(b"x-a", b"1")])
text: str = ex.text
try:
    engine.reload("version: 1\n", format="yaml")
except gray.ConfigError as e:
    where: str = e.path
    line: Optional[int] = e.line

app = FastAPI()
app.add_middleware(GrayMiddleware, engine=engine, on_no_upstream="reject", record_outcomes=True)


@app.get("/")
def index(request: Request) -> dict[str, Optional[str]]:
    decision = decision_of(request)
    return {"group": decision.group, "node": decision.node}
