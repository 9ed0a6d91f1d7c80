"""Schema diagrams: DOT and mermaid text, options, large schemas, byte-stable output."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOTS

from sphinxext.labbook.cli import main
from sphinxext.labbook.errors import SchemaError
from sphinxext.labbook.render.schema import (
    MERMAID_LIMIT,
    MermaidTooLarge,
    RenderOptions,
    clusters,
    overview_dot,
    parse_groups,
    select,
    split,
    to_dot,
    to_mermaid,
    with_stubs,
)
from sphinxext.labbook.schema.model import Column, ForeignKey, Schema, Table
from sphinxext.labbook.schema.source import load_schema

REPO = Path(__file__).parent.parent
SMALL = ROOTS / "test-schema"
HAS_DOT = shutil.which("dot") is not None


@pytest.fixture(scope="module")
def small() -> Schema:
    return load_schema("models.py:metadata", str(SMALL))


@pytest.fixture(scope="module")
def nova() -> Schema:
    return load_schema("schemas/nova_api.py:Base", str(REPO))


def test_dot_has_tables_columns_keys_and_one_edge_per_foreign_key(small):
    dot = to_dot(small)
    assert dot.startswith('digraph "schema" {\n')
    assert '"t:cells" [label=<' in dot and '"t:hosts" [label=<' in dot
    assert "<U>id</U>" in dot and "VARCHAR(255)" in dot and "NOT NULL" in dot
    edges = [ln for ln in dot.splitlines() if "->" in ln]
    # the composite key is one edge from its first column's row, labelled with both columns
    assert edges == [
        '  "t:hosts":c2 -> "t:cells":c0 [tooltip="hosts (cell_id, cell_region) -> cells (id, '
        'region)", dir=both, arrowhead=teetee, arrowtail=crowodot, xlabel="cell_id, '
        'cell_region", penwidth=1.6];',
        '  "t:hosts":c4 -> "t:hosts":c0 [tooltip="hosts (parent_id) -> hosts (id)", dir=both, '
        "arrowhead=teeodot, arrowtail=crowodot];",
    ]


def test_column_modes(small):
    keys = to_dot(small, RenderOptions(columns="keys"))
    assert ">cell_region<" in keys and ">host<" not in keys and "+ 1 more column" in keys
    none = to_dot(small, RenderOptions(columns="none"))
    assert "INTEGER" not in none
    assert '"t:hosts" -> "t:cells"' in none  # no rows: edges run table to table


def test_indexes_and_unique_constraints_on_request(small):
    assert "ix_hosts_host" not in to_dot(small)
    dot = to_dot(small, RenderOptions(indexes=True))
    assert "index ix_hosts_host (host)" in dot and "unique uq_cells_id_region (id, region)" in dot


def test_title_and_direction(small):
    dot = to_dot(small, RenderOptions(rankdir="TB", title='Cells "and" hosts'))
    assert "rankdir=TB" in dot and 'label="Cells \\"and\\" hosts"' in dot


def test_include_exclude_and_neighbours(nova):
    opts = RenderOptions(include=("*_mappings",), exclude=("host_*",))
    assert select(nova, opts).names == ("cell_mappings", "instance_mappings")
    near = select(nova, RenderOptions(around=("host_mappings",), depth=1)).names
    assert near == ("cell_mappings", "host_mappings")
    assert select(nova, RenderOptions(around=("host_mappings",), depth=2)).names == (
        "cell_mappings",
        "host_mappings",
        "instance_mappings",
    )


def test_unknown_table_in_include_is_an_error_with_suggestions(nova):
    with pytest.raises(
        SchemaError,
        match=r"include: no table matches 'cell_mapping'; did you "
        r"mean cell_mappings",
    ):
        select(nova, RenderOptions(include=("cell_mapping",)))


def test_bad_options_say_what_to_write():
    with pytest.raises(SchemaError, match="write one of all, keys, none"):
        RenderOptions(columns="some")
    with pytest.raises(SchemaError, match="write NAME = GLOB"):
        parse_groups("mappings")


def test_groups_by_prefix_and_by_map(nova):
    by_prefix = clusters(nova, RenderOptions(group_by_prefix=True))
    # the table the others are named after joins them; a prefix of one table is no cluster
    assert by_prefix["flavor"] == ("flavor_extra_specs", "flavor_projects", "flavors")
    assert "key_pairs" in by_prefix[""] and "build_requests" in by_prefix[""]
    groups = parse_groups("mappings = *_mappings; flavors = flavor*")
    by_map = clusters(nova, RenderOptions(groups=groups))
    assert by_map["mappings"] == ("cell_mappings", "host_mappings", "instance_mappings")
    dot = to_dot(nova, RenderOptions(groups=groups))
    assert 'subgraph "cluster_mappings" {' in dot and 'subgraph "cluster_flavors" {' in dot


def test_overview_and_one_diagram_per_cluster(nova):
    opts = RenderOptions(groups=parse_groups("mappings = *_mappings; groups = instance_group*"))
    over = overview_dot(nova, opts)
    assert "<B>mappings</B></TD></TR><TR><TD>3 tables" in over
    assert "<B>other</B></TD></TR><TR><TD>11 tables" in over
    parts = {c: p for c, p, _ in split(nova, opts)}
    assert list(parts) == ["other", "groups", "mappings"]
    dot = to_dot(parts["mappings"], with_stubs(opts))
    assert "subgraph" not in dot and '"t:cell_mappings"' in dot


def test_foreign_tables_become_stubs_in_a_cluster_diagram(nova):
    part = nova.only(["host_mappings"])
    assert '"t:cell_mappings"' not in to_dot(part)
    assert '"t:cell_mappings" [label=' in to_dot(part, RenderOptions(stubs=True))


def test_mermaid_er_diagram(small):
    text = to_mermaid(small, RenderOptions(title="Cells"))
    assert text.startswith('---\ntitle: "Cells"\n---\nerDiagram\n    direction LR\n')
    assert "        INTEGER id PK\n" in text
    assert '        VARCHAR(64) cell_region FK "NOT NULL"\n' in text
    assert '    "cells" ||--o{ "hosts" : "cell_id, cell_region"\n' in text
    assert '    "hosts" |o--o{ "hosts" : "parent_id"\n' in text


def test_mermaid_words_stay_inside_its_grammar():
    t = Table(
        "odd table",
        (
            Column("price", "NUMERIC(10, 2)", False),
            Column("when it happened", "TIMESTAMP WITH TIME ZONE"),
        ),
        primary_key=("price",),
    )
    text = to_mermaid(Schema((t,)))
    assert '        NUMERIC price PK "NUMERIC(10, 2)"' in text
    assert (
        '        TIMESTAMP_WITH_TIME_ZONE when_it_happened "when it happened, TIMESTAMP '
        'WITH TIME ZONE"'
    ) in text
    word = re.compile(r"^[*A-Za-z_][A-Za-z0-9\-_\[\]()*]*$")
    for line in text.splitlines()[3:-1]:
        typ, name = line.split()[:2]
        assert word.match(typ) and word.match(name), line


def generated(n: int) -> Schema:
    """``n`` tables in a chain of foreign keys, every third composite."""
    tables = []
    for i in range(n):
        cols = (
            Column("id", "INTEGER", False),
            Column("region", "VARCHAR(64)", False),
            Column("name", "VARCHAR(255)"),
            Column("parent_id", "INTEGER"),
            Column("parent_region", "VARCHAR(64)"),
        )
        fks = ()
        if i:
            composite = i % 3 == 0
            fks = (
                ForeignKey(
                    ("parent_id", "parent_region") if composite else ("parent_id",),
                    f"t{i - 1:03d}",
                    ("id", "region") if composite else ("id",),
                ),
            )
        tables.append(Table(f"t{i:03d}", cols, ("id", "region"), fks))
    return Schema(tuple(tables))


def test_mermaid_refuses_what_mermaid_would_refuse():
    with pytest.raises(MermaidTooLarge) as info:
        to_mermaid(generated(300))
    assert info.value.size > MERMAID_LIMIT
    assert len(to_mermaid(generated(300), RenderOptions(columns="none"))) < MERMAID_LIMIT


def test_cli_mermaid_too_large_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from sphinxext.labbook.schema.snapshot import write_snapshot

    write_snapshot(generated(300), str(tmp_path / "big.json"))
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "big.json", "-f", "mermaid", "-o", "out.mmd"]) == 2
    err = capsys.readouterr().err
    assert "over mermaid's limit of 50,000" in err and "use -f svg" in err
    assert not (tmp_path / "out.mmd").exists()


# -- byte-stable output -------------------------------------------------------------------

RENDER = """
import hashlib, subprocess, sys
from sphinxext.labbook.schema.source import load_schema
from sphinxext.labbook.render.schema import RenderOptions, parse_groups, to_dot, to_mermaid
out = []
for source, base in (("models.py:metadata", sys.argv[1]), ("schemas/keystone.py:Base", ".")):
    s = load_schema(source, base)
    opts = RenderOptions(indexes=True, groups=parse_groups("ids = *user*, project*"))
    dot = to_dot(s, opts)
    svg = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True).stdout
    for data in (dot.encode(), to_mermaid(s).encode(), svg):
        out.append(hashlib.sha256(data).hexdigest())
