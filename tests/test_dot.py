"""DOT quoting, shared by the topology and schema renderers: quotes, backslashes, line
breaks and carriage returns in names and titles give DOT that Graphviz reads."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sphinxext.labbook.render import schema as schema_render
from sphinxext.labbook.render import topology
from sphinxext.labbook.render.dot import html_text, quote
from sphinxext.labbook.render.schema import RenderOptions
from sphinxext.labbook.schema.model import Column, Schema, Table
from sphinxext.labbook.spec import parse_spec

AWKWARD = 'say "hi"\r\nto C:\\temp'


def test_quote_escapes_quotes_and_backslashes_and_drops_carriage_returns():
    assert quote(AWKWARD) == '"say \\"hi\\"\\nto C:\\\\temp"'
    assert quote("") == '""'


def _graphviz_reads(dot: str) -> None:
    if shutil.which("dot") is None:
        pytest.skip("Graphviz (dot) is not installed (bindep.txt: graphviz)")
    subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True)


def test_schema_dot_quotes_names_and_titles_the_same_way():
    table = Table(AWKWARD, (Column("id", "INTEGER", False),), primary_key=("id",))
    dot = schema_render.to_dot(Schema((table,)), RenderOptions(title=AWKWARD))
    assert "\r" not in dot
    assert quote(AWKWARD) in dot
    _graphviz_reads(dot)


def test_topology_dot_uses_the_same_quoting():
    spec = parse_spec("name: pair\nnodes:\n  alpha: {}\n", "pair.yaml")
    assert topology._q is quote
    dot = topology.to_dot(spec)
    assert '"node:alpha"' in dot and "\r" not in dot
    _graphviz_reads(dot)


def test_html_labels_break_lines_with_br_and_drop_carriage_returns():
    assert html_text('a <b> & "c"\r\nd') == "a &lt;b&gt; &amp; &quot;c&quot;<BR/>d"
    spec = parse_spec("name: pair\nnodes:\n  alpha: {}\n", "pair.yaml")
    dot = topology.to_dot(spec, title='Two "nodes"\r\nand a switch')
    assert "Two &quot;nodes&quot;<BR/>and a switch" in dot
    _graphviz_reads(dot)
