"""ASGI middleware (Starlette, FastAPI): one gray decision per request.

::

    from fastapi import FastAPI, Request
    import gray
    from gray.asgi import GrayMiddleware, decision_of

    engine = gray.Engine.from_file("gray.yaml")
    app = FastAPI()
    app.add_middleware(GrayMiddleware, engine=engine)

    @app.get("/")
    def index(request: Request) -> dict[str, str]:
        return {"group": decision_of(request).group}

For every ``http`` and ``websocket`` connection the middleware decides with
``Engine.decide_asgi`` — the peer is ``scope["client"]``, and forwarded-IP headers count only
when that peer is one of the engine's ``client_ip.trusted_proxies`` — then:

* stores the :class:`gray.Decision` as ``scope["gray"]`` and ``scope["state"]["gray"]``
  (``request.state.gray`` in Starlette);
* rewrites the request headers the app sees: inbound routing headers are handled per the
  engine's policy and the decision's headers are set (see ``gray._forward``);
* keeps the request as it arrived (peer, method, path, query, headers) as the current
  :class:`gray.RoutingContext` (:func:`gray.current_context`) while the app handles it, for
  the outgoing calls it makes through :mod:`gray.httpx` or :mod:`gray.requests`; each task
  sees its own, and it is reset afterwards;
* optionally answers by itself: a redirect chosen by ``redirect(decision)``, or, when no
  upstream is available (``decision.no_upstream``), a 503 (``on_no_upstream="reject"``) or a
  redirect (``on_no_upstream=callable``);
* with ``record_outcomes=True`` (for an app that forwards each request to ``decision.node``),
  records the app's response status and the time to its start with ``Engine.record`` — the served group's ``fail_on``
  decides whether it is a failure, so by default a 500 is not — and an exception the app
  raises before it starts a response with ``Engine.record_error(decision, "reset")``.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable, Literal, MutableMapping, Optional, Tuple, Union

from gray._forward import check_options, forward
from gray._gray import Decision, Engine
from gray.context import _CURRENT, RoutingContext

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The scope key holding the decision.
SCOPE_KEY = "gray"


def decision_of(request_or_scope: Any) -> Decision:
    """The decision the middleware made for a Starlette ``Request`` or an ASGI scope."""
    scope = getattr(request_or_scope, "scope", request_or_scope)
    decision = scope.get(SCOPE_KEY)
    if not isinstance(decision, Decision):
        raise LookupError("no gray decision in this request: is gray.asgi.GrayMiddleware installed?")
    return decision


def _name(raw: bytes) -> str:
    return raw.decode("latin-1").lower()


def _pair(k: str, v: str) -> Tuple[bytes, bytes]:
    return (k.encode("latin-1"), v.encode("utf-8"))


class GrayMiddleware:
    """Decides each request with ``engine`` and hands the decision to the app.

    :param app: the ASGI application.
    :param engine: the :class:`gray.Engine` (share one per process; it is thread-safe).
    :param redirect: called with every decision; a URL it returns is answered with
        ``307 Temporary Redirect`` instead of calling the app.
    :param on_no_upstream: ``"pass"`` (default: call the app anyway), ``"reject"`` (answer
        503) or a callable returning the URL to redirect to.
    :param rewrite_headers: apply the routing-header policy to the headers the app sees
        (default True).
    :param record_outcomes: record each HTTP response's status (``Engine.record``) and an
        exception raised before the response starts (``Engine.record_error(decision,
        "reset")``) for passive health (default False). Enable it when the app forwards the
        request to ``decision.node``; the served group's ``fail_on`` classifies.
    """

    def __init__(
        self,
        app: ASGIApp,
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        decision = self.engine.decide_asgi(scope)
        token = _CURRENT.set(RoutingContext.from_asgi(scope))
        try:
            await self._handle(scope, receive, send, decision)
        finally:
            _CURRENT.reset(token)

    async def _handle(self, scope: Scope, receive: Receive, send: Send, decision: Decision) -> None:
        """Hands the request, decided, to the app (or answers it)."""
        kind = scope.get("type")
        scope = dict(scope)
        scope[SCOPE_KEY] = decision
        state = scope.get("state")
        if isinstance(state, dict):
            state[SCOPE_KEY] = decision
        else:
            scope["state"] = {SCOPE_KEY: decision}
        if self.rewrite_headers:
            scope["headers"] = forward(decision, scope.get("headers") or [], _name, _pair)
        target: Optional[str] = None
        if decision.no_upstream and self.on_no_upstream != "pass":
            if self.on_no_upstream == "reject":
                await _respond(scope, send, 503, b"no upstream available\n", [])
                return
            if callable(self.on_no_upstream):
                target = self.on_no_upstream(decision)
        if target is None and self.redirect is not None:
            target = self.redirect(decision)
        if target is not None:
            await _respond(scope, send, 307, b"", [(b"location", target.encode("latin-1"))])
            return
        if not self.record_outcomes or kind != "http":
            await self.app(scope, receive, send)
            return
        await self._call_recording(scope, receive, send, decision)

    async def _call_recording(
        self, scope: Scope, receive: Receive, send: Send, decision: Decision
    ) -> None:
        """Calls the app and records its response status, or the exception it raised."""
        engine = self.engine
        started = False
        t0 = time.perf_counter()

        async def send_recording(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start" and not started:
                started = True
                status = message.get("status")
                if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 999:
                    engine.record(decision, status, latency=time.perf_counter() - t0)
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        except Exception:
            # Not BaseException: a cancelled request (the client went away) says nothing
            # about the node.
            if not started:
                engine.record_error(decision, "reset", latency=time.perf_counter() - t0)
            raise


async def _respond(
    scope: Scope, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    if scope["type"] == "websocket":
        # Refuse the handshake (the server answers 403).
        await send({"type": "websocket.close", "code": 1013 if status == 503 else 1008})
        return
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
