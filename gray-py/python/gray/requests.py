"""A requests transport adapter that routes outgoing calls with gray.

::

    import requests
    import gray
    from gray.requests import GrayAdapter

    engine = gray.Engine.from_file("svc-a.yaml")   # svc-a's spec: its callees as groups
    session = requests.Session()
    session.mount("http://svc-b/", GrayAdapter(engine))   # or "http://" for every host
    session.get("http://svc-b/orders/7")          # to the svc-b instance the chain asked for

It does what :mod:`gray.httpx` does: the URL's host names the callee service; the instance is
selected for the current :func:`gray.current_context`; ``Host`` names it, routing headers the
caller set are replaced by :attr:`gray.Selection.outgoing_headers` (a name sent twice keeps
its first value: requests holds one value per name); the status and the time to the response
headers, or a failed call (connect error, timeout, reset), are recorded for the instance; a
call it cannot route raises :class:`gray.NoServiceError`, :class:`gray.UnknownServiceError` or
:class:`gray.NoInstanceError`. The response's ``url`` and ``request`` stay the caller's (a
relative redirect is routed again); :func:`selection_of` tells which instance answered.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict

from gray._call import Call, check_engine
from gray._gray import Engine, Selection

_ATTR = "gray_selection"


def selection_of(response: requests.Response) -> Optional[Selection]:
    """The selection a :class:`GrayAdapter` routed ``response``'s request with, or None."""
    sel = getattr(response, _ATTR, None)
    return sel if isinstance(sel, Selection) else None


class GrayAdapter(BaseAdapter):
    """Routes each request to the instance gray selects (see :mod:`gray.requests`).

    :param engine: the calling service's :class:`gray.Engine`.
    :param inner: the adapter that sends (default ``requests.adapters.HTTPAdapter()``; pass
        one configured with retries or pool sizes).
    """

    def __init__(self, engine: Engine, inner: Optional[BaseAdapter] = None) -> None:
        if inner is not None and not isinstance(inner, BaseAdapter):
            raise TypeError(f"inner must be a requests adapter, not {type(inner).__name__}")
        super().__init__()
        self.engine = check_engine(engine)
        self.inner = inner if inner is not None else HTTPAdapter()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Union[None, float, Tuple[float, float], Tuple[float, None]] = None,
        verify: Union[bool, str] = True,
        cert: Union[None, bytes, str, Tuple[Union[bytes, str], Union[bytes, str]]] = None,
        proxies: Optional[Mapping[str, str]] = None,
    ) -> requests.Response:
        url = request.url or ""
        parts = urlsplit(url)
        call = Call(self.engine, parts.hostname, url)
        routed = request.copy()
        routed.url = urlunsplit(parts._replace(netloc=call.address))
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for k, v in [*((k, v) for k, v in request.headers.items() if call.keeps(k)), *call.added]:
            headers.setdefault(k, v)
        routed.headers = headers
        call.start()
        kwargs: dict[str, Any] = {
            "stream": stream,
            "timeout": timeout,
            "verify": verify,
            "cert": cert,
            "proxies": proxies,
        }
        try:
            response = self.inner.send(routed, **kwargs)
        except Exception as e:
            call.record_error(e)
            raise
        call.record(response.status_code)
        response.url = url
        response.request = request
        setattr(response, _ATTR, call.selection)
        return response

    def close(self) -> None:
        self.inner.close()
