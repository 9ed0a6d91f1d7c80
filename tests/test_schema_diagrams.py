"""Diagrams that tell the truth: unique keys, one-to-one against one-to-many, edges on the
referenced column, referenced columns kept, unconnected tables packed, incoming keys on
split pages, boilerplate columns hidden."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sphinxext.labbook.cli import main
from sphinxext.labbook.render.schema import (
    RenderOptions,
    parse_groups,
    split,
    to_dot,
    to_mermaid,
)
from sphinxext.labbook.schema.model import Column, ForeignKey, Index, Schema, Table
from sphinxext.labbook.schema.source import load_schema

SHOP = f"{Path(__file__).parent / 'data' / 'schema' / 'shop.py'}:Base"
HAS_DOT = shutil.which("dot") is not None


@pytest.fixture(scope="module")
def shop() -> Schema:
    return load_schema(SHOP)


def _edge(dot: str, child: str, parent: str) -> str:
    found = [ln for ln in dot.splitlines() if f'"t:{child}"' in ln and f'-> "t:{parent}"' in ln]
    assert len(found) == 1, found
    return found[0]


def test_a_unique_index_marks_its_column_unique(shop):
    mermaid = to_mermaid(shop)
    assert '        VARCHAR(255) email UK "NOT NULL"\n' in mermaid  # Index(..., unique=True)
    assert '        BIGINT customer_id FK, UK "NOT NULL"\n' in mermaid  # unique=True column
    assert "        BIGINT id PK\n" in mermaid  # a primary key is not also marked UK


def test_one_to_one_and_one_to_many_in_mermaid(shop):
    mermaid = to_mermaid(shop)
    assert '    "customer" ||--o| "profile" : "customer_id"\n' in mermaid
    assert '    "customer" ||--o{ "orders" : "customer_id"\n' in mermaid
    assert '    "customer" |o--o{ "customer" : "referrer_id"\n' in mermaid
    # the order's lines: (order_id) is part of the key (order_id, line_no), not unique alone
    assert '    "orders" ||--o{ "order_line" : "order_id"\n' in mermaid


def test_dot_edges_have_crows_feet_and_end_on_the_referenced_column(shop):
    dot = to_dot(shop)
    profile = _edge(dot, "profile", "customer")
    assert '"t:profile":c1 -> "t:customer":c0' in profile
    assert "arrowhead=teetee, arrowtail=teeodot" in profile
    orders = _edge(dot, "orders", "customer")
    assert "arrowhead=teetee, arrowtail=crowodot" in orders
    shipment = _edge(dot, "shipment", "order_line")
    assert '-> "t:order_line":c0' in shipment and 'xlabel="order_id, line_no"' in shipment


def test_keys_mode_keeps_the_columns_foreign_keys_point_at():
    schema = Schema(
        (
            Table(
                "account",
                (Column("id", "INTEGER"), Column("code", "VARCHAR(8)"), Column("note", "TEXT")),
                ("id",),
                indexes=(Index("ux_code", ("code",), True),),
            ),
            Table(
                "payment",
                (Column("id", "INTEGER"), Column("account_code", "VARCHAR(8)")),
                ("id",),
                (ForeignKey(("account_code",), "account", ("code",)),),
            ),
        )
    )
    dot = to_dot(schema, RenderOptions(columns="keys"))
    assert ">code<" in dot and ">note<" not in dot
    assert '"t:payment":c1 -> "t:account":c1' in dot


def test_hidden_columns_leave_every_table_but_keys_stay(shop, tmp_path, monkeypatch, capsys):
    opts = RenderOptions(hide_columns=("deleted*", "created_at", "id"))
    dot = to_dot(shop, opts)
    assert ">deleted_at<" not in dot and ">created_at<" not in dot
    assert "<U>id</U>" in dot  # a primary key is never hidden
    assert "+ 3 more columns" in dot
    assert main(["schema", SHOP, "--hide-columns", "deleted*", "--hide-columns", "created_at"]) == 0
    out = capsys.readouterr().out
    assert ">deleted<" not in out and ">created_at<" not in out and ">email<" in out


@pytest.mark.skipif(not HAS_DOT, reason="graphviz's dot is not installed (bindep.txt)")
def test_unconnected_tables_are_packed_not_stacked():
    tables = tuple(
        Table(f"t{i:02}", tuple(Column(f"c{j}", "INTEGER") for j in range(4))) for i in range(40)
    )
    dot = to_dot(Schema(tables))
    assert 'pack=true, packmode="array_u"' in dot
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True)
    width, height = map(int, re.search(r'width="(\d+)pt" height="(\d+)pt"', svg.stdout).groups())
    # one strip of 40 boxes would be about 40 times as long as it is wide
    assert max(width, height) < 4 * min(width, height), (width, height)


def test_split_pages_show_incoming_foreign_keys_as_stubs(shop):
    opts = RenderOptions(
        groups=parse_groups("people = customer, profile; sales = orders, order_line, shipment")
    )
    parts = {c: (p, o) for c, p, o in split(shop, opts)}
    assert list(parts) == ["other", "people", "sales"]
    people, people_opts = parts["people"]
    dot = to_dot(people, people_opts)
    # orders is in another cluster: a stub, with its key into customer drawn
    assert '"t:orders" [label=' in dot and "style=dashed" in dot
    assert '"t:orders" -> "t:customer":c0' in dot
    assert ">total<" not in dot  # the stub shows no columns
    mermaid = to_mermaid(people, people_opts)
    assert '    "orders"\n' in mermaid and '"customer" ||--o{ "orders"' in mermaid


def test_output_is_byte_stable(shop):
    opts = RenderOptions(columns="keys", hide_columns=("deleted*",))
    assert to_dot(shop, opts) == to_dot(load_schema(SHOP), opts)
    assert to_mermaid(shop, opts) == to_mermaid(load_schema(SHOP), opts)
