"""Spec files: a `MachineSpec` as versioned JSON, with a published JSON Schema.

pydantic v2 reads and writes them: the same classes that are the model give strict parsing
(unknown keys refused), error locations for messages, and the JSON Schema — so the three
can never drift apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from desktopvm.model.machine import MachineSpec
from desktopvm.paths import atomic_write_text

SCHEMA_VERSION = 1
SCHEMA_ID = "https://desktopvm.invalid/schema/machine-spec-1.json"


class SpecFileError(Exception):
    """A spec file that cannot be read: names the file, the field and the reason."""

    def __init__(self, path: str, field: str, reason: str) -> None:
        self.path = path
        self.field = field
        self.reason = reason
        where = f" (field {field})" if field else ""
        super().__init__(f"{path}{where}: {reason}")


def _field_path(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def spec_from_data(data: Any, source: str = "<spec>") -> MachineSpec:
    """Check the version and build the spec from parsed JSON."""
    if not isinstance(data, dict):
        raise SpecFileError(source, "", "a spec file must hold a JSON object")
    body = dict(data)
    version = body.pop("schema_version", None)
    if version is None:
        raise SpecFileError(source, "schema_version",
                            "missing; this does not look like a spec file")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SpecFileError(source, "schema_version", f"must be a whole number, not {version!r}")
    if version > SCHEMA_VERSION:
        raise SpecFileError(source, "schema_version", f"version {version} was written by a newer "
                            f"DesktopVM; this one reads up to version {SCHEMA_VERSION}")
    if version < 1:
        raise SpecFileError(source, "schema_version", f"unknown version {version}")
    try:
        return MachineSpec.model_validate(body)
    except ValidationError as error:
        first = error.errors()[0]
        field = _field_path(tuple(first["loc"]))
        more = error.error_count() - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise SpecFileError(source, field, f"{first['msg']}{extra}") from None


def spec_to_data(spec: MachineSpec) -> dict[str, Any]:
    """The JSON object of a spec file, `schema_version` first."""
    return {"schema_version": SCHEMA_VERSION, **spec.model_dump(mode="json")}


def spec_to_json(spec: MachineSpec) -> str:
    """A spec as pretty JSON text."""
    return json.dumps(spec_to_data(spec), indent=2, ensure_ascii=False) + "\n"


def load_spec(path: Path) -> MachineSpec:
    """Read a spec file; every problem becomes a `SpecFileError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecFileError(str(path), "", "no such file") from None
    except UnicodeDecodeError:
        raise SpecFileError(str(path), "", "not UTF-8 text") from None
    except OSError as error:
        raise SpecFileError(str(path), "", error.strerror or str(error)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecFileError(str(path), "", f"not valid JSON: {error.msg} at line {error.lineno}"
                            f" column {error.colno}") from None
    except RecursionError:  # a hostile or damaged file: thousands of nested brackets
        raise SpecFileError(str(path), "", "nested too deeply to be a spec file") from None
    return spec_from_data(data, str(path))


def save_spec(path: Path, spec: MachineSpec) -> None:
    """Write a spec file atomically."""
    atomic_write_text(path, spec_to_json(spec))


def json_schema() -> dict[str, Any]:
    """The JSON Schema of spec files."""
    schema = MachineSpec.model_json_schema()
    schema["properties"] = {
        "schema_version": {"const": SCHEMA_VERSION, "title": "Schema Version",
                           "description": "Version of the spec-file format."},
        **schema["properties"],
    }
    schema["required"] = ["schema_version", *schema.get("required", [])]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "DesktopVM machine spec",
        **{k: v for k, v in schema.items() if k != "title"},
    }
