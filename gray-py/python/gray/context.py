"""The routing context of the inbound request, for the outgoing calls made while handling it.

``gray.asgi.GrayMiddleware`` and ``gray.wsgi.GrayMiddleware`` keep the request the engine
decided on — its peer, method, path, query and headers *as they arrived* — in a
:class:`contextvars.ContextVar` while the app handles it, and reset it afterwards (also when
the app raises). Each asyncio task and each thread sees its own: concurrent requests never
see each other's context. The outgoing-call adapters (:mod:`gray.httpx`,
:mod:`gray.requests`) read it to select the callee's instance with
:meth:`gray.Engine.select_instance` and to set the routing headers the call carries::

    ctx = gray.current_context()        # None outside an inbound request
    sel = ctx.select(engine, "svc-b")   # engine.select_instance("svc-b", <the inbound request>)

Work handed to another thread does not inherit context variables; carry the context over
explicitly::

    ctx = gray.current_context()
    def work() -> None:
        with gray.routing_context(ctx):
            client.get("http://svc-b/")
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from gray._gray import Engine, InstanceExplanation, Selection

_Text = Union[str, bytes]

_CURRENT: contextvars.ContextVar[Optional["RoutingContext"]] = contextvars.ContextVar(
    "gray_routing_context", default=None
)


class RoutingContext:
    """One inbound request as gray reads it: the view ``Engine.decide`` decided on.

    :param peer: the address of the peer that sent it (its routing headers are believed only
        when the engine's ``headers.trusted_peers`` lists it); text that is not an IP address
        counts as unknown.
    :param headers: ``(name, value)`` pairs (``str`` or ``bytes``) as they arrived, before any
        middleware rewrote them.
    """

    __slots__ = ("peer", "headers", "method", "path", "query", "host")

    def __init__(
        self,
        peer: Optional[str] = None,
        *,
        headers: Sequence[Tuple[_Text, _Text]] = (),
        method: _Text = "GET",
        path: _Text = "/",
        query: Optional[_Text] = None,
        host: Optional[_Text] = None,
    ) -> None:
        self.peer = peer
        self.headers = list(headers)
        self.method = method
        self.path = path
        self.query = query
        self.host = host

    @classmethod
    def from_asgi(cls, scope: Mapping[str, Any]) -> RoutingContext:
        """The context of an ASGI ``http`` or ``websocket`` scope (peer: ``scope["client"]``)."""
        client = scope.get("client")
        peer = client[0] if client else None
        return cls(
            peer if isinstance(peer, str) else None,
            headers=list(scope.get("headers") or ()),
            method=scope.get("method") or "GET",
            path=scope.get("path") or "/",
            query=scope.get("query_string") or None,
        )

    @classmethod
    def from_wsgi(cls, environ: Mapping[str, Any]) -> RoutingContext:
        """The context of a WSGI environ (peer: ``REMOTE_ADDR``; header values are read back
        from latin-1 into their bytes, as PEP 3333 stores them)."""
        headers: List[Tuple[_Text, _Text]] = []
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:]
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = key
            else:
                continue
            raw = _latin1(value)
            if raw is not None:
                headers.append((name.lower().replace("_", "-"), raw))
        path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "")
        peer = environ.get("REMOTE_ADDR")
        return cls(
            peer if isinstance(peer, str) else None,
            headers=headers,
            method=environ.get("REQUEST_METHOD") or "GET",
            path=_latin1(path or "/") or b"/",
            query=_latin1(environ.get("QUERY_STRING") or "") or None,
        )

    def select(self, engine: Engine, service: str) -> Selection:
        """``engine.select_instance(service, ...)`` for this request."""
        return engine.select_instance(service, self.peer, **self._request())

    def explain(self, engine: Engine, service: str) -> InstanceExplanation:
        """``engine.explain_instance(service, ...)`` for this request."""
        return engine.explain_instance(service, self.peer, **self._request())

    def _request(self) -> Dict[str, Any]:
        """The keyword arguments describing this request to the engine."""
        return {
            "headers": self.headers,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "host": self.host,
        }

    def __repr__(self) -> str:
        return f"<RoutingContext peer={self.peer!r} {self.method!r} {self.path!r}>"


def _latin1(value: Any) -> Optional[bytes]:
    """A WSGI string's bytes, or None for a value that is not one."""
    if not isinstance(value, str):
        return None
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return None


#: The context outside any inbound request: an empty request, no peer.
EMPTY = RoutingContext()


def current_context() -> Optional[RoutingContext]:
    """The routing context of the inbound request being handled, or None outside one."""
    return _CURRENT.get()


@contextlib.contextmanager
def routing_context(context: Optional[RoutingContext]) -> Iterator[Optional[RoutingContext]]:
    """Makes ``context`` the current routing context inside the ``with`` block (None: no
    context), restoring the previous one afterwards, also on exceptions."""
    if context is not None and not isinstance(context, RoutingContext):
        raise TypeError(f"context must be a gray.RoutingContext or None, not {type(context).__name__}")
    token = _CURRENT.set(context)
    try:
        yield context
    finally:
        _CURRENT.reset(token)
