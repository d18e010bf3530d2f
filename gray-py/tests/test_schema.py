"""The JSON Schema of the native format (schema/gray-spec.schema.json) accepts the configs the
project ships and the README's examples, and rejects a typo, as an editor using it would."""

from __future__ import annotations

import json
import pathlib

import jsonschema
import pytest
import yaml

import gray

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schema" / "gray-spec.schema.json").read_text())


def configs() -> list[pathlib.Path]:
    found = [ROOT / "examples" / "gateway" / "default-config.yaml"]
    for p in sorted((ROOT / "testdata").rglob("*.yaml")):
        text = p.read_text()
        if text.lstrip().startswith("version:") or "\nversion:" in text:
            found.append(p)
    return found


@pytest.mark.parametrize("path", configs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_shipped_configs_validate(path: pathlib.Path) -> None:
    doc = yaml.safe_load(path.read_text())
    gray.Engine.from_file(str(path))  # the engine accepts it …
    jsonschema.validate(doc, SCHEMA)  # … and so does the schema


def test_a_typo_is_rejected_like_the_engine_rejects_it() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "gateway" / "default-config.yaml").read_text())
    group = next(iter(doc["groups"].values()))
    group["nodes"][0]["wieght"] = 3
    with pytest.raises(jsonschema.ValidationError, match="wieght"):
        jsonschema.validate(doc, SCHEMA)
    with pytest.raises(gray.ConfigError):
        gray.Engine.from_str(json.dumps(doc), format="json")


def test_durations_and_fail_on_are_checked() -> None:
    doc = {"version": 1, "default": "g", "groups": {"g": {"fail_timeout": "10 parsecs", "fail_on": ["http_5xx"]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    doc["groups"]["g"]["fail_timeout"] = "10s"
    jsonschema.validate(doc, SCHEMA)
    doc["groups"]["g"]["fail_on"] = ["http_501"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_the_readme_example_validates() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The native rule format") :]
    block = section[section.index("```yaml\n") + 8 :]
    doc = yaml.safe_load(block[: block.index("```")])
    # (The engine would also read the IP list file the example names.)
    jsonschema.validate(doc, SCHEMA)
