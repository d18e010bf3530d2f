"""Type stubs of the native module ``gray._gray`` (re-exported by ``gray``)."""

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal, Optional, Protocol, TypedDict, Union, final

from typing_extensions import NotRequired

_Text = Union[str, bytes]

class _SupportsItems(Protocol):
    def items(self) -> Iterable[tuple[_Text, Any]]: ...

class _HasRaw(Protocol):
    @property
    def raw(self) -> list[tuple[bytes, bytes]]: ...

#: Headers: a dict (values may be lists for repeated headers), a list of ``(name, value)``
#: pairs, a Starlette ``Headers`` (read through ``raw``) or any object with ``items()``
#: (Werkzeug ``Headers``).
HeadersLike = Union[
    Mapping[str, Union[_Text, Sequence[_Text]]],
    Mapping[bytes, Union[_Text, Sequence[_Text]]],
    Sequence[tuple[_Text, _Text]],
    Sequence[list[_Text]],
    _HasRaw,
    _SupportsItems,
]
#: Cookies: a mapping of cookie name to value, or ``(name, value)`` pairs.
CookiesLike = Union[Mapping[str, _Text], Sequence[tuple[_Text, _Text]], _SupportsItems]
#: A peer address: text (non-IP text such as ``"testclient"`` counts as unknown), an
#: ``ipaddress`` address, or None.
PeerLike = Union[str, bytes, "_Packed", None]

class _Packed(Protocol):
    @property
    def packed(self) -> bytes: ...

__version__: str

class _TestingModule(Protocol):
    """``_gray._testing``: hooks for the project's tests and benchmarks, not an API."""

    debug_build: bool

    def header_views(
        self, kind: Literal["args", "asgi", "wsgi"], request: Mapping[str, Any], names: list[str]
    ) -> tuple[list[tuple[str, str]], list[list[str]]]:
        """A request view's header listing, and its lookups of ``names``."""

_testing: _TestingModule

def sticky_bucket(salt: _Text, key: _Text) -> int:
    """The bucket ``0..10000`` of ``key`` under ``salt`` (``percent`` conditions)."""

def sticky_hash(salt: _Text, key: _Text) -> int:
    """The 64-bit salted stickiness hash behind ``sticky_bucket``."""

class GrayError(Exception):
    """Base class of every error raised by gray."""

    kind: str
    message: str

class ConfigError(GrayError, ValueError):
    """A spec, rule file or admin change was rejected."""

    path: str
    line: int | None
    column: int | None

class ExpressionError(ConfigError):
    """A Nepxion-style condition expression did not parse."""

class UnknownNameError(GrayError, LookupError):
    """An admin call named a group or node that does not exist."""

class NepxionWarning(UserWarning):
    """Part of an imported Nepxion rule that gray does not apply."""

class NodeMetadata(TypedDict, total=False):
    version: str
    region: str
    env: str
    zone: str
    group: str
    id: str

class NodeStatus(TypedDict):
    address: str
    weight: int
    configured_weight: int
    drain: bool
    health: str
    down_for_ms: NotRequired[int]
    fails: int
    max_fails: int
    fail_timeout_ms: int
    requests: int
    failures: int
    metadata: NodeMetadata

class GroupStatus(TypedDict):
    name: str
    select: Literal["round_robin", "random", "hash"]
    fallback: NotRequired[str]
    rollout_step: NotRequired[int]
    rollout_steps: NotRequired[int]
    requests: int
    failures: int
    available: bool
    nodes: list[NodeStatus]

class RedisStatus(TypedDict):
    namespace: str
    connected: bool
    in_sync: bool
    origin: Literal["redis", "dump", "initial"]
    last_applied_generation: int | None
    last_error: str | None
    log_id: str
    applied_total: int
    rejected_total: int
    ip_set_members: int

