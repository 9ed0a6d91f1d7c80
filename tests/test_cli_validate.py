"""``labbook validate``: every spec of the handbook is valid; errors are located; the schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from sphinxext.labbook.cli import main

LABS = sorted((Path(__file__).parent.parent / "labs").glob("*.yaml"))


def test_every_handbook_lab_is_valid(capsys):
    assert LABS, "the handbook has labs"
    assert main(["validate", *map(str, LABS)]) == 0
    out = capsys.readouterr().out
    assert out.count("is valid") == len(LABS)


def test_errors_are_located_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nnodes:\n  a:\n    interfaces:\n      eth0: {network: nope}\n")
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nnodes:\n  a: {}\n")
    assert main(["validate", str(good), str(bad)]) == 2
    captured = capsys.readouterr()
    assert f"{bad}:5:23: unknown network 'nope'" in captured.err
    assert "lab 'good' is valid: 1 nodes" in captured.out


def test_json_schema_is_printed_and_accepts_every_handbook_lab(capsys):
    assert main(["validate", "--json-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    for lab in LABS:
        jsonschema.validate(yaml.safe_load(lab.read_text()), schema)
    try:
        jsonschema.validate({"name": "x", "nodez": {}}, schema)
    except jsonschema.ValidationError as exc:
        assert "nodez" in exc.message
    else:
        raise AssertionError("an unknown key passed the schema")


def test_validate_needs_a_spec(capsys):
    assert main(["validate"]) == 2
    assert "name at least one SPEC.yaml" in capsys.readouterr().err
