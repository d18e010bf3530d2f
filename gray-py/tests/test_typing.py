"""The type stubs: ``mypy --strict`` accepts a typed example, and ``stubtest`` finds the stubs
match the compiled module."""

from __future__ import annotations

import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, cwd=HERE, check=False
    )


def test_mypy_strict_accepts_the_example_and_the_package() -> None:
    r = run("mypy", "--strict", "--no-incremental", str(HERE / "typing_example.py"))
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("mypy", "--strict", "--no-incremental", "-p", "gray")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_rejects_misuse(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import gray\n"
        "e = gray.Engine.from_str('x', format='xml')\n"
        "g: int = e.decide().group\n"
        "e.record_error(e.decide(), 'refused')\n"
    )
    r = run("mypy", "--strict", "--no-incremental", str(bad))
    assert r.returncode == 1
    assert 'format' in r.stdout and '"str", variable has type "int"' in r.stdout, r.stdout
    assert "record_error" in r.stdout and "refused" in r.stdout, r.stdout


def test_stubtest_matches_the_module() -> None:
    allow = HERE / "stubtest-allowlist.txt"
    r = run("mypy.stubtest", "--allowlist", str(allow), "gray._gray")
    assert r.returncode == 0, r.stdout + r.stderr
