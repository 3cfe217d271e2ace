"""The Vertex AI CustomJobSpec as Google's own discovery document of the API describes it.

`google-api-python-client` (pinned by hash in the lock; tf-models-official needs it) ships the
discovery document of every Google API, `aiplatform.v1.json` among them: each message's fields,
their types, enums (accelerator types) and "Required." marks. A job spec is checked against it
before it is written, so a misspelt field (which gcloud would reject only at submission, or
silently ignore) fails here, at once, and a field Google renames shows up as a failing test when
the lock moves to a new client.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DISCOVERY_DOCUMENT = "aiplatform.v1.json"
_PREFIX = "GoogleCloudAiplatformV1"
# What every job this project writes sets, though the API lets them default.
_ALWAYS_SET = {"WorkerPoolSpec": ("machineSpec", "replicaCount"), "MachineSpec": ("machineType",)}


def discovery_schemas() -> dict[str, dict]:
    """Message name (without the API's prefix) -> its discovery schema."""
    from googleapiclient import discovery_cache

    path = Path(discovery_cache.__file__).parent / "documents" / DISCOVERY_DOCUMENT
    schemas = json.loads(path.read_text(encoding="utf-8"))["schemas"]
    return {name.removeprefix(_PREFIX): schema for name, schema in schemas.items()}


def _required(schema: dict, message: str) -> list[str]:
    marked = [name for name, field in schema["properties"].items()
              if field.get("description", "").startswith("Required.")]
    return marked + [name for name in _ALWAYS_SET.get(message, ()) if name not in marked]


def _value_errors(value: Any, field: dict, path: str, schemas: dict[str, dict]) -> list[str]:
    if "$ref" in field:
        return schema_errors(value, field["$ref"].removeprefix(_PREFIX), path + ".", schemas)
    kind = field.get("type")
    if kind == "array":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(value) for e in _value_errors(item, field["items"], f"{path}[{i}]", schemas)]
    if kind == "string" and field.get("format") in ("int64", "uint64"):  # JSON int64: a number or a string
        return [] if isinstance(value, (int, str)) and not isinstance(value, bool) else [f"{path}: expected an integer"]
    expected = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}.get(kind)
    if expected is not None and (not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool))):
        return [f"{path}: expected a {kind}"]
    if "enum" in field and value not in field["enum"]:
        return [f"{path}: {value} is not one of the API's values ({', '.join(field['enum'][1:])})"]
    return []


def schema_errors(value: Any, message: str = "CustomJobSpec", path: str = "",
                  schemas: dict[str, dict] | None = None) -> list[str]:
    """Every way `value` departs from the API's `message`, as `path: problem` lines (empty when valid)."""
    schemas = schemas if schemas is not None else discovery_schemas()
    schema = schemas[message]
    if not isinstance(value, dict):
        return [f"{path.rstrip('.') or message}: expected a {message} object"]
    fields = schema["properties"]
    errors = [f"{path}{name}: unknown {message} field" for name in value if name not in fields]
    errors += [f"{path}{name}: required {message} field is missing" for name in _required(schema, message)
               if name not in value]
    for name, item in value.items():
        if name in fields:
            errors += _value_errors(item, fields[name], f"{path}{name}", schemas)
    if message == "MachineSpec" and "acceleratorType" in value and \
            (not isinstance(value.get("acceleratorCount"), int) or value["acceleratorCount"] < 1):
        errors.append(f"{path}acceleratorCount: must be a positive integer with acceleratorType")
    if message == "WorkerPoolSpec":
        if sum(k in value for k in ("containerSpec", "pythonPackageSpec")) != 1:
            errors.append(f"{path.rstrip('.')}: exactly one of containerSpec, pythonPackageSpec")
        count = value.get("replicaCount", 1)
        if isinstance(count, bool) or not str(count).isdigit() or int(count) < 1:
            errors.append(f"{path}replicaCount: must be a positive integer")
    return errors
