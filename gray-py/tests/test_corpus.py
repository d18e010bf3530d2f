"""The shared corpus (testdata/corpus/*.yaml), as gray-core/tests/corpus.rs runs it.

Each case is decided three ways — keyword arguments, an ASGI scope and a WSGI environ — on a
fresh engine per way, and all three must give the outcome the file expects.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import yaml

import gray
from conftest import TESTDATA

FILES = sorted((TESTDATA / "corpus").glob("*.yaml"))


def load(path: pathlib.Path) -> Dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def pairs(value: Any) -> List[Tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    return [(str(k), str(v)) for k, v in value]


def by_kwargs(engine: gray.Engine, req: Dict[str, Any]) -> Tuple[gray.Decision, gray.Explanation]:
    kw: Dict[str, Any] = dict(
        headers=pairs(req.get("headers")),
        cookies=pairs(req.get("cookies")) or None,
        method=req.get("method"),
        path=req.get("path"),
        query=req.get("query"),
        host=req.get("host"),
    )
    peer = str(req.get("peer", "127.0.0.1"))
    return engine.decide(peer, **kw), engine.explain(peer, **kw)


def merged_headers(req: Dict[str, Any]) -> List[Tuple[str, str]]:
    """Headers as a server would present them: cookies given apart become a Cookie header and
    a host given apart a Host header."""
    hs = pairs(req.get("headers"))
    cookies = pairs(req.get("cookies"))
    if cookies:
        hs.insert(0, ("cookie", "; ".join(f"{k}={v}" for k, v in cookies)))
    if req.get("host") is not None:
        hs = [(k, v) for k, v in hs if k.lower() != "host"] + [("host", str(req["host"]))]
    return hs


def by_asgi(engine: gray.Engine, req: Dict[str, Any]) -> Tuple[gray.Decision, gray.Explanation]:
    scope = {
        "type": "http",
        "client": (str(req.get("peer", "127.0.0.1")), 40000),
        "method": req.get("method", "GET"),
        "path": req.get("path", "/"),
        "query_string": str(req.get("query") or "").encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in merged_headers(req)],
    }
    return engine.decide_asgi(scope), engine.explain_asgi(scope)


def environ_of(req: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    env: Dict[str, Any] = {
        "REMOTE_ADDR": str(req.get("peer", "127.0.0.1")),
        "REQUEST_METHOD": req.get("method", "GET"),
        "SCRIPT_NAME": "",
        "PATH_INFO": req.get("path", "/"),
        "QUERY_STRING": str(req.get("query") or ""),
    }
    for k, v in merged_headers(req):
        key = "HTTP_" + k.upper().replace("-", "_")
        if key in env:
            # Servers join repeated headers; only lists keep their meaning when joined.
            sep = {"HTTP_COOKIE": "; ", "HTTP_X_FORWARDED_FOR": ", "}.get(key)
            if sep is None:
                return None
            env[key] = env[key] + sep + v
        else:
            env[key] = v.encode("utf-8").decode("latin-1")
    return env


def by_wsgi(engine: gray.Engine, req: Dict[str, Any]) -> Tuple[gray.Decision, gray.Explanation]:
    env = environ_of(req)
    assert env is not None
    return engine.decide_wsgi(env), engine.explain_wsgi(env)


WAYS: Dict[str, Callable[[gray.Engine, Dict[str, Any]], Tuple[gray.Decision, gray.Explanation]]] = {
    "kwargs": by_kwargs,
    "asgi": by_asgi,
    "wsgi": by_wsgi,
}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_corpus_file(path: pathlib.Path, way: str) -> None:
    data = load(path)
    # The engine reads the spec as JSON: the same serde data the YAML describes.
    engine = gray.Engine.from_str(json.dumps(data["spec"]), format="json")
    decide = WAYS[way]
    ran = 0
    for case in data["cases"]:
        req = case.get("request") or {}
        if way == "wsgi" and environ_of(req) is None:
            continue
        d, ex = decide(engine, req)
        ctx = f"{path.name} / {case['name']} ({way}): {d}\n{ex}"
        expect = case["expect"]
        if "rule" in expect:
            assert (d.rule or "(default)") == expect["rule"], ctx
        if "group" in expect:
            assert d.group == expect["group"], ctx
        if "node" in expect:
            assert d.node == expect["node"], ctx
        if "headers" in expect:
            assert dict(d.headers) == expect["headers"], ctx
        assert ex.rule == d.rule and ex.group == d.group, ctx
        ran += 1
    assert ran > 0


def test_corpus_is_not_empty() -> None:
    total = sum(len(load(p)["cases"]) for p in FILES)
    assert total >= 30, f"only {total} corpus cases"
