"""``Engine.from_redis``: rules and IP sets followed from a real ``redis-server`` (started here on
an ephemeral 127.0.0.1 port, without persistence), a rejected change reported, and the
last-known-good dump when Redis is down."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

import gray

NS = "py"
SPEC_KEY = "gray:{py}:spec"
LOG_KEY = "gray:{py}:log"
TESTERS_KEY = "gray:{py}:ipset:testers"

RULES = (pathlib.Path(__file__).resolve().parents[2] / "testdata/redis/testers.yaml").read_text()


class Redis:
    """A private redis-server, driven with redis-cli."""

    def __init__(self, tmp: pathlib.Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--dir", str(tmp)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        until(lambda: self.try_cli("PING") == "PONG", "redis-server to answer")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def try_cli(self, *args: str) -> str | None:
        r = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, check=False
        )
        return r.stdout.strip() if r.returncode == 0 else None

    def cli(self, *args: str) -> str:
        out = self.try_cli(*args)
        assert out is not None, args
        return out

    def publish_spec(self, text: str) -> None:
        self.cli("SET", SPEC_KEY, text)
        self.cli("XADD", LOG_KEY, "*", "op", "spec")

    def add_tester(self, ip: str) -> None:
        self.cli("SADD", TESTERS_KEY, ip)
        self.cli("XADD", LOG_KEY, "*", "op", "add", "set", "testers", "members", ip)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def until(cond: Callable[[], bool], what: str) -> None:
    """Polls for up to 20 s: a liveness bound, not a speed assertion."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def redis(tmp_path: pathlib.Path) -> Iterator[Redis]:
    server = Redis(tmp_path)
    try:
        yield server
    finally:
        server.kill()


def group(engine: gray.Engine, ip: str) -> str:
    return engine.decide(ip).group


def test_an_engine_follows_rules_and_ip_sets_in_redis(redis: Redis) -> None:
    redis.publish_spec(RULES)
    engine = gray.Engine.from_redis(redis.url, NS)
    try:
        assert group(engine, "192.0.2.7") == "stable"
        redis.add_tester("192.0.2.7")
        until(lambda: group(engine, "192.0.2.7") == "canary", "the tester to reach canary")
        status = engine.redis_status()
        assert status is not None
        assert status["namespace"] == NS
        assert status["connected"] and status["in_sync"]
        assert status["origin"] == "redis"
        assert status["ip_set_members"] == 1
        assert status["last_error"] is None
        assert 'gray_redis_connected{namespace="py"} 1' in engine.metrics()
    finally:
        engine.close()
    # Closed: the rules stay, Redis no longer moves them.
    assert engine.redis_status() is None
    assert group(engine, "192.0.2.7") == "canary"
    engine.close()  # idempotent


def test_a_rejected_rule_is_reported_and_the_rules_stay(redis: Redis) -> None:
    redis.publish_spec(RULES)
    redis.add_tester("192.0.2.7")
    engine = gray.Engine.from_redis(redis.url, NS)
    generation = engine.generation
    redis.publish_spec(RULES.replace("route: canary", "route: nowhere"))

    def rejected() -> bool:
        status = engine.redis_status()
        return status is not None and status["rejected_total"] >= 1

    until(rejected, "the rejection")
    status = engine.redis_status()
    assert status is not None
    assert status["last_error"] is not None and "nowhere" in status["last_error"]
    assert not status["in_sync"]
    assert engine.generation == generation
    assert group(engine, "192.0.2.7") == "canary"
    engine.close()


def test_an_engine_starts_from_the_dump_while_redis_is_down(
    redis: Redis, tmp_path: pathlib.Path
) -> None:
    dump = tmp_path / "py.json"
    redis.publish_spec(RULES)
    redis.add_tester("192.0.2.7")
    first = gray.Engine.from_redis(redis.url, NS, dump=dump)
    until(dump.exists, "the dump")
    url = redis.url
    redis.kill()
    second = gray.Engine.from_redis(url, NS, dump=dump, connect_timeout=0.3)
    status = second.redis_status()
    assert status is not None and status["origin"] == "dump"
    assert group(second, "192.0.2.7") == "canary"
    assert group(first, "192.0.2.7") == "canary"
    first.close()
    second.close()


def test_bad_arguments_and_no_rules_anywhere(tmp_path: pathlib.Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(gray.GrayError) as e:
        gray.Engine.from_redis(
            f"redis://127.0.0.1:{port}/0",
            NS,
            dump=tmp_path / "missing.json",
            connect_timeout=0.2,
        )
    assert e.value.kind == "source"  # type: ignore[attr-defined]
    assert "missing.json" in str(e.value)
    with pytest.raises(gray.ConfigError):
        gray.Engine.from_redis("redis://127.0.0.1:1/0", "no spaces please")
    with pytest.raises(ValueError, match="connect_timeout"):
        gray.Engine.from_redis("redis://127.0.0.1:1/0", NS, connect_timeout=-1)
    assert gray.Engine.from_str(RULES).redis_status() is None
