"""Registering a service instance in etcd for gray-etcd, in pure Python (urllib, no new deps).

The instance is written at ``<prefix>/instances/<group>/<address>`` as JSON metadata, under a
lease that a daemon thread keeps alive; :meth:`Registration.close` (or leaving the ``with``
block) revokes it, and if the process dies etcd deletes the key when the TTL runs out. Every
gray engine following the prefix (``gray_etcd::EtcdSource``) adds or drops the node at once::

    import gray.etcd

    with gray.etcd.register("http://127.0.0.1:2379", "/gray/shop", "svc-a", "10.0.2.10:8080",
                            ttl=10, version="1.1", zone="z1"):
        serve()

Talks to etcd's v3 JSON gateway over plain HTTP, like the Rust side (``gray_etcd::Registration``).
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from types import TracebackType
from typing import Any, Optional

__all__ = ["EtcdError", "Registration", "register", "instance_json"]


class EtcdError(Exception):
    """etcd could not be reached or answered with an error."""


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def _call(endpoint: str, path: str, body: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
    req = urllib.request.Request(
        endpoint.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read().decode()
    except OSError as e:
        raise EtcdError(f"etcd at {endpoint}: {path}: {e}") from e
    # Streaming calls (lease keep-alive) answer one JSON object per line.
    first = next((line for line in text.splitlines() if line.strip()), "{}")
    answer: dict[str, Any] = json.loads(first)
    if "error" in answer:
        raise EtcdError(f"etcd at {endpoint}: {path}: {answer.get('message', answer['error'])}")
    result: dict[str, Any] = answer.get("result", answer)
    return result


def instance_json(
    address: str,
    *,
    weight: int = 1,
    version: Optional[str] = None,
    region: Optional[str] = None,
    env: Optional[str] = None,
    zone: Optional[str] = None,
    isolation_group: Optional[str] = None,
    instance_id: Optional[str] = None,
    drain: bool = False,
) -> str:
    """The JSON value gray-etcd reads for one instance (``isolation_group`` is metadata ``group``)."""
    if not 0 <= weight <= 10000:
        raise ValueError(f"weight {weight} is outside 0..=10000")
    value: dict[str, Any] = {"address": address, "weight": weight}
    if drain:
        value["drain"] = True
    for k, v in (
        ("version", version),
        ("region", region),
        ("env", env),
        ("zone", zone),
        ("group", isolation_group),
        ("id", instance_id),
    ):
        if v is not None:
            value[k] = v
    return json.dumps(value)


class Registration:
    """A registered instance; its lease is kept alive until :meth:`close`."""

    def __init__(self, endpoint: str, key: str, value: str, ttl: int) -> None:
        self.endpoint = endpoint
        self.key = key
        self.ttl = max(1, int(ttl))
        self._value = value
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.lease = self._register()
        self._thread = threading.Thread(target=self._keep_alive, name="gray-etcd-lease", daemon=True)
        self._thread.start()

    def _register(self) -> int:
        lease = int(_call(self.endpoint, "/v3/lease/grant", {"TTL": str(self.ttl)})["ID"])
        _call(
            self.endpoint,
            "/v3/kv/put",
            {"key": _b64(self.key), "value": _b64(self._value), "lease": str(lease)},
        )
        return lease

    def _keep_alive(self) -> None:
        period = self.ttl / 3.0
        while not self._stop.is_set():
            try:
                with self._lock:
                    ttl = int(_call(self.endpoint, "/v3/lease/keepalive", {"ID": str(self.lease)}).get("TTL", 0))
                    if ttl <= 0:  # lost (etcd was away longer than the TTL): register again
                        self.lease = self._register()
                wait = period
            except (EtcdError, ValueError, KeyError):
                wait = min(period, 0.5)
            self._stop.wait(wait)

    def update(self, **metadata: Any) -> None:
        """Rewrites the metadata (same key and lease); takes :func:`instance_json`'s keywords."""
        address = json.loads(self._value)["address"]
        value = instance_json(address, **metadata)
        with self._lock:
            _call(
                self.endpoint,
                "/v3/kv/put",
                {"key": _b64(self.key), "value": _b64(value), "lease": str(self.lease)},
            )
            self._value = value

    def abandon(self) -> None:
        """Stops the keep-alives without revoking, as a crash would: the key expires with the TTL."""
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        """Stops the keep-alives and revokes the lease: the instance is gone at once."""
        self.abandon()
        try:
            _call(self.endpoint, "/v3/lease/revoke", {"ID": str(self.lease)})
        except EtcdError:
            pass

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


def register(
    endpoint: str,
    prefix: str,
    group: str,
    address: str,
    *,
    ttl: int = 10,
    **metadata: Any,
) -> Registration:
    """Registers ``address`` in gray group ``group`` under ``prefix`` with a lease of ``ttl``
    seconds kept alive from a daemon thread. ``metadata``: :func:`instance_json`'s keywords."""
    if not group or "/" in group:
        raise ValueError(f"bad group name {group!r}")
    key = f"{prefix.rstrip('/')}/instances/{group}/{address}"
    return Registration(endpoint, key, instance_json(address, **metadata), ttl)
