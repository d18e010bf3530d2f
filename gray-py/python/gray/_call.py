"""What the outgoing-call adapters (:mod:`gray.httpx`, :mod:`gray.requests`) share: routing
one call to the instance gray selects, the routing headers it carries, recording its outcome,
and the errors of a call that cannot be routed.

This mirrors the Rust ``gray_tower::CallLayer``: the URL's host names the callee service (a
group of the calling service's spec); the instance is chosen by
:meth:`gray.Engine.select_instance` for the current :mod:`gray.context` (an empty request
outside any inbound request); every routing header the caller set is replaced by
:attr:`gray.Selection.outgoing_headers` (inbound ``n-d-*`` headers only from a trusted peer,
then the service's own release's); ``Host`` names the instance; and when the response headers
arrive, or the call fails, the outcome and latency are recorded for the instance
(``Engine.record_node`` / ``record_node_error``: passive health, the latency histogram and the
live windows).
"""

from __future__ import annotations

import errno
import time
from typing import List, Literal, Optional, Tuple

from gray._gray import Engine, GrayError, Selection, UnknownNameError
from gray.context import EMPTY, current_context

ErrorKind = Literal["connect", "timeout", "reset"]


class CallError(GrayError):
    """An outgoing call could not be routed (raised before anything was sent)."""

    #: The service named by the URL host ('' when there was none).
    service: str = ""
    #: The URL of the call as the caller gave it.
    url: str = ""

    def __init__(self, message: str, *, service: str = "", url: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.url = url
        self.message = message
        self.kind = "call"


class NoServiceError(CallError, ValueError):
    """The URL has no host to name the callee service by."""


class UnknownServiceError(CallError, LookupError):
    """The URL's host names no group of the spec."""


class NoInstanceError(CallError):
    """The service has no instance to call: none configured, or every one filtered out by
    the release routes, drained or ejected."""


def check_engine(engine: object) -> Engine:
    """The adapters' ``engine`` argument, checked."""
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be a gray.Engine, not {type(engine).__name__}")
    return engine


def split_address(address: str) -> Tuple[str, Optional[int]]:
    """``host:port`` (``[v6]:port``, or a host alone) as host and port."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif address.count(":") == 1:
        host, _, port = address.partition(":")
    else:
        host, port = address, ""
    if not port:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CallError(f"instance address {address!r} has no valid port")
    return host, int(port)


class Call:
    """One routed call: the selection, the instance, and its outcome recording."""

    __slots__ = ("engine", "selection", "service", "address", "host", "port", "started")

    def __init__(self, engine: Engine, host: Optional[str], url: str) -> None:
        if not host:
            raise NoServiceError(
                f"outgoing request to {url!r} names no service: use a URL whose host is the "
                "callee's group, e.g. http://svc-b/path",
                url=url,
            )
        sel = (current_context() or EMPTY).select(engine, host)
        if sel.service is None:
            raise UnknownServiceError(
                f"outgoing request names service {host!r}, but the spec has no group by that name",
                service=host,
                url=url,
            )
        if sel.address is None:
            raise NoInstanceError(
                f"no instance of service {host!r} can take the call (none configured, or all "
                "filtered out, drained or ejected)",
                service=host,
                url=url,
            )
        self.engine = engine
        self.selection: Selection = sel
        self.service: str = sel.service
        self.address: str = sel.address
        self.host, self.port = split_address(sel.address)
        self.started = 0.0

    def keeps(self, name: str) -> bool:
        """Whether a header the caller set goes out as it is: not a routing header (they are
        replaced by :attr:`added`) and not ``Host`` (it names the instance)."""
        return name.lower() != "host" and not self.selection.is_routing_header(name)

    @property
    def added(self) -> List[Tuple[str, str]]:
        """The headers the call gets: ``Host`` naming the instance, then the outgoing
        routing headers."""
        return [("Host", self.address), *self.selection.outgoing_headers]

    def start(self) -> None:
        """Marks the moment the call is sent."""
        self.started = time.perf_counter()

    def record(self, status: int) -> None:
        """Records the status the instance answered with, and the time to it."""
        self._record(status, None)

    def record_error(self, error: BaseException) -> None:
        """Records a call that failed without a response, classified by :func:`classify`."""
        self._record(None, classify(error))

    def _record(self, status: Optional[int], kind: Optional[ErrorKind]) -> None:
        latency = time.perf_counter() - self.started
        try:
            if kind is None and status is not None:
                self.engine.record_node(self.service, self.address, status, latency)
            elif kind is not None:
                self.engine.record_node_error(self.service, self.address, kind, latency)
        except UnknownNameError:
            pass  # the node left the spec meanwhile (a reload): nothing to record
        except ValueError:
            pass  # a status outside 100..999 from a broken server: not a node outcome


_CONNECT_ERRNOS = (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL)


def classify(error: BaseException) -> ErrorKind:
    """The outcome of a call that failed: ``"timeout"`` when the error or one of its causes is
    a timeout, ``"connect"`` when connecting failed (refused, unreachable, name not
    resolved), otherwise ``"reset"`` (the exchange broke after it began)."""
    seen: set[int] = set()
    todo: List[BaseException] = [error]
    while todo:
        err = todo.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        name = type(err).__name__
        if isinstance(err, TimeoutError) or "Timeout" in name:
            return "timeout"
        if isinstance(err, OSError) and err.errno in _CONNECT_ERRNOS:
            return "connect"
        if name in ("ConnectError", "NewConnectionError", "NameResolutionError", "gaierror"):
            return "connect"
        for nxt in (err.__cause__, err.__context__, getattr(err, "reason", None), *err.args):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
    return "reset"
