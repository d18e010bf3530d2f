"""Shared helpers of the Python test-suite."""

from __future__ import annotations

import pathlib

import pytest

import gray

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTDATA = ROOT / "testdata"

CANARY_SPEC = """
version: 1
client_ip: { trusted_proxies: ["10.0.0.0/8"], header: x-forwarded-for }
ip_sets:
  testers: { entries: ["192.168.2.20", "2001:db8:1::/48"] }
groups:
  stable: { nodes: [{ address: "127.0.0.1:7001", metadata: { version: "1.0" } }] }
  canary:
    fallback: stable
    nodes: [{ address: "127.0.0.1:7002", metadata: { version: "1.1", region: dev } }]
  empty: { nodes: [] }
rules:
  - id: canary-cookie
    when: { cookie: { name: canary, regex: "aaa$", ignore_case: true } }
    route: canary
    set_headers: { x-gray: canary }
    routes: { version: "1.1" }
  - id: testers
    when: { ip: [testers] }
    route: canary
    set_headers: { x-gray: testers }
  - id: beta-header
    when: { header: { name: x-beta, equals: "1" } }
    route: canary
    set_headers: { x-gray: beta }
  - id: nowhere
    when: { path: { prefix: /nowhere } }
    route: empty
default: stable
"""


@pytest.fixture
def engine() -> gray.Engine:
    return gray.Engine.from_str(CANARY_SPEC)