@final
class Decision:
    """Where one request goes; answers from the snapshot that decided."""

    @property
    def rule(self) -> str | None: ...
    @property
    def group(self) -> str: ...
    @property
    def requested_group(self) -> str: ...
    @property
    def is_fallback(self) -> bool: ...
    @property
    def node(self) -> str | None: ...
    @property
    def node_metadata(self) -> NodeMetadata | None: ...
    @property
    def no_upstream(self) -> bool: ...
    @property
    def headers(self) -> list[tuple[str, str]]: ...
    @property
    def generation(self) -> int: ...
    @property
    def inbound_policy(self) -> Literal["override", "keep"]: ...
    def is_routing_header(self, name: _Text) -> bool: ...
    @property
    def trusts_inbound(self) -> bool: ...
    def forward_inbound(self, name: _Text) -> bool: ...
    def route(self, kind: _RouteKind) -> str | None: ...
    def route_id(self, kind: _RouteKind) -> str | None: ...

@final
class Explanation:
    """Why a request was routed where it was; ``str()`` gives the report."""

    @property
    def text(self) -> str: ...
    @property
    def rule(self) -> str | None: ...
    @property
    def group(self) -> str: ...
    @property
    def node(self) -> str | None: ...
    @property
    def client_ip(self) -> str | None: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class Selection:
    """The instance chosen for one outgoing call (``Engine.select_instance``), and the routing
    headers the call carries; answers from the snapshot that selected."""

    @property
    def address(self) -> str | None:
        """``host:port`` of the instance, or None (unknown service, or no instance)."""
    @property
    def service(self) -> str | None:
        """The group the instance was chosen from; None for an unknown service."""
    @property
    def node_metadata(self) -> NodeMetadata | None: ...
    @property
    def trusts_inbound(self) -> bool:
        """True if the inbound peer may send routing headers (``headers.trusted_peers``)."""
    @property
    def headers(self) -> list[tuple[str, str]]:
        """The routing headers this service's own release resolved."""
    @property
    def outgoing_headers(self) -> list[tuple[str, str]]:
        """The routing headers the call carries: trusted inbound ones, then the own ones."""
    def forward_inbound(self, name: _Text) -> bool: ...
    def is_routing_header(self, name: _Text) -> bool: ...
    @property
    def generation(self) -> int: ...

class SelectStep(TypedDict):
    filter: str
    value: str
    outcome: str

@final
class InstanceExplanation:
    """How ``Engine.select_instance`` chose; ``str()`` gives the report."""

    @property
    def service(self) -> str: ...
    @property
    def trusts_inbound(self) -> bool: ...
    @property
    def address(self) -> str | None: ...
    @property
    def values(self) -> list[tuple[str, str, str]]:
        """``(header, value, source)``; source ``"own"`` or ``"inbound"``."""
    @property
    def steps(self) -> list[SelectStep]: ...
    @property
    def text(self) -> str: ...
    def to_dict(self) -> dict[str, Any]: ...

_Format = Literal["yaml", "yml", "json", "toml"]
_RouteKind = Literal["version", "region", "address", "version_weight", "region_weight"]
_ErrorKind = Literal["connect", "timeout", "reset"]

