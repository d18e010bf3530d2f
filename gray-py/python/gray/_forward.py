"""Routing-header policy shared by the ASGI and WSGI middleware.

Inbound routing headers (``n-d-*`` by default) come from the client. Under the engine's
``override`` policy (the default) they are stripped and the decision's headers are set, so a
client can never choose its own route; under ``keep`` (only behind a trusted edge) inbound
routing headers win and the decision fills in the missing ones. Headers the decision sets that
are not routing headers (``x-gray: canary``) always replace inbound ones of the same name.
"""

from __future__ import annotations

from typing import Callable, Iterable, List, Tuple, TypeVar

from gray._gray import Decision

_T = TypeVar("_T")


def forward(
    decision: Decision,
    inbound: Iterable[Tuple[_T, _T]],
    name_of: Callable[[_T], str],
    make: Callable[[str, str], Tuple[_T, _T]],
) -> List[Tuple[_T, _T]]:
    """The headers to pass on: ``inbound`` rewritten for ``decision``.

    ``name_of`` gives a header's lowercase name; ``make`` builds a pair in the source's
    representation (bytes for ASGI, WSGI environ keys, ...).
    """
    setting = decision.headers
    set_names = {k.lower() for k, _ in setting}
    keep = decision.inbound_policy == "keep"
    out: List[Tuple[_T, _T]] = []
    present: set[str] = set()
    for pair in inbound:
        name = name_of(pair[0])
        routing = decision.is_routing_header(name)
        if routing and not keep:
            continue
        if name in set_names and not (routing and keep):
            continue
        if routing:
            present.add(name)
        out.append(pair)
    for k, v in setting:
        if k.lower() in present:
            continue
        out.append(make(k, v))
    return out
