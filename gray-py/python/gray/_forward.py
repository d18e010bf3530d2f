"""Routing-header policy shared by the ASGI and WSGI middleware.

Inbound routing headers (``n-d-*`` by default) pass only as gray-core's
``Decision.forward_inbound`` allows: never from untrusted peers (so a client can never choose
its own route), from ``headers.trusted_peers`` unless the decision sets the same header
(``inbound: override``, the default) or always (``inbound: keep``). Headers the decision sets
that are not routing headers (a rule's ``set_headers: {x-gray: canary}``) always replace
inbound ones of the same name: the rule, not the client, says what they are.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, Tuple, TypeVar

from gray._gray import Decision, Engine

_T = TypeVar("_T")


def check_options(engine: Any, on_no_upstream: Any) -> None:
    """Validates the constructor arguments both middlewares share."""
    if not isinstance(engine, Engine):
        raise TypeError(f"engine must be a gray.Engine, not {type(engine).__name__}")
    if not callable(on_no_upstream) and on_no_upstream not in ("pass", "reject"):
        raise ValueError(
            f"on_no_upstream must be 'pass', 'reject' or a callable, not {on_no_upstream!r}"
        )


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
    out: List[Tuple[_T, _T]] = []
    present: set[str] = set()
    for pair in inbound:
        name = name_of(pair[0])
        if not decision.forward_inbound(name):
            continue
        if name in set_names and not decision.is_routing_header(name):
            continue
        present.add(name)
        out.append(pair)
    for k, v in setting:
        if k.lower() in present:
            continue
        out.append(make(k, v))
    return out
