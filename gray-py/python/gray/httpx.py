"""httpx transports that route outgoing calls with gray.

::

    import httpx
    import gray
    from gray.httpx import AsyncGrayTransport, GrayTransport

    engine = gray.Engine.from_file("svc-a.yaml")   # svc-a's spec: its callees as groups
    client = httpx.Client(transport=GrayTransport(engine))
    client.get("http://svc-b/orders/7")            # to the svc-b instance the chain asked for
    async_client = httpx.AsyncClient(transport=AsyncGrayTransport(engine))

The URL's host names the callee service (a group of the spec). For each request the transport
selects the instance with :meth:`gray.Engine.select_instance` for the inbound request being
handled (:func:`gray.current_context`, set by gray's ASGI and WSGI middleware; an empty
request outside one), sends the request to that instance's address, with ``Host`` naming it,
every routing header the caller set removed and :attr:`gray.Selection.outgoing_headers` set
(inbound ``n-d-*`` headers only from a trusted peer), then records the status and the time to
the response headers for the instance (``Engine.record_node``), or a failed call as a
connect error, timeout or reset. A call it cannot route raises :class:`gray.NoServiceError`,
:class:`gray.UnknownServiceError` or :class:`gray.NoInstanceError` before sending anything.

The caller's request is left as it was: ``response.request.url`` is still the service URL
(so a relative redirect is routed again); :func:`selection_of` tells which instance answered.
Mount it for the services only to keep other hosts on the default transport:
``httpx.Client(mounts={"http://svc-b": GrayTransport(engine)})``.
"""

from __future__ import annotations

from typing import Optional

import httpx

from gray._call import Call, check_engine
from gray._gray import Engine, Selection

#: The key of ``response.extensions`` holding the :class:`gray.Selection`.
EXTENSION = "gray.selection"


def selection_of(response: httpx.Response) -> Optional[Selection]:
    """The selection a gray transport routed ``response``'s request with, or None."""
    sel = response.extensions.get(EXTENSION)
    return sel if isinstance(sel, Selection) else None


def _route(engine: Engine, request: httpx.Request) -> tuple[Call, httpx.Request]:
    """The call and the request to send to the selected instance."""
    call = Call(engine, request.url.host, str(request.url))
    routed = httpx.Request(
        request.method,
        request.url.copy_with(host=call.host, port=call.port),
        headers=[
            *((k, v) for k, v in request.headers.raw if call.keeps(k.decode("latin-1"))),
            *((k.encode("latin-1"), v.encode("utf-8")) for k, v in call.added),
        ],
        stream=request.stream,
        extensions=request.extensions,
    )
    call.start()
    return call, routed


def _answered(call: Call, response: httpx.Response) -> httpx.Response:
    call.record(response.status_code)
    response.extensions[EXTENSION] = call.selection
    return response


class GrayTransport(httpx.BaseTransport):
    """Routes each request to the instance gray selects (see :mod:`gray.httpx`).

    :param engine: the calling service's :class:`gray.Engine`.
    :param inner: the transport that sends (default ``httpx.HTTPTransport()``).
    """

    def __init__(self, engine: Engine, inner: Optional[httpx.BaseTransport] = None) -> None:
        if inner is not None and not isinstance(inner, httpx.BaseTransport):
            raise TypeError(f"inner must be an httpx.BaseTransport, not {type(inner).__name__}")
        self.engine = check_engine(engine)
        self.inner = inner if inner is not None else httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call, routed = _route(self.engine, request)
        try:
            response = self.inner.handle_request(routed)
        except Exception as e:
            call.record_error(e)
            raise
        return _answered(call, response)

    def close(self) -> None:
        self.inner.close()


class AsyncGrayTransport(httpx.AsyncBaseTransport):
    """:class:`GrayTransport` for ``httpx.AsyncClient``.

    :param inner: the transport that sends (default ``httpx.AsyncHTTPTransport()``).
    """

    def __init__(self, engine: Engine, inner: Optional[httpx.AsyncBaseTransport] = None) -> None:
        if inner is not None and not isinstance(inner, httpx.AsyncBaseTransport):
            raise TypeError(f"inner must be an httpx.AsyncBaseTransport, not {type(inner).__name__}")
        self.engine = check_engine(engine)
        self.inner = inner if inner is not None else httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        call, routed = _route(self.engine, request)
        try:
            response = await self.inner.handle_async_request(routed)
        except Exception as e:
            call.record_error(e)
            raise
        return _answered(call, response)

    async def aclose(self) -> None:
        await self.inner.aclose()
