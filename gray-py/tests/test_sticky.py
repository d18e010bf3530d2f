"""gray.sticky_bucket agrees with the independent vectors, and a percent rule uses it."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest

import gray
from conftest import TESTDATA


def vectors() -> List[Dict[str, Any]]:
    data = json.loads((TESTDATA / "sticky-vectors.json").read_text(encoding="utf-8"))
    v = data["vectors"]
    assert len(v) >= 20
    return list(v)


def test_hash_and_bucket_match_vectors() -> None:
    for x in vectors():
        assert gray.sticky_hash(x["salt"], x["key"]) == int(x["hash"]), x
        assert gray.sticky_bucket(x["salt"], x["key"]) == x["bucket"], x
        # bytes give the same answer as their UTF-8 text
        assert gray.sticky_bucket(x["salt"].encode(), x["key"].encode()) == x["bucket"]


SPEC = """
version: 1
groups: {{ a: {{ nodes: [] }}, b: {{ nodes: [] }} }}
rules:
  - id: r
    when: {{ percent: {{ key: {{ header: x-user }}, value: {pct}, salt: {salt} }} }}
    route: b
default: a
"""


@pytest.mark.parametrize(
    "x",
    [x for x in vectors() if x["salt"] and x["key"] and len(x["key"]) < 100],
    ids=lambda x: f"{x['salt']}/{x['key']}"[:40],
)
def test_percent_rule_threshold_is_the_vector_bucket(x: Dict[str, Any]) -> None:
    salt = json.dumps(x["salt"])
    below = gray.Engine.from_str(SPEC.format(pct=x["bucket"] / 100, salt=salt))
    above = gray.Engine.from_str(SPEC.format(pct=(x["bucket"] + 1) / 100, salt=salt))
    assert below.decide("127.0.0.1", headers={"x-user": x["key"]}).group == "a"
    assert above.decide("127.0.0.1", headers={"x-user": x["key"]}).group == "b"


def test_sticky_rejects_wrong_types() -> None:
    with pytest.raises(TypeError, match="salt must be str"):
        gray.sticky_bucket(1, "k")  # type: ignore[arg-type]