print(" ".join(out))
"""


@pytest.mark.skipif(not HAS_DOT, reason="needs Graphviz's dot (Debian package graphviz) for SVG")
def test_identical_input_gives_identical_bytes_across_processes_and_hash_seeds():
    """DOT, mermaid and SVG of a schema with composite foreign keys, rendered in fresh
    interpreters with different hash seeds, are byte for byte the same."""
    digests = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", RENDER, str(SMALL)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(proc.stdout.strip())
    assert len(digests) == 1
    assert len(next(iter(digests)).split()) == 6


def test_the_same_schema_from_models_and_from_its_snapshot_draws_the_same(small):
    snap = load_schema("snapshot.yaml", str(SMALL))
    assert to_dot(snap) == to_dot(small) and to_mermaid(snap) == to_mermaid(small)


# -- command line -------------------------------------------------------------------------


def test_cli_dot_to_stdout_and_mermaid_to_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["schema", "schemas/nova_api.py:Base", "--include", "*_mappings"]) == 0
    out = capsys.readouterr().out
    assert out == to_dot(
        load_schema("schemas/nova_api.py:Base"), RenderOptions(include=("*_mappings",))
    )
    target = tmp_path / "nova.mmd"
    assert (
        main(
            [
                "schema",
                "schemas/nova_api.snapshot.yaml",
                "-f",
                "mermaid",
                "-o",
                str(target),
                "--columns",
                "keys",
            ]
        )
        == 0
    )
    assert target.read_text().startswith("erDiagram\n")


@pytest.mark.skipif(not HAS_DOT, reason="needs Graphviz's dot (Debian package graphviz)")
def test_cli_svg_png_and_split(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    assert (
        main(["schema", "schemas/keystone.py:Base", "-f", "svg", "-o", str(tmp_path / "k.svg")])
        == 0
    )
    assert (tmp_path / "k.svg").read_text().lstrip().startswith("<?xml")
    assert (
        main(["schema", "schemas/keystone.py:Base", "-f", "png", "-o", str(tmp_path / "k.png")])
        == 0
    )
    assert (tmp_path / "k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "split"
    assert (
        main(
            [
                "schema",
                "schemas/nova_api.py:Base",
                "--group",
                "prefix",
                "--split",
                "-f",
                "svg",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "aggregate.svg",
        "flavor.svg",
        "instance.svg",
        "other.svg",
        "overview.svg",
    ]


def test_cli_snapshot_writes_json_or_yaml_atomically(tmp_path, monkeypatch):
    monkeypatch.chdir(SMALL)
    assert main(["schema", "snapshot", "models.py:metadata", "-o", str(tmp_path / "s.yaml")]) == 0
    assert (tmp_path / "s.yaml").read_text() == (SMALL / "snapshot.yaml").read_text().replace(
        "source: tests/roots/test-schema/models.py:metadata", "source: models.py:metadata"
    )
    assert main(["schema", "snapshot", "models.py:metadata", "-o", str(tmp_path / "s.json")]) == 0
    assert load_schema(str(tmp_path / "s.json")) == load_schema("models.py:metadata")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(SMALL)
    target = tmp_path / "out.dot"
    cases = [
        (["schema", "models.py:nope", "-o", str(target)], "models.py has no attribute 'nope'"),
        (
            ["schema", "models.py", "--include", "cell", "-o", str(target)],
            "include: no table matches 'cell'; did you mean cells",
        ),
        (["schema", "missing.py:Base", "-o", str(target)], "no such file"),
        (
            ["schema", "snapshot", "models.py", "-o", str(tmp_path / "x.txt")],
            "a snapshot is written as .json or .yaml",
        ),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_cli_ddl_notes_are_warnings(tmp_path, capsys, monkeypatch):
    (tmp_path / "s.sql").write_text(
        "CREATE TABLE a (id int PRIMARY KEY);\nCREATE VIEW v AS SELECT 1;\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "s.sql:postgres"]) == 0
    captured = capsys.readouterr()
    assert f"labbook: warning: {tmp_path / 's.sql'}:2: statement not understood" in captured.err
    assert '"t:a"' in captured.out


def test_digest_of_dot_is_the_same_for_reordered_input():
    one = generated(20)
    two = Schema(tuple(reversed(one.tables)))
    assert (
        hashlib.sha256(to_dot(one).encode()).digest()
        == hashlib.sha256(to_dot(two).encode()).digest()
    )
