"""gray: gray-release (canary) routing, in-process.

Load the same rule files as the Rust engine and gateway, then route or tag requests at native
speed::

    import gray

    engine = gray.Engine.from_file("gray.yaml")
    d = engine.decide("192.168.2.20", headers={"cookie": "canary=xaaa"}, path="/api")
    d.rule, d.group, d.node, d.headers          # what the rules decided
    print(engine.explain("192.168.2.20"))       # why

``gray.asgi.GrayMiddleware`` (Starlette, FastAPI) and ``gray.wsgi.GrayMiddleware`` (Flask)
decide once per request and put the decision where handlers can read it, and keep the
request's routing context (:func:`current_context`) for the outgoing calls it makes:
``gray.httpx.GrayTransport`` / ``AsyncGrayTransport`` and ``gray.requests.GrayAdapter`` route
each call to the callee instance the chain asks for (``Engine.select_instance``) and carry the
routing headers on.
"""

from gray._call import CallError, NoInstanceError, NoServiceError, UnknownServiceError
from gray._gray import (
    ConfigError,
    Decision,
    Engine,
    Explanation,
    ExpressionError,
    GrayError,
    InstanceExplanation,
    NepxionWarning,
    Selection,
    UnknownNameError,
    __version__,
    sticky_bucket,
    sticky_hash,
)
from gray.context import RoutingContext, current_context, routing_context

__all__ = [
    "CallError",
    "ConfigError",
    "Decision",
    "Engine",
    "Explanation",
    "ExpressionError",
    "GrayError",
    "InstanceExplanation",
    "NepxionWarning",
    "NoInstanceError",
    "NoServiceError",
    "RoutingContext",
    "Selection",
    "UnknownNameError",
    "UnknownServiceError",
    "__version__",
    "current_context",
    "routing_context",
    "sticky_bucket",
    "sticky_hash",
]