@final
class Engine:
    """A compiled rule set; safe to share between threads."""

    @staticmethod
    def from_file(path: str | os.PathLike[str]) -> Engine: ...
    @staticmethod
    def from_str(text: str, format: _Format = "yaml") -> Engine: ...
    @staticmethod
    def from_nepxion(text: str) -> Engine: ...
    @staticmethod
    def from_redis(
        url: str,
        namespace: str = "default",
        *,
        dump: str | os.PathLike[str] | None = None,
        connect_timeout: float = 2.0,
        resync_interval: float = 60.0,
    ) -> Engine: ...
    def redis_status(self) -> RedisStatus | None: ...
    def close(self) -> None: ...
    def reload_nepxion(self, text: str) -> int: ...
    def decide(
        self,
        peer_ip: PeerLike = None,
        *,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        cookie_header: _Text | None = None,
        query: _Text | None = None,
        path: _Text | None = None,
        method: _Text | None = None,
        host: _Text | None = None,
    ) -> Decision: ...
    def decide_asgi(self, scope: Mapping[str, Any]) -> Decision: ...
    def decide_wsgi(self, environ: Mapping[str, Any]) -> Decision: ...
    def explain(
        self,
        peer_ip: PeerLike = None,
        *,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        cookie_header: _Text | None = None,
        query: _Text | None = None,
        path: _Text | None = None,
        method: _Text | None = None,
        host: _Text | None = None,
    ) -> Explanation: ...
    def explain_asgi(self, scope: Mapping[str, Any]) -> Explanation: ...
    def explain_wsgi(self, environ: Mapping[str, Any]) -> Explanation: ...
    def select_instance(
        self,
        service: str,
        peer_ip: PeerLike = None,
        *,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        cookie_header: _Text | None = None,
        query: _Text | None = None,
        path: _Text | None = None,
        method: _Text | None = None,
        host: _Text | None = None,
    ) -> Selection:
        """The instance of ``service`` an outgoing call made while handling the request
        (given as to ``decide``) goes to."""
    def explain_instance(
        self,
        service: str,
        peer_ip: PeerLike = None,
        *,
        headers: HeadersLike | None = None,
        cookies: CookiesLike | None = None,
        cookie_header: _Text | None = None,
        query: _Text | None = None,
        path: _Text | None = None,
        method: _Text | None = None,
        host: _Text | None = None,
    ) -> InstanceExplanation: ...
    def reload(self, text: str, format: _Format = "yaml") -> int: ...
    def reload_file(self, path: str | os.PathLike[str]) -> int: ...
    def add_node(
        self,
        group: str,
        address: str,
        weight: int = 1,
        *,
        drain: bool = False,
        max_fails: int | None = None,
        fail_timeout: float | str | None = None,
        metadata: NodeMetadata | None = None,
    ) -> int: ...
    def remove_node(self, group: str, address: str) -> int: ...
    def set_weight(self, group: str, address: str, weight: int) -> int: ...
    def drain(self, group: str, address: str, drain: bool = True) -> int: ...
    def nodes(self, group: str) -> list[NodeStatus]: ...
    def groups(self) -> list[GroupStatus]: ...
    def report(self, decision: Decision, ok: bool) -> None: ...
    def report_node(self, group: str, address: str, ok: bool) -> None: ...
    def record(self, decision: Decision, status: int, latency: Optional[float] = None) -> None: ...
    def record_error(
        self, decision: Decision, kind: _ErrorKind, latency: Optional[float] = None
    ) -> None: ...
    def record_node(
        self, group: str, address: str, status: int, latency: Optional[float] = None
    ) -> None: ...
    def record_node_error(
        self, group: str, address: str, kind: _ErrorKind, latency: Optional[float] = None
    ) -> None: ...
    def what_if(
        self,
        text: str,
        requests: Optional[list[dict[str, Any]]] = None,
        format: _Format = "yaml",
    ) -> dict[str, Any]:
        """How a candidate spec would route ``requests`` (None: the live sample), without
        applying it."""
    def set_sampling(
        self, every: Optional[int], capacity: int = 10000, max_bytes: int = 8388608
    ) -> None:
        """Keeps one routed request in ``every`` for what-if; None turns sampling off."""
    def sample(self) -> list[dict[str, Any]]: ...
    def sample_stats(self) -> dict[str, Any]: ...
    def rules(self) -> list[dict[str, Any]]:
        """The rules in order: condition in words, group, hits, share, last hit."""
    def lints(self) -> list[dict[str, Any]]:
        """Warnings about the running spec: kind, rule, message, path, file, line, column."""
    def tick(self) -> None:
        """Judges the rollouts with an ``analysis`` section whose interval ended."""
    def rollouts(self) -> list[dict[str, Any]]:
        """Every judged rollout: state, steps, failures, last_judgement, history."""
    def rollout_action(
        self, group: str, action: Literal["pause", "resume", "promote", "abort"]
    ) -> dict[str, Any]: ...
    def traffic(self) -> dict[str, Any]:
        """Live windows (last two minutes) per group, node and rule: requests, errors,
        error_rate, p50_ms, p90_ms, p99_ms."""
    def metrics(self) -> str: ...
    def spec(self, format: Literal["yaml", "yml", "json"] = "yaml") -> str: ...
    @property
    def generation(self) -> int: ...
