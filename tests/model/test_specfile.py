"""Spec files: round trip, schema, and one clear error per malformed file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktopvm.model import (
    MachineSpec,
    SpecFileError,
    defaults_for,
    json_schema,
    load_spec,
    save_spec,
)
from desktopvm.model.specfile import SCHEMA_VERSION, spec_to_data
from tests.model.caps import TEST_CAPS


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "vm.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_round_trip_keeps_every_field(tmp_path: Path):
    spec = defaults_for("windows11", TEST_CAPS, name="Bob's \"VM\"\nnotes?")
    spec = spec.model_copy(update={"notes": "line one\nline two ‘quoted’"})
    path = tmp_path / "spec.json"
    save_spec(path, spec)
    assert load_spec(path) == spec
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path: Path):
    path = tmp_path / "spec.json"
    save_spec(path, MachineSpec(name="a"))
    save_spec(path, MachineSpec(name="b"))
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]
    assert load_spec(path).name == "b"


@pytest.mark.parametrize(("content", "field", "reason"), [
    ("{not json", "", "not valid JSON"),
    ([1, 2], "", "JSON object"),
    ({"name": "x"}, "schema_version", "missing"),
    ({"schema_version": 99, "name": "x"}, "schema_version", "newer DesktopVM"),
    ({"schema_version": 1}, "name", "Field required"),
    ({"schema_version": 1, "name": "x", "cpu": {"count": "many"}}, "cpu.count", "integer"),
    ({"schema_version": 1, "name": "x", "colour": "red"}, "colour", "Extra inputs"),
    ({"schema_version": 1, "name": "x", "storage": [{"kind": "floppy"}]}, "storage[0].kind",
     "Input should be"),
    ({"schema_version": 1, "name": "x", "network": [{"mac": "zz"}]}, "network[0].mac",
     "not a MAC address"),
])
def test_malformed_files_name_file_field_and_reason(tmp_path, content, field, reason):
    path = write(tmp_path, content)
    with pytest.raises(SpecFileError) as caught:
        load_spec(path)
    assert caught.value.path == str(path)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_missing_and_binary_files(tmp_path: Path):
    with pytest.raises(SpecFileError, match="no such file"):
        load_spec(tmp_path / "absent.json")
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SpecFileError, match="UTF-8"):
        load_spec(binary)


def test_schema_describes_the_file_and_validates_a_saved_spec():
    import jsonschema

    schema = json_schema()
    data = spec_to_data(defaults_for("ubuntu24.04", TEST_CAPS))
    jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "cpu": {"count": -1}}, schema)


def test_schema_has_version_and_required_fields():
    schema = json_schema()
    assert schema["required"][:2] == ["schema_version", "name"]
    assert schema["properties"]["schema_version"] == {
        "const": 1, "title": "Schema Version", "description": "Version of the spec-file format."}
    assert "MachineSpec" not in json.dumps(schema["title"])


def test_published_schema_file_is_current():
    published = Path(__file__).resolve().parents[2] / "docs" / "machine-spec.schema.json"
    assert json.loads(published.read_text()) == json_schema(), (
        "docs/machine-spec.schema.json is stale: run "
        "`desktopvm-cli spec schema > docs/machine-spec.schema.json`")
