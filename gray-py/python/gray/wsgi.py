"""WSGI middleware (Flask, any WSGI app): one gray decision per request.

::

    from flask import Flask, request
    import gray
    from gray.wsgi import GrayMiddleware, decision_of

    engine = gray.Engine.from_file("gray.yaml")
    app = Flask(__name__)
    app.wsgi_app = GrayMiddleware(app.wsgi_app, engine)

    @app.get("/")
    def index() -> dict[str, str]:
        return {"group": decision_of(request).group}

For every request the middleware decides with ``Engine.decide_wsgi`` — the peer is
``environ["REMOTE_ADDR"]``, and forwarded-IP headers count only when that peer is one of the
engine's ``client_ip.trusted_proxies`` — then stores the :class:`gray.Decision` as
``environ["gray.decision"]``, keeps the request as it arrived as the current
:class:`gray.RoutingContext` while the app is called (for outgoing calls through
:mod:`gray.httpx` or :mod:`gray.requests`; reset when the app returns or raises — a response
body produced later by a generator runs without it, so capture :func:`gray.current_context`
in the view), rewrites the ``HTTP_*`` keys per the routing-header policy,
optionally answers by itself with a redirect or a 503, and with ``record_outcomes=True``
records the app's response status and the time to it (``Engine.record``, classified by the served group's
``fail_on``) or an exception the app raises before calling ``start_response``
(``Engine.record_error(decision, "reset")``), like :mod:`gray.asgi`.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, List, Literal, Optional, Tuple, Union

from gray._forward import check_options, forward
from gray._gray import Decision, Engine
from gray.context import _CURRENT, RoutingContext

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

#: The environ key holding the decision.
ENVIRON_KEY = "gray.decision"


def decision_of(request_or_environ: Any) -> Decision:
    """The decision the middleware made for a Flask/Werkzeug request or a WSGI environ."""
    environ = getattr(request_or_environ, "environ", request_or_environ)
    decision = environ.get(ENVIRON_KEY)
    if not isinstance(decision, Decision):
        raise LookupError("no gray decision in this request: is gray.wsgi.GrayMiddleware installed?")
    return decision


def _header_keys(environ: Environ) -> List[Tuple[str, Any]]:
    return [
        (k, v)
        for k, v in environ.items()
        if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")
    ]


def _name(key: str) -> str:
    if key.startswith("HTTP_"):
        key = key[5:]
    return key.lower().replace("_", "-")


def _pair(k: str, v: str) -> Tuple[str, str]:
    # PEP 3333: environ strings carry the bytes decoded as latin-1.
    return ("HTTP_" + k.upper().replace("-", "_"), v.encode("utf-8").decode("latin-1"))


class GrayMiddleware:
    """Decides each request with ``engine`` and hands the decision to the app.

    Parameters are those of :class:`gray.asgi.GrayMiddleware`.
    """

    def __init__(
        self,
        app: WSGIApp,
        engine: Engine,
        *,
        redirect: Optional[Callable[[Decision], Optional[str]]] = None,
        on_no_upstream: Union[Literal["pass", "reject"], Callable[[Decision], str]] = "pass",
        rewrite_headers: bool = True,
        record_outcomes: bool = False,
    ) -> None:
        check_options(engine, on_no_upstream)
        self.app = app
        self.engine = engine
        self.redirect = redirect
        self.on_no_upstream = on_no_upstream
        self.rewrite_headers = rewrite_headers
        self.record_outcomes = record_outcomes

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        decision = self.engine.decide_wsgi(environ)
        token = _CURRENT.set(RoutingContext.from_wsgi(environ))
        try:
            return self._handle(environ, start_response, decision)
        finally:
            _CURRENT.reset(token)

    def _handle(
        self, environ: Environ, start_response: StartResponse, decision: Decision
    ) -> Iterable[bytes]:
        """Hands the request, decided, to the app (or answers it)."""
        environ[ENVIRON_KEY] = decision
        if self.rewrite_headers:
            inbound = _header_keys(environ)
            kept = forward(decision, inbound, _name, _pair)
            for k, _ in inbound:
                del environ[k]
            environ.update(kept)
        target: Optional[str] = None
        if decision.no_upstream and self.on_no_upstream != "pass":
            if self.on_no_upstream == "reject":
                return _respond(start_response, "503 Service Unavailable", b"no upstream available\n", [])
            if callable(self.on_no_upstream):
                target = self.on_no_upstream(decision)
        if target is None and self.redirect is not None:
            target = self.redirect(decision)
        if target is not None:
            return _respond(start_response, "307 Temporary Redirect", b"", [("Location", target)])
        if not self.record_outcomes:
            return self.app(environ, start_response)
        return self._call_recording(environ, start_response, decision)

    def _call_recording(
        self, environ: Environ, start_response: StartResponse, decision: Decision
    ) -> Iterable[bytes]:
        """Calls the app and records the status it starts its response with, or the exception
        it raised before that."""
        engine = self.engine
        started = False
        t0 = time.perf_counter()

        def start_recording(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal started
            if not started:
                started = True
                code = status.split(" ", 1)[0]
                if len(code) == 3 and code.isascii() and code.isdigit() and code[0] != "0":
                    engine.record(decision, int(code), latency=time.perf_counter() - t0)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        try:
            return self.app(environ, start_recording)
        except Exception:
            if not started:
                engine.record_error(decision, "reset", latency=time.perf_counter() - t0)
            raise


def _respond(
    start_response: StartResponse, status: str, body: bytes, headers: List[Tuple[str, str]]
) -> List[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *headers,
        ],
    )
    return [body]
