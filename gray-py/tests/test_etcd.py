"""``gray.etcd.register``: a lease-backed registration in a real etcd (started here on free
127.0.0.1 ports), read back through the JSON gateway; metadata update, revoke on close, expiry
after abandon."""

from __future__ import annotations

import base64
import json
import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest

import gray.etcd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def etcd(tmp_path: pathlib.Path) -> Iterator[str]:
    if shutil.which("etcd") is None:
        pytest.skip("no etcd binary (apt-get install etcd-server)")
    client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    proc = subprocess.Popen(
        ["etcd", "--name", "py", "--data-dir", str(tmp_path / "etcd"), "--log-level", "warn"]
        + ["--listen-client-urls", client, "--advertise-client-urls", client]
        + ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
        + ["--initial-cluster", f"py={peer}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                gray.etcd._call(client, "/v3/maintenance/status", {})
                break
            except gray.etcd.EtcdError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield client
    finally:
        proc.kill()
        proc.wait()


def get(endpoint: str, key: str) -> Optional[dict[str, Any]]:
    kvs = gray.etcd._call(endpoint, "/v3/kv/range", {"key": base64.b64encode(key.encode()).decode()}).get("kvs")
    if not kvs:
        return None
    value: dict[str, Any] = json.loads(base64.b64decode(kvs[0]["value"]))
    return value


KEY = "/gray/py/instances/svc-a/10.0.2.1:80"


def test_register_update_close(etcd: str) -> None:
    with gray.etcd.register(etcd, "/gray/py/", "svc-a", "10.0.2.1:80", ttl=2, version="1.0", zone="z1") as reg:
        assert reg.key == KEY
        assert get(etcd, KEY) == {"address": "10.0.2.1:80", "weight": 1, "version": "1.0", "zone": "z1"}
        time.sleep(3)  # longer than the TTL: the keep-alives hold it
        reg.update(version="1.1", weight=5, isolation_group="blue")
        assert get(etcd, KEY) == {"address": "10.0.2.1:80", "weight": 5, "version": "1.1", "group": "blue"}
    assert get(etcd, KEY) is None


def test_an_abandoned_registration_expires(etcd: str) -> None:
    reg = gray.etcd.register(etcd, "/gray/py", "svc-a", "10.0.2.1:80", ttl=2)
    reg.abandon()
    assert get(etcd, KEY) is not None
    deadline = time.monotonic() + 6
    while get(etcd, KEY) is not None:
        assert time.monotonic() < deadline, "the key outlived its lease"
        time.sleep(0.1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        gray.etcd.instance_json("a:1", weight=20000)
    with pytest.raises(ValueError):
        gray.etcd.register("http://127.0.0.1:1", "/p", "a/b", "a:1")
    with pytest.raises(gray.etcd.EtcdError):
        gray.etcd.register("http://127.0.0.1:1", "/p", "svc", "a:1")
