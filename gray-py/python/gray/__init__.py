"""gray: gray-release (canary) routing, in-process.

Load the same rule files as the Rust engine and gateway, then route or tag requests at native
speed::

    import gray

    engine = gray.Engine.from_file("gray.yaml")
    d = engine.decide("192.168.2.20", headers={"cookie": "canary=xaaa"}, path="/api")
    d.rule, d.group, d.node, d.headers          # what the rules decided
    print(engine.explain("192.168.2.20"))       # why

``gray.asgi.GrayMiddleware`` (Starlette, FastAPI) and ``gray.wsgi.GrayMiddleware`` (Flask)
decide once per request and put the decision where handlers can read it.
"""

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

__all__ = [
    "ConfigError",
    "Decision",
    "Engine",
    "Explanation",
    "ExpressionError",
    "GrayError",
    "InstanceExplanation",
    "NepxionWarning",
    "Selection",
    "UnknownNameError",
    "__version__",
    "sticky_bucket",
    "sticky_hash",
]
